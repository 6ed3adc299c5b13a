"""CycleGAN's published training step, written here for speed comparisons (never trained with).

Zhu et al. 2017 and the reference implementation (pytorch-CycleGAN-and-pix2pix, ``unet``
generators, ``basic`` PatchGAN discriminators, instance norm, ``lsgan``): this file rewrites
its networks and its order of optimisation in the project's own words, it copies none of it.

- **Networks**: a U-Net of nested skip blocks (4 x 4 stride-2 convolutions down, transposed
  convolutions up, instance norm without affine parameters except on the outermost and
  innermost down sides, the block's input concatenated before its output) and a PatchGAN
  (4 x 4 convolutions, instance norm, leaky ReLU). With instance norm the reference gives every
  convolution a bias. The U-Net goes down to 1 x 1, as the project's does at any size.
- **Step**: the four translations ``G_hs(rgb)``, ``G_rgb(G_hs(rgb))``, ``G_rgb(cube)``,
  ``G_hs(G_rgb(cube))`` one by one; with both discriminators frozen, the generators' loss
  (LSGAN, cycle x 10 and the identity term x 5) with the identity term computed from two more
  generator passes of its own, as the reference computes ``G_A(B)`` and ``G_B(A)``; one Adam
  step for both generators; then each discriminator on its real images and on images from its
  history buffer, scored one after the other and halved; one Adam step for both
  discriminators. The identity term is the project's (an RGB image and a 16-band cube have
  different channels, so the reference's ``|G(y) - y|`` is replaced by the rendering-based
  term of :mod:`hsilib.models.cyclegan`), the same work as the reference's.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable

import torch
from torch import nn

from .steps import Case, data, resolve, timed_steps


class SkipBlock(nn.Module):
    """One level of the reference U-Net: down, the ``inner`` block, up; its input concatenated
    before its output (except at the outermost level)."""

    def __init__(self, outer: int, inner: int, sub: nn.Module | None, *, c_in: int | None = None,
                 outermost: bool = False) -> None:
        super().__init__()
        c_in = outer if c_in is None else c_in
        down = nn.Conv2d(c_in, inner, 4, 2, 1, bias=True)
        up_in = inner if sub is None else 2 * inner
        self.outermost = outermost
        if outermost:
            layers = [down, sub, nn.ReLU(True), nn.ConvTranspose2d(up_in, outer, 4, 2, 1),
                      nn.Tanh()]
        elif sub is None:  # innermost: no norm after the down convolution
            layers = [nn.LeakyReLU(0.2, True), down, nn.ReLU(True),
                      nn.ConvTranspose2d(up_in, outer, 4, 2, 1), nn.InstanceNorm2d(outer)]
        else:
            layers = [nn.LeakyReLU(0.2, True), down, nn.InstanceNorm2d(inner), sub,
                      nn.ReLU(True), nn.ConvTranspose2d(up_in, outer, 4, 2, 1),
                      nn.InstanceNorm2d(outer)]
        self.model = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x) if self.outermost else torch.cat([x, self.model(x)], 1)


def unet(c_in: int, c_out: int, image_size: int, ngf: int) -> nn.Module:
    """The reference U-Net with ``log2(image_size)`` levels (widths ngf, 2, 4, 8 ngf, ...)."""
    depth = int(math.log2(image_size))
    widths = [ngf * min(2 ** i, 8) for i in range(depth)]
    block = SkipBlock(widths[-2], widths[-1], None)
    for i in range(depth - 2, 0, -1):
        block = SkipBlock(widths[i - 1], widths[i], block)
    return SkipBlock(c_out, widths[0], block, c_in=c_in, outermost=True)


def patchgan(c_in: int, ndf: int, n_layers: int) -> nn.Module:
    """The reference PatchGAN: 4 x 4 convolutions, instance norm, leaky ReLU."""
    layers: list[nn.Module] = [nn.Conv2d(c_in, ndf, 4, 2, 1), nn.LeakyReLU(0.2, True)]
    c = ndf
    for i in range(1, n_layers + 1):
        c_out = ndf * min(2 ** i, 8)
        layers += [nn.Conv2d(c, c_out, 4, 2 if i < n_layers else 1, 1, bias=True),
                   nn.InstanceNorm2d(c_out), nn.LeakyReLU(0.2, True)]
        c = c_out
    return nn.Sequential(*layers, nn.Conv2d(c, 1, 4, 1, 1))


def published_step(lib, case: Case, seed: int = 0) -> Callable[[], int]:
    """The reference loop for ``case`` (a CycleGAN case); losses, rendering and history buffer
    from ``lib``'s CycleGAN module."""
    from ..models import cyclegan

    cfg = resolve(lib, case)
    batches = data(cfg, seed)
    torch.manual_seed(seed)
    G_hs = unet(cfg.rgb_channels, cfg.n_bands, cfg.image_size, cfg.ngf)
    G_rgb = unet(cfg.n_bands, cfg.rgb_channels, cfg.image_size, cfg.ngf)
    D_hs, D_rgb = patchgan(cfg.n_bands, cfg.ndf, cfg.d_layers), patchgan(
        cfg.rgb_channels, cfg.ndf, cfg.d_layers)
    for net in (G_hs, G_rgb, D_hs, D_rgb):
        cyclegan._init_normal(net)
    losses = cyclegan.CycleGANObjective(cfg)  # its rendering for the identity term only
    opt_g = torch.optim.Adam(itertools.chain(G_hs.parameters(), G_rgb.parameters()),
                             lr=cfg.lr, betas=cfg.betas)
    opt_d = torch.optim.Adam(itertools.chain(D_hs.parameters(), D_rgb.parameters()),
                             lr=cfg.lr, betas=cfg.betas)
    pools = {"hs": cyclegan.ImagePool(cfg.pool_size), "rgb": cyclegan.ImagePool(cfg.pool_size)}
    lsgan, b = cyclegan.lsgan_loss, cfg.batch_size

    def step() -> None:
        cubes = batches["image"][torch.randint(0, 32, (b,))]
        rgb = batches["rgb"][torch.randint(0, 32, (b,))] * 2 - 1
        fake_hs = G_hs(rgb)
        rec_rgb = G_rgb(fake_hs)
        fake_rgb = G_rgb(cubes)
        rec_hs = G_hs(fake_rgb)
        for p in itertools.chain(D_hs.parameters(), D_rgb.parameters()):
            p.requires_grad_(False)
        opt_g.zero_grad()
        idt = ((losses.render(G_hs(rgb)) - rgb).abs().mean()
               + (G_rgb(cubes) - losses.render(cubes)).abs().mean())
        loss = (lsgan(D_hs(fake_hs), True) + lsgan(D_rgb(fake_rgb), True)
                + cfg.cycle_weight * ((rec_rgb - rgb).abs().mean() + (rec_hs - cubes).abs().mean())
                + cfg.identity_weight * cfg.cycle_weight * idt)
        loss.backward()
        opt_g.step()
        for p in itertools.chain(D_hs.parameters(), D_rgb.parameters()):
            p.requires_grad_(True)
        opt_d.zero_grad()
        for D, real, fake, name in ((D_hs, cubes, fake_hs, "hs"), (D_rgb, rgb, fake_rgb, "rgb")):
            past = pools[name].query(fake)
            (0.5 * (lsgan(D(real), True) + lsgan(D(past.detach()), False))).backward()
        opt_d.step()

    return timed_steps(step, case.steps_per_call)
