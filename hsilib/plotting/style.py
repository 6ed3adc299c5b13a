"""The house style of every figure: code names in words, distinct series colours (real data in
black), type sizes that read when a figure is shown 1280 px wide or projected.

* :func:`words` turns the code names that reach a figure from tables and configurations (arm,
  family, configuration, metric and state names such as ``critic_3d_sn_fft``, ``real+synMM``,
  ``frac_closer_than_heldout_p5``, ``oracle_label_noise_1``) into words; :func:`savefig
  <hsilib.plotting.core.savefig>` passes every text of a figure through it before saving, so a
  name the vocabulary below lacks still loses its underscores.
* :func:`series_colours` gives each named series its own colour (the 10 of ``tab10``, then 10
  more, then evenly spaced hues), real data black.
* :func:`apply` sets matplotlib's defaults (type sizes, a 20-colour cycle, legend frame); the
  figure modules call it when imported.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

#: Whole names shown as a phrase of their own (arms, families, configurations, utilities).
NAMES = {
    "critic_2d": "2-D critic", "critic_3d": "3-D critic", "critic_3d_sn": "3-D critic + SN",
    "critic_3d_sn_fft": "3-D critic + SN + FFT", "shsgan_rgb": "SHS-GAN from RGB",
    "g3d": "3-D generator", "attention": "band attention", "perclass": "one generator per class",
    "real": "real only", "tstr": "synthetic only (TSTR)", "tstr_passthrough":
    "synthetic only, pass-through", "bands16": "16 bands", "bands3": "3 chosen bands",
    "grey": "grey (band mean)", "rgb": "CIE sRGB", "oracle_clean": "oracle (clean)",
    "d_loss": "discriminator loss", "g_loss": "generator loss", "d_rec": "reconstruction loss",
    "loss_d": "critic loss", "loss_g": "generator loss", "wasserstein": "Wasserstein estimate",
    "sens_at_spec": "sensitivity at fixed specificity", "brier": "Brier score",
    "ece": "calibration error (ECE)", "cfastgan_mask": "conditional FastGAN (mask)",
    "spade_mask": "SPADE-FastGAN (mask)", "spade_rgb": "SPADE-FastGAN (RGB)",
    # generator metrics
    "FD_rand": "FD (random features)", "FD_spectral_lesion": "spectral FD (lesion)",
    "FD_spectral_skin": "spectral FD (skin)", "MS_GMSD": "MS-GMSD",
    "NN_train_dist_ratio": "nearest-training-crop distance ratio",
    "SAM_mean_spectra_deg": "SAM of mean spectra (deg)", "SAM_rad": "SAM (rad)",
    "TV_rel_diff": "total-variation difference", "W1_blood": "W1 of blood volume",
    "W1_f_mel_epi": "W1 of epidermal melanin", "W1_mus_scale": "W1 of scattering",
    "W1_sat": "W1 of oxygen saturation", "detectability_AUROC": "detectability AUROC",
    "frac_closer_than_heldout_p5": "share closer than held-out (5th pct.)",
    "hs_to_rgb_CIEDE2000": "HS -> RGB CIEDE2000", "hs_to_rgb_RMSE": "HS -> RGB RMSE",
    "mask_Dice": "mask Dice", "recon_RMSE": "reconstruction RMSE",
    "recon_SAM_deg": "reconstruction SAM (deg)", "relevance_distance": "relevance distance",
}
#: Parts of a code name (between ``_`` or ``+``), in words.
TOKENS = {
    "fastgan": "FastGAN", "stylegan2": "StyleGAN2-ADA", "vae": "VAE", "cvae": "conditional VAE",
    "gauss": "Gaussian", "cfastgan": "conditional FastGAN", "classcond":
    "class-conditional FastGAN", "cyclegan": "CycleGAN", "spade": "SPADE-FastGAN", "shsgan":
    "SHS-GAN", "dcgan": "DCGAN", "sngan": "SN-GAN", "acgan": "AC-GAN", "critic": "critic",
    "2d": "2-D", "3d": "3-D", "sn": "SN", "fft": "FFT", "mask": "mask", "syn": "synthetic",
    "synMM": "synthetic MM", "synDN": "synthetic DN", "dupMM": "duplicated MM", "dup":
    "duplicated real", "sefaMM": "SeFa-edited MM", "augment": "augmentation", "focal":
    "focal loss", "balanced": "balanced batches", "both": "both classes", "top": "top-scored",
    "random": "random subset", "auroc": "AUROC", "auprc": "AUPRC", "f1": "F1", "rand":
    "random features", "spectral": "spectral", "dist": "distance", "frac": "share", "heldout":
    "held-out", "p5": "5th percentile", "deg": "(deg)", "rad": "(rad)", "rel": "relative",
    "diff": "difference", "nn": "nearest neighbour", "NN": "nearest-neighbour", "mel": "melanin",
    "epi": "epidermis", "mus": "scattering", "sat": "oxygen saturation", "f": "", "hs":
    "HS", "recon": "reconstruction", "gms": "GMS", "TV": "total variation", "W1": "W1 of",
    "MS": "MS-", "GMSD": "GMSD", "FD": "FD", "SAM": "SAM", "RMSE": "RMSE", "to": "->",
    "rgb": "RGB", "real": "real", "detectability": "detectability", "label": "label",
    "noise": "noise",
}
#: Generator families (the first part of a family's arm or replicate name).
FAMILIES = ("fastgan", "stylegan2", "vae", "cvae", "cfastgan", "classcond", "cyclegan", "shsgan",
            "spade")
#: Code names that are no English word: translated wherever they stand in a text.
CODE_WORDS = ("fastgan", "stylegan2", "vae", "cvae", "cfastgan", "classcond", "cyclegan",
              "dcgan", "sngan", "acgan", "shsgan", "g3d", "auroc", "auprc", "ece", "brier", "f1",
              "bands16", "bands3")
_IDENT = re.compile(r"(?<![\w$\\])([A-Za-z0-9]+(?:[_+][A-Za-z0-9%]+)+%?|"
                    + "|".join(CODE_WORDS) + r")(?![\w])")
#: Ids of source images and crops (DN_0001, MM_0012_crop02) are data, not code names.
_DATA_ID = re.compile(r"^(MM|DN|Other|OT)_\d+(_crop\d+)?$")


def _phrase(name: str) -> str:
    if name in NAMES:
        return NAMES[name]
    m = re.fullmatch(r"oracle_(.+)_(\d+)", name)
    if m:
        return f"oracle, {_phrase(m.group(1))} (level {m.group(2)})"
    m = re.fullmatch(r"(.+)_g(\d+)(?:_s0*(\d+))?", name)
    if m:
        step = f", step {m.group(3)}" if m.group(3) else ""
        return f"{_phrase(m.group(1))}, replicate {m.group(2)}{step}"
    m = re.fullmatch(r"(.+)_(\d+)%(?:_(top|random))?", name)
    if m:
        sub = f", {TOKENS[m.group(3)]}" if m.group(3) else ""
        return f"{_phrase(m.group(1))}, {m.group(2)}%{sub}"
    if "+" in name and "_" not in name:
        return " + ".join(_token(t) for t in name.split("+"))
    if "_" in name:
        head, _, tail = name.partition("_")
        if "+" in head:  # a mix and what it adds: real+syn_spade_rgb
            return f"{_phrase(head)}, {_phrase(tail)}"
        if head in FAMILIES and (tail in NAMES or tail in TOKENS):  # a family's arm
            rest = NAMES.get(tail) or TOKENS[tail]
            return rest if rest.startswith(TOKENS[head]) else f"{TOKENS[head]}, {rest}"
        head, _, tail = name.rpartition("_")
        if tail in ("MM", "DN", "both") or head in NAMES or "+" in head:
            return f"{_phrase(head)}, {_phrase(tail)}"
        parts = [_token(t) for t in name.split("_")]
        return re.sub(r"\s+", " ", " ".join(p for p in parts if p)).replace("MS- ", "MS-")
    return _token(name)


#: Parts of a name written by a pattern: '4MM' -> '4 MM', '1to2' -> '1:2'.
_TOKEN_PATTERNS = ((re.compile(r"(\d+)(MM|DN)"), "{0} {1}"),
                   (re.compile(r"(\d+)to(\d+)"), "{0}:{1}"))


def _token(token: str) -> str:
    if token in TOKENS:
        return TOKENS[token]
    for pattern, form in _TOKEN_PATTERNS:
        found = pattern.fullmatch(token)
        if found:
            return form.format(*found.groups())
    return NAMES.get(token, token)


def words(text: str) -> str:
    """``text`` with every code name in it in words (ids of images and crops kept); math
    between ``$`` signs is left alone."""
    if not text or ("_" not in text and "+" not in text
                    and not any(w in text for w in CODE_WORDS)):
        return text
    pieces = re.split(r"(\$[^$]*\$)", text)
    for k in range(0, len(pieces), 2):
        pieces[k] = _IDENT.sub(lambda m: m.group(0) if _DATA_ID.match(m.group(0))
                               else _phrase(m.group(0)), pieces[k])
    return "".join(pieces)


#: 20 colours told apart on a screen and a projector: tab10, then darker and lighter hues.
PALETTE = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2",
           "#7f7f7f", "#bcbd22", "#17becf", "#393b79", "#e7ba52", "#637939", "#ad494a",
           "#7b4173", "#9edae5", "#f7b6d2", "#c49c94", "#98df8a", "#ffbb78")
REAL = "black"


def palette(n: int) -> list[str]:
    """``n`` distinct colours (none black): :data:`PALETTE`, then evenly spaced hues."""
    if n <= len(PALETTE):
        return list(PALETTE[:n])
    import colorsys

    hues = [colorsys.hsv_to_rgb((i * 0.618034) % 1, 0.75, 0.8) for i in range(n)]
    return [PALETTE[i] if i < len(PALETTE) else
            "#" + "".join(f"{round(255 * c):02x}" for c in hues[i]) for i in range(n)]


def is_real(name: str) -> bool:
    """A series of real data: its name starts with 'real' ('real train', 'real MM') but is no
    mix of real and synthetic crops ('real+syn')."""
    return name.lower().startswith("real") and "+" not in name


def series_colours(names: Iterable[str]) -> dict[str, str]:
    """One colour per series name: real data black (a second real series dark grey), the
    others distinct colours of :func:`palette` in order."""
    names = list(dict.fromkeys(names))
    real = [n for n in names if is_real(n)]
    other = [n for n in names if not is_real(n)]
    colours = dict(zip(real, (REAL, "#555555", "#999999"), strict=False))
    colours |= dict(zip(other, palette(len(other)), strict=True))
    return colours


#: A legend to the right of its axes, off the data (use on the rightmost axes of a row).
OUTSIDE = dict(loc="upper left", bbox_to_anchor=(1.02, 1.0), borderaxespad=0.0, frameon=False)
#: A legend under its axes, below the axis label.
BELOW = dict(loc="upper center", bbox_to_anchor=(0.5, -0.2), borderaxespad=0.0, frameon=False)


def reflectance_stretch(images: Iterable, pct: float = 99.5) -> float:
    """One upper end of the grey scale for every single-band image of a figure: the ``pct``
    percentile of all their values pooled (the lower end is 0 reflectance)."""
    import numpy as np

    values = np.concatenate([np.asarray(i, np.float32).ravel() for i in images])
    return float(np.percentile(values[np.isfinite(values)], pct)) or 1.0


def grey(ax, image, vmax: float, title: str | None = None, fontsize: float = 9):
    """A single-band image (H x W) in grey from 0 to ``vmax``, no axis; returns the image
    (hand it to ``fig.colorbar``: every grey image of a figure shares one stretch)."""
    im = ax.imshow(image, cmap="gray", vmin=0.0, vmax=vmax)
    if title is not None:
        ax.set_title(title, fontsize=fontsize)
    ax.axis("off")
    return im


#: matplotlib defaults of every figure (type sizes in points at the saved DPI).
RC = {"font.size": 10, "axes.titlesize": 10, "axes.labelsize": 10, "xtick.labelsize": 9,
      "ytick.labelsize": 9, "legend.fontsize": 9, "legend.frameon": False,
      "figure.titlesize": 11, "savefig.dpi": 150}


def apply() -> None:
    """Set :data:`RC` and a colour cycle of :data:`PALETTE` as matplotlib's defaults."""
    import matplotlib as mpl
    from cycler import cycler

    mpl.rcParams.update(RC)
    mpl.rcParams["axes.prop_cycle"] = cycler(color=list(PALETTE))
