"""One run's training crops: a share of the real training split, synthetic crops, duplicates.

:func:`training_set` builds them (synthetic crops by count per class, or by a total split in the
real training class ratio, :func:`synthetic_counts`; seeded duplicates of real melanoma crops
for the oversampling control); :func:`check_source_leakage` refuses a training set that shares a
source image with validation or test (:func:`crop_sources` reads the sources). Validation and
test are never mixed: selection and evaluation never see a synthetic image.

Introduced in notebook 06.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path

import numpy as np
import torch

from ..data.crop_folder import read_index
from ..data.datasets import Crops


def stratified_fraction(labels: torch.Tensor, fraction: float, seed: int) -> np.ndarray:
    """Indices of a seeded, class-stratified subsample: ``fraction`` of each class (>= 1)."""
    if not 0 < fraction <= 1:
        raise ValueError(f"fraction must be in (0, 1], got {fraction}")
    rng = np.random.default_rng(seed)
    y = labels.numpy()
    keep = [rng.choice(np.flatnonzero(y == c), max(1, round(fraction * (y == c).sum())),
                       replace=False) for c in np.unique(y)]
    return np.sort(np.concatenate(keep))


def fraction_ids(real: Crops, fraction: float, seed: int) -> tuple[str, ...]:
    """Ids of the real crops a run with ``fraction`` of the real training split keeps
    (:func:`stratified_fraction` with ``seed``; all of them at 1): what :func:`training_set`
    trains on, and what a reduced learning-curve arm's generators may learn from."""
    if fraction == 1:
        return tuple(real.ids)
    return tuple(real.ids[i] for i in stratified_fraction(real.labels, fraction, seed))


def synthetic_counts(real_labels: torch.Tensor | np.ndarray, total: int) -> dict[str, int]:
    """``total`` synthetic crops split MM:DN in the class ratio of the real training labels
    (melanoma count rounded half to even, nevus the rest), so adding them keeps the prior."""
    y = np.asarray(real_labels)
    if y.size == 0:
        raise ValueError("no real training crops to take the class ratio from")
    n_mm = int(round(total * float((y == 1).mean())))
    return {"MM": n_mm, "DN": int(total) - n_mm}


def training_set(real: Crops | None, synthetic: Mapping[str, Crops] | None,
                 n_synthetic: Mapping[str, int | None] | None, fraction: float, seed: int, *,
                 n_synthetic_total: int | None = None, duplicate_mm: int = 0,
                 subsample_seed: int | None = None) -> Crops:
    """The training crops of one run: a ``fraction`` of the real TRAINING split plus synthetic.

    The share of the real split is drawn with ``subsample_seed`` (default ``seed``: a
    different subsample per classifier seed), stratified by class; a fixed ``subsample_seed``
    keeps one subsample for every classifier seed (the one its generators were trained on).
    ``synthetic`` maps a class ("MM"/"DN") to its synthetic crops; ``n_synthetic`` says how many
    of each to add (drawn without replacement with ``seed``; None = all of them), or
    ``n_synthetic_total`` how many in all, split in the real training class ratio
    (:func:`synthetic_counts`). ``duplicate_mm`` appends that many copies of real melanoma
    training crops (a seeded permutation, repeated if needed: every crop is copied at most
    once more than any other), which moves the class prior without any new image. Only the
    training set is ever mixed: validation and test stay real, so selection and evaluation
    never see a synthetic image. Copies keep their crop's id (see :func:`composition`).
    """
    if n_synthetic is not None and n_synthetic_total is not None:
        raise ValueError("give n_synthetic (per class) or n_synthetic_total, not both")
    parts = []
    if real is not None:
        real = real if fraction == 1 else real.subset(stratified_fraction(
            real.labels, fraction, seed if subsample_seed is None else subsample_seed))
        parts.append(real)
    if n_synthetic_total is not None:
        if real is None:
            raise ValueError("n_synthetic_total needs real training crops (their class ratio)")
        n_synthetic = synthetic_counts(real.labels, n_synthetic_total)
    rng = np.random.default_rng(10_000 + seed)
    for cls, n in (n_synthetic or {}).items():
        pool = (synthetic or {}).get(cls)
        n = len(pool) if n is None and pool is not None else n
        if not n:
            continue
        if pool is None or len(pool) < n:
            have = 0 if pool is None else len(pool)
            raise ValueError(f"asked for {n} synthetic {cls} crops, only {have} available")
        parts.append(pool.subset(np.sort(rng.choice(len(pool), n, replace=False))))
    if duplicate_mm:
        mm = np.flatnonzero(real.labels.numpy() == 1) if real is not None else np.array([])
        if mm.size == 0:
            raise ValueError("duplicate_mm needs real melanoma training crops")
        order = np.random.default_rng(20_000 + seed).permutation(mm)
        parts.append(real.subset(np.resize(order, duplicate_mm)))
    if not parts:
        raise ValueError("empty training set: no real crops and no synthetic crops")
    return Crops.cat(parts)


def crop_sources(folder: str | Path) -> dict[str, str]:
    """``{crop id: source image}`` of a crop folder, from its ``index.csv``."""
    index = read_index(folder)
    return dict(zip(index["id"].astype(str), index["source"].astype(str), strict=True))


def check_source_leakage(train_sources: Iterable[str],
                         held_out: Mapping[str, Iterable[str]]) -> None:
    """Raise ValueError when a training crop shares its source image with a held-out split.

    ``held_out`` maps a split name ("val", "test") to its crops' sources. Crops of one source
    image are near-copies of each other: one in training and one in test would score
    memorisation as generalisation.
    """
    train = set(train_sources)
    for split, sources in held_out.items():
        shared = sorted(train & set(sources))
        if shared:
            more = f" and {len(shared) - 5} more" if len(shared) > 5 else ""
            raise ValueError(f"source leakage: the training set shares {len(shared)} source "
                             f"image(s) with the {split} split: {shared[:5]}{more}")
