"""The differentiable HS -> sRGB projection equals the CIE rendering of notebook 01."""

import numpy as np
import torch

from hsilib import WAVELENGTHS_NM
from hsilib.models.projection import HSToRGB, srgb_curve
from hsilib.standin.rendering import cube_to_rgb


def test_matches_cube_to_rgb_on_random_and_skin_like_cubes():
    rng = np.random.default_rng(0)
    cubes = rng.uniform(0.0, 0.8, (3, 5, 6, 16)).astype(np.float32)  # N x H x W x B
    cubes[0, 0, 0] = 0.0  # outside of the field: black
    want = cube_to_rgb(cubes, WAVELENGTHS_NM)
    got = HSToRGB()(torch.from_numpy(cubes), band_axis=-1).numpy()
    np.testing.assert_allclose(got, want, atol=2e-5)
    # the N x B x H x W layout gives the same, with colours at axis 1
    chw = HSToRGB()(torch.from_numpy(cubes).permute(0, 3, 1, 2))
    np.testing.assert_allclose(chw.permute(0, 2, 3, 1).numpy(), want, atol=2e-5)


def test_is_differentiable_with_finite_gradients_also_at_black():
    x = torch.rand(2, 16, 4, 4) * 0.5
    x[0, :, 0, 0] = 0.0
    x.requires_grad_(True)
    HSToRGB()(x).sum().backward()
    assert torch.isfinite(x.grad).all() and x.grad.abs().sum() > 0


def test_white_is_white_and_curve_is_continuous():
    white = torch.ones(1, 16, 1, 1)
    rgb = HSToRGB()(white)[0, :, 0, 0]
    assert rgb.min() > 0.95  # a flat 100% reflector renders near white under D65
    knee = torch.tensor([0.0031308 - 1e-7, 0.0031308 + 1e-7])
    a, b = srgb_curve(knee)
    assert abs(float(a - b)) < 1e-5


def test_wrong_band_count_is_named():
    import pytest

    with pytest.raises(ValueError, match="expected 16 bands"):
        HSToRGB()(torch.zeros(1, 15, 2, 2))
