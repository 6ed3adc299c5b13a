"""Differentiable augmentation restricted to spectrum-safe operations.

DiffAugment (Zhao et al., "Differentiable Augmentation for Data-Efficient GAN Training",
NeurIPS 2020) augments both real and generated images before the discriminator, so a small data
set does not let it memorise. Its colour ops (brightness, saturation, contrast) rescale or mix
bands and would teach the generator wrong spectra, so only the two geometric ops are offered here:

- ``translation``: shift each image by up to ``1/8`` of its side, zero padding;
- ``cutout``: zero a random square of half the side.

Every output pixel's spectrum is an input pixel's spectrum (of the same image) or all zeros.
Random numbers come from torch's global generator (or ``generator``), so a seeded run, and a
resumed one, sees the same augmentations. Introduced in notebook 03.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

POLICIES = ("translation", "cutout")


def _randint(high: torch.Tensor | int, n: int, device, generator) -> torch.Tensor:
    # integers in [0, high) drawn on the CPU generator, so results do not depend on the device
    return torch.randint(0, int(high), (n,), generator=generator).to(device)


def translation(x: torch.Tensor, ratio: float = 0.125,
                generator: torch.Generator | None = None) -> torch.Tensor:
    """Shift each image by an integer offset in [-ratio * side, ratio * side], zero-filled."""
    b, _, h, w = x.shape
    sy, sx = int(h * ratio + 0.5), int(w * ratio + 0.5)
    dy = _randint(2 * sy + 1, b, x.device, generator) - sy
    dx = _randint(2 * sx + 1, b, x.device, generator) - sx
    # output pixel (i, j) reads input pixel (i - dy, j - dx); out-of-range reads hit the zero pad
    iy = torch.arange(h, device=x.device)[None, :] - dy[:, None] + 1  # +1: index in padded image
    ix = torch.arange(w, device=x.device)[None, :] - dx[:, None] + 1
    iy, ix = iy.clamp(0, h + 1), ix.clamp(0, w + 1)
    padded = torch.nn.functional.pad(x, (1, 1, 1, 1))
    bi = torch.arange(b, device=x.device)[:, None, None]
    out = padded.permute(0, 2, 3, 1)[bi, iy[:, :, None], ix[:, None, :]]  # B x H x W x C
    out = out.permute(0, 3, 1, 2)  # a channels_last view; keep the input's layout
    return out if x.is_contiguous(memory_format=torch.channels_last) else out.contiguous()


def cutout(x: torch.Tensor, ratio: float = 0.5,
           generator: torch.Generator | None = None) -> torch.Tensor:
    """Zero a square of ``ratio * side`` per image, centred anywhere (it may hang off an edge)."""
    b, _, h, w = x.shape
    ch, cw = int(h * ratio + 0.5), int(w * ratio + 0.5)
    cy = _randint(h + (1 - ch % 2), b, x.device, generator)
    cx = _randint(w + (1 - cw % 2), b, x.device, generator)
    ys = torch.arange(h, device=x.device)[None, :]
    xs = torch.arange(w, device=x.device)[None, :]
    in_y = (ys >= (cy - ch // 2)[:, None]) & (ys < (cy - ch // 2 + ch)[:, None])
    in_x = (xs >= (cx - cw // 2)[:, None]) & (xs < (cx - cw // 2 + cw)[:, None])
    keep = ~(in_y[:, :, None] & in_x[:, None, :])  # B x H x W
    return x * keep[:, None].to(x.dtype)


def diff_augment(x: torch.Tensor, policy: Sequence[str] = POLICIES,
                 generator: torch.Generator | None = None) -> torch.Tensor:
    """Apply ``policy`` (a subset of :data:`POLICIES`, in order) to a B x C x H x W batch.

    Colour ops are refused with a ValueError: they would corrupt the spectra.
    """
    unknown = [p for p in policy if p not in POLICIES]
    if unknown:
        raise ValueError(f"DiffAugment policy {unknown} is not spectrum-safe or unknown; "
                         f"allowed: {POLICIES}")
    for p in policy:
        x = translation(x, generator=generator) if p == "translation" else cutout(
            x, generator=generator)
    return x
