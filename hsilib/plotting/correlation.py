"""Figures of notebook 08: the calibration of every metric on the oracle ladder, the states'
utilities, the ladder and the run's generators on each metric's axis, metric x utility
correlations with the original study's |r| bound, metric x metric correlations. The numbers
come from :mod:`hsilib.study.correlation` and :mod:`hsilib.study.correlation_calibration`."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from . import style
from .style import OUTSIDE, palette, words

style.apply()
_MARK = {"positive association": "+", "negative association": "-"}
#: correlation methods in words
METHODS = {"within": "within groups (partial Spearman)", "spearman": "Spearman, pooled",
           "pearson": "Pearson, pooled"}


def calibration(mono: pd.DataFrame) -> Any:
    """Metric x corruption kind: Spearman's rho between strength and distance to the floor
    (``mono`` from :func:`hsilib.study.correlation_calibration.monotonicity`); ``*`` marks a rho
    whose interval lies above 0, ``o`` a kind whose strongest rung is told apart from the
    floor."""
    rho = mono.pivot(index="metric", columns="kind", values="rho")
    order = list(dict.fromkeys(mono["metric"]))
    rho = rho.reindex(index=order, columns=list(dict.fromkeys(mono["kind"])))
    lo = mono.pivot(index="metric", columns="kind", values="lo").reindex_like(rho)
    det = mono.pivot(index="metric", columns="kind", values="detected").reindex_like(rho)
    fig, ax = plt.subplots(figsize=(2.5 + 0.75 * rho.shape[1], 1.0 + 0.3 * rho.shape[0]))
    im = ax.imshow(rho.to_numpy(float), cmap="RdBu_r", vmin=-1, vmax=1, aspect="auto")
    ax.set_xticks(range(rho.shape[1]), rho.columns, rotation=45, ha="right", fontsize=8)
    ax.set_yticks(range(rho.shape[0]), rho.index, fontsize=8)
    for i in range(rho.shape[0]):
        for j in range(rho.shape[1]):
            v = rho.iat[i, j]
            if np.isfinite(v):
                seen = bool(det.iat[i, j]) if pd.notna(det.iat[i, j]) else False
                mark = ("*" if lo.iat[i, j] > 0 else "") + ("o" if seen else "")
                ax.text(j, i, f"{v:+.1f}{mark}", ha="center", va="center", fontsize=7)
    fig.colorbar(im, ax=ax, label="Spearman: strength vs distance to floor")
    ax.set_title("Does each metric move away from its floor as a flaw grows?\n"
                 "(*: interval above 0; o: strongest rung told apart from the floor)",
                 fontsize=9)
    fig.tight_layout()
    return fig


def utilities(utility: pd.DataFrame, groups: Mapping[str, str]) -> Any:
    """Each state's utility (mean change over probe seeds, 95% t-interval), one panel per
    utility, states sorted by mean, coloured by ``groups`` (state -> label, e.g. corruption
    kind or generator family); states not in ``groups`` are left out."""
    names = list(dict.fromkeys(utility["utility"]))
    utility = utility[utility["state"].isin(groups)]
    n = utility["state"].nunique()
    ncols = min(2, len(names))
    nrows = -(-len(names) // ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(5.2 * ncols + 2.2, nrows * (1.0 + 0.2 * n)),
                             squeeze=False)
    kinds = sorted(set(groups.values()))
    colours = dict(zip(kinds, palette(len(kinds)), strict=True))
    for ax in axes.flat[len(names):]:
        ax.axis("off")
    for ax, u in zip(axes.flat, names, strict=False):
        t = utility[utility.utility == u].sort_values("diff").reset_index(drop=True)
        for i, r in t.iterrows():
            err = ([[r["diff"] - r["lo"]], [r["hi"] - r["diff"]]] if np.isfinite(r["lo"])
                   else None)
            ax.errorbar(r["diff"], i, xerr=err, fmt="o", ms=3, color=colours[groups[r["state"]]])
        ax.set_yticks(range(len(t)), t["state"], fontsize=8)
        ax.axvline(0, color="0.4", lw=0.8)
        ax.set_xlabel(f"change of test {u} (95% CI over seeds)")
    handles = [plt.Line2D([], [], marker="o", ls="", color=c, label=g) for g, c in colours.items()]
    axes[0, -1].legend(handles=handles, **OUTSIDE)
    fig.tight_layout()
    return fig


def ladder_axes(ladder: pd.DataFrame, ladder_utility: pd.Series, rungs: pd.DataFrame,
                generators: pd.DataFrame | None = None, generator_utility: pd.Series | None = None,
                columns: Sequence[str] | None = None, ncols: int = 4) -> Any:
    """Utility against each metric's distance to the floor: one line per corruption kind
    through its rungs (from the clean oracle, the open circle, to the strongest), and the
    run's generators as black crosses on the same axes. ``ladder`` / ``generators``: states x
    distances; ``*_utility``: one utility per state (named); ``rungs``: ``state``, ``kind``,
    ``level`` of the ladder's states."""
    columns = list(columns or ladder.columns)
    ncols = min(ncols, len(columns))
    nrows = int(np.ceil(len(columns) / ncols))
    fig, axes = plt.subplots(nrows, ncols, figsize=(2.7 * ncols + 2.2, 2.5 * nrows),
                             squeeze=False)
    kinds = [k for k in dict.fromkeys(rungs["kind"]) if k != "clean"]
    *kind_colours, generator_colour = palette(len(kinds) + 1)
    colours = dict(zip(kinds, kind_colours, strict=True))
    clean = rungs.loc[rungs["kind"] == "clean", "state"].iloc[0]
    for ax, col in zip(axes.flat, columns, strict=False):
        for k in kinds:
            path = [clean, *rungs[rungs["kind"] == k].sort_values("level")["state"]]
            ax.plot(ladder.loc[path, col], ladder_utility.loc[path], "-o", ms=3, lw=1,
                    color=colours[k], label=k)
        ax.plot(ladder.loc[clean, col], ladder_utility.loc[clean], "o", mfc="none", ms=8,
                color="k", label="oracle")
        if generators is not None and col in generators.columns:
            ax.plot(generators[col], generator_utility.reindex(generators.index), "x",
                    color=generator_colour, mew=2, ms=7, label="run's generators")
        ax.axhline(0, color="0.4", lw=0.6)
        ax.set_title(col, fontsize=9)
        ax.tick_params(labelsize=8)
    for ax in list(axes.flat)[len(columns):]:
        ax.axis("off")
    axes[0, -1].legend(**OUTSIDE)
    fig.supylabel(f"change of test {ladder_utility.name}")
    fig.supxlabel("distance to the real-vs-real floor (metric's own units)")
    fig.tight_layout()
    return fig


def heatmap(table: pd.DataFrame, method: str = "within", title: str = "") -> Any:
    """Metric x utility correlations of one method (``table`` from
    :func:`hsilib.study.correlation.association_table`); a cell marked + or - is a detectable
    association (Holm-corrected, interval excluding 0)."""
    t = table[table.method == method]
    order = list(dict.fromkeys(t["metric"]))
    cols = list(dict.fromkeys(t["utility"]))
    r = t.pivot(index="metric", columns="utility", values="r").reindex(index=order, columns=cols)
    verdict = t.pivot(index="metric", columns="utility", values="verdict").reindex_like(r)
    fig, ax = plt.subplots(figsize=(2.2 + 1.2 * r.shape[1], 0.8 + 0.3 * r.shape[0]))
    im = ax.imshow(r.to_numpy(float), cmap="RdBu_r", vmin=-1, vmax=1, aspect="auto")
    ax.set_xticks(range(r.shape[1]), r.columns)
    ax.set_yticks(range(r.shape[0]), r.index, fontsize=8)
    for i in range(r.shape[0]):
        for j in range(r.shape[1]):
            v = r.iat[i, j]
            text = "" if not np.isfinite(v) else f"{v:+.2f}{_MARK.get(verdict.iat[i, j], '')}"
            ax.text(j, i, text, ha="center", va="center", fontsize=7)
    fig.colorbar(im, ax=ax, label=f"{METHODS.get(method, method)} correlation")
    ax.set_title(title or f"{method}: distance to floor vs utility (+/-: detectable)",
                 fontsize=9)
    fig.tight_layout()
    return fig


def forest(table: pd.DataFrame, utility: str, bound: float,
           methods: Sequence[str] = ("within", "spearman", "pearson")) -> Any:
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
        xerr = [(m["r"] - m["lo"]).clip(lower=0).fillna(0),
                (m["hi"] - m["r"]).clip(lower=0).fillna(0)]
        ax.errorbar(m["r"], y, xerr=xerr, fmt="o", ms=4, capsize=2, label=METHODS.get(method,
                                                                                     method))
    ax.set_yticks(range(len(metrics)), metrics)
    ax.set_xlim(-1.05, 1.05)
    ax.set_xlabel(f"correlation with the change of test {utility}\n"
                  "(95% bootstrap interval over groups)")
    ax.legend(title="correlation", **OUTSIDE)
    fig.tight_layout()
    return fig


def matrix(corr: pd.DataFrame, title: str = "metric x metric (Spearman, across states)") -> Any:
    """A symmetric correlation matrix as a heat map."""
    n = len(corr)
    fig, ax = plt.subplots(figsize=(1.5 + 0.42 * n, 1.0 + 0.4 * n))
    im = ax.imshow(corr.to_numpy(float), cmap="RdBu_r", vmin=-1, vmax=1)
    ax.set_xticks(range(n), corr.columns, rotation=90, fontsize=7)
    ax.set_yticks(range(n), corr.index, fontsize=7)
    fig.colorbar(im, ax=ax, label="Spearman correlation")
    ax.set_title(title, fontsize=9)
    fig.tight_layout()
    return fig


def ladder_samples(folders: Mapping[str, Mapping[str, Any]], wavelengths_nm: Sequence[float],
                   cls: str = "MM", n: int = 4) -> Any:
    """The first ``n`` crops of class ``cls`` of every ladder state (``folders``: state ->
    class -> crop folder, in row order) as CIE sRGB renderings of their reflectance: the same
    lesions down each column, the corruption changing along the rows."""
    from ..data.crop_folder import iter_cubes, read_index
    from ..standin.rendering import cube_to_rgb

    blocks = -(-len(folders) // 8)  # at most 8 rows: more states go into side-by-side blocks
    per_block = -(-len(folders) // blocks)
    fig, axes = plt.subplots(per_block, n * blocks, figsize=(blocks * (1.3 * n + 1.8),
                                                             1.3 * per_block + 0.4),
                             squeeze=False)
    for ax in axes.ravel():
        ax.axis("off")
    for k, (state, by_class) in enumerate(folders.items()):
        r, c0 = k % per_block, (k // per_block) * n
        index = read_index(by_class[cls]).head(n)
        for c, cube in enumerate(iter_cubes(index)):
            axes[r, c0 + c].imshow(np.clip(cube_to_rgb(cube, wavelengths_nm), 0, 1))
        for ax in axes[r, c0:c0 + n]:
            ax.axis("on")
            ax.set_xticks([])
            ax.set_yticks([])
        axes[r, c0].set_ylabel(words(state).removeprefix("oracle, "), rotation=0, ha="right",
                               va="center", fontsize=9)
    fig.suptitle(f"oracle ladder, {cls} crops (CIE sRGB of the reflectance)", fontsize=10)
    fig.tight_layout()
    if any("misregistration" in state for state in folders):
        fig.text(0.01, 0.0, "misregistration: every band shifted by its own whole-pixel offset "
                 "(up to 3 px per 64 px), so the colours of a rendering fringe at edges",
                 fontsize=8, va="top", wrap=True)
    return fig
