"""Figures of notebook 09: relevance spectra with the absorbers marked, attribution maps beside
the false-RGB and CIE renderings, agreement with the chromophores, the input variants' AUROC
and the synthetic families' relevance. The numbers come from :mod:`hsilib.metrics.attribution`,
:mod:`hsilib.study.explain` and :mod:`hsilib.study.cues`; melanoma is the positive class.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import torch

from ..standin.rendering import cube_to_rgb
from ..study.cues import ABSORPTION_PEAKS_NM
from ..study.stats import POSITIVE_NOTE
from . import style
from .style import grey, reflectance_stretch

style.apply()

#: Line colours of the two regions and of the absorbers (distinct within every figure).
REGION_COLOURS = {"lesion": "tab:red", "skin": "tab:blue"}
ABSORBER_COLOURS = {"melanin": "tab:brown", "oxy-haemoglobin": "tab:red",
                    "deoxy-haemoglobin": "tab:purple"}
METHOD_NAMES = {"ig": "Integrated Gradients", "gradcam": "Guided Grad-CAM",
                "ablation": "band x region ablation"}
MAP_NAMES = {"ig": "IG (sum over bands)", "gradcam": "Grad-CAM (last block)",
             "ablation": "occlusion"}
_OUTSIDE = dict(loc="upper left", bbox_to_anchor=(1.02, 1.0), frameon=False, fontsize=8)
_BELOW = dict(loc="upper center", bbox_to_anchor=(0.5, -0.22), frameon=False, fontsize=8,
              ncol=2)


def mark_absorbers(ax) -> None:
    """Dotted lines at the haemoglobin peaks, labelled, and a shade where melanin absorbs most
    (it falls steadily with wavelength, strongest at the camera's blue end)."""
    ax.axvspan(460, 500, color="tab:brown", alpha=0.08, lw=0)
    ax.text(462, 1.0, "melanin", transform=ax.get_xaxis_transform(), fontsize=8,
            color="tab:brown", va="top")
    for k, (name, peaks) in enumerate(ABSORPTION_PEAKS_NM.items()):
        for nm in peaks:
            ax.axvline(nm, color="grey", lw=0.8, ls=":")
            ax.text(nm, 1.0 - 0.12 * k, name, transform=ax.get_xaxis_transform(), fontsize=7,
                    rotation=90, va="top", ha="right", color="grey")


def plot_relevance_spectra(summary: pd.DataFrame, methods: Sequence[str], seed: str = "all",
                           value: str = "signed") -> plt.Figure:
    """Mean relevance spectra (:func:`hsilib.study.explain.spectrum_summary`) with their 95%
    cluster-bootstrap intervals: one row per method, one column per class, lesion and skin."""
    classes = [c for c in ("MM", "DN") if c in set(summary["class"])]
    fig, axes = plt.subplots(len(methods), len(classes), figsize=(5.2 * len(classes),
                             2.6 * len(methods)), squeeze=False, sharex=True, sharey="row")
    for row, method in zip(axes, methods, strict=True):
        for ax, cls in zip(row, classes, strict=True):
            s = summary[(summary["method"] == method) & (summary["seed"] == seed)
                        & (summary["class"] == cls)]
            for region, g in s.groupby("region", sort=False):
                g = g.sort_values("wavelength_nm")
                ax.plot(g["wavelength_nm"], g["mean"], "o-", ms=3,
                        color=REGION_COLOURS[region], label=f"{region} (95% CI)")
                ax.fill_between(g["wavelength_nm"], g["lo"], g["hi"], alpha=0.2,
                                color=REGION_COLOURS[region], lw=0)
            ax.axhline(0, color="black", lw=0.6)
            mark_absorbers(ax)
            n = int(s["n_crops"].max()) if len(s) else 0
            ax.set_title(f"{METHOD_NAMES.get(method, method)}: {cls} crops (n={n})", fontsize=9)
        row[0].set_ylabel(f"{value} relevance\n(share of |attribution|)")
        row[-1].legend(**_OUTSIDE)
    for ax in axes[-1]:
        ax.set_xlabel("wavelength (nm)")
    fig.tight_layout()
    return fig


def _show(ax, img, title: str, **kw) -> None:
    ax.imshow(img, **kw)
    ax.set_title(title, fontsize=8)
    ax.axis("off")


def plot_attribution_maps(reflectance: torch.Tensor, maps: Mapping[str, torch.Tensor],
                          names: Sequence[str], wavelengths_nm: Sequence[float]) -> plt.Figure:
    """One row per crop: the band mean (the study's false-RGB; one grey stretch for every row)
    and the CIE sRGB rendering of its reflectance (N x B x H x W), then each method's map
    (``maps[method]``, N x H x W: red = evidence for the crop's class, blue = against;
    Grad-CAM keeps only evidence for it), one symmetric stretch per method over every row,
    each read on its own colour bar."""
    cols = 2 + len(maps)
    fig, axes = plt.subplots(len(names), cols, figsize=(2.0 * cols + 0.6, 2.0 * len(names) + 1.2),
                             squeeze=False, layout="constrained")
    cubes = [reflectance[i].permute(1, 2, 0).numpy() for i in range(len(names))]
    vmax = reflectance_stretch(c.mean(-1) for c in cubes)
    lims = {m: float(np.abs(v[:len(names)].numpy()).max()) or 1.0 for m, v in maps.items()}
    shown = {}
    for i, (row, name, cube) in enumerate(zip(axes, names, cubes, strict=True)):
        shown["band mean"] = grey(row[0], cube.mean(-1), vmax, "band mean (false-RGB)", 8)
        _show(row[1], cube_to_rgb(cube, wavelengths_nm), "CIE 1931 / D65 sRGB")
        for ax, (method, m) in zip(row[2:], maps.items(), strict=True):
            shown[method] = ax.imshow(m[i].numpy(), cmap="bwr", vmin=-lims[method],
                                      vmax=lims[method])
            ax.set_title(MAP_NAMES.get(method, method), fontsize=8)
            ax.axis("off")
        row[0].text(-0.08, 0.5, name, transform=row[0].transAxes, ha="right", va="center",
                    fontsize=8)
    fig.colorbar(shown.pop("band mean"), ax=axes[:, 0], location="bottom", shrink=0.9,
                 label="reflectance")
    for k, im in enumerate(shown.values()):
        fig.colorbar(im, ax=axes[:, 2 + k], location="bottom", shrink=0.9,
                     label="attribution\n(margin units)")
    return fig


def plot_band_maps(attribution: torch.Tensor, reflectance: torch.Tensor,
                   wavelengths_nm: Sequence[float], title: str) -> plt.Figure:
    """The attribution of one crop per band (B x H x W, one colour scale: red = evidence for the
    crop's class, blue = against), beside the band mean (the study's false-RGB, on its own
    reflectance colour bar) and CIE sRGB renderings of its reflectance (B x H x W)."""
    a = torch.as_tensor(attribution).numpy()
    cube = torch.as_tensor(reflectance).permute(1, 2, 0).numpy()
    lim = float(np.abs(a).max()) or 1.0
    cols = int(np.ceil(len(a) / 2))
    fig, axes = plt.subplots(2, cols + 1, figsize=(1.5 * (cols + 1) + 1.5, 3.8), squeeze=False,
                             layout="constrained")
    band_mean = grey(axes[0, 0], cube.mean(-1), reflectance_stretch([cube.mean(-1)]),
                     "band mean (false-RGB)", 7)
    _show(axes[1, 0], cube_to_rgb(cube, wavelengths_nm), "CIE 1931 / D65 sRGB")
    for k, ax in enumerate(axes[:, 1:].ravel()):
        ax.axis("off")
        if k < len(a):
            im = ax.imshow(a[k], cmap="bwr", vmin=-lim, vmax=lim)
            ax.set_title(f"{wavelengths_nm[k]:.0f} nm", fontsize=8)
    fig.colorbar(im, ax=axes[:, 1:], shrink=0.8, label="attribution (margin units)")
    fig.colorbar(band_mean, ax=axes[:, 0], location="left", shrink=0.8, label="reflectance")
    fig.suptitle(title, fontsize=10)
    return fig


def plot_chromophore_agreement(wavelengths_nm: Sequence[float], relevance: np.ndarray,
                               lo: np.ndarray, hi: np.ndarray, expected: np.ndarray,
                               absorption: pd.DataFrame, title: str) -> plt.Figure:
    """Left: the lesion's mean relevance (95% CI) beside the relevance expected from the
    chromophores that separate the classes (both scaled to a maximum of 1). Right: the
    absorption spectra of the optics model (log scale)."""
    fig, (ax, ax2) = plt.subplots(1, 2, figsize=(10, 3.8))
    scale = float(np.max(hi)) or 1.0
    ax.plot(wavelengths_nm, relevance / scale, "o-", color="black", label="relevance (95% CI)")
    ax.fill_between(wavelengths_nm, lo / scale, hi / scale, color="black", alpha=0.15, lw=0)
    ax.plot(wavelengths_nm, expected / max(float(np.max(expected)), 1e-12), "s--",
            color="tab:orange", label="expected from |d| x absorption")
    mark_absorbers(ax)
    ax.set(xlabel="wavelength (nm)", ylabel="relative value (max = 1)")
    ax.set_title(title, fontsize=9)
    ax.legend(**_BELOW)
    for name, colour in ABSORBER_COLOURS.items():
        ax2.semilogy(absorption["wavelength_nm"], absorption[name], color=colour, label=name)
    ax2.set(xlabel="wavelength (nm)", ylabel="absorption coefficient (1/cm)")
    ax2.set_title("absorbers of the optics model", fontsize=9)
    ax2.legend(**{**_BELOW, "ncol": 3})
    fig.tight_layout()
    return fig


def plot_band_choice(relevance: np.ndarray, chosen: Sequence[int],
                     wavelengths_nm: Sequence[float]) -> plt.Figure:
    """Validation relevance per band; the chosen bands in orange, numbered by step."""
    fig, ax = plt.subplots(figsize=(7, 2.8))
    colours = ["tab:orange" if b in chosen else "tab:grey" for b in range(len(relevance))]
    ax.bar(wavelengths_nm, relevance, width=8, color=colours)
    for step, b in enumerate(chosen, 1):
        ax.text(wavelengths_nm[b], relevance[b], str(step), ha="center", va="bottom", fontsize=8)
    mark_absorbers(ax)
    ax.set(xlabel="wavelength (nm)", ylabel="validation relevance\n(mean |attribution| share)",
           title="bands chosen greedily on validation (orange, in order)")
    fig.tight_layout()
    return fig


def plot_variants(uncertainty: pd.DataFrame, labels: Mapping[str, str]) -> plt.Figure:
    """Test AUROC of every input variant with its three 95% intervals (over runs, cluster
    bootstrap over test source images, DeLong), chance marked."""
    u = uncertainty[uncertainty["metric"] == "auroc"].set_index("config")
    fig, ax = plt.subplots(figsize=(7.5, 0.6 + 0.55 * len(u)))
    kinds = (("runs", "over seeds", "tab:blue"), ("boot", "test bootstrap by source",
                                                  "tab:orange"), ("delong", "DeLong", "tab:green"))
    for i, (_, r) in enumerate(u.iterrows()):
        for j, (k, name, colour) in enumerate(kinds):
            y = i + (j - 1) * 0.2
            ax.plot([r[f"{k}_lo"], r[f"{k}_hi"]], [y, y], color=colour, lw=2,
                    label=name if i == 0 else None)
        ax.plot(r["mean"], i, "o", color="black", label="mean over seeds" if i == 0 else None)
    ax.axvline(0.5, color="grey", ls=":", lw=1)
    ax.set_yticks(range(len(u)), [labels.get(c, c) for c in u.index], fontsize=8)
    ax.invert_yaxis()
    ax.set_xlabel(f"test AUROC ({POSITIVE_NOTE}); dotted: chance")
    ax.legend(**_OUTSIDE)
    fig.tight_layout()
    return fig


def plot_family_spectra(spectra: Mapping[tuple[str, str], np.ndarray], cls: str,
                        wavelengths_nm: Sequence[float]) -> plt.Figure:
    """Mean signed relevance over the lesion and the skin of every family's synthetic crops of
    class ``cls``, real validation crops in black."""
    fams = sorted(name for name, c in spectra if c == cls and name != "real")
    colours = plt.get_cmap("tab20")(np.linspace(0, 1, 20))
    colours = [c for c in colours if not np.allclose(c[:3], c[0])]  # no greys
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.6), sharey=True)
    for r, (ax, region) in enumerate(zip(axes, ("lesion", "skin"), strict=True)):
        for k, fam in enumerate(fams):  # beyond the colours, dashed lines keep them distinct
            ax.plot(wavelengths_nm, spectra[(fam, cls)][r], color=colours[k % len(colours)],
                    ls=("-", "--", ":")[k // len(colours) % 3], lw=1, label=fam)
        ax.plot(wavelengths_nm, spectra[("real", cls)][r], color="black", lw=2.5,
                label="real (validation)")
        ax.axhline(0, color="grey", lw=0.5)
        mark_absorbers(ax)
        ax.set(xlabel="wavelength (nm)", title=f"{cls} crops: {region}")
    axes[0].set_ylabel("signed relevance\n(share of |attribution|)")
    axes[1].legend(**{**_OUTSIDE, "fontsize": 8})
    fig.tight_layout()
    return fig


def plot_family_distances(table: pd.DataFrame, cls: str) -> plt.Figure:
    """The task-aware distance of every family of class ``cls`` with its 95% interval and the
    real-vs-real floor at the same sample size."""
    t = table[table["class"] == cls].sort_values("value")
    fig, ax = plt.subplots(figsize=(7, 0.8 + 0.3 * len(t)))
    y = np.arange(len(t))
    ax.hlines(y, t["ci_low"], t["ci_high"], color="tab:blue", lw=2)
    ax.plot(t["value"], y, "o", color="tab:blue", label="synthetic vs real (95% interval)")
    ax.plot(t["floor"], y, "|", color="black", ms=12, mew=2, label="real-vs-real floor")
    ax.set_yticks(y, t["family"], fontsize=8)
    ax.invert_yaxis()
    ax.set_xlabel("relevance-spectrum distance (0 = same evidence as real crops)")
    ax.set_title(f"{cls}: does the classifier find the same cues in synthetic crops?",
                 fontsize=9)
    ax.legend(**_OUTSIDE)
    fig.tight_layout()
    return fig
