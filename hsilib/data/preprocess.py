"""Preprocessing of hyperspectral dermoscopy cubes: segmentation, lesion crops, Dice.

The original study drew one mask per lesion on a false-RGB image (the band mean repeated three
times) with SAM2 in Label Studio, saved them as ``<stem>_cropNN_mask.png``, then cropped each
lesion's bounding box scaled by 1.5 about its centre and resized it (SmallestMaxSize +
CenterCrop). Here the masks come from an automatic, headless segmentation (below) or from the
user's own mask files in the study's naming; the crops follow the study, except that a crop box
which would reach past the dermoscope's circular field is moved into it and what still lies
outside is filled with mirrored skin (:func:`crop_in_field`): otherwise the black outside marks
the large lesions, mostly melanomas.

:func:`make_crops` runs the whole step for a data set: segment (or read the user's masks), crop
in the field, write the crop folder. Each idea has its module, whose names are re-exported here
(where the notebooks import them):

- :mod:`hsilib.data.segmentation`: automatic segmentation (:func:`segment_lesions`), the
  false-RGB view, Dice against true masks (:func:`dice`, :func:`segmentation_report`);
- :mod:`hsilib.data.masks`: mask files in the study's naming (:func:`load_user_masks`,
  :func:`save_user_masks`, :func:`sync_editable_masks`);
- :mod:`hsilib.data.cropping`: crops kept inside the dermoscope field (:func:`crop_in_field`);
- :mod:`hsilib.data.crop_folder`: the crop folder they are written to (:data:`CROP_COLUMNS`).

Introduced in notebook 01.
"""

from __future__ import annotations

import os
import re
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ..paths import atomic_dir, check_output_dir
from ..runtime import process_pool
from ..runtime import progress as bar
from .crop_folder import CROP_COLUMNS, OPTIONAL_COLUMNS
from .cropping import (
    crop_and_resize,
    crop_box,
    crop_in_field,
    field_crop_box,
    field_geometry,
    fill_outside_field,
    fit_field_circle,
    inside_circle,
    skin_spectrum,
)
from .cube_io import check_scales, cube_scale, load_cube
from .masks import (
    MASK_RE,
    MASK_RECORD,
    SegmentationWarning,
    load_user_masks,
    save_user_masks,
    sync_editable_masks,
    unmatched_masks,
)
from .segmentation import (
    BLUE_BANDS,
    dice,
    estimate_field,
    false_rgb,
    optical_density,
    otsu_threshold,
    segment_lesions,
    segmentation_report,
)


def _crops_of_one(row: dict[str, Any], out_dir: str, size: int, scale: float, min_area: int,
                  masks_dir: str | None) -> tuple[list[dict[str, Any]], list[str], float]:
    """Worker: crops of one source cube, written into ``out_dir``; (index rows, warnings, the
    cube's scale)."""
    cube = load_cube(row["path"])
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        if masks_dir is not None:
            masks = load_user_masks(masks_dir, row["stem"], cube.shape[:2])
            if not masks:
                warnings.warn(f"{row['path']}: no mask in {masks_dir}", SegmentationWarning,
                              stacklevel=1)
        else:
            masks = segment_lesions(cube, min_area=min_area, name=str(row["path"]))
    save_user_masks(Path(out_dir) / "masks", row["stem"], masks)
    rows = []
    for k, (mask, crop) in enumerate(zip(masks, crop_in_field(cube, masks, size, scale),
                                         strict=True), start=1):
        ident = f"{row['stem']}_crop{k:02d}"
        np.savez(Path(out_dir) / f"{ident}.npz", cube=crop["cube"], mask=crop["mask"])
        box = crop["box"]
        rows.append({"id": ident, "source": row["stem"], "class": row["class"],
                     "label": row["label"], "subtype": row["subtype"], "lesion_index": k,
                     "y0": box[0], "x0": box[1], "y1": box[2], "x1": box[3],
                     "mask_area": int(mask.sum()), "path": f"{ident}.npz",
                     "is_synthetic": False, "generator": "real", "checkpoint_sha": "none",
                     "seed": -1, "field_fill": round(crop["field_fill"], 6),
                     "touches_field_edge": crop["touches_field_edge"]})
    return rows, [str(w.message) for w in caught], cube_scale(cube)


def _check_crop_arguments(size: Any, scale: Any, min_area: Any, workers: Any) -> None:
    """ValueError naming the argument of :func:`make_crops` that cannot work."""
    import numbers

    def integer(v: Any) -> bool:
        return isinstance(v, numbers.Integral) and not isinstance(v, bool)

    for name, value, low in (("size", size, 1), ("min_area", min_area, 0),
                             ("workers", workers, 1)):
        if not integer(value) or value < low:
            raise ValueError(f"make_crops: {name} must be an integer >= {low}, got {value!r}")
    if not isinstance(scale, numbers.Real) or not np.isfinite(scale) or scale <= 0:
        raise ValueError(f"make_crops: scale must be a finite number > 0, got {scale!r}")


def make_crops(dataset: Any, out_dir: str | os.PathLike, *, size: int, scale: float = 1.5,
               min_area: int, masks_dir: str | os.PathLike | None = None, workers: int = 1,
               progress: bool = True, edit_masks_dir: str | os.PathLike | None = None,
               overwrite_masks: bool = False) -> pd.DataFrame:
    """Segment (or read user masks from ``masks_dir``) and crop every cube of ``dataset``, each
    crop kept inside the dermoscope field (:func:`crop_in_field`).

    Writes the crop folder of the data contract: ``index.csv`` (:data:`CROP_COLUMNS` and
    :data:`OPTIONAL_COLUMNS`), one
    ``<id>.npz`` per crop (``cube`` float32 size x size x B raw reflectance, ``mask`` uint8),
    and ``masks/<stem>_cropNN_mask.png``, the full-size masks the crops were cut with.
    Everything goes into a temporary folder that replaces ``out_dir`` only when complete, and
    only when ``out_dir`` is a crop folder the project wrote (:func:`hsilib.paths.atomic_dir`);
    ``out_dir`` may not overlap the data set's folder, ``masks_dir`` or ``edit_masks_dir``.

    ``edit_masks_dir`` (optional; notebook 01 uses ``artifacts/masks``): a folder outside
    ``out_dir`` that receives a copy of the masks to edit by hand (then pass it as ``masks_dir``
    to redo the crops). A mask edited there is never overwritten unless ``overwrite_masks``
    (:func:`sync_editable_masks`).

    Cubes whose scales differ by orders of magnitude raise a
    :class:`~hsilib.data.cube_io.DataScaleWarning` naming them. Errors, raised before
    anything is replaced: a ``masks_dir`` that does not exist or holds no
    mask of any cube of ``dataset``, and a run that makes no crop at all. Warnings of all files
    are gathered into one :class:`SegmentationWarning`. Returns the index (also in
    ``.attrs["warnings"]``).
    """
    _check_crop_arguments(size, scale, min_area, workers)
    root = getattr(dataset, "root", None)
    check_output_dir(out_dir, (root, masks_dir, edit_masks_dir))
    if masks_dir is not None:
        mdir = Path(masks_dir)
        if not mdir.is_dir():
            raise FileNotFoundError(f"masks_dir {mdir} does not exist (or is not a folder)")
        stems = set(dataset.index["stem"].astype(str))
        have = {m.group(1) for p in mdir.glob("*_crop*_mask.png")
                if (m := re.match(r"(.+)_crop\d+_mask\.png$", p.name))}
        if not stems & have:
            raise ValueError(f"masks_dir {mdir} holds no mask <stem>_cropNN_mask.png of any "
                             f"of the {len(stems)} cubes (e.g. {sorted(stems)[:3]}); check "
                             "the folder name")
        unused = unmatched_masks(mdir, stems)
        if unused:
            warnings.warn(f"masks_dir {mdir}: {len(unused)} PNG file(s) match no cube's "
                          f"<stem>_cropNN_mask.png and are not used: {unused[:10]}",
                          SegmentationWarning, stacklevel=2)
    jobs = [dict(r) for _, r in dataset.index.iterrows()]
    rows, notes = [], []
    with atomic_dir(out_dir, (root, masks_dir, edit_masks_dir)) as tmp:
        args = (str(tmp), size, scale, min_area, None if masks_dir is None else str(masks_dir))
        (tmp / "masks").mkdir()
        if workers > 1:
            with process_pool(workers) as pool:
                results = pool.map(_crops_of_one, jobs, *[[a] * len(jobs) for a in args])
                results = list(bar(results, total=len(jobs), desc="crops", unit="image",
                                   disable=not progress))
        else:
            results = [_crops_of_one(j, *args)
                       for j in bar(jobs, total=len(jobs), desc="crops", unit="image",
                                    disable=not progress)]
        scales = {}
        for job, (r, w, scale) in zip(jobs, results, strict=True):
            rows += r
            notes += w
            scales[Path(job["path"]).name] = scale
        if not rows:
            raise ValueError(f"no lesion crop from the {len(jobs)} cubes of {root} "
                             f"(masks_dir={masks_dir}, min_area={min_area}); {out_dir} is left "
                             "as it was. Notes: " + "; ".join(notes[:5]))
        index = pd.DataFrame(rows, columns=[*CROP_COLUMNS, *OPTIONAL_COLUMNS])
        index.to_csv(tmp / "index.csv", index=False)
    check_scales(scales)  # raw counts beside reflectance: a warning naming the files
    if edit_masks_dir is not None and (masks_dir is None or Path(masks_dir).resolve()
                                       != Path(edit_masks_dir).resolve()):
        notes += sync_editable_masks(Path(out_dir) / "masks", edit_masks_dir,
                                     overwrite=overwrite_masks)
    if notes:  # one warning for the whole set: a line per kind of note, with its reason
        warnings.warn(summarise_notes(notes, len(jobs)), SegmentationWarning, stacklevel=2)
    index.attrs["warnings"] = notes
    return index


#: The kinds of per-image segmentation notes :func:`summarise_notes` counts: (a pattern
#: searched in the note, what happened and why it is done). A note may be of several kinds.
NOTE_KINDS: tuple[tuple[str, str], ...] = (
    (r"and [1-9]\d* touching the field border",
     "a segment touching the dermoscope field's border dropped (a lesion cut by the field "
     "edge has no reliable shape)"),
    (r"dropped [1-9]\d* segment\(s\) below min_area",
     "a segment below min_area dropped (lesion-sized but too small to crop)"),
    (r": no lesion (found|left after filtering)", "no lesion kept: the image gives no crop"),
    (r": the dermoscope field is \(almost\) empty", "an (almost) empty dermoscope field"),
    (r": no mask in ", "no mask file in masks_dir: the image gives no crop"),
    (r": edited \(or not written by this project\), kept",
     "an edited mask kept (pass overwrite_masks=True to replace it)"),
)


def summarise_notes(notes: list[str], n_images: int, examples: int = 2) -> str:
    """The text of :func:`make_crops`' one :class:`SegmentationWarning`: the number of notes,
    then one line per kind of note (:data:`NOTE_KINDS`, then any other) with its count and
    reason; a kind with at most ``examples`` notes lists them in full, a larger one names its
    first file. Every note stays in ``index.attrs["warnings"]``."""
    if not notes:
        raise ValueError("summarise_notes: notes is empty; nothing to summarise")
    lines = [f"{len(notes)} segmentation note(s) on {n_images} images (each in "
             "index.attrs['warnings']):"]
    matched: set[int] = set()
    kinds = [(label, [i for i, n in enumerate(notes) if re.search(pattern, n)])
             for pattern, label in NOTE_KINDS]
    for _, found in kinds:
        matched.update(found)
    kinds.append(("other notes", [i for i in range(len(notes)) if i not in matched]))
    for label, found in kinds:
        if not found:
            continue
        if len(found) <= examples:
            lines += [f"  {notes[i]}" for i in found]
        else:
            first = Path(notes[found[0]].split(": ", 1)[0]).name
            lines.append(f"  {len(found)} x {label}; first: {first}")
    return "\n".join(lines)


__all__ = ["CROP_COLUMNS", "OPTIONAL_COLUMNS", "SegmentationWarning", "BLUE_BANDS",
           "false_rgb", "optical_density", "estimate_field", "segment_lesions", "otsu_threshold",
           "MASK_RE", "MASK_RECORD", "load_user_masks", "save_user_masks", "sync_editable_masks",
           "crop_box", "fit_field_circle", "inside_circle", "field_geometry", "field_crop_box",
           "skin_spectrum", "fill_outside_field", "crop_and_resize", "crop_in_field",
           "make_crops", "NOTE_KINDS", "summarise_notes", "dice", "segmentation_report"]
