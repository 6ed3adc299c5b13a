"""Do generator metrics predict whether synthetic data helps? The correlations of notebook 08.

Two populations of states, never mixed in one correlation (and all at notebook 01's crop size):
the **oracle ladder** (:mod:`hsilib.study.oracle`: a perfect generator and graded corruptions of
it) and the **run's generators** (pairs of a melanoma and a nevus generator,
:mod:`hsilib.study.correlation_states`). Every state has a metric table
(:mod:`hsilib.study.correlation_scoring`: each metric's distance to its real-vs-real floor) and
a utility (:mod:`hsilib.study.correlation_utility`). States are not independent: the rungs of
one corruption kind share their lesions and their kind, the snapshots of one training run share
the run. So each population comes with a **layout** (:func:`ladder_layout`,
:func:`generator_layout`): per state its ``group`` (corruption kind; generator family) and its
``cluster`` (the unit resampled: a kind; a training run), and :func:`association_table`
reports for every metric and utility:

- ``within`` (the headline): the partial Spearman correlation within groups (the group means of
  the ranks removed), an interval that resamples whole clusters and permutations within groups.
  On the ladder: "as this flaw grows, does the metric move as the utility does?";
- ``between``: Spearman across the groups' means, resampling and permuting groups;
- ``spearman`` and ``pearson`` over all states, with an interval that resamples whole clusters
  (:func:`hsilib.study.correlation_stats.grouped_test`): descriptive, without a p-value (no
  permutation respects the clusters and tests the pooled correlation); Pearson is the original
  study's statistic, read against its ``|r| <= 0.18``.

P-values are Holm-corrected across the metrics of one utility and method; "positive/negative
association" needs an interval excluding 0 and a Holm-adjusted p below ``alpha`` (the pooled
rows, without a p-value, are read against the study's bound only).
:func:`conclusions` writes the closing text from the headline numbers only.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from ..metrics.intervals import NO_ASSOCIATION, association_verdict, bound_verdict
from .correlation_stats import correlation, correlation_test, grouped_test, paired_finite
from .correlation_utility import LOWER_IS_BETTER, helps
from .oracle import CLEAN
from .stats import holm

#: The methods of :func:`association_table`, the headline first; those with a p-value.
METHODS = ("within", "between", "spearman", "pearson")
TESTED = ("within", "between")
#: Fewest groups (or clusters) whose resamples are read: fewer give NaN.
MIN_GROUPS = 4


def ladder_layout(rungs: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(layout, within-rows) of the ladder: ``rungs`` has one row per state (``state``,
    ``kind``); each kind is a group and a cluster, the clean oracle a group of its own. The
    within-rows are the corrupted rungs only: the clean oracle, one measurement, would enter
    every kind's block, and its noise would then push every block the same way."""
    layout = pd.DataFrame({"state": rungs["state"], "group": rungs["kind"],
                           "cluster": rungs["kind"]}).reset_index(drop=True)
    return layout, layout[layout["group"] != CLEAN].reset_index(drop=True)


def generator_layout(pairs: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(layout, within-rows) of the run's generators: each family a group, each training run
    (a pair and its snapshots; a fold's run is its own) a cluster."""
    layout = pd.DataFrame({"state": pairs["state"], "group": pairs["family"],
                           "cluster": pairs["run"]}).reset_index(drop=True)
    return layout, layout


def association_table(dist: pd.DataFrame, utility: pd.DataFrame, layout: pd.DataFrame,
                      within: pd.DataFrame, *, n_boot: int = 2000, n_perm: int = 9999,
                      seed: int = 0, bound: float = 0.18, alpha: float = 0.05) -> pd.DataFrame:
    """Every metric (a column of ``dist``: states x distances to the floor) against every
    utility (a column of ``utility``: states x changes), by every method of :data:`METHODS`
    (module docstring): ``r``, ``lo``/``hi``, ``p_perm``, ``n`` (states, or groups for
    ``between``), ``n_clusters``, ``p_holm``, ``verdict`` and ``vs_bound``."""
    states = list(layout["state"])
    missing = sorted(set(states) - set(dist.index) | set(states) - set(utility.index))
    if missing:
        raise ValueError(f"association_table: no metrics or utility for states {missing}")
    d, u = dist.reindex(states), utility.reindex(states)
    groups = layout.set_index("state")["group"]
    rows = []
    for ui, un in enumerate(utility.columns):
        for k, m in enumerate(dist.columns):
            s = seed + 1000 * k + 100_000 * ui
            x, y = d[m].to_numpy(float), u[un].to_numpy(float)
            for method in ("spearman", "pearson"):
                rows.append({"metric": m, "utility": un, "method": method, **grouped_test(
                    x, y, method, clusters=layout["cluster"], n_boot=n_boot, n_perm=n_perm,
                    seed=s)})
            rows.append({"metric": m, "utility": un, "method": "within", **grouped_test(
                d.loc[within["state"], m].to_numpy(float),
                u.loc[within["state"], un].to_numpy(float), "spearman",
                clusters=within["cluster"], groups=within["group"], n_boot=n_boot,
                n_perm=n_perm, seed=s)})
            means = pd.DataFrame({"x": x, "y": y, "g": groups.to_numpy()}).groupby("g").mean()
            between = correlation_test(means["x"], means["y"], "spearman", n_boot=n_boot,
                                       n_perm=n_perm, seed=s)
            if len(means) < MIN_GROUPS:  # too few groups for an interval to mean anything
                between = dict.fromkeys(between, float("nan")) | {"n": len(means)}
            rows.append({"metric": m, "utility": un, "method": "between", **between,
                         "n_clusters": len(means)})
    table = pd.DataFrame(rows)
    table["p_holm"] = table.groupby(["utility", "method"])["p_perm"].transform(
        lambda p: holm(p.to_numpy()))
    table["verdict"] = [association_verdict(r.lo, r.hi, r.p_holm, alpha)
                        if r.method in TESTED else "" for r in table.itertuples()]
    table["vs_bound"] = [bound_verdict(r.lo, r.hi, bound) if r.method == "pearson" else ""
                         for r in table.itertuples()]
    table["method"] = pd.Categorical(table["method"], METHODS, ordered=True)
    table["utility"] = pd.Categorical(table["utility"], list(utility.columns), ordered=True)
    table = table.sort_values(["utility", "method"], kind="stable")
    return table.astype({"method": str, "utility": str}).reset_index(drop=True)


def usable_metrics(dist: pd.DataFrame, min_share: float = 0.8) -> list[str]:
    """The metrics defined for at least ``min_share`` of the states and taking more than two
    values (a constant metric correlates with nothing)."""
    return [m for m in dist.columns if dist[m].notna().mean() >= min_share
            and dist[m].nunique() > 2]


def metric_matrix(dist: pd.DataFrame, method: str = "spearman") -> pd.DataFrame:
    """Metric x metric correlations across states (pairs with a NaN dropped)."""
    cols = list(dist.columns)
    out = pd.DataFrame(np.nan, index=cols, columns=cols)
    for i, a in enumerate(cols):
        for b in cols[i:]:
            x, y = paired_finite(dist[a], dist[b])
            r = correlation(x, y, method) if len(x) >= 3 else np.nan
            out.loc[a, b] = out.loc[b, a] = r
    return out


def agreement(long: pd.DataFrame, recorded: pd.DataFrame, pairs: pd.DataFrame,
              min_states: int = 4) -> pd.DataFrame:
    """Spearman correlation, per metric, between the values this notebook measured for the
    final generators of the pairs (``long``: their rows, per class) and those a generator
    notebook recorded in ``generator_metrics.csv`` (``recorded``: rows with variant ``final``
    named ``<family>_<class>_g<seed>`` at the same step). Says whether the lighter evaluation
    ranks generators as the full protocol does."""
    unit = {(p.state, c): Path(getattr(p, f"path_{c.lower()}")).stem
            for p in pairs.itertuples() for c in ("MM", "DN") if not p.snapshot}
    light = long[[(s, c) in unit for s, c in zip(long["state"], long["class"], strict=True)]]
    light = light.assign(unit=[unit[s, c] for s, c in zip(light["state"], light["class"],
                                                          strict=True)])
    step = pairs.set_index("state")["step"]
    rec = recorded[recorded["variant"] == "final"].copy()
    rec["unit"] = [f"{f}_{str(c).lower()}_g{int(s)}" for f, c, s in
                   zip(rec["family"], rec["class"], rec["seed"], strict=True)]
    steps = {u: step[s] for (s, _), u in unit.items()}
    rec = rec[[steps.get(u) == st for u, st in zip(rec["unit"], rec["step"], strict=True)]]
    rows = []
    for m, g in rec.groupby("metric"):
        mine = light[light["metric"] == m].set_index("unit")["value"]
        g = g.drop_duplicates("unit", keep="last").set_index("unit")
        both = g.index.intersection(mine.index)
        x, y = paired_finite(mine.loc[both], g.loc[both, "value"])
        rows.append({"metric": m, "n_states": len(x),
                     "spearman": correlation(x, y) if len(x) >= min_states else np.nan})
    return pd.DataFrame(rows, columns=["metric", "n_states", "spearman"])


# --------------------------------------------------------------------------------------------
# The words: from the headline numbers only
# --------------------------------------------------------------------------------------------
def _found(table: pd.DataFrame, utility: str, method: str) -> list[str]:
    t = table[(table.utility == utility) & (table.method == method)
              & (table.verdict != NO_ASSOCIATION)]
    return [f"`{r.metric}` {r.r:+.2f} [{r.lo:+.2f}, {r.hi:+.2f}], Holm p = {r.p_holm:.3g}"
            for r in t.itertuples()]


def utility_lines(utility: pd.DataFrame, names: Mapping[str, str]) -> list[str]:
    """One bullet per utility: the range of the states' changes, how many help or hurt with an
    interval excluding 0, and the duplicated-real control's change (``names``: state -> its
    group, ``control`` for the controls)."""
    lines = []
    for u, g in utility.groupby("utility", sort=False):
        states = g[g["state"].map(names).fillna("control") != "control"]
        controls = g[g["state"].map(names) == "control"]
        h = states.apply(helps, axis=1)
        better = "lower" if u in LOWER_IS_BETTER else "higher"
        dup = "; ".join(f"{r.diff:+.3f} [{r.lo:+.3f}, {r.hi:+.3f}]"
                        for r in controls.itertuples())
        lines.append(f"- **{u}** ({better} is better): changes from {states['diff'].min():+.3f} "
                     f"to {states['diff'].max():+.3f} over {len(states)} states; "
                     f"{int((h > 0).sum())} help and {int((h < 0).sum())} hurt with a seed "
                     "interval excluding 0 (uncorrected)"
                     + (f"; duplicated real crops instead: {dup}" if dup else "") + ".")
    return lines


def conclusions(*, calibration: pd.DataFrame | None, ladder: pd.DataFrame | None,
                generators: pd.DataFrame | None, utility: pd.DataFrame,
                names: Mapping[str, str], n_seeds: int, bound: float = 0.18,
                headline: str = "auroc", standin: bool = True) -> str:
    """Markdown bullets from the headline numbers: the calibration (``calibration``:
    :func:`hsilib.study.correlation_calibration.calibration_table`), the within-group
    association on the ladder (``ladder``) and among the run's generators (``generators``:
    :func:`association_table`), the utilities (``utility``, ``names``: state -> its group,
    ``control`` for the controls) and the study's bound. Either population may be None
    (absent). ``standin``: the data are the stand-in (not patients)."""
    lines = [f"All utilities: change of the probe's test score when a state's crops (both "
             f"classes, the real ratio) join the real training set, paired over {n_seeds} "
             "classifier seeds; correlation intervals resample whole corruption kinds or "
             "training runs (95% percentile bootstrap), permutations respect the groups, Holm "
             "across metrics."]
    lines += utility_lines(utility, names)
    if calibration is not None and ladder is not None:
        ok = calibration[calibration["at_floor"]]
        lines.append(f"- **Calibration on the oracle ladder**: {len(ok)} of {len(calibration)}"
                     " metrics read the floor for the perfect generator"
                     + (f" (not: {', '.join(calibration.loc[~calibration.at_floor, 'metric'])})"
                        if len(ok) < len(calibration) else "") + "; "
                     + "; ".join(f"`{r.metric}` rises with {r.rises} kinds"
                                 for r in calibration.itertuples()) + ".")
        for u in ladder["utility"].unique():
            found = _found(ladder, u, "within")
            lines.append(f"- **Ladder, {u}, within kind** (headline): "
                         + ("; ".join(found) if found else "no metric's association with the "
                            "utility is distinguishable from 0") + ".")
        trust = calibration[calibration["at_floor"] & (calibration["predicts"] != NO_ASSOCIATION)
                            & calibration["rises"].map(lambda s: 2 * int(s.split("/")[0])
                                                       >= int(s.split("/")[1]))]
        lines.append(f"- **Which metric to trust** (at the floor for the oracle, rising with at"
                     f" least half the kinds, predicting {headline} within kinds): "
                     + (", ".join(f"`{m}`" for m in trust["metric"]) if len(trust) else "none")
                     + ".")
    if generators is not None:
        for u in generators["utility"].unique():
            found = _found(generators, u, "within")
            lines.append(f"- **Run's generators, {u}, within family**: "
                         + ("; ".join(found) if found else "no metric's association is "
                            "distinguishable from 0") + ".")
        pe = generators[(generators.method == "pearson") & (generators.utility == headline)]
        counts = pe["vs_bound"].value_counts()
        lines.append(f"- **The study's |r| <= {bound:g}** (Pearson over the run's generators, "
                     f"{headline}): {int(counts.get('within the bound', 0))} metrics inside "
                     f"the bound, {int(counts.get('beyond the bound', 0))} beyond it, "
                     f"{int(counts.get('crosses the bound', 0))} undecided, "
                     f"{int(counts.get('undefined', 0))} without an interval (fewer than "
                     f"{MIN_GROUPS} training runs).")
    lines.append("- **What this does not show**: a few classifier seeds per state bound the "
                 "precision of every utility, and that noise pulls every correlation towards 0,"
                 " so an interval covering 0 is absence of evidence."
                 + (" The ladder's corruptions are the ones named; a real generator's flaws may "
                    "differ." if ladder is not None else "")
                 + (" The stand-in data are not patients." if standin else ""))
    return "\n".join(lines)


def headline_utilities(utility: pd.DataFrame, states: Sequence[str]) -> pd.DataFrame:
    """``utility`` (long: ``state``, ``utility``, ``diff``) as states x utilities of mean
    changes, rows in the order of ``states``."""
    wide = utility.pivot(index="state", columns="utility", values="diff")
    return wide.reindex(index=list(states), columns=list(dict.fromkeys(utility["utility"])))
