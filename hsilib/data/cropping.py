"""Lesion crops that stay inside the dermoscope's circular field.

The study cropped each lesion's bounding box scaled by 1.5 about its centre and resized it
(SmallestMaxSize + CenterCrop). A box that reaches past the circular field takes in the black
outside, which then marks the large lesions, mostly melanomas (check 1 of
``docs/protocol.md``). :func:`crop_in_field` therefore moves such a box into the field
(:func:`field_crop_box`) and fills what still lies outside with the mirror image of the skin
inside (:func:`fill_outside_field`), recording how much it filled.

Introduced in notebook 01.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .segmentation import disc, estimate_field


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
                  grow_px: int = 3, paired: np.ndarray | None = None,
                  boxes: list[tuple[int, int, int, int]] | None = None) -> list[dict[str, Any]]:
    """Crops of every lesion of one cube that stay inside the dermoscope field.

    For each mask: the box of :func:`field_crop_box`, its pixels outside the field filled by
    :func:`fill_outside_field` (mirror images must avoid every lesion of the image grown by
    ``grow_px``), then :func:`crop_and_resize`. Returns one dict per mask: ``cube``, ``mask``
    (the resized crop), ``box``, ``field_fill`` (share of the box's pixels that were filled)
    and ``touches_field_edge`` (the box reached past the field's edge). ``paired``: an image
    of the same scene on the cube's pixel grid (H x W x C, e.g. a camera photograph), cropped
    exactly as the cube (same box, field, mirror fill with its own median skin, resizing)
    into ``paired`` of each dict. ``boxes``: one box per mask to use instead of computing it
    (e.g. the boxes of a crop folder's index, to cut a paired image as those crops were cut).
    """
    import cv2

    if not masks:
        return []
    inside, centre, radius = field_geometry(cube)
    lesions = np.any(np.asarray(masks, bool), axis=0)
    if grow_px > 0:
        lesions = cv2.dilate(lesions.astype(np.uint8), disc(grow_px)).astype(bool)
    images = {"cube": cube} if paired is None else {"cube": cube, "paired": paired}
    skins = {k: skin_spectrum(v, inside, lesions) for k, v in images.items()}
    out = []
    if boxes is not None and len(boxes) != len(masks):
        raise ValueError(f"crop_in_field: {len(boxes)} boxes for {len(masks)} masks")
    for i, mask in enumerate(masks):
        box = (field_crop_box(mask, inside, centre, scale) if boxes is None else
               tuple(int(v) for v in boxes[i]))
        y0, x0, y1, x1 = box
        item = {"box": box}
        for k, image in images.items():
            sub, filled = fill_outside_field(image, box, inside, centre, radius, lesions,
                                             skins[k])
            item[k], crop_mask = crop_and_resize(sub, np.asarray(mask)[y0:y1, x0:x1],
                                                 (0, 0, y1 - y0, x1 - x0), size)
            if k == "cube":
                item |= {"mask": crop_mask, "field_fill": float(filled.mean()),
                         "touches_field_edge": bool(filled.any())}
        out.append(item)
    return out
