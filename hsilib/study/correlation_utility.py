"""The utility of a generator state: what its crops do to a fixed probe classifier (notebook 08).

Every probe run (one configuration, one classifier seed, one fold or the fixed split) is scored
on its test predictions by :func:`probe_scores`: AUROC, the sensitivity at a fixed
specificity (the best test sensitivity whose specificity reaches the target, read off the test
ROC curve: no threshold is chosen, so no validation noise enters), the Brier score and the
expected calibration error (ECE: equal-width bins of the predicted melanoma probability, the
mean |observed share - mean probability| weighted by the bins' sizes). Melanoma is the positive
class. The maintained implementations are used: torchmetrics for the sensitivity and the ECE,
scikit-learn for the Brier score.

:func:`utility_table` turns them into each state's utility: its runs minus the real-only
baseline's, paired by classifier seed and fold (the same seed gives both runs the same initial
weights and batch order as far as the training sets allow), with the Student-t interval over
those pairs (:func:`hsilib.metrics.intervals.t_interval`): the interval covers the probe's
training noise on a fixed test set, not test sampling. AUROC and sensitivity rise when a state
helps, Brier and ECE fall.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
from scipy import stats

from ..metrics import classification as cm
from ..metrics.intervals import t_interval

#: Utilities of a state, in the order of the tables: what rises when it helps, then what falls.
UTILITIES = ("auroc", "sens_at_spec", "brier", "ece")
#: Utilities that fall when a state helps (lower is better).
LOWER_IS_BETTER = ("brier", "ece")
#: Name of the real-only probe configuration, and of the real + duplicated-real control.
BASELINE = "real"
DUPLICATED = "real+dup"
#: Suffix of the controls run per fold under cross-validation (each fold its own test crops).
FOLDS = "_folds"
#: The real-only configurations a state's runs are paired with (by seed and fold).
BASELINES = (BASELINE, BASELINE + FOLDS)
#: One probe run: configuration, classifier seed, fold (-1: the fixed split).
RUN_KEYS = ["config", "seed", "fold"]
#: Paired differences that spread less than this (relative to their size, at least 1) are
#: constant over seeds: float rounding, not a sample to test (:func:`utility_table`).
CONSTANT_TOL = 1e-9


def run_scores(y, p, *, specificity: float = 0.8, bins: int = 10) -> dict[str, float]:
    """The four utilities' scores of one run's test predictions (labels ``y``, melanoma
    probabilities ``p``)."""
    import torch
    from sklearn.metrics import brier_score_loss
    from torchmetrics.functional.classification import (
        binary_calibration_error,
        binary_sensitivity_at_specificity,
    )

    y = np.array(y, int)  # copies: a table's column is read-only, and torch wants to own it
    p = np.array(p, float)
    if y.min() == y.max():
        raise ValueError("run_scores: the test set needs both melanoma and nevus")
    pt, yt = torch.as_tensor(p, dtype=torch.float64), torch.as_tensor(y)
    sens, _ = binary_sensitivity_at_specificity(pt, yt, min_specificity=specificity)
    return {"auroc": cm.auroc(y, p), "sens_at_spec": float(sens),
            "brier": float(brier_score_loss(y, p)),
            "ece": float(binary_calibration_error(pt, yt, n_bins=bins, norm="l1"))}


def probe_scores(preds: pd.DataFrame, *, specificity: float = 0.8, bins: int = 10,
                 test_split: str = "test") -> pd.DataFrame:
    """One row per probe run (:data:`RUN_KEYS`) with the scores of :func:`run_scores` on its
    ``test_split`` predictions and ``n_test``; ``preds`` as
    :func:`hsilib.train.classifier.run_experiment` returns them."""
    test = preds[preds["split"] == test_split]
    if test.empty:
        raise ValueError(f"probe_scores: no predictions on split {test_split!r}")
    rows = []
    for key, g in test.groupby(RUN_KEYS, sort=False):
        rows.append({**dict(zip(RUN_KEYS, key, strict=True)), "n_test": len(g),
                     **run_scores(g["label"], g["p_mm"], specificity=specificity, bins=bins)})
    return pd.DataFrame(rows)


def utility_table(scores: pd.DataFrame, states: Sequence[str], *,
                  baseline: Sequence[str] = BASELINES, utilities: Sequence[str] = UTILITIES,
                  level: float = 0.95) -> pd.DataFrame:
    """Per state and utility: ``diff`` (mean over runs of the state's score minus the
    baseline's, paired by seed and fold), its t-interval ``lo``/``hi``, the paired t-test
    ``p_t`` (NaN with fewer than two pairs) and ``n_pairs``. ``baseline``: the real-only
    configurations (one per split table); a state's runs are paired with the baseline runs of
    their own fold (its own test crops)."""
    base = scores[scores["config"].isin(list(baseline))]
    if base.empty:
        raise ValueError(f"utility_table: no runs of the baseline {list(baseline)}")
    if base.duplicated(["seed", "fold"]).any():
        raise ValueError(f"utility_table: the baseline {list(baseline)} has several runs per "
                         "seed and fold")
    rows = []
    for s in states:
        own = scores[scores["config"] == s]
        pairs = own.merge(base, on=["seed", "fold"], suffixes=("", "_base"))
        if pairs.empty:
            raise ValueError(f"utility_table: state {s!r} shares no seed and fold with the "
                             f"baseline {list(baseline)}")
        for u in utilities:
            d = (pairs[u] - pairs[f"{u}_base"]).to_numpy(float)
            mean, lo, hi = t_interval(d, level)
            p = float("nan")
            # differences equal up to rounding (e.g. the same AUROC reached twice) are
            # constant: no t-test, whose variance would be rounding noise
            tol = CONSTANT_TOL * max(1.0, float(np.abs(d).max())) if d.size else 0.0
            if d.size >= 2 and np.ptp(d) > tol:
                p = float(stats.ttest_1samp(d, 0.0).pvalue)
            elif d.size >= 2 and np.abs(d).max() <= tol:
                p = 1.0
            rows.append({"state": s, "utility": u, "diff": mean, "lo": lo, "hi": hi, "p_t": p,
                         "n_pairs": int(d.size)})
    return pd.DataFrame(rows)


def helps(row: pd.Series, alpha: float = 0.05) -> int:
    """+1 when a utility row says the state helps (AUROC or sensitivity up, Brier or ECE down,
    the interval excluding 0 and the paired t-test's p below ``alpha``, uncorrected), -1 when
    it says it hurts, 0 otherwise (a constant difference over seeds has no p-value and counts
    as 0)."""
    lo, hi, p = row["lo"], row["hi"], row["p_t"]
    if not (np.isfinite(lo) and np.isfinite(hi) and np.isfinite(p)) or lo <= 0 <= hi \
            or not p < alpha:
        return 0
    up = lo > 0
    return (1 if up else -1) * (-1 if row["utility"] in LOWER_IS_BETTER else 1)
