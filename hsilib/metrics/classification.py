"""Melanoma-classifier metrics with confidence intervals and paired tests (notebook 06).

Melanoma is the POSITIVE class everywhere (label 1 = MM, 0 = DN); ``p`` is always the predicted
probability of melanoma. The original study reported F1 and recall with dysplastic nevus as the
positive class; this module never does.

Protocol (see ``docs/original_study.md``, flaws 2 and 5):

1. a decision threshold is chosen on the VALIDATION predictions (:func:`choose_threshold`) and then
   applied unchanged to the test predictions;
2. test-set uncertainty: a CLUSTER bootstrap that resamples the test set's source images
   within each class (several crops of one source are not independent: they move together;
   :func:`cluster_weights`, scored for all resamples at once by :func:`weighted_scores`), and
   DeLong's interval for AUROC (:func:`delong`);
3. two classifiers on the same test crops are compared on the SAME resamples (the difference
   of their resampled scores), and with DeLong's paired test for AUROC (:func:`delong_paired`);
4. runs over several seeds are summarised by their mean and a t-based 95% CI
   (:func:`aggregate_seeds`), and compared with a paired t-test over seeds (:func:`compare_seeds`,
   vectorised in :func:`paired_t`); the unit is the classifier seed: the generator replicates
   of a seed are averaged first (:func:`seed_means`).

Ranking metrics (AUROC, AUPRC) do not depend on the threshold. AUROC is the Mann-Whitney statistic
with mid-ranks for ties (a tied melanoma-nevus pair counts 1/2); AUPRC is average precision (the
step-wise sum used by scikit-learn's ``average_precision_score``), not the trapezoidal area, which
is optimistic (Davis & Goadrich 2006).
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence

import numpy as np
import pandas as pd
from scipy import stats

from .intervals import IntervalWarning, cluster_bootstrap, enough_clusters, t_interval

#: Threshold metrics (need a decision threshold) then ranking metrics (use the probabilities).
THRESHOLD_METRICS = ("sensitivity", "specificity", "precision", "f1", "balanced_accuracy",
                     "accuracy")
RANKING_METRICS = ("auroc", "auprc")
METRICS = THRESHOLD_METRICS + RANKING_METRICS


def _labels(y_true, name: str = "y_true") -> np.ndarray:
    """``y_true`` as ints, refused unless every label is exactly 0 or 1 (a 0.7 or a 2 is never
    rounded or cast into a class)."""
    raw = np.asarray(y_true).ravel()
    if raw.dtype.kind not in "biuf":
        raise ValueError(f"{name} must hold the numbers 0 (DN) / 1 (MM, the positive class), "
                         f"got dtype {raw.dtype} (e.g. {raw[:3].tolist()})")
    bad = raw[~np.isin(raw, (0, 1))]
    if bad.size:
        raise ValueError(f"{name} must hold 0 (DN) / 1 (MM, the positive class) only, got "
                         f"{bad.size} other value(s), e.g. {np.unique(bad)[:5].tolist()}")
    return raw.astype(int)


def _check(y_true, p) -> tuple[np.ndarray, np.ndarray]:
    y = _labels(y_true)
    q = np.asarray(p, dtype=float).ravel()
    if y.shape != q.shape:
        raise ValueError(f"y_true has {y.size} entries but p has {q.size}")
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
    """Every metric of :data:`METRICS`; melanoma is called when ``p >= threshold``. Empty
    inputs are refused (no metric of no crop is 0)."""
    y, q = _check(y_true, p)
    if y.size == 0:
        raise ValueError("scores: y_true and p are empty: there is nothing to score")
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
# Clusters: resampling source images, scores of many resamples at once
# --------------------------------------------------------------------------------------------
def cluster_weights(sources, labels, n_boot: int = 2000, seed: int = 0) -> np.ndarray:
    """Cluster bootstrap over SOURCE IMAGES, stratified by class: ``n_boot`` x n multiplicities.

    Entry ``[b, i]`` is how many times crop ``i`` enters resample ``b``: its source was drawn
    that many times. Within each stratum (the sources whose crops are all melanoma, all nevus,
    or, should one source hold both, mixed) as many sources are drawn with replacement as the
    stratum holds, so the class sizes in sources stay fixed and all crops of a source move
    together (they share a patient, a lesion and an acquisition, so they are not independent).
    """
    src = np.asarray(sources).astype(str).ravel()
    y = _labels(labels, "labels").astype(float)
    if src.shape != y.shape:
        raise ValueError(f"sources has {src.size} entries but labels has {y.size}")
    _, inv = np.unique(src, return_inverse=True)
    share = np.bincount(inv, y) / np.bincount(inv)  # melanoma share of each source's crops
    if not enough_clusters(src, share[inv], "test cluster bootstrap (source images per class)"):
        return np.full((n_boot, src.size), np.nan)  # every resampled score is NaN
    return cluster_bootstrap(src, share[inv], n_boot=n_boot, seed=seed)


def _safe_div(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.divide(a, b, out=np.zeros_like(a, dtype=float), where=b > 0)  # 0/0 -> 0


def weighted_scores(y_true, p, threshold: float, weights) -> dict[str, np.ndarray]:
    """Every metric of :data:`METRICS` for each row of ``weights`` (R x n multiplicities, e.g.
    from :func:`cluster_weights`): row r scores the resample holding crop i ``weights[r, i]``
    times. Equals :func:`scores` on the expanded resamples, computed for all rows at once. A
    row with NaN weights (no resample could be drawn) scores NaN."""
    y, q = _check(y_true, p)
    w = np.atleast_2d(np.asarray(weights, dtype=float))
    if w.shape[1] != y.size:
        raise ValueError(f"weights has {w.shape[1]} columns but y_true has {y.size} entries")
    call = q >= threshold
    tp, fn = w @ ((y == 1) & call), w @ ((y == 1) & ~call)
    fp, tn = w @ ((y == 0) & call), w @ ((y == 0) & ~call)
    sens, spec, prec = _safe_div(tp, tp + fn), _safe_div(tn, tn + fp), _safe_div(tp, tp + fp)
    out = {"sensitivity": sens, "specificity": spec, "precision": prec,
           "f1": _safe_div(2 * tp, 2 * tp + fp + fn), "balanced_accuracy": (sens + spec) / 2,
           "accuracy": _safe_div(tp + tn, tp + tn + fp + fn)}
    pos, neg = y == 1, y == 0
    kernel = _mann_whitney_kernel(q[pos], q[neg])
    wp, wn = w[:, pos], w[:, neg]
    denom = wp.sum(1) * wn.sum(1)
    out["auroc"] = np.where(denom > 0, ((wp @ kernel) * wn).sum(1) / np.where(denom > 0, denom, 1),
                            np.nan)
    order = np.argsort(-q, kind="mergesort")
    qs, ys, ws = q[order], y[order], w[:, order]
    last = np.r_[np.flatnonzero(np.diff(qs)), qs.size - 1]  # last index of each tie group
    tps, alls = np.cumsum(ws * ys, axis=1)[:, last], np.cumsum(ws, axis=1)[:, last]
    n_pos = tps[:, -1:]
    recall = _safe_div(tps, np.broadcast_to(n_pos, tps.shape))
    steps = np.diff(np.concatenate([np.zeros((len(w), 1)), recall], axis=1), axis=1)
    out["auprc"] = np.where(n_pos[:, 0] > 0, (steps * _safe_div(tps, alls)).sum(1), np.nan)
    undefined = ~np.isfinite(w).all(axis=1)
    return {m: np.where(undefined, np.nan, v) for m, v in out.items()}


# --------------------------------------------------------------------------------------------
# DeLong: AUROC variance from its structural components
# --------------------------------------------------------------------------------------------
def _mann_whitney_kernel(p_pos: np.ndarray, p_neg: np.ndarray) -> np.ndarray:
    """psi(x, y) for every melanoma x nevus pair: 1 if x > y, 1/2 if tied, 0 otherwise."""
    return (p_pos[:, None] > p_neg[None, :]) + 0.5 * (p_pos[:, None] == p_neg[None, :])


def _delong_components(y_true, p) -> tuple[np.ndarray, np.ndarray]:
    """Structural components of the AUROC of each row of ``p`` (1-D: one classifier), averaged
    over rows: ``v10`` (one per melanoma) and ``v01`` (one per nevus)."""
    y, _ = _check(y_true, np.asarray(p, dtype=float)[0] if np.ndim(p) == 2 else p)
    rows = np.atleast_2d(np.asarray(p, dtype=float))
    if rows.shape[1] != y.size or not np.isfinite(rows).all():
        raise ValueError(f"p must hold {y.size} finite probabilities per row")
    if y.min() == y.max():
        raise ValueError("DeLong's interval needs both melanoma and nevus in y_true")
    v10 = np.zeros(int(y.sum()))
    v01 = np.zeros(int((1 - y).sum()))
    for q in rows:
        psi = _mann_whitney_kernel(q[y == 1], q[y == 0])
        v10 += psi.mean(axis=1) / len(rows)
        v01 += psi.mean(axis=0) / len(rows)
    return v10, v01


def _delong_se(v10: np.ndarray, v01: np.ndarray) -> float:
    if v10.size < 2 or v01.size < 2:  # no variance to estimate: no interval, not a point
        warnings.warn(f"DeLong: no interval (NaN): it needs at least two melanomas and two nevi, "
                      f"got {v10.size} and {v01.size}", IntervalWarning, stacklevel=3)
        return float("nan")
    var10 = v10.var(ddof=1) if v10.size > 1 else 0.0
    var01 = v01.var(ddof=1) if v01.size > 1 else 0.0
    return float(np.sqrt(var10 / v10.size + var01 / v01.size))


def delong(y_true, p, level: float = 0.95) -> dict[str, float]:
    """AUROC with DeLong et al.'s (1988) standard error and normal CI (clipped to [0, 1]).

    With m melanomas X_i and n nevi Y_j and psi the Mann-Whitney kernel (1/2 for ties), the
    components are V10_i = mean_j psi(X_i, Y_j) and V01_j = mean_i psi(X_i, Y_j); AUROC is the
    mean of either, and Var(AUROC) = s10^2 / m + s01^2 / n (sample variances, ddof 1). ``p`` may
    be K x n (K classifiers on the same test set, e.g. seeds): the components are averaged over
    the K rows, which gives the variance of their MEAN AUROC over test sampling. The crops are
    treated as independent: crops that share a source image make this interval too narrow.
    """
    v10, v01 = _delong_components(y_true, p)
    auc, se = float(v10.mean()), _delong_se(v10, v01)
    half = stats.norm.ppf(0.5 + level / 2) * se
    if not np.isfinite(se):
        return {"auroc": auc, "se": se, "lo": float("nan"), "hi": float("nan")}
    return {"auroc": auc, "se": se, "lo": max(0.0, auc - half), "hi": min(1.0, auc + half)}


def delong_paired(y_true, p_a, p_b, level: float = 0.95) -> dict[str, float]:
    """DeLong's paired test of AUROC(B) - AUROC(A) on the same test crops.

    The components of the difference are the differences of the components, so their
    variances carry the covariance of the two AUROCs: Var = s10^2 / m + s01^2 / n of
    V10^B - V10^A and V01^B - V01^A. Returns ``diff, se, lo, hi, z, p_value`` (two-sided
    normal; p = 1 when both classifiers rank every pair alike). Rows of K x n inputs are
    averaged as in :func:`delong`.
    """
    a10, a01 = _delong_components(y_true, p_a)
    b10, b01 = _delong_components(y_true, p_b)
    d10, d01 = b10 - a10, b01 - a01
    diff, se = float(d10.mean()), _delong_se(d10, d01)
    half = stats.norm.ppf(0.5 + level / 2) * se
    if not np.isfinite(se):
        z, pval = float("nan"), float("nan")
    elif se > 0:
        z = diff / se
        pval = float(2 * stats.norm.sf(abs(z)))
    else:
        z, pval = (0.0, 1.0) if diff == 0 else (float(np.sign(diff) * np.inf), 0.0)
    return {"diff": diff, "se": se, "lo": diff - half, "hi": diff + half, "z": float(z),
            "p_value": pval}


# --------------------------------------------------------------------------------------------
# Several seeds: the classifier seed is the unit of replication
# --------------------------------------------------------------------------------------------
def seed_means(per_seed: pd.DataFrame, metric: str) -> pd.Series:
    """``metric`` per classifier seed (index: ``seed``): the mean over the runs of that seed,
    i.e. over its generator replicates when a configuration ran several (they share the seed
    and so are not independent). ``per_seed``: one configuration's runs; without a ``seed``
    column every row counts as its own seed."""
    if "seed" not in per_seed.columns:
        return per_seed[metric].astype(float).reset_index(drop=True).rename_axis("seed")
    return per_seed.groupby("seed", sort=True)[metric].mean().astype(float)


def runs_interval(per_seed: pd.DataFrame, config: str, metric: str,
                  level: float = 0.95) -> tuple[float, float, float]:
    """Mean and Student-t interval over the classifier seeds of ``config`` (generator
    replicates averaged within seed first, :func:`seed_means`)."""
    return t_interval(seed_means(per_seed[per_seed["config"] == config], metric), level)


def aggregate_seeds(per_seed: pd.DataFrame, by: str | Sequence[str] = "config",
                    metrics: Sequence[str] = METRICS, level: float = 0.95) -> pd.DataFrame:
    """Mean, standard deviation and t-based CI over classifier seeds: one row per group and
    metric.

    ``per_seed`` has one row per run (group, seed and, for configurations with synthetic crops,
    generator replicate) and one column per metric, as returned by
    :func:`hsilib.train.predictions.test_metrics`. The runs of one seed are averaged first
    (:func:`seed_means`), so ``n`` counts seeds, not runs. Columns:
    ``<by>, metric, mean, sd, lo, hi, n``.
    """
    by = [by] if isinstance(by, str) else list(by)
    rows = []
    for key, g in per_seed.groupby(by, sort=False):
        key = key if isinstance(key, tuple) else (key,)
        for m in metrics:
            v = seed_means(g, m)
            mean, lo, hi = t_interval(v, level)
            rows.append({**dict(zip(by, key, strict=True)), "metric": m, "mean": mean,
                         "sd": float(v.std(ddof=1)) if len(v) > 1 else float("nan"),
                         "lo": lo, "hi": hi, "n": int(v.notna().sum())})
    return pd.DataFrame(rows)


def paired_t(d, level: float = 0.95) -> dict[str, np.ndarray]:
    """One-sample t on paired differences along the LAST axis (vectorised; NaNs are not
    allowed): ``mean``, ``sd``, ``lo``, ``hi`` (Student-t CI) and ``p`` (two-sided, against 0).
    Fewer than 2 values: NaN interval and p; no spread: p = 1 when every difference is 0,
    else NaN (a t-test needs spread)."""
    d = np.asarray(d, dtype=float)
    n = d.shape[-1]
    mean = d.mean(axis=-1)
    nan = np.full(mean.shape, np.nan)
    if n < 2:
        return {"mean": mean, "sd": nan, "lo": nan, "hi": nan, "p": nan}
    sd = d.std(axis=-1, ddof=1)
    se = sd / np.sqrt(n)
    half = stats.t.ppf(0.5 + level / 2, n - 1) * se
    with np.errstate(divide="ignore", invalid="ignore"):
        p = 2 * stats.t.sf(np.abs(mean / se), n - 1)
    p = np.where(se > 0, p, np.where(np.all(d == 0, axis=-1), 1.0, np.nan))
    return {"mean": mean, "sd": sd, "lo": mean - half, "hi": mean + half, "p": p}


def seed_differences(per_seed: pd.DataFrame, baseline: str, other: str,
                     metric: str) -> pd.Series:
    """``other - baseline`` of ``metric`` per classifier seed both ran (index ``seed``), each
    configuration's generator replicates averaged within seed first (:func:`seed_means`)."""
    a = seed_means(per_seed[per_seed["config"] == baseline], metric)
    b = seed_means(per_seed[per_seed["config"] == other], metric)
    d = (b - a).dropna()
    if d.empty:
        raise ValueError(f"configs {baseline!r} and {other!r} share no seed with a value of "
                         f"{metric!r}")
    return d


def compare_seeds(per_seed: pd.DataFrame, baseline: str, other: str, metric: str,
                  level: float = 0.95) -> dict[str, float]:
    """Paired comparison over classifier seeds: ``other - baseline`` of ``metric``.

    The unit of replication is the classifier SEED (the same seed gives both configurations the
    same initial weights and batch order as far as the configurations allow). A configuration
    that ran several generator replicates per seed is first averaged over them within the seed
    (:func:`seed_differences`): its replicates share the seed's baseline run, so pairing each
    of them with it and treating the pairs as independent makes the test too liberal (at 0.05:
    about 0.11 false positives with 2-3 seeds x 2 replicates, 0.18 with 5 x 3). Returns the
    mean difference over seeds, its t-based CI, the paired t-test p-value (NaN with fewer than
    two seeds), ``sd`` of the per-seed differences, ``n_seeds`` (the pairs) and ``n_cells``
    (the runs of ``other`` averaged into them).
    """
    d = seed_differences(per_seed, baseline, other, metric)
    res = paired_t(d.to_numpy(), level)
    rows = per_seed[(per_seed["config"] == other) & per_seed["seed"].isin(d.index)] \
        if "seed" in per_seed.columns else per_seed[per_seed["config"] == other]
    return {"metric": metric, "baseline": baseline, "config": other,
            "diff": float(res["mean"]), "lo": float(res["lo"]), "hi": float(res["hi"]),
            "p_t": float(res["p"]), "sd": float(res["sd"]), "n_seeds": int(d.size),
            "n_cells": int(rows[metric].notna().sum())}
