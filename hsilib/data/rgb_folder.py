"""The unpaired RGB dermoscopy domain: a folder of PNG/JPG images (e.g. MILK10K, or the
stand-in's ``rgb/`` set), read for the RGB-to-hyperspectral models of notebooks 02 and 04.

Introduced in notebook 02.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd

from .cube_io import CubeFormatError, DatasetNotFoundError

RGB_SUFFIXES = (".png", ".jpg", ".jpeg")


def _resize_rgb(img: np.ndarray, size: int) -> np.ndarray:
    import cv2

    h, w = img.shape[:2]
    s = size / min(h, w)  # SmallestMaxSize + CenterCrop, as for the cubes
    nh, nw = max(size, round(h * s)), max(size, round(w * s))
    img = cv2.resize(img, (nw, nh), interpolation=cv2.INTER_AREA if s < 1 else cv2.INTER_LINEAR)
    y0, x0 = (nh - size) // 2, (nw - size) // 2
    return img[y0:y0 + size, x0:x0 + size]


def load_rgb_folder(folder: str | os.PathLike, size: int | None = None,
                    limit: int | None = None) -> tuple[np.ndarray, pd.DataFrame]:
    """Read a folder of RGB dermoscopy images: (uint8 N x size x size x 3, table).

    With an ``index.csv`` (the stand-in's ``rgb/``: id, class, subtype, path) its rows are used;
    otherwise every PNG/JPG under ``folder`` is read, the class being the parent folder's name
    ("unknown" at the top level). ``size=None`` keeps the native size (all must match).
    """
    import cv2

    folder = Path(folder)
    if not folder.is_dir():
        raise DatasetNotFoundError(f"{folder}: no such RGB image folder")
    if (folder / "index.csv").is_file():
        table = pd.read_csv(folder / "index.csv", dtype={"id": str, "path": str})
        missing = [c for c in ("id", "path") if c not in table.columns]
        if missing:
            raise ValueError(f"{folder / 'index.csv'}: missing columns {missing} (an RGB index "
                             "needs id and path, relative to the folder)")
    else:
        files = sorted(p for p in folder.rglob("*") if p.suffix.lower() in RGB_SUFFIXES)
        table = pd.DataFrame({
            "id": [p.stem for p in files],
            "class": [p.parent.name if p.parent != folder else "unknown" for p in files],
            "path": [str(p.relative_to(folder)) for p in files]})
        table["subtype"] = table["class"]
    if limit is not None:
        table = table.iloc[:limit].reset_index(drop=True)
    if table.empty:
        raise DatasetNotFoundError(f"{folder}: no PNG/JPG images found")
    images = []
    for rel in table.path:
        img = cv2.imread(str(folder / rel), cv2.IMREAD_COLOR)
        if img is None:
            raise CubeFormatError(f"{folder / rel}: unreadable image")
        img = img[..., ::-1]  # OpenCV reads BGR
        images.append(_resize_rgb(img, size) if size else img)
    if len({im.shape for im in images}) > 1:
        raise ValueError(f"{folder}: images differ in size; pass size= to resize them")
    return np.ascontiguousarray(np.stack(images)), table
