"""CycleGAN RGB <-> HSI: networks, losses against hand cases, the history buffer, one step."""

import random

import pytest
import torch
from torch import nn

from hsilib import config
from hsilib.data.samplers import UnpairedSampler
from hsilib.models import cyclegan, registry
from hsilib.train.trainer import Trainer, linear_decay

BAND_RANGE = dict(band_min=tuple([0.05] * 16), band_max=tuple([0.8] * 16))


def _trainer(tmp_path=None, n_cubes=6, n_rgb=9):
    cfg = config.resolve("smoke", "cyclegan", **BAND_RANGE)
    s = cfg.image_size
    g = torch.Generator().manual_seed(0)
    sampler = UnpairedSampler(torch.rand(n_cubes, 16, s, s, generator=g) * 2 - 1,
                              torch.rand(n_rgb, 3, s, s, generator=g), cfg.batch_size)
    return cfg, Trainer(registry.build(cfg, seed=0), sampler, ema_decay=0.0, amp=False,
                        lr_schedule=linear_decay(cfg.steps, cfg.decay_start), device="cpu")


def test_unet_and_patchgan_shapes():
    G = cyclegan.UNetGenerator(3, 16, image_size=64, ngf=4)
    assert G.depth == 6  # 64 -> 1 x 1
    y = G(torch.rand(2, 3, 64, 64))
    assert y.shape == (2, 16, 64, 64) and y.abs().max() <= 1
    D = cyclegan.PatchDiscriminator(16, ndf=4, n_layers=3)
    assert D(y).shape == (2, 1, 6, 6)  # 64 px: 32, 16, 8 (stride 2), 7, 6 (stride 1)
    # 256 px, 3 layers: the published 30 x 30 patch map (70 x 70 receptive field)
    assert cyclegan.PatchDiscriminator(3, ndf=2)(torch.rand(1, 3, 256, 256)).shape[-1] == 30


def test_lsgan_loss_hand_values():
    pred = torch.tensor([0.0, 1.0, 2.0])
    assert cyclegan.lsgan_loss(pred, True).item() == pytest.approx((1 + 0 + 1) / 3)
    assert cyclegan.lsgan_loss(pred, False).item() == pytest.approx((0 + 1 + 4) / 3)


def test_cycle_loss_zero_for_identity_and_inverse_generators():
    a, b = torch.rand(2, 3, 8, 8), torch.rand(2, 3, 8, 8)
    assert cyclegan.cycle_loss(a, b, nn.Identity(), nn.Identity()).item() == 0.0

    class Scale(nn.Module):
        def __init__(self, k):
            super().__init__()
            self.k = k

        def forward(self, x):
            return x * self.k

    assert cyclegan.cycle_loss(a, b, Scale(2.0), Scale(0.5)).item() == pytest.approx(0, abs=1e-7)
    # not inverses: g_ba(g_ab(a)) = 2a, g_ab(g_ba(b)) = 2b -> mean|a| + mean|b|
    expected = (a.abs().mean() + b.abs().mean()).item()
    assert cyclegan.cycle_loss(a, b, Scale(2.0), Scale(1.0)).item() == pytest.approx(expected)
    # precomputed translations give the same value (the training step passes them)
    assert cyclegan.cycle_loss(a, b, Scale(2.0), Scale(1.0), fake_b=2 * a,
                               fake_a=b).item() == pytest.approx(expected)


def test_image_pool_returns_past_images_half_the_time_once_full():
    random.seed(0)
    pool = cyclegan.ImagePool(50)
    first = torch.arange(50, dtype=torch.float32).reshape(50, 1, 1, 1)
    assert torch.equal(pool.query(first), first)  # filling: everything passes through
    n, past = 4000, 0
    seen = set(range(50))
    for i in range(n):
        x = torch.full((1, 1, 1, 1), float(1000 + i))
        y = pool.query(x)
        v = int(y.item())
        if v != 1000 + i:
            assert v in seen  # a stored image, shown earlier
            past += 1
        seen.add(1000 + i)
    # Binomial(4000, 0.5): sd = 31.6; 4 sd
    assert abs(past - n / 2) < 4 * 31.7
    assert cyclegan.ImagePool(0).query(first) is first


def test_identity_term_matches_its_formula():
    """L_id = |R(G_hs(a)) - a| + |G_rgb(b) - R(b)|: with G_rgb = R the second term vanishes."""
    cfg, tr = _trainer()
    obj = tr.objective
    s = cfg.image_size
    cubes = torch.rand(2, 16, s, s) * 2 - 1
    rgb = torch.rand(2, 3, s, s) * 2 - 1

    class Render(nn.Module):
        def forward(self, x):
            return obj.render(x)

    obj.nets["G_rgb"] = Render()
    with torch.no_grad():
        expected = (obj.render(obj.nets["G_hs"](rgb)) - rgb).abs().mean()
        assert obj.identity_loss(rgb, cubes).item() == pytest.approx(expected.item(), rel=1e-6)
    # the rendering maps reflectance 0.05 .. 0.8 to sRGB in [-1, 1], brighter for brighter cubes
    dark = obj.render(torch.full((1, 16, 4, 4), -0.8))
    bright = obj.render(torch.full((1, 16, 4, 4), 0.8))
    assert dark.min() >= -1 and bright.max() <= 1 and (bright > dark).all()


def test_one_step_changes_every_network_and_checkpoint_round_trip(tmp_path):
    cfg, tr = _trainer()
    before = {k: [p.detach().clone() for p in net.parameters()]
              for k, net in tr.objective.nets.items()}
    logs = tr.train_step()
    assert {"g_adv", "g_cycle", "g_identity", "d_hs", "d_rgb"} <= set(logs)
    for k, net in tr.objective.nets.items():
        pairs = zip(before[k], net.parameters(), strict=True)
        assert any(not torch.equal(a, b) for a, b in pairs), k
    path = tr.save(tmp_path / "cyclegan.pt")
    loaded, ckpt = registry.load(path)
    assert ckpt["family"] == "cyclegan" and isinstance(loaded, cyclegan.CycleGANObjective)
    rgb = torch.rand(3, 3, cfg.image_size, cfg.image_size)
    a = tr.objective.translate(rgb, to="hs")
    assert torch.allclose(a, loaded.translate(rgb, to="hs"), atol=1e-6)
    assert a.shape == (3, 16, cfg.image_size, cfg.image_size)
    back = loaded.translate(a, to="rgb")
    assert back.shape == rgb.shape and back.min() >= 0 and back.max() <= 1
    assert torch.equal(loaded.sample(4, seed=1, rgb=rgb), loaded.sample(4, seed=1, rgb=rgb))


def test_lr_decays_linearly_after_decay_start():
    cfg, tr = _trainer()
    tr.fit(cfg.steps)
    factors = [h.get("lr_factor", 1.0) for h in tr.history]
    sched = linear_decay(cfg.steps, cfg.decay_start)
    assert factors == [sched(i) for i in range(cfg.steps)]


def test_bad_inputs_fail_early():
    with pytest.raises(config.ConfigError, match="decay_start"):
        config.resolve("smoke", "cyclegan", decay_start=3)
    with pytest.raises(ValueError, match="band_min"):
        registry.build(config.resolve("smoke", "cyclegan"))
    _, tr = _trainer()
    with pytest.raises(ValueError, match="N x 3"):
        tr.objective.translate(torch.rand(1, 16, 32, 32), to="hs")


def _separate_passes_step(obj, opts, cubes, rgb):
    """The step as it was before: every generator pass on its own, the identity term's two
    translations computed again, each discriminator scoring real and history images apart."""
    n, cfg = obj.nets, obj.cfg
    for d in (n["D_hs"], n["D_rgb"]):
        d.requires_grad_(False)
    fake_hs, fake_rgb = n["G_hs"](rgb), n["G_rgb"](cubes)
    adv = (cyclegan.lsgan_loss(n["D_hs"](fake_hs), True)
           + cyclegan.lsgan_loss(n["D_rgb"](fake_rgb), True))
    cyc = cyclegan.cycle_loss(rgb, cubes, n["G_hs"], n["G_rgb"], fake_b=fake_hs, fake_a=fake_rgb)
    idt = obj.identity_loss(rgb, cubes)
    loss_g = adv + cfg.cycle_weight * cyc + cfg.identity_weight * cfg.cycle_weight * idt
    opts["G"].zero_grad(set_to_none=True)
    loss_g.backward()
    opts["G"].step()
    logs = {"g_adv": adv.item(), "g_cycle": cyc.item(), "g_identity": idt.item()}
    for d in (n["D_hs"], n["D_rgb"]):
        d.requires_grad_(True)
    for name, real, fake in (("hs", cubes, fake_hs), ("rgb", rgb, fake_rgb)):
        D = n[f"D_{name}"]
        past = obj.pools[name].query(fake.detach())
        loss_d = 0.5 * (cyclegan.lsgan_loss(D(real), True) + cyclegan.lsgan_loss(D(past), False))
        opts[f"D_{name}"].zero_grad(set_to_none=True)
        loss_d.backward()
        opts[f"D_{name}"].step()
        logs[f"d_{name}"] = loss_d.item()
    return logs | {"g_loss": loss_g.item()}


def test_batched_passes_and_reused_identity_translations_change_nothing():
    """The step stacks two inputs of one network into one batch and reuses the cycle's
    translations for the identity term: the losses and the trained weights are those of
    separate passes (float64: equal to rounding, 1e-12)."""
    import copy

    from hsilib.models.objective import Step

    before = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    try:
        cfg = config.resolve("smoke", "cyclegan", pool_size=2, **BAND_RANGE)
        new = registry.build(cfg, seed=0)
        old = copy.deepcopy(new)
        opt_new, opt_old = new.configure_optimizers(), old.configure_optimizers()
        g = torch.Generator().manual_seed(3)
        s = cfg.image_size
        for i in range(4):  # the history buffers fill and start returning past images
            cubes = torch.rand(2, 16, s, s, generator=g) * 2 - 1
            rgb = torch.rand(2, 3, s, s, generator=g)
            random.seed(i)
            logs_new = new.train_step(Step(i, lambda k, c=cubes, r=rgb: {"image": c, "rgb": r},
                                           opt_new, new.autocast))
            random.seed(i)
            logs_old = _separate_passes_step(old, opt_old, cubes, rgb * 2 - 1)
            assert logs_new.keys() == logs_old.keys()
            for k in logs_new:
                assert logs_new[k] == pytest.approx(logs_old[k], rel=1e-9, abs=1e-12), k
            for name in new.nets:
                for (pn, a), b in zip(new.nets[name].named_parameters(),
                                      old.nets[name].parameters(), strict=True):
                    torch.testing.assert_close(a, b, rtol=1e-9, atol=1e-12, msg=f"{name}.{pn}")
    finally:
        torch.set_default_dtype(before)
