"""The run layout: the one place that says where every output of a run lives.

A run folder (default ``runs/<profile>/`` at the repository root) holds::

    runs/<profile>/
        manifest.json         what ran, with which code, parameters and outcome (run_all.py)
        notebooks/            executed copies of the notebooks
        artifacts/            data passed between notebooks (the only channel between them)
            standin/          the generated stand-in data set (HSIDermoscopy layout + truth + RGB)
            crops/            lesion crops and their index table (notebook 01)
            splits/           train/val/test and K-fold CSVs, normalisation JSON (notebook 01);
                              per-fold tables and normalisers (notebook 03, cross-validation)
            synthetic/<name>/ exported synthetic crops (notebooks 03-05)
            results/          tables and predictions (later notebooks), among them
                              generator_metrics.csv: every generator evaluation (03-05, 02)
        figures/              PNG (and PDF under the full profile)
        checkpoints/          model weights with their resolved config
        bench/                benchmark JSON (python -m hsilib.bench)

Notebooks declare what they read with :meth:`RunPaths.require`, which fails early with a
message that names the missing file and the notebook that makes it.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

#: The repository root (the folder that holds ``hsilib/``).
REPO_ROOT = Path(__file__).resolve().parent.parent
#: Default parent of run folders.
RUNS_ROOT = REPO_ROOT / "runs"


class MissingInputError(FileNotFoundError):
    """A notebook's input is missing: the notebook that writes it has not run."""


@dataclass(frozen=True)
class RunPaths:
    """Folders of one run. Build with :func:`run_paths`; nothing is created until asked."""

    root: Path

    @property
    def manifest(self) -> Path:
        return self.root / "manifest.json"

    @property
    def notebooks(self) -> Path:
        return self.root / "notebooks"

    @property
    def artifacts(self) -> Path:
        return self.root / "artifacts"

    @property
    def figures(self) -> Path:
        return self.root / "figures"

    @property
    def checkpoints(self) -> Path:
        return self.root / "checkpoints"

    @property
    def bench(self) -> Path:
        return self.root / "bench"

    # Named artifacts shared by several notebooks ------------------------------------------
    @property
    def standin(self) -> Path:
        """Generated stand-in data: ``hsidermoscopy/`` (real layout), ``truth/``, ``rgb/``."""
        return self.artifacts / "standin"

    @property
    def crops(self) -> Path:
        return self.artifacts / "crops"

    @property
    def splits(self) -> Path:
        return self.artifacts / "splits"

    @property
    def results(self) -> Path:
        return self.artifacts / "results"

    @property
    def generator_metrics(self) -> Path:
        """The one table of generator evaluations every generator notebook appends to."""
        return self.results / "generator_metrics.csv"

    def synthetic(self, name: str) -> Path:
        """Folder of one exported synthetic set, e.g. ``synthetic("fastgan_mm")``."""
        return self.artifacts / "synthetic" / name

    def make(self) -> RunPaths:
        """Create the standard folders (idempotent) and return self."""
        for p in (self.notebooks, self.artifacts, self.figures, self.checkpoints):
            p.mkdir(parents=True, exist_ok=True)
        return self

    def require(self, path: str | os.PathLike, made_by: str) -> Path:
        """Return ``path`` (relative to the run folder or absolute) if it exists, else fail early.

        ``made_by`` names the notebook that writes it, so the message says what to run first.
        """
        p = Path(path)
        p = p if p.is_absolute() else self.root / p
        if not p.exists():
            raise MissingInputError(
                f"{p} is missing: run notebook {made_by} first for this run folder "
                f"(python run_all.py --only {made_by[:2]} --out {self.root})"
            )
        return p


def run_paths(run_dir: str | os.PathLike | None = None, profile: str = "quick") -> RunPaths:
    """The run folder ``run_dir``, or ``runs/<profile>/`` when it is None."""
    root = Path(run_dir) if run_dir else RUNS_ROOT / profile
    return RunPaths(root.expanduser().resolve())


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


@contextmanager
def atomic_path(target: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside ``target``; rename it onto ``target`` only on success.

    An interrupted write leaves no half-written ``target`` behind::

        with atomic_path(out / "index.csv") as tmp:
            table.to_csv(tmp)
    """
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.",
                               suffix=f".tmp{target.suffix}")  # keep the suffix: savers check it
    os.close(fd)
    tmp = Path(tmp)
    try:
        yield tmp
        if tmp.is_file():  # mkstemp makes 0600 files: give the result the usual permissions
            os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, target)
    finally:
        if tmp.exists():
            tmp.unlink()


@contextmanager
def atomic_dir(target: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary folder beside ``target``; on success it replaces ``target`` whole.

    An existing ``target`` is removed only once the new folder is complete; an exception leaves
    the old one untouched and no temporary folder behind.
    """
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=target.parent, prefix=f".{target.name}.tmp-"))
    try:
        yield tmp
        os.chmod(tmp, 0o777 & ~_umask())  # mkdtemp makes 0700 folders
        if target.exists():
            shutil.rmtree(target)
        os.replace(tmp, target)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp)
