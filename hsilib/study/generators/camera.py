"""Camera photographs paired with the stand-in's crops: the RGB input of the RGB-to-HS models.

The RGB-to-hyperspectral models of notebooks 02 and 04 learn from unpaired RGB images taken by
a camera (exposure, white balance, blur, noise: :func:`hsilib.standin.imaging.camera_rgb`),
while the CIE rendering of a cube (:class:`hsilib.models.projection.HSToRGB`) is a different,
noise-free image of the same scene (median CIEDE2000 of several units between the two). A model
scored only on CIE renderings is scored on the very function the linear baseline is fitted on.
On the stand-in every cube also has its camera photograph (``truth/<stem>_camera_rgb.png``);
:func:`camera_crops` cuts it exactly as notebook 01 cut the cube (the same box, field, mirror
fill and resizing, :func:`hsilib.data.cropping.crop_in_field`, checked against the stored crop)
and resizes it as :func:`hsilib.data.datasets.load_crops` resizes the crop. Real data have no
paired photograph: :func:`camera_crops` returns None and the notebooks say so.
:func:`median_ciede2000` measures how far two renderings of the same crops lie apart.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from ...data.cropping import crop_in_field
from ...data.cube_io import load_cube
from ...data.datasets import eval_transforms
from ...data.masks import load_user_masks

#: the paired photograph of ``<stem>`` in the stand-in's truth folder
PHOTO = "{stem}_camera_rgb.png"
#: the two RGB inputs of the RGB-to-HS scores: a cube's CIE rendering, its camera photograph
CIE, CAMERA = "CIE rendering", "camera RGB"


def _photo(truth: Path, stem: str) -> np.ndarray:
    import cv2

    img = cv2.imread(str(truth / PHOTO.format(stem=stem)), cv2.IMREAD_COLOR)
    if img is None:
        raise ValueError(f"{truth / PHOTO.format(stem=stem)}: unreadable camera photograph")
    return cv2.cvtColor(img, cv2.COLOR_BGR2RGB).astype(np.float32) / 255


def camera_crops(run: Any, ids: Sequence[str], size: int) -> torch.Tensor | None:
    """The camera photographs of the crops ``ids`` (N x 3 x ``size`` x ``size``, [0, 1], in
    the order of ``ids``), or None when the run's crops have none (real data).

    ``run``: the run folder (:class:`hsilib.paths.RunPaths`: notebook 01's ``crops/`` with its
    full-size masks and its index's boxes, ``standin/``). Each source cube is cropped again
    with its photograph, in the index's boxes, and must give its stored crops exactly, else a
    ValueError names the crop (the crops were not cut from these cubes)."""
    index = pd.read_csv(run.crops / "index.csv", dtype={"id": str, "source": str}
                        ).set_index("id")
    rows = index.loc[list(ids)]
    truth = run.standin / "truth"
    if not all((truth / PHOTO.format(stem=s)).is_file() for s in set(rows.source)):
        return None
    out: dict[str, np.ndarray] = {}
    for stem, group in rows.groupby("source", sort=False):
        cubes = list((run.standin / "hsidermoscopy").glob(f"*Cube/{stem}.mat"))
        if len(cubes) != 1:
            raise FileNotFoundError(f"{run.standin / 'hsidermoscopy'}: no single cube {stem}.mat "
                                    f"for the photograph {PHOTO.format(stem=stem)}")
        cube = load_cube(cubes[0])
        masks = load_user_masks(run.crops / "masks", stem, cube.shape[:2])
        stored = {i: np.load(run.crops / r.path)["cube"] for i, r in group.iterrows()}
        every = index[index.source == stem].sort_values("lesion_index")  # one row per mask
        boxes = every[["y0", "x0", "y1", "x1"]].to_numpy().tolist()
        cut = crop_in_field(cube, masks, next(iter(stored.values())).shape[0],
                            paired=_photo(truth, stem), boxes=boxes)
        for i, r in group.iterrows():
            item = cut[int(r.lesion_index) - 1]
            if not np.array_equal(item["cube"], stored[i]):
                raise ValueError(f"crop {i}: cropping {cubes[0].name} again does not give the "
                                 "stored crop; the crop folder was not cut from these cubes")
            out[i] = eval_transforms(size)(image=np.clip(item["paired"], 0, 1))["image"]
    return torch.from_numpy(np.stack([out[i] for i in ids])).permute(0, 3, 1, 2).float()


def median_ciede2000(a: torch.Tensor, b: torch.Tensor) -> float:
    """Median CIEDE2000 (``colour-science``) between two sRGB renderings (N x 3 x H x W in
    [0, 1]) of the same crops, over the pixels where either is not black."""
    import colour

    keep = ((a.sum(1) > 0) | (b.sum(1) > 0)).numpy()

    def lab(x: torch.Tensor) -> np.ndarray:
        return colour.XYZ_to_Lab(colour.sRGB_to_XYZ(x.permute(0, 2, 3, 1).numpy()[keep]))

    return float(np.median(colour.delta_E(lab(a), lab(b), method="CIE 2000")))
