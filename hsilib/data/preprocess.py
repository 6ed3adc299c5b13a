"""Preprocessing of hyperspectral dermoscopy cubes: segmentation, lesion crops, Dice.

The original study drew one mask per lesion on a false-RGB image (the band mean repeated three
times) with SAM2 in Label Studio, saved them as ``<stem>_cropNN_mask.png``, then cropped each
lesion's bounding box scaled by 1.5 about its centre and resized it (SmallestMaxSize +
CenterCrop). Here the masks come from an automatic, headless segmentation (below) or from the
user's own mask files in the study's naming; the crops follow the study, except that a crop box
which would reach past the dermoscope's circular field is moved into it and what still lies
outside is filled with mirrored skin (:func:`crop_in_field`): otherwise the black outside marks
the large lesions, mostly melanomas.

Automatic segmentation (:func:`segment_lesions`), step by step:

1. optical density OD = mean over bands of -log10(reflectance): melanin and blood absorb, so a
   lesion has a higher OD than the skin around it;
2. the dermoscope's circular field = pixels with non-negligible signal, holes filled, eroded a
   little so that the dark rim never counts as lesion;
3. hairs (thin dark lines: thin bright lines in OD) are removed with a grey-level morphological
   opening whose disc is wider than a hair (the complement of the classic black-hat hair
   detector, Lee et al. 1997 "DullRazor");
4. a threshold by Otsu's method on the smoothed OD inside the field, at least ``min_contrast``
   above the skin's median OD;
5. binary opening/closing, hole filling, connected components: one mask per lesion; segments
   below ``min_area`` or touching the field border are dropped with a warning naming the file.

Introduced in notebook 01.
"""

from __future__ import annotations

import os
import re
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from .. import WAVELENGTHS_NM
from ..paths import atomic_dir

#: Columns of a crop folder's index.csv (the data contract shared by every notebook).
CROP_COLUMNS = ("id", "source", "class", "label", "subtype", "lesion_index", "y0", "x0", "y1",
                "x1", "mask_area", "path", "is_synthetic", "generator", "checkpoint_sha", "seed")
#: Optional index columns and their values when a writer does not give them (synthetic crops
#: have no dermoscope field): the share of the crop's pixels that lay outside the field and
#: were filled with skin, and whether the crop box reached past the field's edge at all.
OPTIONAL_COLUMNS = {"field_fill": 0.0, "touches_field_edge": False}


#: Indices of the bands at or below 510 nm: melanin absorbs most there (segmentation's OD).
BLUE_BANDS = tuple(i for i, w in enumerate(WAVELENGTHS_NM) if w <= 510)


class SegmentationWarning(UserWarning):
    """A segment was discarded (too small, touching the field border) or no lesion was found."""


# --------------------------------------------------------------------------------------------
# Views and masks
# --------------------------------------------------------------------------------------------
def false_rgb(cube: np.ndarray,
              stretch: tuple[float, float] | None = None) -> np.ndarray:
    """The study's false-RGB of an H x W x B cube: R, G and B are all the same grey image, the
    float32 mean over all bands (H x W x 3).

    ``stretch=None`` keeps the mean's own scale (reflectance). ``stretch=(lo_pct, hi_pct)``
    maps that image's ``lo_pct`` and ``hi_pct`` percentiles to 0 and 1, clipped to [0, 1]."""
    mean = np.asarray(cube, np.float32).mean(axis=-1)
    if stretch is not None:
        lo, hi = np.percentile(mean, stretch)
        mean = np.clip((mean - lo) / max(hi - lo, 1e-6), 0, 1)
    return np.repeat(mean[..., None], 3, axis=-1)


def optical_density(cube: np.ndarray, bands: Any = None) -> np.ndarray:
    """Mean over ``bands`` (all by default) of -log10(reflectance), H x W float32."""
    cube = np.asarray(cube, np.float32)
    if bands is not None:
        cube = cube[..., list(bands)]
    return -np.log10(np.clip(cube, 1e-3, None)).mean(axis=-1)


def _disc(radius: int) -> np.ndarray:
    r = max(int(radius), 1)
    yy, xx = np.mgrid[-r:r + 1, -r:r + 1]
    return (yy**2 + xx**2 <= r * r).astype(np.uint8)


def estimate_field(cube: np.ndarray, margin: int = 3, hair_px: int = 2) -> np.ndarray:
    """Inside of the dermoscope's circular field: pixels with non-negligible signal (a quarter
    of the bright level) once thin dark lines (hairs, radius <= ``hair_px``) are closed, holes
    (dark lesions) filled, largest component, eroded by ``margin`` px. Bool H x W."""
    import cv2
    from scipy import ndimage

    mean = np.asarray(cube, np.float32).mean(axis=-1)
    # a hair across the whole field would otherwise cut it in two
    mean = cv2.morphologyEx(mean, cv2.MORPH_CLOSE, _disc(hair_px))
    bright = np.percentile(mean, 95)
    field = ndimage.binary_fill_holes(mean > 0.25 * bright)
    lab, n = ndimage.label(field)
    if n > 1:
        sizes = np.bincount(lab.ravel())[1:]
        field = lab == (1 + int(sizes.argmax()))
    if margin > 0:
        field = cv2.erode(field.astype(np.uint8), _disc(margin)).astype(bool)
    return field


def segment_lesions(cube: np.ndarray, *, min_area: int, field: np.ndarray | None = None,
                    name: str = "<cube>", hair_px: int = 2, min_contrast: float = 0.05,
                    k_sigma: float = 2.5, bands: Any = BLUE_BANDS) -> list[np.ndarray]:
    """Automatic lesion masks of one cube: a list of bool H x W, largest lesion first.

    ``min_area``: smaller segments are dropped (pixels). ``field``: the inside of the
    dermoscope field (estimated when None). ``hair_px``: radius of the hair-removing opening.
    Thresholds on the smoothed OD, with hysteresis (Canny 1986): a lesion is a region above
    the *low* threshold, skin level + max(``min_contrast``, ``k_sigma`` x the skin's spread),
    that holds pixels above the *high* one (Otsu's, at least the low one): faint lesion parts
    join dark cores, faint skin texture alone does not. ``bands``: band indices for the OD;
    by default the blue bands (465-509 nm), where melanin's contrast with skin is highest
    (on the stand-in this lifts the mean Dice by ~0.04 over all 16 bands). Dropped segments
    and images without a lesion raise a :class:`SegmentationWarning` that names ``name``.
    """
    import cv2
    from scipy import ndimage

    size = min(cube.shape[:2])
    field = (estimate_field(cube, max(2, round(0.006 * size)), hair_px) if field is None
             else np.asarray(field, bool))
    if field.sum() < min_area:
        warnings.warn(f"{name}: the dermoscope field is (almost) empty", SegmentationWarning,
                      stacklevel=2)
        return []
    od = optical_density(cube, bands)
    od = np.where(field, od, np.median(od[field])).astype(np.float32)  # the rim is not lesion
    od = cv2.morphologyEx(od, cv2.MORPH_OPEN, _disc(hair_px))  # hairs are thinner than the disc
    od = cv2.GaussianBlur(od, (0, 0), max(0.7, 0.01 * size))
    low = _skin_level(od[field], min_contrast, k_sigma)
    high = max(otsu_threshold(od[field]), low)
    lab, _ = ndimage.label((od > low) & field)
    mask = np.isin(lab, np.unique(lab[(od > high) & field & (lab > 0)]))
    mask = cv2.morphologyEx(mask.astype(np.uint8), cv2.MORPH_OPEN, _disc(2))
    mask = cv2.morphologyEx(mask, cv2.MORPH_CLOSE, _disc(max(2, round(0.015 * size))))
    mask = ndimage.binary_fill_holes(mask.astype(bool)) & field
    return _components(mask, field, min_area, name)


def _skin_level(values: np.ndarray, min_contrast: float, k_sigma: float) -> float:
    """Low threshold: the skin's OD (the histogram's mode: skin is the largest, most uniform
    part of the field) plus max(min_contrast, k_sigma x its spread), the spread measured on
    the lower side of the mode where no lesion pixel lies (a robust, MAD-style estimate)."""
    hist, edges = np.histogram(values, bins=128)
    hist = np.convolve(hist, np.ones(5) / 5, mode="same")
    mode = (edges[int(hist.argmax())] + edges[int(hist.argmax()) + 1]) / 2
    below = values[values <= mode]
    sigma = 1.4826 * np.median(mode - below) if len(below) else 0.0
    return float(mode + max(min_contrast, k_sigma * sigma))


def otsu_threshold(values: np.ndarray, bins: int = 256) -> float:
    """Otsu's threshold (Otsu 1979) of a 1-D sample: the centre of the histogram bin (``bins``
    equal bins over the sample's range) that maximises the between-class variance."""
    hist, edges = np.histogram(values, bins=bins)
    centres = (edges[:-1] + edges[1:]) / 2
    w0 = np.cumsum(hist)
    w1 = w0[-1] - w0
    s0 = np.cumsum(hist * centres)
    m0 = s0 / np.maximum(w0, 1)
    m1 = (s0[-1] - s0) / np.maximum(w1, 1)
    between = w0 * w1 * (m0 - m1) ** 2
    return float(centres[int(np.argmax(between[:-1]))])


def _components(mask: np.ndarray, field: np.ndarray, min_area: int,
                name: str) -> list[np.ndarray]:
    import cv2
    from scipy import ndimage

    lab, n = ndimage.label(mask)
    if n == 0:
        warnings.warn(f"{name}: no lesion found", SegmentationWarning, stacklevel=3)
        return []
    areas = np.bincount(lab.ravel(), minlength=n + 1)
    # a segment touches the border if it reaches the pixels just outside the field
    rim = cv2.dilate((~field).astype(np.uint8), _disc(1)).astype(bool)
    rim[[0, -1], :] = True
    rim[:, [0, -1]] = True
    touching = set(np.unique(lab[rim & mask]).tolist()) - {0}
    keep, small, border = [], [], []
    for k in np.argsort(-areas[1:]) + 1:
        if k in touching:
            border.append(int(areas[k]))
        elif areas[k] < min_area:
            small.append(int(areas[k]))
        else:
            keep.append(lab == k)
    # specks (noise, the vignetted rim) are not worth a word; lesion-sized segments are
    noted = [s for s in small if s >= min_area / 10]
    border = [s for s in border if s >= min_area]
    if noted or border:
        warnings.warn(f"{name}: dropped {len(noted)} segment(s) below min_area={min_area} px "
                      f"(areas {noted}) and {len(border)} touching the field border "
                      f"(areas {border})", SegmentationWarning, stacklevel=3)
    if not keep:
        warnings.warn(f"{name}: no lesion left after filtering", SegmentationWarning,
                      stacklevel=3)
    return keep


MASK_RE = r"^{stem}_crop(\d+)_mask\.png$"


def load_user_masks(folder: str | os.PathLike, stem: str,
                    shape: tuple[int, int] | None = None) -> list[np.ndarray]:
    """Masks ``<folder>/<stem>_cropNN_mask.png`` (the study's naming), in NN order, as bool.

    Non-zero pixels are lesion. An empty mask is skipped with a warning naming the file; a
    mask of the wrong ``shape`` (H, W) or an unreadable file raises ValueError naming it.
    """
    import cv2

    folder = Path(folder)
    pattern = re.compile(MASK_RE.format(stem=re.escape(stem)))
    found = sorted((int(m.group(1)), p) for p in folder.glob(f"{stem}_crop*_mask.png")
                   if (m := pattern.match(p.name)))
    masks = []
    for _, path in found:
        img = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
        if img is None:
            raise ValueError(f"{path}: unreadable mask image")
        mask = (img if img.ndim == 2 else img.max(axis=-1)) > 0
        if shape is not None and mask.shape != tuple(shape):
            raise ValueError(f"{path}: mask is {mask.shape}, the cube is {tuple(shape)}")
        if not mask.any():
            warnings.warn(f"{path}: empty mask, skipped", SegmentationWarning, stacklevel=2)
            continue
        masks.append(mask)
    return masks


def save_user_masks(folder: str | os.PathLike, stem: str, masks: list[np.ndarray]) -> list[Path]:
    """Write masks as ``<stem>_cropNN_mask.png`` (0/255, NN from 01), atomically each."""
    import cv2

    from ..paths import atomic_path

    out = []
    for k, mask in enumerate(masks, start=1):
        target = Path(folder) / f"{stem}_crop{k:02d}_mask.png"
        with atomic_path(target) as tmp:
            if not cv2.imwrite(str(tmp), np.asarray(mask, np.uint8) * 255):
                raise OSError(f"{target}: could not write the mask")
        out.append(target)
    return out


# --------------------------------------------------------------------------------------------
# Crops
# --------------------------------------------------------------------------------------------
def crop_box(mask: np.ndarray, scale: float = 1.5) -> tuple[int, int, int, int]:
    """Bounding box (y0, x0, y1, x1; half-open) of ``mask`` scaled by ``scale`` about its
    centre, rounded outwards and clipped to the image."""
    ys, xs = np.nonzero(mask)
    if len(ys) == 0:
        raise ValueError("crop_box: the mask is empty")
    y0, y1, x0, x1 = ys.min(), ys.max() + 1, xs.min(), xs.max() + 1
    cy, cx = (y0 + y1) / 2, (x0 + x1) / 2
    hh, hw = (y1 - y0) * scale / 2, (x1 - x0) * scale / 2
    h, w = mask.shape[:2]
    return (max(0, int(np.floor(cy - hh))), max(0, int(np.floor(cx - hw))),
            min(h, int(np.ceil(cy + hh))), min(w, int(np.ceil(cx + hw))))


def fit_field_circle(field: np.ndarray, tol_px: float = 1.5,
                     min_points: int = 12) -> tuple[tuple[float, float], float] | None:
    """Centre (y, x) and radius (px) of the dermoscope's circular field, fitted to the edge of
    the bool ``field`` mask (e.g. :func:`estimate_field` with ``margin=0``).

    Edge pixels are field pixels with a 4-neighbour outside the field, the image border left
    out (a field clipped by the image has no edge there). The circle is the algebraic
    least-squares fit (Kasa 1976), refitted three times without the edge pixels that lie more
    than ``tol_px`` inside the circle: a dark lesion that reaches the rim carves a notch into the
    thresholded field, and the notch is no part of the dermoscope's circle. None when fewer than
    ``min_points`` edge pixels remain (the field fills the image: nothing lies outside it).
    """
    f = np.asarray(field, bool)
    if f.ndim != 2:
        raise ValueError(f"fit_field_circle: field must be H x W, got shape {f.shape}")
    pad = np.pad(f, 1, mode="edge")  # the image border is not an edge of the field
    outside_nb = ~(pad[:-2, 1:-1] & pad[2:, 1:-1] & pad[1:-1, :-2] & pad[1:-1, 2:])
    ys, xs = np.nonzero(f & outside_nb)
    if len(ys) < min_points:
        return None
    y, x = ys.astype(np.float64), xs.astype(np.float64)
    keep = np.ones(len(y), bool)
    for _ in range(4):
        if keep.sum() < min_points:
            return None
        a = np.stack([y[keep], x[keep], np.ones(keep.sum())], axis=1)
        sol, *_ = np.linalg.lstsq(a, y[keep] ** 2 + x[keep] ** 2, rcond=None)
        cy, cx = sol[0] / 2, sol[1] / 2
        r = float(np.sqrt(max(sol[2] + cy**2 + cx**2, 0.0)))
        keep = np.hypot(y - cy, x - cx) >= r - tol_px
    # edge pixels are the outermost field pixels: the circle runs half a pixel beyond them
    return (float(cy), float(cx)), r + 0.5


def inside_circle(shape: tuple[int, int], centre: tuple[float, float], radius: float,
                  rim_px: float = 1.0) -> np.ndarray:
    """Bool H x W: pixels whose centre lies at least ``rim_px`` inside the circle (the rim's
    partly lit pixels count as outside)."""
    yy, xx = np.ogrid[0:shape[0], 0:shape[1]]
    return np.hypot(yy - centre[0], xx - centre[1]) <= radius - rim_px


def field_crop_box(mask: np.ndarray, inside: np.ndarray, centre: tuple[float, float],
                   scale: float = 1.5) -> tuple[int, int, int, int]:
    """Crop box (y0, x0, y1, x1; half-open) of ``mask``, kept inside the field where it can be.

    Starts from the lesion's bounding box scaled by ``scale`` about its centre (the study's
    :func:`crop_box`, but of full size: where it would leave the image it is moved back in
    instead of being cut). If that box holds pixels outside the field (``inside`` False), it is
    moved in steps of one pixel towards the field ``centre``, each coordinate kept inside the
    image and such that the box still holds the lesion's whole bounding box, and the first
    position with the fewest outside pixels along that path is taken: a box that fits into the
    field ends up inside it, a bigger one as far inside as it can go.
    """
    ys, xs = np.nonzero(mask)
    if len(ys) == 0:
        raise ValueError("field_crop_box: the mask is empty")
    h, w = mask.shape[:2]
    ly0, ly1, lx0, lx1 = int(ys.min()), int(ys.max()) + 1, int(xs.min()), int(xs.max()) + 1
    cy, cx = (ly0 + ly1) / 2, (lx0 + lx1) / 2
    hh, hw = (ly1 - ly0) * max(scale, 1.0) / 2, (lx1 - lx0) * max(scale, 1.0) / 2
    uy0, ux0 = int(np.floor(cy - hh)), int(np.floor(cx - hw))  # the study's box, unclipped
    bh, bw = min(h, int(np.ceil(cy + hh)) - uy0), min(w, int(np.ceil(cx + hw)) - ux0)
    # allowed top-left corners: inside the image, the lesion's bounding box within the box
    y_lo, y_hi = max(0, ly1 - bh), min(h - bh, ly0)
    x_lo, x_hi = max(0, lx1 - bw), min(w - bw, lx0)
    start = np.array([np.clip(uy0, y_lo, y_hi), np.clip(ux0, x_lo, x_hi)], np.float64)
    out = np.pad(np.cumsum(np.cumsum(~np.asarray(inside, bool), 0), 1), ((1, 0), (1, 0)))

    def outside(y0: int, x0: int) -> int:  # outside pixels of a box, from the summed table
        return int(out[y0 + bh, x0 + bw] - out[y0, x0 + bw] - out[y0 + bh, x0] + out[y0, x0])

    y0, x0 = int(start[0]), int(start[1])
    if outside(y0, x0) > 0:
        step = np.array(centre, np.float64) - (start + [bh / 2, bw / 2])
        n = int(np.ceil(np.abs(step).max()))
        best = (outside(y0, x0), y0, x0)
        for t in range(1, n + 1):
            yt = int(np.clip(round(start[0] + step[0] * t / n), y_lo, y_hi))
            xt = int(np.clip(round(start[1] + step[1] * t / n), x_lo, x_hi))
            count = outside(yt, xt)
            if count < best[0]:
                best = (count, yt, xt)
            if count == 0:
                break
        _, y0, x0 = best
    return y0, x0, y0 + bh, x0 + bw


def skin_spectrum(cube: np.ndarray, inside: np.ndarray, lesions: np.ndarray) -> np.ndarray:
    """Median spectrum (B) of the field's skin: pixels ``inside`` the field and off ``lesions``
    (all of the image's lesions, grown a little by the caller); the whole field if none."""
    cube = np.asarray(cube, np.float32)
    sel = np.asarray(inside, bool) & ~np.asarray(lesions, bool)
    if not sel.any():
        sel = np.asarray(inside, bool)
    if not sel.any():
        raise ValueError("skin_spectrum: the field is empty")
    return np.median(cube[sel], axis=0).astype(np.float32)


def fill_outside_field(cube: np.ndarray, box: tuple[int, int, int, int], inside: np.ndarray,
                       centre: tuple[float, float], radius: float, lesions: np.ndarray,
                       skin: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The ``box`` of ``cube`` with its pixels outside the field replaced by skin.

    A pixel outside the field (``inside`` False) at distance d > ``radius`` from the field's
    ``centre`` takes the spectrum of its mirror image in the field's circle, the pixel on the
    same ray at distance 2 ``radius`` - d (nearest pixel): skin continues across the edge as
    if the field were larger. Where that mirror pixel is itself outside the field, on a lesion
    (``lesions``, bool H x W) or outside the image, the pixel takes ``skin`` (the field's median
    skin spectrum, :func:`skin_spectrum`). Returns (float32 box cube, bool mask of the filled
    pixels).
    """
    y0, x0, y1, x1 = box
    cube = np.asarray(cube, np.float32)
    h, w = cube.shape[:2]
    sub = cube[y0:y1, x0:x1].copy()
    filled = ~np.asarray(inside, bool)[y0:y1, x0:x1]
    if not filled.any():
        return sub, filled
    fy, fx = np.nonzero(filled)
    gy, gx = fy + y0 - centre[0], fx + x0 - centre[1]
    d = np.maximum(np.hypot(gy, gx), 1e-9)
    k = (2 * radius - d) / d
    my = np.rint(centre[0] + gy * k).astype(np.int64)
    mx = np.rint(centre[1] + gx * k).astype(np.int64)
    ok = (k > 0) & (my >= 0) & (my < h) & (mx >= 0) & (mx < w)
    myc, mxc = np.clip(my, 0, h - 1), np.clip(mx, 0, w - 1)
    ok &= np.asarray(inside, bool)[myc, mxc] & ~np.asarray(lesions, bool)[myc, mxc]
    values = np.where(ok[:, None], cube[myc, mxc], np.asarray(skin, np.float32)[None])
    sub[fy, fx] = values
    return sub, filled


def crop_and_resize(cube: np.ndarray, mask: np.ndarray, box: tuple[int, int, int, int],
                    size: int) -> tuple[np.ndarray, np.ndarray]:
    """Cut ``box`` from cube and mask, then SmallestMaxSize(size) + CenterCrop(size).

    Resizing works band by band (area averaging when shrinking, bilinear when growing), so
    each output spectrum is a spatial average of input spectra, never a mix of bands. The mask
    uses nearest neighbour. Returns (float32 size x size x B, uint8 size x size).
    """
    import albumentations as A
    import cv2

    y0, x0, y1, x1 = box
    sub, sub_mask = cube[y0:y1, x0:x1], np.asarray(mask[y0:y1, x0:x1], np.uint8)
    interp = cv2.INTER_AREA if min(sub.shape[:2]) > size else cv2.INTER_LINEAR
    resize = A.Compose([A.SmallestMaxSize(max_size=size, interpolation=interp,
                                          mask_interpolation=cv2.INTER_NEAREST),
                        A.CenterCrop(size, size)])
    out = resize(image=np.ascontiguousarray(sub, np.float32), mask=sub_mask)
    return out["image"].astype(np.float32), out["mask"].astype(np.uint8)


def field_geometry(cube: np.ndarray, rim_px: float = 1.0
                   ) -> tuple[np.ndarray, tuple[float, float], float]:
    """(inside, centre, radius) of a cube's dermoscope field: the circle of
    :func:`fit_field_circle` fitted to :func:`estimate_field` (no margin), ``inside`` =
    :func:`inside_circle`. A field that fills the image has no edge: then everything is inside,
    the centre is the image's and the radius its half-diagonal."""
    h, w = cube.shape[:2]
    circle = fit_field_circle(estimate_field(cube, margin=0))
    if circle is None:
        return np.ones((h, w), bool), ((h - 1) / 2, (w - 1) / 2), float(np.hypot(h, w) / 2)
    centre, radius = circle
    return inside_circle((h, w), centre, radius, rim_px), centre, radius


def crop_in_field(cube: np.ndarray, masks: list[np.ndarray], size: int, scale: float = 1.5,
                  grow_px: int = 3) -> list[dict[str, Any]]:
    """Crops of every lesion of one cube that stay inside the dermoscope field.

    For each mask: the box of :func:`field_crop_box`, its pixels outside the field filled by
    :func:`fill_outside_field` (mirror images must avoid every lesion of the image grown by
    ``grow_px``), then :func:`crop_and_resize`. Returns one dict per mask: ``cube``, ``mask``
    (the resized crop), ``box``, ``field_fill`` (share of the box's pixels that were filled)
    and ``touches_field_edge`` (the box reached past the field's edge).
    """
    import cv2

    if not masks:
        return []
    inside, centre, radius = field_geometry(cube)
    lesions = np.any(np.asarray(masks, bool), axis=0)
    if grow_px > 0:
        lesions = cv2.dilate(lesions.astype(np.uint8), _disc(grow_px)).astype(bool)
    skin = skin_spectrum(cube, inside, lesions)
    out = []
    for mask in masks:
        box = field_crop_box(mask, inside, centre, scale)
        sub, filled = fill_outside_field(cube, box, inside, centre, radius, lesions, skin)
        y0, x0, y1, x1 = box
        crop, crop_mask = crop_and_resize(sub, np.asarray(mask)[y0:y1, x0:x1],
                                          (0, 0, y1 - y0, x1 - x0), size)
        out.append({"cube": crop, "mask": crop_mask, "box": box,
                    "field_fill": float(filled.mean()), "touches_field_edge": bool(filled.any())})
    return out


def _crops_of_one(row: dict[str, Any], out_dir: str, size: int, scale: float, min_area: int,
                  masks_dir: str | None) -> tuple[list[dict[str, Any]], list[str], float]:
    """Worker: crops of one source cube, written into ``out_dir``; (index rows, warnings, the
    cube's scale)."""
    from .hsi_dermoscopy import cube_scale, load_cube

    cube = load_cube(row["path"])
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        if masks_dir is not None:
            masks = load_user_masks(masks_dir, row["stem"], cube.shape[:2])
            if not masks:
                warnings.warn(f"{row['path']}: no mask in {masks_dir}", SegmentationWarning,
                              stacklevel=1)
        else:
            masks = segment_lesions(cube, min_area=min_area, name=str(row["path"]))
    save_user_masks(Path(out_dir) / "masks", row["stem"], masks)
    rows = []
    for k, (mask, crop) in enumerate(zip(masks, crop_in_field(cube, masks, size, scale),
                                         strict=True), start=1):
        ident = f"{row['stem']}_crop{k:02d}"
        np.savez(Path(out_dir) / f"{ident}.npz", cube=crop["cube"], mask=crop["mask"])
        box = crop["box"]
        rows.append({"id": ident, "source": row["stem"], "class": row["class"],
                     "label": row["label"], "subtype": row["subtype"], "lesion_index": k,
                     "y0": box[0], "x0": box[1], "y1": box[2], "x1": box[3],
                     "mask_area": int(mask.sum()), "path": f"{ident}.npz",
                     "is_synthetic": False, "generator": "real", "checkpoint_sha": "none",
                     "seed": -1, "field_fill": round(crop["field_fill"], 6),
                     "touches_field_edge": crop["touches_field_edge"]})
    return rows, [str(w.message) for w in caught], cube_scale(cube)


def _sha(path: Path) -> str:
    import hashlib

    return hashlib.sha256(path.read_bytes()).hexdigest()


#: Record, in an editable mask folder, of the files the project wrote there and their hashes.
MASK_RECORD = ".hsilib-masks.json"


def sync_editable_masks(src: str | os.PathLike, dest: str | os.PathLike, *,
                        overwrite: bool = False) -> list[str]:
    """Copy the masks of ``src`` into the editable folder ``dest`` without losing an edit.

    A file of ``dest`` that the project wrote and nobody changed since (its hash is in
    ``dest/.hsilib-masks.json``) is replaced, or removed when ``src`` no longer has it; a file
    that was edited (or that the project never wrote) is kept unless ``overwrite`` is True.
    Returns a note for every kept file.
    """
    import json
    import shutil

    from ..paths import atomic_path

    src, dest = Path(src), Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    record_path = dest / MASK_RECORD
    try:
        record = json.loads(record_path.read_text()) if record_path.is_file() else {}
    except ValueError:
        record = {}
    new_files = {p.name: p for p in sorted(src.glob("*_mask.png"))}
    kept, out = [], {}

    def untouched(path: Path) -> bool:
        return record.get(path.name) == _sha(path)

    for name, path in new_files.items():
        target = dest / name
        if target.exists() and not overwrite and not untouched(target):
            kept.append(f"{target}: edited (or not written by this project), kept; pass "
                        "overwrite_masks=True to replace it with the new automatic mask")
            continue
        with atomic_path(target) as tmp:
            shutil.copyfile(path, tmp)
        out[name] = _sha(target)
    for name in set(record) - set(new_files):
        target = dest / name
        if target.is_file() and untouched(target):
            target.unlink()
    with atomic_path(record_path) as tmp:
        tmp.write_text(json.dumps(out, indent=1, sort_keys=True) + "\n")
    return kept


def make_crops(dataset: Any, out_dir: str | os.PathLike, *, size: int, scale: float = 1.5,
               min_area: int, masks_dir: str | os.PathLike | None = None, workers: int = 1,
               progress: bool = True, edit_masks_dir: str | os.PathLike | None = None,
               overwrite_masks: bool = False) -> pd.DataFrame:
    """Segment (or read user masks from ``masks_dir``) and crop every cube of ``dataset``, each
    crop kept inside the dermoscope field (:func:`crop_in_field`).

    Writes the crop folder of the data contract: ``index.csv`` (:data:`CROP_COLUMNS` and
    :data:`OPTIONAL_COLUMNS`), one
    ``<id>.npz`` per crop (``cube`` float32 size x size x B raw reflectance, ``mask`` uint8),
    and ``masks/<stem>_cropNN_mask.png``, the full-size masks the crops were cut with.
    Everything goes into a temporary folder that replaces ``out_dir`` only when complete, and
    only when ``out_dir`` is a crop folder the project wrote (:func:`hsilib.paths.atomic_dir`);
    ``out_dir`` may not overlap the data set's folder, ``masks_dir`` or ``edit_masks_dir``.

    ``edit_masks_dir`` (optional; notebook 01 uses ``artifacts/masks``): a folder outside
    ``out_dir`` that receives a copy of the masks to edit by hand (then pass it as ``masks_dir``
    to redo the crops). A mask edited there is never overwritten unless ``overwrite_masks``
    (:func:`sync_editable_masks`).

    Cubes whose scales differ by orders of magnitude raise a
    :class:`~hsilib.data.hsi_dermoscopy.DataScaleWarning` naming them. Errors, raised before
    anything is replaced: a ``masks_dir`` that does not exist or holds no
    mask of any cube of ``dataset``, and a run that makes no crop at all. Warnings of all files
    are gathered into one :class:`SegmentationWarning`. Returns the index (also in
    ``.attrs["warnings"]``).
    """
    from ..paths import check_output_dir
    from ..runtime import process_pool
    from ..runtime import progress as bar

    root = getattr(dataset, "root", None)
    check_output_dir(out_dir, (root, masks_dir, edit_masks_dir))
    if masks_dir is not None:
        mdir = Path(masks_dir)
        if not mdir.is_dir():
            raise FileNotFoundError(f"masks_dir {mdir} does not exist (or is not a folder)")
        stems = set(dataset.index["stem"].astype(str))
        have = {m.group(1) for p in mdir.glob("*_crop*_mask.png")
                if (m := re.match(r"(.+)_crop\d+_mask\.png$", p.name))}
        if not stems & have:
            raise ValueError(f"masks_dir {mdir} holds no mask <stem>_cropNN_mask.png of any "
                             f"of the {len(stems)} cubes (e.g. {sorted(stems)[:3]}); check "
                             "the folder name")
    jobs = [dict(r) for _, r in dataset.index.iterrows()]
    rows, notes = [], []
    with atomic_dir(out_dir, (root, masks_dir, edit_masks_dir)) as tmp:
        args = (str(tmp), size, scale, min_area, None if masks_dir is None else str(masks_dir))
        (tmp / "masks").mkdir()
        if workers > 1:
            with process_pool(workers) as pool:
                results = pool.map(_crops_of_one, jobs, *[[a] * len(jobs) for a in args])
                results = list(bar(results, total=len(jobs), desc="crops", disable=not progress))
        else:
            results = [_crops_of_one(j, *args)
                       for j in bar(jobs, total=len(jobs), desc="crops", disable=not progress)]
        scales = {}
        for job, (r, w, scale) in zip(jobs, results, strict=True):
            rows += r
            notes += w
            scales[Path(job["path"]).name] = scale
        if not rows:
            raise ValueError(f"no lesion crop from the {len(jobs)} cubes of {root} "
                             f"(masks_dir={masks_dir}, min_area={min_area}); {out_dir} is left "
                             "as it was. Notes: " + "; ".join(notes[:5]))
        index = pd.DataFrame(rows, columns=[*CROP_COLUMNS, *OPTIONAL_COLUMNS])
        index.to_csv(tmp / "index.csv", index=False)
    from .hsi_dermoscopy import check_scales

    check_scales(scales)  # raw counts beside reflectance: a warning naming the files
    if edit_masks_dir is not None and (masks_dir is None or Path(masks_dir).resolve()
                                       != Path(edit_masks_dir).resolve()):
        notes += sync_editable_masks(Path(out_dir) / "masks", edit_masks_dir,
                                     overwrite=overwrite_masks)
    if notes:  # one warning for the whole set, the first notes in full
        more = f"\n... and {len(notes) - 20} more (index.attrs['warnings'])"
        more = more if len(notes) > 20 else ""
        warnings.warn(f"{len(notes)} segmentation note(s):\n" + "\n".join(notes[:20]) + more,
                      SegmentationWarning, stacklevel=2)
    index.attrs["warnings"] = notes
    return index


# --------------------------------------------------------------------------------------------
# Segmentation quality against the stand-in's true masks
# --------------------------------------------------------------------------------------------
def dice(a: np.ndarray, b: np.ndarray) -> float:
    """Dice coefficient 2|a & b| / (|a| + |b|) of two boolean masks (1.0 when both empty)."""
    a, b = np.asarray(a, bool), np.asarray(b, bool)
    total = a.sum() + b.sum()
    return 1.0 if total == 0 else float(2 * (a & b).sum() / total)


def segmentation_report(predicted: Mapping[str, list[np.ndarray]] | str | os.PathLike,
                        truth_dir: str | os.PathLike) -> pd.DataFrame:
    """Dice of predicted lesion masks against the stand-in's true ones, one row per true lesion.

    ``predicted``: {stem: [bool H x W, ...]} or a folder of ``<stem>_cropNN_mask.png`` (e.g.
    ``crops/masks``). Each true lesion (``truth/<stem>.npz`` ``labels`` == k) is matched to the
    predicted mask that overlaps it most; a missed lesion scores 0. Columns: stem,
    lesion_index, true_area, pred_index (-1 when missed), dice, n_pred (masks of that image).
    """
    truth_dir = Path(truth_dir)
    if not isinstance(predicted, Mapping):
        folder = Path(predicted)
        stems = sorted({re.sub(r"_crop\d+_mask$", "", p.stem)
                        for p in folder.glob("*_crop*_mask.png")})
        predicted = {s: load_user_masks(folder, s) for s in stems}
        # images whose every segment was dropped still count (their lesions were missed)
        predicted.update({p.stem: [] for p in truth_dir.glob("*.npz")
                          if p.stem not in predicted})
    rows = []
    for stem, masks in predicted.items():
        path = truth_dir / f"{stem}.npz"
        if not path.is_file():
            raise FileNotFoundError(f"{path}: no true mask for {stem}")
        with np.load(path) as z:
            labels = z["labels"]
        for k in np.unique(labels[labels > 0]):
            true = labels == k
            overlaps = [int((m & true).sum()) for m in masks]
            best = int(np.argmax(overlaps)) if overlaps and max(overlaps) > 0 else -1
            rows.append({"stem": stem, "lesion_index": int(k), "true_area": int(true.sum()),
                         "pred_index": best + 1 if best >= 0 else -1,
                         "dice": dice(masks[best], true) if best >= 0 else 0.0,
                         "n_pred": len(masks)})
    return pd.DataFrame(rows, columns=["stem", "lesion_index", "true_area", "pred_index",
                                       "dice", "n_pred"])


__all__ = ["CROP_COLUMNS", "OPTIONAL_COLUMNS", "SegmentationWarning", "false_rgb",
           "optical_density", "estimate_field", "segment_lesions", "load_user_masks",
           "save_user_masks", "crop_box", "fit_field_circle", "inside_circle", "field_geometry",
           "field_crop_box", "skin_spectrum", "fill_outside_field", "crop_and_resize",
           "crop_in_field", "make_crops", "dice", "segmentation_report"]
