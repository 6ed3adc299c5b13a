"""Melanoma-classifier metrics with confidence intervals and paired tests (notebook 06).

Melanoma is the POSITIVE class everywhere (label 1 = MM, 0 = DN); ``p`` is always the predicted
probability of melanoma. The original study reported F1 and recall with dysplastic nevus as the
positive class; this module never does.

Protocol (see ``docs/original_study.md``, flaws 2 and 5):

1. a decision threshold is chosen on the VALIDATION predictions (:func:`choose_threshold`) and then
   applied unchanged to the test predictions;
2. each test score comes with a stratified bootstrap 95% CI (:func:`bootstrap_ci`);
3. two classifiers on the same test images are compared with a paired bootstrap of the difference
   and an exact McNemar test on the discordant pairs (:func:`paired_bootstrap`, :func:`mcnemar`);
4. runs over several seeds are summarised by their mean and a t-based 95% CI
   (:func:`aggregate_seeds`), and compared with a paired t-test over seeds (:func:`compare_seeds`).

Ranking metrics (AUROC, AUPRC) do not depend on the threshold. AUROC is the Mann-Whitney statistic
with mid-ranks for ties; AUPRC is average precision (the step-wise sum used by scikit-learn's
``average_precision_score``), not the trapezoidal area, which is optimistic (Davis & Goadrich 2006).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
from scipy import stats

#: Threshold metrics (need a decision threshold) then ranking metrics (use the probabilities).
THRESHOLD_METRICS = ("sensitivity", "specificity", "precision", "f1", "balanced_accuracy",
                     "accuracy")
RANKING_METRICS = ("auroc", "auprc")
METRICS = THRESHOLD_METRICS + RANKING_METRICS


def _check(y_true, p) -> tuple[np.ndarray, np.ndarray]:
    y = np.asarray(y_true).astype(int).ravel()
    q = np.asarray(p, dtype=float).ravel()
    if y.shape != q.shape:
        raise ValueError(f"y_true has {y.size} entries but p has {q.size}")
    if not np.isin(y, (0, 1)).all():
        raise ValueError("y_true must hold 0 (DN) / 1 (MM, the positive class) only")
    if not np.isfinite(q).all():
        raise ValueError("p (probability of melanoma) contains NaN or inf")
    return y, q


# --------------------------------------------------------------------------------------------
# Point estimates
# --------------------------------------------------------------------------------------------
def confusion(y_true, y_pred) -> dict[str, int]:
    """Counts, melanoma positive: ``tp`` (MM called MM), ``fn``, ``fp`` (DN called MM), ``tn``."""
    y, yhat = _check(y_true, y_pred)
    return {"tp": int(((y == 1) & (yhat == 1)).sum()), "fn": int(((y == 1) & (yhat == 0)).sum()),
            "fp": int(((y == 0) & (yhat == 1)).sum()), "tn": int(((y == 0) & (yhat == 0)).sum())}


def _ratio(a: float, b: float) -> float:
    # 0/0 (e.g. precision when nothing is called melanoma) is reported as 0, as scikit-learn's
    # zero_division=0 does, so that a silent classifier is never rewarded with NaN-skipping.
    return float(a / b) if b > 0 else 0.0


def threshold_scores(y_true, y_pred) -> dict[str, float]:
    """Sensitivity (melanoma recall), specificity (DN recall), precision, F1, balanced accuracy."""
    c = confusion(y_true, y_pred)
    sens = _ratio(c["tp"], c["tp"] + c["fn"])
    spec = _ratio(c["tn"], c["tn"] + c["fp"])
    prec = _ratio(c["tp"], c["tp"] + c["fp"])
    return {"sensitivity": sens, "specificity": spec, "precision": prec,
            "f1": _ratio(2 * c["tp"], 2 * c["tp"] + c["fp"] + c["fn"]),
            "balanced_accuracy": (sens + spec) / 2,
            "accuracy": _ratio(c["tp"] + c["tn"], sum(c.values()))}


def auroc(y_true, p) -> float:
    """Area under the ROC curve = P(p of a random melanoma > p of a random nevus); ties 1/2."""
    y, q = _check(y_true, p)
    n_pos, n_neg = int(y.sum()), int((1 - y).sum())
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    ranks = stats.rankdata(q)  # mid-ranks for ties
    return float((ranks[y == 1].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def auprc(y_true, p) -> float:
    """Average precision: sum over distinct thresholds of (recall step) x precision."""
    y, q = _check(y_true, p)
    n_pos = int(y.sum())
    if n_pos == 0:
        return float("nan")
    order = np.argsort(-q, kind="mergesort")
    q, y = q[order], y[order]
    last = np.r_[np.flatnonzero(np.diff(q)), q.size - 1]  # last index of each tie group
    tps = np.cumsum(y)[last]
    precision = tps / (last + 1)
    recall = tps / n_pos
    return float(np.sum(np.diff(np.r_[0.0, recall]) * precision))


def scores(y_true, p, threshold: float = 0.5) -> dict[str, float]:
    """Every metric of :data:`METRICS`; melanoma is called when ``p >= threshold``."""
    y, q = _check(y_true, p)
    out = threshold_scores(y, (q >= threshold).astype(int))
    out["auroc"] = auroc(y, q)
    out["auprc"] = auprc(y, q)
    return out


def choose_threshold(y_val, p_val, rule: str = "youden") -> float:
    """Decision threshold from VALIDATION predictions, to be applied unchanged to the test set.

    ``rule``: ``"youden"`` maximises sensitivity + specificity - 1 (Youden 1950); ``"f1"``
    maximises melanoma F1; ``"fixed"`` returns 0.5. Candidates are the midpoints between
    consecutive distinct validation probabilities (plus both ends), so a tiny shift of a test
    probability cannot flip a tie; the first of equally good candidates (largest threshold,
    i.e. most specific) wins, which makes the choice deterministic.
    """
    if rule == "fixed":
        return 0.5
    if rule not in ("youden", "f1"):
        raise ValueError(f"rule must be 'youden', 'f1' or 'fixed', got {rule!r}")
    y, q = _check(y_val, p_val)
    if y.min() == y.max():
        raise ValueError("the validation set needs both melanoma and nevus to choose a threshold")
    u = np.unique(q)
    cands = np.r_[u[-1] + 1e-6, ((u[1:] + u[:-1]) / 2)[::-1], u[0] - 1e-6]  # descending
    best, best_t = -np.inf, 0.5
    for t in cands:
        s = threshold_scores(y, (q >= t).astype(int))
        val = s["sensitivity"] + s["specificity"] - 1 if rule == "youden" else s["f1"]
        if val > best + 1e-12:
            best, best_t = val, float(t)
    return best_t


# --------------------------------------------------------------------------------------------
# Bootstrap confidence intervals and paired comparisons
# --------------------------------------------------------------------------------------------
def _stratified_indices(y: np.ndarray, n_boot: int, seed: int) -> np.ndarray:
    """``n_boot`` x n resample indices drawn with replacement WITHIN each class.

    Keeping the class counts fixed makes every resample contain both classes (AUROC is defined)
    and matches the design: the test set's class sizes are fixed by the split, not random.
    """
    rng = np.random.default_rng(seed)
    pos, neg = np.flatnonzero(y == 1), np.flatnonzero(y == 0)
    return np.concatenate([rng.choice(pos, (n_boot, pos.size)),
                           rng.choice(neg, (n_boot, neg.size))], axis=1)


def bootstrap_ci(y_true, p, threshold: float, n_boot: int = 2000, seed: int = 0,
                 level: float = 0.95) -> pd.DataFrame:
    """Point estimate and percentile bootstrap CI of every metric on one test set.

    Returns a table with columns ``metric, value, lo, hi`` (melanoma positive).
    """
    y, q = _check(y_true, p)
    idx = _stratified_indices(y, n_boot, seed)
    boot = pd.DataFrame([scores(y[i], q[i], threshold) for i in idx])
    point = scores(y, q, threshold)
    a = (1 - level) / 2
    return pd.DataFrame({"metric": list(METRICS), "value": [point[m] for m in METRICS],
                         "lo": [boot[m].quantile(a) for m in METRICS],
                         "hi": [boot[m].quantile(1 - a) for m in METRICS]})


def mcnemar(y_true, pred_a, pred_b) -> dict[str, float]:
    """Exact McNemar test: do classifiers A and B make different numbers of errors?

    ``b`` = images A gets right and B gets wrong, ``c`` = the reverse. Under the null each
    discordant image is a fair coin, so the two-sided p-value is a binomial test of b out of
    b + c at 1/2 (scipy.stats.binomtest). With no discordant pairs the p-value is 1.
    """
    y, a = _check(y_true, pred_a)
    _, b_ = _check(y_true, pred_b)
    right_a, right_b = a == y, b_ == y
    b = int((right_a & ~right_b).sum())
    c = int((~right_a & right_b).sum())
    pval = 1.0 if b + c == 0 else float(stats.binomtest(b, b + c, 0.5).pvalue)
    return {"b": b, "c": c, "p_value": pval}


def paired_bootstrap(y_true, p_a, p_b, threshold_a: float, threshold_b: float,
                     n_boot: int = 2000, seed: int = 0, level: float = 0.95) -> pd.DataFrame:
    """Bootstrap of the difference B - A of every metric on the SAME resampled test images.

    Columns: ``metric, a, b, diff, lo, hi, p_boot``. ``p_boot`` is the two-sided bootstrap
    p-value (twice the smaller tail fraction of the differences around 0); the CI is the
    percentile interval. Resampling the images jointly keeps the pairing, which is what makes
    this test more powerful than comparing two separate CIs.
    """
    y, qa = _check(y_true, p_a)
    _, qb = _check(y_true, p_b)
    idx = _stratified_indices(y, n_boot, seed)
    da = pd.DataFrame([scores(y[i], qa[i], threshold_a) for i in idx])
    db = pd.DataFrame([scores(y[i], qb[i], threshold_b) for i in idx])
    diff = db - da
    sa, sb = scores(y, qa, threshold_a), scores(y, qb, threshold_b)
    al = (1 - level) / 2
    rows = []
    for m in METRICS:
        d = diff[m].to_numpy()
        # (1 + count) / (1 + n_boot): a bootstrap p-value is never exactly 0
        p_boot = min(1.0, (1 + 2 * min((d <= 0).sum(), (d >= 0).sum())) / (n_boot + 1))
        rows.append({"metric": m, "a": sa[m], "b": sb[m], "diff": sb[m] - sa[m],
                     "lo": float(np.quantile(d, al)), "hi": float(np.quantile(d, 1 - al)),
                     "p_boot": float(p_boot)})
    return pd.DataFrame(rows)


# --------------------------------------------------------------------------------------------
# Several seeds
# --------------------------------------------------------------------------------------------
def t_interval(values: Sequence[float], level: float = 0.95) -> tuple[float, float, float]:
    """Mean and Student-t CI of the mean of ``values`` (NaN bounds for fewer than two values)."""
    v = np.asarray(values, dtype=float)
    v = v[np.isfinite(v)]
    if v.size == 0:
        return float("nan"), float("nan"), float("nan")
    mean = float(v.mean())
    if v.size < 2:
        return mean, float("nan"), float("nan")
    half = stats.t.ppf(0.5 + level / 2, v.size - 1) * v.std(ddof=1) / np.sqrt(v.size)
    return mean, float(mean - half), float(mean + half)


def aggregate_seeds(per_seed: pd.DataFrame, by: str | Sequence[str] = "config",
                    metrics: Sequence[str] = METRICS, level: float = 0.95) -> pd.DataFrame:
    """Mean, standard deviation and t-based CI over seeds: one row per group and metric.

    ``per_seed`` has one row per (group, seed) and one column per metric, as returned by
    :func:`hsilib.train.classifier.test_metrics`. Columns: ``<by>, metric, mean, sd, lo, hi, n``.
    """
    by = [by] if isinstance(by, str) else list(by)
    rows = []
    for key, g in per_seed.groupby(by, sort=False):
        key = key if isinstance(key, tuple) else (key,)
        for m in metrics:
            mean, lo, hi = t_interval(g[m], level)
            rows.append({**dict(zip(by, key, strict=True)), "metric": m, "mean": mean,
                         "sd": float(g[m].std(ddof=1)) if len(g) > 1 else float("nan"),
                         "lo": lo, "hi": hi, "n": int(g[m].notna().sum())})
    return pd.DataFrame(rows)


def compare_seeds(per_seed: pd.DataFrame, baseline: str, other: str, metric: str,
                  level: float = 0.95) -> dict[str, float]:
    """Paired comparison over seeds: ``other - baseline`` of ``metric``, paired by seed.

    The same seed gives both configurations the same split, initial weights and batch order
    as far as the configurations allow, so differences are paired. Returns the mean difference,
    its t-based CI and the paired t-test p-value (NaN with fewer than two shared seeds).
    """
    a = per_seed[per_seed["config"] == baseline].set_index("seed")[metric]
    b = per_seed[per_seed["config"] == other].set_index("seed")[metric]
    shared = a.index.intersection(b.index)
    if shared.empty:
        raise ValueError(f"configs {baseline!r} and {other!r} share no seed")
    d = (b[shared] - a[shared]).to_numpy(dtype=float)
    mean, lo, hi = t_interval(d, level)
    pval = float("nan")
    if d.size >= 2 and np.ptp(d) > 0:
        pval = float(stats.ttest_rel(b[shared], a[shared]).pvalue)
    elif d.size >= 2 and not d.any():
        pval = 1.0  # identical results on every seed
    return {"metric": metric, "baseline": baseline, "config": other, "diff": mean,
            "lo": lo, "hi": hi, "p_t": pval, "n_seeds": int(d.size)}
