"""Figures of the generator notebooks: sample grids, mean spectra, loss curves.

Introduced in notebook 03 (FastGAN); the later generator notebooks reuse them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import torch

from ..standin.rendering import cube_to_rgb
from . import style
from .core import running_mean, smoothing_window
from .style import OUTSIDE, grey, reflectance_stretch, series_colours

style.apply()
#: Rows of images per figure; more rows go into side-by-side blocks.
MAX_ROWS = 8


def sample_grid(groups: Mapping[str, torch.Tensor], wavelengths_nm: Sequence[float],
                n: int = 6, title: str = "") -> plt.Figure:
    """Two rows for each named set of REFLECTANCE images (N x B x H x W), e.g.
    ``{"real": ..., "FastGAN": ...}``: the band mean (the study's false-RGB) on one grey
    stretch shared by the whole figure (0 to the 99.5th percentile of every band mean shown,
    read on the colour bar) and the CIE sRGB rendering. Beyond :data:`MAX_ROWS` rows the sets
    continue in blocks side by side."""
    rows = [(name, kind) for name in groups for kind in ("band mean", "CIE sRGB")]
    blocks = -(-len(rows) // MAX_ROWS)
    per_block = -(-len(rows) // blocks)
    per_block += per_block % 2  # a set's two rows stay together
    nrows = min(len(rows), per_block)
    side = 1.6 if blocks == 1 else 1.2
    fig, axes = plt.subplots(nrows, n * blocks, figsize=(side * n * blocks + 1.0,
                                                         side * 1.05 * nrows + 0.5),
                             squeeze=False)
    shown = {name: [images[c].permute(1, 2, 0).numpy() for c in range(min(n, len(images)))]
             for name, images in groups.items()}
    vmax = reflectance_stretch(cube.mean(-1) for cubes in shown.values() for cube in cubes)
    im = None
    for ax in axes.ravel():
        ax.axis("off")
    for k, (name, kind) in enumerate(rows):
        r, c0 = k % per_block, (k // per_block) * n
        for c, cube in enumerate(shown[name]):
            ax = axes[r, c0 + c]
            if kind == "band mean":
                im = grey(ax, cube.mean(-1), vmax)
            else:
                ax.imshow(np.clip(cube_to_rgb(cube, wavelengths_nm), 0, 1))
        axes[r, c0].set_title(f"{name}: {kind}", loc="left", fontsize=9)
    fig.suptitle(title)
    fig.tight_layout()
    if im is not None:
        fig.colorbar(im, ax=axes, shrink=0.5, label="reflectance (band mean)")
    return fig


def image_spectra(images: torch.Tensor) -> np.ndarray:
    """Per-image mean spectrum (N x B) of reflectance images N x B x H x W."""
    return images.float().mean(dim=(2, 3)).numpy()


def mean_spectra(groups: Mapping[str, torch.Tensor], wavelengths_nm: Sequence[float],
                 title: str = "") -> plt.Figure:
    """Mean over images of each set's per-image mean spectrum, with a band of +- 1 SD."""
    fig, ax = plt.subplots(figsize=(6.5, 3.5))
    colours = series_colours(groups)  # real data black
    for name, images in groups.items():
        s = image_spectra(images)
        mu, sd = s.mean(0), s.std(0)
        ax.plot(wavelengths_nm, mu, marker="o", ms=3, color=colours[name],
                label=f"{name} (n = {len(s)})", lw=2 if colours[name] == style.REAL else 1.2)
        ax.fill_between(wavelengths_nm, mu - sd, mu + sd, alpha=0.12, color=colours[name])
    ax.set(xlabel="wavelength (nm)", ylabel="reflectance", title=title)
    ax.legend(**OUTSIDE)
    fig.tight_layout()
    return fig


def loss_curves(histories: Mapping[str, pd.DataFrame], columns: Sequence[str] = (
        "d_loss", "g_loss", "d_rec"), smooth: int | None = 25, points: int = 50) -> plt.Figure:
    """Running means (:func:`~hsilib.plotting.core.running_mean`, window ``smooth``) of the
    logged losses of each named run; ``smooth`` None: the window that leaves about ``points``
    stretches of the longest history (:func:`~hsilib.plotting.core.smoothing_window`)."""
    if smooth is None:
        smooth = smoothing_window(max((len(h) for h in histories.values()), default=0), points)
    fig, axes = plt.subplots(1, len(columns), figsize=(3.6 * len(columns) + 1.5, 3),
                             squeeze=False)
    colours = series_colours(histories)
    for ax, col in zip(axes[0], columns, strict=True):
        for name, h in histories.items():
            if col in h:
                ax.plot(h.step, running_mean(h[col], smooth), label=name, color=colours[name])
        ax.set(title=col, xlabel="training step",
               ylabel=f"value (running mean of {smooth} steps)")
    axes[0, -1].legend(**OUTSIDE)
    fig.tight_layout()
    return fig


def ada_curves(histories: Mapping[str, pd.DataFrame], target: float, points: int = 30
               ) -> plt.Figure:
    """StyleGAN2-ADA over training, one line per named run: the augmentation probability p,
    the overfitting signal r_t it follows (dashed: ``target``) and the logistic losses of D
    and of G, one panel each (running means leaving about ``points`` stretches)."""
    fig, axes = plt.subplots(1, 4, figsize=(13, 3.2))
    colours = series_colours(histories)
    for label, h in histories.items():
        kw = dict(label=label, color=colours[label])
        axes[0].plot(h.step, h.ada_p, **kw)
        if "ada_rt" in h:
            axes[1].plot(h.step, h.ada_rt, **kw)
        window = smoothing_window(len(h), points)
        axes[2].plot(h.step, running_mean(h.d_loss, window), **kw)
        axes[3].plot(h.step, running_mean(h.g_loss, window), **kw)
    axes[1].axhline(target, color="k", ls="--", lw=1)
    axes[0].set(ylabel="probability $p$", title="ADA augmentation probability")
    axes[1].set(ylabel="$r_t$", title="$r_t$ = E[sign D(real)] (dashed: target)")
    axes[2].set(ylabel="loss (running mean)", title="discriminator loss")
    axes[3].set(ylabel="loss (running mean)", title="generator loss")
    for ax in axes:
        ax.set_xlabel("training step")
    axes[-1].legend(**OUTSIDE)
    fig.tight_layout()
    return fig
