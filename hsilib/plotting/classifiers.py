"""Figures of the classifier studies: bars with CIs, learning curves, ROC curves and confusion
matrices (notebook 06); scores against the amount of synthetic data and filtered vs unfiltered
vs random subsets (notebook 07). The numbers come from :mod:`hsilib.study.stats`; a "run" is one
classifier seed (with one generator replicate for configurations with synthetic crops); melanoma
is the positive class in every figure.
"""

from __future__ import annotations

from collections.abc import Sequence

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from sklearn.metrics import roc_curve

from ..metrics import classification as cm
from ..study.plan import BASELINE, MAIN
from ..study.stats import POSITIVE_NOTE, clipped_ci, confusion_counts
from ..train.predictions import ensemble
from . import style
from .style import OUTSIDE, palette

style.apply()
#: notebook 07's subsets, in words
SUBSETS = {"none": "unfiltered", "top": "top-scored by the critic", "random": "random subset"}


def plot_bars(per_seed: pd.DataFrame, configs: Sequence[str],
              metrics: Sequence[str] = ("auroc", "sensitivity", "specificity", "f1"), ax=None):
    """Grouped bars of the means over runs with 95% CI (over runs) error bars, one group per
    metric."""
    chosen = per_seed[per_seed["config"].isin(configs)]
    agg = clipped_ci(cm.aggregate_seeds(chosen, "config", metrics))
    ax = ax or plt.subplots(figsize=(1.6 + 1.1 * len(metrics) * len(configs) ** 0.5, 3.6))[1]
    width = 0.8 / len(configs)
    for k, (c, colour) in enumerate(zip(configs, palette(len(configs)), strict=True)):
        a = agg[agg["config"] == c].set_index("metric").loc[list(metrics)]
        err = np.vstack([a["mean"] - a["lo"], a["hi"] - a["mean"]])
        ax.bar(np.arange(len(metrics)) + k * width, a["mean"], width, yerr=np.nan_to_num(err),
               capsize=3, label=c, color=colour)
    ax.set_xticks(np.arange(len(metrics)) + 0.4 - width / 2, metrics)
    ax.set_ylim(0, 1.05)
    ax.set_ylabel(f"test score (mean, 95% CI over runs)\n{POSITIVE_NOTE}")
    ax.legend(**OUTSIDE)
    return ax


def plot_learning_curves(per_seed: pd.DataFrame, fractions: Sequence[float],
                         metric: str = "auroc", ax=None):
    """Test ``metric`` against the share of real training data, real only vs real + synthetic."""
    ax = ax or plt.subplots(figsize=(4.5, 3.4))[1]
    for prefix, label in ((BASELINE, "real only"), (MAIN, "real + synthetic")):
        names = [prefix if f == 1 else f"{prefix}_{round(100 * f)}%" for f in fractions]
        stats_ = [cm.runs_interval(per_seed, n, metric) for n in names]  # over seeds
        mean, lo, hi = (np.array(v) for v in zip(*stats_, strict=True))
        x = 100 * np.asarray(fractions)
        ax.plot(x, mean, "o-", label=label)
        ax.fill_between(x, lo, hi, alpha=0.2)
    ax.set_xlabel("share of the real training split (%)")
    ax.set_ylabel(f"test {metric} ({POSITIVE_NOTE})")
    ax.legend(**OUTSIDE)
    return ax


def plot_roc(preds: pd.DataFrame, configs: Sequence[str], ax=None):
    """ROC curves of the run-ensembled test predictions (mean probability over a
    configuration's runs; melanoma = positive)."""
    ax = ax or plt.subplots(figsize=(4, 4))[1]
    for c, colour in zip(configs, palette(len(configs)), strict=True):
        test = ensemble(preds[preds["config"] == c]).query("split == 'test'")
        fpr, tpr, _ = roc_curve(test["label"], test["p_mm"])
        ax.plot(fpr, tpr, color=colour,
                label=f"{c} (AUROC {cm.auroc(test['label'], test['p_mm']):.2f})")
    ax.plot([0, 1], [0, 1], ":", color="grey")
    ax.set_xlabel("1 - specificity (DN called MM)")
    ax.set_ylabel("sensitivity (MM found)")
    ax.set_title(f"test ROC, mean probability over runs\n{POSITIVE_NOTE}", fontsize=9)
    ax.legend(**OUTSIDE)
    return ax


def plot_confusions(preds: pd.DataFrame, configs: Sequence[str], rule: str = "youden"):
    """One annotated confusion matrix per config (counts summed over runs, row shares)."""
    fig, axes = plt.subplots(1, len(configs), figsize=(2.8 * len(configs), 3), squeeze=False,
                             layout="constrained")
    for ax, c in zip(axes[0], configs, strict=True):
        m = confusion_counts(preds, c, rule)
        share = m / np.maximum(m.sum(axis=1, keepdims=True), 1)  # colour = share of the true row
        ax.imshow(share, cmap="Blues", vmin=0, vmax=1)
        for (i, j), v in np.ndenumerate(m):
            ax.text(j, i, f"{v}\n({share[i, j]:.0%})", ha="center", va="center", fontsize=10,
                    color="white" if share[i, j] > 0.6 else "black")
        ax.set_xticks([0, 1], ["MM", "DN"])
        ax.set_yticks([0, 1], ["MM", "DN"])
        ax.set_xlabel("predicted")
        ax.set_ylabel("true")
        ax.set_title(c, fontsize=9)
    fig.suptitle(f"test confusion matrices, summed over runs; {POSITIVE_NOTE}", fontsize=9)
    return fig


def plot_amount_curves(table: pd.DataFrame, metrics: Sequence[str] = ("auroc", "sensitivity")):
    """Notebook 07: test ``metrics`` (mean over runs) against the amount of synthetic data (% of
    the real training count per class), one line per generator family and mix (unfiltered
    arms; the real-MM duplication control as a dashed line), with the test-bootstrap 95% CI as a
    band. ``table``: :func:`hsilib.study.proportion.amount_table`."""
    fig, axes = plt.subplots(1, len(metrics), figsize=(4.4 * len(metrics) + 1.5, 3.6),
                             squeeze=False)
    rows = table[table["filter"] == "none"]
    lines = list(rows.groupby(["family", "mix"]).groups)
    colours = dict(zip(lines, palette(len(lines)), strict=True))
    for ax, metric in zip(axes[0], metrics, strict=True):
        for (family, mix), line in rows[rows.metric == metric].groupby(["family", "mix"]):
            line = line.sort_values("percent")
            how = "--" if family == "duplicated" else "o-"
            label = "real MM duplicated" if family == "duplicated" else f"{family}, {mix}"
            colour = colours[family, mix]
            ax.plot(line["percent"], line["mean"], how, label=label, color=colour)
            ax.fill_between(line["percent"], line["boot_lo"], line["boot_hi"], alpha=0.15,
                            color=colour)
        ax.set_xlabel("synthetic crops per class (% of its real training count)")
        ax.set_ylabel(f"test {metric} ({POSITIVE_NOTE})")
    axes[0, -1].legend(**OUTSIDE)
    fig.tight_layout()
    return fig


def plot_filtering(table: pd.DataFrame, metrics: Sequence[str] = ("auroc", "sensitivity")):
    """Notebook 07: unfiltered vs top-scored vs random subsets of equal size, per generator
    family, mix and amount that ran all three: mean over runs with test-bootstrap 95% CI."""
    has = table.groupby(["family", "mix", "percent"])["filter"].transform("nunique") == 3
    rows = table[has]
    groups = list(rows.groupby(["family", "mix", "percent"]).groups)
    # one row per metric, so that the width grows with the groups only (readable at 1280 px)
    fig, axes = plt.subplots(len(metrics), 1, figsize=(2.0 + 1.2 * max(len(groups), 1),
                                                       3.0 * len(metrics)), squeeze=False)
    for ax, metric in zip(axes[:, 0], metrics, strict=True):
        for k, (how, colour) in enumerate(zip(SUBSETS, palette(3), strict=True)):
            sel = rows[(rows.metric == metric) & (rows["filter"] == how)].set_index(
                ["family", "mix", "percent"]).loc[groups] if groups else rows.iloc[:0]
            err = np.vstack([sel["mean"] - sel["boot_lo"], sel["boot_hi"] - sel["mean"]])
            ax.bar(np.arange(len(sel)) + 0.27 * k, sel["mean"], 0.27, color=colour,
                   yerr=np.nan_to_num(np.clip(err, 0, None)), capsize=3, label=SUBSETS[how])
        ax.set_xticks(np.arange(len(groups)) + 0.27,
                      [f"{f}, {m}, {p:g}%" for f, m, p in groups], fontsize=8,
                      rotation=20 if len(groups) > 3 else 0, ha="right" if len(groups) > 3
                      else "center")
        ax.set_ylim(0, 1.05)
        ax.set_ylabel(f"test {metric}\n(mean, test-bootstrap 95% CI)")
    axes[0, 0].legend(title="subset", **OUTSIDE)
    fig.tight_layout()
    return fig
