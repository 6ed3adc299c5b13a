"""FastGAN's published training step, written here for speed comparisons (never trained with).

Liu et al. 2021 and the authors' code (``train.py``): this file rewrites its order of work in
the project's own words, it copies none of it. Per step:

1. draw a real batch and z, generate the ``(big, small)`` pair;
2. DiffAugment the real images and each generated image once (the same augmented fakes serve
   both updates); the published translation indexes a channels-last view of the padded
   images and returns it, so the discriminator receives channels_last tensors (written out
   in :func:`translate_published`), while the generator runs in PyTorch's default layout;
3. discriminator: real images scored with the random-margin hinge loss plus the decoders'
   reconstruction loss on a random quadrant, back-propagated at once; then the detached
   fakes scored and back-propagated; one Adam step (PyTorch's default, per-parameter Adam);
4. generator: the augmented fakes scored by the discriminator, which is *not* frozen (its
   weight gradients are computed and dropped at its next zero_grad); one Adam step;
5. the EMA of the generator's weights as a separate list of tensors, ``avg = 0.999 avg +
   0.001 p``.

The networks are the project's :class:`~hsilib.models.fastgan.Generator` and
:class:`~hsilib.models.fastgan.Discriminator`, which have the published layers and widths, with
their upsampling convolutions run as published, nearest upsampling then a 3 x 3 convolution
(``UpConv.fold`` off), and spectral normalisation's power iteration on every training forward
pass, as published. The
reconstruction loss is the project's (L1 + (1 - SSIM); the published LPIPS needs a backbone
file that an offline machine lacks), and the augmentation policy is the project's
(translation, cutout; the published default also changes colours, which would corrupt
spectra). Same networks, losses and random work: the difference is the loop.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F

from ..quiet import expected_warnings
from .steps import Case, data, resolve, timed_steps


def translate_published(x: torch.Tensor, ratio: float = 0.125) -> torch.Tensor:
    """Shift each image by up to ``ratio`` of its side, zero-filled, indexing a channels-last
    view of the padded batch and returning that view (the published translation's layout)."""
    b, _, h, w = x.shape
    sy, sx = int(h * ratio + 0.5), int(w * ratio + 0.5)
    dy = torch.randint(-sy, sy + 1, (b, 1, 1))
    dx = torch.randint(-sx, sx + 1, (b, 1, 1))
    gy = torch.clamp(torch.arange(h)[None, :, None] + dy + 1, 0, h + 1)
    gx = torch.clamp(torch.arange(w)[None, None, :] + dx + 1, 0, w + 1)
    padded = F.pad(x, [1, 1, 1, 1]).permute(0, 2, 3, 1).contiguous()
    return padded[torch.arange(b)[:, None, None], gy, gx].permute(0, 3, 1, 2)


def cutout_published(x: torch.Tensor, ratio: float = 0.5) -> torch.Tensor:
    """Zero a square of half the side per image (a multiplicative mask, layout kept)."""
    b, _, h, w = x.shape
    ch, cw = int(h * ratio + 0.5), int(w * ratio + 0.5)
    oy = torch.randint(0, h + (1 - ch % 2), (b, 1, 1))
    ox = torch.randint(0, w + (1 - cw % 2), (b, 1, 1))
    ys = torch.arange(h)[None, :, None] - oy + ch // 2
    xs = torch.arange(w)[None, None, :] - ox + cw // 2
    keep = ~((ys >= 0) & (ys < ch) & (xs >= 0) & (xs < cw))
    return x * keep[:, None].to(x.dtype)


def augment_published(x: torch.Tensor) -> torch.Tensor:
    return cutout_published(translate_published(x))


def published_step(lib, case: Case, seed: int = 0) -> Callable[[], int]:
    """The published loop for ``case`` (a FastGAN case), with networks and losses from ``lib``."""
    from ..models import fastgan, losses  # this revision's networks: the published layers
    from ..models.layers import UpConv

    cfg = resolve(lib, case)
    images = data(cfg, seed)["image"]
    torch.manual_seed(seed)
    G = fastgan.Generator(cfg.image_size, cfg.n_bands, cfg.z_dim, cfg.ngf)
    D = fastgan.Discriminator(cfg.image_size, cfg.n_bands, cfg.ndf)
    for m in (*G.modules(), *D.modules()):
        if isinstance(m, UpConv):
            m.fold = False  # the published layers: the upsampled map, then the convolution
    with expected_warnings("lpips_fallback"):  # no LPIPS backbone offline: L1 + (1 - SSIM)
        recon = losses.reconstruction_loss(cfg.n_bands, None)
    opt_g = torch.optim.Adam(G.parameters(), lr=cfg.lr, betas=cfg.betas)
    opt_d = torch.optim.Adam(D.parameters(), lr=cfg.lr, betas=cfg.betas)
    avg = [p.detach().clone() for p in G.parameters()]
    b = cfg.batch_size

    def step() -> None:
        real = images[torch.randint(0, len(images), (b,))]
        fake = G(torch.randn(b, cfg.z_dim))
        real = augment_published(real)
        fake = [augment_published(f) for f in fake]
        D.zero_grad()
        part = int(torch.randint(0, 4, (1,)))
        logits, recs = D(real, part=part)
        targets = fastgan.reconstruction_targets(real, part)
        err = losses.hinge_d_real(logits) + sum(recon(recs[k], targets[k]) for k in recs)
        err.backward()
        losses.hinge_d_fake(D(tuple(f.detach() for f in fake))).backward()
        opt_d.step()
        G.zero_grad()
        (-D(tuple(fake)).mean()).backward()
        opt_g.step()
        with torch.no_grad():
            for a, p in zip(avg, G.parameters(), strict=True):
                a.mul_(cfg.ema_decay).add_(p.detach(), alpha=1 - cfg.ema_decay)

    return timed_steps(step, case.steps_per_call)
