"""Conditional FastGAN / SPADE-FastGAN / class-conditional FastGAN."""

import warnings

import numpy as np
import pytest
import torch
from torch import nn

from hsilib import config
from hsilib.data.preprocess import segment_lesions
from hsilib.models import conditional, registry
from hsilib.train.trainer import make_trainer

VARIANTS = {
    "mask_concat": dict(condition="mask", norm="concat"),
    "mask_class": dict(condition="mask", norm="concat", n_classes=2),
    "mask_spade": dict(condition="mask", norm="spade"),
    "rgb_spade": dict(condition="rgb", norm="spade", rgb_weight=1.0,
                      band_min=tuple([0.05] * 16), band_max=tuple([0.8] * 16)),
    "class": dict(condition="none", n_classes=2),
}


def _data(n, s, seed=0):
    g = torch.Generator().manual_seed(seed)
    return {"image": torch.rand(n, 16, s, s, generator=g) * 2 - 1,
            "mask": (torch.rand(n, s, s, generator=g) > 0.5).float(),
            "label": torch.randint(0, 2, (n,), generator=g),
            "rgb": torch.rand(n, 3, s, s, generator=g)}


def _cond(kw, data, n):
    c = {}
    if kw.get("condition", "mask") != "none":
        c[kw.get("condition", "mask")] = data[kw.get("condition", "mask")][:n]
    if kw.get("n_classes"):
        c["label"] = data["label"][:n]
    return c


@pytest.mark.parametrize("name", list(VARIANTS))
def test_one_step_and_registry_round_trip(name, tmp_path):
    kw = VARIANTS[name]
    cfg = config.resolve("smoke", "cond_gan", **kw)
    data = _data(6, cfg.image_size)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # reconstruction-loss fallback
        tr = make_trainer(cfg, data, seed=0, device="cpu")
        before = {k: [p.detach().clone() for p in net.parameters()]
                  for k, net in tr.objective.nets.items()}
        logs = tr.train_step()
    assert np.isfinite(logs["d_loss"]) and np.isfinite(logs["g_loss"])
    if kw.get("rgb_weight"):
        assert logs["g_rgb_l1"] > 0
    for k, net in tr.objective.nets.items():
        pairs = zip(before[k], net.parameters(), strict=True)
        assert any(not torch.equal(a, b) for a, b in pairs), k
    loaded, ckpt = registry.load(tr.save(tmp_path / f"{name}.pt"))
    assert ckpt["family"] == "cfastgan" and isinstance(loaded, conditional.CondFastGANObjective)
    cond = _cond(kw, data, 4)
    a = tr.objective.sample(4, seed=3, **cond)
    b = loaded.sample(4, seed=3, **cond)
    assert a.shape == (4, 16, cfg.image_size, cfg.image_size)
    assert torch.allclose(a, b, atol=1e-6)
    assert loaded.score(a, **cond).shape == (4,)


@pytest.mark.parametrize("name", ["mask_spade", "rgb_spade", "mask_concat"])
def test_the_discriminator_reads_the_condition_by_concatenation(name):
    """SPADE-GAN's discriminator design: the map concatenated with the image at D's input (no
    SPADE layer in D), for SPADE as for the concatenating generator; D's score of one image
    changes with the map it is shown."""
    kw = VARIANTS[name]
    cfg = config.resolve("smoke", "cond_gan", **kw)
    obj = registry.build(cfg, seed=0)
    n_map = conditional.MAP_CHANNELS[cfg.condition]
    first = next(m for m in obj.nets["D"].modules() if isinstance(m, nn.Conv2d))
    assert first.in_channels == cfg.n_bands + n_map
    assert not any(isinstance(m, conditional.SPADE) for m in obj.nets["D"].modules())
    data = _data(4, cfg.image_size)
    cond = obj.batch_condition({cfg.condition: data[cfg.condition]}, 4)
    seen = obj.d_input(data["image"], **cond)
    torch.testing.assert_close(seen[:, :16], data["image"])
    torch.testing.assert_close(seen[:, 16:], cond["cond_map"])  # the map in [-1, 1]
    other = {cfg.condition: 1 - data[cfg.condition]}
    obj.nets["D"].eval()
    a = obj.score(data["image"], **{cfg.condition: data[cfg.condition]})
    b = obj.score(data["image"], **other)
    assert (a - b).abs().min() > 0


def test_spade_with_a_constant_map_is_batch_norm_with_that_affine():
    torch.manual_seed(0)
    spade = conditional.SPADE(5, map_channels=3, hidden=7)
    x = torch.randn(4, 5, 9, 9) * 3 + 1
    m = torch.ones(4, 3, 9, 9) * torch.tensor([0.3, -0.7, 0.2])[None, :, None, None]
    gamma, beta = spade.modulation(m, 9)
    # a constant map gives the same gamma, beta at every pixel (replicate padding) ...
    assert torch.allclose(gamma, gamma[:, :, :1, :1].expand_as(gamma), atol=1e-6)
    assert torch.allclose(beta, beta[:, :, :1, :1].expand_as(beta), atol=1e-6)
    bn = nn.BatchNorm2d(5)
    with torch.no_grad():
        bn.weight.copy_(1 + gamma[0, :, 0, 0])
        bn.bias.copy_(beta[0, :, 0, 0])
    # ... and SPADE equals a batch norm with weight 1 + gamma, bias beta (training mode)
    assert torch.allclose(spade(x, m), bn(x), atol=1e-5)
    # a non-constant map modulates per pixel: the outputs differ
    m2 = m.clone()
    m2[:, :, :4] = -1
    assert not torch.allclose(spade(x, m2), bn(x), atol=1e-3)


def test_class_conditional_generator_uses_its_class():
    cfg = config.resolve("smoke", "cond_gan", **VARIANTS["class"])
    obj = registry.build(cfg, seed=0)
    G = obj.nets["G"].eval()
    z = torch.randn(3, cfg.z_dim)
    with torch.no_grad():
        torch.manual_seed(1)
        a = G(z, None, torch.zeros(3, dtype=torch.long))[0]
        torch.manual_seed(1)
        b = G(z, None, torch.ones(3, dtype=torch.long))[0]
        torch.manual_seed(1)
        a2 = G(z, None, torch.zeros(3, dtype=torch.long))[0]
    assert torch.equal(a, a2)  # same z, same class, same noise: same image
    assert (a - b).abs().mean() > 1e-4  # same z, other class: another image
    # the class enters through the embedding: equal embeddings make the classes equal
    with torch.no_grad():
        G.embed.weight[1] = G.embed.weight[0]
        torch.manual_seed(1)
        b_same = G(z, None, torch.ones(3, dtype=torch.long))[0]
    assert torch.equal(a, b_same)
    # the discriminator sees the class too: one image, two labels, two scores
    obj2 = registry.build(cfg, seed=0)
    x = torch.rand(2, 16, cfg.image_size, cfg.image_size) * 2 - 1
    assert not torch.allclose(obj2.score(x, label=0), obj2.score(x, label=1))
    with pytest.raises(ValueError, match="label"):
        obj2.sample(2, seed=0)


def test_class_conditional_samples_carry_their_class_after_brief_training():
    """Fake data where the class sets the level (DN +0.5, MM -0.5 in every band): after a
    short training the samples drawn for each label sit on their class's side."""
    s, n = 32, 48
    cfg = config.resolve("smoke", "cond_gan", condition="none", n_classes=2, steps=40, ngf=8,
                         ndf=8, batch_size=8, diffaug=(), lr=1e-3)
    labels = torch.arange(n) % 2
    g = torch.Generator().manual_seed(0)
    img = (0.5 - labels.float())[:, None, None, None] + 0.05 * torch.randn(n, 16, s, s, generator=g)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        tr = make_trainer(cfg, {"image": img, "label": labels}, seed=0, device="cpu")
        tr.fit(cfg.steps)
    dn = tr.objective.sample(8, seed=1, label=0).mean((1, 2, 3))
    mm = tr.objective.sample(8, seed=1, label=1).mean((1, 2, 3))
    assert (dn > mm).all() and dn.mean() - mm.mean() > 0.5


def _fake_lesions(n, s, seed):
    """Skin (level +0.6 in [-1, 1]) with a dark disc (-0.8) exactly where the mask is 1."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:s, :s]
    masks = np.zeros((n, s, s), np.float32)
    for i in range(n):
        r = rng.uniform(0.15, 0.25) * s  # inside the image: segments touching the rim drop
        cy, cx = rng.uniform(0.4, 0.6, 2) * s
        masks[i] = (yy - cy) ** 2 + (xx - cx) ** 2 < r ** 2
    masks = torch.from_numpy(masks)
    img = 0.6 - 1.4 * masks[:, None].expand(-1, 16, -1, -1)
    img = img + 0.02 * torch.randn(n, 16, s, s, generator=torch.Generator().manual_seed(seed))
    return img.clamp(-1, 1), masks


def test_all_zero_mask_gives_no_lesion_after_brief_training():
    """What this checks: a tiny mask-conditioned FastGAN, trained briefly on fake crops (bright
    skin, a dark disc exactly where the mask is 1), makes for an all-zero mask an image in
    which the project's lesion segmentation finds (almost) no lesion pixels, while for disc
    masks it finds the disc (Dice well above chance). It does not check real lesions: the
    architecture itself guarantees nothing, the learned conditioning does."""
    s = 32
    cfg = config.resolve("smoke", "cond_gan", condition="mask", norm="concat", steps=60,
                         ngf=8, ndf=8, batch_size=8, diffaug=(), lr=1e-3)
    img, masks = _fake_lesions(64, s, 0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        tr = make_trainer(cfg, {"image": img, "mask": masks}, seed=0, device="cpu")
        tr.fit(cfg.steps)
    obj = tr.objective

    def segment(x):
        cube = ((x + 1) / 2 * 0.75 + 0.05).permute(1, 2, 0).numpy()  # -> reflectance 0.05..0.8
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            found = segment_lesions(cube, min_area=10, field=np.ones((s, s), bool))
        return np.any(found, axis=0) if found else np.zeros((s, s), bool)

    zero = obj.sample(8, seed=1, mask=torch.zeros(8, s, s))
    lesion_share = np.mean([segment(x).mean() for x in zero])
    assert lesion_share < 0.05
    _, test_masks = _fake_lesions(8, s, 99)
    disc = obj.sample(8, seed=1, mask=test_masks)
    dices = []
    for x, m in zip(disc, test_masks.numpy() > 0.5, strict=True):
        seg = segment(x)
        dices.append(2 * (seg & m).sum() / max(1, seg.sum() + m.sum()))
    assert np.mean(dices) > 0.6
