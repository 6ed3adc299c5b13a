"""The SHS-GAN ablation family: every arm takes one optimiser step and survives a registry
round trip; the gradient penalty against a hand-computed linear critic; the 3-D critic sees
band order (and its 2-D-convolution implementation equals nn.Conv3d); band attention starts
as the identity; the RGB-to-HS generator's consistency loss is zero for its own rendering."""

import pytest
import torch
from torch import nn

from hsilib import config
from hsilib.data.samplers import TensorSampler, UnpairedSampler
from hsilib.models import registry
from hsilib.models.layers import BandAttention, BandConv3d, Critic3D, Generator3D, count_parameters
from hsilib.models.losses import gradient_penalty
from hsilib.models.projection import HSToRGB
from hsilib.models.shsgan import Critic2D, Reflectance, ShsGANObjective, n_parameters
from hsilib.study.ablation import ARMS, arm_config
from hsilib.train.trainer import Trainer

RANGE = dict(reflectance_min=(0.0,) * 16, reflectance_max=(1.0,) * 16)


def _cubes(n=6, size=32, bands=16, seed=1):
    return torch.rand(n, bands, size, size, generator=torch.Generator().manual_seed(seed)) * 2 - 1


def _rgb(n=5, size=32):
    return torch.rand(n, 3, size, size, generator=torch.Generator().manual_seed(2))


def _sampler(arm, cfg):
    cubes = _cubes(size=cfg.image_size)
    if arm == "shsgan_rgb":
        return UnpairedSampler(cubes, _rgb(size=cfg.image_size), cfg.batch_size)
    if arm == "acgan":
        return TensorSampler({"image": cubes, "label": torch.tensor([0, 1] * 3)},
                             cfg.batch_size)
    return TensorSampler(cubes, cfg.batch_size)


@pytest.mark.parametrize("arm", list(ARMS))
def test_every_arm_takes_one_optimiser_step_and_round_trips(arm, tmp_path):
    study = config.resolve("smoke")
    cfg = arm_config(study, arm, **(RANGE if arm == "shsgan_rgb" else {}))
    obj = registry.build(cfg, seed=0)
    before = {n: [p.detach().clone() for p in net.parameters()] for n, net in obj.nets.items()}
    trainer = Trainer(obj, _sampler(arm, cfg), amp=False, log_every=0)
    logs = trainer.train_step()
    assert all(torch.isfinite(torch.tensor(v)) for v in logs.values())
    for name, net in obj.nets.items():  # both players were updated
        moved = [not torch.equal(a, b) for a, b in zip(before[name], net.parameters(),
                                                       strict=True)]
        assert any(moved), f"{arm}: {name} did not change"
    ck = trainer.save(tmp_path / f"{arm}.pt")
    back, meta = registry.load(ck)  # weights_only=True inside
    assert meta["family"] == cfg.family and meta["step"] == 1
    cond = {"cls": "MM"} if arm == "acgan" else {}
    if arm == "shsgan_rgb":
        cond = {"rgb": _rgb(size=cfg.image_size)}
    a = obj.sample(3, seed=4, **cond)
    b = back.sample(3, seed=4, **cond)
    assert a.shape == (3, 16, cfg.image_size, cfg.image_size)
    torch.testing.assert_close(a, b)
    assert a.abs().max() <= 1


def test_gradient_penalty_of_a_linear_critic_is_hand_computed():
    # D(x) = <w, x> has gradient w everywhere: penalty (||w|| - 1)^2 at any interpolate
    critic = nn.Sequential(nn.Flatten(), nn.Linear(2 * 2 * 2, 1, bias=False))
    with torch.no_grad():
        critic[1].weight.copy_(torch.tensor([[3.0, 0, 0, 0, 0, 4.0, 0, 0]]))  # ||w|| = 5
    real, fake = torch.randn(4, 2, 2, 2), torch.randn(4, 2, 2, 2)
    gp = gradient_penalty(critic, real, fake)
    assert gp.item() == pytest.approx(16.0)
    # a quadratic critic D(x) = 0.5 ||x||^2: gradient x_hat, penalty (||x_hat|| - 1)^2
    quad = lambda x: 0.5 * x.flatten(1).pow(2).sum(1)  # noqa: E731
    real = torch.tensor([[2.0, 0.0]]).view(1, 2, 1, 1)
    fake = torch.tensor([[0.0, 0.0]]).view(1, 2, 1, 1)
    alpha = torch.tensor([0.25])  # x_hat = (0.5, 0): (0.5 - 1)^2
    assert gradient_penalty(quad, real, fake, alpha).item() == pytest.approx(0.25)
    # the penalty trains the critic: it has a gradient with respect to the weights
    gp.backward()
    assert critic[1].weight.grad.abs().sum() > 0


def test_band_conv3d_equals_nn_conv3d():
    m = BandConv3d(2, 5, 3, 4, 2, 1)
    x = torch.randn(3, 2, 16, 16, 16)
    ref = nn.functional.conv3d(x, m.weight3d(), m.conv.bias, stride=(1, 2, 2),
                               padding=(1, 1, 1))
    torch.testing.assert_close(m(x), ref, atol=1e-5, rtol=1e-5)


def test_3d_critic_sees_band_order_a_band_summed_2d_critic_does_not():
    torch.manual_seed(0)
    x = torch.randn(2, 16, 32, 32)
    perm = torch.randperm(16)
    d3 = Critic3D(32, 16, 2).eval()
    with torch.no_grad():
        assert (d3(x) - d3(x[:, perm])).abs().max() > 1e-4
    # the 2-D critic whose first layer has the 3-D kernel summed over its band taps, the same
    # for every band: it sees a sum over bands, so any band order gives the same score
    d2 = Critic2D(32, 16, 4).eval()
    first = d2.features[0]
    k3 = torch.randn(4, 1, 3, 4, 4)
    with torch.no_grad():
        first.weight.copy_(k3.sum(2).expand(-1, 16, -1, -1))
        torch.testing.assert_close(d2(x), d2(x[:, perm]), atol=1e-5, rtol=1e-5)
    # ... while its ordinary (trained, per-band) weights do see the order
    d2b = Critic2D(32, 16, 4).eval()
    with torch.no_grad():
        assert (d2b(x) - d2b(x[:, perm])).abs().max() > 1e-6


def test_fft_arm_reads_spectral_shape():
    torch.manual_seed(0)
    d = Critic3D(32, 16, 2, sn=True, fft=True).eval()
    d_plain = Critic3D(32, 16, 2, sn=True).eval()
    assert d.fft is not None and d_plain.fft is None
    x = torch.randn(2, 16, 32, 32)
    assert d(x).shape == (2,)


def test_band_attention_starts_as_identity_and_mixes_bands_once_on():
    att = BandAttention()
    x = torch.randn(2, 16, 8, 8)
    torch.testing.assert_close(att(x), x)
    w = att.weights(x)
    torch.testing.assert_close(w.sum(-1), torch.ones(2, 16))
    with torch.no_grad():
        att.gamma.fill_(1.0)
    y = att(x)
    torch.testing.assert_close(y, x + (w @ x.flatten(2)).view_as(x))


def test_generator3d_shapes():
    g = Generator3D(32, 16, 8, 8)
    assert g(torch.randn(2, 8)).shape == (2, 16, 32, 32)
    assert g.b0 == 2  # 16 bands reached by three band doublings within four up blocks


def test_rgb_consistency_is_zero_for_the_rendering_of_the_generated_cube():
    cfg = config.resolve("smoke", "shsgan", generator="rgb", **RANGE)
    obj = ShsGANObjective(cfg)
    cube = torch.rand(2, 16, 32, 32) * 2 - 1
    rgb = HSToRGB()(Reflectance(*RANGE.values())(cube))
    assert obj.rgb_consistency(cube, rgb).item() == pytest.approx(0.0, abs=1e-6)
    assert obj.rgb_consistency(cube, rgb.flip(1)).item() > 1e-3


def test_rgb_generator_needs_the_normaliser_range_and_rgb_input():
    with pytest.raises(ValueError, match="reflectance_min"):
        ShsGANObjective(config.resolve("smoke", "shsgan", generator="rgb"))
    obj = ShsGANObjective(config.resolve("smoke", "shsgan", generator="rgb", **RANGE))
    with pytest.raises(ValueError, match="rgb="):
        obj.sample(2, seed=0)


def test_parameter_counts_per_network():
    assert count_parameters(nn.Linear(3, 2)) == 3 * 2 + 2  # weights and biases
    obj = ShsGANObjective(config.resolve("smoke", "shsgan"))
    counts = n_parameters(obj)
    assert set(counts) == {"G", "D"}
    assert counts["D"] == sum(p.numel() for p in obj.nets["D"].parameters()) > 0
