"""SHS-GAN and its critic ablation: WGAN-GP generators of 16-band cubes (notebook 02).

The study's first experiment: one DCGAN generator (Radford et al., ICLR 2016) trained under the
Wasserstein loss with gradient penalty (WGAN-GP, Gulrajani et al. 2017) against critics of
growing spectral awareness (``ShsGANConfig.critic``):

- ``"2d"``: 2-D convolutions with the bands as input channels (band order is only a channel
  index: the first layer may mix any bands);
- ``"3d"``: 3-D convolutions over (band, height, width) (:class:`~hsilib.models.layers.Critic3D`):
  each kernel spans three neighbouring bands, so the band order is part of the input;
- ``"3d_sn"``: the same with spectral normalisation of every weight;
- ``"3d_sn_fft"``: plus a spectral arm on ``|FFT|`` along the band axis, fused with the
  spatial features (the spectral critic of SHS-GAN, Hauser et al., IEEE TCI 2021).

The critic minimises ``E[D(fake)] - E[D(real)] + gp_weight * E[(||grad D(x_hat)|| - 1)^2]`` on
random interpolates ``x_hat`` (:func:`gradient_penalty`), ``n_critic`` times per generator step;
the generator minimises ``-E[D(fake)]``.

``generator="3d"`` swaps in the 3-D convolutional generator, ``attention=True`` adds band
attention (:class:`~hsilib.models.layers.BandAttention`) at the generator's output and the
critic's input. ``generator="rgb"`` is the real SHS-GAN: an encoder-decoder that maps an RGB
dermoscopy image to a 16-band cube, trained on *unpaired* RGB images against real cubes with
an RGB-consistency loss through the fixed CIE rendering
(:class:`~hsilib.models.projection.HSToRGB`)::

    L_G = -E[D(G(rgb))] + rgb_weight * E|| P(r(G(rgb))) - rgb ||_1

with ``r`` the training normaliser's inverse (``reflectance_min``/``reflectance_max``) and
``P`` the projection. Its batches carry ``image`` (real cubes) and ``rgb`` (an independent draw
of RGB images, :class:`hsilib.data.samplers.UnpairedSampler`).

Introduced in notebook 02 (``notebooks/02_shsgan_ablations.ipynb``)::

    cfg = config.resolve("quick", "shsgan", critic="3d")
    objective = registry.build(cfg, seed=0)
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from .. import config
from ..data.samplers import UnpairedSampler as UnpairedSampler  # re-exported for notebook 02
from . import registry
from .layers import BandAttention, Critic3D, Generator3D, count_parameters, maybe_sn
from .losses import gradient_penalty
from .objective import Objective, Step, mean_logs


def _halvings(image_size: int) -> int:
    if image_size < 8 or image_size & (image_size - 1):
        raise ValueError(f"image_size must be a power of two >= 8, got {image_size}")
    return image_size.bit_length() - 3


def init_dcgan(module: nn.Module) -> None:
    """DCGAN initialisation: conv/linear weights ~ N(0, 0.02), BN scale ~ N(1, 0.02)."""
    for m in module.modules():
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d, nn.Conv3d, nn.Linear)):
            w = m.weight_orig if hasattr(m, "weight_orig") else m.weight
            nn.init.normal_(w, 0.0, 0.02)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, (nn.BatchNorm2d, nn.BatchNorm3d)):
            nn.init.normal_(m.weight, 1.0, 0.02)
            nn.init.zeros_(m.bias)


# --------------------------------------------------------------------------------------------
# Networks
# --------------------------------------------------------------------------------------------
class DCGANGenerator(nn.Module):
    """``z`` (+ optional class embedding) -> ``B x n_bands x S x S`` in [-1, 1].

    A 4 x 4 transposed convolution from ``z``, then stride-2 transposed convolutions (BN, ReLU)
    doubling the side and halving the width (``ngf * 8`` at 4 x 4), a last one to the bands and
    ``tanh``. ``n_classes > 0``: ``z`` is multiplied by a learned class embedding (AC-GAN).
    ``attention``: band attention before the ``tanh``.
    """

    def __init__(self, image_size: int, n_bands: int, z_dim: int, ngf: int,
                 n_classes: int = 0, attention: bool = False) -> None:
        super().__init__()
        n = _halvings(image_size)
        widths = [ngf * min(2 ** (n - 1 - i), 8) for i in range(n)]  # 4 x 4 first
        self.embed = nn.Embedding(n_classes, z_dim) if n_classes else None
        layers: list[nn.Module] = [nn.ConvTranspose2d(z_dim, widths[0], 4, 1, 0, bias=False),
                                   nn.BatchNorm2d(widths[0]), nn.ReLU(True)]
        for c_in, c_out in zip(widths[:-1], widths[1:], strict=True):
            layers += [nn.ConvTranspose2d(c_in, c_out, 4, 2, 1, bias=False),
                       nn.BatchNorm2d(c_out), nn.ReLU(True)]
        layers.append(nn.ConvTranspose2d(widths[-1], n_bands, 4, 2, 1))
        self.main = nn.Sequential(*layers)
        self.attention = BandAttention() if attention else None

    def forward(self, z: torch.Tensor, label: torch.Tensor | None = None) -> torch.Tensor:
        if self.embed is not None:
            if label is None:
                raise ValueError("this generator is class-conditional: give label")
            z = z * self.embed(label.long())
        h = self.main(z[:, :, None, None])
        if self.attention is not None:
            h = self.attention(h)
        return torch.tanh(h)


class Critic2D(nn.Module):
    """``B x n_bands x S x S`` -> features -> one score per image (plus class logits when
    ``n_classes``): stride-2 4 x 4 convolutions (``ndf`` doubling to ``8 ndf``), LeakyReLU(0.2),
    optional batch norm (``bn``; never with a gradient penalty) and spectral norm (``sn``)."""

    def __init__(self, image_size: int, n_bands: int, ndf: int, *, sn: bool = False,
                 bn: bool = False, n_classes: int = 0) -> None:
        super().__init__()
        n = _halvings(image_size)
        layers: list[nn.Module] = []
        c = n_bands
        for i in range(n):
            c_out = ndf * min(2 ** i, 8)
            layers.append(maybe_sn(nn.Conv2d(c, c_out, 4, 2, 1), sn))
            if bn and i > 0:
                layers.append(nn.BatchNorm2d(c_out))
            layers.append(nn.LeakyReLU(0.2, True))
            c = c_out
        self.features = nn.Sequential(*layers)
        self.head = maybe_sn(nn.Linear(c * 16, 1), sn)
        self.aux = nn.Linear(c * 16, n_classes) if n_classes else None

    def forward(self, x: torch.Tensor, with_aux: bool = False):
        h = self.features(x).flatten(1)
        out = self.head(h)[:, 0]
        if with_aux:
            return out, self.aux(h)
        return out


class WithAttention(nn.Module):
    """A critic that first passes its input through band attention."""

    def __init__(self, critic: nn.Module) -> None:
        super().__init__()
        self.attention, self.critic = BandAttention(), critic

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.critic(self.attention(x))


class RGBToHSGenerator(nn.Module):
    """RGB image ``B x 3 x S x S`` in [0, 1] -> cube ``B x n_bands x S x S`` in [-1, 1].

    A small U-Net: two stride-2 encoder blocks, a bottleneck, two upsampling decoder blocks that
    concatenate the encoder features of the same size, and a 1 x 1 convolution to the bands
    (``tanh``). Pixels outside the dermoscope field (RGB all zero) stay at the cube's
    zero-reflectance level only as far as the network learns it: the consistency loss asks for it.
    """

    def __init__(self, n_bands: int, ngf: int) -> None:
        super().__init__()

        def block(c_in, c_out):
            return nn.Sequential(nn.Conv2d(c_in, c_out, 3, 1, 1), nn.BatchNorm2d(c_out),
                                 nn.LeakyReLU(0.2, True))

        self.enc0, self.enc1, self.enc2 = block(3, ngf), block(ngf, 2 * ngf), block(2 * ngf,
                                                                                     4 * ngf)
        self.dec1, self.dec0 = block(6 * ngf, 2 * ngf), block(3 * ngf, ngf)
        self.out = nn.Conv2d(ngf, n_bands, 1)

    def forward(self, rgb: torch.Tensor) -> torch.Tensor:
        e0 = self.enc0(rgb * 2 - 1)
        e1 = self.enc1(F.avg_pool2d(e0, 2))
        e2 = self.enc2(F.avg_pool2d(e1, 2))
        d1 = self.dec1(torch.cat([F.interpolate(e2, scale_factor=2.0), e1], 1))
        d0 = self.dec0(torch.cat([F.interpolate(d1, scale_factor=2.0), e0], 1))
        return torch.tanh(self.out(d0))


def build_critic(cfg: Any) -> nn.Module:
    """The critic named by ``cfg.critic`` (with band attention in front when
    ``cfg.attention``)."""
    kind = cfg.critic
    if kind == "2d":
        critic: nn.Module = Critic2D(cfg.image_size, cfg.n_bands, cfg.ndf)
    else:
        critic = Critic3D(cfg.image_size, cfg.n_bands, cfg.ndf3d, sn=kind != "3d",
                          fft=kind == "3d_sn_fft")
    return WithAttention(critic) if cfg.attention else critic


# --------------------------------------------------------------------------------------------
# The normaliser's inverse
# --------------------------------------------------------------------------------------------
class Reflectance(nn.Module):
    """The training normaliser's inverse as a module: ``[-1, 1] -> reflectance`` per band
    (``(y + 1) / 2 * (max - min) + min``), with the range as buffers."""

    def __init__(self, band_min, band_max) -> None:
        super().__init__()
        lo = torch.as_tensor(np.asarray(band_min, np.float32))
        hi = torch.as_tensor(np.asarray(band_max, np.float32))
        span = torch.where(hi > lo, hi - lo, torch.ones_like(hi))
        self.register_buffer("lo", lo.view(1, -1, 1, 1))
        self.register_buffer("span", span.view(1, -1, 1, 1))

    def forward(self, y: torch.Tensor) -> torch.Tensor:
        return (y + 1) / 2 * self.span + self.lo


# --------------------------------------------------------------------------------------------
# The objective
# --------------------------------------------------------------------------------------------
class ShsGANObjective(Objective):
    """WGAN-GP training of one generator arm against one critic arm (see the module text)."""

    family = "shsgan"
    ema_nets = ("G",)
    optimizer_nets = {"D": ("D",), "G": ("G",)}

    def __init__(self, cfg: config.ShsGANConfig) -> None:
        if cfg.generator == "rgb":
            if len(cfg.reflectance_min) != cfg.n_bands or len(cfg.reflectance_max) != cfg.n_bands:
                raise ValueError("ShsGANConfig: generator='rgb' needs reflectance_min and "
                                 f"reflectance_max with {cfg.n_bands} values each (the training "
                                 "normaliser's band_min/band_max)")
            G: nn.Module = RGBToHSGenerator(cfg.n_bands, cfg.ngf)
        elif cfg.generator == "3d":
            G = Generator3D(cfg.image_size, cfg.n_bands, cfg.z_dim, cfg.ngf)
        else:
            G = DCGANGenerator(cfg.image_size, cfg.n_bands, cfg.z_dim, cfg.ngf,
                               attention=cfg.attention)
        D = build_critic(cfg)
        init_dcgan(G)
        init_dcgan(D)
        super().__init__(cfg, {"G": G, "D": D})
        self._projection: nn.Module | None = None
        if cfg.generator == "rgb":
            self.reflectance = Reflectance(cfg.reflectance_min, cfg.reflectance_max)

    @property
    def conditional_on_rgb(self) -> bool:
        return self.cfg.generator == "rgb"

    def projection(self) -> nn.Module:
        """The fixed HS-to-sRGB rendering (built on first use, on this objective's device)."""
        if self._projection is None:
            from .projection import HSToRGB

            self._projection = HSToRGB()
        return self._projection.to(self.device)

    def to(self, device: Any, *, amp: bool = False) -> ShsGANObjective:
        super().to(device, amp=amp)
        if self.conditional_on_rgb:
            self.reflectance.to(self.device)
        return self

    def generate(self, batch: dict[str, torch.Tensor], n: int) -> torch.Tensor:
        """A training batch of fakes: from the batch's ``rgb`` images or from fresh ``z``."""
        G = self.nets["G"]
        if self.conditional_on_rgb:
            if "rgb" not in batch:
                raise ValueError("the RGB-to-HS SHS-GAN trains on batches with an 'rgb' entry "
                                 "(use UnpairedSampler)")
            return G(batch["rgb"])
        return G(torch.randn(n, self.cfg.z_dim, device=self.device))

    def rgb_consistency(self, fake: torch.Tensor, rgb: torch.Tensor) -> torch.Tensor:
        """``mean |P(r(fake)) - rgb|``: the rendering of the generated cube against its input."""
        return (self.projection()(self.reflectance(fake.float())) - rgb.float()).abs().mean()

    def train_step(self, step: Step) -> dict[str, float]:
        c = self.cfg
        D = self.nets["D"]
        logs = []
        for k in range(c.n_critic):
            batch = step.batch(k)
            real = batch["image"]
            with torch.no_grad(), step.autocast():
                fake = self.generate(batch, len(real))
            with step.autocast():
                d_real, d_fake = D(real).float().mean(), D(fake).float().mean()
            gp = gradient_penalty(D, real.float(), fake.float())
            loss_d = d_fake - d_real + c.gp_weight * gp
            step.update("D", loss_d)
            logs.append({"loss_d": loss_d.item(), "wasserstein": (d_real - d_fake).item(),
                         "gp": gp.item()})
        out = mean_logs(logs)
        batch = step.batch(0)
        D.requires_grad_(False)
        with step.autocast():
            fake = self.generate(batch, len(batch["image"]))
            loss_g = -D(fake).float().mean()
        if self.conditional_on_rgb:
            cons = self.rgb_consistency(fake, batch["rgb"])
            loss_g = loss_g + c.rgb_weight * cons
            out["rgb_l1"] = cons.item()
        step.update("G", loss_g)
        D.requires_grad_(True)
        return out | {"loss_g": loss_g.item()}

    # -- sampling and scoring -----------------------------------------------------------------
    def translate(self, rgb: torch.Tensor, *, batch_size: int | None = None,
                  ema: bool = True) -> torch.Tensor:
        """Cubes in [-1, 1] (CPU float32) generated from RGB images ``N x 3 x S x S`` in [0, 1]
        (the RGB-to-HS generator only)."""
        if not self.conditional_on_rgb:
            raise TypeError(f"generator={self.cfg.generator!r} takes no RGB input")
        G = self.net("G", ema)
        return self.map_batches(lambda rgb: G(rgb), len(rgb), batch_size, rgb=rgb)

    def sample_inputs(self, n: int, gen: torch.Generator, rgb: torch.Tensor | None = None,
                      **condition: Any) -> dict[str, Any]:
        """Every latent in one draw (the images do not depend on the batch size); the RGB-to-HS
        generator instead draws ``n`` of the images ``rgb`` (N x 3 x S x S in [0, 1])."""
        self.condition(n, **condition)
        if not self.conditional_on_rgb:
            if rgb is not None:
                raise TypeError(f"generator={self.cfg.generator!r} takes no RGB input")
            return {"source": torch.randn(n, self.cfg.z_dim, generator=gen)}
        if rgb is None:
            raise ValueError("the RGB-to-HS SHS-GAN samples from RGB images: pass rgb=")
        return {"source": rgb[torch.randint(len(rgb), (n,), generator=gen)]}

    def sample_batch(self, G: nn.Module, n: int, gen: torch.Generator, *,
                     source: torch.Tensor) -> torch.Tensor:
        """A batch from its latents (or RGB images)."""
        return G(source)

    def score_batch(self, images: torch.Tensor) -> torch.Tensor:
        """The critic's score (higher = more real-looking)."""
        return self.nets["D"](images)


def n_parameters(objective: Objective) -> dict[str, int]:
    """Parameters per network of an objective (:func:`hsilib.models.layers.count_parameters`)."""
    return {name: count_parameters(net) for name, net in objective.nets.items()}


registry.register("shsgan", config.ShsGANConfig, ShsGANObjective)
