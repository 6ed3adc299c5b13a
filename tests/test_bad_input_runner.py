"""Bad input, part 4: run_all.py checks everything it can before the first notebook (class 7 of
the table in ``tests/test_bad_input.py``), errors that used to surface as library internals name
the file and the problem (class 8), silently skipped inputs are reported once (class 9), and a
second run_all.py on the same run folder is refused (class 10).

Each case of :data:`CASES` must raise the stated error with a message naming the file, key or
argument, and leave its folder byte for byte as it was (``badinput.check_case``); run_all.py's
cases also create no run folder. The tests after the cases check what happens instead of an
error: a truncated grid result reruns, a failed checkpoint save keeps the old file, a partly
bad checkpoint leaves the trainer untouched, warnings come once, stale locks are replaced.
"""

from __future__ import annotations

import dataclasses
import json
import os
import resource
import signal
import socket
import subprocess
import sys
import typing
import warnings
from pathlib import Path
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
    fixture_notebooks,
    normaliser,
    run_all,
    run_all_call,
    source,  # noqa: F401 (fixture)
    tiny_trainer,
    write_table,
)
from fakedata import make_fake_standin
from safety import snapshot

from hsilib import config, paths
from hsilib.data import hsi_dermoscopy as hd
from hsilib.data import preprocess as pp
from hsilib.data import splits as sp
from hsilib.data.crop_folder import load_crop
from hsilib.data.datasets import BandNormaliser, CropDataset, fit_train_normaliser
from hsilib.models.checkpoint import CheckpointError
from hsilib.models.losses import MultibandLPIPS
from hsilib.notebook import SECTIONS
from hsilib.study import grid

CASES = Cases()


def _out(tmp):
    return tmp / "run"


def _set(tmp, *items):
    args = [a for item in items for a in ("--set", item)]
    return run_all_call(tmp, _out(tmp), *args)


# -- 7. run_all.py: --set items, paths, seeds, sizes -------------------------------------------
@CASES
def set_an_unknown_diffaug_policy(tmp):
    return (_set(tmp, '03.diffaug=["translation", "colour"]'), SystemExit,
            r"--set: .*FastGANConfig\.diffaug: unknown diffaug \['colour'\]")


@CASES
def set_an_unknown_ada_operation(tmp):
    return (_set(tmp, '03.stylegan2.ada_ops=["hue"]'), SystemExit,
            r"StyleGAN2Config\.ada_ops: unknown ada_ops \['hue'\]")


@CASES
def set_an_unknown_ablation_arm(tmp):
    return (_set(tmp, '02.arms=["critic_9d"]'), SystemExit,
            r"AblationStudyConfig\.arms: unknown arms \['critic_9d'\]")


@CASES
def set_an_unknown_proportion_mix(tmp):
    return (_set(tmp, '07.mixes=["MM", "everything"]'), SystemExit,
            r"unknown mixes \['everything'\]")


@CASES
def set_lpips_weights_that_do_not_exist(tmp):
    return (_set(tmp, f"03.lpips_weights={tmp / 'vgg16.pth'}"), SystemExit,
            rf"--set 03\.lpips_weights: {esc(tmp / 'vgg16.pth')} is not a file")


@CASES
def set_pretrained_weights_that_are_a_folder(tmp):
    (tmp / "weights").mkdir()
    return (_set(tmp, f"06.classifier.pretrained_weights={tmp / 'weights'}"), SystemExit,
            r"--set 06\.classifier\.pretrained_weights: .*weights is not a file")


@CASES
def set_inception_weights_that_do_not_exist(tmp):
    return (_set(tmp, f"08.metrics.inception_weights={tmp / 'pt_inception.pth'}"), SystemExit,
            r"--set 08\.metrics\.inception_weights: .*pt_inception\.pth is not a file")


@CASES
def set_a_masks_folder_that_does_not_exist(tmp):
    return (_set(tmp, f"01.masks_dir={tmp / 'makss'}"), SystemExit,
            rf"--set 01\.masks_dir: {esc(tmp / 'makss')} is not a folder")


@CASES
def fid_weights_in_the_environment_that_do_not_exist(tmp):
    call = run_all_call(tmp, _out(tmp))

    def with_env():
        with mock.patch.dict(os.environ, {"HSILIB_FID_WEIGHTS": str(tmp / "fid.pth")}):
            return call()
    return with_env, SystemExit, r"HSILIB_FID_WEIGHTS: .*fid\.pth is not a file"


@CASES
def seed_below_zero(tmp):
    return (run_all_call(tmp, _out(tmp), "--seed", "-1"), SystemExit,
            r"--seed must be in 0\.\.4294967295 .*got -1")


@CASES
def seed_beyond_what_numpy_accepts(tmp):
    return (run_all_call(tmp, _out(tmp), "--seed", str(2**32)), SystemExit,
            r"--seed must be in 0\.\.4294967295 .*got 4294967296")


@CASES
def set_an_empty_seed_list(tmp):
    return (_set(tmp, "06.classifier_study.seeds=[]"), SystemExit,
            r"ClassifierStudyConfig\.seeds must hold at least one item")


@CASES
def only_together_with_from(tmp):
    return (run_all_call(tmp, _out(tmp), "--only", "01", "--from", "03"), SystemExit,
            r"--only and --from exclude each other")


@CASES
def data_given_as_an_empty_string(tmp):
    return (run_all_call(tmp, _out(tmp), "--data", ""), SystemExit,
            r'--data "" names no folder')


@CASES
def data_set_too_small_for_the_split(tmp):
    data = make_fake_standin(tmp / "small", n=(2, 1, 0), hair=False, n_rgb=1) / "hsidermoscopy"
    return (run_all_call(tmp, _out(tmp), "--data", str(data)), SystemExit,
            rf"--data {esc(data)} has 2 MM and 1 DN images; notebook 01 needs at least 3 of "
            r"each")


@CASES
def data_folder_that_is_no_data_set(tmp):
    (tmp / "photos").mkdir()
    return (run_all_call(tmp, _out(tmp), "--data", str(tmp / "photos")), SystemExit,
            r"--data: .*photos: not an HSIDermoscopy folder")


@CASES
def standin_too_small_for_the_split(tmp):
    return (_set(tmp, "01.n_mm=2"), SystemExit,
            r"the stand-in \(01\.n_mm, 01\.n_dn\) has 2 MM and 16 DN images; notebook 01 needs "
            r"at least 3")


@CASES
def more_folds_than_images(tmp):
    return (_set(tmp, "01.n_folds=20"), SystemExit,
            r"needs at least 20 of each .*each of the 20 cross-validation folds")


@CASES
def batch_of_two_million(tmp):
    return (_set(tmp, "06.batch_size=2000000"), SystemExit,
            r"ClassifierConfig\.batch_size must be <= 65536, got 2000000")


@CASES
def a_billion_generator_steps(tmp):
    return _set(tmp, "03.steps=1000000000"), SystemExit, r"steps must be <= 10000000"


@CASES
def a_crop_side_of_a_million_pixels(tmp):
    return _set(tmp, "01.crop_size=1000000"), SystemExit, r"crop_size must be <= 4096"


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


# -- 10. one run_all.py per run folder ------------------------------------------------------------
def _lock(tmp, pid, host=None):
    out = _out(tmp)
    out.mkdir()
    (out / paths.LOCK_FILE).write_text(json.dumps(
        {"pid": pid, "host": host or socket.gethostname(), "started": "2030-01-01T00:00:00"}))
    return run_all_call(tmp, out)


@CASES
def run_folder_in_use_by_a_live_run(tmp):
    return (_lock(tmp, os.getpid()), SystemExit,
            rf"--out .*run is in use by another run_all\.py \(process {os.getpid()} on "
            rf"{socket.gethostname()}, started 2030-01-01T00:00:00\)")


@CASES
def run_folder_in_use_on_another_host(tmp):
    return (_lock(tmp, 1, "elsewhere.example"), SystemExit,
            r"in use by another run_all\.py \(process 1 on elsewhere\.example.*delete .*\.run_all"
            r"\.lock")


@pytest.mark.parametrize("name", sorted(CASES))
def test_bad_input_fails_early_named_and_harmless(name, tmp_path, source):  # noqa: F811
    CTX["source"] = source
    check_case(CASES, name, tmp_path)
    assert not (tmp_path / "run" / "manifest.json").exists()


# -- 7. every declared choice of a tuple field is enforced by --set -----------------------------
def _tuple_choice_fields():
    out = []
    for nn, sections in SECTIONS.items():
        for section in sections:
            cfg = config.resolve("smoke", section)
            for f in dataclasses.fields(cfg):
                hint, markers = config.declared(type(cfg))[f.name]
                hint = typing.get_args(hint)[0] if typing.get_origin(hint) is typing.Union \
                    else hint
                if any(isinstance(m, config.OneOf) for m in markers) and "tuple" in str(hint):
                    out.append((nn, section, f.name))
    return sorted({(s, f): (n, s, f) for n, s, f in out}.values())


@pytest.mark.parametrize(("nn", "section", "field"), _tuple_choice_fields())
def test_run_all_refuses_an_unknown_item_of_every_tuple_of_choices(tmp_path, nn, section, field):
    call = run_all_call(tmp_path, tmp_path / "run", "--set", f'{nn}.{section}.{field}=["bogus"]')
    with pytest.raises(SystemExit, match=rf"unknown {field} \['bogus'\]"):
        call()
    assert not (tmp_path / "run").exists()


def test_the_tuple_fields_of_choices_are_found():
    fields = {f for _, _, f in _tuple_choice_fields()}
    assert {"diffaug", "ada_ops", "arms", "dn_arms", "mixes", "filter_mixes"} <= fields


def test_a_read_only_out_is_one_line(tmp_path):
    probe = Path("/sys/hsilib-probe")
    try:
        probe.mkdir()
    except OSError:
        pass
    else:
        probe.rmdir()
        pytest.skip("/sys is writable here: no read-only folder to test with")
    with pytest.raises(SystemExit, match=r"^error: --out /sys/hsilib-run: cannot write there"):
        run_all_call(tmp_path, "/sys/hsilib-run")()
    (tmp_path / "user").mkdir()
    call = run_all_call(tmp_path / "user", tmp_path / "run")
    with mock.patch("os.access", return_value=False):  # a user without write permission
        with pytest.raises(SystemExit, match=rf"--out {esc(tmp_path / 'run')}: .* is not "
                                             "writable"):
            call()
    assert not (tmp_path / "run").exists()


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


# -- 10. stale locks are replaced; a finished run leaves none --------------------------------------
def _dead_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


@pytest.mark.parametrize("content", ["dead", "half-written"])
def test_a_stale_lock_is_replaced_with_a_message_and_released_at_the_end(tmp_path, capsys,
                                                                         content):
    out = tmp_path / "run"
    out.mkdir()
    lock = out / paths.LOCK_FILE
    lock.write_text(json.dumps({"pid": _dead_pid(), "host": socket.gethostname()})
                    if content == "dead" else '{"pid": ')
    nbs = fixture_notebooks(tmp_path)
    code = run_all.main(["--notebooks", str(nbs), "--out", str(out), "--profile", "smoke",
                         "--only", "01"])  # the empty notebook fails at once: the run ends
    assert code == 1
    assert f"replacing the stale lock {lock}" in capsys.readouterr().out
    assert not lock.exists()  # released


def test_the_lock_is_no_output_of_the_run(tmp_path):
    (tmp_path / paths.LOCK_FILE).write_text("{}")
    (tmp_path / "a.txt").write_text("x")
    assert list(run_all._run_files(tmp_path)) == [str(tmp_path / "a.txt")]

