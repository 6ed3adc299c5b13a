"""Figures of the data (notebook 01): cubes and single bands, segmentation overlays, crop grids,
and the mean lesion and skin spectra per class.

They work on the real HSIDermoscopy folder and on the stand-in alike; the numbers they show
come from :mod:`hsilib.data.explore` (e.g. :func:`~hsilib.data.explore.region_spectra`).

Introduced in notebook 01.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from .. import WAVELENGTHS_NM
from ..data.hsi_dermoscopy import HSIDermoscopy
from ..data.masks import load_user_masks
from ..standin.rendering import cube_to_rgb
from . import style
from .style import BELOW, OUTSIDE, grey, reflectance_stretch

style.apply()

CLASS_COLOURS = {"MM": "tab:red", "DN": "tab:blue", "Other": "tab:green"}
#: Bands shown one by one: blue (melanin), the HbO2 peaks, red (little absorption).
SHOW_BANDS_NM = (465, 542, 575, 630)


# --------------------------------------------------------------------------------------------
# Spectra
# --------------------------------------------------------------------------------------------
def plot_region_spectra(spectra: pd.DataFrame) -> Any:
    """Mean +- 1 sd spectra per class, lesion and skin side by side."""
    fig, axes = plt.subplots(1, 2, figsize=(11, 3.8), sharey=True)
    wl = np.asarray(WAVELENGTHS_NM)
    for ax, region in zip(axes, ("lesion", "skin"), strict=True):
        for cls, group in spectra[spectra.region == region].groupby("class"):
            values = group[list(WAVELENGTHS_NM)].to_numpy()
            mean, sd = values.mean(0), values.std(0)
            ax.plot(wl, mean, color=CLASS_COLOURS.get(cls), label=f"{cls} (n={len(values)})")
            ax.fill_between(wl, mean - sd, mean + sd, color=CLASS_COLOURS.get(cls), alpha=0.15)
        for nm in (542, 576):  # oxy-haemoglobin absorption peaks
            ax.axvline(nm, color="grey", lw=0.8, ls=":")
        ax.set(title=f"{region} (mean \u00b1 1 SD)", xlabel="wavelength (nm)")
    axes[-1].legend(**OUTSIDE)
    axes[0].text(544, 0.02, "HbO$_2$ peaks", transform=axes[0].get_xaxis_transform(),
                 fontsize=8, color="grey")
    axes[0].set_ylabel("reflectance")
    fig.tight_layout()
    return fig


# --------------------------------------------------------------------------------------------
# Images
# --------------------------------------------------------------------------------------------
def plot_cubes(dataset: HSIDermoscopy, per_class: int = 1) -> Any:
    """One row per image: the band mean (the study's false-RGB), the CIE sRGB rendering, then
    single bands; every grey image on one fixed stretch, 0 to the 99.5th percentile of all of
    them (reflectance), read on the colour bar."""
    picks = dataset.index.groupby("class").head(per_class).index
    cols = 2 + len(SHOW_BANDS_NM)
    fig, axes = plt.subplots(len(picks), cols, figsize=(1.9 * cols + 1.2, 1.7 * len(picks)),
                             squeeze=False)
    samples = [dataset[int(i)] for i in picks]
    bands = [[s["cube"].mean(-1)] + [s["cube"][..., WAVELENGTHS_NM.index(nm)]
                                     for nm in SHOW_BANDS_NM] for s in samples]
    vmax = reflectance_stretch(b for row in bands for b in row)
    titles = ["band mean (false-RGB)"] + [f"{nm} nm" for nm in SHOW_BANDS_NM]
    for row, s, views in zip(axes, samples, bands, strict=True):
        im = grey(row[0], views[0], vmax, titles[0])
        row[1].imshow(cube_to_rgb(s["cube"], s["wavelengths_nm"]))
        row[1].set_title("CIE 1931 / D65 sRGB", fontsize=9)
        row[1].axis("off")
        for ax, img, title in zip(row[2:], views[1:], titles[1:], strict=True):
            grey(ax, img, vmax, title)
        row[0].text(-0.05, 0.5, f"{s['class']}\n{s['stem']}", transform=row[0].transAxes,
                    ha="right", va="center", fontsize=9)
    fig.tight_layout()
    fig.colorbar(im, ax=axes, shrink=0.6, label="reflectance (grey images)")
    fig.text(0.01, 0.0, "A snapshot camera takes each band through its own pixels of a mosaic: "
             "bands are offset by a few pixels from each other (band misregistration; the "
             "stand-in simulates 0-3 px), so lesion edges differ slightly between bands.",
             fontsize=8, va="top", wrap=True)
    return fig


def _contour(ax: Any, mask: np.ndarray, colour: str) -> None:
    if mask.any():
        ax.contour(mask.astype(float), levels=[0.5], colors=colour, linewidths=1.0)


def plot_overlays(dataset: HSIDermoscopy, masks_dir: str | os.PathLike,
                  truth_dir: str | os.PathLike | None = None, n: int = 6) -> Any:
    """The band mean (false-RGB, one fixed stretch, colour bar) with the segmentation (yellow)
    and, on the stand-in, the true lesion outline (cyan)."""
    picks = dataset.index.groupby("class").head(max(1, n // 3)).index[:n]
    ncol = 3
    nrow = int(np.ceil(len(picks) / ncol))
    fig, axes = plt.subplots(nrow, ncol, figsize=(3.6 * ncol + 1.2, 2.4 * nrow), squeeze=False)
    samples = [dataset[int(i)] for i in picks]
    vmax = reflectance_stretch(s["cube"].mean(-1) for s in samples)
    for ax, s in zip(axes.ravel(), samples, strict=False):
        im = grey(ax, s["cube"].mean(-1), vmax, f"{s['stem']} ({s['class']})")
        for m in load_user_masks(masks_dir, s["stem"]):
            _contour(ax, m, "yellow")
        if truth_dir is not None:
            with np.load(Path(truth_dir) / f"{s['stem']}.npz") as z:
                _contour(ax, z["labels"] > 0, "cyan")
    for ax in axes.ravel():
        ax.axis("off")
    handles = [plt.Line2D([], [], color="yellow", label="segmentation (Otsu)")]
    if truth_dir is not None:
        handles.append(plt.Line2D([], [], color="cyan", label="true lesion (stand-in)"))
    fig.tight_layout()
    fig.colorbar(im, ax=axes, shrink=0.7, label="reflectance (band mean)")
    axes[-1, 0].legend(handles=handles, ncol=2, **{**BELOW, "bbox_to_anchor": (0.0, -0.05),
                                                   "loc": "upper left"})
    return fig


def plot_crop_grid(index: pd.DataFrame, crops_dir: str | os.PathLike,
                   per_class: int = 6) -> Any:
    """CIE sRGB renderings of a few crops per class, with the lesion mask outlined."""
    groups = [g.head(per_class) for _, g in index.groupby("class")]
    fig, axes = plt.subplots(len(groups), per_class, figsize=(1.6 * per_class,
                                                              1.7 * len(groups)), squeeze=False)
    for row, group in zip(axes, groups, strict=True):
        for ax, (_, r) in zip(row, group.iterrows(), strict=False):
            with np.load(Path(crops_dir) / r.path) as z:
                ax.imshow(cube_to_rgb(z["cube"], WAVELENGTHS_NM))
                _contour(ax, z["mask"] > 0, "yellow")
            ax.set_title(r.id, fontsize=7)
        for ax in row:
            ax.axis("off")
        row[0].text(-0.05, 0.5, group["class"].iloc[0], transform=row[0].transAxes,
                    ha="right", va="center")
    fig.tight_layout()
    axes[-1, 0].legend(handles=[plt.Line2D([], [], color="yellow", label="lesion mask")],
                       **{**BELOW, "bbox_to_anchor": (0.0, -0.05), "loc": "upper left"})
    return fig




# --------------------------------------------------------------------------------------------
# Normalisation
# --------------------------------------------------------------------------------------------
def plot_lesion_range(table: pd.DataFrame) -> Any:
    """Where lesion pixels land in [-1, 1] per band under each normaliser: a bar from the low
    to the high quantile with the median marked (the table of
    :func:`hsilib.study.audit.lesion_range_table`); the grey band is the networks' range."""
    names = list(dict.fromkeys(table.normalisation))
    fig, ax = plt.subplots(figsize=(8, 3.4))
    ax.axhspan(-1, 1, color="0.92", zorder=0)
    offsets = np.linspace(-2.5, 2.5, len(names)) if len(names) > 1 else [0.0]
    for name, off, colour in zip(names, offsets, ("tab:purple", "tab:orange", "tab:cyan"),
                                 strict=False):
        t = table[table.normalisation == name]
        x = t.wavelength_nm.to_numpy() + off
        ax.vlines(x, t.lesion_lo, t.lesion_hi, color=colour, lw=3,
                  label=f"{name} (mean share {t.share.mean():.0%})")
        ax.plot(x, t.lesion_median, "o", color=colour, ms=3)
    ax.set(xlabel="wavelength (nm)", ylabel="network input value (scaled)", ylim=(-1.2, 1.2),
           title="lesion pixels of the training crops in the [-1, 1] input range\n"
                 "(bar: low to high quantile, dot: median)")
    ax.legend(**OUTSIDE)
    fig.tight_layout()
    return fig
