"""Figures of notebook 08: metric x utility heat map, forest plot and scatter plots with the
original study's |r| bound, metric x metric correlations, utilities per state. The numbers
come from :mod:`hsilib.study.correlation`."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

_MARK = {"positive association": "+", "negative association": "-"}


def heatmap(table: pd.DataFrame, method: str = "spearman", title: str = "") -> Any:
    """Metric x utility correlations (``table`` from
    :func:`hsilib.study.correlation.correlation_table`); a cell marked + or - is a detectable
    association (Holm-corrected, interval excluding 0)."""
    t = table[table.method == method]
    r = t.pivot(index="metric", columns="utility", values="r")
    verdict = t.pivot(index="metric", columns="utility", values="verdict")
    fig, ax = plt.subplots(figsize=(2.2 + 1.3 * r.shape[1], 0.8 + 0.32 * r.shape[0]))
    im = ax.imshow(r.to_numpy(float), cmap="RdBu_r", vmin=-1, vmax=1, aspect="auto")
    ax.set_xticks(range(r.shape[1]), r.columns)
    ax.set_yticks(range(r.shape[0]), r.index)
    for i in range(r.shape[0]):
        for j in range(r.shape[1]):
            v = r.iat[i, j]
            text = "" if not np.isfinite(v) else f"{v:+.2f}{_MARK.get(verdict.iat[i, j], '')}"
            ax.text(j, i, text, ha="center", va="center", fontsize=8)
    fig.colorbar(im, ax=ax, label=f"{method} correlation")
    ax.set_title(title or f"{method}: metric gap to floor vs utility (+/-: detectable)")
    fig.tight_layout()
    return fig


def forest(table: pd.DataFrame, utility: str, bound: float,
           methods: Sequence[str] = ("spearman", "pearson")) -> Any:
    """Each metric's correlation with ``utility`` and its bootstrap interval, per method; the
    shaded band is the study's ``|r| <= bound``."""
    t = table[(table.utility == utility) & table.method.isin(methods)]
    metrics = list(dict.fromkeys(t.metric))
    fig, ax = plt.subplots(figsize=(6.5, 0.9 + 0.3 * len(metrics)))
    ax.axvspan(-bound, bound, color="0.85", label=f"study: |r| <= {bound:g}")
    ax.axvline(0, color="0.4", lw=0.8)
    for k, method in enumerate(methods):
        m = t[t.method == method].set_index("metric").reindex(metrics)
        y = np.arange(len(metrics)) + (k - (len(methods) - 1) / 2) * 0.25
        # a percentile interval need not contain the estimate: clip the bars at it
        xerr = [(m["r"] - m["lo"]).clip(lower=0).fillna(0), (m["hi"] - m["r"]).clip(lower=0)
                .fillna(0)]
        ax.errorbar(m["r"], y, xerr=xerr, fmt="o", ms=4, capsize=2, label=method)
    ax.set_yticks(range(len(metrics)), metrics)
    ax.set_xlim(-1.05, 1.05)
    ax.set_xlabel(f"correlation with the change of test {utility} (95% bootstrap over states)")
    ax.legend(fontsize=8, loc="lower right")
    fig.tight_layout()
    return fig


def scatter(metrics: pd.DataFrame, utility: pd.Series, groups: Sequence[str],
            table: pd.DataFrame, bound: float, columns: Sequence[str] | None = None,
            ncols: int = 4) -> Any:
    """Utility against each metric (one point per state, coloured by group). The grey wedge
    holds every line through the means whose Pearson slope |r| <= ``bound`` allows
    (slope r * sd(y) / sd(x)): a relation inside it is what the study reported."""
    columns = list(columns or metrics.columns)
    nrows = int(np.ceil(len(columns) / ncols))
    fig, axes = plt.subplots(nrows, ncols, figsize=(3.2 * ncols, 2.8 * nrows), squeeze=False)
    labels = pd.Series(list(groups), index=metrics.index)
    colours = dict(zip(sorted(set(labels)), plt.cm.tab10.colors, strict=False))
    y = utility.reindex(metrics.index).to_numpy(float)
    for ax, col in zip(axes.flat, columns, strict=False):
        x = metrics[col].to_numpy(float)
        ok = np.isfinite(x) & np.isfinite(y)
        for g, c in colours.items():
            sel = ok & (labels == g).to_numpy()
            ax.scatter(x[sel], y[sel], s=14, color=c, label=g)
        if ok.sum() >= 3 and np.std(x[ok]) > 0:
            xs = np.linspace(x[ok].min(), x[ok].max(), 20)
            slope = np.std(y[ok]) / np.std(x[ok])
            mx, my = x[ok].mean(), y[ok].mean()
            ax.fill_between(xs, my - bound * slope * (xs - mx), my + bound * slope * (xs - mx),
                            color="0.85", zorder=0)
        row = table[(table.metric == col) & (table.utility == utility.name)]
        names = {"spearman": "Spearman", "pearson": "Pearson"}
        text = ", ".join(f"{names[r.method]} {r.r:+.2f}" for r in row.itertuples()
                         if r.method in names)
        ax.set_title(f"{col}\n{text}", fontsize=8)
        ax.axhline(0, color="0.4", lw=0.6)
        ax.tick_params(labelsize=7)
    for ax in list(axes.flat)[len(columns):]:
        ax.axis("off")
    axes.flat[0].legend(fontsize=6)
    fig.supylabel(f"change of test {utility.name}")
    fig.supxlabel(f"metric gap to floor (grey: the study's |r| <= {bound:g})")
    fig.tight_layout()
    return fig


def matrix(corr: pd.DataFrame, title: str = "metric x metric (Spearman, across states)") -> Any:
    """A symmetric correlation matrix as a heat map."""
    n = len(corr)
    fig, ax = plt.subplots(figsize=(1.5 + 0.42 * n, 1.0 + 0.4 * n))
    im = ax.imshow(corr.to_numpy(float), cmap="RdBu_r", vmin=-1, vmax=1)
    ax.set_xticks(range(n), corr.columns, rotation=90, fontsize=7)
    ax.set_yticks(range(n), corr.index, fontsize=7)
    fig.colorbar(im, ax=ax)
    ax.set_title(title, fontsize=9)
    fig.tight_layout()
    return fig


def utilities(utility: pd.DataFrame, states: pd.DataFrame) -> Any:
    """Each state's utility (mean change over probe seeds, 95% t-interval), one panel per
    utility, states sorted by mean, coloured by family and class."""
    names = list(utility["utility"].unique())
    fig, axes = plt.subplots(1, len(names), figsize=(5.5 * len(names),
                                                     1.2 + 0.18 * len(states)), squeeze=False)
    label = (states["family"] + " " + states["class"]).set_axis(states["state"])
    colours = dict(zip(sorted(set(label)), plt.cm.tab10.colors, strict=False))
    for ax, u in zip(axes.flat, names, strict=True):
        t = utility[utility.utility == u].sort_values("diff").reset_index(drop=True)
        for i, r in t.iterrows():
            ax.errorbar(r["diff"], i, xerr=[[r["diff"] - r["lo"]], [r["hi"] - r["diff"]]]
                        if np.isfinite(r["lo"]) else None, fmt="o", ms=3,
                        color=colours[label[r["state"]]])
        ax.set_yticks(range(len(t)), t["state"], fontsize=6)
        ax.axvline(0, color="0.4", lw=0.8)
        ax.set_xlabel(f"change of test {u} vs real only (95% CI over seeds)")
    handles = [plt.Line2D([], [], marker="o", ls="", color=c, label=g) for g, c in colours.items()]
    axes.flat[0].legend(handles=handles, fontsize=7)
    fig.tight_layout()
    return fig
