"""A scene seen through the optics: its reflectance, the camera's cube and an sRGB photo.

:func:`scene_reflectance` turns the chromophore maps of a :class:`hsilib.standin.scene.Scene`
into noise-free reflectance with :func:`hsilib.standin.optics.skin_reflectance` (plus the haze
layer, hairs and highlights); :func:`render_cube` takes it at the 16 band centres through the
camera model (:mod:`hsilib.standin.acquisition`); :func:`render_rgb` takes it over 380-720 nm
to sRGB with CIE 1931 + D65 (:mod:`hsilib.standin.rendering`); :func:`camera_rgb` photographs it
with an RGB dermoscopy camera (exposure, white balance, blur, noise around that rendering), the
camera of the unpaired RGB set and of each cube's paired camera image.
"""

from __future__ import annotations

import cv2
import numpy as np

from .. import WAVELENGTHS_NM
from . import morphology as mo
from .acquisition import acquire
from .optics import skin_reflectance
from .rendering import spectra_to_srgb, to_uint8
from .scene import BASE_SHAPE, MAP_NAMES, Scene

RGB_WAVELENGTHS_NM = np.arange(380.0, 721.0, 10.0)


def _compose(maps: dict, haze, hair, hair_mel, flat, wavelengths_nm) -> np.ndarray:
    """Tissue reflectance + haze layer + hairs + flat highlights -> (..., n_wavelengths)."""
    tissue = skin_reflectance(wavelengths_nm, **{k: maps[k] for k in MAP_NAMES})
    # A thin, strongly scattering top layer of reflectance h (transmission ~1 - h) over the
    # tissue, combined by adding-doubling: h + (1 - h)^2 R / (1 - h R).
    h = haze[..., None]
    r = h + (1 - h) ** 2 * tissue / (1 - h * tissue)
    hair_r = skin_reflectance(wavelengths_nm, f_mel_epi=np.float32(hair_mel),
                              blood=np.float32(0.0), sat=np.float32(0.5),
                              epi_mm=np.float32(0.07))
    a = hair[..., None]
    r = r * (1 - a) + a * hair_r
    return (r + flat[..., None]).astype(np.float32)


def scene_reflectance(scene: Scene, wavelengths_nm=WAVELENGTHS_NM, *,
                      downsample: int = 1) -> np.ndarray:
    """Noise-free reflectance of the scene (H, W, n) inside the field (0 outside)."""
    maps, haze, hair, flat, fieldmask = (scene.maps, scene.haze, scene.hair, scene.flat,
                                         scene.field)
    if downsample > 1:
        h, w = scene.shape
        size = (max(w // downsample, 1), max(h // downsample, 1))
        rs = (lambda a: cv2.resize(a, size, interpolation=cv2.INTER_AREA))  # noqa: E731
        maps = {k: rs(v) for k, v in maps.items()}
        haze, hair, flat = rs(scene.haze), rs(scene.hair), rs(scene.flat)
        fieldmask = rs(scene.field.astype(np.float32)) > 0.5
    out = np.zeros(fieldmask.shape + (len(wavelengths_nm),), np.float32)
    sel = {k: v[fieldmask] for k, v in maps.items()}
    out[fieldmask] = _compose(sel, haze[fieldmask], hair[fieldmask], scene.hair_mel,
                              flat[fieldmask], np.asarray(wavelengths_nm, float))
    return out


def render_cube(scene: Scene, rng: np.random.Generator, *, acquisition: bool = True,
                scale: float | None = None) -> np.ndarray:
    """The 16-band float32 cube (H, W, 16) of a scene, through the camera when ``acquisition``."""
    clean = scene_reflectance(scene, WAVELENGTHS_NM)
    if not acquisition:
        return clean
    scale = scene.shape[0] / BASE_SHAPE[0] if scale is None else scale
    return acquire(clean, WAVELENGTHS_NM, scene.field, scene.field_centre, scene.field_radius,
                   scene.camera, rng, scale=scale)


def render_rgb(scene: Scene, *, downsample: int = 2, exposure: float = 1.0) -> np.ndarray:
    """CIE 1931 2-degree + D65 sRGB (H, W, 3) uint8 of the noise-free scene over 380-720 nm.

    The dense spectra are computed ``downsample`` times smaller per side and the RGB upsampled
    (colour varies slowly compared to the cost of 35 wavelengths per pixel).
    """
    dense = scene_reflectance(scene, RGB_WAVELENGTHS_NM, downsample=downsample)
    rgb = spectra_to_srgb(dense * np.float32(exposure), RGB_WAVELENGTHS_NM).astype(np.float32)
    h, w = scene.shape
    if rgb.shape[:2] != (h, w):
        rgb = cv2.resize(rgb, (w, h), interpolation=cv2.INTER_LINEAR)
    rgb[~scene.field] = 0.0
    return to_uint8(rgb)


def camera_rgb(scene: Scene, rng: np.random.Generator, *, downsample: int = 2) -> np.ndarray:
    """The scene as an RGB dermoscopy camera takes it (H, W, 3) uint8: the CIE rendering
    (:func:`render_rgb`) under an exposure drawn from U(0.85, 1.25), a white balance of
    U(0.95, 1.05) per channel, a Gaussian blur of sigma U(0, 0.8) px and noise of SD 1.5 grey
    levels, drawn from ``rng`` in that order. The camera of the unpaired RGB set and of the
    paired camera image of every stand-in cube."""
    exposure = float(rng.uniform(0.85, 1.25))
    rgb = render_rgb(scene, downsample=downsample, exposure=exposure).astype(np.float32)
    rgb *= rng.uniform(0.95, 1.05, 3).astype(np.float32)
    rgb = mo.blur(rgb, rng.uniform(0.0, 0.8)) + rng.normal(0, 1.5, rgb.shape).astype(np.float32)
    return np.clip(np.round(rgb), 0, 255).astype(np.uint8)
