"""Hyperspectral reconstruction from RGB, scored against the true cube.

Real data never has both: a dermoscopy RGB image and the hyperspectral cube of the same lesion
at the same instant. The stand-in does: every cube has its exact sRGB rendering
(:class:`hsilib.models.projection.HSToRGB`), so an RGB-to-hyperspectral model (the SHS-GAN of
notebook 02, SPADE-RGB and CycleGAN of notebook 04) can be scored against the truth:

- per-band RMSE (reflectance units) and its mean over bands;
- SAM, the spectral angle per pixel in degrees (shape of the spectrum, not its level);
- chromophore error: the chromophore fit (:func:`hsilib.metrics.physics.invert_spectra`) of
  reconstructed and true spectra at the same pixels, as the median absolute difference per
  parameter (log10 for melanin, blood and scattering, which span decades).

:class:`LinearRGBToHS` is the baseline any learned model must beat: one affine map from a
pixel's three sRGB values to its sixteen reflectances, fitted by (ridge) least squares on
training pairs.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
import torch

from .. import WAVELENGTHS_NM
from .intervals import bootstrap, percentile_interval
from .physics import BOUNDS, invert_spectra
from .spectral import sam_map


def _field(true: torch.Tensor, masks: torch.Tensor | None) -> torch.Tensor:
    """N x H x W boolean: pixels inside the dermoscope field (and inside ``masks`` if given)."""
    keep = true.abs().sum(1) > 0
    if masks is not None:
        m = torch.as_tensor(masks).to(true.device)
        m = m[:, 0] if m.ndim == 4 else m
        if m.shape != keep.shape:
            raise ValueError(f"masks of shape {tuple(m.shape)} do not match images "
                             f"{tuple(true.shape)}")
        keep = keep & (m > 0.5)
    return keep


def _check_pair(pred, true) -> tuple[torch.Tensor, torch.Tensor]:
    p = torch.as_tensor(pred, dtype=torch.float32)
    t = torch.as_tensor(true, dtype=torch.float32)
    if p.shape != t.shape or p.ndim != 4:
        raise ValueError(f"reconstruction and truth must both be N x B x H x W of one shape, got "
                         f"{tuple(p.shape)} and {tuple(t.shape)}")
    return p, t


def band_rmse(pred, true, masks=None) -> np.ndarray:
    """RMSE per band over the in-field pixels (``masks``: only those pixels), shape ``(B,)``."""
    p, t = _check_pair(pred, true)
    keep = _field(t, masks)
    diff = (p - t).movedim(1, -1)[keep]  # pixels x B
    if len(diff) == 0:
        raise ValueError("band_rmse: no pixel inside the field (and mask)")
    return diff.pow(2).mean(0).sqrt().numpy()


def sam_degrees(pred, true, masks=None) -> np.ndarray:
    """Spectral angle per in-field pixel, in degrees (a flat array over all images)."""
    p, t = _check_pair(pred, true)
    keep = _field(t, masks)
    return sam_map(p, t, degrees=True)[keep].numpy()


def chromophore_error(pred, true, *, masks=None, n_pixels: int = 500, seed: int = 0,
                      wavelengths_nm: Sequence[float] = WAVELENGTHS_NM) -> pd.DataFrame:
    """Median absolute difference of the fitted chromophores at ``n_pixels`` shared pixels.

    One row per parameter: ``scale`` (log10 or linear), ``median_abs_error``, ``median_true``
    and ``n_pixels``. The same pixels are fitted in both cubes, so the error is paired.
    """
    p, t = _check_pair(pred, true)
    keep = _field(t, masks)
    ps, ts = p.movedim(1, -1)[keep].numpy(), t.movedim(1, -1)[keep].numpy()
    rng = np.random.default_rng(seed)
    idx = rng.choice(len(ts), min(n_pixels, len(ts)), replace=False)
    fit_p = invert_spectra(np.maximum(ps[idx], 0.0), wavelengths_nm)
    fit_t = invert_spectra(ts[idx], wavelengths_nm)
    rows = []
    for name in [c for c in fit_t.columns if c in BOUNDS]:
        log = BOUNDS[name][2] == "log"
        a, b = fit_p[name].to_numpy(), fit_t[name].to_numpy()
        if log:
            a, b = np.log10(a), np.log10(b)
        rows.append({"parameter": name, "scale": "log10" if log else "linear",
                     "median_abs_error": float(np.median(np.abs(a - b))),
                     "median_true": float(np.median(fit_t[name])), "n_pixels": len(idx)})
    return pd.DataFrame(rows)


def reconstruction_summary(pred, true, *, masks=None, n_pixels: int = 500, seed: int = 0,
                           n_boot: int = 1000, wavelengths_nm=WAVELENGTHS_NM) -> dict[str, float]:
    """One row for a model: mean band RMSE, median SAM (degrees) and the chromophore errors,
    with a 95% bootstrap interval over images for RMSE and SAM (images resampled)."""
    p, t = _check_pair(pred, true)
    per_image_rmse = np.array([band_rmse(p[i:i + 1], t[i:i + 1],
                                         None if masks is None else masks[i:i + 1]).mean()
                               for i in range(len(p))])
    per_image_sam = np.array([np.median(sam_degrees(p[i:i + 1], t[i:i + 1],
                                                    None if masks is None else masks[i:i + 1]))
                              for i in range(len(p))])
    boot = bootstrap(len(p), n_boot, seed)
    row = {}
    for name, per_image in (("rmse", per_image_rmse), ("sam_deg", per_image_sam)):
        lo, hi = percentile_interval(per_image[boot].mean(1))
        row.update({name: float(per_image.mean()), f"{name}_lo": lo, f"{name}_hi": hi})
    row["n_images"] = len(p)
    chrom = chromophore_error(p, t, masks=masks, n_pixels=n_pixels, seed=seed,
                              wavelengths_nm=wavelengths_nm)
    for r in chrom.itertuples():
        row[f"chrom_{r.parameter}"] = r.median_abs_error
    return row


class LinearRGBToHS:
    """Per-pixel affine map sRGB (3) -> reflectance (B), fitted by ridge least squares.

    ``fit(rgb, cubes)`` takes paired ``N x 3 x H x W`` and ``N x B x H x W`` tensors (only
    in-field pixels are used); ``predict(rgb)`` returns ``N x B x H x W``.
    """

    def __init__(self, ridge: float = 1e-6):
        if ridge < 0:
            raise ValueError(f"LinearRGBToHS: ridge must be >= 0, got {ridge}")
        self.ridge = float(ridge)
        self.coef: np.ndarray | None = None  # 4 x B (last row: the bias)

    def fit(self, rgb, cubes, *, chunk: int = 16) -> LinearRGBToHS:
        """Least squares over the in-field pixels of every image pair. The normal equations
        are summed over ``chunk`` images at a time (in float64), so memory stays that of one
        chunk however many training crops there are (at ``full``, all training crops at 256 px
        in one float64 copy would take gigabytes)."""
        x = torch.as_tensor(rgb)
        y = torch.as_tensor(cubes)
        if x.ndim != 4 or x.shape[1] != 3 or y.ndim != 4 or x.shape[0] != y.shape[0] \
                or x.shape[2:] != y.shape[2:]:
            raise ValueError(f"LinearRGBToHS.fit: need N x 3 x H x W and N x B x H x W of the "
                             f"same N, H, W, got {tuple(x.shape)} and {tuple(y.shape)}")
        if chunk < 1:
            raise ValueError(f"LinearRGBToHS.fit: chunk must be >= 1, got {chunk}")
        gram = np.zeros((4, 4))
        moment = np.zeros((4, y.shape[1]))
        n_pixels = 0
        for i in range(0, len(x), chunk):
            yc = y[i:i + chunk].to(torch.float64)
            keep = yc.abs().sum(1) > 0
            xs = x[i:i + chunk].to(torch.float64).movedim(1, -1)[keep].numpy()
            ys = yc.movedim(1, -1)[keep].numpy()
            design = np.concatenate([xs, np.ones((len(xs), 1))], 1)
            gram += design.T @ design
            moment += design.T @ ys
            n_pixels += len(xs)
        self.coef = np.linalg.solve(gram + self.ridge * n_pixels * np.eye(4), moment)
        return self

    def predict(self, rgb) -> torch.Tensor:
        if self.coef is None:
            raise RuntimeError("LinearRGBToHS: call fit first")
        x = torch.as_tensor(rgb, dtype=torch.float32)
        coef = torch.as_tensor(self.coef, dtype=torch.float32)
        out = x.movedim(1, -1) @ coef[:3] + coef[3]
        return out.movedim(-1, 1)
