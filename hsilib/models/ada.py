"""Adaptive discriminator augmentation (ADA), restricted to spectrum-safe operations.

Karras et al., "Training Generative Adversarial Networks with Limited Data", NeurIPS 2020. Every
image the discriminator sees, real or generated, is augmented, each operation applied to each
image with probability ``p``. Instead of a fixed ``p``, ADA measures how much the discriminator
overfits its real images and adjusts ``p`` to keep that signal at a target:

    r_t = E[sign(D(x_real))]           (over the last ``interval`` steps' real logits)
    p  <- clip(p + sign(r_t - target) * batch * interval / (ada_kimg * 1000), 0, 1)

``r_t = 0`` means the discriminator cannot separate real images from generated ones on average,
``r_t = 1`` that it scores every real image as real: it has memorised the training set. With the
step above, ``p`` can go from 0 to 1 in ``ada_kimg`` thousand real images.

ADA's colour operations (brightness, contrast, hue, saturation) and its anisotropic geometric
ones would change or mix bands, and the generator would learn the wrong spectra from them, so
only these are offered (:data:`OPS`), each the same for all bands of an image:

- ``xflip``: mirror left-right;
- ``rot90``: rotate by a random multiple of 90 degrees;
- ``translate``: shift by an integer offset of up to 1/8 of the side, reflecting at the border;
- ``scale``: isotropic zoom by ``2 ** N(0, 0.2)`` (bilinear, reflecting at the border);
- ``cutout``: zero a square of half the side.

After flips, rotations, translation and cutout every output spectrum is an input spectrum of the
same image or zero; after scaling it is a convex combination of neighbouring pixels' spectra with
the same weights in every band. Random numbers come from torch's global generator, so a seeded
(and a resumed) run sees the same augmentations. Introduced in notebook 03 (StyleGAN2-ADA).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

OPS = ("xflip", "rot90", "translate", "scale", "cutout")


def _apply(mask: torch.Tensor, new: torch.Tensor, old: torch.Tensor) -> torch.Tensor:
    return torch.where(mask.view(-1, 1, 1, 1), new, old)


def xflip(x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mirror the images where ``mask`` (B bool) is set."""
    return _apply(mask, x.flip(-1), x)


def rot90(x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Rotate each image where ``mask`` by 90, 180 or 270 degrees (square images)."""
    turns = torch.randint(1, 4, (x.shape[0],)).to(x.device)
    out = x
    for k in (1, 2, 3):
        out = _apply(mask & (turns == k), torch.rot90(x, k, dims=(-2, -1)), out)
    return out


def translate(x: torch.Tensor, mask: torch.Tensor, ratio: float = 0.125) -> torch.Tensor:
    """Shift each image where ``mask`` by integers in [-ratio * side, ratio * side], with
    reflection at the borders (every output pixel is an input pixel of the same image)."""
    b, _, h, w = x.shape
    s = max(1, int(round(ratio * min(h, w))))
    s = min(s, h - 1, w - 1)
    dy = torch.randint(-s, s + 1, (b,)) * mask.cpu()
    dx = torch.randint(-s, s + 1, (b,)) * mask.cpu()
    padded = F.pad(x, (s, s, s, s), mode="reflect")
    iy = (torch.arange(h)[None, :] - dy[:, None] + s).to(x.device)
    ix = (torch.arange(w)[None, :] - dx[:, None] + s).to(x.device)
    bi = torch.arange(b, device=x.device)[:, None, None]
    out = padded.permute(0, 2, 3, 1)[bi, iy[:, :, None], ix[:, None, :]]  # B x H x W x C
    return out.permute(0, 3, 1, 2).contiguous()


def scale(x: torch.Tensor, mask: torch.Tensor, std: float = 0.2) -> torch.Tensor:
    """Zoom each image where ``mask`` about its centre by ``2 ** N(0, std)`` (the same factor
    in both axes and every band; bilinear, reflection outside)."""
    b = x.shape[0]
    factor = torch.exp2(torch.randn(b) * std).to(x.device, x.dtype)
    factor = torch.where(mask, factor, torch.ones_like(factor))
    theta = torch.zeros(b, 2, 3, device=x.device, dtype=x.dtype)
    theta[:, 0, 0] = theta[:, 1, 1] = 1.0 / factor  # output pixel reads input at coord / factor
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    out = F.grid_sample(x, grid, mode="bilinear", padding_mode="reflection", align_corners=False)
    return _apply(mask, out, x)


def cutout(x: torch.Tensor, mask: torch.Tensor, ratio: float = 0.5) -> torch.Tensor:
    """Zero a square of ``ratio * side`` (centred anywhere) in each image where ``mask``."""
    b, _, h, w = x.shape
    cy, cx = torch.rand(b, 1, 1), torch.rand(b, 1, 1)
    ys = (torch.arange(h).view(1, h, 1) + 0.5) / h
    xs = (torch.arange(w).view(1, 1, w) + 0.5) / w
    inside = ((ys - cy).abs() < ratio / 2) & ((xs - cx).abs() < ratio / 2)
    keep = ~(inside & mask.cpu().view(-1, 1, 1))
    return x * keep[:, None].to(x.device, x.dtype)


_FUNCS = {"xflip": xflip, "rot90": rot90, "translate": translate, "scale": scale,
          "cutout": cutout}


def check_ops(ops: Sequence[str]) -> tuple[str, ...]:
    """``ops`` as a tuple, refusing any that is not in :data:`OPS` (e.g. colour operations)."""
    bad = [o for o in ops if o not in OPS]
    if bad:
        raise ValueError(f"ADA operations {bad} are not spectrum-safe or unknown; allowed: {OPS}")
    return tuple(ops)


def augment(x: torch.Tensor, p: float, ops: Sequence[str] = OPS) -> torch.Tensor:
    """Apply each of ``ops`` (in :data:`OPS` order) to each image of the B x C x H x W batch
    independently with probability ``p``; differentiable in ``x``. ``p = 0`` returns ``x``."""
    ops = check_ops(ops)
    if p <= 0:
        return x
    for name in OPS:
        if name in ops:
            mask = (torch.rand(x.shape[0]) < p).to(x.device)
            x = _FUNCS[name](x, mask)
    return x


class AdaptiveAugment(nn.Module):
    """The probability ``p`` and the overfitting signal ``r_t`` of ADA, kept as buffers (so they
    travel with the objective's state into checkpoints and resume exactly).

    Call :meth:`accumulate` with the discriminator's logits on the (augmented) real images of
    each step and :meth:`adjust` once per step; every ``interval`` steps ``p`` moves by
    ``sign(r_t - target) * batch * interval / (kimg * 1000)`` and the accumulator restarts.
    """

    def __init__(self, target: float = 0.6, interval: int = 4, kimg: float = 500.0,
                 ops: Sequence[str] = OPS, p_init: float = 0.0) -> None:
        super().__init__()
        if not 0 < target < 1:
            raise ValueError(f"ADA target must be in (0, 1), got {target}")
        if interval < 1 or kimg <= 0:
            raise ValueError(f"ADA interval must be >= 1 and kimg > 0, got {interval}, {kimg}")
        self.target, self.interval, self.kimg = float(target), int(interval), float(kimg)
        self.ops = check_ops(ops)
        self.register_buffer("p", torch.tensor(float(p_init), dtype=torch.float64))
        self.register_buffer("sign_sum", torch.zeros((), dtype=torch.float64))
        self.register_buffer("count", torch.zeros((), dtype=torch.float64))
        self.register_buffer("r_t", torch.tensor(math.nan, dtype=torch.float64))
        self.register_buffer("steps", torch.zeros((), dtype=torch.int64))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return augment(x, float(self.p), self.ops) if self.ops else x

    @torch.no_grad()
    def accumulate(self, real_logits: torch.Tensor) -> None:
        """Add the signs of the discriminator's logits on real images to the running r_t."""
        s = torch.sign(real_logits.detach().float()).flatten()
        self.sign_sum += s.sum().double().cpu().to(self.sign_sum.device)
        self.count += s.numel()

    @torch.no_grad()
    def adjust(self, batch_size: int) -> None:
        """End of one training step: every ``interval`` steps, update ``p`` from r_t."""
        self.steps += 1
        if int(self.steps) % self.interval or float(self.count) == 0:
            return
        self.r_t.fill_(float(self.sign_sum / self.count))
        r = float(self.r_t)
        sign = (r > self.target) - (r < self.target)
        delta = sign * batch_size * self.interval / (self.kimg * 1000.0)
        self.p.fill_(min(1.0, max(0.0, float(self.p) + delta)))
        self.sign_sum.zero_()
        self.count.zero_()
