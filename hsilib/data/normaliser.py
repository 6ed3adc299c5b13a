"""The per-band normaliser, fitted on the training split's crops only.

:class:`BandNormaliser` maps each band's fitted range to [0, 1] (classifiers) or [-1, 1]
(generators with tanh outputs) and back to reflectance exactly; :func:`fit_train_normaliser`
fits one on the real crops of the training split of a crop folder. Notebook 01 compares the
study's min/max fit with the robust percentile fit (check 2 of ``docs/protocol.md``).

Introduced in notebook 01; used by every later notebook.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from .. import WAVELENGTHS_NM, guard
from ..paths import atomic_path
from .crop_folder import iter_cubes, read_index

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
        if self.band_min is not None or self.band_max is not None:
            self._check_range()
        self.n_fitted = n_fitted
        self.method, self.percentiles = method, (lo, hi)
        self.max_pixels, self.seed = int(max_pixels), int(seed)

    def _check_range(self) -> None:
        """ValueError unless band_min and band_max are finite, one per wavelength, min <= max."""
        lo, hi, wl = self.band_min, self.band_max, self.wavelengths_nm
        if lo is None or hi is None or not (lo.ndim == hi.ndim == wl.ndim == 1) or not (
                len(lo) == len(hi) == len(wl)):
            sizes = [None if a is None else np.shape(a) for a in (lo, hi, wl)]
            raise ValueError(f"BandNormaliser: band_min, band_max and wavelengths_nm must be "
                             f"three lists of the same length, got shapes {sizes}")
        if not (np.isfinite(lo).all() and np.isfinite(hi).all()):
            raise ValueError("BandNormaliser: band_min and band_max must be finite, got NaN/inf "
                             f"in bands {np.flatnonzero(~np.isfinite(lo + hi)).tolist()}")
        if (hi < lo).any():
            raise ValueError(f"BandNormaliser: band_max < band_min in bands "
                             f"{np.flatnonzero(hi < lo).tolist()}")

    def fit(self, cubes: Iterable[np.ndarray]) -> BandNormaliser:
        """Fit the per-band range on H x W x B cubes (streamed, any number) by ``method``."""
        if self.method == "minmax":
            lo, hi, n = self._fit_minmax(cubes)
        else:
            lo, hi, n = self._fit_percentile(cubes)
        self.band_min, self.band_max, self.n_fitted = lo, hi, n
        self._check_range()  # NaN cubes would leave a NaN range: refused, not saved
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
            d = json.loads(path.read_text(), parse_constant=_no_constant)
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


def _no_constant(name: str) -> float:
    raise ValueError(f"{name} is not a number a normaliser can hold")


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
    there) fitted on the real crops of one split (the training split). Inside a notebook the
    test split is refused (:func:`hsilib.guard.check_fit`)."""
    guard.check_fit(split, f"fit_train_normaliser on {crops_dir}")
    table = read_index(crops_dir)
    if not isinstance(splits, pd.DataFrame):
        splits = pd.read_csv(splits, dtype={"id": str})
    ids = set(splits.id[splits.split == split])
    chosen = table[table.id.isin(ids) & ~table.is_synthetic]
    if chosen.empty:
        raise ValueError(f"{crops_dir}: no real crops in split {split!r}")
    return BandNormaliser(method=method, percentiles=percentiles, max_pixels=max_pixels,
                          seed=seed).fit(iter_cubes(chosen, n_bands=len(WAVELENGTHS_NM)))
