"""The stand-in writer (hsilib.standin.writer): layout, truth, caching, determinism, RGB set."""

import json

import numpy as np
import pandas as pd
import pytest
import scipy.io

from hsilib.standin.scene import MAP_NAMES
from hsilib.standin.writer import generate_rgb_set, generate_standin, make_image


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

