"""The scene of one stand-in image: per-pixel chromophore maps, truth labels and artefacts.

:func:`sample_scene` paints the maps (epidermal and dermal melanin, papillary depth, blood,
saturation, scattering, epidermal thickness, a white "haze") for the background skin and one
or two lesions (features from :func:`hsilib.standin.lesion.sample_lesion`, shapes and
structures from :mod:`hsilib.standin.morphology`), plus the scene's hairs, glints, gel bubbles,
circular field and camera. :func:`image_rng` gives every image its own generator.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import cv2
import numpy as np

from .. import WAVELENGTHS_NM
from . import morphology as mo
from .acquisition import Camera, circular_field
from .lesion import FEATURE_COLUMNS, count_colours, sample_lesion

CLASS_CODE = {"MM": 1, "DN": 2, "Other": 3, "rgb": 4}
BASE_SHAPE = (272, 512)  # the camera's H x W
MAP_NAMES = ("f_mel_epi", "f_mel_derm", "papillary_mm", "blood", "sat", "mus_scale", "epi_mm")
#: Probability that an image holds a second lesion.
P_TWO_LESIONS = 0.15
#: Field of view (mm): the diameter of the part of the circular field that fits into the image,
#: uniform in this range (contact dermoscopes show about 20-25 mm of skin).
FIELD_MM = (20.0, 26.0)
#: Size cap of a lesion's radius as a share of that field radius (one lesion, each of two).
#: With the 1.5x crop box (corners at ~1.06 diameters from the lesion's centre), a centred
#: lesion below half the field's diameter keeps its crop inside the field.
MAX_RADIUS_SHARE = (0.5, 0.25)
#: Sharpness k of the soft size cap (:func:`soft_cap`).
CAP_SHARPNESS = 4.0


def image_rng(seed: int, cls: str, index: int) -> np.random.Generator:
    """The generator of one image: independent of every other image and of the worker count."""
    return np.random.default_rng(np.random.SeedSequence([int(seed), CLASS_CODE[cls], int(index)]))


@dataclass
class Scene:
    """Everything needed to render one image (all maps H x W float32)."""

    maps: dict[str, np.ndarray]
    haze: np.ndarray  # flat white reflectance of a compact top layer (blue-white veil, scale)
    labels: np.ndarray  # uint8, 0 = skin, k = lesion k
    field: np.ndarray  # bool, inside the circular field
    field_centre: tuple[float, float]
    field_radius: float
    mm_per_px: float
    lesions: list[dict]
    hair: np.ndarray  # coverage in [0, 1]
    hair_mel: float  # melanin of the hair shafts (dark brown .. black)
    flat: np.ndarray  # additive flat reflectance: glints and gel bubbles
    camera: Camera | None = None
    extras: dict = field(default_factory=dict)

    @property
    def shape(self) -> tuple[int, int]:
        return self.labels.shape


def soft_cap(r: float, r_max: float, k: float = CAP_SHARPNESS) -> float:
    """Lesion radius ``r`` saturating smoothly below ``r_max``: r / (1 + (r / r_max)^k)^(1/k).

    A dermatologist frames a lesion with a margin of skin around it, so the drawn diameter
    cannot exceed a share of the field. A hard clip ``min(r, r_max)`` piled the large lesions,
    mostly melanomas, up at exactly the limit, where their crop boxes ran out of the field (a
    class cue in the black outside). The soft cap keeps the order of sizes, shrinks a lesion of
    half the cap by ~1.5 % (k = 4), one at the cap by 16 %, and reaches ``r_max`` only in the
    limit, so no size value is special.
    """
    if r_max <= 0:
        raise ValueError(f"soft_cap: r_max must be > 0, got {r_max}")
    return float(r / (1.0 + (r / r_max) ** k) ** (1.0 / k))


def _skin(shape, mm_per_px: float, rng, skin_type: float | None = None) -> dict:
    """Background skin: melanin of the skin type, texture, blood with visible vessels."""
    px = 1.0 / mm_per_px  # pixels per mm
    u = rng.random() if skin_type is None else skin_type
    # Mostly fair skin (dermoscopy cohorts), some moderate, few dark (Jacques 1998 ranges)
    f_mel = (rng.uniform(0.012, 0.045) if u < 0.75 else rng.uniform(0.045, 0.1) if u < 0.95
             else rng.uniform(0.1, 0.2))
    tex = mo.fbm(shape, 2.5 * px, rng)
    lines = mo.parallel_lines(shape, 0.35 * px * rng.uniform(0.8, 1.3), rng)
    vessels = mo.vessels(shape, int(rng.integers(0, 6)), 6 * px, max(0.08 * px, 1.0), rng)
    blood0 = rng.uniform(0.003, 0.01)
    maps = {
        "f_mel_epi": f_mel * (1 + 0.1 * tex) * (1 - 0.08 * lines),
        "f_mel_derm": np.zeros(shape, np.float32),
        "papillary_mm": np.full(shape, rng.uniform(0.15, 0.4), np.float32),
        "blood": blood0 * (1 + 0.3 * mo.smooth_noise(shape, 1.5 * px, rng)).clip(0.3)
        + rng.uniform(0.01, 0.04) * vessels,
        "sat": np.clip(rng.uniform(0.6, 0.9) + 0.03 * mo.smooth_noise(shape, 3 * px, rng), 0.4,
                       0.99),
        "mus_scale": rng.normal(1.0, 0.1) * (1 + 0.05 * mo.smooth_noise(shape, px, rng))
        * (1 + 0.06 * lines),
        "epi_mm": rng.uniform(0.06, 0.11) * (1 + 0.08 * tex),
    }
    return {k: np.maximum(v, 0).astype(np.float32) for k, v in maps.items()}


def _paint_melanocytic(maps, haze, f, w, mask, t, centre, radius, px, rng):
    """Nevus or melanoma: pigment pattern, structures and their colours inside weight ``w``."""
    shape = w.shape
    mel = f["_mel"] * (1 + 0.2 * mo.fbm(shape, 0.8 * px, rng))
    if f.get("_fried_egg"):
        mel = mel * (1 + 0.7 * np.clip(1 - t, 0, 1))
    # darker components placed asymmetrically when the lesion is atypical
    for _ in range(f["_n_dark"]):
        off = f["_asym"] * radius * 0.5
        focus = (centre[0] + rng.normal(0, off + 1), centre[1] + rng.normal(0, off + 1))
        mel = mel + rng.uniform(0.06, 0.2) * mo.patch(shape, mask, rng.uniform(0.1, 0.4),
                                                      radius * 0.35, rng, focus)
    if f["_network"] or f["atypical_network"]:
        atyp = rng.uniform(0.5, 1.0) if f["atypical_network"] else rng.uniform(0.0, 0.25)
        net = mo.pigment_network(shape, rng.uniform(0.25, 0.45) * px, atyp, rng)
        amp = rng.uniform(0.3, 0.6) * f["_mel"]
        mel = mel * (1 - 0.35 * (1 - net)) + amp * net * (0.5 + 0.5 * np.clip(t, 0, 1))
    if f["globules"]:
        mel = mel + 0.12 * mo.dots(shape, mask, int(rng.integers(8, 30)), 0.12 * px, 0.0, rng)
    if f["irregular_dots"]:
        mel = mel + 0.3 * mo.dots(shape, mask, int(rng.integers(10, 50)), 0.07 * px, 1.0, rng,
                                  periphery=1.0, t=t)
    if f["streaks"]:
        s = mo.streaks(shape, centre, radius, int(rng.integers(4, 12)), rng)
        mel = mel + 0.25 * s
        w = np.maximum(w, 0.8 * s)  # streaks reach a little beyond the body of the lesion
    if f["blotches"]:
        mel = mel + rng.uniform(0.15, 0.35) * mo.patch(shape, mask, rng.uniform(0.1, 0.3),
                                                       radius * 0.3, rng)
    skin = maps["f_mel_epi"]
    maps["f_mel_epi"] = skin * (1 - w) + np.maximum(mel, skin) * w
    # a compound/dysplastic nevus thickens the rete ridges a little
    maps["epi_mm"] = maps["epi_mm"] * (1 + 0.25 * w)
    if f["_erythema"]:
        maps["blood"] = maps["blood"] + rng.uniform(0.003, 0.015) * w * (
            1 + 0.5 * mo.smooth_noise(shape, 0.5 * px, rng)).clip(0)
    if f["blue_white_veil"]:  # confluent dermal melanin + compact orthokeratosis, focal
        focus = (centre[0] + rng.normal(0, radius * 0.3), centre[1] + rng.normal(0, radius * 0.3))
        v = mo.patch(shape, mask, rng.uniform(0.15, 0.45), radius * 0.4, rng, focus) * w
        maps["f_mel_derm"] += rng.uniform(0.02, 0.08) * v
        maps["papillary_mm"] = maps["papillary_mm"] * (1 - v) + rng.uniform(0.08, 0.3) * v
        maps["f_mel_epi"] = maps["f_mel_epi"] * (1 - 0.4 * v)
        haze += rng.uniform(0.05, 0.15) * v
    if f["regression"]:  # fibrosis: more scattering, less blood, grey peppering
        g = mo.patch(shape, mask, rng.uniform(0.1, 0.4), radius * 0.35, rng) * w
        maps["mus_scale"] = maps["mus_scale"] * (1 + rng.uniform(0.6, 1.2) * g)
        maps["blood"] = maps["blood"] * (1 - 0.6 * g)
        maps["f_mel_epi"] = maps["f_mel_epi"] * (1 - 0.6 * g) + skin * 0.6 * g
        pepper = mo.dots(shape, g > 0.3, int(rng.integers(20, 80)), 0.05 * px, 0.5, rng)
        maps["f_mel_derm"] += rng.uniform(0.02, 0.06) * np.clip(pepper, 0, 1)
        maps["papillary_mm"] = np.where(pepper > 0.1, 0.12, maps["papillary_mm"]).astype(
            np.float32)
        haze += 0.03 * g
    return w


def _paint_other(maps, haze, f, w, mask, t, centre, radius, px, rng):
    """Seborrheic keratosis, solar lentigo or intraepidermal carcinoma."""
    shape = w.shape
    kind = f["_kind"]
    skin = maps["f_mel_epi"]
    mel = f["_mel"] * (1 + 0.15 * mo.fbm(shape, 0.8 * px, rng))
    if f["fingerprint"]:
        mel = mel * (0.7 + 0.6 * mo.parallel_lines(shape, rng.uniform(0.2, 0.35) * px, rng))
    if f["cerebriform"]:
        ridges = mo.cerebriform(shape, rng.uniform(0.4, 0.8) * px, rng)
        mel = mel * (1 + 0.6 * ridges)
        haze += 0.04 * (1 - ridges) * w
    if f["comedo_openings"]:
        mel = mel + 0.4 * mo.dots(shape, mask, int(rng.integers(5, 25)), 0.1 * px, 0.6, rng)
    if f["blotches"]:
        mel = mel + 0.2 * mo.patch(shape, mask, 0.2, radius * 0.3, rng)
    if kind == "IEC" and f["irregular_dots"]:  # pigmented IEC: small brown dots
        mel = mel + 0.2 * mo.dots(shape, mask, int(rng.integers(10, 40)), 0.06 * px, 0.8, rng)
    maps["f_mel_epi"] = skin * (1 - w) + np.maximum(mel, skin) * w
    if kind == "SK":  # acanthosis and hyperkeratosis: thick epidermis, waxy haze
        maps["epi_mm"] = maps["epi_mm"] * (1 - w) + rng.uniform(0.12, 0.25) * w
        haze += rng.uniform(0.0, 0.05) * w
    if f["milia_cysts"]:
        cysts = np.clip(mo.dots(shape, mask, int(rng.integers(4, 20)), 0.1 * px, 0.5, rng), 0, 1)
        haze += rng.uniform(0.15, 0.35) * cysts
        maps["f_mel_epi"] = maps["f_mel_epi"] * (1 - 0.7 * cysts)
    if kind == "IEC":  # erythema, scale, glomerular vessels
        maps["blood"] = maps["blood"] + rng.uniform(0.01, 0.03) * w
        maps["mus_scale"] = maps["mus_scale"] * (1 + rng.uniform(0.1, 0.4) * w)
        haze += rng.uniform(0.03, 0.12) * mo.patch(shape, mask, 0.4, radius * 0.3, rng)
        if f["dotted_vessels"]:
            dv = mo.dots(shape, mask, int(rng.integers(30, 120)), 0.05 * px, 0.8, rng)
            maps["blood"] = maps["blood"] + rng.uniform(0.05, 0.12) * np.clip(dv, 0, 1)
    return w



def sample_scene(cls: str, rng: np.random.Generator, *, shape=BASE_SHAPE,
                 subtype: str | None = None, n_lesions: int | None = None,
                 rgb_look: bool = False) -> Scene:
    """Sample the chromophore maps, truth labels and artefacts of one image of class ``cls``.

    ``n_lesions`` is 1 or 2 (None: 2 with probability :data:`P_TWO_LESIONS`). ``rgb_look``
    uses a square, wider, mostly field-less framing for the unpaired RGB set.
    """
    h, w = shape
    if h < 16 or w < 16:
        raise ValueError(f"sample_scene: shape {shape} too small (need >= 16 x 16)")
    if rgb_look:
        radius = rng.uniform(0.75, 0.95) * np.hypot(h, w) / 2 if rng.random() < 0.7 \
            else rng.uniform(0.45, 0.5) * min(h, w)
        field_mm = rng.uniform(12, 22)
    else:
        radius = rng.uniform(0.95, 1.08) * h / 2
        field_mm = rng.uniform(*FIELD_MM)
    centre = (h / 2 + rng.normal(0, 0.02 * h), w / 2 + rng.normal(0, 0.03 * w))
    radius_eff = min(radius, h / 2, w / 2)  # the part of the field the lesions may use
    mm_per_px = field_mm / (2 * radius_eff)
    px = 1.0 / mm_per_px
    fieldmask = circular_field(shape, centre, radius)
    maps = _skin(shape, mm_per_px, rng)
    haze = np.zeros(shape, np.float32)
    labels = np.zeros(shape, np.uint8)

    n = n_lesions or (2 if rng.random() < P_TWO_LESIONS else 1)
    feats = [sample_lesion(cls, rng, subtype) for _ in range(n)]
    if n == 1:
        centres = [(centre[0] + rng.normal(0, 0.05 * radius_eff),
                    centre[1] + rng.normal(0, 0.05 * radius_eff))]
        max_r = [MAX_RADIUS_SHARE[0] * radius_eff]
    else:
        a = rng.uniform(-0.4, 0.4) + (0 if w >= h else np.pi / 2)
        off = 0.45 * radius_eff
        centres = [(centre[0] + s * off * np.sin(a), centre[1] + s * off * np.cos(a))
                   for s in (-1, 1)]
        max_r = [MAX_RADIUS_SHARE[1] * radius_eff] * 2
    rows = []
    for k, (f, c, rmax) in enumerate(zip(feats, centres, max_r, strict=True), start=1):
        r = soft_cap(f["diameter_mm"] / 2 * px, rmax)
        f["diameter_mm"] = float(2 * r * mm_per_px)
        melanocytic = f["_kind"] in ("MM", "DN", "Nv")
        elong = rng.uniform(0.0, 0.25) + (0.2 * f["_asym"] if melanocytic else 0.25)
        mask, t = mo.lesion_shape(shape, c, r, elongation=min(elong, 0.5),
                                  asymmetry=0.2 + 1.5 * f["_asym"],
                                  irregularity=0.2 + 1.6 * f["_irreg"],
                                  moth_eaten=float(f["moth_eaten"]), rng=rng)
        sharp = f["border_irregularity"] / 8 if melanocytic else rng.uniform(0.7, 1.0)
        wgt = mo.border_profile(t, sharp) * (1 + 0.1 * mo.smooth_noise(shape, 0.3 * px, rng))
        wgt = np.clip(wgt, 0, 1) * mask
        paint = _paint_melanocytic if melanocytic else _paint_other
        paint(maps, haze, f, wgt, mask, t, c, r, px, rng)
        labels[mask & fieldmask & (labels == 0)] = k
        f["n_colours"] = count_colours(f)
        rows.append({"lesion_index": k, "subtype": f["_kind"] if cls == "Other" else cls,
                     **{col: f[col] for col in FEATURE_COLUMNS}})
    for k in maps:
        maps[k] = np.maximum(maps[k], 0).astype(np.float32)
    maps["sat"] = np.clip(maps["sat"], 0.0, 1.0)

    # artefacts: hairs (57-77 um shafts), glints, gel bubbles
    n_hair = 0 if rng.random() < 0.4 else int(rng.integers(1, 14))
    width = 0.065 * px
    hair = mo.curves(shape, n_hair, max(width, 1.0), rng) * min(width, 1.0) * 0.95
    flat = np.zeros(shape, np.float32)
    if rng.random() < 0.3:  # glints that survived the gel and the polariser
        g = mo.dots(shape, fieldmask, int(rng.integers(1, 6)), rng.uniform(0.5, 1.5), 0.5, rng)
        flat += rng.uniform(0.2, 0.6) * np.clip(g, 0, 1)
    if rng.random() < 0.3:  # gel air bubbles: bright rims, faintly bright inside
        canvas = np.zeros(shape, np.float32)
        for _ in range(int(rng.integers(1, 5))):
            rb = rng.uniform(0.2, 1.0) * px
            cy, cx = rng.uniform(0, h), rng.uniform(0, w)
            cv2.circle(canvas, (int(cx), int(cy)), max(int(rb), 1), 0.04, -1, cv2.LINE_AA)
            cv2.circle(canvas, (int(cx), int(cy)), max(int(rb), 1), 0.35, 1, cv2.LINE_AA)
        flat += canvas
    return Scene(maps=maps, haze=haze, labels=labels, field=fieldmask, field_centre=centre,
                 field_radius=float(radius), mm_per_px=float(mm_per_px), lesions=rows, hair=hair,
                 hair_mel=float(rng.uniform(0.5, 1.0)), flat=flat,
                 camera=Camera.sample(len(WAVELENGTHS_NM), rng))
