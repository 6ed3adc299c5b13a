"""Bad input, part 2: no folder of the user's is ever deleted (classes 1-2 of the table in
``tests/test_bad_input.py``) and no loader runs code from a file (class 3).

Every case of :data:`CASES` snapshots the whole of its folder before the call and compares it
after (``badinput.check_case``); the tests below the cases check what must change (a stale
temporary folder removed) and what must not (every user file, byte for byte).
"""

from __future__ import annotations

import dataclasses
import os
import shutil
import signal
import socket
import subprocess
import sys
import textwrap
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
import pytest
import torch
from badinput import (
    CTX,
    REPO,
    Cases,
    check_case,
    esc,
    evil_checkpoint,
    evil_pickle,
    normaliser,
    run_all_call,
    source,  # noqa: F401 (fixture)
    tiny_trainer,
)
from safety import snapshot

from hsilib import config, paths
from hsilib.data import explore
from hsilib.data.crop_folder import load_crop
from hsilib.models.checkpoint import CheckpointError
from hsilib.standin.writer import generate_rgb_set, generate_standin
from hsilib.study import grid
from hsilib.study.proportion import POOL_FILE, write_subset
from hsilib.synth import export_synthetic, write_synthetic

CASES = Cases()
NOT_OURS = "exists and was not written by this project"


def _user_images(folder: Path) -> Path:
    folder.mkdir(parents=True)
    cv2.imwrite(str(folder / "holiday.png"), np.full((8, 8, 3), 90, np.uint8))
    return folder


def _user_data_set(folder: Path) -> Path:
    shutil.copytree(CTX["source"] / "hsidermoscopy", folder)
    return folder


def _checkpoint_in(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    shutil.copy(CTX["source"] / "gan.pt", folder / "gan.pt")
    return folder / "gan.pt"


def _export(ckpt: Path, out: Path, norm) -> callable:
    return lambda: export_synthetic(ckpt, out, n=2, cls="MM", normaliser=norm, device="cpu")


# -- 1. the stand-in writer replaces only its own folders --------------------------------------
@CASES
def standin_rgb_onto_a_user_image_folder(tmp):
    _user_images(tmp / "run" / "rgb")
    return (lambda: generate_rgb_set(tmp / "run", n=2, size=16), paths.OutputFolderError,
            rf"{esc(tmp / 'run' / 'rgb')} {NOT_OURS}")


@CASES
def standin_cubes_onto_a_user_data_set(tmp):
    _user_data_set(tmp / "st" / "hsidermoscopy")
    return (lambda: generate_standin(tmp / "st", n_mm=1, n_dn=1, n_other=0, scale=0.0625,
                                     progress=False),
            paths.OutputFolderError, rf"hsidermoscopy {NOT_OURS}")


@CASES
def standin_truth_onto_a_user_folder(tmp):
    (tmp / "st" / "truth").mkdir(parents=True)
    (tmp / "st" / "truth" / "notes.txt").write_text("my annotations")
    return (lambda: generate_standin(tmp / "st", n_mm=1, n_dn=1, n_other=0, scale=0.0625,
                                     progress=False),
            paths.OutputFolderError, rf"truth {NOT_OURS}")


@CASES
def standin_cubes_beside_a_record_that_is_not_the_stand_ins(tmp):
    _user_data_set(tmp / "st" / "hsidermoscopy")
    (tmp / "st" / "standin.json").write_text('["not", "a", "stand-in record"]')
    return (lambda: generate_standin(tmp / "st", n_mm=1, n_dn=1, n_other=0, scale=0.0625,
                                     progress=False),
            paths.OutputFolderError, rf"hsidermoscopy {NOT_OURS}")


def _prepare(tmp):
    cfg = config.resolve("smoke", "data", n_rgb=2, rgb_size=16, n_mm=1, n_dn=1, n_other=0)
    run = paths.run_paths(tmp / "run")
    return lambda: explore.prepare_data(cfg, run, None, 0), run


@CASES
def notebook01_run_folder_holding_user_rgb_images(tmp):
    call, run = _prepare(tmp)
    _user_images(run.standin / "rgb")
    return call, paths.OutputFolderError, rf"standin/rgb {NOT_OURS}"


@CASES
def notebook01_run_folder_holding_a_user_data_set(tmp):
    call, run = _prepare(tmp)
    _user_data_set(run.standin / "hsidermoscopy")  # refused before the RGB set is written
    return call, paths.OutputFolderError, rf"standin/hsidermoscopy {NOT_OURS}"


# -- 1. a writer refuses an output that holds one of its inputs --------------------------------
@CASES
def export_into_the_folder_of_its_checkpoint(tmp):
    ckpt = _checkpoint_in(tmp / "syn")
    return (_export(ckpt, tmp / "syn", normaliser()), paths.OutputFolderError,
            rf"overlaps the input folder {esc(ckpt)}")


@CASES
def export_into_a_marked_folder_holding_its_checkpoint(tmp):
    ckpt = _checkpoint_in(tmp / "syn")
    (tmp / "syn" / paths.OUTPUT_MARKER).write_text("")  # the marker alone allows no deletion
    return (_export(ckpt, tmp / "syn", normaliser()), paths.OutputFolderError,
            rf"overlaps the input folder {esc(ckpt)}")


@CASES
def export_into_a_folder_above_its_checkpoint(tmp):
    ckpt = _checkpoint_in(tmp / "a" / "checkpoints")
    (tmp / "a" / paths.OUTPUT_MARKER).write_text("")
    return (_export(ckpt, tmp / "a", normaliser()), paths.OutputFolderError,
            rf"overlaps the input folder {esc(ckpt)}")


@CASES
def export_into_the_folder_of_its_normaliser(tmp):
    ckpt = _checkpoint_in(tmp / "ck")
    (tmp / "syn").mkdir()
    normaliser(tmp / "syn")
    (tmp / "syn" / paths.OUTPUT_MARKER).write_text("")
    return (_export(ckpt, tmp / "syn", tmp / "syn" / "norm.json"), paths.OutputFolderError,
            rf"overlaps the input folder {esc(tmp / 'syn' / 'norm.json')}")


@CASES
def write_synthetic_into_the_folder_of_its_normaliser(tmp):
    (tmp / "syn").mkdir()
    normaliser(tmp / "syn")
    return (lambda: write_synthetic(torch.zeros(2, 16, 8, 8), tmp / "syn", cls="MM",
                                    normaliser=tmp / "syn" / "norm.json", generator="g"),
            paths.OutputFolderError, r"overlaps the input folder .*norm\.json")


@CASES
def proportion_subset_into_its_own_pool(tmp):
    write_synthetic(torch.zeros(3, 16, 8, 8), tmp / "pool", cls="MM", normaliser=normaliser(),
                    generator="g")
    ids = pd.read_csv(tmp / "pool" / "index.csv")["id"].tolist()
    (tmp / "pool" / POOL_FILE).write_text(f'{{"ids": {ids!r}, "scores": null}}'
                                          .replace("'", '"'))
    return (lambda: write_subset(tmp / "pool", tmp / "pool", [0, 1]), paths.OutputFolderError,
            rf"overlaps the input folder {esc(tmp / 'pool')}")


# -- 1. run_all.py refuses an --out that would overwrite code, notebooks, data or masks --------
@CASES
def run_all_out_is_the_repository(tmp):
    return run_all_call(tmp, REPO), SystemExit, rf"--out {esc(REPO)} is or contains the repo"


@CASES
def run_all_out_contains_the_repository(tmp):
    return (run_all_call(tmp, REPO.parent), SystemExit,
            rf"--out {esc(REPO.parent)} is or contains the repository")


@CASES
def run_all_out_inside_the_package(tmp):
    return (run_all_call(tmp, REPO / "hsilib" / "run"), SystemExit,
            rf"overlaps the repository's folder {esc(REPO / 'hsilib')}")


@CASES
def run_all_out_is_the_notebooks_folder(tmp):
    nbs = tmp / "nbs"
    return run_all_call(tmp, nbs), SystemExit, rf"overlaps the notebooks' folder {esc(nbs)}"


@CASES
def run_all_out_is_the_data_set(tmp):
    data = _user_data_set(tmp / "data")
    return (run_all_call(tmp, data, "--data", str(data)), SystemExit,
            rf"overlaps the data set's \(--data\) folder {esc(data)}")


@CASES
def run_all_out_contains_the_data_set(tmp):
    data = _user_data_set(tmp / "work" / "data")
    return (run_all_call(tmp, tmp / "work", "--data", str(data)), SystemExit,
            rf"overlaps the data set's \(--data\) folder {esc(data)}")


@CASES
def run_all_out_inside_the_data_set(tmp):
    data = _user_data_set(tmp / "data")
    return (run_all_call(tmp, data / "runs" / "r1", "--data", str(data)), SystemExit,
            rf"--out {esc(data / 'runs' / 'r1')} overlaps the data set's")


@CASES
def run_all_out_is_a_masks_folder(tmp):
    (tmp / "masks").mkdir()
    return (run_all_call(tmp, tmp / "masks", "--set", f"01.masks_dir={tmp / 'masks'}"),
            SystemExit, rf"overlaps the masks \(01\.masks_dir\) folder {esc(tmp / 'masks')}")


@CASES
def run_all_out_contains_a_masks_folder(tmp):
    (tmp / "work" / "masks").mkdir(parents=True)
    return (run_all_call(tmp, tmp / "work", "--set", f"01.masks_dir={tmp / 'work' / 'masks'}"),
            SystemExit, r"overlaps the masks \(01\.masks_dir\) folder")


# -- 3. nothing is unpickled --------------------------------------------------------------------
@CASES
def grid_result_that_is_a_pickle(tmp):
    evil_pickle(tmp / "result.json")
    return (lambda: grid.read_result(tmp / "result.json"), grid.GridResultError,
            rf"{esc(tmp / 'result.json')}: not a stored grid result")


@CASES
def grid_result_truncated(tmp):
    grid.write_result(pd.DataFrame({"a": [1.0, 2.0]}), tmp / "r.json")
    (tmp / "r.json").write_text((tmp / "r.json").read_text()[:-9])
    return (lambda: grid.read_result(tmp / "r.json"), grid.GridResultError,
            r"r\.json: not a stored grid result \(JSONDecodeError")


@CASES
def grid_result_with_columns_and_values_apart(tmp):
    (tmp / "r.json").write_text('{"columns": ["a", "b"], "dtypes": ["int64"], "data": [[1]], '
                                '"rows": 1}')
    return (lambda: grid.read_result(tmp / "r.json"), grid.GridResultError,
            r"r\.json: .*do not fit together")


@CASES
def crop_file_holding_a_pickled_object(tmp):
    np.savez(tmp / "x.npz", cube=np.array([evil_pickle], dtype=object),
             mask=np.zeros((2, 2), np.uint8))
    return lambda: load_crop(tmp / "x.npz"), ValueError, r"x\.npz: unreadable crop"


@CASES
def trainer_resuming_from_a_malicious_checkpoint(tmp):
    path = evil_checkpoint(tmp)
    trainer = tiny_trainer()
    return lambda: trainer.load(path), CheckpointError, r"evil\.pt: refused"


@pytest.mark.parametrize("name", sorted(CASES))
def test_bad_input_fails_early_named_and_harmless(name, tmp_path, source):  # noqa: F811
    CTX["source"] = source
    check_case(CASES, name, tmp_path)


# -- 1. the stand-in's own folders are still replaced, earlier versions included ---------------
def test_the_standin_replaces_its_own_folders_and_those_of_earlier_versions(tmp_path):
    root = generate_standin(tmp_path, n_mm=1, n_dn=1, n_other=0, scale=0.0625, progress=False)
    generate_rgb_set(tmp_path, n=2, size=16)
    for sub in ("hsidermoscopy", "truth", "rgb"):  # as an earlier version wrote them: no marker
        (root / sub / paths.OUTPUT_MARKER).unlink()
    (root / "hsidermoscopy" / "MMCube" / "stale.mat").write_bytes(b"old")
    generate_standin(tmp_path, n_mm=2, n_dn=1, n_other=0, scale=0.0625, progress=False)
    generate_rgb_set(tmp_path, n=3, size=16)
    assert sorted(p.name for p in (root / "hsidermoscopy" / "MMCube").iterdir()) == [
        "MM_0001.mat", "MM_0002.mat"]
    assert len(pd.read_csv(root / "rgb" / "index.csv")) == 3
    assert not [p for p in tmp_path.iterdir() if ".tmp-" in p.name or ".old-" in p.name]


# -- 2. temporary folders of killed writers: removed on the next write, and only those ----------
def _killed_writer(code: str) -> None:
    """Run ``code`` (which kills its own process with SIGKILL) in a child process."""
    script = textwrap.dedent(code)
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    done = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True)
    assert done.returncode == -signal.SIGKILL, done.stderr.decode()


def _look_alikes(parent: Path, name: str) -> list[Path]:
    """Folders named like temporaries of ``name`` that are not provably a dead writer's: no
    marker, a live process (this one), another host."""
    made = []
    for tag, owner in (("mine", None), ("live", {"pid": os.getpid()}),
                       ("far", {"pid": 999_999_999, "host": socket.gethostname() + "-other"})):
        folder = parent / f".{name}.tmp-{tag}"
        folder.mkdir()
        (folder / "keep.txt").write_text("user data")
        if owner is not None:
            owner.setdefault("host", socket.gethostname())
            (folder / paths.TEMP_MARKER).write_text(str(owner).replace("'", '"'))
        made.append(folder)
    return made


def test_a_killed_folder_writer_leaves_a_temporary_folder_the_next_write_removes(tmp_path):
    target = tmp_path / "crops"
    _killed_writer(f"""
        from hsilib.paths import atomic_dir
        with atomic_dir({str(target)!r}) as tmp:
            (tmp / "half.npz").write_bytes(b"x" * 1000)
            import os, signal
            os.kill(os.getpid(), signal.SIGKILL)
    """)
    stale = [p for p in tmp_path.iterdir() if p.name.startswith(".crops.tmp-")]
    assert len(stale) == 1 and (stale[0] / paths.TEMP_MARKER).is_file()
    keep = _look_alikes(tmp_path, "crops")
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "data.txt").write_text("precious")
    before = {p: snapshot(p) for p in [*keep, tmp_path / "mine"]}
    with paths.atomic_dir(target) as tmp:
        (tmp / "a.txt").write_text("new")
    assert not stale[0].exists()
    assert {p: snapshot(p) for p in before} == before  # look-alikes and user files untouched
    assert sorted(p.name for p in target.iterdir()) == [paths.OUTPUT_MARKER, "a.txt"]


def test_a_killed_file_writer_leaves_a_temporary_file_the_next_write_removes(tmp_path):
    target = tmp_path / "model.pt"
    _killed_writer(f"""
        import torch
        from hsilib.paths import atomic_path
        with atomic_path({str(target)!r}) as tmp:
            torch.save({{"w": torch.zeros(1000)}}, tmp)
            import os, signal
            os.kill(os.getpid(), signal.SIGKILL)
    """)
    stale = [p for p in tmp_path.iterdir() if p.name.startswith(".model.pt.")]
    assert len(stale) == 1 and stale[0].stat().st_size > 1000
    look_alike = tmp_path / ".model.pt.notes.tmp.pt"  # named loosely alike, no process id
    look_alike.write_text("user file")
    with paths.atomic_path(target) as tmp:
        torch.save({"w": torch.ones(3)}, tmp)
    assert not stale[0].exists() and look_alike.read_text() == "user file"
    assert torch.load(target, weights_only=True)["w"].tolist() == [1.0, 1.0, 1.0]


# -- 3. a stored pickle is never read; no loader of the package unpickles -----------------------
def test_a_grid_never_unpickles_a_stored_result(tmp_path):
    from hsilib.study.grid import CELL_FILE, grid_cells, run_grid

    @dataclasses.dataclass(frozen=True)
    class Exp:  # a dataclass: its fingerprint is its fields
        name: str = "real"

    cell = grid_cells([Exp()], [0])[0]
    assert cell.fingerprint == grid_cells([Exp()], [0])[0].fingerprint
    folder = tmp_path / cell.name
    folder.mkdir()
    (folder / CELL_FILE).write_text(f'{{"fingerprint": "{cell.fingerprint}", "rows": 1}}')
    evil_pickle(folder / "result.pkl")  # what an older run (or someone else) left there
    (folder / paths.OUTPUT_MARKER).write_text("")
    got = run_grid([Exp()], lambda e, s, r: pd.DataFrame({"x": [1.5]}), seeds=[0],
                   out_dir=tmp_path)
    assert not (tmp_path / "PWNED").exists()
    assert got["x"].tolist() == [1.5] and (folder / grid.RESULT_FILE).is_file()


UNSAFE = [r"\bpickle\.loads?\(", r"read_pickle\(", r"allow_pickle\s*=\s*True", r"(?<![\w.])eval\(",
          r"(?<![\w.])exec\(", r"\bdill\b", r"joblib\.load", r"torch\.load\((?![^)]*weights_only"
          r"\s*=\s*True)"]


def test_no_loader_of_the_package_unpickles_or_evaluates():
    import re

    files = sorted((REPO / "hsilib").rglob("*.py")) + [REPO / "run_all.py"]
    found = [f"{p.relative_to(REPO)}:{i}: {line.strip()}" for p in files
             for i, line in enumerate(p.read_text().splitlines(), 1)
             if any(re.search(u, line) for u in UNSAFE) and not line.lstrip().startswith("#")]
    assert found == []


def test_the_unsafe_patterns_catch_what_they_are_for():
    import re

    for line in ("pd.read_pickle(p)", "pickle.load(f)", "np.load(p, allow_pickle=True)",
                 "torch.load(p)", "torch.load(p, weights_only=False)", "eval(text)"):
        assert any(re.search(u, line) for u in UNSAFE), line
    for line in ("torch.load(p, map_location=d, weights_only=True)", "model.eval()"):
        assert not any(re.search(u, line) for u in UNSAFE), line

