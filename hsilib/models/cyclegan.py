"""CycleGAN between RGB dermoscopy images and 16-band hyperspectral cubes (notebook 04).

Zhu, Park, Isola & Efros, "Unpaired Image-to-Image Translation using Cycle-Consistent
Adversarial Networks", ICCV 2017, with the study's settings (:class:`hsilib.config.CycleGANConfig`):

- two **U-Net generators** (Ronneberger et al. 2015; pix2pix's ``unet_256``): ``G_hs`` maps RGB
  (3 channels) to a cube (16 bands), ``G_rgb`` maps a cube to RGB; the encoder halves the side
  down to 1 x 1 (8 levels at 256 px), the decoder mirrors it with skip connections;
- two **PatchGAN discriminators** (70 x 70 receptive field with 3 stride-2 layers), ``D_hs`` on
  cubes and ``D_rgb`` on RGB images;
- the **least-squares GAN loss** (Mao et al. 2017): D pays ``(D(real) - 1)^2 + D(fake)^2``,
  G pays ``(D(G(x)) - 1)^2``;
- the **cycle loss**, weight ``lambda = 10``::

      L_cyc = |G_rgb(G_hs(a)) - a|_1 + |G_hs(G_rgb(b)) - b|_1      (a: RGB, b: cube)

- the **identity term**, weight ``0.5 lambda``. CycleGAN's ``|G(y) - y|_1`` needs the same
  channels on both sides, which RGB and 16 bands do not have; its role (keep the colours of
  the input) is taken by the fixed sRGB rendering ``R`` of a cube
  (:class:`hsilib.models.projection.HSToRGB`)::

      L_id = |R(G_hs(a)) - a|_1 + |G_rgb(b) - R(b)|_1

  (RGB in [-1, 1]; cubes mapped to reflectance with the training normaliser's range, config
  ``band_min`` / ``band_max``, before rendering);
- an **image history buffer** per discriminator (:class:`ImagePool`, 50 images; Shrivastava et
  al. 2017) and a learning rate decaying linearly to 0 after ``decay_start``
  (:func:`hsilib.train.trainer.linear_decay`).

Batches (the trainer's dict): ``image`` (cubes in [-1, 1]) and ``rgb`` (RGB images in [0, 1],
unpaired with the cubes; :class:`hsilib.data.samplers.UnpairedSampler`)::

    cfg = config.resolve("quick", "cyclegan", band_min=..., band_max=...)
    trainer = Trainer(registry.build(cfg, seed=0), UnpairedSampler(cubes, rgb, cfg.batch_size),
                      lr_schedule=linear_decay(cfg.steps, cfg.decay_start), ...)
    cubes = trainer.objective.translate(rgb, to="hs")
"""

from __future__ import annotations

import math
import random
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from .. import config
from ..data.samplers import UnpairedSampler as UnpairedSampler  # re-exported for notebook 04
from . import registry
from .objective import Objective, Step


# --------------------------------------------------------------------------------------------
# Networks
# --------------------------------------------------------------------------------------------
def _init_normal(module: nn.Module) -> None:
    """CycleGAN's initialisation: conv weights ~ N(0, 0.02), biases 0."""
    for m in module.modules():
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d)):
            nn.init.normal_(m.weight, 0.0, 0.02)
            if m.bias is not None:
                nn.init.zeros_(m.bias)


class UNetGenerator(nn.Module):
    """U-Net: ``in_channels`` -> ``out_channels`` at the same side, output in [-1, 1].

    ``depth`` stride-2 levels (default: down to 1 x 1, log2 of ``image_size``); level ``i``
    has ``ngf * min(2^i, 8)`` channels. Down: 4 x 4 stride-2 conv, instance norm (not on the
    first and the innermost level), LeakyReLU(0.2); up: ReLU, 4 x 4 stride-2 transposed conv,
    instance norm, concatenated with the matching down features. No dropout (CycleGAN's
    setting for its U-Net).
    """

    def __init__(self, in_channels: int, out_channels: int, image_size: int = 256,
                 ngf: int = 64, depth: int | None = None) -> None:
        super().__init__()
        depth = depth or int(math.log2(image_size))
        if 2 ** depth > image_size:
            raise ValueError(f"UNetGenerator: depth {depth} halves {image_size} px below 1")
        self.depth = depth
        ch = [ngf * min(2 ** i, 8) for i in range(depth)]
        self.downs = nn.ModuleList()
        for i in range(depth):
            c_in = in_channels if i == 0 else ch[i - 1]
            layers: list[nn.Module] = [] if i == 0 else [nn.LeakyReLU(0.2, True)]
            layers.append(nn.Conv2d(c_in, ch[i], 4, 2, 1, bias=False))
            if 0 < i < depth - 1:
                layers.append(nn.InstanceNorm2d(ch[i]))
            self.downs.append(nn.Sequential(*layers))
        self.ups = nn.ModuleList()
        for i in reversed(range(depth)):
            c_in = ch[i] if i == depth - 1 else 2 * ch[i]
            if i == 0:
                self.ups.append(nn.Sequential(nn.ReLU(True),
                                              nn.ConvTranspose2d(c_in, out_channels, 4, 2, 1),
                                              nn.Tanh()))
            else:
                self.ups.append(nn.Sequential(
                    nn.ReLU(True), nn.ConvTranspose2d(c_in, ch[i - 1], 4, 2, 1, bias=False),
                    nn.InstanceNorm2d(ch[i - 1])))
        _init_normal(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        skips = []
        for down in self.downs:
            x = down(x)
            skips.append(x)
        h = skips.pop()
        for up in self.ups[:-1]:
            h = torch.cat([up(h), skips.pop()], 1)
        return self.ups[-1](h)


class PatchDiscriminator(nn.Module):
    """PatchGAN: ``n_layers`` 4 x 4 stride-2 convs (widths ndf, 2 ndf, ... max 8 ndf), one
    4 x 4 stride-1 conv, and a 1-channel 4 x 4 output: one score per overlapping patch (70 x 70
    pixels for 3 layers). Instance norm after every conv but the first and the last."""

    def __init__(self, in_channels: int, ndf: int = 64, n_layers: int = 3) -> None:
        super().__init__()
        layers: list[nn.Module] = [nn.Conv2d(in_channels, ndf, 4, 2, 1), nn.LeakyReLU(0.2, True)]
        c = ndf
        for i in range(1, n_layers + 1):
            c_out = ndf * min(2 ** i, 8)
            stride = 2 if i < n_layers else 1
            layers += [nn.Conv2d(c, c_out, 4, stride, 1, bias=False), nn.InstanceNorm2d(c_out),
                       nn.LeakyReLU(0.2, True)]
            c = c_out
        layers.append(nn.Conv2d(c, 1, 4, 1, 1))
        self.main = nn.Sequential(*layers)
        _init_normal(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.main(x)


# --------------------------------------------------------------------------------------------
# Losses and the image history buffer
# --------------------------------------------------------------------------------------------
def lsgan_loss(pred: torch.Tensor, target_real: bool) -> torch.Tensor:
    """Least-squares GAN loss: ``mean((pred - 1)^2)`` for real targets, ``mean(pred^2)`` else."""
    return F.mse_loss(pred, torch.full_like(pred, 1.0 if target_real else 0.0))


def cycle_loss(a: torch.Tensor, b: torch.Tensor, g_ab: nn.Module, g_ba: nn.Module, *,
               fake_b: torch.Tensor | None = None, fake_a: torch.Tensor | None = None
               ) -> torch.Tensor:
    """``|g_ba(g_ab(a)) - a|_1 + |g_ab(g_ba(b)) - b|_1`` (mean absolute errors); ``fake_b =
    g_ab(a)`` and ``fake_a = g_ba(b)`` may be passed when already computed."""
    fake_b = g_ab(a) if fake_b is None else fake_b
    fake_a = g_ba(b) if fake_a is None else fake_a
    return (g_ba(fake_b) - a).abs().mean() + (g_ab(fake_a) - b).abs().mean()


class ImagePool:
    """History of generated images shown to a discriminator (Shrivastava et al. 2017).

    Until ``size`` images are stored every image passes through and is stored. Then each
    image, with probability 0.5, replaces a random stored one and the stored one is returned
    instead; otherwise it passes through. ``size = 0`` turns the buffer off. Its random draws
    come from Python's ``random`` module, whose state the trainer's checkpoints keep.
    """

    def __init__(self, size: int = 50) -> None:
        if size < 0:
            raise ValueError(f"ImagePool size must be >= 0, got {size}")
        self.size, self.images = size, []

    def query(self, images: torch.Tensor) -> torch.Tensor:
        if self.size == 0:
            return images
        out = []
        for img in images.detach():
            img = img[None]
            if len(self.images) < self.size:
                self.images.append(img.clone())
                out.append(img)
            elif random.random() < 0.5:
                k = random.randrange(self.size)
                out.append(self.images[k].clone())
                self.images[k] = img.clone()
            else:
                out.append(img)
        return torch.cat(out)


# --------------------------------------------------------------------------------------------
# Objective
# --------------------------------------------------------------------------------------------
class CycleGANObjective(Objective):
    """CycleGAN's step for :class:`hsilib.train.trainer.Trainer`: both generators updated
    together (LSGAN + cycle + identity), then each discriminator on real images and on
    generated ones drawn through its history buffer (loss halved, as in the official code).
    Four networks: ``G_hs`` (RGB -> cube), ``G_rgb`` (cube -> RGB), ``D_hs``, ``D_rgb``; three
    optimisers (``G`` for both generators, ``D_hs``, ``D_rgb``)."""

    family = "cyclegan"
    ema_nets = ()
    sampled_net = "G_hs"
    optimizer_nets = {"G": ("G_hs", "G_rgb"), "D_hs": ("D_hs",), "D_rgb": ("D_rgb",)}

    def __init__(self, cfg: config.CycleGANConfig) -> None:
        nets = {"G_hs": UNetGenerator(cfg.rgb_channels, cfg.n_bands, cfg.image_size, cfg.ngf),
                "G_rgb": UNetGenerator(cfg.n_bands, cfg.rgb_channels, cfg.image_size, cfg.ngf),
                "D_hs": PatchDiscriminator(cfg.n_bands, cfg.ndf, cfg.d_layers),
                "D_rgb": PatchDiscriminator(cfg.rgb_channels, cfg.ndf, cfg.d_layers)}
        super().__init__(cfg, nets)
        self.pools = {"hs": ImagePool(cfg.pool_size), "rgb": ImagePool(cfg.pool_size)}
        self._render: nn.Module | None = None
        if cfg.identity_weight > 0 and len(cfg.band_min) != cfg.n_bands:
            raise ValueError(f"identity_weight > 0 needs band_min / band_max with "
                             f"{cfg.n_bands} values (the training normaliser's range), got "
                             f"{len(cfg.band_min)}")

    # -- rendering ----------------------------------------------------------------------------
    def render(self, cubes: torch.Tensor) -> torch.Tensor:
        """Cubes in [-1, 1] -> their sRGB rendering in [-1, 1] (the identity term's target)."""
        if self._render is None:
            from .projection import HSToRGB

            self._render = HSToRGB().to(self.device)
        lo = torch.tensor(self.cfg.band_min, device=cubes.device)[None, :, None, None]
        hi = torch.tensor(self.cfg.band_max, device=cubes.device)[None, :, None, None]
        reflectance = (cubes.float() + 1) / 2 * (hi - lo) + lo
        return self._render(reflectance) * 2 - 1

    def identity_loss(self, rgb: torch.Tensor, cubes: torch.Tensor, *,
                      fake_hs: torch.Tensor | None = None,
                      fake_rgb: torch.Tensor | None = None) -> torch.Tensor:
        """``|R(G_hs(rgb)) - rgb|_1 + |G_rgb(cubes) - R(cubes)|_1`` (all in [-1, 1]);
        ``fake_hs = G_hs(rgb)`` and ``fake_rgb = G_rgb(cubes)`` may be passed when already
        computed (the training step passes the cycle's own translations)."""
        fake_hs = self.nets["G_hs"](rgb) if fake_hs is None else fake_hs
        fake_rgb = self.nets["G_rgb"](cubes) if fake_rgb is None else fake_rgb
        return ((self.render(fake_hs) - rgb).abs().mean()
                + (fake_rgb - self.render(cubes)).abs().mean())

    def optimizer_options(self, name: str) -> dict[str, Any]:
        """The config's rate and betas, with the fused Adam kernel (the same update, up to
        rounding, in one pass over each parameter)."""
        return super().optimizer_options(name) | {"fused": True}

    # -- training -----------------------------------------------------------------------------
    def train_step(self, step: Step) -> dict[str, float]:
        """One step in the official code's order (both generators, then each discriminator)
        and with its losses. Every layer of these networks works on each image alone
        (instance norm, no batch statistics), so two inputs of one network are stacked into one
        batch, which computes the same outputs with fewer, larger operations:
        ``G_hs([rgb, G_rgb(cubes)])`` gives the translation and the second half of the cycle
        in one pass, and each discriminator scores its real and its history images in one
        pass. The identity term reuses the cycle's translations ``G_hs(rgb)`` and
        ``G_rgb(cubes)`` instead of computing them again."""
        cfg, n = self.cfg, self.nets
        batch = step.batch(0)
        cubes, rgb = batch["image"], batch["rgb"] * 2 - 1
        b = len(rgb)
        discs = (n["D_hs"], n["D_rgb"])
        for d in discs:
            d.requires_grad_(False)
        with step.autocast():
            fake_rgb = n["G_rgb"](cubes)
            fake_hs, rec_hs = n["G_hs"](torch.cat([rgb, fake_rgb.to(rgb.dtype)])).split(b)
            rec_rgb = n["G_rgb"](fake_hs)
            adv = lsgan_loss(n["D_hs"](fake_hs), True) + lsgan_loss(n["D_rgb"](fake_rgb), True)
            cyc = (rec_rgb - rgb).abs().mean() + (rec_hs - cubes).abs().mean()
            loss_g = adv + cfg.cycle_weight * cyc
            logs = {"g_adv": adv.item(), "g_cycle": cyc.item()}
            if cfg.identity_weight > 0:
                idt = self.identity_loss(rgb, cubes, fake_hs=fake_hs, fake_rgb=fake_rgb)
                loss_g = loss_g + cfg.identity_weight * cfg.cycle_weight * idt
                logs["g_identity"] = idt.item()
        step.update("G", loss_g)
        for d in discs:
            d.requires_grad_(True)
        for name, real, fake in (("hs", cubes, fake_hs), ("rgb", rgb, fake_rgb)):
            D = n[f"D_{name}"]
            with step.autocast():
                past = self.pools[name].query(fake.detach())
                pred_real, pred_past = D(torch.cat([real, past.to(real.dtype)])).split(b)
                loss_d = 0.5 * (lsgan_loss(pred_real, True) + lsgan_loss(pred_past, False))
            step.update(f"D_{name}", loss_d)
            logs[f"d_{name}"] = loss_d.item()
        return logs | {"g_loss": loss_g.item()}

    # -- translation and sampling -------------------------------------------------------------
    def translate(self, images: torch.Tensor, *, to: str, batch_size: int | None = None
                  ) -> torch.Tensor:
        """RGB (N x 3 x S x S in [0, 1]) -> cubes in [-1, 1] (``to="hs"``), or cubes in [-1, 1]
        -> RGB in [0, 1] (``to="rgb"``); CPU float32, generators in eval mode."""
        if to not in ("hs", "rgb"):
            raise ValueError(f"to must be 'hs' or 'rgb', got {to!r}")
        want = self.cfg.rgb_channels if to == "hs" else self.cfg.n_bands
        if images.ndim != 4 or images.shape[1] != want:
            raise ValueError(f"translate(to={to!r}) takes N x {want} x S x S, got "
                             f"{tuple(images.shape)}")
        if to == "hs":
            return self.map_batches(lambda rgb: self.from_rgb(self.nets["G_hs"], rgb),
                                    len(images), batch_size, rgb=images)
        return self.map_batches(lambda x: (self.nets["G_rgb"](x.float()).float() + 1) / 2,
                                len(images), batch_size, x=images)

    @staticmethod
    def from_rgb(G: nn.Module, rgb: torch.Tensor) -> torch.Tensor:
        """``G_hs`` on RGB images in [0, 1] (it works in [-1, 1])."""
        return G(rgb.float() * 2 - 1)

    def sample_inputs(self, n: int, gen: torch.Generator, rgb: torch.Tensor | None = None,
                      **condition: Any) -> dict[str, Any]:
        """``n`` of the RGB images ``rgb=`` (N x 3 x S x S in [0, 1]), drawn with the seed
        (with replacement when ``n`` exceeds N), to translate into cubes."""
        if condition or rgb is None:
            raise TypeError("CycleGAN samples translate RGB images: pass rgb=N x 3 x S x S only")
        rgb = torch.as_tensor(rgb, dtype=torch.float32)
        rng = np.random.default_rng(gen.initial_seed())  # the sample seed
        idx = rng.choice(len(rgb), n, replace=n > len(rgb))
        return {"rgb": rgb[torch.as_tensor(idx)]}

    def sample_batch(self, G: nn.Module, n: int, gen: torch.Generator, *,
                     rgb: torch.Tensor) -> torch.Tensor:
        return self.from_rgb(G, rgb)


registry.register("cyclegan", config.CycleGANConfig, CycleGANObjective)
