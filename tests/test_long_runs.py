"""The long runs of ``make test-all`` (marked slow: deselected by ``make test``).

- the ``full`` profile's dry run (every notebook at full shapes with every loop cut short, over
  half an hour on 2 cores and some 20 GB of disk);
- the ``lab`` profile (about 19 minutes on 2 cores, every notebook within 5), with what its
  notebooks teach checked on its results (``tests/long_runs.py`` says what).

Their wall times are not asserted (a shared machine would fail them); docs/full_profile.md and
docs/teaching.md report the measured ones.
"""

import os
import subprocess
import sys
from pathlib import Path

import pytest
from long_runs import dry_run_problems, lab_problems

from hsilib import config

REPO = Path(__file__).resolve().parent.parent


def run_all(out: Path, *args: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, OMP_WAIT_POLICY="PASSIVE")
    return subprocess.run([sys.executable, str(REPO / "run_all.py"), "--out", str(out), *args],
                          cwd=REPO, capture_output=True, text=True, env=env)


@pytest.mark.slow
def test_the_full_profile_dry_run_runs_every_notebook_and_plans_every_training(tmp_path):
    proc = run_all(tmp_path / "full-dry", "--profile", "full", "--dry-run")
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-4000:]
    assert not dry_run_problems(tmp_path / "full-dry")


@pytest.mark.slow
def test_the_lab_profile_still_shows_what_the_notebooks_teach(tmp_path):
    proc = run_all(tmp_path / "lab", "--profile", "lab")
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-4000:]
    steps = config.resolve("lab", "gan_study").compare_steps
    assert not lab_problems(tmp_path / "lab", steps)
