"""The crop folder: the data contract every notebook shares.

A crop folder holds ``index.csv`` (one row per crop: :data:`CROP_COLUMNS`, plus the
:data:`OPTIONAL_COLUMNS` when its writer gives them) and one ``<id>.npz`` per crop (``cube``:
float32 H x W x B raw reflectance, ``mask``: uint8 H x W). Notebook 01 writes the real crops
(:func:`hsilib.data.preprocess.make_crops`), the generators' exporters write synthetic ones
(:func:`write_crop_folder`); :func:`read_index` and :func:`load_crop` read either.

Introduced in notebook 01.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ..paths import atomic_dir

#: Columns of a crop folder's index.csv (the data contract shared by every notebook).
CROP_COLUMNS = ("id", "source", "class", "label", "subtype", "lesion_index", "y0", "x0", "y1",
                "x1", "mask_area", "path", "is_synthetic", "generator", "checkpoint_sha", "seed")
#: Optional index columns and their values when a writer does not give them (synthetic crops
#: have no dermoscope field): the share of the crop's pixels that lay outside the field and
#: were filled with skin, and whether the crop box reached past the field's edge at all.
OPTIONAL_COLUMNS = {"field_fill": 0.0, "touches_field_edge": False}


_DTYPES = {"id": str, "source": str, "class": str, "subtype": str, "path": str,
           "generator": str, "checkpoint_sha": str}


def read_index(folder: str | os.PathLike) -> pd.DataFrame:
    """A crop folder's ``index.csv`` with typed columns and ``path`` made absolute; the
    optional columns (:data:`OPTIONAL_COLUMNS`) get their default
    values when the folder's writer did not give them."""
    folder = Path(folder)
    path = folder / "index.csv"
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no crop index (run notebook 01, or the exporter)")
    table = pd.read_csv(path, dtype=_DTYPES, keep_default_na=False)
    missing = [c for c in CROP_COLUMNS if c not in table.columns]
    if missing:
        raise ValueError(f"{path}: missing columns {missing}")
    table["is_synthetic"] = _as_bool(table.is_synthetic)
    table["path"] = [str(folder / p) for p in table.path]
    return _with_optional_columns(table)


def _as_bool(column: pd.Series) -> pd.Series:
    return column.astype(str).str.lower().isin(["true", "1"])


def _with_optional_columns(table: pd.DataFrame) -> pd.DataFrame:
    """``table`` with every optional index column present (defaults filled in) and typed."""
    for name, default in OPTIONAL_COLUMNS.items():
        if name not in table.columns:
            table[name] = default
        elif isinstance(default, bool):
            table[name] = _as_bool(table[name])
        else:
            values = pd.to_numeric(table[name].replace("", np.nan), errors="coerce")
            table[name] = values.fillna(default).astype(type(default))
    return table


def load_crop(path: str | os.PathLike,
              n_bands: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(cube float32 H x W x B, mask uint8 H x W) of one crop file (never unpickled). Refused
    with ValueError naming the file: an unreadable file, a cube that is not H x W x B (B =
    ``n_bands`` when given) or holds NaN/inf, a mask of another size."""
    try:
        with np.load(path, allow_pickle=False) as z:
            cube, mask = z["cube"].astype(np.float32), z["mask"].astype(np.uint8)
    except (OSError, KeyError, ValueError, TypeError) as err:
        raise ValueError(f"{path}: unreadable crop ({type(err).__name__}: {err})") from err
    if cube.ndim != 3 or (n_bands is not None and cube.shape[-1] != n_bands):
        want = f"H x W x {n_bands}" if n_bands is not None else "H x W x B"
        raise ValueError(f"{path}: the crop's cube is {cube.shape}, expected {want}")
    if mask.shape != cube.shape[:2]:
        raise ValueError(f"{path}: the mask is {mask.shape}, the cube {cube.shape}")
    if not np.isfinite(cube).all():
        raise ValueError(f"{path}: {int((~np.isfinite(cube)).sum())} NaN/inf values in the "
                         "crop")
    return cube, mask


def iter_cubes(table: pd.DataFrame, n_bands: int | None = None) -> Iterator[np.ndarray]:
    """The crop cubes of ``table`` (from :func:`read_index`), one at a time, each checked by
    :func:`load_crop` (``n_bands`` bands when given)."""
    for path in table.path:
        yield load_crop(path, n_bands)[0]


def write_crop_folder(out_dir: str | os.PathLike,
                      items: Iterable[tuple[dict[str, Any], np.ndarray, np.ndarray | None]],
                      overwrite: bool = True,
                      inputs: Iterable[str | os.PathLike | None] = ()) -> pd.DataFrame:
    """Write a crop folder from (row, cube, mask) triples, atomically (temp folder + rename).

    An existing ``out_dir`` is replaced only when the project wrote it and ``overwrite`` is
    True; ``out_dir`` may not overlap any folder of ``inputs`` (see
    :func:`hsilib.paths.atomic_dir`). A cube with NaN or inf values is refused, naming its id
    (nothing is replaced).

    ``row`` gives the index columns (:data:`CROP_COLUMNS`); ``path`` is
    set to ``<id>.npz``; ``mask`` may be None (all zeros). The optional columns
    (:data:`OPTIONAL_COLUMNS`) take their defaults when a row lacks
    them. For the generators' exports, e.g.
    ``{"id": "fastgan_mm_0001", "source": "fastgan_mm_0001", "class": "MM", "label": 1,
    "subtype": "MM", "lesion_index": 1, "y0": 0, "x0": 0, "y1": 256, "x1": 256,
    "mask_area": 0, "is_synthetic": True, "generator": "fastgan", "checkpoint_sha": sha,
    "seed": 0}``.
    """
    out_dir = Path(out_dir)
    if out_dir.exists() and not overwrite:
        raise FileExistsError(f"{out_dir}: exists; pass overwrite=True to replace it")
    rows = []
    with atomic_dir(out_dir, inputs) as tmp:
        for row, cube, mask in items:
            cube = np.asarray(cube, np.float32)
            if not np.isfinite(cube).all():
                raise ValueError(f"crop {row.get('id')!r}: {int((~np.isfinite(cube)).sum())} "
                                 f"NaN/inf values; nothing was written to {out_dir}")
            mask = np.zeros(cube.shape[:2], np.uint8) if mask is None else np.asarray(mask,
                                                                                      np.uint8)
            row = {**OPTIONAL_COLUMNS, **row, "path": f"{row['id']}.npz"}
            missing = [c for c in CROP_COLUMNS if c not in row]
            if missing:
                raise ValueError(f"crop {row.get('id')!r}: missing index fields {missing}")
            np.savez(tmp / row["path"], cube=cube, mask=mask)
            rows.append(row)
        index = pd.DataFrame(rows, columns=[*CROP_COLUMNS, *OPTIONAL_COLUMNS])
        index.to_csv(tmp / "index.csv", index=False)
    return index
