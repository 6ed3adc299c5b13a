"""Measurements on generated stand-in data: is it realistic, and how hard is it?

:func:`background_skin_spectrum` gives the mean spectrum of the skin around the lesions (checked
against measured skin ranges); :func:`separability_auroc` says how well melanoma and dysplastic
nevus separate on lesion mean spectra and simple mask shape (:func:`lesion_feature_table`,
:func:`mask_shape_features`), shown in notebook 01 and checked by a slow test.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from .. import WAVELENGTHS_NM


def mask_shape_features(mask: np.ndarray) -> dict:
    """Area (px), eccentricity, asymmetry (1 - IoU with the mask mirrored about its principal
    axes, mean of the two) and border irregularity (perimeter^2 / (4 pi area)) of a mask."""
    m = mask.astype(np.uint8)
    ys, xs = np.nonzero(m)
    area = float(len(ys))
    if area < 5:
        raise ValueError("mask_shape_features: empty or tiny mask")
    cy, cx = ys.mean(), xs.mean()
    cov = np.cov(np.stack([ys - cy, xs - cx]))
    evals, evecs = np.linalg.eigh(cov)
    ecc = float(np.sqrt(1 - evals[0] / max(evals[1], 1e-9)))
    # mirror the mask about each principal axis through its centroid and compare
    ious = []
    for e in evecs.T:  # e = (ey, ex)
        refl = 2 * np.outer(e[::-1], e[::-1]) - np.eye(2)  # reflection in (x, y) coordinates
        shift = np.array([cx, cy]) - refl @ np.array([cx, cy])
        mirrored = cv2.warpAffine(m, np.hstack([refl, shift[:, None]]).astype(np.float32),
                                  (m.shape[1], m.shape[0]), flags=cv2.INTER_NEAREST)
        ious.append(np.logical_and(m, mirrored).sum() / np.logical_or(m, mirrored).sum())
    contours, _ = cv2.findContours(m, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)
    perim = sum(cv2.arcLength(c, True) for c in contours)
    return {"area": area, "eccentricity": ecc, "asymmetry": 1 - float(np.mean(ious)),
            "border_irregularity": float(perim**2 / (4 * np.pi * area))}


def lesion_feature_row(stem: str, cls: str, k: int, cube: np.ndarray,
                       mask: np.ndarray) -> dict:
    """One lesion's row of :func:`lesion_feature_table`: its image, class, label, index, mean
    spectrum (``b0``..) inside ``mask`` and :func:`mask_shape_features`."""
    return {"stem": stem, "class": cls, "label": int(cls == "MM"), "lesion_index": int(k),
            **{f"b{i}": float(v) for i, v in enumerate(cube[mask].mean(0))},
            **mask_shape_features(mask)}


def lesion_feature_table(standin_dir, classes=("MM", "DN")):
    """One row per lesion of the given classes: stem, class, label (1 MM / 0 DN), the lesion's
    mean spectrum in the cube (b0..b15) and :func:`mask_shape_features` from the truth mask."""
    import pandas as pd
    import scipy.io

    root = Path(standin_dir)
    rows = []
    for cls in classes:
        for mat in sorted((root / "hsidermoscopy" / f"{cls}Cube").glob("*.mat")):
            cube = scipy.io.loadmat(mat)["cube"]
            labels = np.load(root / "truth" / f"{mat.stem}.npz")["labels"]
            for k in np.unique(labels[labels > 0]):
                m = labels == k
                if m.sum() >= 5:
                    rows.append(lesion_feature_row(mat.stem, cls, k, cube, m))
    return pd.DataFrame(rows)


def separability_auroc(standin_dir=None, seed: int = 0, n_splits: int = 5, table=None) -> float:
    """Cross-validated AUROC of MM vs DN from per-lesion mean spectra + simple mask shape.

    Lesions come from the stand-in's truth (:func:`lesion_feature_table` of ``standin_dir``) or
    from a ready ``table`` (e.g. :func:`hsilib.data.explore.mask_feature_table` on real data).

    Logistic regression on standardised features (16 mean-spectrum bands, log area,
    eccentricity, asymmetry, border irregularity), ``n_splits``-fold stratified and grouped by
    source image; the out-of-fold scores are pooled into one AUROC. A realistic stand-in lands
    between 0.65 and 0.90 (neither trivial nor hopeless).
    """
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import roc_auc_score
    from sklearn.model_selection import StratifiedGroupKFold
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    if table is None:
        if standin_dir is None:
            raise ValueError("separability_auroc: give standin_dir or table")
        table = lesion_feature_table(standin_dir)
    table = table.copy()
    if table.empty or table["label"].nunique() < 2:
        raise ValueError(f"separability_auroc: {standin_dir or 'the table'} needs MM and DN "
                         f"lesions")
    table["log_area"] = np.log(table["area"])
    cols = [f"b{i}" for i in range(len(WAVELENGTHS_NM))] + ["log_area", "eccentricity",
                                                             "asymmetry", "border_irregularity"]
    x, y, groups = table[cols].to_numpy(), table["label"].to_numpy(), table["stem"].to_numpy()
    scores = np.zeros(len(y))
    cv = StratifiedGroupKFold(n_splits=n_splits, shuffle=True, random_state=seed)
    for train, test in cv.split(x, y, groups):
        model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000))
        model.fit(x[train], y[train])
        scores[test] = model.predict_proba(x[test])[:, 1]
    return float(roc_auc_score(y, scores))


def background_skin_spectrum(cube: np.ndarray, labels: np.ndarray, field: np.ndarray,
                             margin_px: int = 3) -> np.ndarray:
    """Mean spectrum of skin pixels (inside the field, away from every lesion)."""
    lesion = cv2.dilate((labels > 0).astype(np.uint8), np.ones((2 * margin_px + 1,) * 2))
    inner = cv2.erode(field.astype(np.uint8), np.ones((2 * margin_px + 1,) * 2))
    sel = (lesion == 0) & (inner > 0)
    if not sel.any():
        raise ValueError("background_skin_spectrum: no skin pixels")
    return cube[sel].mean(0)
