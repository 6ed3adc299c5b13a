"""FastGAN networks and objective: shapes, layer layout, losses against hand-computed cases."""

import warnings

import pytest
import torch

from hsilib.models import fastgan, layers, losses


@pytest.mark.parametrize("size,n_bands", [(32, 16), (64, 3), (128, 16), (256, 5)])
def test_shapes_at_several_sizes_and_band_counts(size, n_bands):
    torch.manual_seed(0)
    G = fastgan.Generator(size, n_bands, z_dim=32, ngf=4)
    D = fastgan.Discriminator(size, n_bands, ndf=4)
    big, small = G(torch.randn(2, 32))
    assert big.shape == (2, n_bands, size, size)
    assert small.shape == (2, n_bands, size // 2, size // 2)
    assert big.abs().max() <= 1 and small.abs().max() <= 1  # tanh outputs
    logits, recs = D(big, part=3)
    assert logits.shape == (2, 50)  # two 5 x 5 patch maps
    assert set(recs) == {"big", "small", "part"}
    for rec in recs.values():  # reconstruction targets are half the image side (128 for 256)
        assert rec.shape == (2, n_bands, size // 2, size // 2)
    assert D((big, small)).shape == (2, 50)


def test_layers_named_by_resolution_and_published_layout():
    G = fastgan.Generator(256, 16, z_dim=256, ngf=64)
    names = dict(G.named_children())
    assert [n for n in names if n.startswith("feat_")] == [f"feat_{r}" for r in
                                                           (8, 16, 32, 64, 128, 256)]
    assert [n for n in names if n.startswith("se_")] == ["se_64", "se_128", "se_256"]
    # the published 256-px generator has about 29 M parameters at ngf = 64
    n_params = sum(p.numel() for p in G.parameters())
    assert 28e6 < n_params < 30.5e6
    D = fastgan.Discriminator(256, 16, ndf=64)
    dn = dict(D.named_children())
    assert {"from_256", "down_128", "down_8", "se_32", "se_16", "se_8"} <= set(dn)
    # widths come from the one table in layers.py
    assert dn["down_8"].main[0].weight_orig.shape[0] == layers.width(layers.D_MULT, 8, 64) == 512
    assert fastgan.sle_pairs(64) == {64: 4} and fastgan.sle_pairs(32) == {32: 4}


def test_bad_size_is_refused():
    with pytest.raises(ValueError, match="image_size"):
        fastgan.Generator(48)


def test_quadrants_and_reconstruction_targets():
    x = torch.arange(2 * 3 * 8 * 8, dtype=torch.float32).view(2, 3, 8, 8)
    assert torch.equal(fastgan.quadrant(x, 0), x[..., :4, :4])
    assert torch.equal(fastgan.quadrant(x, 1), x[..., :4, 4:])
    assert torch.equal(fastgan.quadrant(x, 2), x[..., 4:, :4])
    assert torch.equal(fastgan.quadrant(x, 3), x[..., 4:, 4:])
    t = fastgan.reconstruction_targets(x, 2)
    assert torch.equal(t["part"], x[..., 4:, :4])
    # the half-size target is a 2 x 2 box average, band by band
    assert torch.allclose(t["big"][0, 1, 0, 0], x[0, 1, :2, :2].mean())


def test_hinge_losses_random_margin():
    torch.manual_seed(0)
    assert losses.hinge_d_real(torch.full((4, 50), 1.0)) == 0  # beyond any margin in [0.8, 1]
    assert losses.hinge_d_fake(torch.full((4, 50), -1.0)) == 0
    at_zero = losses.hinge_d_real(torch.zeros(1000, 50))
    assert abs(at_zero.item() - 0.9) < 0.005  # the mean of U(0.8, 1.0)
    assert losses.hinge_g(torch.tensor([[1.0, 3.0]])) == -2.0


def test_spectral_losses_hand_cases():
    a = torch.rand(2, 16, 4, 4) * 2 - 1
    assert losses.spectral_angle(a, a) < 2e-3
    assert losses.spectral_information_divergence(a, a) == 0
    # scaling a reflectance spectrum keeps its angle: (x+1)/2 -> 0.5 (x+1)/2
    b = 0.5 * (a + 1) - 1
    assert losses.spectral_angle(a, b) < 2e-3
    # two orthogonal spectra (in reflectance) are pi/2 apart
    e1 = -torch.ones(1, 2, 1, 1)
    e2 = e1.clone()
    e1[0, 0], e2[0, 1] = 1.0, 1.0
    assert abs(losses.spectral_angle(e1, e2).item() - torch.pi / 2) < 1e-3
    assert losses.mean_spectrum_loss(a, a) < 5e-3


def test_spectral_losses_are_the_metrics_and_have_finite_gradients():
    from hsilib.metrics import spectral as sp

    a = (torch.rand(2, 16, 6, 6) * 2 - 1).requires_grad_(True)
    b = torch.rand(2, 16, 6, 6) * 2 - 1
    assert losses.spectral_angle(a, b).item() == pytest.approx(
        sp.sam((a + 1) / 2, (b + 1) / 2).item())
    # identical spectra sit at the kink of arccos: the loss is 0 and its gradient finite
    loss = losses.spectral_loss(a, a.detach())
    loss.backward()
    assert loss.item() == pytest.approx(0, abs=1e-3) and torch.isfinite(a.grad).all()


def test_fallback_reconstruction_loss_warns():
    a = torch.rand(2, 16, 16, 16) * 2 - 1
    with pytest.warns(UserWarning, match="L1 \\+ \\(1 - SSIM\\)"):
        rec = losses.reconstruction_loss(16, None)
    assert rec(a, a).item() == pytest.approx(0, abs=1e-5)
    assert rec(a, -a).item() > 1


def test_multiband_lpips_widens_first_conv_from_local_file(tmp_path):
    from torchvision.models import alexnet

    torch.manual_seed(0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        state = alexnet(weights=None).state_dict()
    path = tmp_path / "alex.pth"
    torch.save(state, path)
    lp = losses.reconstruction_loss(16, str(path), net="alex")
    conv = lp.lpips.net.slice1[0]
    rgb = state["features.0.weight"]
    assert conv.weight.shape[1] == 16
    assert torch.allclose(conv.weight[:, 4], rgb[:, 1] * 3 / 16)  # band 4 uses kernel 4 mod 3
    assert torch.allclose(conv.weight[:, 15], rgb[:, 0] * 3 / 16)
    a = torch.rand(2, 16, 64, 64) * 2 - 1
    assert lp(a, a).item() == pytest.approx(0, abs=1e-6)
    assert lp(a, torch.flip(a, dims=[-1])).item() > 0
    with pytest.raises(FileNotFoundError, match="lpips_weights"):
        losses.reconstruction_loss(16, str(tmp_path / "missing.pth"))


def test_widen_rgb_conv_repeats_channels_and_keeps_flat_responses():
    w = torch.arange(2 * 3 * 1 * 1, dtype=torch.float32).view(2, 3, 1, 1)  # out 2, RGB, 1x1
    wide = layers.widen_rgb_conv(w, 5)
    assert wide.shape == (2, 5, 1, 1)
    # bands take R, G, B, R, G, scaled by 3/5
    torch.testing.assert_close(wide[0, :, 0, 0], torch.tensor([0.0, 1, 2, 0, 1]) * 0.6)
    flat16 = layers.widen_rgb_conv(w, 6).sum(1)  # response to an all-ones 6-band input
    torch.testing.assert_close(flat16, w.sum(1))  # = the RGB response to an all-ones image
    with pytest.raises(ValueError, match="out x c x k x k"):
        layers.widen_rgb_conv(torch.ones(3, 3), 16)
