"""Lesion crops for training: torch datasets, in-memory tensors and band-safe augmentations.

A crop folder (:mod:`hsilib.data.crop_folder`: written by
:func:`hsilib.data.preprocess.make_crops` for real crops and by the generators' exporters for
synthetic ones) holds ``index.csv`` and one ``<id>.npz`` per crop. :class:`CropDataset` reads
it, optionally restricted to one split and some classes, normalises with the training split's
:class:`BandNormaliser`, augments, and yields dicts (torchgeo style)::

    {"image": float32 B x H x W, "label": int, "wavelengths_nm": float32 B,
     "mask": float32 1 x H x W, "id": str, "is_synthetic": bool}

Augmentations move pixels and never mix bands: every transform here acts on each band alike
(geometry only), so a pixel's spectrum is carried, interpolated in space, but never recoloured.
Colour jitter, hue shifts, channel shuffles and the like would corrupt spectra and are absent.

The crop folder's functions (:func:`read_index`, :func:`load_crop`, :func:`write_crop_folder`,
...) and the normaliser (:class:`BandNormaliser`, :func:`fit_train_normaliser`) live in
:mod:`hsilib.data.crop_folder` and :mod:`hsilib.data.normaliser`; they are re-exported here,
where the notebooks import them.

Introduced in notebook 01; used by the generators (03-05) and the classifiers (06).
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import torch
from torch.utils.data import Dataset

from .. import WAVELENGTHS_NM, guard
from ..labels import BINARY_CLASSES
from .crop_folder import (  # noqa: F401 (re-exported: the notebooks import them here)
    CROP_COLUMNS,
    OPTIONAL_COLUMNS,
    iter_cubes,
    load_crop,
    read_index,
    write_crop_folder,
)
from .normaliser import (  # noqa: F401 (re-exported: the notebooks import them here)
    NORMALISATIONS,
    BandNormaliser,
    fit_train_normaliser,
)


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
def describe(source: Any) -> str:
    """A crop folder's path, or "a crop table" for a table given directly (in messages)."""
    return "a crop table" if isinstance(source, pd.DataFrame) else str(source)

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
        elif "is_synthetic" not in table or (~table["is_synthetic"].astype(bool)).any():
            # every real crop, test ones too
            guard.check_all_crops(f"CropDataset of {describe(crops_dir_or_index)} without a "
                                  "split")
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
        # bands of the crop files: the normaliser's input (an input variant may serve fewer)
        self._file_bands = getattr(normaliser, "n_input_bands", len(self.wavelengths_nm))
        self._cache: dict[str, tuple[np.ndarray, np.ndarray]] | None = {} if cache else None

    def __len__(self) -> int:
        return len(self.table)

    @property
    def labels(self) -> np.ndarray:
        return self.table.label.to_numpy(dtype=np.int64)

    def _load(self, path: str) -> tuple[np.ndarray, np.ndarray]:
        """A crop, checked (:func:`load_crop`: finite, the dataset's band count, mask size)."""
        if self._cache is None:
            return load_crop(path, self._file_bands)
        if path not in self._cache:
            self._cache[path] = load_crop(path, self._file_bands)
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
