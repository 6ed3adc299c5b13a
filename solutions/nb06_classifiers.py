"""Notebook 06: one run's test numbers and the Holm adjustment, recomputed by hand."""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.metrics import roc_auc_score

from hsilib.metrics.classification import choose_threshold

from ._run import result

MADE_BY = {"06": "06_classifiers", "07": "07_proportions"}


def recompute_run(run, config: str = "real", seed: int = 0, generator_seed: int = -1,
                  rule: str = "youden", prefix: str = "06") -> dict[str, float]:
    """The test numbers of one run (config, classifier seed, generator replicate; -1 for runs
    without one) from ``<prefix>_predictions.csv`` alone: the threshold chosen on the run's
    validation crops by ``rule``, then sensitivity and specificity of the test crops at it
    (melanoma, label 1, is positive) and the threshold-free AUROC."""
    preds = result(run, f"{prefix}_predictions", MADE_BY[prefix])
    one = preds[(preds["config"] == config) & (preds["seed"] == seed)
                & (preds["generator_seed"] == generator_seed)]
    if one.empty:
        raise ValueError(f"no predictions of config {config!r}, seed {seed}, generator seed "
                         f"{generator_seed} in {prefix}_predictions.csv")
    val, test = one[one["split"] == "val"], one[one["split"] == "test"]
    threshold = choose_threshold(val["label"], val["p_mm"], rule)
    called = test["p_mm"] >= threshold
    mm = test["label"] == 1
    return {"threshold": threshold, "n_test": float(len(test)),
            "sensitivity": float(called[mm].mean()), "specificity": float((~called[~mm]).mean()),
            "auroc": float(roc_auc_score(test["label"], test["p_mm"]))}


def holm_by_hand(pvalues) -> np.ndarray:
    """Holm's step-down adjustment written out: the i-th smallest of m p-values times
    (m - i + 1), never below the adjusted value before it, at most 1; NaN stays NaN."""
    p = np.asarray(pvalues, dtype=float)
    out = np.full(p.shape, np.nan)
    finite = np.flatnonzero(np.isfinite(p))
    running = 0.0
    for i, k in enumerate(finite[np.argsort(p[finite])]):
        running = max(running, min(1.0, (len(finite) - i) * p[k]))
        out[k] = running
    return out


def holm_table(run, metric: str = "auroc") -> pd.DataFrame:
    """``06_paired.csv``'s rows of ``metric`` with ``p_t_holm_by_hand``: the paired t-tests'
    p-values adjusted across the table's configurations by :func:`holm_by_hand`."""
    paired = result(run, "06_paired", MADE_BY["06"])
    rows = paired[paired["metric"] == metric].copy()
    rows["p_t_holm_by_hand"] = holm_by_hand(rows["p_t"])
    return rows[["config", "diff", "p_t", "p_t_holm", "p_t_holm_by_hand", "verdict"]]
