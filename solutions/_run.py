"""Reading a run folder's tables, with an error naming the notebook that writes each one."""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd

from hsilib.paths import RunPaths, run_paths


def paths(run: str | os.PathLike) -> RunPaths:
    """The layout of the run folder ``run``."""
    if not Path(run).is_dir():
        raise FileNotFoundError(f"{run}: no such run folder")
    return run_paths(run)


def result(run: str | os.PathLike, name: str, made_by: str) -> pd.DataFrame:
    """``artifacts/results/<name>.csv`` of the run, e.g. ``result(run, "06_summary",
    "06_classifiers")``."""
    p = paths(run)
    return pd.read_csv(p.require(p.results / f"{name}.csv", made_by))
