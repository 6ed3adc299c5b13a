"""Spatial building blocks of the stand-in lesions: shapes, textures and dermoscopic structures.

Every function draws on a given ``numpy.random.Generator`` and returns float32 maps (or bool
masks) on an ``(H, W)`` pixel grid, so a lesion is assembled by adding and multiplying maps.
The structures follow the dermoscopic vocabulary of the ABCD rule and the 7-point checklist
(Stolz 1994; Argenziano 1998): pigment network (typical / atypical), dots and globules,
streaks, blotches, blue-white veil, regression, and the benign patterns of seborrheic
keratosis and solar lentigo (milia-like cysts, comedo-like openings, cerebriform ridges,
moth-eaten border, fingerprint lines).
"""

from __future__ import annotations

import cv2
import numpy as np


# --------------------------------------------------------------------------------------------
# Random fields
# --------------------------------------------------------------------------------------------
def smooth_noise(shape, scale_px: float, rng: np.random.Generator) -> np.ndarray:
    """Zero-mean, unit-variance Gaussian random field with correlation length ~``scale_px``.

    White noise on a coarse grid upsampled with bicubic interpolation (cheap at any size).
    """
    h, w = shape
    step = max(scale_px, 1.0)
    gh, gw = int(np.ceil(h / step)) + 3, int(np.ceil(w / step)) + 3
    coarse = rng.standard_normal((gh, gw)).astype(np.float32)
    big = cv2.resize(coarse, (int(round(gw * step)), int(round(gh * step))),
                     interpolation=cv2.INTER_CUBIC)
    oy, ox = int(rng.integers(0, max(big.shape[0] - h, 0) + 1)), \
        int(rng.integers(0, max(big.shape[1] - w, 0) + 1))
    out = big[oy:oy + h, ox:ox + w]
    if out.shape != (h, w):  # tiny grids: pad by reflection
        out = cv2.resize(out, (w, h), interpolation=cv2.INTER_LINEAR)
    out = out - out.mean()
    return (out / (out.std() + 1e-6)).astype(np.float32)


def fbm(shape, scale_px: float, rng, octaves: int = 3, gain: float = 0.5) -> np.ndarray:
    """Fractal (multi-octave) noise, unit variance."""
    out = np.zeros(shape, np.float32)
    amp = 1.0
    for k in range(octaves):
        out += amp * smooth_noise(shape, scale_px / 2**k, rng)
        amp *= gain
    return out / (out.std() + 1e-6)


def blur(img: np.ndarray, sigma_px: float) -> np.ndarray:
    if sigma_px <= 0.05:
        return img.astype(np.float32, copy=False)
    return cv2.GaussianBlur(img.astype(np.float32, copy=False), (0, 0), sigma_px)


# --------------------------------------------------------------------------------------------
# Lesion shape
# --------------------------------------------------------------------------------------------
def lesion_shape(shape, centre, radius_px: float, *, elongation: float, asymmetry: float,
                 irregularity: float, moth_eaten: float, rng) -> tuple[np.ndarray, np.ndarray]:
    """A lesion as a star-shaped region r < rho(theta) with a soft profile.

    ``rho`` = ellipse (``elongation`` = 1 - minor/major) x (1 + low harmonics scaled by
    ``asymmetry`` + high harmonics scaled by ``irregularity`` + concave bites scaled by
    ``moth_eaten``). Returns (mask bool, normalised radius t = r/rho float32; t < 1 inside).
    """
    h, w = shape
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    angle = rng.uniform(0, np.pi)
    dy, dx = yy - centre[0], xx - centre[1]
    u = dx * np.cos(angle) + dy * np.sin(angle)
    v = -dx * np.sin(angle) + dy * np.cos(angle)
    v = v / (1.0 - elongation)
    r = np.sqrt(u * u + v * v) / radius_px
    # rho(theta) on a fine 1-D grid, then looked up per pixel (cheap at any image size)
    grid = np.linspace(-np.pi, np.pi, 2049)
    rho = np.ones_like(grid)
    # low harmonics (k = 1..3) break the two symmetry axes
    for k in (1, 2, 3):
        rho += asymmetry * rng.uniform(0.05, 0.16) / k**0.3 * np.cos(k * grid
                                                                     + rng.uniform(0, 2 * np.pi))
    # high harmonics: notches, protrusions, an irregular border
    for k in range(4, 24):
        rho += irregularity * rng.normal(0, 0.05) / (k / 4) ** 1.1 * np.cos(
            k * grid + rng.uniform(0, 2 * np.pi))
    # moth-eaten: a few sharp concave bites along the border
    for _ in range(int(round(moth_eaten * rng.integers(3, 8)))):
        c = rng.uniform(-np.pi, np.pi)
        d = np.angle(np.exp(1j * (grid - c)))
        rho -= rng.uniform(0.08, 0.2) * np.exp(-(d / rng.uniform(0.05, 0.14)) ** 2)
    rho = np.interp(np.arctan2(v, u), grid, rho).astype(np.float32)
    rho = np.maximum(rho, 0.3)
    t = (r / rho).astype(np.float32)
    return t < 1.0, t


def border_profile(t: np.ndarray, sharpness: float) -> np.ndarray:
    """Lesion weight from normalised radius: 1 inside, falling to 0 at t = 1 over a rim whose
    width shrinks with ``sharpness`` (0 = gradual fade, 1 = abrupt cut-off)."""
    width = 0.04 + 0.4 * (1.0 - sharpness)
    return np.clip((1.0 - t) / width, 0.0, 1.0).astype(np.float32) ** 0.8


# --------------------------------------------------------------------------------------------
# Dermoscopic structures (each returns a map in [0, 1])
# --------------------------------------------------------------------------------------------
def pigment_network(shape, period_px: float, atypia: float, rng) -> np.ndarray:
    """Honeycomb lines from the zero set of three warped plane waves at 60 degrees; atypia
    warps the mesh, varies the hole size and breaks and thickens the lines."""
    h, w = shape
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    warp = (0.15 + 0.9 * atypia) * period_px
    xx = xx + warp * smooth_noise(shape, 3 * period_px, rng)
    yy = yy + warp * smooth_noise(shape, 3 * period_px, rng)
    local_period = period_px * (1.0 + 0.45 * atypia * smooth_noise(shape, 5 * period_px, rng))
    k = 2 * np.pi / np.maximum(local_period, 2.0)
    a0 = rng.uniform(0, np.pi)
    f = sum(np.cos(k * (xx * np.cos(a0 + j * np.pi / 3) + yy * np.sin(a0 + j * np.pi / 3)))
            for j in range(3))
    thickness = 0.5 + 0.4 * atypia * np.abs(smooth_noise(shape, 2 * period_px, rng))
    lines = np.exp(-((f + 1.0) / thickness) ** 2)  # the mesh sits near f = -1
    gaps = np.clip(1.0 + atypia * 0.8 * smooth_noise(shape, 2 * period_px, rng), 0, 1)
    return (lines * gaps).astype(np.float32)


def dots(shape, mask: np.ndarray, n: int, size_px: float, irregular: float, rng,
         periphery: float = 0.0, t=None) -> np.ndarray:
    """Dots/globules: ``n`` Gaussian blobs inside ``mask``. ``irregular`` varies sizes and
    clusters them; ``periphery`` pushes them towards the border (needs ``t``)."""
    out = np.zeros(shape, np.float32)
    ys, xs = np.nonzero(mask)
    if len(ys) == 0 or n <= 0:
        return out
    weights = np.ones(len(ys))
    if periphery > 0 and t is not None:
        weights = weights + periphery * 8 * t[ys, xs] ** 4
    if irregular > 0:
        cl = smooth_noise(shape, max(6 * size_px, 4), rng)[ys, xs]
        weights = weights * np.exp(2.0 * irregular * cl)
    idx = rng.choice(len(ys), size=n, p=weights / weights.sum())
    sizes = size_px * np.exp(irregular * rng.normal(0, 0.5, n))
    amps = np.clip(1.0 + irregular * rng.normal(0, 0.35, n), 0.3, 1.6)
    # group blobs by size into a few blur passes (much cheaper than one blur per blob)
    bins = np.quantile(sizes, [0, 0.33, 0.66, 1.0])
    for lo, hi in zip(bins[:-1], bins[1:], strict=True):
        sel = (sizes >= lo) & (sizes <= hi)
        if not sel.any():
            continue
        imp = np.zeros(shape, np.float32)
        np.add.at(imp, (ys[idx[sel]], xs[idx[sel]]), amps[sel])
        s = float(np.mean(sizes[sel]))
        out += blur(imp, s) * (2 * np.pi * s * s)
    return np.clip(out, 0, 1.5)


def streaks(shape, centre, radius_px: float, n: int, rng) -> np.ndarray:
    """Radial streaks / pseudopods at the periphery, reaching just beyond the border."""
    canvas = np.zeros(shape, np.float32)
    base = rng.uniform(0, 2 * np.pi)
    spread = rng.uniform(0.6, 2 * np.pi)  # irregular streaks sit on part of the rim
    for _ in range(n):
        a = base + rng.uniform(0, spread)
        r0, r1 = radius_px * rng.uniform(0.55, 0.8), radius_px * rng.uniform(0.95, 1.25)
        p0 = (int(centre[1] + r0 * np.cos(a)), int(centre[0] + r0 * np.sin(a)))
        p1 = (int(centre[1] + r1 * np.cos(a)), int(centre[0] + r1 * np.sin(a)))
        cv2.line(canvas, p0, p1, float(rng.uniform(0.6, 1.0)),
                 thickness=max(1, int(round(radius_px * 0.03))), lineType=cv2.LINE_AA)
    return blur(canvas, max(radius_px * 0.01, 0.5))


def patch(shape, mask: np.ndarray, fraction: float, scale_px: float, rng,
          focus=None) -> np.ndarray:
    """A structureless region covering ~``fraction`` of ``mask`` (a thresholded random field,
    optionally biased towards a focus point), soft-edged, in [0, 1]."""
    field = fbm(shape, scale_px, rng, octaves=2)
    if focus is not None:
        h, w = shape
        yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
        d = np.sqrt((yy - focus[0]) ** 2 + (xx - focus[1]) ** 2) / (2 * scale_px)
        field = field - 1.2 * d
    vals = field[mask]
    if vals.size == 0 or fraction <= 0:
        return np.zeros(shape, np.float32)
    thr = np.quantile(vals, 1.0 - np.clip(fraction, 0.01, 0.99))
    return (np.clip((field - thr) / 0.35, 0, 1) * mask).astype(np.float32)


def parallel_lines(shape, period_px: float, rng) -> np.ndarray:
    """Fingerprint-like parallel ridges with slowly turning orientation (solar lentigo, SK)."""
    h, w = shape
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    a = rng.uniform(0, np.pi) + 0.8 * smooth_noise(shape, 12 * period_px, rng)
    phase = (xx * np.cos(a) + yy * np.sin(a)) * 2 * np.pi / period_px
    phase += 2.0 * smooth_noise(shape, 4 * period_px, rng)
    return (0.5 + 0.5 * np.cos(phase)).astype(np.float32) ** 3


def cerebriform(shape, scale_px: float, rng) -> np.ndarray:
    """Brain-like gyri and sulci: ridges along the zero set of band-pass noise (thick SK)."""
    f = smooth_noise(shape, scale_px, rng) - 0.6 * smooth_noise(shape, 3 * scale_px, rng)
    return np.exp(-(f / 0.35) ** 2).astype(np.float32)


def vessels(shape, n: int, length_px: float, width_px: float, rng) -> np.ndarray:
    """Thin branching-free curved vessels (random walks with momentum), in [0, 1]."""
    canvas = np.zeros(shape, np.float32)
    h, w = shape
    for _ in range(n):
        y, x = rng.uniform(0, h), rng.uniform(0, w)
        a = rng.uniform(0, 2 * np.pi)
        pts = []
        for _ in range(int(max(length_px / 3, 2))):
            a += rng.normal(0, 0.25)
            y, x = y + 3 * np.sin(a), x + 3 * np.cos(a)
            pts.append((int(x), int(y)))
        cv2.polylines(canvas, [np.array(pts, np.int32)], False, float(rng.uniform(0.5, 1)),
                      thickness=max(1, int(round(width_px))), lineType=cv2.LINE_AA)
    return blur(canvas, max(width_px * 0.4, 0.4))


def curves(shape, n: int, width_px: float, rng, length_px=None) -> np.ndarray:
    """Long smooth dark curves across the field: hairs (coverage in [0, 1])."""
    canvas = np.zeros(shape, np.float32)
    h, w = shape
    length_px = length_px or 1.2 * max(h, w)
    for _ in range(n):
        y, x = rng.uniform(0, h), rng.uniform(0, w)
        a = rng.uniform(0, 2 * np.pi)
        bend = rng.normal(0, 0.01)
        pts = []
        for _ in range(int(length_px / 4)):
            a += bend + rng.normal(0, 0.02)
            y, x = y + 4 * np.sin(a), x + 4 * np.cos(a)
            pts.append((int(x), int(y)))
        cv2.polylines(canvas, [np.array(pts, np.int32)], False, 1.0,
                      thickness=max(1, int(round(width_px))), lineType=cv2.LINE_AA)
    return np.clip(canvas, 0, 1)
