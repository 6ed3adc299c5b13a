"""The data of one generator replicate: training and validation crops of each class.

A **replicate** is one training of every generator of a notebook. Introduced in notebook 03:
either a generator seed, every one on notebook 01's split and normaliser, or, under
cross-validation (``gan_study.replicates = "folds"``), a fold of notebook 01's grouped K-fold
assignment with its own train/val/test table and a normaliser fitted on that fold's training
crops (:func:`replicate_tables`, which also writes both for notebook 06).

:class:`ReplicateData` holds the training and validation crops of both classes, each crop with
its lesion mask and source image. The generators train on the training crops in [-1, 1] (the
``symmetric`` range their ``tanh`` ends in); the metric protocol reads [0, 1] (``unit``);
figures and spectral metrics read reflectance (the normaliser's inverse). Each set is loaded
once in one range and converted to the other as ``(x + 1) / 2`` or ``x * 2 - 1``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from ...data.datasets import BandNormaliser, Crops, fit_train_normaliser, load_crops
from ...data.splits import fold_files, fold_split, save_csv
from ...labels import BINARY_CLASSES, LABELS

RANGES = ("unit", "symmetric")


def convert(x: torch.Tensor, source: str, target: str) -> torch.Tensor:
    """Images from value range ``source`` to ``target`` ("unit": [0, 1], "symmetric":
    [-1, 1]): ``(x + 1) / 2`` or ``x * 2 - 1``, ``x`` itself when they agree."""
    for r in (source, target):
        if r not in RANGES:
            raise ValueError(f"value range must be one of {RANGES}, got {r!r}")
    if source == target:
        return x
    return (x + 1) / 2 if target == "unit" else x * 2 - 1


@dataclass
class ReplicateData:
    """Training and validation crops of both classes for one replicate's split table and
    normaliser (notebook 03, section 1).

    ``train`` / ``val``: the crops of both classes in the table's order, in ``train_range`` /
    ``val_range``; ``sources``: source image per crop id (``splits.csv``); ``normaliser``: the
    replicate's training normaliser. One class's crops are a subset of these (``crops``), so a
    per-class set and the joint set hold the same values.
    """

    train: Crops
    val: Crops
    sources: pd.Series
    normaliser: BandNormaliser
    train_range: str = "symmetric"
    val_range: str = "unit"
    _subsets: dict = field(default_factory=dict, repr=False)

    def crops(self, cls: str | None, split: str) -> Crops:
        """The crops of class ``cls`` (None: both classes) in ``split`` ("train" or "val")."""
        if split not in ("train", "val"):
            raise ValueError(f"split must be 'train' or 'val' (a generator notebook never "
                             f"reads the test split), got {split!r}")
        every = self.train if split == "train" else self.val
        if cls is None:
            return every
        if cls not in LABELS:
            raise ValueError(f"cls must be one of {list(LABELS)}, got {cls!r}")
        if (cls, split) not in self._subsets:
            keep = np.flatnonzero(every.labels.numpy() == LABELS[cls])
            self._subsets[cls, split] = every.subset(keep)
        return self._subsets[cls, split]

    def stacked(self, split: str, classes=BINARY_CLASSES) -> Crops:
        """The crops of ``classes`` in ``split``, one class after the other."""
        return Crops.cat([self.crops(c, split) for c in classes])

    def images(self, cls: str | None, split: str, value_range: str | None = None
               ) -> torch.Tensor:
        """Images of ``cls`` in ``split``, in ``value_range`` (default: as loaded)."""
        loaded = self.train_range if split == "train" else self.val_range
        return convert(self.crops(cls, split).images, loaded, value_range or loaded)

    def unit(self, cls: str | None, split: str) -> torch.Tensor:
        """Images of ``cls`` in ``split`` in [0, 1], as the metric protocol reads them."""
        return self.images(cls, split, "unit")

    def masks(self, cls: str | None, split: str) -> torch.Tensor:
        """Each crop's lesion mask (N x S x S, 1 = lesion), resized with its image."""
        return self.crops(cls, split).masks

    def ids(self, cls: str | None, split: str) -> tuple[str, ...]:
        return self.crops(cls, split).ids

    def groups(self, cls: str | None, split: str) -> np.ndarray:
        """The source image of every crop (the detectability probe's folds keep them
        together)."""
        return self.sources[list(self.ids(cls, split))].to_numpy()

    def summary(self, classes=BINARY_CLASSES) -> dict[str, dict[str, int]]:
        """Crop and source-image counts per class, for the notebooks' first table."""
        return {c: {"train crops": len(self.crops(c, "train")),
                    "validation crops": len(self.crops(c, "val")),
                    "validation source images": len(set(self.groups(c, "val")))}
                for c in classes}


def load_replicate(crops_dir: str | os.PathLike, table: str | os.PathLike,
                   normaliser: BandNormaliser, size: int, sources: pd.Series, *,
                   train_range: str = "symmetric", val_range: str = "unit",
                   classes=BINARY_CLASSES) -> ReplicateData:
    """Load the training and validation crops of ``classes`` at side ``size`` for the split
    ``table`` (a CSV path) and ``normaliser``."""
    sets = {split: load_crops(crops_dir, normaliser, size, split, table, classes=classes,
                              value_range=value_range)
            for split, value_range in (("train", train_range), ("val", val_range))}
    return ReplicateData(sets["train"], sets["val"], sources, normaliser, train_range, val_range)


def replicate_tables(splits_dir: str | os.PathLike, crops_dir: str | os.PathLike,
                     kfold: pd.DataFrame, *, method: str, percentiles, seed: int,
                     max_folds: int | None = None
                     ) -> tuple[dict[int, Path], dict[int, BandNormaliser]]:
    """Cross-validation replicates (notebook 03, section 1): for every fold ``r`` of the K-fold
    table, its train/val/test table (:func:`~hsilib.data.splits.fold_split`) and the
    normaliser fitted on its training crops only, both written where notebook 06 reads them
    (:func:`~hsilib.data.splits.fold_files`); ``max_folds``: only the first this many
    (``GANStudyConfig.folds_run``). Returns ``({r: table path}, {r: normaliser})``."""
    tables, normalisers = {}, {}
    for r in range(min(kfold["fold"].nunique(), max_folds or kfold["fold"].nunique())):
        table_csv, norm_json = fold_files(splits_dir, r)
        tables[r] = save_csv(fold_split(kfold, r), table_csv)
        normalisers[r] = fit_train_normaliser(crops_dir, tables[r], split="train",
                                              method=method, percentiles=percentiles,
                                              seed=seed)
        normalisers[r].save(norm_json)
    return tables, normalisers
