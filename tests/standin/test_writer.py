"""The stand-in writer (hsilib.standin.writer): layout, truth, caching, determinism, RGB set."""

import json

import numpy as np
import pandas as pd
import pytest
import scipy.io

from hsilib.standin.imaging import render_cube, render_rgb
from hsilib.standin.scene import MAP_NAMES, image_rng, sample_scene
from hsilib.standin.writer import (
    RGB_MIX,
    camera_rng,
    generate_rgb_set,
    generate_standin,
    make_image,
)


@pytest.fixture(scope="module")
def tiny_standin(tmp_path_factory):
    root = tmp_path_factory.mktemp("standin")
    generate_standin(root, n_mm=3, n_dn=3, n_other=4, scale=0.125, seed=7, progress=False)
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
        for key in MAP_NAMES:
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
    generate_standin(tiny_standin, n_mm=3, n_dn=3, n_other=4, scale=0.125, seed=7,
                     progress=False)
    assert mat.stat().st_mtime_ns == before
    # workers do not change the result, and a new seed changes it
    other = generate_standin(tmp_path / "w2", n_mm=3, n_dn=0, n_other=0, scale=0.125, seed=7,
                             workers=2, progress=False)
    a = scipy.io.loadmat(mat)["cube"]
    b = scipy.io.loadmat(other / "hsidermoscopy" / "MMCube" / "MM_0001.mat")["cube"]
    np.testing.assert_array_equal(a, b)
    generate_standin(tmp_path / "w2", n_mm=3, n_dn=0, n_other=0, scale=0.125, seed=8,
                     progress=False)
    c = scipy.io.loadmat(other / "hsidermoscopy" / "MMCube" / "MM_0001.mat")["cube"]
    assert not np.array_equal(a, c)


def test_make_image_is_deterministic():
    a = make_image("MM", "MM", 3, seed=11, scale=0.25)
    b = make_image("MM", "MM", 3, seed=11, scale=0.25)
    np.testing.assert_array_equal(a["cube"], b["cube"])
    np.testing.assert_array_equal(a["rgb"], b["rgb"])
    np.testing.assert_array_equal(a["scene"].labels, b["scene"].labels)
    c = make_image("MM", "MM", 4, seed=11, scale=0.25)
    assert not np.array_equal(a["cube"], c["cube"])


def test_rgb_set(tmp_path):
    root = generate_rgb_set(tmp_path, n=12, size=48, seed=1)
    index = pd.read_csv(root / "index.csv")
    assert list(index.columns) == ["id", "class", "subtype", "path"] and len(index) == 12
    import cv2

    for path in index["path"]:
        img = cv2.imread(str(root / path))
        assert img.shape == (48, 48, 3) and img.dtype == np.uint8
    assert set(index["class"]) <= {"MM", "DN", "Other"}



# --------------------------------------------------------------------------------------------
# The paired camera photograph: its own random stream, the unpaired set's camera
# --------------------------------------------------------------------------------------------
def _old_unpaired_camera(scene, rng, downsample):
    """The unpaired RGB set's camera as first written (inline, the reference for the shared
    :func:`hsilib.standin.imaging.camera_rgb`)."""
    from hsilib.standin import morphology as mo

    exposure = float(rng.uniform(0.85, 1.25))
    rgb = render_rgb(scene, downsample=downsample, exposure=exposure).astype(np.float32)
    rgb *= rng.uniform(0.95, 1.05, 3).astype(np.float32)
    rgb = mo.blur(rgb, rng.uniform(0.0, 0.8)) + rng.normal(0, 1.5, rgb.shape).astype(np.float32)
    return np.clip(np.round(rgb), 0, 255).astype(np.uint8)


def test_camera_photograph_leaves_cubes_and_renderings_unchanged():
    """make_image draws scene and cube from the image's stream exactly as before the
    photograph existed; the photograph comes from a stream of its own and the camera of the
    unpaired RGB set."""
    out = make_image("MM", "MM", 2, seed=5, scale=0.25)
    rng = image_rng(5, "MM", 2)
    scene = sample_scene("MM", rng, shape=out["scene"].shape)
    np.testing.assert_array_equal(out["cube"], render_cube(scene, rng, scale=0.25))
    np.testing.assert_array_equal(out["rgb"], render_rgb(scene, downsample=2))
    np.testing.assert_array_equal(out["scene"].labels, scene.labels)
    photo = _old_unpaired_camera(scene, camera_rng(5, "MM", 2), downsample=2)
    np.testing.assert_array_equal(out["camera_rgb"], photo)
    assert out["camera_rgb"].shape == out["rgb"].shape and out["camera_rgb"].dtype == np.uint8
    # the photograph differs from the CIE rendering by a few CIEDE2000 units in the field
    import colour

    field = out["scene"].field

    def lab(x):
        return colour.XYZ_to_Lab(colour.sRGB_to_XYZ(x[field] / 255.0))

    de = np.median(colour.delta_E(lab(out["rgb"]), lab(out["camera_rgb"]), method="CIE 2000"))
    assert 1.0 < de < 15.0


def test_rgb_set_keeps_its_camera(tmp_path):
    """The unpaired RGB set through the shared camera function equals the inline original."""
    import cv2

    root = generate_rgb_set(tmp_path, n=3, size=48, seed=2)
    index = pd.read_csv(root / "index.csv")
    for i, path in enumerate(index["path"]):
        rng = image_rng(2, "rgb", i)
        k = rng.choice(len(RGB_MIX), p=[m[2] for m in RGB_MIX])
        cls, subtype, _ = RGB_MIX[k]
        scene = sample_scene(cls, rng, shape=(48, 48),
                             subtype=subtype if cls == "Other" else None, rgb_look=True)
        want = _old_unpaired_camera(scene, rng, downsample=1)
        got = cv2.cvtColor(cv2.imread(str(root / path)), cv2.COLOR_BGR2RGB)
        np.testing.assert_array_equal(got, want)


def test_every_cube_has_its_photograph(tiny_standin):
    import cv2

    for mat in (tiny_standin / "hsidermoscopy").glob("*Cube/*.mat"):
        photo = cv2.imread(str(tiny_standin / "truth" / f"{mat.stem}_camera_rgb.png"))
        assert photo.shape == (34, 64, 3)


def test_a_folder_without_photographs_is_regenerated(tmp_path):
    """A stand-in folder written before the photographs existed (same parameters and version)
    is not complete: it is written again, with the same cubes."""
    root = generate_standin(tmp_path, n_mm=1, n_dn=0, n_other=0, scale=0.125, seed=3,
                            progress=False)
    photo = root / "truth" / "MM_0001_camera_rgb.png"
    cube = scipy.io.loadmat(root / "hsidermoscopy" / "MMCube" / "MM_0001.mat")["cube"]
    photo.unlink()
    generate_standin(tmp_path, n_mm=1, n_dn=0, n_other=0, scale=0.125, seed=3, progress=False)
    assert photo.is_file()
    np.testing.assert_array_equal(
        scipy.io.loadmat(root / "hsidermoscopy" / "MMCube" / "MM_0001.mat")["cube"], cube)
