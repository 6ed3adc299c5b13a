"""Looking at the data: spectra tables, figures and summary tables for notebook 01.

Every function works on the real HSIDermoscopy folder and on the stand-in alike; the ones that
need the stand-in's ground truth take ``truth_dir`` and say so when it is None (real data).

Introduced in notebook 01.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from .. import WAVELENGTHS_NM
from .hsi_dermoscopy import HSIDermoscopy, cube_to_rgb
from .preprocess import estimate_field, false_rgb, load_user_masks, segmentation_report

CLASS_COLOURS = {"MM": "tab:red", "DN": "tab:blue", "Other": "tab:green"}
#: Bands shown one by one: blue (melanin), the HbO2 peaks, red (little absorption).
SHOW_BANDS_NM = (465, 542, 575, 630)


def _display(img: np.ndarray) -> np.ndarray:
    """Scale an image for display by its 99th percentile (false-RGB and single bands)."""
    return np.clip(img / (np.percentile(img, 99) + 1e-6), 0, 1)


# --------------------------------------------------------------------------------------------
# Data source
# --------------------------------------------------------------------------------------------
def prepare_data(cfg: Any, run: Any, data_dir: str | os.PathLike | None = None,
                 seed: int = 0) -> tuple[Path, Path | None]:
    """(cube folder, truth folder or None) for notebook 01.

    Always writes the unpaired RGB stand-in to ``run.standin / "rgb"``. With ``data_dir``
    (a real HSIDermoscopy folder) the cubes are read from there and there is no truth;
    otherwise the stand-in is generated into ``run.standin`` (kept if already complete).
    """
    from ..standin.writer import generate_rgb_set, generate_standin

    generate_rgb_set(run.standin, n=cfg.n_rgb, size=cfg.rgb_size, seed=seed,
                     workers=cfg.workers)
    if data_dir is not None:
        return Path(data_dir).expanduser(), None
    generate_standin(run.standin, n_mm=cfg.n_mm, n_dn=cfg.n_dn, n_other=cfg.n_other,
                     scale=cfg.scale, seed=seed, workers=cfg.workers)
    return run.standin / "hsidermoscopy", run.standin / "truth"


def min_area_for(dataset: HSIDermoscopy, min_lesion_px: int) -> int:
    """``min_lesion_px`` (given for the camera's 272 x 512) scaled to these cubes' area."""
    h, w = dataset[0]["cube"].shape[:2]
    return max(1, round(min_lesion_px * h * w / (272 * 512)))


# --------------------------------------------------------------------------------------------
# Spectra
# --------------------------------------------------------------------------------------------
def region_spectra(dataset: HSIDermoscopy, masks_dir: str | os.PathLike,
                   max_per_class: int | None = None, skin_gap_px: int = 5) -> pd.DataFrame:
    """Mean lesion and mean surrounding-skin spectrum of each image (long table).

    Lesion = the union of the image's masks in ``masks_dir``; skin = the dermoscope field minus
    the lesions grown by ``skin_gap_px`` (so the lesion's blurred rim is not counted as skin).
    Columns: stem, class, subtype, region ("lesion"/"skin"), then one column per wavelength.
    """
    import cv2

    rows = []
    table = dataset.index.groupby("class").head(max_per_class) if max_per_class else dataset.index
    for i in table.index:
        s = dataset[int(i)]
        masks = load_user_masks(masks_dir, s["stem"])
        if not masks:
            continue
        lesion = np.any(masks, axis=0)
        grown = cv2.dilate(lesion.astype(np.uint8), np.ones((2 * skin_gap_px + 1,) * 2, np.uint8))
        skin = estimate_field(s["cube"]) & ~grown.astype(bool)
        for region, m in (("lesion", lesion), ("skin", skin)):
            rows.append({"stem": s["stem"], "class": s["class"], "subtype": s["subtype"],
                         "region": region, **dict(zip(WAVELENGTHS_NM,
                                                      s["cube"][m].mean(0), strict=True))})
    return pd.DataFrame(rows)


def plot_region_spectra(spectra: pd.DataFrame) -> Any:
    """Mean +- 1 sd spectra per class, lesion and skin side by side."""
    import matplotlib.pyplot as plt

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
        ax.set(title=f"{region} (mean +- 1 sd)", xlabel="wavelength (nm)")
        ax.legend(frameon=False)
    axes[0].set_ylabel("reflectance")
    fig.tight_layout()
    return fig


# --------------------------------------------------------------------------------------------
# Images
# --------------------------------------------------------------------------------------------
def plot_cubes(dataset: HSIDermoscopy, per_class: int = 1) -> Any:
    """One row per image: false-RGB (band mean), CIE sRGB rendering, then single bands."""
    import matplotlib.pyplot as plt

    picks = dataset.index.groupby("class").head(per_class).index
    cols = 2 + len(SHOW_BANDS_NM)
    fig, axes = plt.subplots(len(picks), cols, figsize=(2.6 * cols, 1.6 * len(picks)),
                             squeeze=False)
    for row, i in zip(axes, picks, strict=True):
        s = dataset[int(i)]
        views = [_display(false_rgb(s["cube"])), cube_to_rgb(s["cube"], s["wavelengths_nm"])]
        views += [_display(s["cube"][..., WAVELENGTHS_NM.index(nm)]) for nm in SHOW_BANDS_NM]
        titles = ["false-RGB (band mean)", "CIE 1931 / D65 sRGB"]
        titles += [f"{nm} nm" for nm in SHOW_BANDS_NM]
        for ax, img, title in zip(row, views, titles, strict=True):
            ax.imshow(img, cmap="gray", vmin=0, vmax=1)
            ax.set_title(title, fontsize=8)
            ax.axis("off")
        row[0].text(-0.05, 0.5, f"{s['class']}\n{s['stem']}", transform=row[0].transAxes,
                    ha="right", va="center", fontsize=8)
    fig.tight_layout()
    return fig


def _contour(ax: Any, mask: np.ndarray, colour: str) -> None:
    if mask.any():
        ax.contour(mask.astype(float), levels=[0.5], colors=colour, linewidths=1.0)


def plot_overlays(dataset: HSIDermoscopy, masks_dir: str | os.PathLike,
                  truth_dir: str | os.PathLike | None = None, n: int = 6) -> Any:
    """False-RGB with the segmentation (yellow) and, on the stand-in, the truth (cyan)."""
    import matplotlib.pyplot as plt

    picks = dataset.index.groupby("class").head(max(1, n // 3)).index[:n]
    ncol = 3
    nrow = int(np.ceil(len(picks) / ncol))
    fig, axes = plt.subplots(nrow, ncol, figsize=(4.2 * ncol, 2.4 * nrow), squeeze=False)
    for ax, i in zip(axes.ravel(), picks, strict=False):
        s = dataset[int(i)]
        ax.imshow(_display(false_rgb(s["cube"])))
        for m in load_user_masks(masks_dir, s["stem"]):
            _contour(ax, m, "yellow")
        if truth_dir is not None:
            with np.load(Path(truth_dir) / f"{s['stem']}.npz") as z:
                _contour(ax, z["labels"] > 0, "cyan")
        ax.set_title(f"{s['stem']} ({s['class']})", fontsize=8)
    for ax in axes.ravel():
        ax.axis("off")
    fig.tight_layout()
    return fig


def plot_crop_grid(index: pd.DataFrame, crops_dir: str | os.PathLike,
                   per_class: int = 6) -> Any:
    """CIE sRGB renderings of a few crops per class, with the lesion mask outlined."""
    import matplotlib.pyplot as plt

    groups = [g.head(per_class) for _, g in index.groupby("class")]
    fig, axes = plt.subplots(len(groups), per_class, figsize=(1.6 * per_class,
                                                              1.7 * len(groups)), squeeze=False)
    for row, group in zip(axes, groups, strict=True):
        for ax, (_, r) in zip(row, group.iterrows(), strict=False):
            with np.load(Path(crops_dir) / r.path) as z:
                ax.imshow(cube_to_rgb(z["cube"], WAVELENGTHS_NM))
                _contour(ax, z["mask"] > 0, "yellow")
            ax.set_title(r.id, fontsize=6)
        for ax in row:
            ax.axis("off")
        row[0].text(-0.05, 0.5, group["class"].iloc[0], transform=row[0].transAxes,
                    ha="right", va="center")
    fig.tight_layout()
    return fig


# --------------------------------------------------------------------------------------------
# Tables
# --------------------------------------------------------------------------------------------
def dice_summary(masks_dir: str | os.PathLike, truth_dir: str | os.PathLike | None,
                 out_csv: str | os.PathLike | None = None) -> pd.DataFrame | None:
    """Dice per class (mean, median, share of lesions above 0.8, missed lesions) against the
    stand-in's truth; the per-lesion table goes to ``out_csv``. None (with a note) on real
    data, which has no true masks."""
    from .splits import save_csv

    if truth_dir is None or not Path(truth_dir).is_dir():
        print("No ground-truth masks (real data): segmentation quality cannot be measured here; "
              "inspect the overlays, or edit crops/masks and rerun with masks_dir.")
        return None
    report = segmentation_report(masks_dir, truth_dir)
    if out_csv is not None:
        save_csv(report, out_csv)
    report["class"] = report.stem.str.split("_").str[0].map(
        lambda t: t if t in ("MM", "DN") else "Other")
    return report.groupby("class").dice.agg(
        lesions="size", mean="mean", median="median", above_0_8=lambda d: (d > 0.8).mean(),
        missed=lambda d: int((d == 0).sum()))


def separability(truth_dir: str | os.PathLike | None, seed: int = 0) -> float | None:
    """Stand-in only: the cross-validated MM-vs-DN AUROC of a logistic regression on lesion
    mean spectra and shape (:func:`hsilib.standin.checks.separability_auroc`)."""
    from ..standin.checks import separability_auroc

    if truth_dir is None:
        print("Real data: no true lesion masks, the stand-in's separability check does not apply.")
        return None
    auroc = separability_auroc(Path(truth_dir).parent, seed=seed)
    print(f"MM vs DN, 5-fold image-grouped CV AUROC (spectra + shape, true masks): {auroc:.3f}")
    return auroc


def split_table(splits: pd.DataFrame) -> pd.DataFrame:
    """Images and crops per class and split (the grouped split counts images)."""
    crops = pd.crosstab(splits["class"], splits.split)
    images = pd.crosstab(splits.drop_duplicates("source")["class"],
                         splits.drop_duplicates("source").split)
    table = pd.concat({"images": images, "crops": crops}, axis=1)
    order = [(a, b) for a in ("images", "crops") for b in ("train", "val", "test")]
    return table[[c for c in order if c in table.columns]]


def normaliser_table(normaliser: Any) -> pd.DataFrame:
    """Per-band training min and max (the normalisation of notebook 01)."""
    return pd.DataFrame({"wavelength_nm": normaliser.wavelengths_nm.astype(int),
                         "train_min": normaliser.band_min, "train_max": normaliser.band_max})
