"""StyleGAN2-ADA for hyperspectral cubes (any band count, 32 to 256 pixels), SeFa and inversion.

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
- **Modulation / demodulation** (:func:`modulated_conv2d`): a style ``s = A(w)`` (one scale per
  input channel) scales the kernel, ``w'_oik = s_i w_oik``, then each output channel's kernel is
  renormalised, ``w''_oik = w'_oik / sqrt(sum_ik w'_oik^2 + eps)``, so unit-variance inputs give
  unit-variance outputs. One grouped convolution does it for the whole batch.
- **Discriminator**: residual blocks down to 4 x 4, a minibatch standard-deviation feature, two
  fully connected layers to one logit per image.
- **Losses**: non-saturating logistic, ``softplus(D(fake)) + softplus(-D(real))`` for D and
  ``softplus(-D(fake))`` for G; R1 (``gamma / 2 * E||grad_x D(x_real)||^2``) every ``r1_every``
  steps (lazy: scaled by ``r1_every``); optional path-length regularisation every ``pl_every``;
  EMA generator for sampling.

Upsampling and downsampling use bilinear / average-pool resampling instead of the published FIR
filters (simpler; the same structure). Widths: ``min(channel_max, channel_base // resolution)``.

Two tools read the trained generator without labels:

- :func:`sefa_directions` (Shen & Zhou, "Closed-Form Factorization of Latent Semantics in GANs",
  CVPR 2021): the top eigenvectors of ``A^T A`` for the style-modulation weights ``A`` of the first
  layer(s) are the directions in W that change those layers' styles most;
- :func:`project`: optimisation-based inversion of real images into W or W+.

Introduced in notebook 03 (``notebooks/03_fastgan.ipynb``, the StyleGAN2-ADA part)::

    cfg = config.resolve("quick", "stylegan2")
    objective = registry.build(cfg, seed=0)       # G, D, ADA, losses (for the trainer)
    images = objective.sample(8, seed=0)          # 8 x 16 x 64 x 64 in [-1, 1]
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from .. import config
from . import registry
from .ada import AdaptiveAugment
from .objective import Objective, Step, seeded

SIZES = (32, 64, 128, 256)
SQRT2 = math.sqrt(2.0)


def _check_size(image_size: int) -> None:
    if image_size not in SIZES:
        raise ValueError(f"image_size must be one of {SIZES}, got {image_size}")


def channels(resolution: int, channel_base: int, channel_max: int) -> int:
    """Feature maps at ``resolution``: ``min(channel_max, channel_base // resolution)``, >= 1."""
    return max(1, min(channel_max, channel_base // resolution))


def n_ws(image_size: int) -> int:
    """Number of per-layer latents: two convolutions per resolution from 8 up, one at 4, and
    the last ``to_bands`` (``2 log2(S) - 2``, as published)."""
    return 2 * int(math.log2(image_size)) - 2


# --------------------------------------------------------------------------------------------
# Equalised-learning-rate layers
# --------------------------------------------------------------------------------------------
class EqualLinear(nn.Module):
    """Fully connected layer with equalised learning rate: ``y = x (W * g)^T + b * lr_mul``,
    ``g = lr_mul / sqrt(fan_in)``, ``W ~ N(0, 1 / lr_mul^2)``; ``activate``: leaky ReLU x sqrt 2."""

    def __init__(self, c_in: int, c_out: int, *, bias_init: float = 0.0, lr_mul: float = 1.0,
                 activate: bool = False) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.randn(c_out, c_in) / lr_mul)
        self.bias = nn.Parameter(torch.full((c_out,), float(bias_init) / lr_mul))
        self.gain, self.lr_mul, self.activate = lr_mul / math.sqrt(c_in), lr_mul, activate

    def effective_weight(self) -> torch.Tensor:
        return self.weight * self.gain

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = F.linear(x, self.effective_weight(), self.bias * self.lr_mul)
        return F.leaky_relu(y, 0.2) * SQRT2 if self.activate else y


class EqualConv2d(nn.Module):
    """Convolution with equalised learning rate (weights N(0, 1), scaled by 1 / sqrt(fan_in))."""

    def __init__(self, c_in: int, c_out: int, kernel: int, *, bias: bool = True,
                 activate: bool = False, down: bool = False) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.randn(c_out, c_in, kernel, kernel))
        self.bias = nn.Parameter(torch.zeros(c_out)) if bias else None
        self.gain, self.pad = 1 / math.sqrt(c_in * kernel * kernel), kernel // 2
        self.activate, self.down = activate, down

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = F.conv2d(x, self.weight * self.gain, self.bias, padding=self.pad)
        if self.down:
            y = F.avg_pool2d(y, 2)
        return F.leaky_relu(y, 0.2) * SQRT2 if self.activate else y


# --------------------------------------------------------------------------------------------
# Modulated convolution
# --------------------------------------------------------------------------------------------
def modulated_conv2d(x: torch.Tensor, weight: torch.Tensor, styles: torch.Tensor, *,
                     demodulate: bool = True, fused: bool = False,
                     eps: float = 1e-8) -> torch.Tensor:
    """Convolve each image of ``x`` (B x I x H x W) with its own modulated kernel.

    ``weight`` O x I x k x k, ``styles`` B x I: kernel ``w'_boik = styles_bi * weight_oik``,
    demodulated to ``w'_boik / sqrt(sum_ik w'_boik^2 + eps)``; "same" padding.

    ``fused``: one grouped convolution (groups = B) with the per-image kernels, the batch folded
    into the channels. Otherwise (faster on CPUs) the same result by linearity: scale the input
    channels by the styles, convolve with the shared kernel, and multiply each output channel by
    the demodulation factor ``1 / sqrt(sum_i styles_bi^2 sum_k weight_oik^2 + eps)``.
    """
    b, c_in, h, w = x.shape
    c_out, _, k, _ = weight.shape
    if fused:
        wts = weight[None] * styles[:, None, :, None, None]  # B x O x I x k x k
        if demodulate:
            wts = wts * torch.rsqrt(wts.square().sum(dim=(2, 3, 4), keepdim=True) + eps)
        out = F.conv2d(x.reshape(1, b * c_in, h, w), wts.reshape(b * c_out, c_in, k, k),
                       padding=k // 2, groups=b)
        return out.reshape(b, c_out, h, w)
    out = F.conv2d(x * styles[:, :, None, None], weight, padding=k // 2)
    if demodulate:
        dcoef = torch.rsqrt(styles.square() @ weight.square().sum(dim=(2, 3)).T + eps)  # B x O
        out = out * dcoef[:, :, None, None]
    return out


class ModulatedConv(nn.Module):
    """A modulated convolution with its affine style layer ``A: w -> s`` (bias 1, so styles
    start at 1); ``up``: bilinear x2 upsampling first."""

    def __init__(self, c_in: int, c_out: int, kernel: int, w_dim: int, *,
                 demodulate: bool = True, up: bool = False) -> None:
        super().__init__()
        self.affine = EqualLinear(w_dim, c_in, bias_init=1.0)
        self.weight = nn.Parameter(torch.randn(c_out, c_in, kernel, kernel))
        self.gain = 1 / math.sqrt(c_in * kernel * kernel)
        self.demodulate, self.up = demodulate, up

    def forward(self, x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        if self.up:
            x = F.interpolate(x, scale_factor=2, mode="bilinear", align_corners=False)
        styles = self.affine(w)
        if not self.demodulate:  # to_bands: the gain goes into the styles, as published
            styles = styles * self.gain
            return modulated_conv2d(x, self.weight, styles, demodulate=False)
        return modulated_conv2d(x, self.weight * self.gain, styles)


class StyleLayer(nn.Module):
    """Modulated 3 x 3 convolution, noise (learned strength, zero at start), bias, leaky ReLU."""

    def __init__(self, c_in: int, c_out: int, w_dim: int, up: bool = False) -> None:
        super().__init__()
        self.conv = ModulatedConv(c_in, c_out, 3, w_dim, up=up)
        self.noise_strength = nn.Parameter(torch.zeros(()))
        self.bias = nn.Parameter(torch.zeros(c_out))

    def forward(self, x: torch.Tensor, w: torch.Tensor, noise: str = "random") -> torch.Tensor:
        x = self.conv(x, w)
        if noise == "random":
            x = x + self.noise_strength * torch.randn(x.shape[0], 1, *x.shape[2:],
                                                      device=x.device, dtype=x.dtype)
        return F.leaky_relu(x + self.bias.view(1, -1, 1, 1), 0.2) * SQRT2


class ToBands(nn.Module):
    """1 x 1 modulated convolution (no demodulation) from features to the bands, plus a bias."""

    def __init__(self, c_in: int, n_bands: int, w_dim: int) -> None:
        super().__init__()
        self.conv = ModulatedConv(c_in, n_bands, 1, w_dim, demodulate=False)
        self.bias = nn.Parameter(torch.zeros(n_bands))

    def forward(self, x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        return self.conv(x, w) + self.bias.view(1, -1, 1, 1)


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
        _check_size(image_size)
        self.image_size, self.n_bands, self.z_dim, self.w_dim = image_size, n_bands, z_dim, w_dim
        self.n_ws = n_ws(image_size)
        ch = {r: channels(r, channel_base, channel_max) for r in (2 ** i for i in range(
            2, int(math.log2(image_size)) + 1))}
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
        _check_size(image_size)
        self.image_size, self.mbstd_group = image_size, mbstd_group
        ch = {r: channels(r, channel_base, channel_max) for r in (2 ** i for i in range(
            2, int(math.log2(image_size)) + 1))}
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
# Regularisers
# --------------------------------------------------------------------------------------------
def r1_penalty(real: torch.Tensor, logits: torch.Tensor) -> torch.Tensor:
    """``E_x ||grad_x D(x)||^2`` over the batch (``real`` must require grad; ``logits`` = D(real),
    one per image). Differentiable (create_graph) so it trains D."""
    (grad,) = torch.autograd.grad(logits.sum(), real, create_graph=True)
    return grad.square().flatten(1).sum(1).mean()


# --------------------------------------------------------------------------------------------
# The objective
# --------------------------------------------------------------------------------------------
class StyleGAN2Objective(Objective):
    """StyleGAN2-ADA's training step for :class:`hsilib.train.trainer.Trainer`.

    Per step: one discriminator update on ADA-augmented real and generated images (logistic
    loss); every ``r1_every`` steps one more D update with the lazy R1 penalty on augmented real
    images; one generator update (D frozen, style mixing with probability ``style_mixing``);
    every ``pl_every`` steps (``pl_weight > 0``) a path-length update of G; then ADA adjusts
    ``p`` from the real logits. The logs carry ``ada_p`` and ``ada_rt``, so the trainer's history
    plots p over training. Optimiser rates and betas of the lazily regularised networks are
    rescaled by ``every / (every + 1)`` as published.
    """

    family = "stylegan2"
    ema_nets = ("G",)

    def __init__(self, cfg: config.StyleGAN2Config) -> None:
        G = Generator(cfg.image_size, cfg.n_bands, cfg.z_dim, cfg.w_dim, cfg.mapping_layers,
                      cfg.channel_base, cfg.channel_max, cfg.mapping_lr_mul)
        D = Discriminator(cfg.image_size, cfg.n_bands, cfg.channel_base, cfg.channel_max)
        G.register_buffer("pl_mean", torch.zeros(()))  # running mean of the path lengths
        ada = AdaptiveAugment(cfg.ada_target, cfg.ada_interval, cfg.ada_kimg, cfg.ada_ops)
        super().__init__(cfg, {"G": G, "D": D, "ada": ada})

    def configure_optimizers(self) -> dict[str, torch.optim.Optimizer]:
        cfg, out = self.cfg, {}
        for name, every, on in (("G", cfg.pl_every, cfg.pl_weight > 0),
                                ("D", cfg.r1_every, cfg.r1_gamma > 0)):
            c = every / (every + 1) if on else 1.0
            out[name] = torch.optim.Adam(self.nets[name].parameters(), lr=cfg.lr * c,
                                         betas=(cfg.betas[0] ** c, cfg.betas[1] ** c), eps=1e-8)
        return out

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

    def r1_loss(self, real: torch.Tensor) -> tuple[torch.Tensor, dict[str, float]]:
        x = self.augment(real).detach().requires_grad_(True)
        penalty = r1_penalty(x, self.nets["D"](x))
        return self.cfg.r1_gamma / 2 * penalty * self.cfg.r1_every, {"r1": penalty.item()}

    def pl_loss(self, batch_size: int) -> tuple[torch.Tensor, dict[str, float]]:
        """Path-length regulariser: ``(||J_w^T y|| - a)^2`` with ``y`` random image-space
        directions scaled by 1 / sqrt(pixels), ``a`` the running mean of the lengths."""
        G, cfg = self.nets["G"], self.cfg
        n = max(1, batch_size // 2)
        ws = G.ws(torch.randn(n, cfg.z_dim, device=self.device), mixing=cfg.style_mixing)
        img = G.synthesis(ws)
        y = torch.randn_like(img) / math.sqrt(img.shape[2] * img.shape[3])
        (grad,) = torch.autograd.grad((img * y).sum(), ws, create_graph=True)
        lengths = grad.square().sum(2).mean(1).sqrt()
        with torch.no_grad():
            G.pl_mean.lerp_(lengths.mean().detach(), 0.01)
        penalty = (lengths - G.pl_mean).square().mean()
        return penalty * cfg.pl_weight * cfg.pl_every, {"pl": penalty.item()}

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
        if cfg.r1_gamma > 0 and step.index % cfg.r1_every == 0:
            with step.autocast():
                loss_r1, logs_r1 = self.r1_loss(real)
            step.update("D", loss_r1)
            logs |= logs_r1
        G.requires_grad_(True)
        D.requires_grad_(False)
        with step.autocast():
            fake = G(torch.randn(b, cfg.z_dim, device=real.device), mixing=cfg.style_mixing)
            loss_g, logs_g = self.g_loss(fake)
        step.update("G", loss_g)
        logs |= logs_g
        if cfg.pl_weight > 0 and step.index % cfg.pl_every == 0:
            with step.autocast():
                loss_pl, logs_pl = self.pl_loss(b)
            step.update("G", loss_pl)
            logs |= logs_pl
        D.requires_grad_(True)
        ada.adjust(b)
        logs["ada_p"] = float(ada.p)
        if not math.isnan(float(ada.r_t)):  # known after the first adjustment interval
            logs["ada_rt"] = float(ada.r_t)
        return logs

    @torch.no_grad()
    def sample(self, n: int, *, seed: int, batch_size: int | None = None, ema: bool = True,
               truncation: float = 1.0, **condition: Any) -> torch.Tensor:
        """``n`` images in [-1, 1] (clamped; CPU float32) from latents drawn with ``seed``, from
        the EMA generator by default; noise inputs are seeded too, so the images depend on
        ``seed`` and ``batch_size`` (default the config's)."""
        if condition:
            raise TypeError(f"StyleGAN2 is unconditional; got conditions {sorted(condition)}")
        G, out = self.net("G", ema).eval(), []
        batch_size = batch_size or self.cfg.batch_size
        with seeded(seed, self.device) as gen, self.autocast():
            for start in range(0, n, batch_size):
                z = torch.randn(min(batch_size, n - start), self.cfg.z_dim, generator=gen)
                img = G(z.to(self.device), truncation=truncation)
                out.append(img.float().clamp(-1, 1).cpu())
        return torch.cat(out)

    @torch.no_grad()
    def score(self, images: torch.Tensor, batch_size: int | None = None,
              **condition: Any) -> torch.Tensor:
        """The discriminator's logit per image (higher = more real-looking), no augmentation.
        Minibatch std makes a score depend on its batch: batches of ``batch_size``."""
        D, out = self.nets["D"].eval(), []
        batch_size = batch_size or self.cfg.batch_size
        for start in range(0, len(images), batch_size):
            with self.autocast():
                out.append(D(images[start:start + batch_size].to(self.device)).float().cpu())
        return torch.cat(out)


registry.register("stylegan2", config.StyleGAN2Config, StyleGAN2Objective)


# --------------------------------------------------------------------------------------------
# SeFa: closed-form latent directions
# --------------------------------------------------------------------------------------------
def style_weights(G: Generator, layers: tuple[int, ...] = (0,)) -> torch.Tensor:
    """The style-modulation weights ``A`` (rows: style channels, columns: w_dim) of the
    modulated convolutions ``layers`` (indices of :meth:`Generator.style_layers`), stacked."""
    convs = G.style_layers()
    bad = [i for i in layers if not 0 <= i < len(convs)]
    if bad or not layers:
        raise ValueError(f"layers must be indices in [0, {len(convs)}), got {layers}")
    return torch.cat([convs[i].affine.effective_weight().detach() for i in layers]).cpu()


def sefa(weight: torch.Tensor, k: int, normalize: bool = True
         ) -> tuple[torch.Tensor, torch.Tensor]:
    """Top-``k`` eigenvectors (rows, unit norm) and eigenvalues of ``A^T A`` for ``weight`` =
    ``A`` (C x w_dim), the directions ``n`` maximising ``||A n||`` (Shen & Zhou 2021). With
    ``normalize`` each row of ``A`` is scaled to unit norm first (as SeFa does, so no style
    channel dominates by scale). Signs: each direction's largest-magnitude entry is positive."""
    a = weight.double()
    if normalize:
        a = a / a.norm(dim=1, keepdim=True).clamp_min(1e-12)
    if not 1 <= k <= a.shape[1]:
        raise ValueError(f"k must be in [1, {a.shape[1]}], got {k}")
    values, vectors = torch.linalg.eigh(a.T @ a)  # ascending
    values, vectors = values.flip(0)[:k], vectors.flip(1)[:, :k].T
    idx = vectors.abs().argmax(1)
    vectors = vectors * torch.sign(vectors[torch.arange(k), idx])[:, None]
    return vectors.float(), values.float()


def sefa_directions(G: Generator, k: int = 5, layers: tuple[int, ...] = (0,)
                    ) -> tuple[torch.Tensor, torch.Tensor]:
    """SeFa directions of generator ``G`` from the style weights of ``layers`` (default the
    first modulated convolution): (k x w_dim unit vectors, eigenvalues)."""
    return sefa(style_weights(G, layers), k)


@torch.no_grad()
def w_spread(G: Generator, directions: torch.Tensor, n: int = 2000, seed: int = 0
             ) -> torch.Tensor:
    """Standard deviation of ``w`` (mapped from ``n`` seeded latents) along each direction:
    the unit of a traversal (steps of ``alpha * sd``)."""
    gen = torch.Generator().manual_seed(seed)
    p = next(G.parameters())
    w = G.mapping(torch.randn(n, G.z_dim, generator=gen).to(p.device)).cpu()
    return (w @ directions.T).std(0)


@torch.no_grad()
def traverse(G: Generator, w: torch.Tensor, direction: torch.Tensor, alphas, *,
             layers: tuple[int, ...] | None = None) -> torch.Tensor:
    """Images (A x B x C x S x S, CPU) of latents ``w`` (B x w_dim, or B x n_ws x w_dim for
    W+) moved by ``alpha * direction`` for each alpha, on every layer or only ``layers``;
    noise off, so only the move changes the images."""
    p = next(G.parameters())
    ws = w[:, None].repeat(1, G.n_ws, 1) if w.dim() == 2 else w.clone()
    ws = ws.to(p.device)
    mask = torch.zeros(G.n_ws, 1, device=p.device)
    mask[list(range(G.n_ws)) if layers is None else list(layers)] = 1
    d = direction.to(p.device)
    return torch.stack([G.synthesis(ws + float(a) * mask * d, noise="none").float().cpu()
                        for a in alphas])


# --------------------------------------------------------------------------------------------
# Inversion
# --------------------------------------------------------------------------------------------
def project(G: Generator, targets: torch.Tensor, *, steps: int = 200, lr: float = 0.05,
            space: str = "w", seed: int = 0, n_avg: int = 1000) -> dict[str, Any]:
    """Find latents whose images match ``targets`` (B x C x S x S in [-1, 1]) by gradient
    descent on the per-value mean squared error (noise inputs off).

    Starts at ``w_avg`` (the mean of ``n_avg`` mapped latents drawn with ``seed``); ``space``
    "w": one latent per image (B x w_dim), "w+": one per layer (B x n_ws x w_dim). Adam with
    ``lr`` in units of the spread of w, cosine-decayed. Returns ``ws`` (B x n_ws x w_dim, CPU),
    ``images`` (the reconstructions, CPU) and ``loss`` (per step, a list).
    """
    if space not in ("w", "w+"):
        raise ValueError(f"space must be 'w' or 'w+', got {space!r}")
    if targets.dim() != 4 or targets.shape[1:] != (G.n_bands, G.image_size, G.image_size):
        raise ValueError(f"targets must be B x {G.n_bands} x {G.image_size} x {G.image_size}, "
                         f"got {tuple(targets.shape)}")
    p = next(G.parameters())
    G = G.eval().requires_grad_(False)
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        w_samples = G.mapping(torch.randn(n_avg, G.z_dim, generator=gen).to(p.device))
        w_avg, w_std = w_samples.mean(0), w_samples.std(0).mean()
    b = len(targets)
    shape = (b, G.w_dim) if space == "w" else (b, G.n_ws, G.w_dim)
    w = (w_avg.expand(shape) if space == "w" else w_avg.expand(shape)).clone().requires_grad_(True)
    opt = torch.optim.Adam([w], lr=lr * float(w_std), betas=(0.9, 0.999))
    target = targets.to(p.device, p.dtype)
    losses = []
    for i in range(steps):
        for group in opt.param_groups:
            group["lr"] = lr * float(w_std) * 0.5 * (1 + math.cos(math.pi * i / steps))
        ws = w[:, None].expand(-1, G.n_ws, -1) if space == "w" else w
        loss = F.mse_loss(G.synthesis(ws, noise="none"), target)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        losses.append(loss.item())
    with torch.no_grad():
        ws = (w[:, None].expand(-1, G.n_ws, -1) if space == "w" else w).detach()
        images = G.synthesis(ws, noise="none").float().cpu()
    return {"ws": ws.cpu(), "images": images, "loss": losses}


def reconstruction_errors(reconstructed: np.ndarray | torch.Tensor,
                          target: np.ndarray | torch.Tensor) -> dict[str, np.ndarray]:
    """Per-band RMSE (B) and per-image mean spectral angle in radians (N) between two sets of
    N x B x H x W images (reflectance: angles of normalised values are not spectral angles).
    A pixel with a zero spectrum in either image is left out of the angle."""
    a = torch.as_tensor(np.asarray(reconstructed), dtype=torch.float64)
    t = torch.as_tensor(np.asarray(target), dtype=torch.float64)
    if a.shape != t.shape or a.dim() != 4:
        raise ValueError(f"need two N x B x H x W sets of equal shape, got {tuple(a.shape)} and "
                         f"{tuple(t.shape)}")
    rmse = (a - t).square().mean(dim=(0, 2, 3)).sqrt()
    na, nt = a.norm(dim=1), t.norm(dim=1)
    ok = (na > 0) & (nt > 0)
    cos = ((a * t).sum(1) / (na * nt).clamp_min(1e-12)).clamp(-1, 1)
    angle = torch.where(ok, torch.arccos(cos), torch.zeros_like(cos))
    sam = (angle.flatten(1).sum(1) / ok.flatten(1).sum(1).clamp_min(1)).numpy()
    return {"rmse_band": rmse.numpy(), "sam_image": sam}
