"""What a stand-in lesion is, clinically: its class and its dermoscopic features.

:func:`sample_lesion` draws one lesion's features for its class from overlapping
class-conditional probabilities: a latent "atypia" ``z`` (higher on average in melanoma) drives
the ABCD / 7-point features with the direction of the odds ratios of Mun et al. 2016
(asymmetry, multicolour, blue-white veil, blotches, atypical network, regression, streaks,
dots). Some melanomas look banal and some dysplastic nevi atypical, as in the clinic. The
scene (:mod:`hsilib.standin.scene`) then paints these features into chromophore maps.
"""

from __future__ import annotations

import numpy as np

from ..labels import CLASSES

OTHER_SUBTYPES = ("SK", "Lentigo", "Nv", "IEC")
FEATURE_COLUMNS = ("asymmetry", "border_irregularity", "n_colours", "blue_white_veil",
                   "regression", "atypical_network", "irregular_dots", "streaks", "blotches",
                   "globules", "milia_cysts", "comedo_openings", "cerebriform", "fingerprint",
                   "moth_eaten", "dotted_vessels", "diameter_mm", "atypia")

#: Latent atypia z ~ Beta(a, b) per class: the overlap of these two sets how hard MM vs DN is.
ATYPIA_BETA = {"MM": (4.2, 2.0), "DN": (2.2, 3.8), "Nv": (1.5, 6.0), "SK": (2.0, 4.0),
               "Lentigo": (1.5, 5.0), "IEC": (2.0, 3.0)}
#: Diameter (mm): log-normal median and sigma (docs/skin_optics.md).
DIAMETER_MM = {"MM": (8.0, 0.38), "DN": (6.5, 0.3), "Nv": (4.0, 0.35), "SK": (8.0, 0.4),
               "Lentigo": (8.0, 0.45), "IEC": (9.0, 0.35)}


def sample_lesion(cls: str, rng: np.random.Generator, subtype: str | None = None) -> dict:
    """Sample one lesion's dermoscopic features (ABCD rule, 7-point checklist) for its class.

    ``cls`` is "MM", "DN" or "Other" (then ``subtype`` in SK, Lentigo, Nv, IEC). Features are
    Bernoulli/ordinal draws whose probabilities rise with a latent atypia ``z``; melanoma has a
    higher ``z`` on average, so the classes overlap. Returns a dict with the columns of
    :data:`FEATURE_COLUMNS` plus rendering parameters (keys starting with ``_``).
    """
    if cls not in CLASSES:
        raise ValueError(f"sample_lesion: cls must be one of {CLASSES}, got {cls!r}")
    kind = cls if cls != "Other" else (subtype or OTHER_SUBTYPES[int(rng.integers(0, 4))])
    if kind not in ATYPIA_BETA:
        raise ValueError(f"sample_lesion: unknown subtype {kind!r}; use one of {OTHER_SUBTYPES}")
    z = float(rng.beta(*ATYPIA_BETA[kind]))
    melanocytic = kind in ("MM", "DN", "Nv")
    p = (lambda q: bool(rng.random() < q))  # noqa: E731
    med, sig = DIAMETER_MM[kind]
    diam = float(np.clip(med * np.exp(sig * rng.standard_normal() + 0.6 * (z - 0.5)), 2.0, 15.0))
    asym_c = float(np.clip(z + rng.normal(0, 0.22), 0, 1))
    bord_c = float(np.clip(z + rng.normal(0, 0.22), 0, 1))
    f = dict(atypia=z, diameter_mm=diam, _kind=kind, _asym=asym_c, _irreg=bord_c)
    f["asymmetry"] = int(np.digitize(asym_c, [0.38, 0.62]))
    f["border_irregularity"] = int(rng.binomial(8, 0.1 + 0.7 * bord_c))
    zeros = dict.fromkeys(("blue_white_veil", "regression", "atypical_network", "irregular_dots",
                           "streaks", "blotches", "globules", "milia_cysts", "comedo_openings",
                           "cerebriform", "fingerprint", "moth_eaten", "dotted_vessels"), False)
    f.update(zeros)
    if melanocytic:
        f["blue_white_veil"] = p(0.65 * z**2.5)
        f["regression"] = p(0.5 * z**2.5)
        f["atypical_network"] = p(0.1 + 0.6 * z)
        f["irregular_dots"] = p(0.08 + 0.55 * z)
        f["streaks"] = p(0.45 * z**2)
        f["blotches"] = p(0.65 * z**2)
        f["globules"] = p(0.35)
        f["_mel"] = float(rng.uniform(0.07, 0.2) + 0.1 * z)  # lesion epidermal melanin
        f["_n_dark"] = int(rng.binomial(3, 0.15 + 0.6 * z))  # extra darker components
        f["_erythema"] = p(0.1 + 0.3 * z)
        f["_network"] = p(0.75)
        f["_fried_egg"] = kind == "DN" and p(0.4)
    elif kind == "SK":
        f.update(milia_cysts=p(0.7), comedo_openings=p(0.7), cerebriform=p(0.5),
                 fingerprint=p(0.25), moth_eaten=p(0.8), _mel=float(rng.uniform(0.06, 0.3)))
        f["blotches"] = p(0.15)
    elif kind == "Lentigo":
        f.update(fingerprint=p(0.7), moth_eaten=p(0.85), _mel=float(rng.uniform(0.06, 0.15)))
    else:  # IEC: red scaly patch, dotted/glomerular vessels, sometimes pigmented
        f.update(dotted_vessels=p(0.85), _mel=float(rng.uniform(0.0, 0.06)),
                 irregular_dots=p(0.25))
    return f


def count_colours(f: dict) -> int:
    """Colours of the ABCD rule present in a lesion of :func:`sample_lesion` (light/dark brown,
    black, blue-grey, white, red)."""
    if f["_kind"] not in ("MM", "DN", "Nv"):
        return 1 + int(f["blotches"] or f["comedo_openings"]) + int(f["milia_cysts"]) + int(
            f["dotted_vessels"])
    deep = f["blue_white_veil"] or f["regression"]
    n = 1  # light brown
    n += int(f["_n_dark"] > 0 or f["_mel"] > 0.2)  # dark brown
    n += int(f["blotches"] or f["irregular_dots"])  # black
    n += int(deep)  # blue-grey (dermal melanin, peppering)
    n += int(deep)  # white (haze of the veil, scar of regression)
    n += int(f["_erythema"])  # red
    return int(min(n, 6))
