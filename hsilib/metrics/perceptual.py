"""Perceptual similarity of the colour renderings: MS-GMSD, MDSI and HaarPSI (from piq).

The related RGB-GAN studies of dermoscopy scored their images with full-reference perceptual
metrics built for photographs. A 16-band crop has no photograph, but it has a colour: its
rendering through the CIE 1931 observer under D65 (:class:`hsilib.models.projection.HSToRGB`,
the rendering of notebook 01). Here each synthetic crop (and, for the floor, each real
training crop) is paired with its nearest held-out crop, exactly as SSIM is
(:func:`hsilib.metrics.protocol_sets.paired_terms`), both are rendered from reflectance, and
three scores of piq compare the two sRGB images:

- ``MS_GMSD``: multi-scale gradient magnitude similarity deviation (Zhang et al. 2017, with
  the chromatic term off): the spread of the local gradient-magnitude similarity over four
  scales; 0 for identical images, larger is worse;
- ``MDSI``: mean deviation similarity index (Nafchi et al. 2016): gradient and chromaticity
  similarity pooled by deviation; 0 for identical images, larger is worse;
- ``HaarPSI``: Haar wavelet-based perceptual similarity index (Reisenhofer et al. 2018):
  local similarity of Haar wavelet responses weighted by visual saliency; 1 for identical
  images, smaller is worse.

Every score is a mean over images of the per-pair values; the protocol adds its floor (real
training crops against their nearest held-out crops, at equal n) and a bootstrap interval over
the synthetic images. Renderings smaller than :data:`MIN_SIDE` px are enlarged to it
(bilinear) first: MS-GMSD needs at least 17 px at its coarsest scale. Introduced in notebook 03
with the rest of the protocol.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

#: Each metric -> the value of a perfect match (identical images).
BEST = {"MS_GMSD": 0.0, "MDSI": 0.0, "HaarPSI": 1.0}
#: Each metric -> its summary over images (NaN-safe, as the other paired metrics).
PERCEPTUAL = dict.fromkeys(BEST, np.nanmean)
#: Renderings are enlarged to at least this side before scoring.
MIN_SIDE = 32

_render = None


def render_srgb(reflectance: torch.Tensor) -> torch.Tensor:
    """sRGB renderings in [0, 1] (N x 3 x S x S, S >= :data:`MIN_SIDE`) of reflectance images
    N x B x H x W (negative values clipped), the CIE rendering of notebook 01."""
    global _render
    if _render is None:  # the colour tables are read once, on first use
        from ..models.projection import HSToRGB

        _render = HSToRGB()
    if reflectance.dim() != 4:
        raise ValueError(f"reflectance must be N x B x H x W, got {tuple(reflectance.shape)}")
    with torch.no_grad():
        rgb = _render(reflectance.float().clamp(min=0)).clamp(0, 1)
    side = min(rgb.shape[-2:])
    if side < MIN_SIDE:
        scale = MIN_SIDE / side
        rgb = F.interpolate(rgb, scale_factor=scale, mode="bilinear", align_corners=False)
    return rgb.clamp(0, 1)


def perceptual_scores(x: torch.Tensor, y: torch.Tensor) -> dict[str, torch.Tensor]:
    """Per image pair: MS-GMSD, MDSI and HaarPSI (piq, ``data_range=1``) of two sets of sRGB
    images N x 3 x S x S in [0, 1]."""
    import piq

    if x.shape != y.shape or x.dim() != 4 or x.shape[1] != 3:
        raise ValueError(f"need two N x 3 x S x S sets of equal shape, got {tuple(x.shape)} "
                         f"and {tuple(y.shape)}")
    x, y = x.float(), y.float()
    return {"MS_GMSD": piq.multi_scale_gmsd(x, y, data_range=1.0, reduction="none"),
            "MDSI": piq.mdsi(x, y, data_range=1.0, reduction="none"),
            "HaarPSI": piq.haarpsi(x, y, data_range=1.0, reduction="none")}


def perceptual_terms(a: torch.Tensor, b: torch.Tensor) -> dict[str, torch.Tensor]:
    """The scores of :func:`perceptual_scores` between the renderings of two sets of
    reflectance images (pair ``i`` = ``a[i]``, ``b[i]``)."""
    return perceptual_scores(render_srgb(a), render_srgb(b))


NOTE = ("each image vs its nearest held-out image (L2, 16x16 downsampled), both rendered to sRGB "
        "(CIE 1931, D65) from reflectance; piq")
