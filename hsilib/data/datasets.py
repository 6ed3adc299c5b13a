"""Lesion crops: folders, the per-band normaliser fitted on the training split, in-memory
tensors, torch datasets and band-safe augmentations.

A crop folder (written by :func:`hsilib.data.preprocess.make_crops` for real crops and by the
generators' exporters for synthetic ones) holds ``index.csv`` and one ``<id>.npz`` per crop.
:class:`CropDataset` reads it, optionally restricted to one split and some classes, normalises
with the training split's :class:`BandNormaliser`, augments, and yields
dicts (torchgeo style)::

    {"image": float32 B x H x W, "label": int, "wavelengths_nm": float32 B,
     "mask": float32 1 x H x W, "id": str, "is_synthetic": bool}

Augmentations move pixels and never mix bands: every transform here acts on each band alike
(geometry only), so a pixel's spectrum is carried, interpolated in space, but never recoloured.
Colour jitter, hue shifts, channel shuffles and the like would corrupt spectra and are absent.

Introduced in notebook 01; used by the generators (03-05) and the classifiers (06).
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from torch.utils.data import Dataset

from .. import WAVELENGTHS_NM, guard
from ..labels import BINARY_CLASSES
from ..paths import atomic_dir, atomic_path
from .preprocess import CROP_COLUMNS, OPTIONAL_COLUMNS

# --------------------------------------------------------------------------------------------
# Crop folders
# --------------------------------------------------------------------------------------------
_DTYPES = {"id": str, "source": str, "class": str, "subtype": str, "path": str,
           "generator": str, "checkpoint_sha": str}


def read_index(folder: str | os.PathLike) -> pd.DataFrame:
    """A crop folder's ``index.csv`` with typed columns and ``path`` made absolute; the
    optional columns (:data:`~hsilib.data.preprocess.OPTIONAL_COLUMNS`) get their default
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


def load_crop(path: str | os.PathLike) -> tuple[np.ndarray, np.ndarray]:
    """(cube float32 H x W x B, mask uint8 H x W) of one crop file."""
    try:
        with np.load(path) as z:
            return z["cube"].astype(np.float32), z["mask"].astype(np.uint8)
    except (OSError, KeyError, ValueError) as err:
        raise ValueError(f"{path}: unreadable crop ({type(err).__name__}: {err})") from err


def iter_cubes(table: pd.DataFrame) -> Iterator[np.ndarray]:
    """The crop cubes of ``table`` (from :func:`read_index`), one at a time."""
    for path in table.path:
        yield load_crop(path)[0]


# --------------------------------------------------------------------------------------------
# Per-band normalisation
# --------------------------------------------------------------------------------------------
#: Fitting methods of :class:`BandNormaliser`.
NORMALISATIONS = ("percentile", "minmax")


class BandNormaliser:
    """Per-band linear scaling, fitted on the training crops only.

    Each band's fitted range [``band_min``, ``band_max``] maps to [0, 1]
    (``apply(x, "unit")``, classifiers) or [-1, 1] (``"symmetric"``, GANs with tanh outputs).
    ``method`` says how that range is fitted:

    - ``"minmax"``: the minimum and maximum over every pixel of the training crops (the study's
      protocol). The black outside of the dermoscope field sets the minimum at 0 and a few
      glints set the maximum, so lesions use only a small part of the range.
    - ``"percentile"``: the ``percentiles`` (default 0.5 and 99.5) of the field's pixels (those
      whose spectrum is not all zero), from at most ``max_pixels`` pixels per crop drawn with
      ``seed``: robust to the outside, glints and dead pixels.

    Values outside the fitted range map outside the target range: nothing is clipped, so
    ``inverse`` is exact. Arrays: numpy cubes H x W x B (bands last), torch images B x H x W or
    N x B x H x W (bands at axis -3); ``band_axis`` overrides. A JSON saved before ``method``
    existed loads as ``"minmax"``.
    """

    def __init__(self, band_min: Any = None, band_max: Any = None,
                 wavelengths_nm: Any = WAVELENGTHS_NM, n_fitted: int = 0, *,
                 method: str = "minmax", percentiles: Sequence[float] = (0.5, 99.5),
                 max_pixels: int = 4096, seed: int = 0):
        if method not in NORMALISATIONS:
            raise ValueError(f"BandNormaliser: method must be one of {NORMALISATIONS}, got "
                             f"{method!r}")
        lo, hi = (float(p) for p in percentiles)
        if not 0 <= lo < hi <= 100:
            raise ValueError(f"BandNormaliser: percentiles must satisfy 0 <= low < high <= 100, "
                             f"got {tuple(percentiles)}")
        if int(max_pixels) < 1:
            raise ValueError(f"BandNormaliser: max_pixels must be >= 1, got {max_pixels}")
        self.band_min = None if band_min is None else np.asarray(band_min, np.float32)
        self.band_max = None if band_max is None else np.asarray(band_max, np.float32)
        self.wavelengths_nm = np.asarray(wavelengths_nm, np.float32)
        self.n_fitted = n_fitted
        self.method, self.percentiles = method, (lo, hi)
        self.max_pixels, self.seed = int(max_pixels), int(seed)

    def fit(self, cubes: Iterable[np.ndarray]) -> BandNormaliser:
        """Fit the per-band range on H x W x B cubes (streamed, any number) by ``method``."""
        if self.method == "minmax":
            lo, hi, n = self._fit_minmax(cubes)
        else:
            lo, hi, n = self._fit_percentile(cubes)
        self.band_min, self.band_max, self.n_fitted = lo, hi, n
        return self

    def _check_bands(self, n_bands: int) -> None:
        if n_bands != len(self.wavelengths_nm):
            raise ValueError(f"cubes have {n_bands} bands, wavelengths_nm has "
                             f"{len(self.wavelengths_nm)}")

    def _fit_minmax(self, cubes: Iterable[np.ndarray]) -> tuple[np.ndarray, np.ndarray, int]:
        lo = hi = None
        n = 0
        for cube in cubes:
            flat = np.asarray(cube, np.float32).reshape(-1, np.shape(cube)[-1])
            lo = flat.min(0) if lo is None else np.minimum(lo, flat.min(0))
            hi = flat.max(0) if hi is None else np.maximum(hi, flat.max(0))
            n += 1
        if n == 0:
            raise ValueError("BandNormaliser.fit: no cubes given")
        self._check_bands(len(lo))
        return lo, hi, n

    def _fit_percentile(self, cubes: Iterable[np.ndarray]) -> tuple[np.ndarray, np.ndarray, int]:
        rng = np.random.default_rng(self.seed)
        samples, n = [], 0
        for cube in cubes:
            flat = np.asarray(cube, np.float32).reshape(-1, np.shape(cube)[-1])
            self._check_bands(flat.shape[1])
            flat = flat[np.any(flat != 0, axis=1)]  # the field: not the black outside
            if len(flat) > self.max_pixels:
                flat = flat[rng.choice(len(flat), self.max_pixels, replace=False)]
            samples.append(flat)
            n += 1
        if n == 0:
            raise ValueError("BandNormaliser.fit: no cubes given")
        pixels = np.concatenate(samples)
        if len(pixels) == 0:
            raise ValueError("BandNormaliser.fit: every pixel is zero (no field pixels)")
        lo, hi = np.percentile(pixels, self.percentiles, axis=0)
        return lo.astype(np.float32), hi.astype(np.float32), n

    def _params(self, x: Any, band_axis: int | None) -> tuple[Any, Any]:
        if self.band_min is None:
            raise RuntimeError("BandNormaliser is not fitted: call fit() or load()")
        span = np.where(self.band_max > self.band_min, self.band_max - self.band_min, 1.0)
        is_torch = type(x).__module__.startswith("torch")
        axis = band_axis if band_axis is not None else (-3 if is_torch else -1)
        if x.shape[axis] != len(span):
            raise ValueError(f"expected {len(span)} bands on axis {axis}, got shape "
                             f"{tuple(x.shape)}")
        shape = [1] * x.ndim
        shape[axis] = len(span)
        lo, span = self.band_min.reshape(shape), span.astype(np.float32).reshape(shape)
        if is_torch:
            lo = torch.as_tensor(lo, device=x.device, dtype=x.dtype)
            span = torch.as_tensor(span, device=x.device, dtype=x.dtype)
        return lo, span

    def apply(self, x: Any, value_range: str = "unit", band_axis: int | None = None) -> Any:
        """Scale to [0, 1] (``"unit"``) or [-1, 1] (``"symmetric"``) by the fitted range."""
        lo, span = self._params(x, band_axis)
        y = (x - lo) / span
        return _to_range(y, value_range)

    def inverse(self, y: Any, value_range: str = "unit", band_axis: int | None = None) -> Any:
        """Back to reflectance: the inverse of :meth:`apply` with the same ``value_range``."""
        lo, span = self._params(y, band_axis)
        return _from_range(y, value_range) * span + lo

    def to_dict(self) -> dict[str, Any]:
        d = {"method": self.method, "band_min": self.band_min.tolist(),
             "band_max": self.band_max.tolist(), "wavelengths_nm": self.wavelengths_nm.tolist(),
             "n_fitted": self.n_fitted}
        if self.method == "percentile":
            d.update(percentiles=list(self.percentiles), max_pixels=self.max_pixels,
                     seed=self.seed)
        return d

    def save(self, path: str | os.PathLike) -> Path:
        """JSON with the method, per-band range, wavelengths and the number of fitted cubes
        (and, for percentiles, the percentiles and the sampling), written atomically."""
        if self.band_min is None:
            raise RuntimeError("BandNormaliser is not fitted: nothing to save")
        path = Path(path)
        with atomic_path(path) as tmp:
            tmp.write_text(json.dumps(self.to_dict(), indent=2))
        return path

    @classmethod
    def load(cls, path: str | os.PathLike) -> BandNormaliser:
        """A saved normaliser; a JSON without ``method`` (older runs) is a min/max one."""
        path = Path(path)
        try:
            d = json.loads(path.read_text())
            return cls(d["band_min"], d["band_max"], d["wavelengths_nm"], d.get("n_fitted", 0),
                       method=d.get("method", "minmax"),
                       percentiles=d.get("percentiles", (0.5, 99.5)),
                       max_pixels=d.get("max_pixels", 4096), seed=d.get("seed", 0))
        except (OSError, ValueError, KeyError, TypeError) as err:
            raise ValueError(f"{path}: not a normalisation JSON ({err})") from err

    def __repr__(self) -> str:
        fitted = "unfitted" if self.band_min is None else f"fitted on {self.n_fitted} cubes"
        how = (f"percentiles {self.percentiles[0]:g}/{self.percentiles[1]:g}"
               if self.method == "percentile" else "min/max")
        return f"BandNormaliser({len(self.wavelengths_nm)} bands, {how}, {fitted})"


def _to_range(y: Any, value_range: str) -> Any:
    if value_range == "unit":
        return y
    if value_range == "symmetric":
        return y * 2 - 1
    raise ValueError(f"value_range must be 'unit' or 'symmetric', got {value_range!r}")


def _from_range(y: Any, value_range: str) -> Any:
    if value_range == "unit":
        return y
    if value_range == "symmetric":
        return (y + 1) / 2
    raise ValueError(f"value_range must be 'unit' or 'symmetric', got {value_range!r}")


def fit_train_normaliser(crops_dir: str | os.PathLike, splits: pd.DataFrame | str | os.PathLike,
                         split: str = "train", *, method: str = "percentile",
                         percentiles: Sequence[float] = (0.5, 99.5), max_pixels: int = 4096,
                         seed: int = 0) -> BandNormaliser:
    """A :class:`BandNormaliser` (``method``, ``percentiles``, ``max_pixels``, ``seed`` as
    there) fitted on the real crops of one split (the training split)."""
    table = read_index(crops_dir)
    if not isinstance(splits, pd.DataFrame):
        splits = pd.read_csv(splits, dtype={"id": str})
    ids = set(splits.id[splits.split == split])
    chosen = table[table.id.isin(ids) & ~table.is_synthetic]
    if chosen.empty:
        raise ValueError(f"{crops_dir}: no real crops in split {split!r}")
    return BandNormaliser(method=method, percentiles=percentiles, max_pixels=max_pixels,
                          seed=seed).fit(iter_cubes(chosen))


def write_crop_folder(out_dir: str | os.PathLike,
                      items: Iterable[tuple[dict[str, Any], np.ndarray, np.ndarray | None]],
                      overwrite: bool = True,
                      inputs: Iterable[str | os.PathLike | None] = ()) -> pd.DataFrame:
    """Write a crop folder from (row, cube, mask) triples, atomically (temp folder + rename).

    An existing ``out_dir`` is replaced only when the project wrote it and ``overwrite`` is
    True; ``out_dir`` may not overlap any folder of ``inputs`` (see
    :func:`hsilib.paths.atomic_dir`).

    ``row`` gives the index columns (:data:`~hsilib.data.preprocess.CROP_COLUMNS`); ``path`` is
    set to ``<id>.npz``; ``mask`` may be None (all zeros). The optional columns
    (:data:`~hsilib.data.preprocess.OPTIONAL_COLUMNS`) take their defaults when a row lacks
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


# --------------------------------------------------------------------------------------------
# Augmentations (albumentations; geometry only)
# --------------------------------------------------------------------------------------------
def train_transforms(size: int, seed: int | None = None) -> Any:
    """The study's generator/classifier augmentations for 16-band crops.

    Affine (shift up to 6 %, scale 0.9-1.1, rotation up to 20 degrees, reflected borders so no
    black corners enter the spectra) -> SmallestMaxSize(1.125 size) -> RandomCrop(size) ->
    horizontal and vertical flips -> SmallestMaxSize(size) + CenterCrop(size). No colour op.
    """
    import albumentations as A
    import cv2

    return A.Compose([
        A.Affine(translate_percent=(-0.0625, 0.0625), scale=(0.9, 1.1), rotate=(-20, 20),
                 interpolation=cv2.INTER_LINEAR, mask_interpolation=cv2.INTER_NEAREST,
                 border_mode=cv2.BORDER_REFLECT_101, p=0.75),
        A.SmallestMaxSize(max_size=round(size * 1.125), interpolation=cv2.INTER_AREA,
                          mask_interpolation=cv2.INTER_NEAREST),
        A.RandomCrop(size, size),
        A.HorizontalFlip(p=0.5),
        A.VerticalFlip(p=0.5),
        *eval_transforms(size).transforms,
    ], seed=seed)


def eval_transforms(size: int) -> Any:
    """SmallestMaxSize(size) + CenterCrop(size): deterministic, for validation and test."""
    import albumentations as A
    import cv2

    return A.Compose([
        A.SmallestMaxSize(max_size=size, interpolation=cv2.INTER_AREA,
                          mask_interpolation=cv2.INTER_NEAREST),
        A.CenterCrop(size, size),
    ])


# --------------------------------------------------------------------------------------------
# The dataset
# --------------------------------------------------------------------------------------------
class CropDataset(Dataset):
    """Lesion crops as a torch Dataset of dicts (see the module docstring).

    ``crops_dir_or_index``: a crop folder, or a table from :func:`read_index` (absolute paths).
    ``split`` + ``splits_csv``: keep the crops of one split ("train", "val", "test").
    ``classes``: keep these classes (e.g. ``("MM", "DN")``). ``normaliser``: a fitted
    :class:`BandNormaliser` or the path of its JSON; None leaves raw reflectance.
    ``value_range``: "unit" ([0, 1]) or "symmetric" ([-1, 1]). ``transform``: an albumentations
    pipeline applied to cube and mask together (e.g. :func:`train_transforms`).
    ``cache``: keep loaded crops in memory (small sets, many epochs).
    """

    def __init__(self, crops_dir_or_index: str | os.PathLike | pd.DataFrame, *,
                 split: str | None = None, splits_csv: str | os.PathLike | None = None,
                 classes: Iterable[str] | None = None,
                 normaliser: BandNormaliser | str | os.PathLike | None = None,
                 value_range: str = "unit", transform: Any = None, cache: bool = False):
        if isinstance(crops_dir_or_index, pd.DataFrame):
            table = crops_dir_or_index.copy()
        else:
            table = read_index(crops_dir_or_index)
        if split is not None:
            if splits_csv is None:
                raise ValueError("split= needs splits_csv= (the splits.csv of notebook 01)")
            guard.check_split(split, str(splits_csv))  # generator notebooks never read test
            splits = pd.read_csv(splits_csv, dtype={"id": str})
            if split not in set(splits.split):
                raise ValueError(f"{splits_csv}: no split named {split!r}")
            table = table[table.id.isin(splits.id[splits.split == split])]
        self.classes = None if classes is None else tuple(classes)
        if self.classes is not None:
            table = table[table["class"].isin(self.classes)]
        if isinstance(normaliser, (str, os.PathLike)):
            normaliser = BandNormaliser.load(normaliser)
        if value_range not in ("unit", "symmetric"):
            raise ValueError(f"value_range must be 'unit' or 'symmetric', got {value_range!r}")
        self.table = table.reset_index(drop=True)
        self.split, self.normaliser, self.value_range = split, normaliser, value_range
        self.transform = transform
        self.wavelengths_nm = np.asarray(
            normaliser.wavelengths_nm if normaliser is not None else WAVELENGTHS_NM, np.float32)
        self._cache: dict[str, tuple[np.ndarray, np.ndarray]] | None = {} if cache else None

    def __len__(self) -> int:
        return len(self.table)

    @property
    def labels(self) -> np.ndarray:
        return self.table.label.to_numpy(dtype=np.int64)

    def _load(self, path: str) -> tuple[np.ndarray, np.ndarray]:
        if self._cache is None:
            return load_crop(path)
        if path not in self._cache:
            self._cache[path] = load_crop(path)
        return self._cache[path]

    def __getitem__(self, i: int) -> dict[str, Any]:
        row = self.table.iloc[i]
        cube, mask = self._load(row.path)
        if self.transform is not None:
            out = self.transform(image=cube, mask=mask)
            cube, mask = out["image"], out["mask"]
        if self.normaliser is not None:
            cube = self.normaliser.apply(cube, self.value_range)
        image = torch.from_numpy(np.ascontiguousarray(cube.transpose(2, 0, 1), np.float32))
        return {"image": image, "label": int(row.label),
                "wavelengths_nm": torch.from_numpy(self.wavelengths_nm.copy()),
                "mask": torch.from_numpy(np.asarray(mask, np.float32)[None].copy()),
                "id": str(row.id), "is_synthetic": bool(row.is_synthetic)}

    def add_synthetic(self, folder: str | os.PathLike, n: int | None = None,
                      classes: Iterable[str] | None = None, seed: int = 0) -> CropDataset:
        """Append ``n`` synthetic crops (all when None) of ``classes`` from an exported folder.

        Only a training set may hold synthetic data (validation and test stay real): raises
        ValueError unless ``split == "train"``. Returns self.
        """
        if self.split != "train":
            raise ValueError(f"synthetic crops go into the training split only; this dataset's "
                             f"split is {self.split!r}")
        extra = read_index(folder)
        classes = self.classes if classes is None else tuple(classes)
        if classes is not None:
            extra = extra[extra["class"].isin(classes)]
        if n is not None:
            if n > len(extra):
                raise ValueError(f"{folder}: asked for {n} synthetic crops of {classes}, "
                                 f"the folder has {len(extra)}")
            rng = np.random.default_rng(seed)
            extra = extra.iloc[np.sort(rng.choice(len(extra), size=n, replace=False))]
        extra = extra.assign(is_synthetic=True)
        self.table = pd.concat([self.table, extra], ignore_index=True)
        return self

    def __repr__(self) -> str:
        counts = self.table.groupby(["class", "is_synthetic"]).size().to_dict()
        return f"CropDataset(split={self.split!r}, {len(self)} crops: {counts})"


# --------------------------------------------------------------------------------------------
# Crops in memory: one tensor per folder and split
# --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Crops:
    """A set of crops held in memory: ``images`` N x B x S x S (normalised), ``labels`` N, and
    ``masks`` N x S x S (float 0/1, each crop's own lesion mask resized with its image; None
    for sets built without masks). Metrics that need the lesion take it from ``masks``."""

    images: torch.Tensor
    labels: torch.Tensor
    ids: tuple[str, ...]
    is_synthetic: torch.Tensor
    masks: torch.Tensor | None = None

    def __post_init__(self) -> None:
        if self.masks is not None and (self.masks.ndim != 3 or self.masks.shape[0] !=
                                       self.images.shape[0] or self.masks.shape[1:] !=
                                       self.images.shape[2:]):
            raise ValueError(f"Crops: masks must be N x H x W matching images "
                             f"{tuple(self.images.shape)}, got {tuple(self.masks.shape)}")

    def __len__(self) -> int:
        return len(self.ids)

    def subset(self, idx: Sequence[int] | np.ndarray) -> Crops:
        idx = torch.as_tensor(np.asarray(idx, dtype=np.int64))
        return Crops(self.images[idx], self.labels[idx], tuple(self.ids[i] for i in idx.tolist()),
                     self.is_synthetic[idx], None if self.masks is None else self.masks[idx])

    @staticmethod
    def cat(parts: Sequence[Crops]) -> Crops:
        """The parts one after the other; masks are kept when every non-empty part has them
        (a mix of sets with and without masks raises ValueError)."""
        parts = [p for p in parts if len(p)]
        with_masks = [p.masks is not None for p in parts]
        if any(with_masks) and not all(with_masks):
            raise ValueError("Crops.cat: some parts have masks and some do not")
        masks = torch.cat([p.masks for p in parts]) if parts and all(with_masks) else None
        return Crops(torch.cat([p.images for p in parts]), torch.cat([p.labels for p in parts]),
                     sum((p.ids for p in parts), ()), torch.cat([p.is_synthetic for p in parts]),
                     masks)


def load_crops(folder: str | os.PathLike, normaliser: BandNormaliser, size: int,
               split: str | Sequence[str] | None = None,
               splits_csv: str | os.PathLike | None = None, *,
               classes: Sequence[str] = BINARY_CLASSES, value_range: str = "unit") -> Crops:
    """The crops of ``classes`` in ``folder`` (one ``split`` of ``splits_csv``, several in
    order, or all) as one in-memory tensor, read through :class:`CropDataset`, resized by
    ``eval_transforms(size)`` and normalised to ``value_range`` ("unit": [0, 1] for the
    classifiers and metrics, "symmetric": [-1, 1] for the generators). ``masks`` holds each
    crop's own lesion mask, resized with it (nearest neighbour)."""
    splits = [split] if split is None or isinstance(split, str) else list(split)
    items = []
    for one in splits:
        ds = CropDataset(folder, split=one, splits_csv=splits_csv, classes=tuple(classes),
                         normaliser=normaliser, value_range=value_range,
                         transform=eval_transforms(size))
        items += [ds[i] for i in range(len(ds))]
    if not items:
        raise ValueError(f"{folder}: no {'/'.join(classes)} crops in split {split!r}")
    return Crops(
        torch.stack([torch.as_tensor(it["image"], dtype=torch.float32) for it in items]),
        torch.tensor([int(it["label"]) for it in items]),
        tuple(str(it["id"]) for it in items),
        torch.tensor([bool(it["is_synthetic"]) for it in items]),
        torch.stack([torch.as_tensor(it["mask"], dtype=torch.float32)[0] for it in items]))
