"""What a paired comparison can detect: power and the minimal detectable change (notebooks 06, 07).

Notebook 06 calls a difference between two classifier configurations a change only when two
kinds of evidence agree: the paired t-test over classifier seeds (training variation, the test
set fixed) and the intervals of test resampling (the cluster bootstrap over test source images
and, for AUROC, DeLong's; runs fixed). This module gives the power of that rule and, from it,
the **minimal detectable change** (MDC): the smallest true difference found with probability
``power`` (80% by default) at level ``alpha``. A design that cannot detect a change of this size
cannot tell "no effect" from an effect this large: the MDC is printed beside every "cannot tell".

The model. With ``S`` seeds, the observed mean difference is
``D = delta + e_test + e_runs``: ``e_test ~ N(0, se_test^2)`` (test sampling) and
``e_runs ~ N(0, sd_runs^2 / S)`` (training). The seeds' sample SD ``s`` is
``sd_runs * sqrt(chi^2_{S-1} / (S-1))``, independent of ``D``. The rule detects when
``|D| > max(t_{1-alpha/2, S-1} s / sqrt(S), z_{1-alpha/2} se_test)``, so

    power(delta) = E_s[ Phi((delta - c(s)) / tau) + Phi((-delta - c(s)) / tau) ],
    tau^2 = se_test^2 + sd_runs^2 / S,

integrated over ``s`` at ``nodes`` quantiles of the chi distribution. Two special cases are
the textbook ones: ``se_test = 0`` gives the power of the paired t-test (non-central t), and
``sd_runs = None`` the power of the two-sided z-test of an estimate with standard error
``se_test`` (``z_{1-alpha/2} + z_power`` standard errors, up to the far tail).

The MDC is computed at one comparison's ``alpha``; Holm's correction across the comparisons of
a table asks for more, so a change smaller than the MDC stays out of reach either way.
"""

from __future__ import annotations

import numpy as np
from scipy import optimize, stats


def power(delta: float, *, sd_runs: float | None, n_seeds: int, se_test: float = 0.0,
          alpha: float = 0.05, nodes: int = 2000) -> float:
    """Probability that the rule of the module docstring detects a true difference ``delta``.

    ``sd_runs``: SD of the per-seed differences (training variation; None: no seed test in the
    rule); ``n_seeds``: the seeds ``S`` (fewer than 2 with ``sd_runs`` given: the t-test
    cannot run, power 0); ``se_test``: standard error of the difference over test sampling
    (0: the test set is fixed)."""
    if not 0 < alpha < 1:
        raise ValueError(f"alpha must be in (0, 1), got {alpha}")
    if se_test < 0 or (sd_runs is not None and sd_runs < 0):
        raise ValueError(f"standard deviations must be >= 0, got sd_runs={sd_runs}, "
                         f"se_test={se_test}")
    delta = abs(float(delta))
    z = stats.norm.ppf(1 - alpha / 2)
    if sd_runs is None:
        s, var_runs = np.zeros(1), 0.0
    else:
        if n_seeds < 2:
            return 0.0
        u = (np.arange(nodes) + 0.5) / nodes
        df = n_seeds - 1
        s = sd_runs * np.sqrt(stats.chi2.ppf(u, df) / df)
        s *= stats.t.ppf(1 - alpha / 2, df) / np.sqrt(n_seeds)
        var_runs = sd_runs ** 2 / n_seeds
    cut = np.maximum(s, z * se_test)
    tau = np.sqrt(se_test ** 2 + var_runs)
    if tau == 0:
        return float(np.mean(delta > cut))
    return float(np.mean(stats.norm.cdf((delta - cut) / tau)
                         + stats.norm.cdf((-delta - cut) / tau)))


def mdc(*, sd_runs: float | None, n_seeds: int, se_test: float = 0.0, alpha: float = 0.05,
        target: float = 0.8) -> float:
    """Minimal detectable change: the smallest ``delta >= 0`` with ``power(delta) = target``
    (arguments as :func:`power`). NaN when an input is undefined or the seed test cannot run
    (``sd_runs`` given with fewer than 2 seeds); 0 when nothing varies."""
    if not 0 < target < 1:
        raise ValueError(f"target power must be in (0, 1), got {target}")
    if not np.isfinite(se_test) or (sd_runs is not None and not np.isfinite(sd_runs)):
        return float("nan")
    if sd_runs is not None and n_seeds < 2:
        return float("nan")
    spread = se_test + (sd_runs or 0.0)
    if spread == 0:
        return 0.0

    def gap(d: float) -> float:
        return power(d, sd_runs=sd_runs, n_seeds=n_seeds, se_test=se_test, alpha=alpha) - target

    hi = spread
    while gap(hi) < 0:
        hi *= 2
    return float(optimize.brentq(gap, 0.0, hi, xtol=1e-6 * spread))


def replicate_components(other: np.ndarray, baseline: np.ndarray) -> tuple[float, float]:
    """Variance components of per-seed differences when ``other`` ran ``R`` generator
    replicates per seed (``S x R``, NaN for a missing run) and ``baseline`` once per seed
    (``S``): ``(var_seed, var_replicate)``. ``var_replicate`` is the pooled within-seed variance
    of ``other`` over its replicates (0 with one replicate); ``var_seed`` the variance of the
    per-seed differences (seed means of ``other`` minus ``baseline``) less
    ``var_replicate / R``, floored at 0. A design with ``R'`` replicates then has per-seed
    differences of SD ``sqrt(var_seed + var_replicate / R')``."""
    b = np.atleast_2d(np.asarray(other, float))
    a = np.asarray(baseline, float).ravel()
    if b.shape[0] != a.size:
        raise ValueError(f"other has {b.shape[0]} seeds, baseline {a.size}")
    counts = np.isfinite(b).sum(1)
    dev = b - np.nanmean(b, axis=1, keepdims=True)
    df = int((counts - 1).clip(min=0).sum())
    var_rep = float(np.nansum(dev ** 2) / df) if df > 0 else 0.0
    d = np.nanmean(b, axis=1) - a
    d = d[np.isfinite(d)]
    if d.size < 2:
        return float("nan"), var_rep
    n_rep = float(np.mean(counts[counts > 0]))
    return max(float(d.var(ddof=1)) - var_rep / n_rep, 0.0), var_rep


__all__ = ["power", "mdc", "replicate_components"]
