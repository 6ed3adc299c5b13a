"""The snapshot camera between a clean reflectance scene and a stored cube (skin_optics.md s. 7).

Order of effects, as light meets the instrument: filter crosstalk (a band-mixing matrix with
off-diagonal terms 0.05-0.15, rows summing to 1 so a white stays white after calibration),
demosaicking misregistration (an integer shift of 0-3 px per band), vignetting (a radial
fall-off the white reference does not fully remove), photon shot noise and read noise in
electrons (~1e4 e- full well, 10 e- read noise, LED illumination weakest near 476-498 nm),
10-bit quantisation, calibration ``R = counts / white counts``, and the dark outside of the
dermoscope's circular field.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

FULL_WELL_E = 1.0e4  # electrons at ADC full scale
WHITE_FILL = 0.9  # the white reference fills 90 % of the well in the brightest band
READ_NOISE_E = 10.0
ADC_LEVELS = 1023  # 10 bit


def led_spectrum(wavelengths_nm) -> np.ndarray:
    """Relative power of a phosphor-white LED: blue peak ~450 nm, phosphor hump ~570 nm, and the
    valley near 480-500 nm where the camera's SNR is lowest. Max 1 over 465-630 nm."""
    wl = np.asarray(wavelengths_nm, dtype=np.float64)
    p = 0.8 * np.exp(-(((wl - 450) / 18) ** 2)) + 0.95 * np.exp(-(((wl - 575) / 65) ** 2)) + 0.08
    return p / p.max()


@dataclass(frozen=True)
class Camera:
    """One image's acquisition parameters."""

    crosstalk: np.ndarray  # (B, B), rows sum to 1
    shifts: np.ndarray  # (B, 2) integer (dy, dx)
    vignetting: float  # relative fall-off at the field edge
    gain: float  # exposure: white-reference fill relative to WHITE_FILL

    @classmethod
    def sample(cls, n_bands: int, rng: np.random.Generator, max_shift_px: int = 3) -> Camera:
        mix = np.eye(n_bands)
        for i in range(n_bands):
            for j in (i - 1, i + 1):
                if 0 <= j < n_bands:
                    mix[i, j] = rng.uniform(0.05, 0.15)
            if rng.random() < 0.3:  # mosaic neighbours are not always spectral neighbours
                j = int(rng.integers(0, n_bands))
                if j != i:
                    mix[i, j] += rng.uniform(0.0, 0.05)
        mix /= mix.sum(1, keepdims=True)
        shifts = rng.integers(-max_shift_px, max_shift_px + 1, size=(n_bands, 2))
        shifts[int(rng.integers(0, n_bands))] = 0  # one reference band
        return cls(mix, shifts, float(rng.uniform(0.1, 0.4)), float(rng.uniform(0.85, 1.0)))


def circular_field(shape, centre, radius_px: float) -> np.ndarray:
    h, w = shape
    yy, xx = np.ogrid[0:h, 0:w]
    return (yy - centre[0]) ** 2 + (xx - centre[1]) ** 2 <= radius_px**2


def shift_bands(cube: np.ndarray, shifts: np.ndarray) -> np.ndarray:
    """Translate each band by its integer (dy, dx), replicating the edge (no wrap-around)."""
    h, w, n = cube.shape
    out = np.empty_like(cube)
    for b in range(n):
        dy, dx = int(shifts[b, 0]), int(shifts[b, 1])
        if dy == 0 and dx == 0:
            out[..., b] = cube[..., b]
            continue
        m = np.float32([[1, 0, dx], [0, 1, dy]])
        out[..., b] = cv2.warpAffine(np.ascontiguousarray(cube[..., b]), m, (w, h),
                                     flags=cv2.INTER_NEAREST, borderMode=cv2.BORDER_REPLICATE)
    return out


def acquire(clean: np.ndarray, wavelengths_nm, field: np.ndarray, field_centre, field_radius,
            camera: Camera, rng: np.random.Generator, scale: float = 1.0) -> np.ndarray:
    """Clean reflectance (H, W, B) -> calibrated, noisy, quantised float32 cube, 0 outside field.

    ``scale`` shrinks the misregistration with the image (shifts are in full-size pixels).
    """
    h, w, n = clean.shape
    cube = clean.reshape(-1, n) @ camera.crosstalk.T.astype(np.float32)
    cube = cube.reshape(h, w, n)
    shifts = np.round(camera.shifts * scale).astype(int)
    if np.any(shifts):
        cube = shift_bands(cube, shifts)
    yy, xx = np.ogrid[0:h, 0:w]
    r2 = ((yy - field_centre[0]) ** 2 + (xx - field_centre[1]) ** 2) / float(field_radius) ** 2
    # fall-off concentrated towards the rim of the field (r^4), `vignetting` at the edge
    cube *= (1.0 - camera.vignetting * np.minimum(r2, 1.0) ** 2).astype(np.float32)[..., None]
    # electrons, shot + read noise, 10-bit ADC, calibration against the (noise-free) white
    white_e = (FULL_WELL_E * WHITE_FILL * camera.gain * led_spectrum(wavelengths_nm)).astype(
        np.float32)
    electrons = cube * white_e
    # shot (Poisson ~ Gaussian of variance N) and read noise, independent: one Gaussian draw
    sigma = np.sqrt(np.maximum(electrons, 0.0) + np.float32(READ_NOISE_E**2))
    noisy = electrons + sigma * rng.standard_normal(electrons.shape, dtype=np.float32)
    counts = np.clip(np.round(noisy * (ADC_LEVELS / FULL_WELL_E)), 0, ADC_LEVELS)
    cube = counts / (white_e * (ADC_LEVELS / FULL_WELL_E))
    cube[~field] = 0.0
    return cube.astype(np.float32, copy=False)
