"""StyleGAN2-ADA: modulated convolution, demodulation, R1, ADA's p, training and loading."""

import contextlib
import math

import pytest
import torch
import torch.nn.functional as F

from hsilib import config
from hsilib.models import ada, losses, registry, stylegan2, stylegan2_layers
from hsilib.models.objective import Step
from hsilib.train.trainer import make_trainer


def _loop_modconv(x, weight, styles, demodulate):
    """Reference: one ordinary convolution per image with its own modulated kernel."""
    out = []
    for xb, sb in zip(x, styles, strict=True):
        w = weight * sb[None, :, None, None]
        if demodulate:
            w = w / torch.sqrt(w.square().sum(dim=(1, 2, 3), keepdim=True) + 1e-8)
        out.append(F.conv2d(xb[None], w, padding=weight.shape[-1] // 2))
    return torch.cat(out)


@pytest.mark.parametrize("demodulate", [True, False])
@pytest.mark.parametrize("fused", [True, False])
@pytest.mark.parametrize("k", [1, 3])
def test_modulated_conv_equals_loop_of_ordinary_convs(demodulate, fused, k):
    g = torch.Generator().manual_seed(0)
    x = torch.randn(3, 5, 7, 7, generator=g, dtype=torch.float64)
    weight = torch.randn(4, 5, k, k, generator=g, dtype=torch.float64)
    styles = torch.rand(3, 5, generator=g, dtype=torch.float64) * 2 + 0.1
    got = stylegan2_layers.modulated_conv2d(x, weight, styles, demodulate=demodulate, fused=fused)
    want = _loop_modconv(x, weight, styles, demodulate)
    assert torch.allclose(got, want, atol=1e-10)


def test_demodulation_gives_unit_variance_outputs():
    # i.i.d. unit-variance inputs: an output value is sum_ik w''_oik x_i(k), with variance
    # sum_ik w''^2 = 1 after demodulation (interior pixels, zero padding excluded)
    torch.manual_seed(0)
    x = torch.randn(4, 32, 64, 64, dtype=torch.float64)
    weight = torch.randn(8, 32, 3, 3, dtype=torch.float64) * 5
    styles = torch.rand(4, 32, dtype=torch.float64) * 3
    out = stylegan2_layers.modulated_conv2d(x, weight, styles)[..., 1:-1, 1:-1]
    var = out.var(dim=(2, 3))  # per image and output channel
    assert torch.allclose(var, torch.ones_like(var), atol=0.06)
    raw = stylegan2_layers.modulated_conv2d(x, weight, styles, demodulate=False)
    assert raw.var() > 10  # without demodulation the scale of weights and styles passes through


def test_r1_against_hand_computation():
    # D(x) = sum_j a_j x_j^2 per image: grad = 2 a x, ||grad||^2 = 4 sum a_j^2 x_j^2
    a = torch.tensor([1.0, -2.0, 0.5, 3.0]).view(1, 1, 2, 2)
    x = torch.tensor([[1.0, 2.0, -1.0, 0.5], [0.0, 1.0, 2.0, -1.0]]).view(2, 1, 2, 2)
    x.requires_grad_(True)
    logits = (a * x.square()).flatten(1).sum(1)
    got = losses.r1_penalty(x, logits)
    per_image = [4 * (1 * 1 + 4 * 4 + 0.25 * 1 + 9 * 0.25), 4 * (0 + 4 * 1 + 0.25 * 4 + 9 * 1)]
    assert got.item() == pytest.approx(sum(per_image) / 2)
    got.backward()  # differentiable (create_graph): it can train D
    assert x.grad is not None


class _Linear(torch.nn.Module):
    """D(x) = sum(w * x) per image: its gradient is w wherever it is taken."""

    def __init__(self, w: torch.Tensor) -> None:
        super().__init__()
        self.w = torch.nn.Parameter(w)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (self.w * x).flatten(1).sum(1)


def test_r1_is_taken_before_augmentation_through_it():
    """R1 at the real images before ADA's augmentation: with aug(x) = 0.5 * flip(x) and a
    linear D, grad_x D(aug(x)) = 0.5 * flip(w), so the penalty is 0.25 ||w||^2 per image; at
    the augmented images (the old rule) it would be ||w||^2."""
    cfg = config.resolve("smoke", "stylegan2", r1_every=1, r1_gamma=2.0)
    obj = registry.build(cfg, seed=0)
    w = torch.randn(cfg.n_bands, cfg.image_size, cfg.image_size,
                    generator=torch.Generator().manual_seed(1))
    obj.nets["D"] = _Linear(w.clone())
    obj.augment = lambda x: 0.5 * x.flip(-1)  # noqa: E731 (a known, differentiable augmentation)
    opt = torch.optim.SGD(obj.nets["D"].parameters(), lr=0.1)
    real = torch.rand(3, cfg.n_bands, cfg.image_size, cfg.image_size)
    step = Step(index=0, batch=lambda k: {"image": real}, optimizers={"D": opt},
                autocast=contextlib.nullcontext)
    logs = obj.r1_update(step, real)
    assert logs["r1"] == pytest.approx(0.25 * w.square().sum().item(), rel=1e-5)
    # one SGD step on gamma / 2 * r1_every * 0.25 ||w||^2: w <- w (1 - 0.1 * 2 / 2 * 0.5)
    torch.testing.assert_close(obj.nets["D"].w.detach(), w * (1 - 0.1 * 0.5))


def test_ada_p_rises_when_d_overfits_and_falls_when_it_does_not():
    aug = ada.AdaptiveAugment(target=0.6, interval=2, kimg=0.1)  # p step 8 * 2 / 100 = 0.16
    for _ in range(10):  # a discriminator that memorised its fixed real set: all logits > 0
        aug.accumulate(torch.full((8,), 3.0))
        aug.adjust(8)
    assert float(aug.r_t) == 1.0 and float(aug.p) == pytest.approx(0.8)
    for _ in range(4):  # real and fake no longer separated: signs cancel, r_t = 0 < 0.6
        aug.accumulate(torch.tensor([1.0, -1.0] * 4))
        aug.adjust(8)
    assert float(aug.r_t) == 0.0 and float(aug.p) == pytest.approx(0.48)
    for _ in range(20):
        aug.accumulate(torch.tensor([1.0, -1.0] * 4))
        aug.adjust(8)
    assert float(aug.p) == 0.0  # clipped at 0


def test_ada_p_rises_with_a_discriminator_overfitting_a_fixed_set():
    # a real discriminator trained to separate 8 fixed "real" images from fresh noise overfits
    # them (r_t -> 1): p rises; then fed logits of a chance-level critic, p falls back
    torch.manual_seed(0)
    real = torch.rand(8, 3, 8, 8) * 2 - 1
    D = stylegan2.Discriminator(32, 3, channel_base=64, channel_max=8)
    D_in = torch.nn.Upsample(size=32)
    opt = torch.optim.Adam(D.parameters(), lr=1e-2)
    aug = ada.AdaptiveAugment(target=0.6, interval=1, kimg=0.05)
    p_seen = []
    for _ in range(30):
        lr_, lf = D(D_in(aug(real))), D(D_in(aug(torch.randn(8, 3, 8, 8))))
        loss = F.softplus(-lr_).mean() + F.softplus(lf).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
        aug.accumulate(lr_)
        aug.adjust(8)
        p_seen.append(float(aug.p))
    assert float(aug.r_t) > 0.6 and p_seen[-1] > 0.5
    for _ in range(10):
        aug.accumulate(torch.randn(8))
        aug.adjust(8)
    assert float(aug.p) < p_seen[-1]


def test_ada_ops_are_spectrum_safe_and_identity_at_p0():
    torch.manual_seed(0)
    x = torch.randn(6, 16, 16, 16)
    assert torch.equal(ada.augment(x, 0.0), x)
    # a spatially constant spectrum per image stays that spectrum (or zero: cutout) everywhere
    spectra = torch.rand(6, 16)
    flat = spectra[:, :, None, None].expand(-1, -1, 16, 16).contiguous()
    out = ada.augment(flat, 1.0)
    same = (out - flat).abs().amax(1) < 1e-5
    zero = out.abs().amax(1) == 0
    assert (same | zero).all() and zero.any()
    # flips, rotations, translation: every output spectrum is an input spectrum of its image
    out = ada.augment(x, 1.0, ops=("xflip", "rot90", "translate"))
    for i in range(len(x)):
        src = x[i].flatten(1).T  # pixels x bands
        dst = out[i].flatten(1).T
        d = (dst[:, None] - src[None]).abs().amax(-1).min(1).values
        assert d.max() == 0
    with pytest.raises(ValueError, match="spectrum-safe"):
        ada.augment(x, 0.5, ops=("brightness",))


def test_shapes_sizes_and_layer_count():
    for size in (32, 64):
        G = stylegan2.Generator(size, 5, z_dim=8, w_dim=8, mapping_layers=1, channel_base=64,
                                channel_max=8)
        D = stylegan2.Discriminator(size, 5, channel_base=64, channel_max=8)
        assert G.n_ws == 2 * int(math.log2(size)) - 2 == len(G.style_layers()) + 1
        x = G(torch.randn(4, 8), mixing=1.0)
        assert x.shape == (4, 5, size, size)
        assert D(x).shape == (4,)
    with pytest.raises(ValueError, match="image_size"):
        stylegan2.Generator(48)


def test_one_step_and_checkpoint_round_trip(tmp_path):
    cfg = config.resolve("smoke", "stylegan2")
    torch.manual_seed(0)
    data = torch.rand(6, cfg.n_bands, cfg.image_size, cfg.image_size) * 2 - 1
    tr = make_trainer(cfg, data, seed=0, device="cpu")
    before = {k: v.clone() for k, v in tr.objective.nets["G"].state_dict().items()}
    tr.fit(2, checkpoint=tmp_path / "sg.pt")
    after = tr.objective.nets["G"].state_dict()
    assert any(not torch.equal(before[k], after[k]) for k in before)  # the step trained G
    h = tr.history_frame()
    assert {"d_loss", "g_loss", "r1", "pl", "ada_p"} <= set(h.columns)
    obj, ckpt = registry.load(tmp_path / "sg.pt")
    assert ckpt["family"] == "stylegan2" and ckpt["step"] == 2
    a = obj.sample(3, seed=5)
    b = tr.objective.sample(3, seed=5)
    assert a.shape == (3, cfg.n_bands, cfg.image_size, cfg.image_size)
    assert torch.allclose(a, b) and a.abs().max() <= 1
    assert float(obj.nets["ada"].p) == float(tr.objective.nets["ada"].p)
    assert obj.score(a).shape == (3,)


def _fir2d(x, pad, gain=1.0):
    """Reference filter: each channel convolved with the 4 x 4 outer product of [1, 3, 3, 1]
    (normalised, times ``gain``) after zero padding, written as one dense 2-D convolution."""
    k = torch.tensor([1.0, 3.0, 3.0, 1.0], dtype=x.dtype)
    k2 = (k[:, None] * k[None, :]) / k.sum() ** 2 * gain
    c = x.shape[1]
    return F.conv2d(F.pad(x, (pad[0], pad[1], pad[0], pad[1])), k2.expand(c, 1, 4, 4), groups=c)


@pytest.mark.parametrize("fused", [True, False])
@pytest.mark.parametrize("k", [1, 3])
def test_upsampling_modulated_conv_is_zero_insertion_conv_then_filter(fused, k):
    """Published design: insert a zero after every pixel, convolve with the (modulated,
    demodulated) kernel, low-pass filter with gain 4; here as one transposed convolution."""
    g = torch.Generator().manual_seed(1)
    x = torch.randn(2, 3, 5, 5, generator=g, dtype=torch.float64)
    weight = torch.randn(4, 3, k, k, generator=g, dtype=torch.float64)
    styles = torch.rand(2, 3, generator=g, dtype=torch.float64) + 0.2
    got = stylegan2_layers.modulated_conv2d(x, weight, styles, up=True, fused=fused)
    assert got.shape == (2, 4, 10, 10)
    want = []
    for xb, sb in zip(x, styles, strict=True):
        w = weight * sb[None, :, None, None]
        w = w / torch.sqrt(w.square().sum(dim=(1, 2, 3), keepdim=True) + 1e-8)
        z = torch.zeros(1, 3, 10, 10, dtype=torch.float64)
        z[..., ::2, ::2] = xb
        full = F.conv2d(F.pad(z, (k - 1, k - 1, k - 1, k - 1)), w.flip(-1, -2))  # true conv
        want.append(_fir2d(full[..., : 10 + k - 2, : 10 + k - 2],
                           ((4 - k) // 2 + 1, (3 - k) // 2 + 1), gain=4.0))
    torch.testing.assert_close(got, torch.cat(want), rtol=0, atol=1e-12)


def test_downsampling_conv_filters_then_strides_and_keeps_flat_images_flat():
    from hsilib.models import stylegan2_layers as sl

    g = torch.Generator().manual_seed(2)
    x = torch.randn(2, 3, 8, 8, generator=g, dtype=torch.float64)
    w = torch.randn(5, 3, 3, 3, generator=g, dtype=torch.float64)
    got = sl.downsample_conv2d(x, w)
    assert got.shape == (2, 5, 4, 4)
    torch.testing.assert_close(got, F.conv2d(_fir2d(x, (2, 2)), w, stride=2), rtol=0, atol=1e-12)
    # a flat image stays flat inside (no checkerboard from the strides), up and down
    flat = torch.ones(1, 1, 8, 8, dtype=torch.float64)
    ones = torch.ones(1, 1, 3, 3, dtype=torch.float64)
    assert torch.allclose(sl.upsample_conv2d(flat, ones)[..., 3:-3, 3:-3], torch.tensor(9.0,
                                                                                  dtype=torch.float64))
    assert torch.allclose(sl.downsample_conv2d(flat, ones)[..., 1:-1, 1:-1],
                          torch.tensor(9.0, dtype=torch.float64))
    # the discriminator's downsampling layers halve the side
    conv = sl.EqualConv2d(3, 4, 3, down=True)
    assert conv(torch.randn(2, 3, 16, 16)).shape == (2, 4, 8, 8)
