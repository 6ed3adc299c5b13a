"""Intervals and the words said about them: the one home of every interval in the project.

Resampling:

- :func:`bootstrap`: plain bootstrap, ``n_boot`` rows of positions drawn with replacement;
- :func:`cluster_bootstrap`: whole groups (e.g. the crops of one source image) resampled with
  replacement, within strata (e.g. classes) so that each stratum keeps its number of groups;
  returned as multiplicities, so a statistic that takes weights scores every resample at once
  (:func:`hsilib.metrics.classification.weighted_scores`).

Intervals:

- :func:`percentile_interval`: the percentile interval of bootstrap statistics;
- :func:`t_interval`: the mean and Student-t interval of a few values (e.g. seeds);
- :func:`bootstrap_pvalue`: the two-sided bootstrap p-value of a difference against 0;
- equivalence (two one-sided tests, TOST; Schuirmann 1987) of a difference against a margin
  ``+/- m``: :func:`tost_t` (paired t over a few values, e.g. seeds), :func:`tost_normal` (an
  estimate with a standard error, e.g. DeLong's) and :func:`tost_bootstrap` (resampled
  differences). Each returns the larger of the two one-sided p-values; p < alpha is the same
  as the ``1 - 2 alpha`` interval lying inside ``(-m, m)``.

Verdicts, the project's fixed vocabulary: an interval that is undefined (NaN) or covers the
value of "nothing there" never supports a finding.

- :func:`chance_verdict`: an AUROC, "not distinguishable from chance" when any of its
  intervals covers 0.5;
- :func:`change_verdict`: a difference, "improvement" or "deterioration" only when every interval
  excludes 0 and its adjusted p-value is below alpha; otherwise, when an equivalence test was
  run, "no change (equivalent within +/-m)" if it passed and "cannot tell" if it did not, and
  without one "no detectable change";
- :func:`association_verdict`: a correlation, "no detectable association" likewise;
- :func:`bound_verdict`: a correlation's interval against a bound ``|r| <= bound``;
- :func:`comparison_verdict`: two intervals of one metric, "better" or "worse" only when they
  do not overlap.

An interval says which source of variation it covers; the caller's note must say it (images,
source images, runs, states), since none here covers what was not resampled.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import Literal

import numpy as np
from scipy import stats

#: The verdict words (module docstring).
NOT_DISTINGUISHABLE_FROM_CHANCE = "not distinguishable from chance"
NO_CHANGE = "no detectable change"
IMPROVEMENT = "improvement"
DETERIORATION = "deterioration"
#: A detected change: the two verdicts that reject "no difference".
CHANGES = (IMPROVEMENT, DETERIORATION)
#: Neither a change nor equivalence within the margin could be shown.
CANNOT_TELL = "cannot tell"
#: How an equivalence verdict starts (:func:`equivalent_words` adds the margin).
EQUIVALENT = "no change"
NO_ASSOCIATION = "no detectable association"
NOT_DISTINGUISHABLE = "not distinguishable"


# --------------------------------------------------------------------------------------------
# Resampling
# --------------------------------------------------------------------------------------------
def _rng(seed: int | np.random.Generator) -> np.random.Generator:
    return seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)


def bootstrap(n: int, n_boot: int, seed: int | np.random.Generator = 0) -> np.ndarray:
    """``n_boot`` x ``n`` positions in ``range(n)`` drawn with replacement: row ``b`` is
    bootstrap resample ``b`` of ``n`` items. ``seed`` may be a Generator, which then advances
    (so that several sets resampled from one Generator stay reproducible in their order)."""
    if n < 1 or n_boot < 0:
        raise ValueError(f"bootstrap: need n >= 1 and n_boot >= 0, got n={n}, n_boot={n_boot}")
    return _rng(seed).integers(0, n, (n_boot, n))


def cluster_bootstrap(groups, strata=None, *, n_boot: int, seed: int | np.random.Generator = 0,
                      order: Literal["stratum", "resample"] = "stratum") -> np.ndarray:
    """Cluster bootstrap: ``n_boot`` x n multiplicities of the n items.

    The clusters are the distinct ``groups`` (e.g. source images) within each stratum of
    ``strata`` (one value per item, e.g. the class; None: one stratum). Each resample draws, in
    every stratum, as many clusters with replacement as the stratum holds; entry ``[b, i]`` is
    how many times item ``i``'s cluster was drawn in resample ``b``, so all items of a cluster
    move together and each stratum keeps its number of clusters. Strata are taken in sorted
    order, the clusters of a stratum in sorted order of their group ids.

    ``order`` only says in which order the random numbers are drawn; both give the same
    distribution: ``"stratum"``, each stratum draws the counts of all resamples at once
    (multinomial); ``"resample"``, resample after resample, each stratum in turn draws the
    positions of its clusters. They are kept so that every stored result reproduces exactly.
    """
    g = np.asarray(groups).ravel()
    s = np.zeros(g.size, int) if strata is None else np.asarray(strata).ravel()
    if s.shape != g.shape:
        raise ValueError(f"cluster_bootstrap: groups has {g.size} entries, strata {s.size}")
    if order not in ("stratum", "resample"):
        raise ValueError(f"cluster_bootstrap: order must be 'stratum' or 'resample', got "
                         f"{order!r}")
    rng = _rng(seed)
    layout = []  # per stratum: its items and each item's cluster within it
    for value in np.unique(s):
        items = np.flatnonzero(s == value)
        ids, cluster = np.unique(g[items], return_inverse=True)
        layout.append((items, cluster, ids.size))
    weights = np.zeros((n_boot, g.size), np.int64)
    if order == "stratum":
        for items, cluster, k in layout:
            counts = rng.multinomial(k, np.full(k, 1 / k), n_boot)
            weights[:, items] = counts[:, cluster]
    else:
        for b in range(n_boot):
            for items, cluster, k in layout:
                weights[b, items] = np.bincount(rng.integers(0, k, k), minlength=k)[cluster]
    return weights


class IntervalWarning(UserWarning):
    """An interval cannot be estimated from the data given; it is reported as NaN."""


def enough_clusters(groups, strata=None, what: str = "cluster bootstrap") -> bool:
    """Whether a :func:`cluster_bootstrap` over ``groups`` (within ``strata``) can vary: every
    stratum needs at least two groups, else all its resamples are the same and an interval
    drawn from them would be a point ([1, 1], say) that claims a certainty the data cannot
    give. When not, warns (:class:`IntervalWarning`, naming ``what`` and the strata) and
    returns False: the caller reports NaN."""
    g = np.asarray(groups).astype(str).ravel()
    s = np.zeros(g.size, int) if strata is None else np.asarray(strata).ravel()
    few = {str(v): int(np.unique(g[s == v]).size) for v in np.unique(s)}
    few = {v: k for v, k in few.items() if k < 2}
    if g.size and not few:
        return True
    warnings.warn(f"{what}: no interval (NaN): resampling needs at least two groups in every "
                  f"stratum, got {few or 'no items'} (stratum: groups)", IntervalWarning,
                  stacklevel=3)
    return False


# --------------------------------------------------------------------------------------------
# Intervals
# --------------------------------------------------------------------------------------------
def percentile_interval(values, level: float = 0.95) -> tuple[float, float]:
    """The ``(1 - level) / 2`` and ``(1 + level) / 2`` quantiles (linear interpolation) of
    bootstrap statistics ``values``, NaNs left out; (NaN, NaN) when none is left. The quantiles
    are computed in the precision of ``values`` (float32 statistics in float32). A percentile
    interval need not contain the estimate it belongs to."""
    if not 0 < level < 1:
        raise ValueError(f"percentile_interval: level must be in (0, 1), got {level}")
    v = np.asarray(values).ravel()
    if not np.issubdtype(v.dtype, np.floating):
        v = v.astype(float)
    if v.size == 0 or np.isnan(v).all():
        return float("nan"), float("nan")
    with np.errstate(invalid="ignore"):  # all-infinite statistics (e.g. PSNR of copies): NaN
        return (float(np.nanquantile(v, (1 - level) / 2)),
                float(np.nanquantile(v, (1 + level) / 2)))


def mean_interval(values, *, n_boot: int = 1000, seed: int | np.random.Generator = 0,
                  level: float = 0.95) -> tuple[float, float]:
    """Percentile bootstrap interval of the mean of ``values`` (items resampled with
    :func:`bootstrap`)."""
    v = np.asarray(values, float)
    return percentile_interval(v[bootstrap(len(v), n_boot, seed)].mean(1), level)


def t_interval(values: Sequence[float], level: float = 0.95) -> tuple[float, float, float]:
    """Mean and Student-t CI of the mean of ``values`` (non-finite values left out; NaN bounds
    for fewer than two values)."""
    v = np.asarray(values, dtype=float)
    v = v[np.isfinite(v)]
    if v.size == 0:
        return float("nan"), float("nan"), float("nan")
    mean = float(v.mean())
    if v.size < 2:
        return mean, float("nan"), float("nan")
    half = stats.t.ppf(0.5 + level / 2, v.size - 1) * v.std(ddof=1) / np.sqrt(v.size)
    return mean, float(mean - half), float(mean + half)


def bootstrap_pvalue(differences) -> float:
    """Two-sided bootstrap p-value of resampled differences against 0:
    ``(1 + 2 min(#{d <= 0}, #{d >= 0})) / (n + 1)``, at most 1 and never exactly 0."""
    d = np.asarray(differences, float)
    return float(min(1.0, (1 + 2 * min((d <= 0).sum(), (d >= 0).sum())) / (d.size + 1)))


def _margin(margin: float) -> float:
    if not (np.isfinite(margin) and margin > 0):
        raise ValueError(f"an equivalence margin must be a positive number, got {margin}")
    return float(margin)


def tost_t(values: Sequence[float], margin: float) -> float:
    """TOST p-value that the mean of ``values`` (e.g. paired differences, one per seed) lies
    within ``(-margin, margin)``: the larger of the one-sided Student-t p-values against
    ``-margin`` and ``+margin`` (non-finite values left out). NaN for fewer than two values;
    with no spread, 0 when the mean lies strictly inside the margin and 1 otherwise."""
    m = _margin(margin)
    v = np.asarray(values, dtype=float)
    v = v[np.isfinite(v)]
    if v.size < 2:
        return float("nan")
    mean, se = float(v.mean()), float(v.std(ddof=1) / np.sqrt(v.size))
    if se == 0:
        return 0.0 if -m < mean < m else 1.0
    df = v.size - 1
    return float(max(stats.t.sf((mean + m) / se, df), stats.t.cdf((mean - m) / se, df)))


def tost_normal(diff: float, se: float, margin: float) -> float:
    """TOST p-value of an estimate ``diff`` with standard error ``se`` (normal), against
    ``(-margin, margin)``; NaN when either is undefined."""
    m = _margin(margin)
    if not (np.isfinite(diff) and np.isfinite(se)):
        return float("nan")
    if se == 0:
        return 0.0 if -m < diff < m else 1.0
    return float(max(stats.norm.sf((diff + m) / se), stats.norm.cdf((diff - m) / se)))


def tost_bootstrap(differences, margin: float) -> float:
    """TOST p-value from resampled differences (NaNs left out): the larger of
    ``(1 + #{d <= -margin}) / (n + 1)`` and ``(1 + #{d >= margin}) / (n + 1)``, the percentile
    counterpart of :func:`bootstrap_pvalue`; NaN when none is left."""
    m = _margin(margin)
    d = np.asarray(differences, float).ravel()
    d = d[np.isfinite(d)]
    if d.size == 0:
        return float("nan")
    return float((1 + max((d <= -m).sum(), (d >= m).sum())) / (d.size + 1))


# --------------------------------------------------------------------------------------------
# Verdicts
# --------------------------------------------------------------------------------------------
def covers(lo: float, hi: float, value: float) -> bool:
    """Whether ``[lo, hi]`` contains ``value``; an undefined (NaN) interval covers everything."""
    return not (np.isfinite(lo) and np.isfinite(hi)) or lo <= value <= hi


def chance_verdict(intervals: Sequence[tuple[float, float]], chance: float = 0.5) -> str:
    """An AUROC in words: "not distinguishable from chance" when any of its intervals covers
    ``chance``, else "above chance" or "below chance" (by the first interval)."""
    if any(covers(lo, hi, chance) for lo, hi in intervals):
        return NOT_DISTINGUISHABLE_FROM_CHANCE
    return "above chance" if intervals[0][0] > chance else "below chance"


def equivalent_words(margin: float) -> str:
    """The equivalence verdict with its margin, e.g. "no change (equivalent within +/-0.05)"."""
    return f"{EQUIVALENT} (equivalent within +/-{margin:g})"


def change_verdict(diff: float, intervals: Sequence[tuple[float, float]],
                   p_adjusted: float = 0.0, alpha: float = 0.05, *,
                   p_equivalence: float | None = None, margin: float | None = None) -> str:
    """A difference in words. "improvement" or "deterioration" (by the sign of ``diff``) only
    when every interval excludes 0 and the adjusted p-value is below ``alpha``. Otherwise:
    without an equivalence test (``p_equivalence`` None) "no detectable change"; with one (its
    adjusted TOST p-value against ``+/- margin``) "no change (equivalent within +/-margin)"
    when it is below ``alpha`` and "cannot tell" when it is not (NaN included)."""
    if not any(covers(lo, hi, 0.0) for lo, hi in intervals) and p_adjusted < alpha:
        return IMPROVEMENT if diff > 0 else DETERIORATION
    if p_equivalence is None:
        return NO_CHANGE
    if margin is None:
        raise ValueError("change_verdict: an equivalence p-value needs its margin")
    return equivalent_words(margin) if p_equivalence < alpha else CANNOT_TELL


def association_verdict(lo: float, hi: float, p_adjusted: float, alpha: float = 0.05) -> str:
    """A correlation in words: "positive association" or "negative association" only when its
    interval excludes 0 and the adjusted p-value is below ``alpha``; else "no detectable
    association"."""
    if covers(lo, hi, 0.0) or not p_adjusted < alpha:
        return NO_ASSOCIATION
    return "positive association" if lo > 0 else "negative association"


def bound_verdict(lo: float, hi: float, bound: float) -> str:
    """Where a correlation's interval sits against a bound ``|r| <= bound``: "within the
    bound", "beyond the bound", "crosses the bound" (undecided) or "undefined"."""
    if not (np.isfinite(lo) and np.isfinite(hi)):
        return "undefined"
    if lo > bound or hi < -bound:
        return "beyond the bound"
    if -bound <= lo and hi <= bound:
        return "within the bound"
    return "crosses the bound"


def comparison_verdict(interval: tuple[float, float], reference: tuple[float, float], *,
                       lower_is_better: bool = True) -> str:
    """One metric's interval against a reference's: "better" or "worse" only when the two are
    defined and do not overlap, else "not distinguishable"."""
    (lo, hi), (ref_lo, ref_hi) = interval, reference
    if not np.isfinite([lo, hi, ref_lo, ref_hi]).all() or (lo <= ref_hi and ref_lo <= hi):
        return NOT_DISTINGUISHABLE
    below = hi < ref_lo
    return "better" if below == lower_is_better else "worse"


__all__ = ["NOT_DISTINGUISHABLE_FROM_CHANCE", "NO_CHANGE", "NO_ASSOCIATION",
           "NOT_DISTINGUISHABLE", "IMPROVEMENT", "DETERIORATION", "CHANGES", "CANNOT_TELL",
           "EQUIVALENT", "IntervalWarning", "enough_clusters", "bootstrap", "cluster_bootstrap",
           "percentile_interval", "mean_interval", "t_interval", "bootstrap_pvalue", "tost_t",
           "tost_normal", "tost_bootstrap", "covers", "chance_verdict", "equivalent_words",
           "change_verdict", "association_verdict", "bound_verdict", "comparison_verdict"]
