"""Spectral/paired metrics against torchmetrics and hand-computed cases."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torchmetrics.functional.image as tmf

from hsilib.metrics import spectral as sp

PAIRS = ["random_pair", "smooth_pair"]


@pytest.mark.parametrize("pair", PAIRS)
def test_matches_torchmetrics(pair, request):
    p, t = request.getfixturevalue(pair)
    checks = {
        "sam": (sp.sam(p, t), tmf.spectral_angle_mapper(p, t)),
        "ergas": (sp.ergas(p, t, ratio=4), tmf.error_relative_global_dimensionless_synthesis(p, t)),
        "psnr": (sp.psnr(p, t, data_range=1.0),
                 tmf.peak_signal_noise_ratio(p, t, data_range=1.0, dim=(1, 2, 3))),
        "ssim": (sp.ssim(p, t, data_range=1.0),
                 tmf.structural_similarity_index_measure(p, t, data_range=1.0)),
        "tv": (sp.total_variation(p), tmf.total_variation(p, reduction="mean")),
    }
    for name, (ours, ref) in checks.items():
        assert abs(float(ours) - float(ref)) <= 1e-4 * max(1.0, abs(float(ref))), name


@pytest.mark.parametrize("pair", PAIRS)
def test_rase_windowed_is_torchmetrics_over_w2(pair, request):
    p, t = request.getfixturevalue(pair)
    ref = float(tmf.relative_average_spectral_error(p, t, window_size=8))
    ours = float(sp.rase(p, t, window_size=8))
    assert ours * 64 == pytest.approx(ref, rel=1e-4)


def test_rase_ergas_by_hand():
    t = torch.ones(1, 2, 4, 4)
    t[:, 1] = 2.0
    p = t.clone()
    p[:, 0] += 0.1  # RMSE_0 = 0.1, RMSE_1 = 0
    # mu = 1.5; RASE = 100/1.5 * sqrt((0.01 + 0) / 2)
    assert float(sp.rase(p, t)) == pytest.approx(100 / 1.5 * math.sqrt(0.005), rel=1e-5)
    # ERGAS = 100 * sqrt(((0.1/1)^2 + 0) / 2)
    assert float(sp.ergas(p, t)) == pytest.approx(100 * math.sqrt(0.005), rel=1e-5)
    # windowed RASE of a constant error equals the global one
    big_t, big_p = t.repeat(1, 1, 4, 4), p.repeat(1, 1, 4, 4)
    assert float(sp.rase(big_p, big_t, window_size=4)) == pytest.approx(float(sp.rase(p, t)),
                                                                         rel=1e-5)


def test_sam_units_zero_spectra_and_mask():
    t = torch.zeros(1, 2, 1, 3)
    p = torch.zeros(1, 2, 1, 3)
    t[0, :, 0, 0] = torch.tensor([1.0, 0.0])
    p[0, :, 0, 0] = torch.tensor([1.0, 1.0])  # 45 degrees
    t[0, :, 0, 1] = torch.tensor([1.0, 2.0])  # p zero -> pi/2
    # pixel 2: both zero -> 0
    amap = sp.sam_map(p, t, degrees=True)
    assert torch.allclose(amap[0, 0], torch.tensor([45.0, 90.0, 0.0]), atol=1e-4)
    assert not torch.isnan(sp.sam(p, t)).any()
    mask = torch.tensor([[[1, 0, 0]]])
    assert float(sp.sam(p, t, mask=mask)) == pytest.approx(math.pi / 4, rel=1e-6)
    # scale invariance, and numpy input
    x = np.random.default_rng(0).random((2, 16, 8, 8)).astype(np.float32)
    assert float(sp.sam(x, 3 * x)) == pytest.approx(0.0, abs=1e-3)


def test_sam_mean_spectra():
    a = torch.ones(3, 4, 5, 5)
    b = 2 * torch.ones(2, 4, 6, 6)
    assert float(sp.sam_mean_spectra(a, b)) == pytest.approx(0.0, abs=1e-3)
    b[:, 0] = 0  # mean spectrum (0, 2, 2, 2) vs (1, 1, 1, 1): cos = 6 / (2 * sqrt(12))
    ref = math.degrees(math.acos(6 / (2 * math.sqrt(12))))
    assert float(sp.sam_mean_spectra(a, b, degrees=True)) == pytest.approx(ref, rel=1e-5)


def test_sid_properties():
    g = torch.Generator().manual_seed(0)
    x = torch.rand(2, 16, 4, 4, generator=g)
    assert float(sp.sid(x, 5 * x)) == pytest.approx(0.0, abs=1e-6)  # scale-invariant
    y = torch.rand(2, 16, 4, 4, generator=g)
    assert float(sp.sid(x, y)) == pytest.approx(float(sp.sid(y, x)), rel=1e-6)  # symmetric
    # hand case: p = (0.25, 0.75), q = (0.5, 0.5)
    p = torch.tensor([1.0, 3.0]).view(1, 2, 1, 1)
    q = torch.tensor([1.0, 1.0]).view(1, 2, 1, 1)
    ref = (0.25 - 0.5) * math.log(0.25 / 0.5) + (0.75 - 0.5) * math.log(0.75 / 0.5)
    assert float(sp.sid(p, q, eps=0)) == pytest.approx(ref, rel=1e-6)
    assert torch.isfinite(sp.sid(torch.zeros(1, 4, 2, 2), torch.rand(1, 4, 2, 2)))


def test_psnr_ssim_properties_and_errors():
    x = torch.rand(2, 16, 16, 16, generator=torch.Generator().manual_seed(1))
    assert float(sp.ssim(x, x, data_range=1.0)) == pytest.approx(1.0, abs=1e-6)
    noisy = x + 0.1
    assert float(sp.psnr(noisy, x, data_range=1.0)) == pytest.approx(20.0, abs=1e-3)
    assert float(sp.psnr(noisy * 2, x * 2, data_range=2.0)) == pytest.approx(20.0, abs=1e-3)
    assert sp.psnr(noisy, x, data_range=1.0, reduction="none").shape == (2,)
    with pytest.raises(ValueError, match="shape"):
        sp.ssim(x, x[:1], data_range=1.0)
    with pytest.raises(ValueError, match="data_range"):
        sp.psnr(x, x, data_range=0)
    tv = sp.total_variation(torch.arange(4.0).view(1, 1, 2, 2), reduction="none")
    assert float(tv[0]) == pytest.approx(2 * 2 + 1 * 2)  # vertical |2|*2 + horizontal |1|*2


def test_ssim_valid_padding_by_hand():
    """padding="valid": the mean SSIM over pixels whose 11 x 11 window lies inside the image,
    computed here with a full 2-D Gaussian kernel and no padding."""
    import torch.nn.functional as F

    g = torch.Generator().manual_seed(3)
    p, t = torch.rand(2, 3, 20, 20, generator=g), torch.rand(2, 3, 20, 20, generator=g)
    x = torch.arange(11, dtype=torch.float32) - 5
    w = torch.exp(-x**2 / (2 * 1.5**2))
    w = (w[:, None] * w[None, :] / w.sum() ** 2).expand(3, 1, 11, 11)

    def blur(z):
        return F.conv2d(z, w, groups=3)

    mp, mt = blur(p), blur(t)
    vp, vt, cov = blur(p * p) - mp**2, blur(t * t) - mt**2, blur(p * t) - mp * mt
    c1, c2 = 0.01**2, 0.03**2
    want = ((2 * mp * mt + c1) * (2 * cov + c2) / ((mp**2 + mt**2 + c1) * (vp + vt + c2))).mean()
    got = sp.ssim(p, t, data_range=1.0, padding="valid")
    assert float(got) == pytest.approx(float(want), rel=1e-5)
    with pytest.raises(ValueError, match="too small"):
        sp.ssim(p[..., :10, :10], t[..., :10, :10], data_range=1.0, padding="valid")
