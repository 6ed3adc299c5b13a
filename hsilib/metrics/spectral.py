"""Paired image metrics for hyperspectral images: spectral angle, SID, RASE, ERGAS, PSNR, SSIM,
and total variation.

Every function takes ``preds`` and ``target`` as torch tensors or numpy arrays of shape
``N x B x H x W`` (a single ``B x H x W`` image is accepted too) and returns a torch tensor:
a scalar with ``reduction="mean"`` (the mean over images), or one value per image with
``reduction="none"``. Value ranges are never guessed: PSNR and SSIM need an explicit
``data_range`` (1.0 for images normalised to [0, 1], 2.0 for [-1, 1]).

These metrics compare *pairs* of images. Synthetic images have no partner, so
:mod:`hsilib.metrics.protocol` pairs each synthetic image with its nearest real neighbour and
labels the numbers "paired to nearest real" (the original study paired random images, which
measures nothing). The equations are in notebook 03 (section 8); where a torchmetrics function
computes the same quantity the tests check equality with it (to 1e-4).

Introduced in notebook 03.
"""

from __future__ import annotations

import math
from typing import Literal

import numpy as np
import torch
import torch.nn.functional as F

from ..models.losses import angle_between, sid_per_pixel, ssim_per_image

Reduction = Literal["mean", "none"]


# --------------------------------------------------------------------------------------------
# Input handling
# --------------------------------------------------------------------------------------------
def as_images(x, name: str = "images") -> torch.Tensor:
    """``x`` (tensor or numpy, ``N x B x H x W`` or one ``B x H x W`` image) as a float tensor."""
    if isinstance(x, np.ndarray):
        x = torch.from_numpy(np.ascontiguousarray(x))
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"{name} must be a torch tensor or numpy array, got {type(x).__name__}")
    if x.ndim == 3:
        x = x.unsqueeze(0)
    if x.ndim != 4:
        raise ValueError(f"{name} must be N x B x H x W (or B x H x W), got shape {tuple(x.shape)}")
    return x if x.is_floating_point() else x.float()


def finite_images(x: torch.Tensor, name: str) -> torch.Tensor:
    """``x`` itself; ValueError naming ``name`` when it holds NaN or inf (a metric of such
    images would be NaN, or a finite number computed from garbage)."""
    bad = ~torch.isfinite(x)
    if bad.any():
        images = bad.flatten(1).any(1).nonzero().flatten().tolist()
        raise ValueError(f"{name}: {int(bad.sum())} NaN/inf values in {len(images)} of "
                         f"{len(x)} images (e.g. images {images[:5]})")
    return x


def _pair(preds, target) -> tuple[torch.Tensor, torch.Tensor]:
    p = finite_images(as_images(preds, "preds"), "preds")
    t = finite_images(as_images(target, "target"), "target")
    if p.shape != t.shape:
        raise ValueError(f"preds and target differ in shape: {tuple(p.shape)} vs {tuple(t.shape)}")
    dtype = torch.promote_types(p.dtype, t.dtype)
    return p.to(dtype), t.to(dtype)


def _mask(mask, like: torch.Tensor) -> torch.Tensor | None:
    """A boolean ``N x H x W`` mask (from ``N x 1 x H x W``, ``N x H x W`` or ``H x W``)."""
    if mask is None:
        return None
    m = torch.as_tensor(np.asarray(mask) if not isinstance(mask, torch.Tensor) else mask)
    m = m.to(like.device)
    if m.ndim == 4:
        m = m[:, 0]
    if m.ndim == 2:
        m = m.expand(like.shape[0], *m.shape)
    if m.shape != (like.shape[0], *like.shape[2:]):
        raise ValueError(f"mask shape {tuple(m.shape)} does not match images {tuple(like.shape)}")
    return m > 0.5 if m.is_floating_point() else m.bool()


def _reduce_map(values: torch.Tensor, mask: torch.Tensor | None, reduction: Reduction):
    """Average an ``N x H x W`` map per image (inside ``mask``), then over images."""
    if reduction not in ("mean", "none"):
        raise ValueError(f"reduction must be 'mean' or 'none', got {reduction!r}")
    if mask is None:
        per_image = values.flatten(1).mean(1)
        return per_image.mean() if reduction == "mean" else per_image
    w = mask.to(values.dtype)
    if reduction == "mean":  # pool every masked pixel of every image
        if w.sum() == 0:
            raise ValueError("mask is empty: no pixel to average over")
        return (values * w).sum() / w.sum()
    # An image with an empty mask has no defined mean: NaN marks it (documented).
    return (values * w).flatten(1).sum(1) / w.flatten(1).sum(1)


def _reduce(per_image: torch.Tensor, reduction: Reduction) -> torch.Tensor:
    if reduction not in ("mean", "none"):
        raise ValueError(f"reduction must be 'mean' or 'none', got {reduction!r}")
    return per_image.mean() if reduction == "mean" else per_image


# --------------------------------------------------------------------------------------------
# Spectral angle (SAM) and spectral information divergence (SID)
# --------------------------------------------------------------------------------------------
def sam_map(preds, target, *, degrees: bool = False) -> torch.Tensor:
    """Per-pixel spectral angle ``arccos(<p, t> / (|p| |t|))``, ``N x H x W``, in radians
    (degrees with ``degrees=True``).

    Zero spectra (Kruse et al. 1993 leave them undefined) are defined here without NaN: two zero
    spectra have angle 0 (identical), a zero spectrum against a non-zero one has angle pi/2 (it
    shares no direction with it).
    """
    p, t = _pair(preds, target)
    angle = angle_between(p, t, dim=1)
    return torch.rad2deg(angle) if degrees else angle


def sam(preds, target, *, mask=None, degrees: bool = False,
        reduction: Reduction = "mean") -> torch.Tensor:
    """Mean spectral angle of paired images (radians; degrees with ``degrees=True``).

    With ``mask`` (``N x [1 x] H x W``, 1 = include) the mean runs over masked pixels only:
    ``reduction="mean"`` pools the masked pixels of all images, ``"none"`` gives each image's
    mean (NaN for an image whose mask is empty). Equals torchmetrics'
    ``spectral_angle_mapper`` without a mask and without zero spectra.
    """
    return _reduce_map(sam_map(preds, target, degrees=degrees), _mask(mask, as_images(preds)),
                       reduction)


def mean_spectrum(images, mask=None) -> torch.Tensor:
    """The mean spectrum (``B``) over all pixels of a set of images (inside ``mask`` if given)."""
    x = as_images(images)
    m = _mask(mask, x)
    if m is None:
        return x.mean(dim=(0, 2, 3))
    w = m.unsqueeze(1).to(x.dtype)
    if w.sum() == 0:
        raise ValueError("mask is empty: no pixel to average over")
    return (x * w).sum(dim=(0, 2, 3)) / w.sum()


def sam_mean_spectra(images_a, images_b, *, mask_a=None, mask_b=None,
                     degrees: bool = False) -> torch.Tensor:
    """Spectral angle between the mean spectra of two *unpaired* sets (radians by default).

    A set-level spectral check that needs no pairing: 0 when the average colour (spectral shape)
    of the two sets agrees, whatever the brightness.
    """
    a, b = mean_spectrum(images_a, mask_a), mean_spectrum(images_b, mask_b)
    angle = angle_between(a, b.to(a.dtype), dim=0)
    return torch.rad2deg(angle) if degrees else angle


def sid_map(preds, target, *, eps: float = 1e-8) -> torch.Tensor:
    """Per-pixel spectral information divergence (Chang 2000, IEEE TIT 46:1927), ``N x H x W``.

    Each spectrum becomes a distribution ``p_b = x_b / sum x``; SID is the symmetric KL
    divergence ``sum p log(p/q) + sum q log(q/p)`` (nats). Spectra must be non-negative
    (reflectance, or images in [0, 1]); negative values are clipped to 0 and ``eps`` is added to
    every band so that zero spectra (uniform distribution) give finite values.
    """
    p, t = _pair(preds, target)
    return sid_per_pixel(p, t, eps)


def sid(preds, target, *, mask=None, eps: float = 1e-8,
        reduction: Reduction = "mean") -> torch.Tensor:
    """Mean SID of paired images (see :func:`sid_map`; ``mask`` as in :func:`sam`)."""
    return _reduce_map(sid_map(preds, target, eps=eps), _mask(mask, as_images(preds)), reduction)


# --------------------------------------------------------------------------------------------
# Relative errors: RASE and ERGAS
# --------------------------------------------------------------------------------------------
def _box_filter(x: torch.Tensor, window_size: int) -> torch.Tensor:
    """Mean over a ``window_size`` square, same size out, with scipy's 'reflect' (edge-repeating)
    padding: the convention of torchmetrics' sliding-window RMSE."""
    lo, hi = window_size // 2, window_size // 2 + window_size % 2 - 1
    # 'replicate'-style mirror including the edge sample = torch.flip of the border strips
    x = torch.cat([x[..., :lo, :].flip(-2), x, x[..., x.shape[-2] - hi:, :].flip(-2)], dim=-2)
    x = torch.cat([x[..., :lo].flip(-1), x, x[..., x.shape[-1] - hi:].flip(-1)], dim=-1)
    n, b = x.shape[:2]
    kernel = torch.full((1, 1, window_size, window_size), 1.0 / window_size**2, dtype=x.dtype,
                        device=x.device)
    out = F.conv2d(x.reshape(n * b, 1, *x.shape[2:]), kernel)
    return out.reshape(n, b, *out.shape[-2:])


def rase(preds, target, *, window_size: int | None = None,
         reduction: Reduction = "mean") -> torch.Tensor:
    """Relative average spectral error (Ranchin & Wald 2000), in percent.

    ``RASE = 100 / mu * sqrt(mean_b RMSE_b^2)`` with ``RMSE_b`` the RMS error of band b and
    ``mu`` the mean of ``target`` over all bands and pixels, per image (``window_size=None``,
    the textbook, global definition).

    With ``window_size=w`` it follows torchmetrics' local form instead: RMSE and mean in a
    sliding ``w x w`` window, RMSE maps averaged over the batch, borders of ``round(w/2)`` cropped,
    then the mean of the RASE map (one value for the batch; ``reduction`` is ignored). torchmetrics
    1.9's ``relative_average_spectral_error`` divides the windowed target mean by ``w^2`` a second
    time, so its value is exactly ``w^2`` times this one (64 x for its default w = 8), which
    likely explains RASE values in the thousands such as the study's 3634.
    """
    p, t = _pair(preds, target)
    if window_size is None:
        rmse_b = (p - t).pow(2).mean(dim=(2, 3)).sqrt()
        mu = t.mean(dim=(1, 2, 3))
        return _reduce(100.0 / mu * rmse_b.pow(2).mean(1).sqrt(), reduction)
    crop = round(window_size / 2)
    if crop >= min(t.shape[-2:]):
        raise ValueError(f"window_size {window_size} too large for images {tuple(t.shape[-2:])}")
    rmse_map = _box_filter((t - p) ** 2, window_size).sqrt().mean(0)  # B x H x W
    mu = _box_filter(t, window_size).mean(0).mean(0)  # H x W
    rase_map = 100.0 / mu * rmse_map.pow(2).mean(0).sqrt()
    return rase_map[crop:-crop, crop:-crop].mean()


def ergas(preds, target, *, ratio: float = 1.0, reduction: Reduction = "mean") -> torch.Tensor:
    """ERGAS (Wald 2000): ``100 / ratio * sqrt(mean_b (RMSE_b / mu_b)^2)`` per image.

    ``mu_b`` is band b's mean in ``target``; ``ratio`` is the ratio of high to low resolution
    pixel sizes in pan-sharpening, 1 for images of equal resolution (torchmetrics' default is 4).
    """
    p, t = _pair(preds, target)
    rmse_b = (p - t).pow(2).mean(dim=(2, 3)).sqrt()
    mu_b = t.mean(dim=(2, 3))
    return _reduce(100.0 / ratio * (rmse_b / mu_b).pow(2).mean(1).sqrt(), reduction)


# --------------------------------------------------------------------------------------------
# PSNR and SSIM
# --------------------------------------------------------------------------------------------
def psnr(preds, target, *, data_range: float, reduction: Reduction = "mean") -> torch.Tensor:
    """Peak signal-to-noise ratio per image, ``10 log10(data_range^2 / MSE)`` in dB (MSE over all
    bands and pixels of the image), then averaged. ``data_range`` is the span of valid values
    (1 for [0, 1] images). Identical images give +inf.
    """
    if data_range <= 0:
        raise ValueError(f"data_range must be positive, got {data_range}")
    p, t = _pair(preds, target)
    mse = (p - t).pow(2).mean(dim=(1, 2, 3))
    return _reduce(10.0 * torch.log10(data_range**2 / mse), reduction)


def ssim(preds, target, *, data_range: float, sigma: float = 1.5, k1: float = 0.01,
         k2: float = 0.03, reduction: Reduction = "mean",
         padding: Literal["reflect", "valid"] = "reflect") -> torch.Tensor:
    """Structural similarity (Wang et al. 2004, IEEE TIP 13:600) averaged over all bands and
    pixels of each image.

    Local statistics use a Gaussian window (``sigma``, size ``2 int(3.5 sigma + 0.5) + 1`` = 11
    for 1.5) on each band separately, with reflection padding so the map covers the whole image
    (torchmetrics' convention; the metric); ``padding="valid"`` averages only the pixels whose
    window lies inside the image (scikit-image's convention; cheaper, used as a training loss).
    ``C1 = (k1 L)^2``, ``C2 = (k2 L)^2`` with ``L = data_range``.
    """
    p, t = _pair(preds, target)
    return _reduce(ssim_per_image(p, t, data_range=data_range, sigma=sigma, k1=k1, k2=k2,
                                  padding=padding), reduction)


# --------------------------------------------------------------------------------------------
# Total variation (one image set, no pairing)
# --------------------------------------------------------------------------------------------
def total_variation(images, *, per_pixel: bool = False,
                    reduction: Reduction = "mean") -> torch.Tensor:
    """Anisotropic total variation ``sum |x[h+1,w] - x[h,w]| + sum |x[h,w+1] - x[h,w]|`` over all
    bands of each image (torchmetrics' ``total_variation``), then averaged over images.

    ``per_pixel=True`` divides by ``B H W`` so that images of different sizes compare. Compare
    the TV of synthetic and real sets: too low = over-smooth, too high = noise or checkerboards.
    """
    x = as_images(images)
    tv = (x[..., 1:, :] - x[..., :-1, :]).abs().sum(dim=(1, 2, 3)) + (
        x[..., :, 1:] - x[..., :, :-1]).abs().sum(dim=(1, 2, 3))
    if per_pixel:
        tv = tv / math.prod(x.shape[1:])
    return _reduce(tv, reduction)
