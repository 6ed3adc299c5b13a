"""The numbers of the classifier study, computed from saved predictions only (notebook 06).

:func:`per_seed_metrics` scores every (config, seed) on test with a threshold chosen on
validation; :func:`summary_table` gives mean and 95% CI over seeds; :func:`paired_table`
compares each config with the baseline on the same test images (paired t-test over seeds with
Holm's correction (:func:`holm`), paired bootstrap and McNemar on the seed ensembles);
:func:`confusion_counts` sums test confusion matrices over seeds.

Melanoma is the positive class in every number.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from ..metrics import classification as cm
from ..train import classifier as tc
from .plan import BASELINE

TABLE_METRICS = ("auroc", "auprc", "sensitivity", "specificity", "f1", "balanced_accuracy")
#: Stated on every table and figure.
POSITIVE_NOTE = "melanoma (MM) = positive class"


def per_seed_metrics(preds: pd.DataFrame, rule: str = "youden") -> pd.DataFrame:
    """Test metrics per (config, seed); adds ``TRTS`` = the baseline scored on synthetic crops
    and renames the baseline's test rows ``TRTR`` in a copy for the synthetic-only table."""
    per_seed = tc.test_metrics(preds, rule)
    base = preds[preds["config"] == BASELINE]
    trts = tc.test_metrics(base, rule, test_split="test_synthetic").assign(config="TRTS")
    trtr = per_seed[per_seed["config"] == BASELINE].assign(config="TRTR")
    return pd.concat([per_seed, trtr, trts], ignore_index=True)


def clipped_ci(agg: pd.DataFrame) -> pd.DataFrame:
    """``agg`` (columns ``lo``, ``hi``, e.g. from
    :func:`hsilib.metrics.classification.aggregate_seeds`) with its CI clipped to [0, 1]: every
    metric here lives there, and a t-interval over 2-5 seeds can overshoot that range."""
    return agg.assign(lo=agg["lo"].clip(0, 1), hi=agg["hi"].clip(0, 1))


def summary_table(per_seed: pd.DataFrame, configs: Sequence[str],
                  metrics: Sequence[str] = TABLE_METRICS) -> pd.DataFrame:
    """Wide table: one row per config, ``mean [lo, hi]`` (t-based 95% CI over seeds, clipped to
    the metric's range [0, 1])."""
    chosen = per_seed[per_seed["config"].isin(configs)]
    agg = clipped_ci(cm.aggregate_seeds(chosen, "config", metrics))
    agg["cell"] = [f"{m:.3f} [{lo:.3f}, {hi:.3f}]" for m, lo, hi in
                   zip(agg["mean"], agg["lo"], agg["hi"], strict=True)]
    wide = agg.pivot(index="config", columns="metric", values="cell")
    wide = wide.loc[[c for c in configs if c in wide.index], list(metrics)]
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


def _ensemble_test(preds: pd.DataFrame, config: str, rule: str) -> tuple[pd.DataFrame, float]:
    ens = tc.ensemble(preds[preds["config"] == config])
    val = ens[ens["split"] == "val"]
    test = ens[ens["split"] == "test"].sort_values("id")
    return test, cm.choose_threshold(val["label"], val["p_mm"], rule)


def paired_table(preds: pd.DataFrame, per_seed: pd.DataFrame, others: Sequence[str],
                 baseline: str = BASELINE, metrics: Sequence[str] = ("auroc", "f1"),
                 rule: str = "youden", n_boot: int = 2000, seed: int = 0) -> pd.DataFrame:
    """Each config vs ``baseline`` on the same test images, two ways.

    Over seeds: mean difference, t CI and paired t-test (``p_t``, Holm-adjusted ``p_t_holm``
    across the configs of the table, per metric). Seed ensembles (mean probability per image):
    paired stratified bootstrap of the difference (``boot_lo``, ``boot_hi``, ``p_boot``) and an
    exact McNemar test on the discordant test images (``mcnemar_b``/``c``/``p``).
    """
    base_test, base_thr = _ensemble_test(preds, baseline, rule)
    rows = []
    for other in others:
        test, thr = _ensemble_test(preds, other, rule)
        if list(test["id"]) != list(base_test["id"]):
            raise ValueError(f"{other!r} and {baseline!r} were not scored on the same test set")
        boot = cm.paired_bootstrap(test["label"], base_test["p_mm"], test["p_mm"], base_thr, thr,
                                   n_boot, seed).set_index("metric")
        mc = cm.mcnemar(test["label"], base_test["p_mm"] >= base_thr, test["p_mm"] >= thr)
        for m in metrics:
            rows.append({**cm.compare_seeds(per_seed, baseline, other, m),
                         "boot_lo": boot.loc[m, "lo"], "boot_hi": boot.loc[m, "hi"],
                         "p_boot": boot.loc[m, "p_boot"], "mcnemar_b": mc["b"],
                         "mcnemar_c": mc["c"], "mcnemar_p": mc["p_value"]})
    table = pd.DataFrame(rows)
    table["p_t_holm"] = table.groupby("metric")["p_t"].transform(lambda s: holm(s.to_numpy()))
    return table


def confusion_counts(preds: pd.DataFrame, config: str, rule: str = "youden") -> np.ndarray:
    """Test confusion matrix summed over seeds (rows true MM, DN; columns predicted MM, DN),
    each seed at its own validation-chosen threshold."""
    total = np.zeros((2, 2), int)
    for _, g in preds[preds["config"] == config].groupby("seed"):
        v, t = g[g["split"] == "val"], g[g["split"] == "test"]
        c = cm.confusion(t["label"], t["p_mm"] >= cm.choose_threshold(v["label"], v["p_mm"], rule))
        total += np.array([[c["tp"], c["fn"]], [c["fp"], c["tn"]]])
    return total
