"""Notebook 07: the melanoma prior of every training set, and the amount curve's numbers."""

from __future__ import annotations

import pandas as pd

from . import nb06_classifiers
from ._run import result


def mm_share(run) -> pd.DataFrame:
    """Per training set of ``07_composition.csv``: melanoma crops (real, synthetic,
    duplicated), all crops, and the melanoma share recomputed from the counts; ``prior_shift``
    is that share minus the real-only one (a melanoma-only mix raises it, a both-classes mix
    keeps it near the real ratio)."""
    t = result(run, "07_composition", "07_proportions")
    mm = t[["MM real", "MM synthetic", "MM duplicated"]].sum(axis=1)
    total = mm + t[["DN real", "DN synthetic", "DN duplicated"]].sum(axis=1)
    real = t["MM real"] / (t["MM real"] + t["DN real"])
    return pd.DataFrame({"config": t["config"], "MM": mm, "total": total,
                         "MM_share": mm / total, "prior_shift": mm / total - real})


def recompute_run(run, config: str = "real", seed: int = 0,
                  generator_seed: int = -1) -> dict[str, float]:
    """One run of notebook 07 recomputed from ``07_predictions.csv`` exactly as in notebook 06
    (:func:`solutions.nb06_classifiers.recompute_run`)."""
    return nb06_classifiers.recompute_run(run, config, seed, generator_seed, prefix="07")
