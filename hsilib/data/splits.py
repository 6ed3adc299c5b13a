"""Train/validation/test splits and K folds of lesion crops.

Splits are grouped by source image: the crops of one cube (two lesions of one patient, say)
always land in the same split, which the original study did not ensure (its splits were drawn
over crops). They are stratified by class, so each split keeps the data set's MM / DN / Other
proportions. :func:`fold_split` turns fold ``r`` of a K-fold assignment into a
train/val/test table of the same form (the generator study's cross-validation). The per-band
normalisation fitted on the training split lives with the datasets
(:class:`hsilib.data.normaliser.BandNormaliser`).

Introduced in notebook 01.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd

from ..labels import BINARY_CLASSES
from ..paths import atomic_path

SPLITS = ("train", "val", "test")


class SplitWarning(UserWarning):
    """A part of a split is empty, or holds no melanoma or no nevus image (too few source
    images of that class)."""


def _sources(index: pd.DataFrame) -> pd.DataFrame:
    """One row per source image with its class; fails if a source has crops of two classes."""
    for col in ("id", "source", "class"):
        if col not in index.columns:
            raise ValueError(f"the crop index needs a {col!r} column, has {list(index.columns)}")
    per_source = index.groupby("source")["class"].nunique()
    mixed = per_source[per_source > 1]
    if len(mixed):
        raise ValueError(f"sources with crops of several classes: {list(mixed.index)}")
    return index.drop_duplicates("source")[["source", "class"]].sort_values("source")


def check_grouped(table: pd.DataFrame, column: str) -> None:
    """Raise AssertionError if any source image appears under two values of ``column``."""
    spread = table.groupby("source")[column].nunique()
    leaked = spread[spread > 1]
    if len(leaked):
        raise AssertionError(f"source images in more than one {column}: {list(leaked.index)}")


def _allocate(n: int, fractions: tuple[float, ...]) -> list[int]:
    """Split ``n`` items by ``fractions`` with largest remainders; every part gets at least one
    item when ``n`` allows it."""
    raw = np.asarray(fractions, float) / sum(fractions) * n
    counts = np.floor(raw).astype(int)
    for i in np.argsort(-(raw - counts))[: n - counts.sum()]:
        counts[i] += 1
    for i in range(len(counts)):  # lend one item to an empty part from the largest part
        if counts[i] == 0 and n >= len(counts) and fractions[i] > 0:
            counts[int(np.argmax(counts))] -= 1
            counts[i] += 1
    return counts.tolist()


def make_splits(index: pd.DataFrame, fractions: tuple[float, float, float] = (0.7, 0.15, 0.15),
                seed: int = 0) -> pd.DataFrame:
    """Train/val/test assignment of every crop: (id, source, class, split).

    Source images are shuffled within each class and dealt out by ``fractions`` (counted in
    images, not crops), so the split is stratified by class and grouped by source. A part
    left empty, or without a melanoma or a nevus image, is reported once
    (:class:`SplitWarning`).
    """
    if (len(fractions) != 3 or not np.isfinite(np.asarray(fractions, float)).all()
            or min(fractions) < 0 or sum(fractions) <= 0):
        raise ValueError(f"fractions must be three finite, non-negative numbers, got "
                         f"{fractions}")
    rng = np.random.default_rng(seed)
    assignment, empty = {}, []
    for cls, group in _sources(index).groupby("class"):
        sources = group.source.to_numpy()[rng.permutation(len(group))]
        counts = _allocate(len(sources), fractions)
        if cls in BINARY_CLASSES:  # the classifiers' classes: each part needs both
            empty += [f"{part} has no {cls} image" for part, c, f in
                      zip(SPLITS, counts, fractions, strict=True) if c == 0 and f > 0]
        labels = np.repeat(SPLITS, counts)
        assignment.update(dict(zip(sources, labels, strict=True)))
    used = set(assignment.values())
    empty += [f"{part} is empty" for part, f in zip(SPLITS, fractions, strict=True)
              if f > 0 and part not in used]
    if empty:
        import warnings

        warnings.warn(f"make_splits: {'; '.join(empty)} (too few source images of that class "
                      "for three parts: every part needs one per class)", SplitWarning,
                      stacklevel=2)
    out = index[["id", "source", "class"]].copy()
    out["split"] = out.source.map(assignment)
    check_grouped(out, "split")
    return out.reset_index(drop=True)


def grouped_kfold(index: pd.DataFrame, k: int = 5, seed: int = 0) -> pd.DataFrame:
    """Stratified, source-grouped K-fold assignment: (id, source, class, fold in 0..k-1)."""
    from sklearn.model_selection import StratifiedGroupKFold

    _sources(index)
    if k < 2:
        raise ValueError(f"k must be at least 2, got {k}")
    if index.source.nunique() < k:
        raise ValueError(f"k={k} folds need at least {k} source images, "
                         f"got {index.source.nunique()}")
    out = index[["id", "source", "class"]].copy().reset_index(drop=True)
    out["fold"] = -1
    cv = StratifiedGroupKFold(n_splits=k, shuffle=True, random_state=seed)
    for fold, (_, test) in enumerate(cv.split(out, out["class"], groups=out.source)):
        out.loc[test, "fold"] = fold
    check_grouped(out, "fold")
    return out


def fold_split(kfold: pd.DataFrame, r: int) -> pd.DataFrame:
    """The train/val/test table of fold ``r`` of a :func:`grouped_kfold` assignment.

    Test = the crops of fold ``r``, validation = those of fold ``(r + 1) mod K``, training = the
    other ``K - 2`` folds; the columns are those of :func:`make_splits` (id, source, class,
    split), so every loader that takes a splits table reads it unchanged. Over ``r = 0..K-1``
    every crop is tested exactly once and validated exactly once, and the folds being grouped by
    source, no source image is in two splits of one table. Needs ``K >= 3`` (with two folds
    nothing would be left to train on).
    """
    for col in ("id", "source", "class", "fold"):
        if col not in kfold.columns:
            raise ValueError(f"the K-fold table needs a {col!r} column, has {list(kfold.columns)}")
    folds = sorted(int(f) for f in kfold["fold"].unique())
    k = len(folds)
    if folds != list(range(k)):
        raise ValueError(f"the K-fold table's folds must be 0..K-1, got {folds}")
    if k < 3:
        raise ValueError(f"fold_split needs at least 3 folds (train, validation and test), the "
                         f"K-fold table has {k}: raise DataConfig.n_folds")
    if not 0 <= r < k:
        raise ValueError(f"fold r={r} outside 0..{k - 1}")
    check_grouped(kfold, "fold")
    out = kfold[["id", "source", "class"]].copy().reset_index(drop=True)
    fold = kfold["fold"].to_numpy(int)
    out["split"] = np.where(fold == r, "test", np.where(fold == (r + 1) % k, "val", "train"))
    return out


def fold_files(splits_dir: str | os.PathLike, r: int) -> tuple[Path, Path]:
    """Where fold ``r``'s table (:func:`fold_split`) and the normaliser fitted on its training
    crops live: ``<splits_dir>/fold<r>.csv`` and ``normalisation_fold<r>.json``. Notebook 03
    writes them under cross-validation, notebook 06 reads them."""
    return Path(splits_dir) / f"fold{r}.csv", Path(splits_dir) / f"normalisation_fold{r}.json"


def save_csv(table: pd.DataFrame, path: str | os.PathLike) -> Path:
    """Write ``table`` as CSV without the index, atomically."""
    path = Path(path)
    with atomic_path(path) as tmp:
        table.to_csv(tmp, index=False)
    return path
