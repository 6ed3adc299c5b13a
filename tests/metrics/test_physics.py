"""Chromophore inversion on known parameters and on stand-in scenes with ground-truth maps."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from hsilib import WAVELENGTHS_NM
from hsilib.metrics import physics as ph
from hsilib.standin.optics import skin_reflectance


def _random_params(n, rng):
    return dict(f_mel_epi=np.exp(rng.uniform(np.log(0.01), np.log(0.3), n)),
                blood=np.exp(rng.uniform(np.log(0.002), np.log(0.04), n)),
                sat=rng.uniform(0.4, 0.95, n), mus_scale=rng.uniform(0.7, 1.4, n))


def test_inversion_recovers_known_parameters():
    rng = np.random.default_rng(0)
    truth = _random_params(400, rng)
    y = skin_reflectance(WAVELENGTHS_NM, **truth)
    fit = ph.invert_spectra(y)
    assert list(fit.columns) == ["f_mel_epi", "blood", "sat", "mus_scale", "residual"]
    rel = {k: np.abs(fit[k] - v) / v for k, v in truth.items()}
    assert np.median(rel["f_mel_epi"]) < 1e-3 and np.median(rel["blood"]) < 1e-3
    assert np.quantile(rel["f_mel_epi"], 0.8) < 0.02
    assert np.median(np.abs(fit["sat"] - truth["sat"])) < 0.01
    # with 1 % multiplicative noise the errors grow gracefully
    noisy = ph.invert_spectra(y * (1 + 0.01 * rng.standard_normal(y.shape)))
    assert np.median(np.abs(noisy["f_mel_epi"] - truth["f_mel_epi"]) / truth["f_mel_epi"]) < 0.1
    assert np.median(np.abs(noisy["blood"] - truth["blood"]) / truth["blood"]) < 0.2


def test_dermal_melanin_fit():
    rng = np.random.default_rng(1)
    truth = _random_params(150, rng)
    truth["f_mel_derm"] = rng.uniform(0.0, 0.2, 150)
    fit = ph.invert_spectra(skin_reflectance(WAVELENGTHS_NM, **truth), fit_dermal_melanin=True)
    assert np.median(np.abs(fit["f_mel_derm"] - truth["f_mel_derm"])) < 0.01
    assert np.median(fit["residual"]) < 1e-3


def test_inversion_on_standin_scene():
    """Noise-free stand-in pixels (no haze, hair or glints) against the truth maps."""
    from hsilib.standin.imaging import scene_reflectance
    from hsilib.standin.scene import image_rng, sample_scene

    errs_mel, errs_blood, n = [], [], 0
    for i, cls in enumerate(("MM", "DN")):
        scene = sample_scene(cls, image_rng(0, cls, i), shape=(40, 72))
        cube = scene_reflectance(scene)
        ok = (scene.field & (scene.haze == 0) & (scene.hair == 0) & (scene.flat == 0)
              & (scene.maps["f_mel_derm"] == 0))
        idx = np.flatnonzero(ok)[::4]
        fit = ph.invert_spectra(cube.reshape(-1, 16)[idx])
        maps = {k: v.reshape(-1)[idx] for k, v in scene.maps.items()}
        mel_ref = maps["f_mel_epi"] * maps["epi_mm"] / 0.1  # melanin at the 0.1 mm reference
        errs_mel.append(np.abs(fit["f_mel_epi"] - mel_ref) / mel_ref)
        errs_blood.append(np.abs(fit["blood"] - maps["blood"]) / maps["blood"])
        n += len(idx)
    assert n > 200
    # epidermal thickness varies in the truth, so the product f_mel * L is what is identifiable
    assert np.median(np.concatenate(errs_mel)) < 0.05  # measured 0.017
    assert np.median(np.concatenate(errs_blood)) < 0.05  # measured 1e-4


def test_sample_spectra_and_distance():
    rng = np.random.default_rng(2)
    imgs = rng.random((3, 16, 6, 6)).astype(np.float32)
    masks = np.zeros((3, 1, 6, 6))
    masks[:, :, :2] = 1
    lesion = ph.sample_spectra(imgs, masks=masks, region="lesion", n_pixels=1000)
    assert lesion.shape == (3 * 12, 16)
    assert ph.sample_spectra(imgs, n_pixels=10, seed=1).shape == (10, 16)
    with pytest.raises(ValueError, match="needs masks"):
        ph.sample_spectra(imgs, region="skin")
    a = pd.DataFrame({"f_mel_epi": [0.01, 0.1], "sat": [0.5, 0.7]})
    b = pd.DataFrame({"f_mel_epi": [0.1, 1.0], "sat": [0.5, 0.7]})
    d = ph.chromophore_distance(a, b).set_index("parameter")
    assert d.loc["f_mel_epi", "wasserstein"] == pytest.approx(1.0)  # one decade in log10
    assert d.loc["sat", "wasserstein"] == pytest.approx(0.0)
    assert d.loc["sat", "n_a"] == 2
