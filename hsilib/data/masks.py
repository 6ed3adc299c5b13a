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
from pathlib import Path

import numpy as np

from ..paths import atomic_path


class SegmentationWarning(UserWarning):
    """A segment was discarded (too small, touching the field border), no lesion was found, or
    mask files were left unused."""


MASK_RE = r"^{stem}_crop(\d+)_mask\.png$"


def read_mask(path: str | os.PathLike) -> np.ndarray:
    """One mask file as bool H x W, by the one-channel rule: a grey image (8 or 16 bit, or
    three identical channels, grey saved as RGB) whose non-zero pixels are lesion. Refused with
    ValueError naming the file: an unreadable file, an alpha channel (transparency says nothing
    about the lesion), colour (channels that differ: which one is the mask?), and a mask whose
    lesion is empty or the whole image."""
    import cv2

    img = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    if img is None:
        raise ValueError(f"{path}: unreadable mask image")
    if img.ndim == 3 and img.shape[-1] in (2, 4):
        raise ValueError(f"{path}: the mask has an alpha channel ({img.shape[-1]} channels); "
                         "save it as a one-channel (grey) PNG, lesion non-zero")
    if img.ndim == 3 and not (img == img[..., :1]).all():
        raise ValueError(f"{path}: the mask is in colour (its channels differ); save it as a "
                         "one-channel (grey) PNG, lesion non-zero")
    mask = (img if img.ndim == 2 else img[..., 0]) > 0
    if not mask.any():
        raise ValueError(f"{path}: the mask is empty (no non-zero pixel); delete the file or "
                         "draw the lesion")
    if mask.all():
        raise ValueError(f"{path}: the mask covers the whole image (every pixel non-zero; "
                         "inverted?); the lesion must be non-zero and the rest zero")
    return mask


def load_user_masks(folder: str | os.PathLike, stem: str,
                    shape: tuple[int, int] | None = None) -> list[np.ndarray]:
    """Masks ``<folder>/<stem>_cropNN_mask.png`` (the study's naming), in NN order, as bool.

    Each file is read by :func:`read_mask` (one channel, non-zero pixels are lesion; alpha,
    colour, empty and whole-image masks are refused); a mask of the wrong ``shape`` (H, W)
    raises ValueError naming the file. Stems with glob characters (``[``, ``*``, ``?``) are
    matched literally.
    """
    import glob

    folder = Path(folder)
    pattern = re.compile(MASK_RE.format(stem=re.escape(stem)))
    found = sorted((int(m.group(1)), p)
                   for p in folder.glob(f"{glob.escape(stem)}_crop*_mask.png")
                   if (m := pattern.match(p.name)))
    masks = []
    for _, path in found:
        mask = read_mask(path)
        if shape is not None and mask.shape != tuple(shape):
            raise ValueError(f"{path}: mask is {mask.shape}, the cube is {tuple(shape)}")
        masks.append(mask)
    return masks


def unmatched_masks(folder: str | os.PathLike, stems: set[str]) -> list[str]:
    """Names of the PNG files in ``folder`` that no cube of ``stems`` would read (a misspelt
    stem, ``.PNG``, a name without ``_cropNN_mask``): reported, never silently skipped."""
    ok = re.compile(r"^(.+)_crop\d+_mask\.png$")
    return sorted(p.name for p in Path(folder).iterdir() if p.suffix.lower() == ".png"
                  and not ((m := ok.match(p.name)) and m.group(1) in stems))


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
