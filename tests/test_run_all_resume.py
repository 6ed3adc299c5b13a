"""A run killed (SIGKILL, a real process) in the middle of a training resumes inside the notebook
when run_all.py runs again, from the training's last checkpoint, and ends bit-exactly where an
uninterrupted run ends (CPU). The notebook is a small one written here, trained the way the
study's notebooks train (:meth:`~hsilib.train.trainer.Trainer.resume_if_interrupted`, then
``fit``), so that the test takes seconds."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import nbformat
import torch

REPO = Path(__file__).resolve().parent.parent

TRAIN = '''\
import os, time, warnings
from pathlib import Path
import torch
from hsilib import config
from hsilib.runtime import seed_everything
from hsilib.train.trainer import make_trainer

def pause(step, images):  # the test kills the run while it waits here, at step 3
    if step == 3 and os.environ.get("KILL_MARK"):
        Path(os.environ["KILL_MARK"]).write_text(str(os.getpid()))
        time.sleep(120)

seed_everything(SEED)
cfg = config.resolve("smoke", "fastgan", ngf=4, ndf=4, z_dim=16, checkpoint_every=1)
images = torch.rand(8, 16, 32, 32, generator=torch.Generator().manual_seed(3)) * 2 - 1
with warnings.catch_warnings():
    warnings.simplefilter("ignore")  # no LPIPS weights: the documented fallback
    trainer = make_trainer(cfg, images, seed=0, device="cpu", log_every=1, sample_every=1,
                           on_sample=pause)
    trainer.objective.recon
ckpt = Path(RUN_DIR) / "checkpoints" / "g.pt"
ckpt.parent.mkdir(parents=True, exist_ok=True)
resumed = trainer.resume_if_interrupted(ckpt)
(Path(RUN_DIR) / "start.txt").write_text(str(trainer.step))
trainer.fit(6, checkpoint=ckpt)
'''


def _notebook(folder: Path) -> None:
    nb = nbformat.v4.new_notebook()
    params = nbformat.v4.new_code_cell('PROFILE = "smoke"\nSEED = 0\nDATA_DIR = None\n'
                                       'RUN_DIR = None')
    params.metadata["tags"] = ["parameters"]
    nb.cells = [nbformat.v4.new_markdown_cell("# 05 train"), params,
                nbformat.v4.new_code_cell(TRAIN)]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3",
                                 "language": "python"}
    folder.mkdir()
    nbformat.write(nb, folder / "05_train.ipynb")


def _run_all(notebooks: Path, out: Path, **env) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, str(REPO / "run_all.py"), "--profile", "smoke", "--out", str(out),
         "--notebooks", str(notebooks)], cwd=REPO, env={**os.environ, **env},
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True)


def _state(path: Path) -> dict:
    ckpt = torch.load(path, weights_only=True)
    return {k: ckpt[k] for k in ("step", "objective", "optimizers", "history")}


def _equal(a, b) -> bool:
    if isinstance(a, torch.Tensor):
        return isinstance(b, torch.Tensor) and torch.equal(a, b)
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(_equal(a[k], b[k]) for k in a)
    if isinstance(a, (list, tuple)):
        return len(a) == len(b) and all(_equal(x, y) for x, y in zip(a, b, strict=True))
    return a == b


def test_run_killed_mid_training_resumes_inside_the_notebook_exactly(tmp_path):
    notebooks = tmp_path / "notebooks"
    _notebook(notebooks)
    mark = tmp_path / "kernel.pid"
    killed = _run_all(notebooks, tmp_path / "run", KILL_MARK=str(mark))
    deadline = time.monotonic() + 180
    while not mark.exists():
        assert killed.poll() is None, killed.stdout.read()
        assert time.monotonic() < deadline, "the training never reached step 3"
        time.sleep(0.2)
    os.kill(int(mark.read_text()), signal.SIGKILL)  # the notebook's kernel, mid-training
    os.killpg(killed.pid, signal.SIGKILL)  # and run_all.py
    killed.wait(30)
    run = tmp_path / "run"
    manifest = json.loads((run / "manifest.json").read_text())
    assert manifest["notebooks"]["05_train"]["status"] == "running"  # it never finished
    assert _state(run / "checkpoints" / "g.pt")["step"] == 2  # step 2's checkpoint on disk
    status = json.loads((run / "status.json").read_text())
    assert status["notebook"] == "05_train" and status["training"] == "fastgan"

    again = _run_all(notebooks, run)
    out, _ = again.communicate(timeout=300)
    assert again.returncode == 0, out
    assert "resuming inside the notebook" in out
    assert (run / "start.txt").read_text() == "2"  # went on from its last checkpoint

    whole = _run_all(notebooks, tmp_path / "whole")
    out, _ = whole.communicate(timeout=300)
    assert whole.returncode == 0, out
    assert (tmp_path / "whole" / "start.txt").read_text() == "0"
    resumed, uninterrupted = (_state(r / "checkpoints" / "g.pt") for r in (run,
                                                                           tmp_path / "whole"))
    assert resumed["step"] == uninterrupted["step"] == 6
    assert _equal(resumed, uninterrupted)
