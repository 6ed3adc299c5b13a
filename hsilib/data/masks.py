"""Lesion mask files in the study's naming: ``<stem>_cropNN_mask.png``, one per lesion.

The study drew one mask per lesion on a false-RGB image with SAM2 in Label Studio and saved
them under this name; :func:`load_user_masks` reads such masks (drawn by hand or written by
:func:`save_user_masks` from the automatic segmentation), and :func:`sync_editable_masks` keeps
a copy to edit by hand without ever overwriting an edit.

Introduced in notebook 01.
"""

from __future__ import annotations

import os
import re
import warnings
from pathlib import Path

import numpy as np

from ..paths import atomic_path


class SegmentationWarning(UserWarning):
    """A segment was discarded (too small, touching the field border), no lesion was found, or a
    mask file was empty."""


MASK_RE = r"^{stem}_crop(\d+)_mask\.png$"


def load_user_masks(folder: str | os.PathLike, stem: str,
                    shape: tuple[int, int] | None = None) -> list[np.ndarray]:
    """Masks ``<folder>/<stem>_cropNN_mask.png`` (the study's naming), in NN order, as bool.

    Non-zero pixels are lesion. An empty mask is skipped with a warning naming the file; a
    mask of the wrong ``shape`` (H, W) or an unreadable file raises ValueError naming it.
    """
    import cv2

    folder = Path(folder)
    pattern = re.compile(MASK_RE.format(stem=re.escape(stem)))
    found = sorted((int(m.group(1)), p) for p in folder.glob(f"{stem}_crop*_mask.png")
                   if (m := pattern.match(p.name)))
    masks = []
    for _, path in found:
        img = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
        if img is None:
            raise ValueError(f"{path}: unreadable mask image")
        mask = (img if img.ndim == 2 else img.max(axis=-1)) > 0
        if shape is not None and mask.shape != tuple(shape):
            raise ValueError(f"{path}: mask is {mask.shape}, the cube is {tuple(shape)}")
        if not mask.any():
            warnings.warn(f"{path}: empty mask, skipped", SegmentationWarning, stacklevel=2)
            continue
        masks.append(mask)
    return masks


def save_user_masks(folder: str | os.PathLike, stem: str, masks: list[np.ndarray]) -> list[Path]:
    """Write masks as ``<stem>_cropNN_mask.png`` (0/255, NN from 01), atomically each."""
    import cv2

    out = []
    for k, mask in enumerate(masks, start=1):
        target = Path(folder) / f"{stem}_crop{k:02d}_mask.png"
        with atomic_path(target) as tmp:
            if not cv2.imwrite(str(tmp), np.asarray(mask, np.uint8) * 255):
                raise OSError(f"{target}: could not write the mask")
        out.append(target)
    return out


def _sha(path: Path) -> str:
    import hashlib

    return hashlib.sha256(path.read_bytes()).hexdigest()


#: Record, in an editable mask folder, of the files the project wrote there and their hashes.
MASK_RECORD = ".hsilib-masks.json"


def sync_editable_masks(src: str | os.PathLike, dest: str | os.PathLike, *,
                        overwrite: bool = False) -> list[str]:
    """Copy the masks of ``src`` into the editable folder ``dest`` without losing an edit.

    A file of ``dest`` that the project wrote and nobody changed since (its hash is in
    ``dest/.hsilib-masks.json``) is replaced, or removed when ``src`` no longer has it; a file
    that was edited (or that the project never wrote) is kept unless ``overwrite`` is True.
    Returns a note for every kept file.
    """
    import json
    import shutil

    src, dest = Path(src), Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    record_path = dest / MASK_RECORD
    try:
        record = json.loads(record_path.read_text()) if record_path.is_file() else {}
    except ValueError:
        record = {}
    new_files = {p.name: p for p in sorted(src.glob("*_mask.png"))}
    kept, out = [], {}

    def untouched(path: Path) -> bool:
        return record.get(path.name) == _sha(path)

    for name, path in new_files.items():
        target = dest / name
        if target.exists() and not overwrite and not untouched(target):
            kept.append(f"{target}: edited (or not written by this project), kept; pass "
                        "overwrite_masks=True to replace it with the new automatic mask")
            continue
        with atomic_path(target) as tmp:
            shutil.copyfile(path, tmp)
        out[name] = _sha(target)
    for name in set(record) - set(new_files):
        target = dest / name
        if target.is_file() and untouched(target):
            target.unlink()
    with atomic_path(record_path) as tmp:
        tmp.write_text(json.dumps(out, indent=1, sort_keys=True) + "\n")
    return kept
