"""Train/validation/test splits, K folds and per-band normalisation of lesion crops.

Splits are grouped by source image: the crops of one cube (two lesions of one patient, say)
always land in the same split, which the original study did not ensure (its splits were drawn
over crops). They are stratified by class, so each split keeps the data set's MM / DN / Other
proportions. The per-band min-max normalisation is fitted on the training crops only, so that
nothing of the validation or test images leaks into training.

Introduced in notebook 01.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from .. import WAVELENGTHS_NM
from ..paths import atomic_path

SPLITS = ("train", "val", "test")


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
    images, not crops), so the split is stratified by class and grouped by source.
    """
    if len(fractions) != 3 or min(fractions) < 0 or sum(fractions) <= 0:
        raise ValueError(f"fractions must be three non-negative numbers, got {fractions}")
    rng = np.random.default_rng(seed)
    assignment = {}
    for _, group in _sources(index).groupby("class"):
        sources = group.source.to_numpy()[rng.permutation(len(group))]
        counts = _allocate(len(sources), fractions)
        labels = np.repeat(SPLITS, counts)
        assignment.update(dict(zip(sources, labels, strict=True)))
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


def save_csv(table: pd.DataFrame, path: str | os.PathLike) -> Path:
    """Write ``table`` as CSV without the index, atomically."""
    path = Path(path)
    with atomic_path(path) as tmp:
        table.to_csv(tmp, index=False)
    return path


# --------------------------------------------------------------------------------------------
# Per-band min-max normalisation
# --------------------------------------------------------------------------------------------
class BandNormaliser:
    """Per-band min-max scaling, fitted on the training crops only (the study's protocol).

    ``apply(x, "unit")`` maps each band's training [min, max] to [0, 1] (classifiers),
    ``"symmetric"`` to [-1, 1] (GANs, tanh outputs); ``inverse`` undoes it. Values outside the
    training range map outside the target range: nothing is clipped, so ``inverse`` is exact.
    Arrays: numpy cubes H x W x B (bands last), torch images B x H x W or N x B x H x W
    (bands at axis -3); ``band_axis`` overrides.
    """

    def __init__(self, band_min: Any = None, band_max: Any = None,
                 wavelengths_nm: Any = WAVELENGTHS_NM, n_fitted: int = 0):
        self.band_min = None if band_min is None else np.asarray(band_min, np.float32)
        self.band_max = None if band_max is None else np.asarray(band_max, np.float32)
        self.wavelengths_nm = np.asarray(wavelengths_nm, np.float32)
        self.n_fitted = n_fitted

    def fit(self, cubes: Iterable[np.ndarray]) -> BandNormaliser:
        """Running per-band min and max over H x W x B cubes (streamed, any number)."""
        lo = hi = None
        n = 0
        for cube in cubes:
            flat = np.asarray(cube, np.float32).reshape(-1, np.shape(cube)[-1])
            lo = flat.min(0) if lo is None else np.minimum(lo, flat.min(0))
            hi = flat.max(0) if hi is None else np.maximum(hi, flat.max(0))
            n += 1
        if n == 0:
            raise ValueError("BandNormaliser.fit: no cubes given")
        if len(lo) != len(self.wavelengths_nm):
            raise ValueError(f"cubes have {len(lo)} bands, wavelengths_nm has "
                             f"{len(self.wavelengths_nm)}")
        self.band_min, self.band_max, self.n_fitted = lo, hi, n
        return self

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
            import torch

            lo = torch.as_tensor(lo, device=x.device, dtype=x.dtype)
            span = torch.as_tensor(span, device=x.device, dtype=x.dtype)
        return lo, span

    def apply(self, x: Any, value_range: str = "unit", band_axis: int | None = None) -> Any:
        """Scale to [0, 1] (``"unit"``) or [-1, 1] (``"symmetric"``) by the training range."""
        lo, span = self._params(x, band_axis)
        y = (x - lo) / span
        return _to_range(y, value_range)

    def inverse(self, y: Any, value_range: str = "unit", band_axis: int | None = None) -> Any:
        """Back to reflectance: the inverse of :meth:`apply` with the same ``value_range``."""
        lo, span = self._params(y, band_axis)
        return _from_range(y, value_range) * span + lo

    def to_dict(self) -> dict[str, Any]:
        return {"band_min": self.band_min.tolist(), "band_max": self.band_max.tolist(),
                "wavelengths_nm": self.wavelengths_nm.tolist(), "n_fitted": self.n_fitted}

    def save(self, path: str | os.PathLike) -> Path:
        """JSON with per-band min, max, wavelengths and the number of fitted cubes (atomic)."""
        if self.band_min is None:
            raise RuntimeError("BandNormaliser is not fitted: nothing to save")
        path = Path(path)
        with atomic_path(path) as tmp:
            tmp.write_text(json.dumps(self.to_dict(), indent=2))
        return path

    @classmethod
    def load(cls, path: str | os.PathLike) -> BandNormaliser:
        path = Path(path)
        try:
            d = json.loads(path.read_text())
            return cls(d["band_min"], d["band_max"], d["wavelengths_nm"], d.get("n_fitted", 0))
        except (OSError, ValueError, KeyError) as err:
            raise ValueError(f"{path}: not a normalisation JSON ({err})") from err

    def __repr__(self) -> str:
        fitted = "unfitted" if self.band_min is None else f"fitted on {self.n_fitted} cubes"
        return f"BandNormaliser({len(self.wavelengths_nm)} bands, {fitted})"


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
