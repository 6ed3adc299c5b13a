"""The calibration of the generator metrics against the oracle ladder (notebook 08).

Every rung of the ladder (:mod:`hsilib.study.oracle`) is a generator whose flaw and its size are
known, so a metric can be checked the way an instrument is: does it read the floor for the
perfect generator, and does its reading move away from the floor as a flaw grows?

- :func:`floor_check`: is the clean oracle at the floor? A metric passes when the oracle's
  value differs from the floor by no more than sampling explains (:func:`apart`), the floor's
  own spread read off the **floor's interval** (the same protocol run on the real training
  crops themselves, with their drawn masks). A bias of the metric's pipeline (e.g. a lesion
  mask drawn for real crops and segmented for synthetic ones) fails it.
- :func:`monotonicity`: per metric and corruption kind, Spearman's rho between the strength
  (0 for the clean oracle, then the levels) and the distance to the floor, with a 95% interval
  from redrawing every rung's value within its bootstrap interval (normal, independently: the
  rungs share their lesions, so this overstates the noise and the interval is conservative);
  and whether the strongest rung is told apart from the floor (:func:`apart`).
- :func:`positions`: where each of the run's generators sits among the ladder's rungs on a
  metric's axis (the share of rungs closer to the floor, and the nearest rung).
- :func:`calibration_table`: one row per metric from the three, beside how well the metric
  predicts the utilities across the ladder (:func:`hsilib.study.correlation.association_table`).

Introduced in notebook 08.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from ..metrics.intervals import NO_ASSOCIATION, percentile_interval
from .correlation_stats import correlation, correlation_rows
from .oracle import CLEAN

#: The standard normal's 97.5% quantile: a 95% interval is about +-1.96 standard errors.
Z95 = 1.959964
#: Verdicts of :func:`monotonicity`.
RISES, FALLS, UNDECIDED = "rises", "falls", "not distinguishable from flat"


def apart(value: float, lo: float, hi: float, floor: float, floor_lo: float = np.nan,
          floor_hi: float = np.nan, z: float = Z95) -> bool:
    """True when a score is told apart from the floor: ``|value - floor|`` exceeds ``z``
    standard errors of the difference, ``hypot(se_value, se_floor)``. Each standard error is
    read off the half of its 95% interval that faces the other number (half-width / 1.96): the
    set-level intervals are skewed (a resample repeats images, which reads as lost diversity),
    so the half facing the other number is the one that says how far sampling could carry the
    estimate towards it. Without a floor interval the floor counts as exact. The value and the
    floor share the held-out crops, whose noise cancels in the difference, so treating them as
    independent is conservative. Undefined numbers tell nothing apart."""
    if not np.isfinite([value, lo, hi, floor]).all():
        return False
    up = value > floor
    se = max(value - lo if up else hi - value, 0.0) / Z95
    se_floor = 0.0
    if np.isfinite([floor_lo, floor_hi]).all():
        se_floor = max(floor_hi - floor if up else floor - floor_lo, 0.0) / Z95
    return bool(abs(value - floor) > z * np.hypot(se, se_floor))


def floor_band(rows: pd.DataFrame, floors: pd.DataFrame) -> pd.DataFrame:
    """``rows`` (metric rows with ``class``) with the floor's interval beside each:
    ``floor_low``/``floor_high`` from ``floors`` (the protocol run on the real training crops,
    :meth:`hsilib.study.correlation_scoring.StateScorer.floor_table`), or, for a row that
    carries the interval of value minus floor (``excess_low``/``excess_high``, the task-aware
    distance), ``value - excess_high`` to ``value - excess_low``: the value then lies in the
    band exactly when that interval covers 0. The detectability floor (a probe between two
    halves of the real crops) gets the value's interval moved to the floor."""
    f = floors.set_index(["class", "metric"])[["ci_low", "ci_high"]].rename(
        columns={"ci_low": "floor_low", "ci_high": "floor_high"})
    t = rows.drop(columns=["floor_low", "floor_high"], errors="ignore").join(
        f, on=["class", "metric"])
    probe = (t["kind"] == "detectability").to_numpy() if "kind" in t.columns else False
    # the detectability floor is itself a probe's AUROC, as noisy as the value: the value's
    # interval moved to the floor
    t.loc[probe, "floor_low"] = t.loc[probe, "floor"] - (t.loc[probe, "value"]
                                                          - t.loc[probe, "ci_low"])
    t.loc[probe, "floor_high"] = t.loc[probe, "floor"] + (t.loc[probe, "ci_high"]
                                                           - t.loc[probe, "value"])
    if "excess_low" in t.columns:
        own = np.isfinite(t["excess_low"].astype(float)) & np.isfinite(
            t["excess_high"].astype(float))
        t.loc[own, "floor_low"] = t.loc[own, "value"] - t.loc[own, "excess_high"]
        t.loc[own, "floor_high"] = t.loc[own, "value"] - t.loc[own, "excess_low"]
    return t


def floor_check(oracle: pd.DataFrame, floors: pd.DataFrame) -> pd.DataFrame:
    """Per metric and class: the clean oracle's row (``oracle``: the protocol's columns and
    ``class``) beside the floor's interval (:func:`floor_band`), and ``at_floor``: the clean
    oracle is not told apart from the floor (:func:`apart`)."""
    t = floor_band(oracle, floors)
    t["at_floor"] = [not apart(r.value, r.ci_low, r.ci_high, r.floor, r.floor_low, r.floor_high)
                     for r in t.itertuples()]
    return t[["class", "metric", "value", "ci_low", "ci_high", "floor", "floor_low",
              "floor_high", "at_floor"]]


def _distance_draws(rows: pd.DataFrame, n_draws: int, rng: np.random.Generator) -> np.ndarray:
    """n_draws x rungs distances to the floor, each rung's value redrawn within its interval,
    averaged over classes (``rows``: one row per rung and class, in the rungs' order)."""
    sd = ((rows["ci_high"] - rows["ci_low"]) / (2 * 1.959964)).fillna(0).clip(lower=0)
    draws = rng.normal(rows["value"].to_numpy(float), sd.to_numpy(float),
                       (n_draws, len(rows)))
    d = np.abs(draws - rows["floor"].fillna(0).to_numpy(float))
    codes = pd.factorize(rows["state"])[0]
    return np.stack([d[:, codes == k].mean(1) for k in range(codes.max() + 1)], axis=1)


def monotonicity(long: pd.DataFrame, floors: pd.DataFrame, rungs: pd.DataFrame, *,
                 n_draws: int = 1000, seed: int = 0, level: float = 0.95) -> pd.DataFrame:
    """Per metric and corruption kind: ``rho`` (Spearman, strength vs distance to the floor,
    the clean oracle at strength 0), its interval ``lo``/``hi`` (module docstring), the
    ``verdict`` (:data:`RISES` when the interval lies above 0, :data:`FALLS` below) and
    ``detected`` (the strongest rung is told apart from the floor in some class, and the clean
    oracle is not, in that class: a metric biased at the oracle detects nothing).

    ``long``: the ladder's metric rows (columns ``state``, ``class``, ``metric``, ``value``,
    ``floor``, ``ci_low``, ``ci_high``); ``floors``: the floor's intervals (:func:`floor_band`);
    ``rungs``: one row per ladder state (``state``, ``kind``, ``level``)."""
    rng = np.random.default_rng(seed)
    clean = rungs.loc[rungs["kind"] == CLEAN, "state"].iloc[0]
    level_of = rungs.set_index("state")["level"]
    t = floor_band(long[long["state"].isin(level_of.index)], floors)
    t["level"] = level_of.loc[t["state"]].to_numpy(float)
    rows = []
    for kind in [k for k in rungs["kind"].unique() if k != CLEAN]:
        names = [clean, *rungs.loc[rungs["kind"] == kind].sort_values("level")["state"]]
        levels = level_of.loc[names].to_numpy(float)
        for metric, g in t[t["state"].isin(names)].groupby("metric", sort=False):
            g = g.sort_values(["level", "class"])
            point = g.assign(d=(g["value"] - g["floor"].fillna(0)).abs()).groupby(
                "state", sort=False)["d"].mean().reindex(names).to_numpy()
            draws = _distance_draws(g, n_draws, rng)
            if len(names) > 2:
                rho = correlation(levels, point)
                boot = correlation_rows(np.broadcast_to(levels, draws.shape), draws)
            else:  # one level: the sign of the step from the clean oracle
                rho, boot = float(np.sign(point[-1] - point[0])), np.sign(draws[:, -1]
                                                                          - draws[:, 0])
            lo, hi = percentile_interval(boot, level)
            verdict = RISES if lo > 0 else FALLS if hi < 0 else UNDECIDED
            rows.append({"metric": metric, "kind": kind, "rho": rho, "lo": lo, "hi": hi,
                         "verdict": verdict, "detected": _detected(g, names)})
    return pd.DataFrame(rows)


def _detected(g: pd.DataFrame, names: Sequence[str]) -> bool:
    """Some class's strongest rung is told apart from the floor while its clean oracle is
    not (``g``: one metric's rows of the rungs ``names``, clean first, with the floor's band
    of :func:`floor_band`)."""
    for _, rows in g.groupby("class"):
        by = rows.set_index("state")
        c, s = by.loc[names[0]], by.loc[names[-1]]
        if not apart(c.value, c.ci_low, c.ci_high, c.floor, c.floor_low, c.floor_high) and \
                apart(s.value, s.ci_low, s.ci_high, s.floor, s.floor_low, s.floor_high):
            return True
    return False


def positions(ladder: pd.DataFrame, generators: pd.DataFrame) -> pd.DataFrame:
    """Where each generator state sits on each metric's axis among the ladder's corrupted
    rungs: ``share_below`` (the share of rungs nearer the floor than the generator) and the
    ``nearest`` rung. ``ladder`` and ``generators``: distances to the floor (states x
    metrics, :func:`hsilib.study.correlation_scoring.distances`); ``ladder`` without the clean
    oracle."""
    rows = []
    for metric in [m for m in generators.columns if m in ladder.columns]:
        rung = ladder[metric].dropna()
        for state, v in generators[metric].items():
            if not np.isfinite(v) or rung.empty:
                continue
            rows.append({"state": state, "metric": metric, "distance": v,
                         "share_below": float((rung < v).mean()),
                         "nearest": (rung - v).abs().idxmin()})
    return pd.DataFrame(rows, columns=["state", "metric", "distance", "share_below", "nearest"])


def calibration_table(check: pd.DataFrame, mono: pd.DataFrame, assoc: pd.DataFrame,
                      place: pd.DataFrame, utility: str = "auroc") -> pd.DataFrame:
    """One row per metric: ``at_floor`` (the clean oracle at the floor in every scored class),
    ``rises`` (kinds whose rho interval lies above 0, of all kinds), ``detects`` (kinds whose
    strongest rung is told apart from the floor), ``median_rho``, the within-kind association
    with ``utility`` across the ladder (``r_within``, its interval and verdict, from
    :func:`hsilib.study.correlation.association_table`, method ``within``) and where the run's
    generators sit (``generators_share_below``: the median over them of the share of rungs
    nearer the floor)."""
    kinds = mono["kind"].nunique()
    by = mono.groupby("metric", sort=False)
    out = pd.DataFrame({
        "at_floor": check.groupby("metric", sort=False)["at_floor"].all(),
        "rises": by["verdict"].apply(lambda v: f"{int((v == RISES).sum())}/{kinds}"),
        "detects": by["detected"].apply(lambda v: f"{int(v.sum())}/{kinds}"),
        "median_rho": by["rho"].median(),
        "rising_kinds": by.apply(lambda g: ", ".join(g.loc[g.verdict == RISES, "kind"]),
                                 include_groups=False),
    })
    a = assoc[(assoc["method"] == "within") & (assoc["utility"] == utility)].set_index("metric")
    out["r_within"] = a["r"]
    out["r_lo"], out["r_hi"] = a["lo"], a["hi"]
    out["predicts"] = a["verdict"].fillna(NO_ASSOCIATION)
    out["generators_share_below"] = place.groupby("metric")["share_below"].median() \
        if len(place) else np.nan
    return out.rename_axis("metric").reset_index()
