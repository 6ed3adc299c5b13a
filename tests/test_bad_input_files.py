"""Bad input, part 1: the data set, cube files, output folders, weight files and the
configuration, as a new user would give them (the overview and the table of the reliability
rules are in ``tests/test_bad_input.py``).

Each case builds its input under ``tmp_path`` and returns ``(call, error type, pattern)``;
the pattern is a regular expression the message must match (it names the file or
parameter). The whole of ``tmp_path`` is compared byte for byte before and after the call.
"""

from __future__ import annotations

import shutil

import cv2
import numpy as np
import pytest
import scipy.io
import torch
from badinput import (
    CTX,
    Cases,
    check_case,
    evil_checkpoint,
    run_all_call,
    source,  # noqa: F401 (fixture)
)

from hsilib import config, paths
from hsilib.data import hsi_dermoscopy as hd
from hsilib.data import preprocess as pp
from hsilib.data.datasets import write_crop_folder
from hsilib.metrics import distribution
from hsilib.models import classifiers as M
from hsilib.models import registry
from hsilib.models.checkpoint import CheckpointError

CASES = case = Cases()


def _data(tmp):
    shutil.copytree(CTX["source"] / "hsidermoscopy", tmp / "data")
    return hd.HSIDermoscopy(tmp / "data"), tmp / "data"


def _mat(tmp, arr, name="cube.mat"):
    scipy.io.savemat(tmp / name, {"cube": arr})
    return tmp / name


def _refl(shape=(4, 5, 16)):
    return np.random.default_rng(0).uniform(0.1, 0.9, shape).astype(np.float32)


def _crops(ds, out, **kw):
    return lambda: pp.make_crops(ds, out, size=16, min_area=100, progress=False, **kw)


def _weights(tmp, bands):
    torch.save(M.SmallCNN(n_bands=bands).state_dict(), tmp / f"w{bands}.pth")
    return tmp / f"w{bands}.pth"


def _run_all(tmp, out, *extra):
    return run_all_call(tmp, out, *extra)


# -- cube files -----------------------------------------------------------------------------
@case
def cube_missing(tmp):
    return lambda: hd.load_cube(tmp / "nope.mat"), FileNotFoundError, r"nope\.mat"


@case
def cube_unknown_suffix(tmp):
    (tmp / "cube.txt").write_text("1 2 3")
    return lambda: hd.load_cube(tmp / "cube.txt"), hd.CubeFormatError, r"cube\.txt: unknown"


@case
def cube_garbage_mat(tmp):
    (tmp / "cube.mat").write_bytes(b"MATLAB 5.0 garbage" * 20)
    return lambda: hd.load_cube(tmp / "cube.mat"), hd.CubeFormatError, r"cube\.mat: unreadable"


@case
def cube_two_arrays(tmp):
    scipy.io.savemat(tmp / "two.mat", {"a": _refl(), "b": _refl()})
    return lambda: hd.load_cube(tmp / "two.mat"), hd.CubeFormatError, r"two\.mat: expected exac"


@case
def cube_2d(tmp):
    path = _mat(tmp, np.ones((4, 16), np.float32))
    return lambda: hd.load_cube(path), hd.CubeFormatError, r"cube\.mat: expected a 3-D"


@case
def cube_15_bands(tmp):
    path = _mat(tmp, _refl((4, 5, 15)))
    return lambda: hd.load_cube(path), hd.CubeFormatError, r"cube\.mat: expected 16 bands"


@case
def cube_nan(tmp):
    arr = _refl()
    arr[1, 1, 3] = np.nan
    path = _mat(tmp, arr)
    return lambda: hd.load_cube(path), hd.CubeFormatError, r"cube\.mat: 1 NaN"


@case
def cube_integer_counts(tmp):
    path = _mat(tmp, (_refl() * 4095).astype(np.uint16))
    return lambda: hd.load_cube(path), hd.CubeFormatError, r"cube\.mat: integer data"


@case
def cube_all_negative(tmp):
    path = _mat(tmp, -_refl())
    return lambda: hd.load_cube(path), hd.CubeFormatError, r"cube\.mat: no value above 0"


@case
def cube_boolean(tmp):
    return (lambda: hd.validate_cube(np.ones((4, 5, 16), bool), tmp / "mask.mat"),
            hd.CubeFormatError, r"mask\.mat: a boolean array")


@case
def cube_empty_image(tmp):
    return (lambda: hd.validate_cube(np.zeros((0, 5, 16), np.float32), tmp / "e.mat"),
            hd.CubeFormatError, r"e\.mat: empty image")


@case
def envi_header_without_data(tmp):
    hd.export_envi(tmp / "x.hdr", _refl())
    (tmp / "x.img").unlink()
    return lambda: hd.import_envi(tmp / "x.hdr"), hd.CubeFormatError, r"x\.hdr: unreadable ENVI"


@case
def envi_mismatched_pair(tmp):
    hd.export_envi(tmp / "x.hdr", _refl((4, 5, 16)))
    hd.export_envi(tmp / "y.hdr", _refl((6, 5, 16)))
    (tmp / "y.img").replace(tmp / "x.img")
    return lambda: hd.load_cube(tmp / "x.hdr"), hd.CubeFormatError, r"x\.hdr: the data file"


# -- data set folders -----------------------------------------------------------------------
@case
def dataset_missing(tmp):
    return (lambda: hd.HSIDermoscopy(tmp / "nowhere"), hd.DatasetNotFoundError,
            r"nowhere: not an HSIDermoscopy folder")


@case
def dataset_empty(tmp):
    for f in hd.CLASS_FOLDERS.values():
        (tmp / "ds" / f).mkdir(parents=True)
    return lambda: hd.HSIDermoscopy(tmp / "ds"), hd.DatasetNotFoundError, r"ds: no \.mat"


@case
def dataset_duplicate_stems(tmp):
    _, root = _data(tmp)
    mm = next((root / "MMCube").glob("*.mat"))
    shutil.copy(mm, root / "DNCube" / mm.name)
    return lambda: hd.HSIDermoscopy(root), ValueError, rf"{root}: file stems must be unique"


@case
def rgb_folder_missing(tmp):
    return (lambda: hd.load_rgb_folder(tmp / "rgbx"), hd.DatasetNotFoundError,
            r"rgbx: no such RGB")


@case
def mask_wrong_shape(tmp):
    mask = np.full((5, 5), 255, np.uint8)
    mask[0] = 0
    cv2.imwrite(str(tmp / "A_crop01_mask.png"), mask)
    return (lambda: pp.load_user_masks(tmp, "A", (8, 8)), ValueError,
            r"A_crop01_mask\.png: mask is \(5, 5\)")


@case
def mask_unreadable(tmp):
    (tmp / "A_crop01_mask.png").write_bytes(b"not a png")
    return (lambda: pp.load_user_masks(tmp, "A"), ValueError,
            r"A_crop01_mask\.png: unreadable mask")


# -- output folders -------------------------------------------------------------------------
@case
def crops_onto_the_data_set(tmp):
    ds, root = _data(tmp)
    return _crops(ds, root), paths.OutputFolderError, rf"{root}"


@case
def crops_inside_the_data_set(tmp):
    ds, root = _data(tmp)
    return _crops(ds, root / "crops"), paths.OutputFolderError, rf"overlaps the input .*{root}"


@case
def crops_onto_a_user_folder(tmp):
    ds, _ = _data(tmp)
    (tmp / "mine").mkdir()
    (tmp / "mine" / "notes.txt").write_text("precious")
    return _crops(ds, tmp / "mine"), paths.OutputFolderError, r"mine exists and was not written"


@case
def crops_masks_dir_misspelt(tmp):
    ds, _ = _data(tmp)
    return _crops(ds, tmp / "crops", masks_dir=tmp / "makss"), FileNotFoundError, r"masks_dir"


@case
def crops_masks_dir_without_matching_masks(tmp):
    ds, _ = _data(tmp)
    (tmp / "m").mkdir()
    return (_crops(ds, tmp / "crops", masks_dir=tmp / "m"), ValueError,
            r"masks_dir .*m holds no mask")


@case
def crops_masks_dir_inside_the_output(tmp):
    ds, _ = _data(tmp)
    (tmp / "crops" / "masks").mkdir(parents=True)
    (tmp / "crops" / paths.OUTPUT_MARKER).write_text("")
    return (_crops(ds, tmp / "crops", masks_dir=tmp / "crops" / "masks"),
            paths.OutputFolderError, r"crops/masks")


@case
def crops_none_found(tmp):
    ds, _ = _data(tmp)
    return (lambda: pp.make_crops(ds, tmp / "crops", size=16, min_area=10**6, progress=False),
            ValueError, r"min_area=1000000")


@case
def envi_set_onto_the_data_set(tmp):
    ds, root = _data(tmp)
    return (lambda: hd.export_envi_set(ds, root, overwrite=True), paths.OutputFolderError,
            rf"{root}")


@case
def envi_set_onto_existing_without_overwrite(tmp):
    ds, _ = _data(tmp)
    (tmp / "envi").mkdir()
    (tmp / "envi" / "x").write_text("x")
    return lambda: hd.export_envi_set(ds, tmp / "envi"), FileExistsError, r"envi: exists"


@case
def crop_folder_onto_a_user_folder(tmp):
    (tmp / "syn").mkdir()
    (tmp / "syn" / "a.npz").write_bytes(b"user data")
    return (lambda: write_crop_folder(tmp / "syn", []), paths.OutputFolderError,
            r"syn exists and was not written")


@case
def crop_folder_rows_missing_fields(tmp):
    items = [({"id": "x1"}, _refl(), None)]
    return (lambda: write_crop_folder(tmp / "out", items), ValueError,
            r"crop 'x1': missing index fields")


@case
def output_folder_is_a_file(tmp):
    (tmp / "out").write_text("a file")
    return (lambda: paths.check_output_dir(tmp / "out"), paths.OutputFolderError,
            r"out exists and is not a folder")


# -- checkpoints and weight files -----------------------------------------------------------
@case
def checkpoint_missing(tmp):
    return lambda: registry.load(tmp / "gone.pt"), FileNotFoundError, r"gone\.pt"


@case
def checkpoint_junk(tmp):
    (tmp / "junk.pt").write_bytes(b"junk" * 50)
    return lambda: registry.load(tmp / "junk.pt"), CheckpointError, r"junk\.pt: corrupt"


@case
def checkpoint_truncated(tmp):
    data = (CTX["source"] / "gan.pt").read_bytes()
    (tmp / "cut.pt").write_bytes(data[: len(data) // 3])
    return lambda: registry.load(tmp / "cut.pt"), CheckpointError, r"cut\.pt: corrupt"


@case
def checkpoint_malicious(tmp):
    path = evil_checkpoint(tmp)
    return lambda: registry.load(path), CheckpointError, r"evil\.pt: refused"


@case
def checkpoint_of_something_else(tmp):
    torch.save({"weights": torch.ones(2)}, tmp / "other.pt")
    return (lambda: registry.read_checkpoint(tmp / "other.pt"), CheckpointError,
            r"other\.pt is not a generator checkpoint")


@case
def checkpoint_wrong_shapes(tmp):
    ck = torch.load(CTX["source"] / "gan.pt", weights_only=True)
    key = next(iter(ck["objective"]["ema"]))
    ck["objective"]["ema"][key] = torch.zeros(1)
    torch.save(ck, tmp / "bent.pt")
    return (lambda: registry.load(tmp / "bent.pt"), CheckpointError,
            rf"bent\.pt \(EMA networks\) does not fit.*{key}")


@case
def weights_one_band(tmp):
    path = _weights(tmp, 1)
    return (lambda: M.build_classifier("small", weights=path), M.WeightFileError,
            r"w1\.pth: first convolution .* takes 1 channels")


@case
def weights_fifteen_bands(tmp):
    path = _weights(tmp, 15)
    return (lambda: M.build_classifier("small", weights=path), M.WeightFileError,
            r"w15\.pth: .*\(16, 15, 3, 3\).*\(16, 16, 3, 3\)")


@case
def weights_junk(tmp):
    (tmp / "w.pth").write_bytes(b"\x00" * 64)
    return (lambda: M.build_classifier("small", weights=tmp / "w.pth"), M.WeightFileError,
            r"w\.pth: corrupt")


@case
def weights_malicious(tmp):
    path = evil_checkpoint(tmp)
    return (lambda: M.build_classifier("small", weights=path), M.WeightFileError,
            r"evil\.pt: refused")


@case
def inception_weights_malicious(tmp):
    path = evil_checkpoint(tmp)
    return lambda: distribution._load_state_dict(path), CheckpointError, r"evil\.pt: refused"


# -- configuration and the runner -----------------------------------------------------------
@case
def config_negative_steps(tmp):
    return (lambda: config.resolve("quick", "fastgan", steps=-10), config.ConfigError,
            r"quick\.fastgan.*steps must be >= 1")


@case
def config_negative_classifier_batch(tmp):
    return (lambda: config.resolve("quick", "classifier", batch_size=-4), config.ConfigError,
            r"classifier.*batch_size must be >= 1")


@case
def config_unknown_device(tmp):
    return (lambda: config.resolve("quick", "classifier", device="gpu0"), config.ConfigError,
            r"device must be")


@case
def config_unsupported_image_size(tmp):
    return (lambda: config.resolve("quick", "vae", image_size=100), config.ConfigError,
            r"VAEConfig\.image_size must be one of")


@case
def config_unknown_threshold_rule(tmp):
    return (lambda: config.resolve("quick", "classifier_study", threshold_rule="max"),
            config.ConfigError, r"threshold_rule: got 'max'")


@case
def run_all_bad_set(tmp):
    return (_run_all(tmp, tmp / "run", "--set", "03.steps=-1"), SystemExit,
            r"--set: .*steps must be >= 1")


@case
def run_all_out_is_a_file(tmp):
    (tmp / "run").write_text("x")
    return _run_all(tmp, tmp / "run"), SystemExit, r"--out .*run is a file"


@case
def run_all_corrupt_manifest(tmp):
    (tmp / "run").mkdir()
    (tmp / "run" / "manifest.json").write_text('{"notebooks": ')
    return _run_all(tmp, tmp / "run"), SystemExit, r"run/manifest\.json is not a readable"


@case
def run_all_unknown_only(tmp):
    return _run_all(tmp, tmp / "run", "--only", "09"), SystemExit, r"notebook numbered '09'"


def test_there_are_at_least_40_cases():
    assert len(CASES) >= 40


@pytest.mark.parametrize("name", sorted(CASES))
def test_bad_input_fails_early_named_and_harmless(name, tmp_path, source):  # noqa: F811
    CTX["source"] = source
    check_case(CASES, name, tmp_path)
