"""Bad input, part 6: errors that used to surface as library internals name the file and the
problem (class 8 of the table in ``tests/test_bad_input.py``), and silently skipped inputs are
reported once (class 9).

Each case of :data:`CASES` must raise the stated error with a message naming the file, key or
argument, and leave its folder byte for byte as it was (``badinput.check_case``). The tests
after the cases check what happens instead of an error: a truncated grid result reruns, a
failed checkpoint save keeps the old file, a partly bad checkpoint leaves the trainer as it
was, skipped inputs are named in one warning.
"""

from __future__ import annotations

import dataclasses
import json
import resource
import signal
import warnings
from unittest import mock

import cv2
import numpy as np
import pandas as pd
import pytest
import torch
from badinput import (
    CTX,
    Cases,
    all_train,
    check_case,
    crop_folder_with,
    esc,
    normaliser,
    source,  # noqa: F401 (fixture)
    tiny_trainer,
    write_table,
)
from safety import snapshot

from hsilib.data import hsi_dermoscopy as hd
from hsilib.data import preprocess as pp
from hsilib.data import splits as sp
from hsilib.data.crop_folder import load_crop
from hsilib.data.datasets import BandNormaliser, CropDataset, fit_train_normaliser
from hsilib.models.checkpoint import CheckpointError
from hsilib.models.losses import MultibandLPIPS
from hsilib.study import grid

CASES = Cases()


# -- 8. library errors that name the file and the problem --------------------------------------
@CASES
def cube_without_read_permission(tmp):
    path = tmp / "cube.mat"
    path.write_bytes(b"MATLAB")
    denied = PermissionError(13, "Permission denied", str(path))

    def call():
        with mock.patch("scipy.io.loadmat", side_effect=denied):
            return hd.load_cube(path)
    return call, PermissionError, r"cube\.mat: the cube file cannot be read: permission denied"


@CASES
def rgb_index_without_paths(tmp):
    (tmp / "rgb").mkdir()
    write_table(pd.DataFrame({"id": ["a"], "class": ["MM"]}), tmp / "rgb" / "index.csv")
    return (lambda: hd.load_rgb_folder(tmp / "rgb"), ValueError,
            r"rgb/index\.csv: missing columns \['path'\]")


def _make_crops(tmp, **kw):
    import shutil

    shutil.copytree(CTX["source"] / "hsidermoscopy", tmp / "data")
    ds = hd.HSIDermoscopy(tmp / "data")
    args = {"size": 16, "min_area": 100, **kw}
    return lambda: pp.make_crops(ds, tmp / "crops", progress=False, **args)


@CASES
def crops_of_size_zero(tmp):
    return _make_crops(tmp, size=0), ValueError, r"make_crops: size must be an integer >= 1"


@CASES
def crops_of_scale_nan(tmp):
    return _make_crops(tmp, scale=float("nan")), ValueError, r"scale must be a finite number"


@CASES
def crops_of_negative_min_area(tmp):
    return _make_crops(tmp, min_area=-5), ValueError, r"min_area must be an integer >= 0"


@CASES
def normaliser_with_15_mins_and_16_maxes(tmp):
    normaliser(tmp)
    d = json.loads((tmp / "norm.json").read_text())
    d["band_min"] = d["band_min"][:15]
    (tmp / "norm.json").write_text(json.dumps(d))
    return (lambda: BandNormaliser.load(tmp / "norm.json"), ValueError,
            r"norm\.json: not a normalisation JSON .*same length, got shapes \[\(15,\), \(16,\)")


def _fifteen_band_crop(tmp, bad="DN_001"):
    return crop_folder_with(tmp, bad, lambda cube: cube[..., :15])


@CASES
def crop_folder_with_one_15_band_crop(tmp):
    ds = CropDataset(_fifteen_band_crop(tmp))
    i = int(np.flatnonzero(ds.table.id == "DN_001")[0])
    return (lambda: ds[i], ValueError,
            r"DN_001\.npz: the crop's cube is \(20, 20, 15\), expected H x W x 16")


@CASES
def normaliser_fitted_on_one_15_band_crop(tmp):
    folder = _fifteen_band_crop(tmp, "MM_001")
    splits = all_train(folder, tmp / "s.csv")
    return (lambda: fit_train_normaliser(folder, splits), ValueError,
            r"MM_001\.npz: the crop's cube is \(20, 20, 15\)")


@CASES
def crop_whose_mask_has_another_size(tmp):
    np.savez(tmp / "x.npz", cube=np.ones((4, 4, 16), np.float32), mask=np.ones((3, 4), np.uint8))
    return lambda: load_crop(tmp / "x.npz"), ValueError, r"x\.npz: the mask is \(3, 4\)"


@CASES
def crop_that_is_a_flat_image(tmp):
    np.savez(tmp / "x.npz", cube=np.ones((4, 16), np.float32), mask=np.ones((4, 16), np.uint8))
    return lambda: load_crop(tmp / "x.npz"), ValueError, r"x\.npz: the crop's cube is \(4, 16\)"


@CASES
def split_fraction_nan(tmp):
    index = pd.DataFrame({"id": list("abcdef"), "source": list("abcdef"), "class": "MM"})
    return (lambda: sp.make_splits(index, (float("nan"), 0.15, 0.15)), ValueError,
            r"fractions must be three finite, non-negative numbers, got \(nan")


def _resume_from(tmp, edit):
    ck = torch.load(CTX["source"] / "gan.pt", weights_only=True)
    edit(ck)
    torch.save(ck, tmp / "ck.pt")
    trainer = tiny_trainer([f"c{i}" for i in range(4)])
    return lambda: trainer.load(tmp / "ck.pt")


@CASES
def checkpoint_without_optimiser_state(tmp):
    return (_resume_from(tmp, lambda ck: ck.pop("optimizers")), CheckpointError,
            r"ck\.pt: no optimizers in the checkpoint \(weights only\?\)")


@CASES
def checkpoint_without_one_optimiser(tmp):
    return (_resume_from(tmp, lambda ck: ck["optimizers"].pop("G")), CheckpointError,
            r"ck\.pt: no optimiser state for \['G'\]")


@CASES
def checkpoint_whose_optimiser_does_not_fit(tmp):
    def edit(ck):
        ck["optimizers"]["D"]["param_groups"][0]["params"] = [0, 1]
    return _resume_from(tmp, edit), CheckpointError, r"ck\.pt: the state of optimiser 'D' does"


@CASES
def checkpoint_without_random_states(tmp):
    return _resume_from(tmp, lambda ck: ck.pop("rng")), CheckpointError, r"ck\.pt: no rng"


def _lpips(tmp, state):
    torch.save(state, tmp / "vgg.pth")
    return lambda: MultibandLPIPS(tmp / "vgg.pth"), CheckpointError


@CASES
def lpips_weights_that_are_a_list(tmp):
    return (*_lpips(tmp, [torch.zeros(3)]), r"LPIPS backbone weight file .*vgg\.pth: expected "
            r"a state dict \(name -> tensor\), got list")


@CASES
def lpips_weights_with_a_malformed_key(tmp):
    return (*_lpips(tmp, {"features.first.weight": torch.zeros(3)}),
            r"vgg\.pth: entry 'features\.first\.weight' is not a torchvision")


@CASES
def lpips_weights_of_another_network(tmp):
    return (*_lpips(tmp, {"fc.weight": torch.zeros(3)}),
            r"vgg\.pth is not a torchvision vgg state dict \(no 'features\.N' entries\)")


@CASES
def lpips_weights_of_the_wrong_shapes(tmp):
    import torchvision

    state = torchvision.models.vgg16().features.state_dict()
    state = {f"features.{k}": v for k, v in state.items()}
    state["features.0.weight"] = torch.zeros(64, 3, 5, 5)
    return *_lpips(tmp, state), r"vgg\.pth \(vgg\) does not fit .*shape mismatch"


@pytest.mark.parametrize("name", sorted(CASES))
def test_bad_input_fails_early_named_and_harmless(name, tmp_path, source):  # noqa: F811
    CTX["source"] = source
    check_case(CASES, name, tmp_path)




# -- 8. a truncated grid result reruns; a failed save keeps the old checkpoint -------------------
def test_a_truncated_grid_result_is_not_done_and_reruns(tmp_path):
    @dataclasses.dataclass(frozen=True)
    class Exp:  # a dataclass: its fingerprint is its fields
        name: str = "real"

    calls = []

    def cell(e, s, r):
        calls.append(s)
        return pd.DataFrame({"seed": [s], "auroc": [0.5 + s / 10]})

    first = grid.run_grid([Exp()], cell, seeds=[0, 1], out_dir=tmp_path)
    result = tmp_path / "real_seed1" / grid.RESULT_FILE
    result.write_text(result.read_text()[:20])  # cut short: a disk filled up, say
    again = grid.run_grid([Exp()], cell, seeds=[0, 1], out_dir=tmp_path)
    assert calls == [0, 1, 1]  # only the truncated cell ran again
    pd.testing.assert_frame_equal(first, again)


def test_a_checkpoint_save_past_the_file_size_limit_keeps_the_old_one(tmp_path):
    trainer = tiny_trainer()
    path = trainer.save(tmp_path / "ck.pt")
    before = snapshot(tmp_path)
    soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
    old_handler = signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    try:
        resource.setrlimit(resource.RLIMIT_FSIZE, (20_000, hard))
        with pytest.raises(OSError, match=rf"{esc(path)}: could not be written, the file-size "
                                          r"limit of 20000 bytes was reached.*ck\.pt.* is kept"):
            trainer.save(path)
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))
        signal.signal(signal.SIGXFSZ, old_handler)
    assert snapshot(tmp_path) == before  # the old checkpoint, and no temporary file


def test_a_checkpoint_that_fails_midway_leaves_the_trainer_as_it_was(tmp_path, source):  # noqa: F811
    ck = torch.load(source / "gan.pt", weights_only=True)
    ck["rng"] = {"python": "not a state"}  # loads the networks, then fails on the random state
    torch.save(ck, tmp_path / "ck.pt")
    trainer = tiny_trainer([f"c{i}" for i in range(4)])
    trainer.train_step()
    state = {k: v.clone() for k, v in trainer.objective.nets.state_dict().items()}
    opt = json.dumps(trainer.optimizers["G"].state_dict()["param_groups"], default=str)
    with pytest.raises(CheckpointError, match=r"ck\.pt: could not be restored .*left as it was"):
        trainer.load(tmp_path / "ck.pt")
    assert trainer.step == 1
    for k, v in trainer.objective.nets.state_dict().items():
        assert torch.equal(v, state[k]), k
    assert json.dumps(trainer.optimizers["G"].state_dict()["param_groups"], default=str) == opt


# -- 9. silently skipped inputs are reported once --------------------------------------------------
def test_cubes_in_sub_folders_of_a_class_folder_are_reported_once(tmp_path, source):  # noqa: F811
    import shutil

    root = shutil.copytree(source / "hsidermoscopy", tmp_path / "data")
    (root / "MMCube" / "batch2").mkdir()
    mat = next((root / "MMCube").glob("*.mat"))
    shutil.copy(mat, root / "MMCube" / "batch2" / "MM_0100.mat")
    shutil.copy(mat, root / "MMCube" / "batch2" / "MM_0101.mat")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        ds = hd.HSIDermoscopy(root)
    skipped = [w for w in caught if issubclass(w.category, hd.SkippedFilesWarning)]
    assert len(skipped) == 1 and len(ds) == 2
    assert "2 cube file(s)" in str(skipped[0].message)
    assert "MMCube/batch2/MM_0100.mat" in str(skipped[0].message)


def test_mask_names_with_glob_characters_are_matched_literally(tmp_path):
    lesion = np.zeros((10, 12), np.uint8)
    lesion[2:5, 3:7] = 255
    for stem in ("MM_[1]", "DN_*", "SK?2"):
        cv2.imwrite(str(tmp_path / f"{stem}_crop01_mask.png"), lesion)
    cv2.imwrite(str(tmp_path / "MM_1_crop01_mask.png"), lesion)  # what "MM_[1]" would glob
    for stem in ("MM_[1]", "DN_*", "SK?2", "MM_1"):
        assert len(pp.load_user_masks(tmp_path, stem)) == 1, stem


def test_mask_files_no_cube_reads_are_reported_once(tmp_path, source):  # noqa: F811
    import shutil

    shutil.copytree(source / "hsidermoscopy", tmp_path / "data")
    ds = hd.HSIDermoscopy(tmp_path / "data")
    stem = ds.index.stem[0]
    h, w = ds[0]["cube"].shape[:2]
    lesion = np.zeros((h, w), np.uint8)
    lesion[20:40, 50:80] = 255
    masks = tmp_path / "m"
    masks.mkdir()
    cv2.imwrite(str(masks / f"{stem}_crop01_mask.png"), lesion)
    for name in (f"{stem}_crop02_mask.PNG", f"{stem}_mask.png", "MM_9999_crop01_mask.png"):
        cv2.imwrite(str(masks / name), lesion)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        pp.make_crops(ds, tmp_path / "crops", size=16, min_area=10, masks_dir=masks,
                      progress=False)
    unused = [str(w.message) for w in caught if "match no cube" in str(w.message)]
    assert len(unused) == 1 and "3 PNG file(s)" in unused[0]
    for name in ("_crop02_mask.PNG", "_mask.png", "MM_9999_crop01_mask.png"):
        assert name in unused[0]


def test_a_split_with_an_empty_part_is_reported_once():
    index = pd.DataFrame({"id": ["m1", "m2", "d1", "d2", "d3", "d4"],
                          "source": ["m1", "m2", "d1", "d2", "d3", "d4"],
                          "class": ["MM", "MM", "DN", "DN", "DN", "DN"]})
    with pytest.warns(sp.SplitWarning, match=r"make_splits: (val|test) has no MM image") as rec:
        table = sp.make_splits(index)
    assert len(rec) == 1 and set(table.split) == {"train", "val", "test"}


