"""What the cube loader accepts: reflectance (float), or integer counts with a stated scale."""

import shutil
import warnings

import numpy as np
import pytest
import scipy.io
from fakedata import make_fake_standin

from hsilib.data import hsi_dermoscopy as hd
from hsilib.data.preprocess import SegmentationWarning, make_crops


def _mat(path, arr):
    scipy.io.savemat(path, {"cube": arr})
    return path


def _reflectance(h=4, w=5):
    return np.random.default_rng(0).uniform(0.1, 0.9, (h, w, 16)).astype(np.float32)


def test_integer_counts_need_a_stated_scale(tmp_path):
    counts = (_reflectance() * 4095).astype(np.uint16)
    path = _mat(tmp_path / "counts.mat", counts)
    with pytest.raises(hd.CubeFormatError, match=rf"{path}: integer data \(dtype uint16.*"
                                                 r"integer_scale"):
        hd.load_cube(path)
    cube = hd.load_cube(path, integer_scale=4095)
    assert cube.dtype == np.float32
    np.testing.assert_allclose(cube, counts / np.float32(4095), rtol=1e-6)
    with pytest.raises(hd.CubeFormatError, match="integer_scale must be > 0"):
        hd.load_cube(path, integer_scale=0)


@pytest.mark.parametrize("arr, message", [
    (np.ones((4, 5, 16), bool), "a boolean array"),
    (-_reflectance(), r"no value above 0 \(max -0\.1"),
    (np.zeros((4, 5, 16), np.float32), "no value above 0"),
    (np.zeros((0, 5, 16), np.float32), r"empty image, shape \(0, 5, 16\)"),
    (np.zeros((4, 0, 16), np.float32), "empty image"),
    (_reflectance().astype(np.complex64), "expected a numeric array, got dtype complex64"),
])
def test_arrays_that_are_not_reflectance_are_refused(arr, message):
    with pytest.raises(hd.CubeFormatError, match=rf"cube_7\.mat: {message}"):
        hd.validate_cube(arr, "cube_7.mat")


def test_small_negative_noise_is_kept():
    cube = _reflectance()
    cube[0, 0] = -0.002  # dark-current subtraction in the black outside the field
    np.testing.assert_array_equal(hd.validate_cube(cube), cube)


def test_raw_counts_beside_reflectance_raise_a_warning_naming_the_file(tmp_path):
    root = make_fake_standin(tmp_path / "fake", n=(2, 1, 0), seed=6, hair=False, n_rgb=2)
    ds_root = root / "hsidermoscopy"
    path = sorted((ds_root / "MMCube").glob("*.mat"))[0]
    raw = scipy.io.loadmat(path)
    key = next(k for k in raw if not k.startswith("__"))
    scipy.io.savemat(path, {key: raw[key] * 4095.0})  # counts stored as float
    ds = hd.HSIDermoscopy(ds_root)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        make_crops(ds, tmp_path / "crops", size=16, min_area=100, progress=False)
    scale = [w for w in caught if issubclass(w.category, hd.DataScaleWarning)]
    assert len(scale) == 1 and path.name in str(scale[0].message)
    assert "differ by" in str(scale[0].message)
    assert not any(issubclass(w.category, SegmentationWarning) and "differ" in str(w.message)
                   for w in caught)
    assert hd.check_scales({"a.mat": 0.8, "b.mat": 0.5}) is None  # reflectance only: quiet


@pytest.mark.parametrize("stem, expected", [
    ("Skin_01", "unknown"), ("Akne_3", "unknown"), ("Nvidia_2", "unknown"),
    ("SKcube", "SK"), ("Lentigo3a", "Lentigo"), ("AK_1", "AK"), ("bcc-02", "BCC"),
])
def test_subtypes_are_not_matched_by_an_unrelated_prefix(stem, expected):
    assert hd.parse_subtype(stem, "Other") == expected


def test_unknown_other_subtypes_are_named_in_a_warning(tmp_path):
    root = make_fake_standin(tmp_path / "fake", n=(1, 1, 1), seed=6, hair=False, n_rgb=2)
    other = root / "hsidermoscopy" / "OtherCube"
    src = sorted(other.glob("*.mat"))[0]
    shutil.move(src, other / "Skin_0001.mat")
    with pytest.warns(hd.SubtypeWarning, match=r"Skin_0001\.mat"):
        ds = hd.HSIDermoscopy(root / "hsidermoscopy")
    assert ds.index.set_index("stem").loc["Skin_0001", "subtype"] == "unknown"
