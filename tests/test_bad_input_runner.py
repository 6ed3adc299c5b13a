"""Bad input, part 5: run_all.py checks everything it can before the first notebook (class 7
of the table in ``tests/test_bad_input.py``), and a second run_all.py on the same run folder is
refused (class 10).

Each case of :data:`CASES` must raise the stated error with a message naming the key, argument,
file or process, leave its folder byte for byte as it was (``badinput.check_case``) and create
no run folder. The tests after the cases check every declared choice of a tuple field, a
read-only ``--out``, stale locks (replaced with a message) and that a finished run leaves none.
"""

from __future__ import annotations

import dataclasses
import json
import os
import socket
import subprocess
import sys
import typing
from pathlib import Path
from unittest import mock

import pytest
from badinput import (
    CTX,
    Cases,
    check_case,
    esc,
    fixture_notebooks,
    run_all,
    run_all_call,
    source,  # noqa: F401 (fixture)
    )
from fakedata import make_fake_standin

from hsilib import config, paths
from hsilib.notebook import SECTIONS

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

