"""A scene through optics and camera (hsilib.standin.imaging): skin and lesion values, camera
effects."""

import numpy as np
import pytest

from hsilib import WAVELENGTHS_NM
from hsilib.standin.checks import background_skin_spectrum
from hsilib.standin.imaging import render_cube
from hsilib.standin.scene import image_rng, sample_scene

SMALL = (68, 128)  # scale 0.25


def _skin_and_lesion(cls, n, seed, acquisition):
    skin, lesion_od, skin_od = [], [], []
    for i in range(n):
        rng = image_rng(seed, cls, i)
        scene = sample_scene(cls, rng, shape=SMALL)
        cube = render_cube(scene, rng, acquisition=acquisition)
        skin.append(background_skin_spectrum(cube, scene.labels, scene.field, 2))
        od = -np.log(np.clip(cube.mean(-1), 1e-3, None))
        lesion_od.append(od[scene.labels > 0].mean())
        skin_od.append(od[(scene.labels == 0) & scene.field].mean())
    return np.array(skin), np.array(lesion_od), np.array(skin_od)


def test_normal_skin_in_measured_range_with_hemoglobin_dips():
    skin, _, _ = _skin_and_lesion("DN", 10, seed=123, acquisition=False)
    m = np.median(skin, 0)  # the typical (fair) skin of the cohort
    wl = np.asarray(WAVELENGTHS_NM)
    assert np.all((m[wl <= 575] > 0.25) & (m[wl <= 575] < 0.45)), m
    assert 0.45 < m[wl == 630][0] < 0.65
    assert m[-1] > 1.5 * m[wl == 575][0]  # the red rise
    i542, i575 = int(np.flatnonzero(wl == 542)[0]), int(np.flatnonzero(wl == 575)[0])
    for i in (i542, i575):  # oxy-hemoglobin dips
        assert m[i] < m[i - 1] and m[i] < m[i + 1]
    # the acquired cube keeps the shape (noise averages out over skin)
    noisy, _, _ = _skin_and_lesion("DN", 10, seed=123, acquisition=True)
    mn = np.median(noisy, 0)
    assert np.all(np.abs(mn / m - 1) < 0.2)
    assert mn[i542] < mn[i542 - 1] and mn[i575] < mn[i575 + 1]


@pytest.mark.parametrize("cls", ["MM", "DN", "Other"])
def test_truth_masks_cover_darker_lesions(cls):
    _, lesion_od, skin_od = _skin_and_lesion(cls, 8, seed=5, acquisition=True)
    assert np.mean(lesion_od - skin_od) > 0.1
    assert np.mean(lesion_od > skin_od) >= 0.75


def test_acquisition_effects_present():
    rng = image_rng(3, "MM", 0)
    scene = sample_scene("MM", rng, shape=SMALL)
    cam = scene.camera
    off = cam.crosstalk - np.diag(np.diag(cam.crosstalk))
    np.testing.assert_allclose(cam.crosstalk.sum(1), 1.0)
    assert np.all(np.abs(cam.shifts) <= 3)
    assert off.max() > 0.03
    clean = render_cube(scene, rng, acquisition=False)
    cube = render_cube(scene, rng)
    inside = scene.field & (scene.labels == 0)
    # noise: pixel-to-pixel residual after smoothing; 10-bit levels
    resid = (cube - clean)[inside]
    assert 0.002 < resid.std() < 0.1
    levels = np.unique(np.round(cube[inside][:, 0] * 1e6))
    assert len(levels) < inside.sum()

