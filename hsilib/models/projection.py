"""A fixed, differentiable projection from hyperspectral reflectance to sRGB.

The same rendering as :func:`hsilib.standin.rendering.cube_to_rgb` (CIE 1931 2-degree observer
under D65, the bands extended to 380-720 nm by their end slopes), written as a torch module so
that a loss can be taken through it:

    RGB = gamma( clip( A (W^T relu(M^T r)), 0, 1 ) )

with ``r`` the reflectance spectrum of a pixel (``n_bands``), ``M`` the end-slope resampling
(``n_bands x 69``), ``W`` the CIE weights under D65 (``69 x 3``, Y of a perfect white = 1),
``A`` the XYZ -> linear-sRGB matrix and ``gamma`` the sRGB transfer curve. Everything before
the clip is linear, so the projection of a mean is the mean of projections up to the clip and the
curve. Used by the RGB-consistency loss of the RGB-to-hyperspectral SHS-GAN (notebook 02) and the
RGB <-> hyperspectral models of notebook 04.

The colour tables come from ``colour-science`` on first construction, never at import.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from torch import nn

from .. import WAVELENGTHS_NM

_SRGB_KNEE = 0.0031308  # linear value below which the sRGB curve is linear


def srgb_curve(linear: torch.Tensor) -> torch.Tensor:
    """The sRGB transfer curve on values in [0, 1], with finite gradients everywhere."""
    power = 1.055 * torch.clamp(linear, min=_SRGB_KNEE).pow(1.0 / 2.4) - 0.055
    return torch.where(linear <= _SRGB_KNEE, 12.92 * linear, power)


class HSToRGB(nn.Module):
    """Reflectance images ``N x B x H x W`` (bands at ``band_axis``) -> sRGB ``N x 3 x H x W``.

    ``wavelengths_nm``: the band centres (default: the camera's 16 bands, 465-630 nm). The
    module holds no trainable parameters; its two matrices are buffers (they move with
    ``.to(device)``). Matches :func:`hsilib.standin.rendering.cube_to_rgb` to float precision.
    """

    def __init__(self, wavelengths_nm: Sequence[float] = WAVELENGTHS_NM):
        super().__init__()
        from ..standin.rendering import (
            RENDER_WAVELENGTHS_NM,
            _cie_tables,
            _xyz_weights,
            end_slope_matrix,
        )

        wl = tuple(float(w) for w in wavelengths_nm)
        if len(wl) < 2 or np.any(np.diff(wl) <= 0):
            raise ValueError(f"HSToRGB: wavelengths_nm must be increasing, got {wl}")
        dense = tuple(RENDER_WAVELENGTHS_NM.tolist())
        self.n_bands = len(wl)
        self.register_buffer("resample", torch.tensor(end_slope_matrix(wl, dense),
                                                      dtype=torch.float32))
        xyz_to_rgb = _cie_tables()[3]
        self.register_buffer("to_linear_rgb", torch.tensor(_xyz_weights(dense) @ xyz_to_rgb.T,
                                                           dtype=torch.float32))

    def forward(self, reflectance: torch.Tensor, band_axis: int = 1) -> torch.Tensor:
        x = torch.movedim(reflectance, band_axis, -1)
        if x.shape[-1] != self.n_bands:
            raise ValueError(f"HSToRGB: expected {self.n_bands} bands at axis {band_axis}, "
                             f"got shape {tuple(reflectance.shape)}")
        dense = torch.relu(x @ self.resample.to(x.dtype))
        linear = torch.clamp(dense @ self.to_linear_rgb.to(x.dtype), 0.0, 1.0)
        return torch.movedim(srgb_curve(linear), -1, band_axis)
