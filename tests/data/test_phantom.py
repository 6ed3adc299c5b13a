"""The stand-in generator (hsilib.data.phantom): values, layout, determinism, difficulty."""

import json

import numpy as np
import pandas as pd
import pytest
import scipy.io

from hsilib import WAVELENGTHS_NM
from hsilib.data import phantom as ph

SMALL = (68, 128)  # scale 0.25


@pytest.fixture(scope="module")
def tiny_standin(tmp_path_factory):
    root = tmp_path_factory.mktemp("standin")
    ph.generate_standin(root, n_mm=3, n_dn=3, n_other=4, scale=0.125, seed=7, progress=False)
    return root


def test_layout_shapes_and_truth(tiny_standin):
    root = tiny_standin
    mats = sorted((root / "hsidermoscopy").glob("*Cube/*.mat"))
    names = sorted(p.name for p in mats)
    assert names == sorted([f"MM_000{i}.mat" for i in (1, 2, 3)] + [f"DN_000{i}.mat" for i in
                            (1, 2, 3)] + ["SK_0001.mat", "Lentigo_0001.mat", "Nv_0001.mat",
                                          "IEC_0001.mat"])
    assert {p.parent.name for p in mats} == {"MMCube", "DNCube", "OtherCube"}
    table = pd.read_csv(root / "truth" / "lesions.csv")
    for col in ("stem", "class", "subtype", "lesion_index", "asymmetry", "border_irregularity",
                "n_colours", "blue_white_veil", "regression", "atypical_network",
                "irregular_dots", "streaks", "diameter_mm"):
        assert col in table.columns
    assert set(table["stem"]) == {p.stem for p in mats}
    for mat in mats:
        data = scipy.io.loadmat(mat)
        cube = data["cube"]
        assert cube.shape == (34, 64, 16) and cube.dtype == np.float32
        assert np.isfinite(cube).all() and cube.min() >= 0 and cube.max() < 2
        truth = np.load(root / "truth" / f"{mat.stem}.npz")
        assert truth["labels"].dtype == np.uint8 and truth["field"].dtype == bool
        for key in ph.MAP_NAMES:
            assert truth[key].shape == (34, 64) and truth[key].dtype == np.float32
        n = int(truth["labels"].max())
        assert n == int((table["stem"] == mat.stem).sum()) and n in (1, 2)
        assert not cube[~truth["field"]].any()  # black outside the circular field
        assert (root / "truth" / f"{mat.stem}_rgb.png").exists()
    assert set(table.loc[table["class"] == "Other", "subtype"]) == {"SK", "Lentigo", "Nv", "IEC"}
    assert json.loads((root / "standin.json").read_text())["seed"] == 7


def test_complete_folder_is_kept_and_changed_parameters_regenerate(tiny_standin, tmp_path):
    mat = tiny_standin / "hsidermoscopy" / "MMCube" / "MM_0001.mat"
    before = mat.stat().st_mtime_ns
    ph.generate_standin(tiny_standin, n_mm=3, n_dn=3, n_other=4, scale=0.125, seed=7,
                        progress=False)
    assert mat.stat().st_mtime_ns == before
    # workers do not change the result, and a new seed changes it
    other = ph.generate_standin(tmp_path / "w2", n_mm=3, n_dn=0, n_other=0, scale=0.125, seed=7,
                                workers=2, progress=False)
    a = scipy.io.loadmat(mat)["cube"]
    b = scipy.io.loadmat(other / "hsidermoscopy" / "MMCube" / "MM_0001.mat")["cube"]
    np.testing.assert_array_equal(a, b)
    ph.generate_standin(tmp_path / "w2", n_mm=3, n_dn=0, n_other=0, scale=0.125, seed=8,
                        progress=False)
    c = scipy.io.loadmat(other / "hsidermoscopy" / "MMCube" / "MM_0001.mat")["cube"]
    assert not np.array_equal(a, c)


def test_make_image_is_deterministic():
    a = ph.make_image("MM", "MM", 3, seed=11, scale=0.25)
    b = ph.make_image("MM", "MM", 3, seed=11, scale=0.25)
    np.testing.assert_array_equal(a["cube"], b["cube"])
    np.testing.assert_array_equal(a["rgb"], b["rgb"])
    np.testing.assert_array_equal(a["scene"].labels, b["scene"].labels)
    c = ph.make_image("MM", "MM", 4, seed=11, scale=0.25)
    assert not np.array_equal(a["cube"], c["cube"])


def _skin_and_lesion(cls, n, seed, acquisition):
    skin, lesion_od, skin_od = [], [], []
    for i in range(n):
        rng = ph.image_rng(seed, cls, i)
        scene = ph.sample_scene(cls, rng, shape=SMALL)
        cube = ph.render_cube(scene, rng, acquisition=acquisition)
        skin.append(ph.background_skin_spectrum(cube, scene.labels, scene.field, 2))
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


def test_two_lesion_images_exist():
    counts = [ph.sample_scene("DN", ph.image_rng(0, "DN", i), shape=(34, 64)).labels.max()
              for i in range(60)]
    frac = np.mean(np.array(counts) == 2)
    assert 0.03 < frac < 0.35
    scene = ph.sample_scene("MM", np.random.default_rng(0), shape=SMALL, n_lesions=2)
    assert set(np.unique(scene.labels)) == {0, 1, 2} and len(scene.lesions) == 2


def test_class_features_overlap_but_follow_odds_ratios():
    rng = np.random.default_rng(0)
    mm = pd.DataFrame([ph.sample_lesion("MM", rng) for _ in range(600)])
    dn = pd.DataFrame([ph.sample_lesion("DN", rng) for _ in range(600)])
    for col in ("blue_white_veil", "regression", "streaks", "blotches", "atypical_network"):
        assert mm[col].mean() > 1.5 * dn[col].mean(), col
        assert dn[col].mean() > 0.01 and mm[col].mean() < 0.9, col  # neither never nor always
    assert mm["asymmetry"].mean() > dn["asymmetry"].mean()
    assert (dn["asymmetry"] == 2).mean() > 0.05 and (mm["asymmetry"] == 0).mean() > 0.05
    assert mm["diameter_mm"].median() > dn["diameter_mm"].median()
    with pytest.raises(ValueError, match="cls"):
        ph.sample_lesion("BCC", rng)


def test_acquisition_effects_present():
    rng = ph.image_rng(3, "MM", 0)
    scene = ph.sample_scene("MM", rng, shape=SMALL)
    cam = scene.camera
    off = cam.crosstalk - np.diag(np.diag(cam.crosstalk))
    np.testing.assert_allclose(cam.crosstalk.sum(1), 1.0)
    assert np.all(np.abs(cam.shifts) <= 3)
    assert off.max() > 0.03
    clean = ph.render_cube(scene, rng, acquisition=False)
    cube = ph.render_cube(scene, rng)
    inside = scene.field & (scene.labels == 0)
    # noise: pixel-to-pixel residual after smoothing; 10-bit levels
    resid = (cube - clean)[inside]
    assert 0.002 < resid.std() < 0.1
    levels = np.unique(np.round(cube[inside][:, 0] * 1e6))
    assert len(levels) < inside.sum()


def test_rgb_set(tmp_path):
    root = ph.generate_rgb_set(tmp_path, n=12, size=48, seed=1)
    index = pd.read_csv(root / "index.csv")
    assert list(index.columns) == ["id", "class", "subtype", "path"] and len(index) == 12
    import cv2

    for path in index["path"]:
        img = cv2.imread(str(root / path))
        assert img.shape == (48, 48, 3) and img.dtype == np.uint8
    assert set(index["class"]) <= {"MM", "DN", "Other"}


@pytest.mark.slow
def test_melanoma_vs_dysplastic_nevus_is_hard_but_possible(tmp_path):
    root = ph.generate_standin(tmp_path, n_mm=85, n_dn=175, n_other=0, scale=0.5, seed=0,
                               workers=2, progress=False)
    auroc = ph.separability_auroc(root, seed=0)
    assert 0.65 < auroc < 0.90, auroc
