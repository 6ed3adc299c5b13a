"""An ENVI pair broken by an interrupted export is an error, never a cube of the wrong shape."""

import os

import numpy as np
import pytest

from hsilib.data import hsi_dermoscopy as hd


def _cube(h, w, value):
    return np.full((h, w, 16), value, np.float32)


def test_interrupted_export_between_the_two_renames_is_detected(tmp_path, monkeypatch):
    hdr = tmp_path / "x.hdr"
    hd.export_envi(hdr, _cube(4, 5, 0.2))
    real = os.replace

    def dies_before_the_header(src, dst):
        if str(dst).endswith(".hdr"):
            raise KeyboardInterrupt("killed between the renames")
        real(src, dst)

    monkeypatch.setattr(hd.os, "replace", dies_before_the_header)
    with pytest.raises(KeyboardInterrupt):
        hd.export_envi(hdr, _cube(6, 5, 0.3))  # a new data file lands under the old header
    monkeypatch.setattr(hd.os, "replace", real)
    with pytest.raises(hd.CubeFormatError, match=rf"{hdr}: the data file .*x\.img has 1920 "
                                                 r"bytes, the header says 1280"):
        hd.import_envi(hdr)
    with pytest.raises(hd.CubeFormatError, match=str(hdr)):
        hd.load_cube(hdr)


def test_same_size_data_of_another_export_is_detected_by_its_checksum(tmp_path):
    a, b = tmp_path / "a.hdr", tmp_path / "b.hdr"
    hd.export_envi(a, _cube(4, 5, 0.2))
    hd.export_envi(b, _cube(4, 5, 0.7))
    os.replace(b.with_suffix(".img"), a.with_suffix(".img"))
    with pytest.raises(hd.CubeFormatError, match=rf"{a}: .*checksum differs"):
        hd.import_envi(a)


def test_a_good_pair_round_trips(tmp_path):
    cube = np.random.default_rng(0).random((3, 7, 16), dtype=np.float32)
    hdr = hd.export_envi(tmp_path / "c.hdr", cube)
    back, wl = hd.import_envi(hdr)
    np.testing.assert_array_equal(back, cube)
    np.testing.assert_allclose(wl, hd.WAVELENGTHS_NM)
