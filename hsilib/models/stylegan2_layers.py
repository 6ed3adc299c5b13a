"""StyleGAN2's layers: equalised learning rate, modulated convolutions and FIR resampling.

Karras et al., "Progressive Growing of GANs" (ICLR 2018; equalised learning rate) and
"Analyzing and Improving the Image Quality of StyleGAN" (CVPR 2020). The networks that use them
are in :mod:`hsilib.models.stylegan2`; introduced in notebook 03 (the StyleGAN2-ADA part).

- **Equalised learning rate** (:class:`EqualLinear`, :class:`EqualConv2d`): weights are drawn
  N(0, 1) and scaled by ``1 / sqrt(fan_in)`` at run time, so Adam moves every layer at the same
  relative rate.
- **Modulation / demodulation** (:func:`modulated_conv2d`): a style ``s`` (one scale per input
  channel) scales the kernel, ``w'_oik = s_i w_oik``, and each output channel's kernel is
  renormalised, ``w''_oik = w'_oik / sqrt(sum_ik w'_oik^2 + eps)``.
- **Resampling at the low resolution**, as published: a layer that doubles the side runs a
  stride-2 *transposed* convolution on the small map and low-pass filters the result with the
  4 x 4 binomial filter ``[1, 3, 3, 1]`` (:func:`blur`); a layer that halves it filters the
  large map and runs a stride-2 convolution. The 3 x 3 convolution then costs a quarter of the
  multiply-adds of one run at the large side, and the filter suppresses the aliasing of plain
  strided sampling.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

#: the gain after a leaky ReLU in the equalised-learning-rate networks
SQRT2 = math.sqrt(2.0)
#: the 1-D binomial low-pass filter of the resampling layers (outer product with itself in 2-D)
FIR = (1.0, 3.0, 3.0, 1.0)


def blur(x: torch.Tensor, pad: tuple[int, int], gain: float = 1.0) -> torch.Tensor:
    """Filter every channel of ``x`` with the normalised 4 x 4 :data:`FIR` kernel times
    ``gain``, after zero padding of ``pad = (before, after)`` pixels on each axis: the side
    becomes ``side + before + after - 3``. Separable: one 4-tap pass per axis."""
    c = x.shape[1]
    k = torch.tensor(FIR, dtype=x.dtype, device=x.device)
    k = k * (math.sqrt(gain) / k.sum())
    x = F.pad(x, (pad[0], pad[1], pad[0], pad[1]))
    x = F.conv2d(x, k.view(1, 1, 4, 1).expand(c, 1, 4, 1), groups=c)
    return F.conv2d(x, k.view(1, 1, 1, 4).expand(c, 1, 1, 4), groups=c)


def _up_pad(k: int) -> tuple[int, int]:
    # the transposed convolution gives side 2H + k - 2; the filter's padding brings it to 2H
    return (4 - k) // 2 + 1, (3 - k) // 2 + 1


def upsample_conv2d(x: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    """2x upsampling convolution: a stride-2 transposed convolution with ``weight`` (O x I x k
    x k, odd k) on the small map, then :func:`blur` with gain 4 (the stride inserts three
    zeros per pixel): B x I x H x W -> B x O x 2H x 2W."""
    k = weight.shape[-1]
    y = F.conv_transpose2d(x, weight.transpose(0, 1), stride=2)
    return blur(y, _up_pad(k), gain=4.0)


def downsample_conv2d(x: torch.Tensor, weight: torch.Tensor,
                      bias: torch.Tensor | None = None) -> torch.Tensor:
    """2x downsampling convolution: :func:`blur` the large map, then a stride-2 convolution
    with ``weight`` (O x I x k x k): B x I x H x W -> B x O x H/2 x W/2."""
    k = weight.shape[-1]
    p = 2 + (k - 1)  # the filter's and the kernel's reach together
    return F.conv2d(blur(x, ((p + 1) // 2, p // 2)), weight, bias, stride=2)


def modulated_conv2d(x: torch.Tensor, weight: torch.Tensor, styles: torch.Tensor, *,
                     demodulate: bool = True, fused: bool = False, up: bool = False,
                     eps: float = 1e-8) -> torch.Tensor:
    """Convolve each image of ``x`` (B x I x H x W) with its own modulated kernel.

    ``weight`` O x I x k x k, ``styles`` B x I: kernel ``w'_boik = styles_bi * weight_oik``,
    demodulated to ``w'_boik / sqrt(sum_ik w'_boik^2 + eps)``; "same" padding, or with ``up``
    the 2x upsampling convolution of :func:`upsample_conv2d` (output 2H x 2W).

    ``fused``: one grouped convolution (groups = B) with the per-image kernels, the batch folded
    into the channels (the published implementation). Otherwise (faster on CPUs) the same
    result by linearity: scale the input channels by the styles, convolve with the shared
    kernel, and multiply each output channel by the demodulation factor ``1 / sqrt(sum_i
    styles_bi^2 sum_k weight_oik^2 + eps)``.
    """
    b, c_in, h, w = x.shape
    c_out, _, k, _ = weight.shape
    if fused:
        wts = weight[None] * styles[:, None, :, None, None]  # B x O x I x k x k
        if demodulate:
            wts = wts * torch.rsqrt(wts.square().sum(dim=(2, 3, 4), keepdim=True) + eps)
        xs = x.reshape(1, b * c_in, h, w)
        if up:
            out = F.conv_transpose2d(xs, wts.transpose(1, 2).reshape(b * c_in, c_out, k, k),
                                     stride=2, groups=b)
            return blur(out.reshape(b, c_out, *out.shape[-2:]), _up_pad(k), gain=4.0)
        out = F.conv2d(xs, wts.reshape(b * c_out, c_in, k, k), padding=k // 2, groups=b)
        return out.reshape(b, c_out, h, w)
    xs = x * styles[:, :, None, None]
    out = upsample_conv2d(xs, weight) if up else F.conv2d(xs, weight, padding=k // 2)
    if demodulate:
        dcoef = torch.rsqrt(styles.square() @ weight.square().sum(dim=(2, 3)).T + eps)  # B x O
        out = out * dcoef[:, :, None, None]
    return out


# --------------------------------------------------------------------------------------------
# Layers
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
    """Convolution with equalised learning rate (weights N(0, 1), scaled by 1 / sqrt(fan_in));
    ``down``: a 2x downsampling convolution (:func:`downsample_conv2d`), else "same" padding;
    ``activate``: leaky ReLU x sqrt 2."""

    def __init__(self, c_in: int, c_out: int, kernel: int, *, bias: bool = True,
                 activate: bool = False, down: bool = False) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.randn(c_out, c_in, kernel, kernel))
        self.bias = nn.Parameter(torch.zeros(c_out)) if bias else None
        self.gain, self.pad = 1 / math.sqrt(c_in * kernel * kernel), kernel // 2
        self.activate, self.down = activate, down

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.down:
            y = downsample_conv2d(x, self.weight * self.gain, self.bias)
        else:
            y = F.conv2d(x, self.weight * self.gain, self.bias, padding=self.pad)
        return F.leaky_relu(y, 0.2) * SQRT2 if self.activate else y


class ModulatedConv(nn.Module):
    """A modulated convolution with its affine style layer ``A: w -> s`` (bias 1, so styles
    start at 1); ``up``: the 2x upsampling convolution."""

    def __init__(self, c_in: int, c_out: int, kernel: int, w_dim: int, *,
                 demodulate: bool = True, up: bool = False) -> None:
        super().__init__()
        self.affine = EqualLinear(w_dim, c_in, bias_init=1.0)
        self.weight = nn.Parameter(torch.randn(c_out, c_in, kernel, kernel))
        self.gain = 1 / math.sqrt(c_in * kernel * kernel)
        self.demodulate, self.up = demodulate, up

    def forward(self, x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        styles = self.affine(w)
        if not self.demodulate:  # to_bands: the gain goes into the styles, as published
            return modulated_conv2d(x, self.weight, styles * self.gain, demodulate=False,
                                    up=self.up)
        return modulated_conv2d(x, self.weight * self.gain, styles, up=self.up)


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
