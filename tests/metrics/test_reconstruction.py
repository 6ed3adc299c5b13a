"""Reconstruction scores against hand-computed cases, and the linear RGB -> HS baseline."""

import numpy as np
import pytest
import torch

from hsilib.metrics.reconstruction import (
    LinearRGBToHS,
    band_rmse,
    chromophore_error,
    reconstruction_summary,
    sam_degrees,
)


def test_band_rmse_and_sam_hand_cases():
    true = torch.full((1, 16, 2, 2), 0.4)
    pred = true.clone()
    pred[:, 3] += 0.1  # one band off by 0.1 everywhere
    rmse = band_rmse(pred, true)
    assert rmse[3] == pytest.approx(0.1, abs=1e-6) and np.all(np.delete(rmse, 3) < 1e-7)
    # a scaled spectrum has the same shape: zero angle
    assert np.allclose(sam_degrees(true * 1.7, true), 0.0, atol=1e-2)
    # two orthogonal spectra: 90 degrees
    a = torch.zeros(1, 16, 1, 1)
    b = torch.zeros(1, 16, 1, 1)
    a[:, :8], b[:, 8:] = 1.0, 1.0
    assert sam_degrees(a, b)[0] == pytest.approx(90.0, abs=1e-3)


def test_outside_of_field_and_masks_are_excluded():
    true = torch.full((1, 16, 2, 2), 0.4)
    true[..., 0, 0] = 0.0  # outside the field
    pred = true.clone()
    pred[..., 0, 0] = 5.0  # a huge error where nothing was measured: ignored
    assert band_rmse(pred, true).max() < 1e-7
    mask = torch.zeros(1, 2, 2)
    mask[0, 1, 1] = 1
    pred[..., 1, 1] += 0.2
    assert band_rmse(pred, true, mask).mean() == pytest.approx(0.2, abs=1e-6)


def test_linear_baseline_recovers_an_affine_map_exactly():
    rng = np.random.default_rng(0)
    rgb = torch.tensor(rng.uniform(0.1, 0.9, (4, 3, 5, 5)), dtype=torch.float32)
    coef = rng.normal(size=(3, 16))
    bias = rng.uniform(0.2, 0.4, 16)
    cubes = torch.einsum("nchw,cb->nbhw", rgb.double(), torch.tensor(coef)) \
        + torch.tensor(bias)[None, :, None, None]
    model = LinearRGBToHS(ridge=0.0).fit(rgb, cubes)
    np.testing.assert_allclose(model.predict(rgb).numpy(), cubes.numpy(), atol=1e-4)


def test_linear_baseline_fitted_in_chunks_equals_one_least_squares_fit():
    # the chunked normal equations give numpy's least-squares answer over all in-field
    # pixels, with pixels outside the field (all-zero spectra) left out
    rng = np.random.default_rng(3)
    rgb = torch.tensor(rng.uniform(0, 1, (7, 3, 4, 4)), dtype=torch.float32)
    cubes = torch.tensor(rng.uniform(0.1, 0.6, (7, 16, 4, 4)), dtype=torch.float32)
    cubes[2, :, :2] = 0.0
    keep = (cubes.abs().sum(1) > 0).numpy()
    xs = rgb.double().movedim(1, -1).numpy()[keep]
    ys = cubes.double().movedim(1, -1).numpy()[keep]
    design = np.concatenate([xs, np.ones((len(xs), 1))], 1)
    expected = np.linalg.lstsq(design, ys, rcond=None)[0]
    for chunk in (1, 3, 100):
        model = LinearRGBToHS(ridge=0.0).fit(rgb, cubes, chunk=chunk)
        np.testing.assert_allclose(model.coef, expected, rtol=1e-8, atol=1e-10)
    with pytest.raises(ValueError, match="chunk"):
        LinearRGBToHS().fit(rgb, cubes, chunk=0)


def test_chromophore_error_is_zero_for_the_truth_and_grows_with_distortion():
    from hsilib import WAVELENGTHS_NM
    from hsilib.standin.optics import skin_reflectance

    spectra = np.stack([skin_reflectance(np.asarray(WAVELENGTHS_NM), f_mel_epi=m, blood=b, sat=0.7)
                        for m, b in [(0.02, 0.01), (0.1, 0.03), (0.3, 0.005), (0.05, 0.05)]])
    true = torch.tensor(spectra.T.reshape(1, 16, 2, 2), dtype=torch.float32)
    same = chromophore_error(true, true, n_pixels=4)
    assert (same.median_abs_error < 1e-9).all()
    tilted = true * torch.linspace(0.7, 1.3, 16)[None, :, None, None]
    assert chromophore_error(tilted, true, n_pixels=4).median_abs_error.max() > 0.01


def test_summary_has_intervals_that_cover_the_mean():
    rng = np.random.default_rng(1)
    true = torch.tensor(rng.uniform(0.2, 0.6, (6, 16, 3, 3)), dtype=torch.float32)
    pred = true + torch.tensor(rng.normal(0, 0.02, true.shape), dtype=torch.float32)
    row = reconstruction_summary(pred, true, n_pixels=20, n_boot=200)
    assert row["rmse_lo"] <= row["rmse"] <= row["rmse_hi"]
    assert row["sam_deg_lo"] <= row["sam_deg"] <= row["sam_deg_hi"]
    assert row["rmse"] == pytest.approx(0.02, rel=0.3) and "chrom_blood" in row
