"""StyleGAN2-ADA for hyperspectral cubes (any band count, 32 to 256 pixels).

Karras et al., "Analyzing and Improving the Image Quality of StyleGAN" (CVPR 2020) and "Training
Generative Adversarial Networks with Limited Data" (NeurIPS 2020, ADA: :mod:`hsilib.models.ada`).

- **Mapping network**: ``z`` (normalised to unit mean square) -> ``w`` through fully connected
  layers with a learning rate 100x lower than the rest (equalised learning rate throughout: weights
  are drawn N(0, 1) and scaled by ``1 / sqrt(fan_in)`` at run time).
- **Synthesis network**: a learned 4 x 4 constant, then per resolution an upsampling modulated
  convolution and a modulated convolution, each followed by per-pixel noise (learned strength),
  a bias and a leaky ReLU; ``to_bands`` (a 1 x 1 modulated convolution without demodulation) maps
  every resolution to the bands, and the outputs are summed after upsampling (the *skip*
  generator). Each layer reads its own copy of ``w`` (``ws``: B x n_ws x w_dim); mixing two
  latents between layers during training (*style mixing*) keeps the layers' roles separate.
- **Modulation / demodulation** (:func:`~hsilib.models.stylegan2_layers.modulated_conv2d`): a
  style ``s = A(w)`` (one scale per input channel) scales the kernel, ``w'_oik = s_i w_oik``,
  then each output channel's kernel is renormalised, ``w''_oik = w'_oik / sqrt(sum_ik w'_oik^2
  + eps)``, so unit-variance inputs give unit-variance outputs.
- **Discriminator**: residual blocks down to 4 x 4, a minibatch standard-deviation feature, two
  fully connected layers to one logit per image.
- **Losses**: non-saturating logistic, ``softplus(D(fake)) + softplus(-D(real))`` for D and
  ``softplus(-D(fake))`` for G; R1 (``gamma / 2 * E||grad_x D(x_real)||^2``) every ``r1_every``
  steps (lazy: scaled by ``r1_every``); optional path-length regularisation every ``pl_every``;
  EMA generator for sampling.

Resampling follows the published design: the generator's upsampling convolutions are stride-2
transposed convolutions on the small map followed by the binomial ``[1, 3, 3, 1]`` filter, the
discriminator's downsampling convolutions filter and then stride by 2
(:mod:`hsilib.models.stylegan2_layers`, which also holds the equalised-learning-rate layers);
the images of the skip outputs are upsampled bilinearly and the residual skips average-pooled.
Widths: ``min(channel_max, channel_base // resolution)``.

Two tools that read the trained generator without labels, SeFa directions and inversion into
W / W+, live in :mod:`hsilib.models.stylegan2_edit`.

Introduced in notebook 03 (``notebooks/03_fastgan.ipynb``, the StyleGAN2-ADA part)::

    cfg = config.resolve("quick", "stylegan2")
    objective = registry.build(cfg, seed=0)       # G, D, ADA, losses (for the trainer)
    images = objective.sample(8, seed=0)          # 8 x 16 x 64 x 64 in [-1, 1]
"""

from __future__ import annotations

import math
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from .. import config
from . import registry
from .ada import AdaptiveAugment
from .layers import check_size
from .losses import r1_penalty
from .objective import Objective, Step
from .stylegan2_layers import (
    SQRT2,
    EqualConv2d,
    EqualLinear,
    ModulatedConv,
    StyleLayer,
    ToBands,
)


def channels(image_size: int, channel_base: int, channel_max: int) -> dict[int, int]:
    """Feature maps per resolution from 4 to ``image_size``: ``min(channel_max, channel_base //
    resolution)``, at least 1."""
    return {r: max(1, min(channel_max, channel_base // r))
            for r in (2 ** i for i in range(2, int(math.log2(image_size)) + 1))}


def n_ws(image_size: int) -> int:
    """Number of per-layer latents: two convolutions per resolution from 8 up, one at 4, and
    the last ``to_bands`` (``2 log2(S) - 2``, as published)."""
    return 2 * int(math.log2(image_size)) - 2


# --------------------------------------------------------------------------------------------
# Generator
# --------------------------------------------------------------------------------------------
class MappingNetwork(nn.Module):
    """z (B x z_dim) -> w (B x w_dim); keeps the running mean of w (``w_avg``) for truncation,
    SeFa and inversion."""

    def __init__(self, z_dim: int, w_dim: int, n_layers: int, lr_mul: float = 0.01) -> None:
        super().__init__()
        dims = [z_dim] + [w_dim] * n_layers
        self.net = nn.Sequential(*[EqualLinear(a, b, lr_mul=lr_mul, activate=True)
                                   for a, b in zip(dims[:-1], dims[1:], strict=True)])
        self.register_buffer("w_avg", torch.zeros(w_dim))

    def forward(self, z: torch.Tensor, *, track: bool = False) -> torch.Tensor:
        z = z * torch.rsqrt(z.square().mean(1, keepdim=True) + 1e-8)
        w = self.net(z)
        if track:
            with torch.no_grad():
                self.w_avg.lerp_(w.detach().mean(0).to(self.w_avg.dtype), 0.005)
        return w


class Generator(nn.Module):
    """``G(z)`` -> images B x n_bands x S x S (linear output; [-1, 1] is the data range).

    ``G.synthesis(ws)`` takes per-layer latents B x n_ws x w_dim; layers are named by resolution
    (``conv0_8`` upsamples to 8, ``conv1_8``, ``to_bands_8``; ``conv_4`` at the constant).
    """

    def __init__(self, image_size: int = 256, n_bands: int = 16, z_dim: int = 512,
                 w_dim: int = 512, mapping_layers: int = 8, channel_base: int = 16384,
                 channel_max: int = 512, mapping_lr_mul: float = 0.01) -> None:
        super().__init__()
        check_size(image_size)
        self.image_size, self.n_bands, self.z_dim, self.w_dim = image_size, n_bands, z_dim, w_dim
        self.n_ws = n_ws(image_size)
        ch = channels(image_size, channel_base, channel_max)
        self.mapping = MappingNetwork(z_dim, w_dim, mapping_layers, mapping_lr_mul)
        self.const = nn.Parameter(torch.randn(1, ch[4], 4, 4))
        self.conv_4 = StyleLayer(ch[4], ch[4], w_dim)
        self.to_bands_4 = ToBands(ch[4], n_bands, w_dim)
        self.resolutions = [r for r in ch if r > 4]
        for r in self.resolutions:
            self.add_module(f"conv0_{r}", StyleLayer(ch[r // 2], ch[r], w_dim, up=True))
            self.add_module(f"conv1_{r}", StyleLayer(ch[r], ch[r], w_dim))
            self.add_module(f"to_bands_{r}", ToBands(ch[r], n_bands, w_dim))

    def style_layers(self) -> list[ModulatedConv]:
        """The modulated convolutions in order of their latent index (to_bands excluded)."""
        convs = [self.conv_4.conv]
        for r in self.resolutions:
            convs += [getattr(self, f"conv0_{r}").conv, getattr(self, f"conv1_{r}").conv]
        return convs

    def synthesis(self, ws: torch.Tensor, noise: str = "random") -> torch.Tensor:
        """Per-layer latents ``ws`` (B x n_ws x w_dim) -> images. Latent ``i`` drives layer
        ``i``: ``conv_4`` 0, then two per resolution; each ``to_bands`` reads the latent after
        its convolutions (the last one reads ``n_ws - 1``). ``noise``: "random" or "none"."""
        if ws.dim() != 3 or ws.shape[1] != self.n_ws:
            raise ValueError(f"ws must be B x {self.n_ws} x {self.w_dim}, got {tuple(ws.shape)}")
        x = self.const.expand(ws.shape[0], -1, -1, -1)
        x = self.conv_4(x, ws[:, 0], noise)
        img = self.to_bands_4(x, ws[:, 1])
        i = 1
        for r in self.resolutions:
            x = getattr(self, f"conv0_{r}")(x, ws[:, i], noise)
            x = getattr(self, f"conv1_{r}")(x, ws[:, i + 1], noise)
            img = F.interpolate(img, scale_factor=2, mode="bilinear", align_corners=False)
            img = img + getattr(self, f"to_bands_{r}")(x, ws[:, i + 2])
            i += 2
        return img

    def ws(self, z: torch.Tensor, *, truncation: float = 1.0, mixing: float = 0.0,
           track: bool = False) -> torch.Tensor:
        """Per-layer latents for ``z``: ``w`` repeated, pulled towards ``w_avg`` by
        ``truncation`` < 1; with probability ``mixing`` per image a second latent (from
        torch's global generator) takes over from a random layer on."""
        w = self.mapping(z, track=track)
        if truncation != 1:
            w = self.mapping.w_avg.lerp(w, truncation)
        ws = w[:, None].repeat(1, self.n_ws, 1)
        if mixing > 0:
            w2 = self.mapping(torch.randn_like(z))
            cut = torch.randint(1, self.n_ws, (z.shape[0],)).to(z.device)
            cut = torch.where((torch.rand(z.shape[0]) < mixing).to(z.device), cut,
                              torch.full_like(cut, self.n_ws))
            later = torch.arange(self.n_ws, device=z.device)[None, :] >= cut[:, None]
            ws = torch.where(later[..., None], w2[:, None], ws)
        return ws

    def forward(self, z: torch.Tensor, *, truncation: float = 1.0, mixing: float = 0.0,
                noise: str = "random") -> torch.Tensor:
        return self.synthesis(self.ws(z, truncation=truncation, mixing=mixing,
                                      track=self.training), noise)


# --------------------------------------------------------------------------------------------
# Discriminator
# --------------------------------------------------------------------------------------------
class DResBlock(nn.Module):
    """Two 3 x 3 convolutions (the second halves the size) plus a 1 x 1 skip, summed / sqrt 2."""

    def __init__(self, c_in: int, c_out: int) -> None:
        super().__init__()
        self.conv1 = EqualConv2d(c_in, c_in, 3, activate=True)
        self.conv2 = EqualConv2d(c_in, c_out, 3, activate=True, down=True)
        self.skip = EqualConv2d(c_in, c_out, 1, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (self.conv2(self.conv1(x)) + self.skip(F.avg_pool2d(x, 2))) / SQRT2


def minibatch_std(x: torch.Tensor, group: int = 4) -> torch.Tensor:
    """Append one feature map: the standard deviation of each feature over groups of
    ``min(group, B)`` images (B must be divisible by it), averaged over features and pixels."""
    b, c, h, w = x.shape
    g = min(group, b)
    while b % g:
        g -= 1
    y = x.reshape(g, b // g, c, h, w)
    y = (y - y.mean(0)).square().mean(0).add(1e-8).sqrt().mean(dim=(1, 2, 3))  # b/g
    y = y.reshape(-1, 1, 1, 1).repeat(g, 1, h, w)
    return torch.cat([x, y], dim=1)


class Discriminator(nn.Module):
    """Residual discriminator: ``D(images)`` -> one logit per image (B)."""

    def __init__(self, image_size: int = 256, n_bands: int = 16, channel_base: int = 16384,
                 channel_max: int = 512, mbstd_group: int = 4) -> None:
        super().__init__()
        check_size(image_size)
        self.image_size, self.mbstd_group = image_size, mbstd_group
        ch = channels(image_size, channel_base, channel_max)
        self.from_bands = EqualConv2d(n_bands, ch[image_size], 1, activate=True)
        self.resolutions = [r for r in sorted(ch, reverse=True) if r > 4]
        for r in self.resolutions:
            self.add_module(f"block_{r}", DResBlock(ch[r], ch[r // 2]))
        self.conv = EqualConv2d(ch[4] + 1, ch[4], 3, activate=True)
        self.fc = EqualLinear(ch[4] * 16, ch[4], activate=True)
        self.out = EqualLinear(ch[4], 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.from_bands(x)
        for r in self.resolutions:
            x = getattr(self, f"block_{r}")(x)
        x = self.conv(minibatch_std(x, self.mbstd_group))
        return self.out(self.fc(x.flatten(1))).squeeze(1)


# --------------------------------------------------------------------------------------------
# The objective
# --------------------------------------------------------------------------------------------
class StyleGAN2Objective(Objective):
    """StyleGAN2-ADA's training step for :class:`hsilib.train.trainer.Trainer`.

    Per step: one discriminator update on ADA-augmented real and generated images (logistic
    loss); every ``r1_every`` steps one more D update with the lazy R1 penalty at the real
    images before augmentation (through it); one generator update (D frozen, style mixing with
    probability ``style_mixing``); every ``pl_every`` steps (``pl_weight > 0``) a path-length
    update of G; then ADA adjusts ``p`` from the real logits. The logs carry ``ada_p`` and
    ``ada_rt``, so the trainer's history plots p over training. Optimiser rates and betas of
    the lazily regularised networks are rescaled by ``every / (every + 1)`` as published.
    """

    family = "stylegan2"
    ema_nets = ("G",)
    optimizer_nets = {"G": ("G",), "D": ("D",)}

    def __init__(self, cfg: config.StyleGAN2Config) -> None:
        G = Generator(cfg.image_size, cfg.n_bands, cfg.z_dim, cfg.w_dim, cfg.mapping_layers,
                      cfg.channel_base, cfg.channel_max, cfg.mapping_lr_mul)
        D = Discriminator(cfg.image_size, cfg.n_bands, cfg.channel_base, cfg.channel_max)
        G.register_buffer("pl_mean", torch.zeros(()))  # running mean of the path lengths
        ada = AdaptiveAugment(cfg.ada_target, cfg.ada_interval, cfg.ada_kimg, cfg.ada_ops)
        super().__init__(cfg, {"G": G, "D": D, "ada": ada})

    def optimizer_options(self, name: str) -> dict[str, Any]:
        """Lazy regularisation (path length for G every ``pl_every`` steps, R1 for D every
        ``r1_every``): the rate and betas of a regularised network's Adam are rescaled by
        ``c = every / (every + 1)``, ``lr * c`` and ``betas ** c``, as published."""
        cfg = self.cfg
        every, on = {"G": (cfg.pl_every, cfg.pl_weight > 0),
                     "D": (cfg.r1_every, cfg.r1_gamma > 0)}[name]
        c = every / (every + 1) if on else 1.0
        return {"lr": cfg.lr * c, "betas": (cfg.betas[0] ** c, cfg.betas[1] ** c), "eps": 1e-8,
                "fused": True}  # one pass over each parameter: the same update, up to rounding

    def augment(self, x: torch.Tensor) -> torch.Tensor:
        return self.nets["ada"](x)

    def d_loss(self, real: torch.Tensor, fake: torch.Tensor
               ) -> tuple[torch.Tensor, torch.Tensor, dict[str, float]]:
        """Logistic loss of D on augmented ``real`` and ``fake``; returns the loss, the real
        logits (for ADA) and the logs."""
        D = self.nets["D"]
        logits_real = D(self.augment(real))
        logits_fake = D(self.augment(fake.detach()))
        loss_real, loss_fake = F.softplus(-logits_real).mean(), F.softplus(logits_fake).mean()
        loss = loss_real + loss_fake
        return loss, logits_real, {"d_real": loss_real.item(), "d_fake": loss_fake.item(),
                                   "d_loss": loss.item(),
                                   "d_sign_real": torch.sign(logits_real).mean().item()}

    def g_loss(self, fake: torch.Tensor) -> tuple[torch.Tensor, dict[str, float]]:
        loss = F.softplus(-self.nets["D"](self.augment(fake))).mean()
        return loss, {"g_loss": loss.item()}

    def r1_update(self, step: Step, real: torch.Tensor) -> dict[str, float]:
        """Lazy R1: every ``r1_every`` steps one more D update with ``gamma / 2 * r1_every *
        E||grad_x D(aug(x))||^2`` at the real images ``x`` **before** augmentation: the
        gradient flows back through the (differentiable, spectrum-safe) augmentation, as in
        the official StyleGAN2-ADA code (``loss.py``: R1 of ``real_img_tmp``, which ``run_D``
        augments). Taken at the augmented images instead, the penalty would regularise D on
        images it sees only with probability ``p``, and ignore what the augmentation does to
        the gradient (e.g. cutout zeroes it inside the cut square)."""
        cfg = self.cfg
        if cfg.r1_gamma <= 0 or step.index % cfg.r1_every:
            return {}
        with step.autocast():
            x = real.detach().requires_grad_(True)
            penalty = r1_penalty(x, self.nets["D"](self.augment(x)))
        step.update("D", cfg.r1_gamma / 2 * penalty * cfg.r1_every)
        return {"r1": penalty.item()}

    def pl_update(self, step: Step, batch_size: int) -> dict[str, float]:
        """Lazy path-length regulariser: every ``pl_every`` steps one more G update with
        ``pl_weight * pl_every * (||J_w^T y|| - a)^2``, ``y`` random image-space directions
        scaled by 1 / sqrt(pixels), ``a`` the running mean of the lengths."""
        G, cfg = self.nets["G"], self.cfg
        if cfg.pl_weight <= 0 or step.index % cfg.pl_every:
            return {}
        with step.autocast():
            ws = G.ws(torch.randn(max(1, batch_size // 2), cfg.z_dim, device=self.device),
                      mixing=cfg.style_mixing)
            img = G.synthesis(ws)
            y = torch.randn_like(img) / math.sqrt(img.shape[2] * img.shape[3])
            (grad,) = torch.autograd.grad((img * y).sum(), ws, create_graph=True)
            lengths = grad.square().sum(2).mean(1).sqrt()
            with torch.no_grad():
                G.pl_mean.lerp_(lengths.mean().detach(), 0.01)
            penalty = (lengths - G.pl_mean).square().mean()
        step.update("G", penalty * cfg.pl_weight * cfg.pl_every)
        return {"pl": penalty.item()}

    def train_step(self, step: Step) -> dict[str, float]:
        G, D, ada, cfg = self.nets["G"], self.nets["D"], self.nets["ada"], self.cfg
        real = step.batch(0)["image"]
        b = real.shape[0]
        logs: dict[str, float] = {}
        G.requires_grad_(False)
        with step.autocast():
            with torch.no_grad():
                fake = G(torch.randn(b, cfg.z_dim, device=real.device), mixing=cfg.style_mixing)
            loss_d, logits_real, logs_d = self.d_loss(real, fake)
        step.update("D", loss_d)
        ada.accumulate(logits_real)
        logs |= logs_d
        logs |= self.r1_update(step, real)
        G.requires_grad_(True)
        D.requires_grad_(False)
        with step.autocast():
            fake = G(torch.randn(b, cfg.z_dim, device=real.device), mixing=cfg.style_mixing)
            loss_g, logs_g = self.g_loss(fake)
        step.update("G", loss_g)
        logs |= logs_g
        logs |= self.pl_update(step, b)
        D.requires_grad_(True)
        ada.adjust(b)
        logs["ada_p"] = float(ada.p)
        if not math.isnan(float(ada.r_t)):  # known after the first adjustment interval
            logs["ada_rt"] = float(ada.r_t)
        return logs

    def sample_inputs(self, n: int, gen: torch.Generator, truncation: float = 1.0,
                      **condition: Any) -> dict[str, Any]:
        """``truncation`` < 1 pulls every ``w`` towards ``w_avg`` (no condition otherwise)."""
        return self.condition(n, **condition) | {"truncation": truncation}

    def sample_batch(self, G: nn.Module, n: int, gen: torch.Generator, *,
                     truncation: float = 1.0) -> torch.Tensor:
        """Latents drawn batch by batch from ``gen``, noise inputs from the seeded global
        generator, so the images depend on ``seed`` and ``batch_size``; clamped to [-1, 1]."""
        z = torch.randn(n, self.cfg.z_dim, generator=gen)
        return G(z.to(self.device), truncation=truncation).float().clamp(-1, 1)

    def score_batch(self, images: torch.Tensor) -> torch.Tensor:
        """The discriminator's logit per image, no augmentation. Minibatch std makes a score
        depend on its batch: the scores depend on ``batch_size``."""
        return self.nets["D"](images)


registry.register("stylegan2", config.StyleGAN2Config, StyleGAN2Objective)
