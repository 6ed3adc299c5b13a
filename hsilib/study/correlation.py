"""Do generator metrics predict whether synthetic data helps? (notebook 08)

A **generator state** is one single-class generator checkpoint: a final generator of notebooks
02-05, a short comparison or sweep run, or a snapshot kept along training
(:func:`hsilib.train.trainer.snapshot_path`). :func:`discover_states` finds them in a run's
checkpoint folder from the checkpoints alone (family, step, generator seed, and the class from
the ids of the crops it trained on), so a new family is picked up without code here. Every state
gets metric values (:func:`hsilib.metrics.protocol.evaluate_generator`) and a **utility**: the
change of a fixed probe classifier's test AUROC and sensitivity when the state's synthetic crops
join the real training set, paired by classifier seed (:func:`utility_table`).

The statistics, across states:

- :func:`correlation` (Spearman, Kendall tau-b, Pearson), vectorised over rows so that bootstrap
  resamples and permutations are computed in one go;
- :func:`correlation_test`: the estimate, a percentile-bootstrap interval that resamples the
  generator STATES (what it covers: which states the study happened to have; not the noise of
  each state's utility, which is inside every resample) and a two-sided permutation p-value,
  ``(1 + #{|r_perm| >= |r|}) / (n_perm + 1)``, so the smallest possible value is
  ``1 / (n_perm + 1)``;
- :func:`partial_correlation`: the correlation left after removing group means (dummy-coded
  family and class, say) from both variables, on ranks for Spearman, with a permutation test
  that shuffles within groups;
- :func:`correlation_table`: every metric x utility x method, Holm-corrected across the
  metrics of one utility and method (:func:`hsilib.study.stats.holm`), with verdicts in words;
- :func:`conclusions`: the closing text from those numbers.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import stats as sps

from ..metrics import classification as cm
from ..metrics.intervals import (
    NO_ASSOCIATION,
    association_verdict,
    bootstrap,
    bound_verdict,
    percentile_interval,
)
from .stats import holm

METHODS = ("spearman", "kendall", "pearson")
#: Utilities: test metric of the probe classifier whose change a state causes.
UTILITIES = ("auroc", "sensitivity")
#: Name of the real-only probe configuration.
BASELINE = "real"


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


def _paired_finite(x, y) -> tuple[np.ndarray, np.ndarray]:
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
    x, y = _paired_finite(x, y)
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
            x, y = _paired_finite(metrics[a], metrics[b])
            r = correlation(x, y, method) if len(x) >= 3 else np.nan
            out.loc[a, b] = out.loc[b, a] = r
    return out


# --------------------------------------------------------------------------------------------
# Generator states
# --------------------------------------------------------------------------------------------
STATE_COLUMNS = ["state", "path", "family", "class", "seed", "step", "steps", "progress",
                 "snapshot", "image_size", "key"]


def discover_states(checkpoint_dir: str | Path, splits: pd.DataFrame | str | Path,
                    train_split: str = "train") -> tuple[pd.DataFrame, list[str]]:
    """Every single-class generator checkpoint in ``checkpoint_dir`` and its ``snapshots/``.

    A checkpoint qualifies when :func:`hsilib.models.registry.read_checkpoint` reads it (other
    files are ignored; the classifier notebooks' weights, named ``NN_*.pt``, are not even
    opened, since under ``full`` they are many and large) and every crop id it trained on lies
    in the ``train_split`` of ``splits`` (notebook 01's split, the one whose test crops score the
    probe classifier) and in one class. Two files of the same run at the same step (a run saved
    under two names) count once. Returns one row per state (:data:`STATE_COLUMNS`; ``progress`` =
    step / the config's planned steps; ``seed`` = the run's data and initial-weight seed) and a
    list of notes on the checkpoints left out and why.
    """
    from ..models.registry import read_checkpoint

    if not isinstance(splits, pd.DataFrame):
        splits = pd.read_csv(splits, dtype={"id": str, "source": str})
    split_of = splits.set_index("id")["split"]
    class_of = splits.set_index("id")["class"]
    folder = Path(checkpoint_dir)
    if not folder.is_dir():
        raise FileNotFoundError(f"checkpoint folder {folder} does not exist")
    paths = sorted(folder.glob("*.pt")) + sorted((folder / "snapshots").glob("*.pt"))
    rows, notes, seen = [], [], {}
    for path in paths:
        if re.match(r"\d\d_", path.name):  # a classifier notebook's weights (06_, 07_, ...)
            continue
        try:
            ckpt = read_checkpoint(path, "cpu")
        except Exception:  # noqa: BLE001 (not a generator checkpoint of this project)
            continue
        ids = [str(i) for i in (ckpt.get("data_ids") or [])]
        if not ids:
            notes.append(f"{path.name}: no data_ids, so its training crops are unknown")
            continue
        outside = [i for i in ids if split_of.get(i) != train_split]
        if outside:
            notes.append(f"{path.name}: {len(outside)} of its training crops are not in the "
                         f"'{train_split}' split of notebook 01 (e.g. a cross-validation fold's "
                         "generator); left out so no test crop reaches the probe classifier")
            continue
        classes = sorted({class_of[i] for i in ids})
        if len(classes) != 1:
            notes.append(f"{path.name}: trained on classes {classes} (a conditional model); "
                         "only single-class generators are states here")
            continue
        cfg = ckpt["config"]
        key = hashlib.sha256(json.dumps(
            [ckpt["family"], cfg, int(ckpt["step"]), ckpt.get("data_seed"), sorted(ids)],
            sort_keys=True, default=str).encode()).hexdigest()[:16]
        if key in seen:
            notes.append(f"{path.name}: the same run and step as {seen[key]}; counted once")
            continue
        seen[key] = path.name
        steps = int(cfg.get("steps", ckpt["step"]) or ckpt["step"])
        rows.append({"state": path.stem, "path": str(path), "family": ckpt["family"],
                     "class": classes[0], "seed": int(ckpt.get("data_seed") or 0),
                     "step": int(ckpt["step"]), "steps": steps,
                     "progress": int(ckpt["step"]) / max(steps, 1),
                     "snapshot": path.parent.name == "snapshots",
                     "image_size": int(cfg.get("image_size", 0)), "key": key})
    return pd.DataFrame(rows, columns=STATE_COLUMNS), notes


def spread_subset(states: pd.DataFrame, max_states: int | None) -> pd.DataFrame:
    """At most ``max_states`` rows of ``states`` (all when None or fewer), chosen evenly
    spaced along the table sorted by family, class, seed and step, so that every family and
    training stage stays represented; the rows keep their order."""
    if max_states is None or len(states) <= max_states:
        return states
    order = states.sort_values(["family", "class", "seed", "step", "state"]).index
    keep = order[np.unique(np.linspace(0, len(order) - 1, max_states).round().astype(int))]
    return states.loc[states.index.isin(keep)]


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
        x, y = _paired_finite(light.loc[g.index, m], g["value"])
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
