"""Outputs never replace inputs or user files; user masks survive reruns; empty mask runs fail."""

import shutil
import warnings

import cv2
import numpy as np
import pytest
from fakedata import make_fake_standin
from safety import snapshot

from hsilib import paths
from hsilib.data.datasets import write_crop_folder
from hsilib.data.hsi_dermoscopy import HSIDermoscopy, export_envi_set
from hsilib.data.preprocess import SegmentationWarning, make_crops


@pytest.fixture(scope="module")
def small(tmp_path_factory):
    return make_fake_standin(tmp_path_factory.mktemp("small"), n=(1, 1, 0), seed=5, hair=False,
                             n_rgb=2)


@pytest.fixture
def data(tmp_path, small):
    """A private copy: (data set, its folder)."""
    root = tmp_path / "hsidermoscopy"
    shutil.copytree(small / "hsidermoscopy", root)
    return HSIDermoscopy(root), root


def _crops(ds, out, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SegmentationWarning)
        return make_crops(ds, out, size=16, min_area=100, progress=False, **kw)


# -- 1. folder replacement ---------------------------------------------------------------------
@pytest.mark.parametrize("where", ["same", "inside", "parent"])
def test_make_crops_refuses_an_output_overlapping_the_data_set(tmp_path, data, where):
    ds, root = data
    out = {"same": root, "inside": root / "MMCube" / "crops", "parent": tmp_path}[where]
    before = snapshot(tmp_path)
    with pytest.raises(paths.OutputFolderError, match=str(root)):
        _crops(ds, out)
    assert snapshot(tmp_path) == before  # the raw data set is intact, nothing written


def test_export_envi_set_refuses_the_data_sets_own_folder(tmp_path, data):
    ds, root = data
    before = snapshot(tmp_path)
    with pytest.raises(paths.OutputFolderError, match="overlaps the input"):
        export_envi_set(ds, root, overwrite=True)
    assert snapshot(tmp_path) == before


def test_only_folders_the_project_wrote_are_replaced(tmp_path, data):
    ds, _ = data
    user = tmp_path / "mine"
    user.mkdir()
    (user / "notes.txt").write_text("precious")
    before = snapshot(tmp_path)
    with pytest.raises(paths.OutputFolderError, match=rf"{user}.*not written by this project"):
        write_crop_folder(user, [])
    with pytest.raises(paths.OutputFolderError, match=str(user)):
        export_envi_set(ds, user, overwrite=True)
    with pytest.raises(paths.OutputFolderError, match=str(user)):
        _crops(ds, user)
    assert snapshot(tmp_path) == before
    # a folder written by the project carries the marker and is replaced on a rerun
    out = tmp_path / "crops"
    _crops(ds, out)
    assert (out / paths.OUTPUT_MARKER).is_file()
    (out / "stale.txt").write_text("old output")
    _crops(ds, out)
    assert not (out / "stale.txt").exists() and (out / "index.csv").is_file()
    # an empty folder is fine too
    (tmp_path / "empty").mkdir()
    write_crop_folder(tmp_path / "empty", [])


def test_edited_masks_survive_a_rerun(tmp_path, data):
    ds, _ = data
    out, edit = tmp_path / "crops", tmp_path / "masks"
    _crops(ds, out, edit_masks_dir=edit)
    files = sorted(p.name for p in edit.glob("*_mask.png"))
    assert files == sorted(p.name for p in (out / "masks").glob("*_mask.png")) and files
    edited, untouched = edit / files[0], [edit / f for f in files[1:]]
    mask = cv2.imread(str(edited), cv2.IMREAD_UNCHANGED)
    mask[:, : mask.shape[1] // 2] = 0  # the user trims the mask by hand
    cv2.imwrite(str(edited), mask)
    edited_bytes = edited.read_bytes()
    for p in untouched:  # untouched masks are refreshed: simulate an older automatic version
        p.touch()
    with pytest.warns(SegmentationWarning, match=f"{edited}: edited"):
        make_crops(ds, out, size=16, min_area=100, progress=False, edit_masks_dir=edit)
    assert edited.read_bytes() == edited_bytes  # kept
    # the edited masks redo the crops; the edit folder is never written while it is the input
    index = _crops(ds, tmp_path / "crops", masks_dir=edit, edit_masks_dir=edit)
    assert edited.read_bytes() == edited_bytes
    stem = edited.name.split("_crop")[0]
    row = index[(index.source == stem) & (index.lesion_index == 1)].iloc[0]
    assert row.mask_area == int((mask > 0).sum())
    # told to, a rerun replaces it
    _crops(ds, out, edit_masks_dir=edit, overwrite_masks=True)
    assert edited.read_bytes() == (out / "masks" / edited.name).read_bytes() != edited_bytes


def test_masks_inside_the_replaced_crop_folder_are_refused(tmp_path, data):
    ds, _ = data
    out = tmp_path / "crops"
    _crops(ds, out)
    before = snapshot(tmp_path)
    with pytest.raises(paths.OutputFolderError, match="masks"):
        _crops(ds, out, masks_dir=out / "masks")
    assert snapshot(tmp_path) == before


# -- 2. masks_dir and empty results ------------------------------------------------------------
def test_missing_or_unmatched_masks_dir_and_zero_crops_are_errors(tmp_path, data):
    ds, _ = data
    out = tmp_path / "crops"
    _crops(ds, out)
    before = snapshot(tmp_path)
    with pytest.raises(FileNotFoundError, match=rf"masks_dir {tmp_path / 'makss'}"):
        _crops(ds, out, masks_dir=tmp_path / "makss")
    (tmp_path / "other").mkdir()
    cv2.imwrite(str(tmp_path / "other" / "unrelated_crop01_mask.png"),
                np.full((8, 8), 255, np.uint8))
    before = snapshot(tmp_path)
    with pytest.raises(ValueError, match=rf"masks_dir {tmp_path / 'other'} holds no mask"):
        _crops(ds, out, masks_dir=tmp_path / "other")
    with pytest.raises(ValueError, match=r"no lesion crop.*min_area=100000"):
        make_crops(ds, out, size=16, min_area=100_000, progress=False)
    assert snapshot(tmp_path) == before  # the old crops are intact
