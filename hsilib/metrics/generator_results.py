"""The study's generator-results table: one row per evaluated synthetic set and metric.

Every generator notebook adds the table of :func:`hsilib.metrics.protocol.evaluate_generator`
for each synthetic set it evaluates (:func:`record_generator_metrics`); notebook 08 reads only
this table (:func:`read_generator_metrics`) and the classifier results.

Introduced in notebook 02.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from ..paths import atomic_path

#: One row per (notebook, family, variant, class, seed, step, metric): the keys of a result.
RESULT_KEYS = ["notebook", "family", "variant", "class", "seed", "step", "metric"]
RESULT_COLUMNS = [*RESULT_KEYS, "value", "floor", "ci_low", "ci_high", "n_synthetic", "n_real",
                  "wall_s"]


def record_generator_metrics(path: str | Path, table: pd.DataFrame, *, notebook: str,
                             family: str, variant: str, cls: str, seed: int, step: int,
                             wall_s: float = float("nan")) -> pd.DataFrame:
    """Add one evaluation to the generator-results table at ``path`` and return the table.

    ``table`` is what :func:`evaluate_generator` returned for one synthetic set; the keyword
    arguments say which set it was (``variant`` names the configuration within a family, e.g.
    ``"baseline"`` or ``"spectral"``; ``step`` the generator's training step; ``wall_s`` the
    seconds its training took). Rows with the same keys are replaced, so a rerun updates
    instead of duplicating. ``ci_low``/``ci_high`` come from ``table`` where it has them and
    are empty otherwise. The file is rewritten atomically. Every generator notebook writes here
    and notebook 08 reads only this table (and the classifier results).
    """
    path = Path(path)
    rows = table.reindex(columns=["metric", "value", "floor", "ci_low", "ci_high",
                                  "n_synthetic", "n_real"]).assign(
        notebook=str(notebook), family=str(family), variant=str(variant), seed=int(seed),
        step=int(step), wall_s=float(wall_s), **{"class": str(cls)})[RESULT_COLUMNS]
    if rows.metric.duplicated().any():
        raise ValueError("the evaluation table repeats a metric; one row per metric expected")
    old = read_generator_metrics(path) if path.exists() else None
    if old is not None and len(old):
        keys = pd.MultiIndex.from_frame(rows[RESULT_KEYS].astype(str))
        stale = pd.MultiIndex.from_frame(old[RESULT_KEYS].astype(str)).isin(keys)
        rows = pd.concat([old[~stale], rows], ignore_index=True)
    with atomic_path(path) as tmp:
        rows.to_csv(tmp, index=False)
    return rows


def read_generator_metrics(path: str | Path) -> pd.DataFrame:
    """The generator-results table at ``path``, with its columns checked (key columns read as
    text, so notebook "03" stays "03" and a rerun replaces its rows instead of adding them)."""
    table = pd.read_csv(path, dtype={k: str for k in ("notebook", "family", "variant", "class")})
    missing = [c for c in RESULT_COLUMNS if c not in table.columns]
    if missing:
        raise ValueError(f"{path} is not a generator-results table: no columns {missing}")
    return table[RESULT_COLUMNS]
