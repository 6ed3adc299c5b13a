"""HSIDermoscopy loader: real file format, validation errors that name the file, ENVI, RGB."""

import numpy as np
import pytest
import scipy.io
from fakedata import make_fake_standin

from hsilib import WAVELENGTHS_NM
from hsilib.data.hsi_dermoscopy import (
    CubeFormatError,
    DatasetNotFoundError,
    HSIDermoscopy,
    export_envi,
    export_envi_set,
    import_envi,
    load_cube,
    load_rgb_folder,
    parse_subtype,
    save_cube,
)
from hsilib.paths import atomic_path


@pytest.fixture(scope="module")
def fake(tmp_path_factory):
    return make_fake_standin(tmp_path_factory.mktemp("fake"), n=(2, 3, 4), seed=1)


def test_index_labels_subtypes(fake):
    ds = HSIDermoscopy(fake / "hsidermoscopy")
    assert len(ds) == 9
    assert ds.index.groupby("class").size().to_dict() == {"DN": 3, "MM": 2, "Other": 4}
    assert set(ds.index.label[ds.index["class"] == "MM"]) == {1}
    assert set(ds.index.label[ds.index["class"] == "DN"]) == {0}
    assert set(ds.index.label[ds.index["class"] == "Other"]) == {-1}
    other = ds.index[ds.index["class"] == "Other"]
    assert sorted(other.subtype) == ["IEC", "Lentigo", "Nv", "SK"]


def test_band_metadata():
    assert HSIDermoscopy.wavelengths_nm.tolist() == list(WAVELENGTHS_NM)
    assert HSIDermoscopy.rgb_bands == ("630nm", "542nm", "465nm")
    assert len(HSIDermoscopy.all_bands) == 16


@pytest.mark.parametrize("stem,expected", [
    ("sk_0003", "SK"), ("Lentigo12", "Lentigo"), ("IEC-4", "IEC"), ("nv_1", "Nv"),
    ("MELT_2", "Melt"), ("weird_99", "unknown"),
])
def test_parse_subtype(stem, expected):
    assert parse_subtype(stem, "Other") == expected
    assert parse_subtype(stem, "MM") == "MM"


def test_any_key_and_float64_read_as_float32(fake):
    ds = HSIDermoscopy(fake / "hsidermoscopy")
    dn = ds.index[ds.index["class"] == "DN"].path.iloc[0]
    raw = scipy.io.loadmat(dn)
    assert "data" in raw and raw["data"].dtype == np.float64  # the fake stores DN as float64
    cube = load_cube(dn)
    assert cube.dtype == np.float32 and cube.shape == (68, 128, 16)
    np.testing.assert_array_equal(cube, raw["data"].astype(np.float32))
    sample = ds[0]
    assert sample["cube"].shape[-1] == 16 and sample["label"] == 1


def test_mat_round_trip_identical(tmp_path):
    cube = np.random.default_rng(0).random((5, 7, 16), dtype=np.float32)
    path = save_cube(tmp_path / "x.mat", cube)
    np.testing.assert_array_equal(load_cube(path), cube)
    assert list(tmp_path.iterdir()) == [path]  # no temp file left behind


def test_envi_round_trip_identical_with_wavelengths(tmp_path, fake):
    cube = np.random.default_rng(1).random((6, 9, 16), dtype=np.float32)
    hdr = export_envi(tmp_path / "cube.hdr", cube)
    back, wl = import_envi(hdr)
    np.testing.assert_array_equal(back, cube)
    np.testing.assert_array_equal(wl, np.asarray(WAVELENGTHS_NM, np.float32))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cube.hdr", "cube.img"]
    # a whole set, read back through the same data set class
    ds = HSIDermoscopy(fake / "hsidermoscopy")
    envi_ds = HSIDermoscopy(export_envi_set(ds, tmp_path / "envi"))
    assert envi_ds.index.stem.tolist() == ds.index.stem.tolist()
    for i in (0, 4):
        np.testing.assert_array_equal(envi_ds[i]["cube"], ds[i]["cube"])


def test_missing_folder_named(tmp_path):
    with pytest.raises(DatasetNotFoundError, match="OtherCube"):
        (tmp_path / "MMCube").mkdir()
        (tmp_path / "DNCube").mkdir()
        HSIDermoscopy(tmp_path)
    with pytest.raises(DatasetNotFoundError, match="nowhere"):
        HSIDermoscopy(tmp_path / "nowhere")


@pytest.mark.parametrize("array,message", [
    (np.zeros((4, 5, 15), np.float32), "16 bands"),
    (np.zeros((4, 5), np.float32), "3-D"),
    (np.full((4, 5, 16), np.nan, np.float32), "NaN/inf"),
])
def test_bad_cubes_name_the_file(tmp_path, array, message):
    path = tmp_path / "bad_cube.mat"
    scipy.io.savemat(path, {"whatever": array})
    with pytest.raises(CubeFormatError, match=f"bad_cube.mat.*{message}"):
        load_cube(path)


def test_inf_named(tmp_path):
    cube = np.ones((3, 3, 16), np.float32)
    cube[1, 1, 4] = np.inf
    scipy.io.savemat(tmp_path / "inf.mat", {"cube": cube})
    with pytest.raises(CubeFormatError, match="inf.mat: 1 NaN/inf"):
        load_cube(tmp_path / "inf.mat")


def test_unreadable_and_v73_named(tmp_path):
    (tmp_path / "junk.mat").write_bytes(b"not a mat file at all" * 10)
    with pytest.raises(CubeFormatError, match="junk.mat: unreadable"):
        load_cube(tmp_path / "junk.mat")
    # MATLAB v7.3 files are HDF5 with a MAT header; scipy refuses them, we need h5py
    header = b"MATLAB 7.3 MAT-file, Platform: GLNXA64, Created on: x HDF5 schema 1.00 ."
    (tmp_path / "v73.mat").write_bytes(header.ljust(116) + b"\x00" * 8 + b"\x00\x02IM" +
                                       b"\x00" * 400)
    try:
        import h5py  # noqa: F401
    except ImportError:
        with pytest.raises(CubeFormatError, match="v73.mat: a MATLAB v7.3.*h5py"):
            load_cube(tmp_path / "v73.mat")
    with pytest.raises(CubeFormatError, match="two.mat: expected exactly one array"):
        scipy.io.savemat(tmp_path / "two.mat", {"a": np.ones((2, 2, 16)), "b": np.ones(3)})
        load_cube(tmp_path / "two.mat")


def test_save_cube_is_atomic(tmp_path, monkeypatch):
    target = tmp_path / "x.mat"

    def boom(path, *a, **k):
        path.write_bytes(b"half")
        raise RuntimeError("disk full")

    monkeypatch.setattr(scipy.io, "savemat", boom)
    with pytest.raises(RuntimeError):
        save_cube(target, np.ones((2, 2, 16), np.float32))
    assert list(tmp_path.iterdir()) == []
    with pytest.raises(RuntimeError), atomic_path(target) as tmp:
        tmp.write_text("partial")
        raise RuntimeError
    assert not target.exists()


def test_rgb_folder_with_and_without_index(tmp_path, fake):
    images, table = load_rgb_folder(fake / "rgb", size=32)
    assert images.shape == (6, 32, 32, 3) and images.dtype == np.uint8
    assert table["class"].tolist()[:3] == ["MM", "DN", "Other"]
    # the blob is dark brown on beige: the centre is darker than the corner, red > blue
    assert images[0, 16, 16].sum() < images[0, 1, 1].sum()
    assert images[0, 1, 1, 0] > images[0, 1, 1, 2]
    (fake / "rgb" / "index.csv").rename(tmp_path / "saved.csv")
    try:
        images2, table2 = load_rgb_folder(fake / "rgb", size=32)
    finally:
        (tmp_path / "saved.csv").rename(fake / "rgb" / "index.csv")
    assert len(images2) == 6 and set(table2["class"]) == {"MM", "DN", "Other"}
    with pytest.raises(DatasetNotFoundError, match="nope"):
        load_rgb_folder(tmp_path / "nope")
