"""Shared network blocks: FastGAN's (and its conditional variants'), the hyperspectral blocks of
notebook 02, the one way this project widens an RGB network's first convolution to 16 bands
(:func:`widen_rgb_conv`), and the one parameter count of a network (:func:`count_parameters`).
StyleGAN2's own layers are in :mod:`hsilib.models.stylegan2_layers`.

One place for the blocks and for the channel tables, so that the conditional FastGAN,
SPADE-FastGAN and CycleGAN variants reuse them instead of copying them. Introduced in
notebook 03 (``notebooks/03_fastgan.ipynb``).

The blocks follow Liu et al., "Towards Faster and Stabilized GAN Training for High-Fidelity
Few-shot Image Synthesis" (ICLR 2021): spectrally normalised convolutions (Miyato et al. 2018),
gated linear units (Dauphin et al. 2017), StyleGAN-style noise injection, and skip-layer
excitation (SLE), a squeeze-and-excitation gate (Hu et al. 2018) computed from a low-resolution
feature map and applied to a high-resolution one.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils.spectral_norm import SpectralNorm

#: image sides of the generators that grow from a 4 x 4 start (FastGAN, StyleGAN2, the VAE)
SIZES = (32, 64, 128, 256)


def check_size(image_size: int) -> None:
    """Raise ValueError unless ``image_size`` is one of :data:`SIZES`."""
    if image_size not in SIZES:
        raise ValueError(f"image_size must be one of {SIZES}, got {image_size}")


def count_parameters(module: nn.Module) -> int:
    """Number of parameter values of ``module`` (trainable or frozen; buffers excluded)."""
    return sum(p.numel() for p in module.parameters())


# --------------------------------------------------------------------------------------------
# RGB -> B-band first convolutions (pretrained classifiers, Inception16 features, LPIPS)
# --------------------------------------------------------------------------------------------
def widen_rgb_conv(weight: torch.Tensor, n_bands: int) -> torch.Tensor:
    """An ``out x c x k x k`` kernel (c = 3 for RGB) widened to ``n_bands`` input channels.

    Band ``b`` takes input channel ``b mod c`` (R, G, B, R, G, ... over the bands) and every
    kernel is scaled by ``c / n_bands``, so the response to a flat spectrum (all bands equal)
    is about that of the RGB network to a grey image (exactly when c divides n_bands).
    """
    if weight.ndim != 4:
        raise ValueError(f"expected an out x c x k x k kernel, got shape {tuple(weight.shape)}")
    c = weight.shape[1]
    return weight[:, torch.arange(n_bands) % c] * (c / n_bands)


# --------------------------------------------------------------------------------------------
# Channel tables: width of each stage, as a multiple of ngf / ndf, keyed by spatial resolution.
# These are the published FastGAN widths (for a 256 x 256 output); every model reads them here.
# --------------------------------------------------------------------------------------------
#: Generator stage widths (x ngf) by output resolution of the stage.
G_MULT = {4: 16, 8: 8, 16: 4, 32: 2, 64: 2, 128: 1, 256: 0.5, 512: 0.25, 1024: 0.125}
#: Discriminator main-branch widths (x ndf) by resolution of the feature map.
D_MULT = {4: 16, 8: 8, 16: 4, 32: 2, 64: 1, 128: 0.5, 256: 0.25, 512: 0.125}
#: Discriminator low-resolution branch widths (x ndf): it sees the image at half size.
D_SMALL_MULT = {8: 4, 16: 2, 32: 1, 64: 0.5, 128: 0.25}
#: Decoder widths (x ndf / 2) of the self-supervised decoders, by output resolution.
DEC_MULT = {16: 4, 32: 2, 64: 2, 128: 1, 256: 0.5}


def width(table: dict[int, float], resolution: int, base: int) -> int:
    """Channels of the stage at ``resolution`` for a base width ``base`` (at least 2)."""
    if resolution not in table:
        raise ValueError(f"no channel width for resolution {resolution}; known: {sorted(table)}")
    return max(2, int(table[resolution] * base))


# --------------------------------------------------------------------------------------------
# Spectrally normalised layers
# --------------------------------------------------------------------------------------------
def sn_conv(c_in: int, c_out: int, kernel: int, stride: int = 1, padding: int = 0,
            bias: bool = False) -> nn.Module:
    """A 2-D convolution with spectral normalisation (Miyato et al., ICLR 2018)."""
    return nn.utils.spectral_norm(nn.Conv2d(c_in, c_out, kernel, stride, padding, bias=bias))


def sn_conv_transpose(c_in: int, c_out: int, kernel: int, stride: int = 1, padding: int = 0,
                      bias: bool = False) -> nn.Module:
    """A transposed convolution with spectral normalisation."""
    return nn.utils.spectral_norm(
        nn.ConvTranspose2d(c_in, c_out, kernel, stride, padding, bias=bias))


@contextmanager
def frozen_spectral_norm(module: nn.Module) -> Iterator[None]:
    """Inside, the spectrally normalised layers of ``module`` divide their weight by the
    largest singular value of their last power iteration instead of running another (one per
    FastGAN step, not per forward pass). Only those layers' ``training`` flag is cleared,
    which changes nothing else in a convolution; batch norm and the rest keep their mode."""
    layers = [m for m in module.modules()
              if m.training and any(isinstance(h, SpectralNorm)
                                    for h in m._forward_pre_hooks.values())]
    for m in layers:
        m.training = False
    try:
        yield
    finally:
        for m in layers:
            m.training = True


def init_weights(module: nn.Module) -> None:
    """DCGAN initialisation used by FastGAN: conv weights ~ N(0, 0.02), BN scale ~ N(1, 0.02)."""
    for m in module.modules():
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)):
            w = m.weight_orig if hasattr(m, "weight_orig") else m.weight
            nn.init.normal_(w, 0.0, 0.02)
        elif isinstance(m, nn.BatchNorm2d) and m.affine:  # SPADE's norms have no affine
            nn.init.normal_(m.weight, 1.0, 0.02)
            nn.init.zeros_(m.bias)


# --------------------------------------------------------------------------------------------
# Small blocks
# --------------------------------------------------------------------------------------------
class GLU(nn.Module):
    """Gated linear unit over channels: the first half times sigmoid of the second half."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        a, b = x.chunk(2, dim=1)
        return a * torch.sigmoid(b)


class NoiseInjection(nn.Module):
    """Add per-pixel Gaussian noise scaled by a learned scalar (zero at start; StyleGAN)."""

    def __init__(self) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.zeros(1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        noise = torch.randn(x.shape[0], 1, x.shape[2], x.shape[3], device=x.device, dtype=x.dtype)
        return x + self.weight * noise


class SLE(nn.Module):
    """Skip-layer excitation: gate the channels of a high-resolution map by a low-resolution one.

    ``SLE(small, big) = big * sigmoid(conv1x1(swish(conv4x4(avgpool4(small)))))``: a cheap,
    long-range skip connection that carries global style into the fine layers (Liu et al. 2021,
    section 3.1).
    """

    def __init__(self, c_small: int, c_big: int) -> None:
        super().__init__()
        self.pool = nn.AdaptiveAvgPool2d(4)
        self.conv1 = sn_conv(c_small, c_big, 4)
        self.conv2 = sn_conv(c_big, c_big, 1)

    def forward(self, small: torch.Tensor, big: torch.Tensor) -> torch.Tensor:
        h = self.conv1(self.pool(small))
        h = self.conv2(h * torch.sigmoid(h))  # swish
        return big * torch.sigmoid(h)


class InitBlock(nn.Module):
    """Latent vector (B x z_dim) -> 4 x 4 feature map."""

    def __init__(self, z_dim: int, c_out: int) -> None:
        super().__init__()
        self.main = nn.Sequential(sn_conv_transpose(z_dim, 2 * c_out, 4), nn.BatchNorm2d(2 * c_out),
                                  GLU())

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.main(z.view(z.shape[0], -1, 1, 1))


#: input sides from which :class:`UpConv` folds: any kernel / at most this many channel pairs
#: (measured on CPUs: small maps with many channels run the two steps faster)
FOLD_MIN_SIDE, FOLD_SMALL_SIDE, FOLD_SMALL_WEIGHT = 16, 8, 128 * 128
_FOLD = ((0, 0, 1), (0, 1, 1), (1, 1, 0), (1, 0, 0))  # folded taps (rows) from 3 x 3 taps


class UpConv(nn.Conv2d):
    """Nearest-neighbour 2x upsampling, then a 3 x 3 convolution with padding 1 (no bias).

    After nearest upsampling each output pixel sees 2 x 2 input pixels, some taps on the same
    pixel; summing those gives a stride-2 transposed convolution with a 4 x 4 kernel: the same
    result (up to rounding), 16 instead of 36 multiply-adds per input pixel and channel pair,
    no upsampled map. Used where it pays (:meth:`folds`); else, and with ``fold = False``, the
    two steps run as written."""

    def __init__(self, c_in: int, c_out: int, fold: bool = True) -> None:
        super().__init__(c_in, c_out, 3, 1, 1, bias=False)
        self.fold = fold

    def folded_weight(self) -> torch.Tensor:
        """The ``c_in x c_out x 4 x 4`` kernel of the transposed convolution: tap (a, b) sums
        the taps ``_FOLD[a] x _FOLD[b]`` (box sums of the zero-padded kernel, flipped)."""
        w = F.pad(self.weight, (1, 1, 1, 1))
        k = w[..., 1:, 1:] + w[..., :-1, 1:] + w[..., 1:, :-1] + w[..., :-1, :-1]
        return k.flip(-2, -1).transpose(0, 1)

    def folds(self, side: int) -> bool:
        """Whether an input of ``side`` pixels takes the folded path."""
        small = self.in_channels * self.out_channels <= FOLD_SMALL_WEIGHT
        return self.fold and (side >= FOLD_MIN_SIDE or (small and side >= FOLD_SMALL_SIDE))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.folds(min(x.shape[-2:])):
            return F.conv_transpose2d(x, self.folded_weight(), stride=2, padding=1)
        return super().forward(F.interpolate(x, scale_factor=2, mode="nearest"))


# Up blocks: index 0 (the upsampling, now inside UpConv) stays, as an identity, so that the
# parameter names and the checkpoints holding them are unchanged.
def up_block(c_in: int, c_out: int) -> nn.Sequential:
    """Nearest x2 upsampling and 3x3 conv (:class:`UpConv`), BN, GLU (the cheap FastGAN up
    block)."""
    return nn.Sequential(nn.Identity(), nn.utils.spectral_norm(UpConv(c_in, 2 * c_out)),
                         nn.BatchNorm2d(2 * c_out), GLU())


def up_block_comp(c_in: int, c_out: int) -> nn.Sequential:
    """The heavier up block: nearest x2 upsampling and two 3x3 convs (the first an
    :class:`UpConv`), each followed by noise injection, BN and GLU."""
    return nn.Sequential(
        nn.Identity(),
        nn.utils.spectral_norm(UpConv(c_in, 2 * c_out)), NoiseInjection(),
        nn.BatchNorm2d(2 * c_out), GLU(),
        sn_conv(c_out, 2 * c_out, 3, 1, 1), NoiseInjection(), nn.BatchNorm2d(2 * c_out), GLU(),
    )


def down_block(c_in: int, c_out: int) -> nn.Sequential:
    """4x4 stride-2 conv, BN, LeakyReLU(0.2)."""
    return nn.Sequential(sn_conv(c_in, c_out, 4, 2, 1), nn.BatchNorm2d(c_out),
                         nn.LeakyReLU(0.2, inplace=True))


class DownBlockComp(nn.Module):
    """Residual down block: (4x4 s2 conv, BN, LReLU, 3x3 conv, BN, LReLU) averaged with
    (2x2 avg-pool, 1x1 conv, BN, LReLU)."""

    def __init__(self, c_in: int, c_out: int) -> None:
        super().__init__()
        self.main = nn.Sequential(
            sn_conv(c_in, c_out, 4, 2, 1), nn.BatchNorm2d(c_out), nn.LeakyReLU(0.2, inplace=True),
            sn_conv(c_out, c_out, 3, 1, 1), nn.BatchNorm2d(c_out), nn.LeakyReLU(0.2, inplace=True),
        )
        self.direct = nn.Sequential(nn.AvgPool2d(2, 2), sn_conv(c_in, c_out, 1),
                                    nn.BatchNorm2d(c_out), nn.LeakyReLU(0.2, inplace=True))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (self.main(x) + self.direct(x)) / 2


class SimpleDecoder(nn.Module):
    """Self-supervised decoder of the discriminator: 8 x 8 features -> ``out_size`` image.

    The input is first average-pooled (or replicated) to 8 x 8, then upsampled by up blocks;
    a tanh output matches images in [-1, 1]. Liu et al. 2021, section 3.2.
    """

    def __init__(self, c_in: int, n_bands: int, out_size: int, base: int) -> None:
        super().__init__()
        if out_size < 16 or out_size & (out_size - 1):
            raise ValueError(f"decoder out_size must be a power of two >= 16, got {out_size}")
        layers: list[nn.Module] = [nn.AdaptiveAvgPool2d(8)]
        res, c = 8, c_in
        while res < out_size:
            res *= 2
            layers.append(up_block(c, width(DEC_MULT, res, base)))
            c = width(DEC_MULT, res, base)
        layers += [sn_conv(c, n_bands, 3, 1, 1), nn.Tanh()]
        self.main = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.main(x)


def downsample(images: torch.Tensor, size: int) -> torch.Tensor:
    """Area (box-filter) resize to ``size`` x ``size``: averages neighbouring pixels per band,
    never mixes bands."""
    if images.shape[-1] == size and images.shape[-2] == size:
        return images
    return F.interpolate(images, size=(size, size), mode="area")


# ============================================================================================
# Hyperspectral GAN blocks (notebook 02): a 3-D convolutional generator, 3-D critics and
# band-wise (spectral) attention. Shared by hsilib.models.shsgan and hsilib.models.classic.
# ============================================================================================
def maybe_sn(module: nn.Module, on: bool) -> nn.Module:
    """``module`` with spectral normalisation of its weight when ``on`` (Miyato et al. 2018)."""
    return nn.utils.spectral_norm(module) if on else module


class BandAttention(nn.Module):
    """Self-attention across the bands (channels) of a ``B x C x H x W`` map.

    Each band is a token described by its ``pool x pool`` average-pooled image; with queries
    ``q = W_q d`` and keys ``k = W_k d`` of those descriptors, the band-by-band weights are
    ``A = softmax(q k^T / sqrt(dim))`` (C x C, rows sum to 1) and the block returns
    ``x + gamma * (A x)``: each band gains a learned mixture of the bands it attends to.
    ``gamma`` starts at 0, so the block starts as the identity (as in SAGAN, Zhang et al. 2019,
    here over bands instead of pixels).
    """

    def __init__(self, pool: int = 4, dim: int = 16) -> None:
        super().__init__()
        self.pool = nn.AdaptiveAvgPool2d(pool)
        self.q = nn.Linear(pool * pool, dim, bias=False)
        self.k = nn.Linear(pool * pool, dim, bias=False)
        self.gamma = nn.Parameter(torch.zeros(1))
        self.scale = dim ** -0.5

    def weights(self, x: torch.Tensor) -> torch.Tensor:
        """The ``B x C x C`` attention weights of ``x``."""
        d = self.pool(x).flatten(2)  # B x C x pool^2
        return torch.softmax(self.q(d) @ self.k(d).transpose(1, 2) * self.scale, dim=-1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        a = self.weights(x)
        mixed = (a @ x.flatten(2)).view_as(x)
        return x + self.gamma * mixed


def _n_halvings(image_size: int) -> int:
    if image_size < 8 or image_size & (image_size - 1):
        raise ValueError(f"image_size must be a power of two >= 8, got {image_size}")
    return image_size.bit_length() - 3  # 64 -> 4 halvings to 4 x 4


class BandConv3d(nn.Module):
    """A 3-D convolution over (band, height, width) with a band kernel of ``kb`` (odd), band
    stride 1 and band padding ``kb // 2``, computed as a 2-D convolution: the ``kb``
    neighbouring bands of every band are stacked as channels (zero beyond the ends) and one
    ``Conv2d(c_in * kb, c_out, k, stride, padding)`` runs over all bands at once.

    Exactly equal to ``nn.Conv3d(c_in, c_out, (kb, k, k), (1, s, s), (kb // 2, p, p))`` with the
    weight ``conv.weight.view(c_out, c_in, kb, k, k)`` (a test checks it), but it uses the fast
    2-D kernels, which matters for the double backward of a gradient penalty on the CPU.
    Input and output are ``B x C x D x H x W``.
    """

    def __init__(self, c_in: int, c_out: int, kb: int = 3, k: int = 4, stride: int = 2,
                 padding: int = 1, bias: bool = True, sn: bool = False) -> None:
        super().__init__()
        if kb % 2 != 1:
            raise ValueError(f"BandConv3d: the band kernel must be odd, got {kb}")
        self.kb = kb
        self.conv = maybe_sn(nn.Conv2d(c_in * kb, c_out, k, stride, padding, bias=bias), sn)

    def weight3d(self) -> torch.Tensor:
        """The equivalent ``nn.Conv3d`` weight, ``c_out x c_in x kb x k x k``."""
        w = self.conv.weight
        return w.view(w.shape[0], -1, self.kb, *w.shape[-2:])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, c, d, h, w = x.shape
        half = self.kb // 2
        xp = F.pad(x, (0, 0, 0, 0, half, half))  # zero bands beyond both ends
        stack = torch.stack([xp[:, :, j:j + d] for j in range(self.kb)], 2)  # B C kb D H W
        stack = stack.permute(0, 3, 1, 2, 4, 5).reshape(b * d, c * self.kb, h, w)
        out = self.conv(stack)
        return out.view(b, d, *out.shape[1:]).transpose(1, 2)


class Generator3D(nn.Module):
    """Latent ``z`` -> cube ``B x n_bands x S x S`` in [-1, 1] through 3-D convolutions.

    The cube is treated as a one-channel volume (band, height, width): ``z`` becomes a
    ``width x b0 x 4 x 4`` volume (``b0`` bands), then each up block doubles height and width
    (and the band depth until it reaches ``n_bands``) by nearest upsampling and a 3 x 3 x 3
    convolution (:class:`BandConv3d`; BN, ReLU); a last 3 x 3 x 3 convolution gives one
    channel. Every kernel spans three neighbouring bands, so nearby wavelengths are generated
    together.
    """

    def __init__(self, image_size: int, n_bands: int, z_dim: int, width: int) -> None:
        super().__init__()
        n_up = _n_halvings(image_size)
        band_ups = 0
        while n_bands % 2 ** (band_ups + 1) == 0 and n_bands // 2 ** (band_ups + 1) >= 2 \
                and band_ups < n_up:
            band_ups += 1
        self.b0, self.width = n_bands // 2 ** band_ups, width
        self.init = nn.Linear(z_dim, width * self.b0 * 16)
        blocks: list[nn.Module] = []
        c = width
        for i in range(n_up):
            c_out = max(width // 2 ** (i + 1), 4)
            scale = (2 if i < band_ups else 1, 2, 2)
            blocks += [nn.Upsample(scale_factor=scale, mode="nearest"),
                       BandConv3d(c, c_out, 3, 3, 1, 1, bias=False), nn.BatchNorm3d(c_out),
                       nn.ReLU(True)]
            c = c_out
        self.ups = nn.Sequential(*blocks)
        self.out = BandConv3d(c, 1, 3, 3, 1, 1)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        h = F.relu(self.init(z.flatten(1))).view(len(z), self.width, self.b0, 4, 4)
        return torch.tanh(self.out(self.ups(h))[:, 0])


class Critic3D(nn.Module):
    """Cube ``B x n_bands x S x S`` -> one score per image, by 3-D convolutions over
    (band, height, width) of the cube as a one-channel volume.

    Each block is a ``3 x 4 x 4`` convolution (:class:`BandConv3d`), stride 1 along the bands
    and 2 in space (so the band axis keeps its resolution and order), LeakyReLU(0.2); no batch
    norm (the gradient penalty is per sample). ``sn``: spectral normalisation of every weight.
    ``fft``: a spectral arm reads ``|rfft(x)|`` along the band axis (the magnitude of each
    pixel's spectrum's Fourier coefficients), processes it with 2-D convolutions and is
    concatenated with the spatial features before the linear head.
    """

    def __init__(self, image_size: int, n_bands: int, width: int, *, sn: bool = False,
                 fft: bool = False) -> None:
        super().__init__()
        n_down = _n_halvings(image_size)
        layers: list[nn.Module] = []
        c = 1
        for i in range(n_down):
            c_out = width * min(2 ** i, 8)
            layers += [BandConv3d(c, c_out, 3, 4, 2, 1, sn=sn), nn.LeakyReLU(0.2, True)]
            c = c_out
        self.features = nn.Sequential(*layers)
        n_feat = c * n_bands * 16
        self.fft = None
        if fft:
            n_freq = n_bands // 2 + 1
            arm: list[nn.Module] = []
            c = n_freq
            for i in range(n_down):
                c_out = width * min(2 ** i, 8)
                arm += [maybe_sn(nn.Conv2d(c, c_out, 4, 2, 1), sn), nn.LeakyReLU(0.2, True)]
                c = c_out
            self.fft = nn.Sequential(*arm)
            n_feat += c * 16
        self.head = maybe_sn(nn.Linear(n_feat, 1), sn)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.features(x[:, None]).flatten(1)
        if self.fft is not None:
            mag = torch.fft.rfft(x.float(), dim=1).abs().to(x.dtype)
            h = torch.cat([h, self.fft(mag).flatten(1)], 1)
        return self.head(h)[:, 0]
