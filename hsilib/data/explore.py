"""Looking at the data: the data source, spectra and summary tables for notebook 01.

Every function works on the real HSIDermoscopy folder and on the stand-in alike; the ones that
need the stand-in's ground truth take ``truth_dir`` and say so when it is None (real data).

The figures drawn from these tables live in :mod:`hsilib.plotting.data`.

Introduced in notebook 01.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from .. import WAVELENGTHS_NM
from ..standin.checks import lesion_feature_row
from .hsi_dermoscopy import HSIDermoscopy
from .masks import load_user_masks
from .segmentation import estimate_field, segmentation_report


# --------------------------------------------------------------------------------------------
# Data source
# --------------------------------------------------------------------------------------------
def prepare_data(cfg: Any, run: Any, data_dir: str | os.PathLike | None = None,
                 seed: int = 0) -> tuple[Path, Path | None]:
    """(cube folder, truth folder or None) for notebook 01.

    Always writes the unpaired RGB stand-in to ``run.standin / "rgb"``. With ``data_dir``
    (a real HSIDermoscopy folder) the cubes are read from there and there is no truth;
    otherwise the stand-in is generated into ``run.standin`` (kept if already complete).
    A folder there that the stand-in did not write (a data set, the user's RGB images) is
    never replaced: :class:`hsilib.paths.OutputFolderError` before anything is written.
    """
    from ..standin.writer import check_standin_outputs, generate_rgb_set, generate_standin

    check_standin_outputs(run.standin, cubes=data_dir is None)  # refuse before writing either
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
              "inspect the overlays, or edit the masks in artifacts/masks and rerun with "
              "masks_dir set to that folder.")
        return None
    report = segmentation_report(masks_dir, truth_dir)
    if out_csv is not None:
        save_csv(report, out_csv)
    report["class"] = report.stem.str.split("_").str[0].map(
        lambda t: t if t in ("MM", "DN") else "Other")
    return report.groupby("class").dice.agg(
        lesions="size", mean="mean", median="median", above_0_8=lambda d: (d > 0.8).mean(),
        missed=lambda d: int((d == 0).sum()))


def separability(truth_dir: str | os.PathLike | None, seed: int = 0,
                 dataset: HSIDermoscopy | None = None,
                 masks_dir: str | os.PathLike | None = None) -> float | None:
    """The cross-validated MM-vs-DN AUROC of a logistic regression on lesion mean spectra and
    shape (:func:`hsilib.standin.checks.separability_auroc`): on the stand-in with its true
    masks; on real data (``truth_dir`` None) with the masks of ``masks_dir`` over ``dataset``
    (None without them)."""
    from ..standin.checks import separability_auroc

    if truth_dir is not None:
        auroc = separability_auroc(Path(truth_dir).parent, seed=seed)
        print(f"MM vs DN, 5-fold image-grouped CV AUROC (spectra + shape, true masks): "
              f"{auroc:.3f}")
        return auroc
    if dataset is None or masks_dir is None:
        print("Real data without masks: the separability cannot be measured.")
        return None
    auroc = separability_auroc(table=mask_feature_table(dataset, masks_dir), seed=seed)
    print(f"MM vs DN, 5-fold image-grouped CV AUROC (spectra + shape, automatic masks): "
          f"{auroc:.3f}")
    return auroc


def mask_feature_table(dataset: HSIDermoscopy, masks_dir: str | os.PathLike,
                       classes=("MM", "DN")) -> pd.DataFrame:
    """:func:`hsilib.standin.checks.lesion_feature_table` with the masks of ``masks_dir``
    (``<stem>_cropNN_mask.png``, e.g. the automatic ones of notebook 01) instead of true ones:
    works on real data."""
    rows = []
    for i in dataset.index.index[dataset.index["class"].isin(classes)]:
        sample = dataset[int(i)]
        for k, m in enumerate(load_user_masks(masks_dir, sample["stem"]), start=1):
            if m.sum() >= 5:
                rows.append(lesion_feature_row(sample["stem"], sample["class"], k,
                                               sample["cube"], m))
    return pd.DataFrame(rows)


def split_table(splits: pd.DataFrame) -> pd.DataFrame:
    """Images and crops per class and split (the grouped split counts images)."""
    crops = pd.crosstab(splits["class"], splits.split)
    images = pd.crosstab(splits.drop_duplicates("source")["class"],
                         splits.drop_duplicates("source").split)
    table = pd.concat({"images": images, "crops": crops}, axis=1)
    order = [(a, b) for a in ("images", "crops") for b in ("train", "val", "test")]
    return table[[c for c in order if c in table.columns]]
