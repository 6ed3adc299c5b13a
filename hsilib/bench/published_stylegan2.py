"""StyleGAN2's best-known PyTorch port on a CPU, written here for speed comparisons (never
trained with).

Karras et al. 2020 and the widely used PyTorch port of StyleGAN2 (rosinality/stylegan2-pytorch)
as it runs without its CUDA extensions: its resampling filter and its biased leaky ReLU then
fall back to plain PyTorch. This file rewrites that design in the project's own words, it copies
none of it:

- **modulated convolutions** as one grouped convolution per layer with per-image kernels (the
  port's default); upsampling ones as a grouped stride-2 transposed convolution followed by the
  ``[1, 3, 3, 1]`` filter; the skip images upsampled by the same filter;
- **the filter** (``upfirdn``) as the port's CPU fallback computes it: each channel of each
  image becomes its own one-channel image (zeros inserted to upsample, padding), one
  single-channel convolution over all of them, then every second pixel kept to downsample;
- **leaky ReLU with bias** as ``leaky_relu(x + b) * sqrt 2``;
- **discriminator**: residual blocks whose downsampling convolutions, main and skip, filter and
  then stride by 2; minibatch standard deviation; two linear layers;
- **step** (the port's ``train.py``): D on generated and augmented images (G frozen), one Adam
  step, ADA's update; every ``r1_every`` steps an R1 step; G with D frozen, style mixing for the
  whole batch with probability ``style_mixing``; every ``pl_every`` steps a path-length step on
  half the batch; the EMA of G. Per-parameter Adam (PyTorch's default on a CPU).

Widths, batch, regularisation intervals and ADA (the project's spectrum-safe operations) are the
case's config, so both sides do the same work.
"""

from __future__ import annotations

import copy
import math
import random
from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn

from .steps import Case, data, resolve, timed_steps

_FIR = torch.tensor([1.0, 3.0, 3.0, 1.0])
_K2 = _FIR[:, None] * _FIR[None, :] / _FIR.sum() ** 2


def upfirdn(x: torch.Tensor, up: int, down: int, pad: tuple[int, int],
            gain: float = 1.0) -> torch.Tensor:
    """Upsample by zero insertion, pad, filter with the 4 x 4 kernel, keep every ``down``-th
    pixel; each channel filtered as its own one-channel image (the port's CPU fallback)."""
    b, c, h, w = x.shape
    y = x.reshape(b * c, 1, h, 1, w, 1)
    y = F.pad(y, (0, up - 1, 0, 0, 0, up - 1)).reshape(b * c, 1, h * up, w * up)
    y = F.pad(y, (pad[0], pad[1], pad[0], pad[1]))
    y = F.conv2d(y, (_K2 * gain).to(x.dtype).flip(0, 1).view(1, 1, 4, 4))
    y = y[:, :, ::down, ::down]
    return y.reshape(b, c, *y.shape[-2:])


def biased_lrelu(x: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
    return F.leaky_relu(x + bias.view(1, -1, *([1] * (x.dim() - 2))), 0.2) * math.sqrt(2)


class Linear(nn.Module):
    def __init__(self, c_in: int, c_out: int, lr_mul: float = 1.0, bias_init: float = 0.0,
                 act: bool = False) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.randn(c_out, c_in) / lr_mul)
        self.bias = nn.Parameter(torch.full((c_out,), bias_init))
        self.scale, self.lr_mul, self.act = lr_mul / math.sqrt(c_in), lr_mul, act

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.act:
            return biased_lrelu(F.linear(x, self.weight * self.scale), self.bias * self.lr_mul)
        return F.linear(x, self.weight * self.scale, self.bias * self.lr_mul)


class ModConv(nn.Module):
    """Grouped modulated convolution, optionally upsampling (transposed conv + filter)."""

    def __init__(self, c_in: int, c_out: int, k: int, w_dim: int, demod: bool = True,
                 up: bool = False) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.randn(1, c_out, c_in, k, k))
        self.mod = Linear(w_dim, c_in, bias_init=1.0)
        self.scale, self.demod, self.up, self.k = 1 / math.sqrt(c_in * k * k), demod, up, k

    def forward(self, x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        b, c_in, h, ww = x.shape
        c_out, k = self.weight.shape[1], self.k
        wt = self.scale * self.weight * self.mod(w).view(b, 1, c_in, 1, 1)
        if self.demod:
            wt = wt * torch.rsqrt(wt.square().sum((2, 3, 4)) + 1e-8).view(b, c_out, 1, 1, 1)
        xs = x.reshape(1, b * c_in, h, ww)
        if self.up:
            wt = wt.transpose(1, 2).reshape(b * c_in, c_out, k, k)
            out = F.conv_transpose2d(xs, wt, stride=2, groups=b)
            out = out.reshape(b, c_out, *out.shape[-2:])
            p = 3 - k
            return upfirdn(out, 1, 1, ((p + 1) // 2 + 1, p // 2 + 1), gain=4.0)
        out = F.conv2d(xs, wt.reshape(b * c_out, c_in, k, k), padding=k // 2, groups=b)
        return out.reshape(b, c_out, h, ww)


class StyledConv(nn.Module):
    def __init__(self, c_in: int, c_out: int, w_dim: int, up: bool = False) -> None:
        super().__init__()
        self.conv = ModConv(c_in, c_out, 3, w_dim, up=up)
        self.noise_weight = nn.Parameter(torch.zeros(1))
        self.bias = nn.Parameter(torch.zeros(c_out))

    def forward(self, x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        out = self.conv(x, w)
        noise = out.new_empty(out.shape[0], 1, *out.shape[2:]).normal_()
        return biased_lrelu(out + self.noise_weight * noise, self.bias)


class ToImage(nn.Module):
    def __init__(self, c_in: int, n_bands: int, w_dim: int, up: bool = True) -> None:
        super().__init__()
        self.conv = ModConv(c_in, n_bands, 1, w_dim, demod=False)
        self.bias = nn.Parameter(torch.zeros(1, n_bands, 1, 1))
        self.up = up

    def forward(self, x: torch.Tensor, w: torch.Tensor, skip: torch.Tensor | None = None):
        out = self.conv(x, w) + self.bias
        return out if skip is None else out + upfirdn(skip, 2, 1, (2, 1), gain=4.0)


class PortGenerator(nn.Module):
    def __init__(self, size: int, n_bands: int, z_dim: int, w_dim: int, n_mlp: int,
                 ch: dict[int, int], lr_mul: float) -> None:
        super().__init__()
        self.z_dim = z_dim
        self.mapping = nn.Sequential(*[Linear(z_dim if i == 0 else w_dim, w_dim, lr_mul,
                                              act=True) for i in range(n_mlp)])
        self.const = nn.Parameter(torch.randn(1, ch[4], 4, 4))
        self.conv1, self.to_img1 = StyledConv(ch[4], ch[4], w_dim), ToImage(ch[4], n_bands,
                                                                            w_dim, up=False)
        self.res = [r for r in ch if r > 4]
        self.convs = nn.ModuleList()
        self.to_imgs = nn.ModuleList()
        for r in self.res:
            self.convs += [StyledConv(ch[r // 2], ch[r], w_dim, up=True),
                           StyledConv(ch[r], ch[r], w_dim)]
            self.to_imgs.append(ToImage(ch[r], n_bands, w_dim))
        self.n_latent = 2 * int(math.log2(size)) - 2

    def forward(self, zs: list[torch.Tensor], return_latents: bool = False):
        styles = [self.mapping(z * torch.rsqrt(z.square().mean(1, keepdim=True) + 1e-8))
                  for z in zs]
        if len(styles) == 1:
            latent = styles[0][:, None].repeat(1, self.n_latent, 1)
        else:
            cut = random.randint(1, self.n_latent - 1)
            latent = torch.cat([styles[0][:, None].repeat(1, cut, 1),
                                styles[1][:, None].repeat(1, self.n_latent - cut, 1)], 1)
        x = self.const.repeat(latent.shape[0], 1, 1, 1)
        x = self.conv1(x, latent[:, 0])
        skip = self.to_img1(x, latent[:, 1])
        for j in range(len(self.res)):
            x = self.convs[2 * j](x, latent[:, 2 * j + 1])
            x = self.convs[2 * j + 1](x, latent[:, 2 * j + 2])
            skip = self.to_imgs[j](x, latent[:, 2 * j + 3], skip)
        return (skip, latent) if return_latents else skip


class ConvLayer(nn.Module):
    """Equalised conv (optionally filter + stride 2), biased leaky ReLU when ``act``."""

    def __init__(self, c_in: int, c_out: int, k: int, down: bool = False, act: bool = True,
                 bias: bool = True) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.randn(c_out, c_in, k, k))
        self.bias = nn.Parameter(torch.zeros(c_out)) if bias else None
        self.scale, self.k, self.down, self.act = 1 / math.sqrt(c_in * k * k), k, down, act

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        w = self.weight * self.scale
        if self.down:
            p = 2 + self.k - 1
            out = F.conv2d(upfirdn(x, 1, 1, ((p + 1) // 2, p // 2)), w, stride=2)
        else:
            out = F.conv2d(x, w, padding=self.k // 2)
        if self.act:
            return biased_lrelu(out, self.bias)
        return out if self.bias is None else out + self.bias.view(1, -1, 1, 1)


class PortDiscriminator(nn.Module):
    def __init__(self, size: int, n_bands: int, ch: dict[int, int]) -> None:
        super().__init__()
        self.first = ConvLayer(n_bands, ch[size], 1)
        self.blocks = nn.ModuleList()
        for r in sorted((r for r in ch if r > 4), reverse=True):
            self.blocks.append(nn.ModuleList([
                ConvLayer(ch[r], ch[r], 3), ConvLayer(ch[r], ch[r // 2], 3, down=True),
                ConvLayer(ch[r], ch[r // 2], 1, down=True, act=False, bias=False)]))
        self.final = ConvLayer(ch[4] + 1, ch[4], 3)
        self.fc1, self.fc2 = Linear(ch[4] * 16, ch[4], act=True), Linear(ch[4], 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.first(x)
        for conv1, conv2, skip in self.blocks:
            x = (conv2(conv1(x)) + skip(x)) / math.sqrt(2)
        b, c, h, w = x.shape
        g = min(b, 4)
        sd = torch.sqrt(x.view(g, -1, 1, c, h, w).var(0, unbiased=False) + 1e-8)
        sd = sd.mean((2, 3, 4), keepdim=True).squeeze(2).repeat(g, 1, h, w)
        x = self.final(torch.cat([x, sd], 1))
        return self.fc2(self.fc1(x.view(b, -1)))


def published_step(lib, case: Case, seed: int = 0) -> Callable[[], int]:
    """The port's loop for ``case`` (a StyleGAN2 case); ADA from ``lib``'s project."""
    from ..models.ada import AdaptiveAugment
    from ..models.stylegan2 import channels

    cfg = resolve(lib, case)
    images = data(cfg, seed)["image"]
    torch.manual_seed(seed)
    random.seed(seed)
    ch = channels(cfg.image_size, cfg.channel_base, cfg.channel_max)
    G = PortGenerator(cfg.image_size, cfg.n_bands, cfg.z_dim, cfg.w_dim, cfg.mapping_layers,
                      ch, cfg.mapping_lr_mul)
    D = PortDiscriminator(cfg.image_size, cfg.n_bands, ch)
    G_ema = copy.deepcopy(G).eval()
    ada = AdaptiveAugment(cfg.ada_target, cfg.ada_interval, cfg.ada_kimg, cfg.ada_ops)
    cg, cd = cfg.pl_every / (cfg.pl_every + 1), cfg.r1_every / (cfg.r1_every + 1)
    opt_g = torch.optim.Adam(G.parameters(), lr=cfg.lr * cg, betas=(0.0, cfg.betas[1] ** cg))
    opt_d = torch.optim.Adam(D.parameters(), lr=cfg.lr * cd, betas=(0.0, cfg.betas[1] ** cd))
    b, state = cfg.batch_size, {"i": 0, "pl_mean": 0.0}

    def noise(n: int) -> list[torch.Tensor]:
        k = 2 if cfg.style_mixing > 0 and random.random() < cfg.style_mixing else 1
        return list(torch.randn(k, n, cfg.z_dim).unbind(0))

    def step() -> None:
        i = state["i"]
        real = images[torch.randint(0, len(images), (b,))]
        G.requires_grad_(False)
        D.requires_grad_(True)
        fake = G(noise(b))
        real_pred = D(ada(real))
        d_loss = F.softplus(D(ada(fake))).mean() + F.softplus(-real_pred).mean()
        D.zero_grad()
        d_loss.backward()
        opt_d.step()
        ada.accumulate(real_pred.detach().flatten())
        ada.adjust(b)
        if i % cfg.r1_every == 0:
            real.requires_grad_(True)
            pred = D(ada(real))
            (grad,) = torch.autograd.grad(pred.sum(), real, create_graph=True)
            r1 = grad.square().reshape(b, -1).sum(1).mean()
            D.zero_grad()
            (cfg.r1_gamma / 2 * r1 * cfg.r1_every + 0 * pred[0]).sum().backward()
            opt_d.step()
        G.requires_grad_(True)
        D.requires_grad_(False)
        g_loss = F.softplus(-D(ada(G(noise(b))))).mean()
        G.zero_grad()
        g_loss.backward()
        opt_g.step()
        if cfg.pl_weight > 0 and i % cfg.pl_every == 0:
            img, latents = G(noise(max(1, b // 2)), return_latents=True)
            y = torch.randn_like(img) / math.sqrt(img.shape[2] * img.shape[3])
            (grad,) = torch.autograd.grad((img * y).sum(), latents, create_graph=True)
            lengths = torch.sqrt(grad.square().sum(2).mean(1))
            mean = state["pl_mean"] + 0.01 * (lengths.mean() - state["pl_mean"])
            penalty = (lengths - mean).square().mean()
            state["pl_mean"] = mean.detach()
            G.zero_grad()
            (cfg.pl_weight * cfg.pl_every * penalty + 0 * img[0, 0, 0, 0]).backward()
            opt_g.step()
        with torch.no_grad():
            for pe, p in zip(G_ema.parameters(), G.parameters(), strict=True):
                pe.mul_(cfg.ema_decay).add_(p, alpha=1 - cfg.ema_decay)
        state["i"] = i + 1

    return timed_steps(step, case.steps_per_call)
