"""Correlations across generator states, with intervals and permutation tests (notebook 08).

- :func:`correlation` (Spearman, Kendall tau-b, Pearson) and :func:`correlation_rows`,
  vectorised over rows so that bootstrap resamples and permutations are computed in one go;
- :func:`correlation_test`: the estimate, a percentile-bootstrap interval that resamples the
  pairs (:func:`bootstrap_interval`; what it covers: which states the study happened to have,
  not the noise of each state's utility, which is inside every resample) and a two-sided
  permutation p-value, ``(1 + #{|r_perm| >= |r|}) / (n_perm + 1)``, so the smallest possible
  value is ``1 / (n_perm + 1)`` (:func:`permutation_pvalue`);
- :func:`partial_correlation` and :func:`partial_test`: the correlation left after removing
  group means (dummy-coded family and class, say) from both variables, on ranks for Spearman,
  with a permutation test that shuffles within groups;
- :func:`grouped_test`: for items that come in clusters (the rungs of one corruption kind, the
  snapshots of one training run), an interval that resamples whole clusters
  (:func:`weighted_correlation_rows` scores every resample at once from its multiplicities)
  and, for the partial correlation within groups, permutations within each group.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats as sps

from ..metrics.intervals import bootstrap, percentile_interval

METHODS = ("spearman", "kendall", "pearson")


# --------------------------------------------------------------------------------------------
# Correlations, row-wise
# --------------------------------------------------------------------------------------------
def _rows(a) -> np.ndarray:
    a = np.asarray(a, dtype=float)
    return a[None, :] if a.ndim == 1 else a


def _pearson_rows(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    xc = x - x.mean(axis=1, keepdims=True)
    yc = y - y.mean(axis=1, keepdims=True)
    den = np.sqrt((xc * xc).sum(axis=1) * (yc * yc).sum(axis=1))
    with np.errstate(invalid="ignore", divide="ignore"):
        r = (xc * yc).sum(axis=1) / den
    r[~(den > 1e-12 * max(1.0, float(np.nanmax(den, initial=0.0))))] = np.nan
    return np.clip(r, -1.0, 1.0)


def _kendall_rows(x: np.ndarray, y: np.ndarray, chunk: int = 512) -> np.ndarray:
    """Kendall's tau-b per row (ties in either variable handled as scipy's default)."""
    n = x.shape[1]
    n0 = n * (n - 1) / 2
    out = np.empty(len(x))
    for s in range(0, len(x), chunk):
        xs, ys = x[s:s + chunk], y[s:s + chunk]
        sx = np.sign(xs[:, :, None] - xs[:, None, :])
        sy = np.sign(ys[:, :, None] - ys[:, None, :])
        num = (sx * sy).sum(axis=(1, 2)) / 2
        t1 = ((sx == 0).sum(axis=(1, 2)) - n) / 2  # tied pairs in x
        t2 = ((sy == 0).sum(axis=(1, 2)) - n) / 2
        den = np.sqrt((n0 - t1) * (n0 - t2))
        with np.errstate(invalid="ignore", divide="ignore"):
            out[s:s + chunk] = np.where(den > 0, num / den, np.nan)
    return np.clip(out, -1.0, 1.0)


def correlation_rows(x, y, method: str = "spearman") -> np.ndarray:
    """The correlation of every row of ``x`` with the same row of ``y`` (``m x n`` arrays, or
    vectors); NaN where a row is constant."""
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, got {method!r}")
    x, y = _rows(x), _rows(y)
    if x.shape != y.shape:
        raise ValueError(f"x and y must have the same shape, got {x.shape} and {y.shape}")
    if method == "kendall":
        return _kendall_rows(x, y)
    if method == "spearman":
        x, y = sps.rankdata(x, axis=1), sps.rankdata(y, axis=1)
    return _pearson_rows(x, y)


def correlation(x, y, method: str = "spearman") -> float:
    """Spearman's rho, Kendall's tau-b or Pearson's r of two vectors (NaN when one is
    constant)."""
    return float(correlation_rows(x, y, method)[0])


def paired_finite(x, y) -> tuple[np.ndarray, np.ndarray]:
    """The pairs of two equal-length vectors where both values are finite."""
    x, y = np.asarray(x, float), np.asarray(y, float)
    if x.shape != y.shape or x.ndim != 1:
        raise ValueError(f"x and y must be vectors of equal length, got {x.shape}, {y.shape}")
    ok = np.isfinite(x) & np.isfinite(y)
    return x[ok], y[ok]


def permutation_pvalue(x, y, method: str = "spearman", n_perm: int = 9999, seed: int = 0,
                       groups=None) -> float:
    """Two-sided permutation p-value of the correlation of ``x`` and ``y``:
    ``(1 + #{|r_perm| >= |r|}) / (n_perm + 1)`` over ``n_perm`` random permutations of ``y``
    (within each group of ``groups`` when given). Its smallest value is ``1 / (n_perm + 1)``."""
    x, y = np.asarray(x, float), np.asarray(y, float)
    r = correlation(x, y, method) if groups is None else _partial(x, y, groups, method)
    if not np.isfinite(r):
        return float("nan")
    rng = np.random.default_rng(seed)
    perms = _permutations(len(y), n_perm, rng, groups)
    if groups is None:
        r_perm = correlation_rows(np.broadcast_to(x, perms.shape), y[perms], method)
    else:
        r_perm = _partial_rows(np.broadcast_to(x, perms.shape), y[perms], _codes(groups),
                               method)
    hits = np.sum(np.abs(r_perm) >= abs(r) - 1e-12)
    return float((1 + hits) / (n_perm + 1))


def _permutations(n: int, n_perm: int, rng: np.random.Generator, groups=None) -> np.ndarray:
    if groups is None:
        return rng.permuted(np.tile(np.arange(n), (n_perm, 1)), axis=1)
    codes = _codes(groups)
    perms = np.tile(np.arange(n), (n_perm, 1))
    for g in np.unique(codes):
        idx = np.flatnonzero(codes == g)
        perms[:, idx] = rng.permuted(np.tile(idx, (n_perm, 1)), axis=1)
    return perms


def bootstrap_interval(x, y, method: str = "spearman", n_boot: int = 2000, seed: int = 0,
                       level: float = 0.95, groups=None) -> tuple[float, float]:
    """Percentile interval of the correlation over ``n_boot`` resamples of the pairs (states)
    with replacement; resamples where it is undefined (a constant variable) are dropped."""
    x, y = np.asarray(x, float), np.asarray(y, float)
    idx = bootstrap(len(x), n_boot, seed)
    if groups is None:
        r = correlation_rows(x[idx], y[idx], method)
    else:
        r = _partial_rows(x[idx], y[idx], _codes(groups)[idx], method)
    r = r[np.isfinite(r)]
    if r.size < max(10, n_boot // 10):
        return float("nan"), float("nan")
    return percentile_interval(r, level)


def correlation_test(x, y, method: str = "spearman", *, n_boot: int = 2000, n_perm: int = 9999,
                     seed: int = 0, level: float = 0.95) -> dict[str, float]:
    """Correlation of ``x`` and ``y`` (pairs with a NaN dropped): ``r``, bootstrap interval
    over the pairs (``lo``, ``hi``), permutation p-value ``p_perm`` and ``n``."""
    x, y = paired_finite(x, y)
    nan = float("nan")
    if len(x) < 3:
        return {"r": nan, "lo": nan, "hi": nan, "p_perm": nan, "n": len(x)}
    lo, hi = bootstrap_interval(x, y, method, n_boot, seed, level)
    return {"r": correlation(x, y, method), "lo": lo, "hi": hi,
            "p_perm": permutation_pvalue(x, y, method, n_perm, seed + 1), "n": len(x)}


# --------------------------------------------------------------------------------------------
# Partial correlation, controlling for groups
# --------------------------------------------------------------------------------------------
def _codes(groups) -> np.ndarray:
    return pd.factorize(pd.Series(list(groups)).astype(str))[0]


def _residualise_rows(v: np.ndarray, codes: np.ndarray) -> np.ndarray:
    """Each row of ``v`` minus its group means (groups: the same-shaped ``codes``), i.e. the
    least-squares residual on an intercept and group dummies."""
    out = v.astype(float).copy()
    for g in np.unique(codes):
        m = codes == g
        count = m.sum(axis=1, keepdims=True)
        mean = np.where(count > 0, (v * m).sum(axis=1, keepdims=True) / np.maximum(count, 1), 0)
        out -= m * mean
    return out


def _partial_rows(x: np.ndarray, y: np.ndarray, codes: np.ndarray, method: str) -> np.ndarray:
    x, y, codes = _rows(x), _rows(y), np.atleast_2d(codes)
    codes = np.broadcast_to(codes, x.shape)
    if method == "spearman":
        x, y = sps.rankdata(x, axis=1), sps.rankdata(y, axis=1)
    elif method != "pearson":
        raise ValueError(f"partial correlation supports 'spearman' and 'pearson', got {method!r}")
    return _pearson_rows(_residualise_rows(x, codes), _residualise_rows(y, codes))


def _partial(x, y, groups, method: str) -> float:
    return float(_partial_rows(np.asarray(x, float), np.asarray(y, float), _codes(groups),
                               method)[0])


def partial_correlation(x, y, groups, method: str = "spearman") -> float:
    """Correlation of ``x`` and ``y`` after removing each group's mean from both (for
    ``spearman``, from their ranks over all pairs): the association within groups, e.g. within
    each generator family and class. Equal to the classical partial correlation given the
    group dummies."""
    x, y = np.asarray(x, float), np.asarray(y, float)
    if not (len(x) == len(y) == len(groups)):
        raise ValueError("x, y and groups must have equal lengths")
    return _partial(x, y, groups, method)


def partial_test(x, y, groups, method: str = "spearman", *, n_boot: int = 2000,
                 n_perm: int = 9999, seed: int = 0, level: float = 0.95) -> dict[str, float]:
    """:func:`partial_correlation` with a bootstrap interval over the pairs and a permutation
    p-value that shuffles ``y`` within groups (the null: no association within any group)."""
    x, y = np.asarray(x, float), np.asarray(y, float)
    g = np.asarray(list(groups), dtype=object)
    ok = np.isfinite(x) & np.isfinite(y)
    x, y, g = x[ok], y[ok], g[ok]
    nan = float("nan")
    if len(x) < 3 or len(set(g)) >= len(x) - 1:
        return {"r": nan, "lo": nan, "hi": nan, "p_perm": nan, "n": len(x)}
    lo, hi = bootstrap_interval(x, y, method, n_boot, seed, level, groups=g)
    return {"r": partial_correlation(x, y, g, method), "lo": lo, "hi": hi,
            "p_perm": permutation_pvalue(x, y, method, n_perm, seed + 1, groups=g),
            "n": len(x)}


# --------------------------------------------------------------------------------------------
# Grouped data: whole clusters resampled, permutations that keep the groups
# --------------------------------------------------------------------------------------------
def weighted_ranks(v: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Mid-ranks of every item of ``v`` (n) in each weighted resample (``weights``: B x n
    multiplicities): the ranks the items would get in the resample written out item by item,
    copies tied. Items of weight 0 get a rank that no statistic below uses."""
    v = np.asarray(v, float)
    less = (v[None, :] < v[:, None]).astype(float)  # less[i, j]: v_j < v_i
    equal = (v[None, :] == v[:, None]).astype(float)
    return weights @ less.T + (weights @ equal.T + 1) / 2


def _weighted_residuals(v: np.ndarray, weights: np.ndarray, codes: np.ndarray) -> np.ndarray:
    out = v.copy()
    for g in np.unique(codes):
        m = codes == g
        w = weights[:, m]
        mean = (w * v[:, m]).sum(1, keepdims=True) / np.maximum(w.sum(1, keepdims=True), 1e-12)
        out[:, m] = v[:, m] - mean
    return out


def weighted_correlation_rows(x, y, weights, method: str = "spearman",
                              groups=None) -> np.ndarray:
    """The correlation of ``x`` and ``y`` (n items) in each resample of ``weights`` (B x n
    multiplicities, e.g. :func:`hsilib.metrics.intervals.cluster_bootstrap`): exactly the
    correlation of the resample written out item by item. ``spearman`` ranks within each
    resample; with ``groups`` (one label per item) the partial correlation within groups
    (:func:`partial_correlation`), group means taken in the resample."""
    if method not in ("spearman", "pearson"):
        raise ValueError(f"method must be 'spearman' or 'pearson', got {method!r}")
    x, y = np.asarray(x, float), np.asarray(y, float)
    w = np.atleast_2d(np.asarray(weights, float))
    if method == "spearman":
        x, y = weighted_ranks(x, w), weighted_ranks(y, w)
    else:
        x, y = np.broadcast_to(x, w.shape).copy(), np.broadcast_to(y, w.shape).copy()
    if groups is not None:
        codes = _codes(groups)
        x, y = _weighted_residuals(x, w, codes), _weighted_residuals(y, w, codes)
    sw = w.sum(1, keepdims=True)
    xc = x - (w * x).sum(1, keepdims=True) / sw
    yc = y - (w * y).sum(1, keepdims=True) / sw
    den = np.sqrt((w * xc * xc).sum(1) * (w * yc * yc).sum(1))
    with np.errstate(invalid="ignore", divide="ignore"):
        r = (w * xc * yc).sum(1) / den
    r[~(den > 1e-12)] = np.nan
    return np.clip(r, -1.0, 1.0)


def grouped_test(x, y, method: str = "spearman", *, clusters, groups=None, n_boot: int = 2000,
                 n_perm: int = 9999, seed: int = 0, level: float = 0.95,
                 min_clusters: int = 4) -> dict[str, float]:
    """The correlation of ``x`` and ``y`` for grouped items (pairs with a NaN dropped):
    ``clusters`` are the units that move together (a training run and its snapshots, a
    corruption kind and its rungs). Without ``groups``: ``r`` over the items and a bootstrap
    interval that resamples whole clusters (:func:`hsilib.metrics.intervals.cluster_bootstrap`);
    no p-value (``p_perm`` NaN): a permutation of items ignores the clusters, and one of whole
    clusters keeps the association inside them, so neither tests the pooled correlation. With
    ``groups`` (one label per item, e.g. the corruption kind or the generator family): the
    partial correlation within groups, the same cluster bootstrap, and a permutation p-value
    that shuffles within each group (:func:`permutation_pvalue`). Also ``n`` (items) and
    ``n_clusters``. With fewer than ``min_clusters`` clusters the resamples cannot say anything:
    every number is then NaN."""
    from ..metrics.intervals import cluster_bootstrap

    x, y = np.asarray(x, float), np.asarray(y, float)
    c = np.asarray(list(clusters), dtype=object)
    g = None if groups is None else np.asarray(list(groups), dtype=object)
    ok = np.isfinite(x) & np.isfinite(y)
    x, y, c = x[ok], y[ok], c[ok]
    g = None if g is None else g[ok]
    nan = float("nan")
    out = {"r": nan, "lo": nan, "hi": nan, "p_perm": nan, "n": int(ok.sum()),
           "n_clusters": len(set(c))}
    if len(x) < 3 or len(set(c)) < min_clusters or (g is not None
                                                     and len(set(g)) >= len(x) - 1):
        return out
    r = (correlation(x, y, method) if g is None else partial_correlation(x, y, g, method))
    if not np.isfinite(r):
        return out
    w = cluster_bootstrap(c.astype(str), n_boot=n_boot, seed=seed)
    boot = weighted_correlation_rows(x, y, w, method, g)
    boot = boot[np.isfinite(boot)]
    lo, hi = percentile_interval(boot, level) if boot.size >= max(10, n_boot // 10) else (nan,
                                                                                          nan)
    p = nan if g is None else permutation_pvalue(x, y, method, n_perm, seed + 1, groups=g)
    return {**out, "r": float(r), "lo": lo, "hi": hi, "p_perm": p}
