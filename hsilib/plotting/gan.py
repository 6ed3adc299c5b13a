"""Figures of the generator notebooks: sample grids, mean spectra, loss curves.

Introduced in notebook 03 (FastGAN); the later generator notebooks reuse them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import torch

from ..data.segmentation import false_rgb
from ..standin.rendering import cube_to_rgb
from .core import running_mean, smoothing_window


def sample_grid(groups: Mapping[str, torch.Tensor], wavelengths_nm: Sequence[float],
                n: int = 6, title: str = "") -> plt.Figure:
    """Rows of false-RGB and CIE-rendered sRGB images for each named set of REFLECTANCE images
    (N x B x H x W), e.g. ``{"real": ..., "FastGAN": ...}``."""
    rows = [(name, kind) for name in groups for kind in ("false-RGB", "CIE sRGB")]
    fig, axes = plt.subplots(len(rows), n, figsize=(1.6 * n, 1.7 * len(rows)), squeeze=False)
    for r, (name, kind) in enumerate(rows):
        images = groups[name]
        for c in range(n):
            ax = axes[r, c]
            ax.axis("off")
            if c >= len(images):
                continue
            cube = images[c].permute(1, 2, 0).numpy()
            view = (false_rgb(cube, stretch=(1, 99)) if kind == "false-RGB"
                    else cube_to_rgb(cube, wavelengths_nm))
            ax.imshow(np.clip(view, 0, 1))
        axes[r, 0].set_title(f"{name}: {kind}", loc="left", fontsize=8)
    fig.suptitle(title)
    fig.tight_layout()
    return fig


def image_spectra(images: torch.Tensor) -> np.ndarray:
    """Per-image mean spectrum (N x B) of reflectance images N x B x H x W."""
    return images.float().mean(dim=(2, 3)).numpy()


def mean_spectra(groups: Mapping[str, torch.Tensor], wavelengths_nm: Sequence[float],
                 title: str = "") -> plt.Figure:
    """Mean over images of each set's per-image mean spectrum, with a band of +- 1 SD."""
    fig, ax = plt.subplots(figsize=(6, 3.5))
    for name, images in groups.items():
        s = image_spectra(images)
        mu, sd = s.mean(0), s.std(0)
        ax.plot(wavelengths_nm, mu, marker="o", ms=3, label=f"{name} (n = {len(s)})")
        ax.fill_between(wavelengths_nm, mu - sd, mu + sd, alpha=0.2)
    ax.set(xlabel="wavelength (nm)", ylabel="reflectance", title=title)
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def loss_curves(histories: Mapping[str, pd.DataFrame], columns: Sequence[str] = (
        "d_loss", "g_loss", "d_rec"), smooth: int | None = 25, points: int = 50) -> plt.Figure:
    """Running means (:func:`~hsilib.plotting.core.running_mean`, window ``smooth``) of the
    logged losses of each named run; ``smooth`` None: the window that leaves about ``points``
    stretches of the longest history (:func:`~hsilib.plotting.core.smoothing_window`)."""
    if smooth is None:
        smooth = smoothing_window(max((len(h) for h in histories.values()), default=0), points)
    fig, axes = plt.subplots(1, len(columns), figsize=(4 * len(columns), 3), squeeze=False)
    for ax, col in zip(axes[0], columns, strict=True):
        for name, h in histories.items():
            if col in h:
                ax.plot(h.step, running_mean(h[col], smooth), label=name)
        ax.set(title=col, xlabel="step")
    axes[0, 0].legend(fontsize=8)
    fig.tight_layout()
    return fig


def ada_curves(histories: Mapping[str, pd.DataFrame], target: float, points: int = 30
               ) -> plt.Figure:
    """StyleGAN2-ADA over training, one line per named run: the augmentation probability p,
    the overfitting signal r_t it follows (dashed: ``target``) and the logistic losses of D
    and G (running means leaving about ``points`` stretches)."""
    fig, axes = plt.subplots(1, 3, figsize=(13, 3.4))
    for label, h in histories.items():
        axes[0].plot(h.step, h.ada_p, label=label)
        if "ada_rt" in h:
            axes[1].plot(h.step, h.ada_rt, label=label)
        window = smoothing_window(len(h), points)
        axes[2].plot(h.step, running_mean(h.d_loss, window), label=f"D {label}")
        axes[2].plot(h.step, running_mean(h.g_loss, window), ls=":", label=f"G {label}")
    axes[1].axhline(target, color="k", ls="--", lw=1)
    axes[0].set(xlabel="step", ylabel="p", title="ADA probability p")
    axes[1].set(xlabel="step", ylabel="r_t", title="r_t = E[sign D(real)]")
    axes[2].set(xlabel="step", ylabel="loss", title="logistic losses (smoothed)")
    for ax in axes:
        ax.legend(fontsize=7)
    fig.tight_layout()
    return fig
