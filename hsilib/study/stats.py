"""The numbers of the classifier study, computed from saved predictions only (notebook 06).

A configuration is trained several times: once per classifier seed, and, when it uses
synthetic crops, once per seed AND generator replicate (a "run"). The unit of replication is the
classifier seed: the runs of one seed (its generator replicates) share that seed's baseline run,
so they are averaged within the seed before any interval or test over runs (treating them as
independent pairs raised the false-positive rate of the paired test at 0.05 to 0.11-0.18).
Its metrics come with three intervals, each covering a different source of variation:

- **runs** (:func:`summary_table`, :func:`compare_seeds` in :func:`paired_table`): mean and
  t-based 95% CI over the classifier seeds (generator replicates averaged within seed) on the
  fixed test set: training variation, with these generator replicates held fixed;
- **test resampling** (:func:`test_uncertainty`, :func:`paired_table`): a cluster bootstrap
  over the SOURCE IMAGES of the test set (stratified by class; all crops of a source move
  together), of the mean over runs of the metric, runs fixed; comparisons use the SAME
  resamples for both configurations;
- **DeLong** (AUROC only): the normal interval of the mean AUROC over runs from its
  structural components, test sampling only and crops treated as independent.

:func:`per_seed_metrics` scores every run on test with a threshold chosen on validation (plus
TRTS and the held-out synthetic check of TSTR); :func:`holm` corrects p-values across
configurations; the verdicts put the intervals into words
(:func:`hsilib.metrics.intervals.chance_verdict`: an AUROC interval covering 0.5 is "not
distinguishable from chance"; :func:`~hsilib.metrics.intervals.change_verdict`: a difference
is an "improvement" or "deterioration" only when every interval excludes 0 and the
Holm-adjusted paired t-test agrees, "no change (equivalent within +/-m)" when the equivalence
tests against the margin :data:`MARGINS` pass (Holm-adjusted), "cannot tell" otherwise, with
the minimal detectable change of :mod:`hsilib.metrics.power` beside it);
:func:`confusion_counts` sums test confusion matrices over runs.

Under cross-validation (``GANStudyConfig.replicates = "folds"``) a run is one configuration
and classifier seed with its K folds POOLED: every crop is a test crop of exactly one fold, so
the pooled out-of-fold predictions score every crop once per run, each fold's crops at the
threshold chosen on that fold's own validation crops
(:func:`hsilib.train.predictions.fold_thresholds`). The test set of every run is then the whole
data set (MM and DN crops), the same for every run, and the cluster bootstrap, DeLong and the
paired tables work on it unchanged; what they cover changes: the runs interval covers the
classifier seeds (the folds' training variation is inside each pooled run), and the test
resampling covers which source images the study happened to have, not a held-out split.

Melanoma is the positive class in every number.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from ..metrics import classification as cm
from ..metrics import power as pw
from ..metrics.intervals import (
    bootstrap_pvalue,
    chance_verdict,
    change_verdict,
    percentile_interval,
    t_interval,
    tost_bootstrap,
    tost_normal,
    tost_t,
)
from ..train.predictions import fold_thresholds, test_metrics
from .plan import BASELINE, TSTR

TABLE_METRICS = ("auroc", "auprc", "sensitivity", "specificity", "f1", "balanced_accuracy")
#: Stated on every table and figure.
POSITIVE_NOTE = "melanoma (MM) = positive class"
#: Columns that identify one run of a configuration.
RUN = ["seed", "generator_seed"]
#: Name of TSTR's score on held-out synthetic crops (another generator replicate's export).
TSTS_HELDOUT = "tstr_on_heldout_syn"
#: Equivalence margins (+/-) of a difference per metric, stated before any result: 0.05 for
#: the ranking metrics, 0.10 (ten percentage points) for the rates at the validation-chosen
#: threshold (docs/protocol.md, "Protocol v3", argues the choice).
MARGINS = {"auroc": 0.05, "auprc": 0.05, "sensitivity": 0.10, "specificity": 0.10,
           "precision": 0.10, "f1": 0.10, "balanced_accuracy": 0.10, "accuracy": 0.10}
#: Power at which the minimal detectable change is given.
POWER = 0.8


def per_seed_metrics(preds: pd.DataFrame, rule: str = "youden") -> pd.DataFrame:
    """Test metrics per run (config, seed, generator replicate), plus three derived rows:

    ``TRTR``: the baseline's test rows (a copy, for the synthetic-only table); ``TRTS``: the
    baseline scored on each generator replicate's synthetic crops (split
    ``test_synthetic_g<r>``, recorded as replicate ``r``; under cross-validation the split
    ``test_synthetic``, each fold's baseline on its own fold's exports);
    ``tstr_on_heldout_syn``: TSTR scored on the synthetic crops of a replicate it was not
    trained on (split ``test_heldout``).
    Thresholds always come from the run's real validation predictions.
    """
    per_seed = test_metrics(preds, rule)
    base = preds[preds["config"] == BASELINE]
    extra = [per_seed[per_seed["config"] == BASELINE].assign(config="TRTR")]
    for split in sorted(s for s in base["split"].unique() if s.startswith("test_synthetic_g")):
        rep = int(split.rsplit("_g", 1)[1])
        extra.append(test_metrics(base, rule, test_split=split)
                     .assign(config="TRTS", generator_seed=rep))
    if (base["split"] == "test_synthetic").any():  # folds: each fold's own generators' crops
        extra.append(test_metrics(base, rule, test_split="test_synthetic")
                     .assign(config="TRTS"))
    tstr = preds[preds["config"] == TSTR]
    if (tstr["split"] == "test_heldout").any():
        extra.append(test_metrics(tstr, rule, test_split="test_heldout")
                     .assign(config=TSTS_HELDOUT))
    return pd.concat([per_seed, *extra], ignore_index=True)


def clipped_ci(agg: pd.DataFrame) -> pd.DataFrame:
    """``agg`` (columns ``lo``, ``hi``, e.g. from
    :func:`hsilib.metrics.classification.aggregate_seeds`) with its CI clipped to [0, 1]: every
    metric here lives there, and a t-interval over 2-5 runs can overshoot that range."""
    return agg.assign(lo=agg["lo"].clip(0, 1), hi=agg["hi"].clip(0, 1))


def runs_label(per_seed: pd.DataFrame, *configs: str) -> str:
    """What an interval over the runs of ``configs`` covers, e.g. ``"over 3 classifier seeds,
    2 generator replicates averaged within seed"`` (the seeds all of them ran)."""
    rows = per_seed[per_seed["config"].isin(configs)]
    seeds = set(rows["seed"])
    for c in configs:
        seeds &= set(rows.loc[rows["config"] == c, "seed"])
    n_seeds = len(seeds)
    reps = rows.loc[rows["generator_seed"] >= 0, "generator_seed"].nunique()
    text = f"over {n_seeds} classifier seed{'s' * (n_seeds != 1)}"
    if "folds" in rows.columns and len(rows):
        return text + f", each run pooling {int(rows['folds'].max())} folds"
    return text + (f", {reps} generator replicate{'s' * (reps != 1)} averaged within seed"
                   if reps else "")


def summary_table(per_seed: pd.DataFrame, configs: Sequence[str],
                  metrics: Sequence[str] = TABLE_METRICS) -> pd.DataFrame:
    """Wide table: one row per config, ``mean [lo, hi]`` (t-based 95% CI over the classifier
    seeds, generator replicates averaged within seed, clipped to the metric's range [0, 1])
    and a ``runs`` column saying what the interval covers (:func:`runs_label`)."""
    chosen = per_seed[per_seed["config"].isin(configs)]
    agg = clipped_ci(cm.aggregate_seeds(chosen, "config", metrics))
    agg["cell"] = [f"{m:.3f} [{lo:.3f}, {hi:.3f}]" for m, lo, hi in
                   zip(agg["mean"], agg["lo"], agg["hi"], strict=True)]
    wide = agg.pivot(index="config", columns="metric", values="cell")
    wide = wide.loc[[c for c in configs if c in wide.index], list(metrics)]
    wide["runs"] = [runs_label(per_seed, c) for c in wide.index]
    wide.columns.name = POSITIVE_NOTE
    return wide


def holm(pvalues: Sequence[float]) -> np.ndarray:
    """Holm (1979) step-down adjusted p-values (family-wise error), NaN-safe."""
    p = np.asarray(pvalues, dtype=float)
    out = np.full_like(p, np.nan)
    ok = np.flatnonzero(np.isfinite(p))
    order = ok[np.argsort(p[ok])]
    running = 0.0
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (len(order) - rank) * p[i]))
        out[i] = running
    return out


# --------------------------------------------------------------------------------------------
# Test resampling: cluster bootstrap over source images, DeLong
# --------------------------------------------------------------------------------------------
def test_crops(preds: pd.DataFrame) -> pd.DataFrame:
    """The real test set (``id, source, label``, sorted by id), checked to be the same for
    every configuration and run (they are all scored on it; under cross-validation a run's test
    set is the union of its folds' test crops)."""
    test = preds[preds["split"] == "test"]
    ref = test[["id", "source", "label"]].drop_duplicates().sort_values("id", ignore_index=True)
    if ref["id"].duplicated().any():
        raise ValueError("a test crop appears with two sources or labels in the predictions")
    sizes = test.groupby(["config", *RUN]).size()
    if (sizes != len(ref)).any():
        bad = sizes[sizes != len(ref)].index.tolist()[:3]
        raise ValueError(f"runs {bad} were not scored on the same {len(ref)} test crops")
    return ref


test_crops.__test__ = False  # not a pytest test despite its name


class TestResampler:
    """Scores configurations on the SAME cluster-bootstrap resamples of the real test set.

    ``weights`` (n_boot x crops, :func:`hsilib.metrics.classification.cluster_weights`) is drawn
    once from the test crops' sources and classes, so the resampled scores of two
    configurations are paired. :meth:`scores` gives, per metric, the mean over a
    configuration's runs of the metric on every resample (each run at its own validation
    threshold); :meth:`probabilities` the runs x crops test probabilities for DeLong.
    """

    __test__ = False  # not a pytest test class despite its name

    def __init__(self, preds: pd.DataFrame, rule: str = "youden", n_boot: int = 2000,
                 seed: int = 0):
        self.preds, self.rule = preds, rule
        self.test = test_crops(preds)
        self.y = self.test["label"].to_numpy(int)
        self.weights = cm.cluster_weights(self.test["source"], self.y, n_boot, seed)
        self._cache: dict[str, tuple[np.ndarray, dict[str, np.ndarray]]] = {}

    def _runs(self, config: str) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        if config not in self._cache:
            rows = self.preds[self.preds["config"] == config]
            if rows.empty:
                raise ValueError(f"no predictions of config {config!r}")
            probs, sums = [], {}
            for _, g in rows.groupby(RUN, sort=True):
                t = g[g["split"] == "test"].set_index("id").loc[self.test["id"]]
                thr = fold_thresholds(g, t, self.rule)  # one per fold under folds
                probs.append(t["p_mm"].to_numpy(float))
                for m, vals in cm.weighted_scores(self.y, probs[-1], thr, self.weights).items():
                    sums[m] = sums.get(m, 0) + vals
            self._cache[config] = (np.vstack(probs), {m: s / len(probs) for m, s in sums.items()})
        return self._cache[config]

    def scores(self, config: str) -> dict[str, np.ndarray]:
        """Metric -> n_boot resampled values of the mean over the config's runs."""
        return self._runs(config)[1]

    def probabilities(self, config: str) -> np.ndarray:
        """Runs x test crops (in :attr:`test` order) probabilities of melanoma."""
        return self._runs(config)[0]


def test_uncertainty(per_seed: pd.DataFrame, resampler: TestResampler, configs: Sequence[str],
                     metrics: Sequence[str] = ("auroc", "sensitivity", "specificity", "f1"),
                     level: float = 0.95) -> pd.DataFrame:
    """Per config and metric: the mean over runs with three 95% intervals: over classifier
    seeds with generator replicates averaged within seed (``runs_lo``, ``runs_hi``; ``runs``
    says what it covers), test resampling by source image (``boot_lo``, ``boot_hi``) and, for
    AUROC, DeLong (``delong_lo``, ``delong_hi``); ``verdict`` says whether an AUROC is
    distinguishable from chance (every interval must exclude 0.5)."""
    rows = []
    for c in configs:
        ps = per_seed[per_seed["config"] == c]
        boot = resampler.scores(c)
        dl = (cm.delong(resampler.y, resampler.probabilities(c), level)
              if "auroc" in metrics else None)
        for m in metrics:
            mean, lo, hi = t_interval(cm.seed_means(ps, m), level)
            boot_lo, boot_hi = percentile_interval(boot[m], level)
            row = {"config": c, "metric": m, "mean": mean, "runs": runs_label(per_seed, c),
                   "runs_lo": max(lo, 0.0), "runs_hi": min(hi, 1.0),
                   "boot_lo": boot_lo, "boot_hi": boot_hi,
                   "delong_lo": np.nan, "delong_hi": np.nan, "verdict": ""}
            if m == "auroc":
                row.update(delong_lo=dl["lo"], delong_hi=dl["hi"])
                row["verdict"] = chance_verdict([(row[f"{k}_lo"], row[f"{k}_hi"])
                                                 for k in ("runs", "boot", "delong")])
            rows.append(row)
    return pd.DataFrame(rows)


test_uncertainty.__test__ = False  # not a pytest test despite its name


def paired_table(per_seed: pd.DataFrame, resampler: TestResampler, others: Sequence[str],
                 baseline: str = BASELINE, metrics: Sequence[str] = ("auroc", "f1"),
                 level: float = 0.95, alpha: float = 0.05,
                 margins: Mapping[str, float] = MARGINS) -> pd.DataFrame:
    """Each config vs ``baseline`` on the same test crops, three ways, with equivalence and power.

    Over classifier seeds (generator replicates averaged within seed; ``runs`` says so): mean
    difference ``diff``, t CI (``lo``, ``hi``), paired t-test ``p_t`` with Holm-adjusted
    ``p_t_holm`` across the configs of the table (per metric), ``sd`` of the per-seed
    differences, ``n_seeds`` and ``n_cells`` (:func:`hsilib.metrics.classification.compare_seeds`).
    Test resampling: the difference of the run-mean metric on the SAME source-image resamples
    (``boot_lo``, ``boot_hi``, ``p_boot``). AUROC: DeLong's paired test of the run-mean AUROCs
    (``delong_lo``, ``delong_hi``, ``p_delong``).

    Equivalence (:func:`equivalence`): ``margin`` (``margins[metric]``), ``p_tost`` (the
    largest TOST p-value of the seeds, the bootstrap and DeLong: every source must place the
    difference inside the margin) and ``p_tost_holm``. Power (:mod:`hsilib.metrics.power`,
    :data:`POWER` at ``alpha``): ``mdc_runs`` (the seed test alone, from ``sd``), ``mdc_test``
    (test resampling alone, from ``se_test``, the larger of the bootstrap SD and DeLong's SE)
    and ``mdc``, the change the whole rule detects. ``verdict``: improvement / deterioration
    when every interval excludes 0 and ``p_t_holm`` < ``alpha``, else "no change (equivalent
    within +/-margin)" when ``p_tost_holm`` < ``alpha``, else "cannot tell" (a metric without
    a margin: "no detectable change").
    """
    base = resampler.scores(baseline)
    rows = []
    for other in others:
        boot = resampler.scores(other)
        dl = cm.delong_paired(resampler.y, resampler.probabilities(baseline),
                              resampler.probabilities(other), level)
        for m in metrics:
            d = boot[m] - base[m]
            d = d[np.isfinite(d)]
            row = cm.compare_seeds(per_seed, baseline, other, m, level)
            # a t-interval over 2-5 seeds can overshoot the range of a difference, [-1, 1]
            row.update(lo=max(row["lo"], -1.0), hi=min(row["hi"], 1.0),
                       runs=runs_label(per_seed, baseline, other))
            boot_lo, boot_hi = percentile_interval(d, level)
            row.update(boot_lo=boot_lo, boot_hi=boot_hi, p_boot=bootstrap_pvalue(d),
                       delong_lo=np.nan, delong_hi=np.nan, p_delong=np.nan)
            if m == "auroc":
                row.update(delong_lo=max(dl["lo"], -1.0), delong_hi=min(dl["hi"], 1.0),
                           p_delong=dl["p_value"])
            seeds = cm.seed_differences(per_seed, baseline, other, m).to_numpy()
            row.update(equivalence(seeds, d, dl if m == "auroc" else None, margins.get(m),
                                   alpha))
            rows.append(row)
    table = pd.DataFrame(rows)
    for p in ("p_t", "p_tost"):
        table[f"{p}_holm"] = table.groupby("metric")[p].transform(lambda s: holm(s.to_numpy()))
    table["verdict"] = [
        change_verdict(r["diff"], [(r["lo"], r["hi"]), (r["boot_lo"], r["boot_hi"])]
                       + ([(r["delong_lo"], r["delong_hi"])] if r["metric"] == "auroc" else []),
                       r["p_t_holm"], alpha,
                       p_equivalence=None if np.isnan(r["margin"]) else r["p_tost_holm"],
                       margin=r["margin"]) for _, r in table.iterrows()]
    return table


def equivalence(seeds: np.ndarray, boot: np.ndarray, delong: Mapping[str, float] | None,
                margin: float | None, alpha: float = 0.05) -> dict[str, float]:
    """Equivalence test and power of one difference from its three sources: the per-seed
    differences ``seeds``, the paired bootstrap differences ``boot`` and (AUROC) DeLong's
    paired result ``delong`` (``diff``, ``se``).

    ``p_tost``: the largest of the sources' TOST p-values against ``+/- margin``
    (:func:`~hsilib.metrics.intervals.tost_t`, ``tost_bootstrap``, ``tost_normal``; an
    intersection-union test: equivalence needs every source; NaN without a margin or with
    fewer than two seeds). ``se_test``: the difference's standard error over test resampling
    (the larger of the bootstrap SD and DeLong's SE). ``mdc_runs``, ``mdc_test``, ``mdc``: the
    minimal detectable change at :data:`POWER` of the seed test, of test resampling and of
    both together (:func:`hsilib.metrics.power.mdc`)."""
    sd = float(np.std(seeds, ddof=1)) if len(seeds) > 1 else float("nan")
    se_test = float(np.std(boot, ddof=1)) if len(boot) > 1 else float("nan")
    if delong is not None:
        se_test = max(se_test, float(delong["se"]))
    out = {"margin": float("nan") if margin is None else float(margin), "p_tost": float("nan"),
           "se_test": se_test}
    if margin is not None:
        ps = [tost_t(seeds, margin), tost_bootstrap(boot, margin)]
        if delong is not None:
            ps.append(tost_normal(delong["diff"], delong["se"], margin))
        out["p_tost"] = float("nan") if np.isnan(ps).any() else float(max(ps))
    n = len(seeds)
    out.update(mdc_runs=pw.mdc(sd_runs=sd, n_seeds=n, alpha=alpha, target=POWER),
               mdc_test=pw.mdc(sd_runs=None, n_seeds=n, se_test=se_test, alpha=alpha,
                               target=POWER),
               mdc=pw.mdc(sd_runs=sd, n_seeds=n, se_test=se_test, alpha=alpha, target=POWER))
    return out


def confusion_counts(preds: pd.DataFrame, config: str, rule: str = "youden") -> np.ndarray:
    """Test confusion matrix summed over runs (rows true MM, DN; columns predicted MM, DN),
    each run at its own validation-chosen threshold."""
    total = np.zeros((2, 2), int)
    for _, g in preds[preds["config"] == config].groupby(RUN):
        t = g[g["split"] == "test"]
        c = cm.confusion(t["label"], t["p_mm"] >= fold_thresholds(g, t, rule))
        total += np.array([[c["tp"], c["fn"]], [c["fp"], c["tn"]]])
    return total
