"""Do generator metrics predict whether synthetic data helps? (notebook 08)

A **generator state** is one single-class generator checkpoint (:mod:`hsilib.study.states`:
:func:`discover_states`, :func:`spread_subset`, re-exported here). Every state gets metric
values (:func:`hsilib.metrics.protocol.evaluate_generator`) and a **utility**: the change of a
fixed probe classifier's test AUROC and sensitivity when the state's synthetic crops join the
real training set, paired by classifier seed (:func:`utility_table`).

The statistics across states (correlations with bootstrap intervals over states, permutation
p-values, partial correlation within groups) are :mod:`hsilib.study.correlation_stats`; here:

- :func:`correlation_table`: every metric x utility x method, Holm-corrected across the
  metrics of one utility and method (:func:`hsilib.study.stats.holm`), with verdicts in words;
- :func:`conclusions`: the closing text from those numbers.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from ..metrics import classification as cm
from ..metrics.intervals import NO_ASSOCIATION, association_verdict, bound_verdict
from .correlation_stats import METHODS, correlation, correlation_test, paired_finite, partial_test
from .states import (  # noqa: F401 (re-exported: the notebooks import them here)
    STATE_COLUMNS,
    discover_states,
    spread_subset,
)
from .stats import holm

#: Utilities: test metric of the probe classifier whose change a state causes.
UTILITIES = ("auroc", "sensitivity")
#: Name of the real-only probe configuration.
BASELINE = "real"


# --------------------------------------------------------------------------------------------
# The table and its words
# --------------------------------------------------------------------------------------------
def correlation_table(metrics: pd.DataFrame, utility: pd.DataFrame, *,
                      groups: Sequence | None = None, methods: Sequence[str] = METHODS,
                      n_boot: int = 2000, n_perm: int = 9999, seed: int = 0,
                      bound: float = 0.18, alpha: float = 0.05) -> pd.DataFrame:
    """Every metric (a column of ``metrics``, one row per state) against every utility (a
    column of ``utility``, same rows): ``r``, bootstrap ``lo``/``hi``, ``p_perm``, ``p_holm``
    (Holm across the metrics of one utility and method), ``verdict`` and ``vs_bound`` (against
    the study's ``|r| <= bound``). With ``groups`` (one label per state, e.g. family/class)
    also the partial Spearman correlation within groups (method ``partial_spearman``)."""
    if len(metrics) != len(utility):
        raise ValueError(f"metrics has {len(metrics)} states, utility {len(utility)}")
    rows = []
    for u in utility.columns:
        y = utility[u].to_numpy(float)
        for method in (*methods, *(("partial_spearman",) if groups is not None else ())):
            for k, m in enumerate(metrics.columns):
                x = metrics[m].to_numpy(float)
                s = seed + 1000 * k
                res = (partial_test(x, y, groups, "spearman", n_boot=n_boot, n_perm=n_perm,
                                    seed=s) if method == "partial_spearman" else
                       correlation_test(x, y, method, n_boot=n_boot, n_perm=n_perm, seed=s))
                rows.append({"metric": m, "utility": u, "method": method, **res})
    table = pd.DataFrame(rows)
    table["p_holm"] = table.groupby(["utility", "method"])["p_perm"].transform(
        lambda s: holm(s.to_numpy()))
    table["verdict"] = [association_verdict(r.lo, r.hi, r.p_holm, alpha)
                        for r in table.itertuples()]
    table["vs_bound"] = [bound_verdict(r.lo, r.hi, bound) for r in table.itertuples()]
    return table


def metric_matrix(metrics: pd.DataFrame, method: str = "spearman") -> pd.DataFrame:
    """Metric x metric correlations across states (pairs with a NaN dropped)."""
    cols = list(metrics.columns)
    out = pd.DataFrame(np.nan, index=cols, columns=cols)
    for i, a in enumerate(cols):
        for b in cols[i:]:
            x, y = paired_finite(metrics[a], metrics[b])
            r = correlation(x, y, method) if len(x) >= 3 else np.nan
            out.loc[a, b] = out.loc[b, a] = r
    return out


def metric_gaps(tables: Mapping[str, pd.DataFrame]) -> pd.DataFrame:
    """One row per state, one column per metric: value minus its real-vs-real floor (the
    value where the floor is undefined), from :func:`evaluate_generator` tables keyed by
    state. The gap makes states of different classes comparable: each class's floor differs."""
    rows = {}
    for state, t in tables.items():
        floor = t["floor"].astype(float)
        gap = t["value"].astype(float) - floor.where(np.isfinite(floor), 0.0)
        rows[state] = dict(zip(t["metric"], gap, strict=True))
    return pd.DataFrame.from_dict(rows, orient="index")


def utility_table(per_seed: pd.DataFrame, states: Sequence[str], baseline: str = BASELINE,
                  utilities: Sequence[str] = UTILITIES) -> pd.DataFrame:
    """Per state and utility: mean change against ``baseline`` over the probe seeds (paired by
    seed), its t-based 95% interval over seeds and the paired t-test p-value
    (:func:`hsilib.metrics.classification.compare_seeds`); ``per_seed`` as from
    :func:`hsilib.train.predictions.test_metrics`."""
    rows = []
    for s in states:
        for u in utilities:
            rows.append({"state": s, **cm.compare_seeds(per_seed, baseline, s, u)})
    return pd.DataFrame(rows).rename(columns={"metric": "utility"})


def agreement(light: pd.DataFrame, recorded: pd.DataFrame, states: pd.DataFrame,
              min_states: int = 4) -> pd.DataFrame:
    """Spearman correlation, per metric, between the values this notebook measured (``light``:
    states x metrics, raw values) and those a generator notebook recorded in
    ``generator_metrics.csv`` (``recorded``) for the same generators: rows with variant
    ``final`` matched to the state named ``<family>_<class>_g<seed>`` at the same step. Says
    whether the lighter evaluation ranks generators as the full protocol does."""
    rec = recorded[recorded["variant"] == "final"].copy()
    rec["state"] = [f"{f}_{str(c).lower()}_g{int(s)}" for f, c, s in
                    zip(rec["family"], rec["class"], rec["seed"], strict=True)]
    step_of = states.set_index("state")["step"]
    rec = rec[rec["state"].isin(step_of.index)]
    rec = rec[rec["step"].to_numpy() == step_of.loc[rec["state"]].to_numpy()]
    rows = []
    for m, g in rec.groupby("metric"):
        if m not in light.columns:
            continue
        g = g.drop_duplicates("state", keep="last").set_index("state")
        x, y = paired_finite(light.loc[g.index, m], g["value"])
        rows.append({"metric": m, "n_states": len(x),
                     "spearman": correlation(x, y) if len(x) >= min_states else np.nan})
    return pd.DataFrame(rows, columns=["metric", "n_states", "spearman"])


def conclusions(table: pd.DataFrame, utility: pd.DataFrame, n_states: int,
                groups: Sequence[str], bound: float = 0.18, n_seeds: int = 0) -> str:
    """Markdown bullets from :func:`correlation_table` and :func:`utility_table`: which metrics
    predict utility (Spearman, Holm-corrected, interval excluding 0), whether that survives
    within family and class, how the study's ``|r| <= bound`` fares (Pearson, as the study
    reported), and how large the utilities themselves were."""
    lines = [f"All numbers: {n_states} generator states ({', '.join(sorted(set(groups)))}); "
             f"utility = change of the probe classifier's test metric when a state's synthetic "
             f"crops join the real training set, mean over {n_seeds} classifier seeds; "
             "correlation intervals resample the states (95% percentile bootstrap); p-values "
             "are permutation tests, Holm-corrected across metrics."]
    for u in table["utility"].unique():
        ut = utility[utility["utility"] == u]
        helped = int(((ut["lo"] > 0) & (ut["p_t"] < 0.05)).sum())
        hurt = int(((ut["hi"] < 0) & (ut["p_t"] < 0.05)).sum())
        lines.append(f"- **{u} utility**: mean change over states {ut['diff'].mean():+.3f} "
                     f"(range {ut['diff'].min():+.3f} to {ut['diff'].max():+.3f}); "
                     f"{helped} states help and {hurt} hurt with a seed interval excluding 0 "
                     "(uncorrected).")
        sp = table[(table.utility == u) & (table.method == "spearman")]
        found = sp[sp.verdict != NO_ASSOCIATION]
        best = sp.iloc[int(np.nanargmax(np.abs(sp["r"].to_numpy()))) if sp["r"].notna().any()
                       else 0]
        lines.append(f"  - Spearman: {len(found)} of {len(sp)} metrics predict it "
                     + (": " + "; ".join(f"`{r.metric}` {r.r:+.2f} [{r.lo:+.2f}, {r.hi:+.2f}], "
                                         f"Holm p = {r.p_holm:.3g}" for r in found.itertuples())
                        if len(found) else "(none survives Holm with an interval excluding 0)")
                     + f". Strongest: `{best.metric}` {best.r:+.2f} [{best.lo:+.2f}, "
                     f"{best.hi:+.2f}], Holm p = {best.p_holm:.3g}.")
        part = table[(table.utility == u) & (table.method == "partial_spearman")]
        if len(part):
            kept = part[part.verdict != NO_ASSOCIATION]
            lines.append(f"  - Within family and class (partial Spearman): {len(kept)} of "
                         f"{len(part)} metrics keep a detectable association"
                         + (": " + ", ".join(f"`{r.metric}` {r.r:+.2f}"
                                             for r in kept.itertuples()) if len(kept) else "")
                         + ".")
        pe = table[(table.utility == u) & (table.method == "pearson")]
        counts = pe["vs_bound"].value_counts()
        lines.append(f"  - The study's |r| <= {bound:g} (Pearson): "
                     f"{int(counts.get('within the bound', 0))} metrics have intervals inside "
                     f"the bound, {int(counts.get('beyond the bound', 0))} lie beyond it and "
                     f"{int(counts.get('crosses the bound', 0))} cross it (undecided).")
    sp = table[(table.method == "spearman") & (table.verdict != NO_ASSOCIATION)]
    if len(sp):
        trust = sp.sort_values("p_holm").iloc[0]
        lines.append(f"- **Which metric to trust here**: `{trust.metric}` (the smallest "
                     f"Holm-adjusted p, {trust.p_holm:.3g}, for {trust.utility}); a "
                     "correlation across states of this run is not a guarantee for another "
                     "generator or data set.")
    else:
        lines.append("- **Which metric to trust here**: none; no metric's correlation with "
                     "utility is distinguishable from zero after Holm's correction.")
    lines.append(f"- **What this does not show**: {n_states} states and {n_seeds} classifier "
                 "seeds per state bound the precision; each state's utility carries "
                 "classifier-seed noise, which weakens every correlation towards 0, so an "
                 "interval covering 0 is absence of evidence. The stand-in data are not "
                 "patients.")
    return "\n".join(lines)
