"""Conditional FastGANs: a lesion mask, an RGB image and/or the class steer what is generated.

One family, ``"cfastgan"`` (:class:`hsilib.config.CondGANConfig`), covers the three conditional
generators of notebook 04; they differ in what the condition is and how it enters:

- **conditional FastGAN** (``condition="mask"``, ``norm="concat"``): the lesion mask, resized to
  each block's resolution, is concatenated to the block's input features (and, in the heavy
  blocks, to the second convolution's input too);
- **SPADE-FastGAN** (``norm="spade"``, map = ``"mask"`` or ``"rgb"``): every batch norm of the
  generator's blocks becomes spatially-adaptive normalisation (Park et al., CVPR 2019)::

      SPADE(x, m) = (1 + gamma(m)) * (x - mu) / sigma + beta(m)

  with ``mu``, ``sigma`` the batch statistics of ``x`` per channel and ``gamma``, ``beta``
  per-pixel maps predicted from the resized condition ``m`` by a small shared convolution;
- **class-conditional FastGAN** (``n_classes = 2``, alone or with a map): a learned class
  embedding is concatenated to the latent vector.

The discriminator is FastGAN's (:class:`hsilib.models.fastgan.Discriminator`, with its
self-supervised decoders) on the image concatenated with its condition: the map in [-1, 1] and
one constant plane per class (+1 for the image's class, -1 otherwise), so it judges whether
image and condition belong together. Its decoders' reconstruction loss is taken on the image
bands only. The SPADE variants condition their discriminator the same way, by concatenation,
and have no SPADE layer in it: that is SPADE's own design. Park et al. (2019, section 3 and
appendix) use pix2pixHD's multi-scale PatchGAN discriminator, whose input is the segmentation
map concatenated with the (real or generated) image; spatially-adaptive normalisation is a
generator layer, there to keep the map's information from being washed out by the generator's
normalisations, a problem a discriminator that reads the map at its input does not have. The
map travels with the image through DiffAugment (one call on the concatenation), so a shifted
image keeps its own mask.

Conditions, as batches (the trainer's dict keys) and as keyword arguments of
:meth:`CondFastGANObjective.sample`: ``mask`` (N x [1 x] S x S, 1 = lesion), ``rgb``
(N x 3 x S x S in [0, 1]) and ``label`` (N integers, :data:`hsilib.labels.LABELS`: MM = 1,
DN = 0). Introduced in notebook 04 (``notebooks/04_conditional.ipynb``)::

    cfg = config.resolve("quick", "cond_gan", n_classes=2)
    objective = registry.build(cfg, seed=0)
    images = objective.sample(8, seed=0, mask=masks[:8], label=1)
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from .. import config
from . import registry
from .fastgan import Discriminator, FastGANObjective, sle_pairs, synthesis
from .layers import (
    G_MULT,
    GLU,
    SLE,
    InitBlock,
    NoiseInjection,
    downsample,
    init_weights,
    sn_conv,
    width,
)

MAP_CHANNELS = {"none": 0, "mask": 1, "rgb": 3}


# --------------------------------------------------------------------------------------------
# SPADE and the conditional up blocks
# --------------------------------------------------------------------------------------------
class SPADE(nn.Module):
    """Spatially-adaptive normalisation: ``(1 + gamma(m)) * BN(x) + beta(m)``.

    ``BN`` has no affine parameters of its own; ``gamma`` and ``beta`` are 3 x 3 convolutions of
    a shared 3 x 3 convolution + ReLU of the condition map ``m`` resized to ``x``'s side (area
    average). The convolutions pad by replication, so a constant map gives constant ``gamma``
    and ``beta`` over the whole image: SPADE then equals a batch norm with weight
    ``1 + gamma`` and bias ``beta`` (the test checks it).
    """

    def __init__(self, channels: int, map_channels: int, hidden: int = 128) -> None:
        super().__init__()
        self.norm = nn.BatchNorm2d(channels, affine=False)
        self.shared = nn.Sequential(
            nn.Conv2d(map_channels, hidden, 3, 1, 1, padding_mode="replicate"), nn.ReLU())
        self.gamma = nn.Conv2d(hidden, channels, 3, 1, 1, padding_mode="replicate")
        self.beta = nn.Conv2d(hidden, channels, 3, 1, 1, padding_mode="replicate")

    def modulation(self, cond: torch.Tensor, size: int) -> tuple[torch.Tensor, torch.Tensor]:
        """``(gamma, beta)``, each B x channels x size x size, from the condition map."""
        h = self.shared(resize_map(cond, size))
        return self.gamma(h), self.beta(h)

    def forward(self, x: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
        gamma, beta = self.modulation(cond, x.shape[-1])
        return self.norm(x) * (1 + gamma) + beta


def resize_map(cond: torch.Tensor, size: int) -> torch.Tensor:
    """A condition map at ``size`` x ``size``: area average when smaller, nearest when larger."""
    if cond.shape[-1] >= size:
        return downsample(cond, size)
    return F.interpolate(cond, size=(size, size), mode="nearest")


class CondUpBlock(nn.Module):
    """FastGAN's up block (light: one conv; heavy: two convs with noise injection) with a
    condition map: concatenated to the convolutions' inputs (``norm="concat"``) or modulating
    every normalisation (``norm="spade"``). ``map_channels = 0``: plain FastGAN block."""

    def __init__(self, c_in: int, c_out: int, *, heavy: bool, map_channels: int = 0,
                 norm: str = "concat", hidden: int = 128) -> None:
        super().__init__()
        self.heavy, self.map_channels = heavy, map_channels
        self.spade = norm == "spade" and map_channels > 0
        extra = map_channels if (map_channels and not self.spade) else 0
        self.up = nn.Upsample(scale_factor=2, mode="nearest")
        self.glu = GLU()
        n_conv = 2 if heavy else 1
        self.convs = nn.ModuleList(sn_conv((c_in if i == 0 else c_out) + extra, 2 * c_out, 3, 1, 1)
                                   for i in range(n_conv))
        self.noises = nn.ModuleList(NoiseInjection() for _ in range(n_conv if heavy else 0))
        self.norms = nn.ModuleList(
            SPADE(2 * c_out, map_channels, hidden) if self.spade else nn.BatchNorm2d(2 * c_out)
            for _ in range(n_conv))

    def forward(self, x: torch.Tensor, cond: torch.Tensor | None = None) -> torch.Tensor:
        if self.map_channels and cond is None:
            raise ValueError("this block is conditional: give the condition map")
        h = self.up(x)
        m = resize_map(cond, h.shape[-1]) if self.map_channels else None
        for i, conv in enumerate(self.convs):
            if m is not None and not self.spade:
                h = torch.cat([h, m], 1)
            h = conv(h)
            if self.heavy:
                h = self.noises[i](h)
            h = self.norms[i](h, m) if self.spade else self.norms[i](h)
            h = self.glu(h)
        return h


# --------------------------------------------------------------------------------------------
# Generator
# --------------------------------------------------------------------------------------------
class CondGenerator(nn.Module):
    """``(z, cond_map, labels)`` -> ``(image, half-size image)``, both in [-1, 1].

    FastGAN's generator (same widths, alternating heavy and light blocks, skip-layer
    excitation) with :class:`CondUpBlock` blocks. ``map_channels`` 0 / 1 / 3 for no map / a
    mask / an RGB image (in [-1, 1]); ``n_classes`` > 0: ``labels`` (B integers) enter through
    an embedding of ``z_dim`` values concatenated to ``z``.
    """

    def __init__(self, image_size: int = 256, n_bands: int = 16, z_dim: int = 256,
                 ngf: int = 64, *, map_channels: int = 0, norm: str = "concat",
                 n_classes: int = 0, hidden: int = 128) -> None:
        super().__init__()
        self.image_size, self.n_bands, self.z_dim = image_size, n_bands, z_dim
        self.map_channels, self.n_classes = map_channels, n_classes
        self.sle = sle_pairs(image_size)
        self.embed = nn.Embedding(n_classes, z_dim) if n_classes else None
        self.init = InitBlock(z_dim * (2 if n_classes else 1), width(G_MULT, 4, ngf))
        res = 8
        while res <= image_size:
            self.add_module(f"feat_{res}", CondUpBlock(
                width(G_MULT, res // 2, ngf), width(G_MULT, res, ngf),
                heavy=res in (8, 32, 128, 512), map_channels=map_channels, norm=norm,
                hidden=hidden))
            res *= 2
        for big, small in self.sle.items():
            self.add_module(f"se_{big}", SLE(width(G_MULT, small, ngf), width(G_MULT, big, ngf)))
        self.to_big = sn_conv(width(G_MULT, image_size, ngf), n_bands, 3, 1, 1)
        self.to_small = sn_conv(width(G_MULT, image_size // 2, ngf), n_bands, 1)
        init_weights(self)  # FastGAN's N(0, 0.02) init (SPADE's own norms have no affine)

    def forward(self, z: torch.Tensor, cond_map: torch.Tensor | None = None,
                labels: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        if self.n_classes:
            if labels is None:
                raise ValueError("class-conditional generator: give labels")
            z = torch.cat([z, self.embed(labels.long())], 1)
        return synthesis(self, self.init(z), cond_map)


def class_planes(labels: torch.Tensor, n_classes: int, size: int) -> torch.Tensor:
    """B x n_classes x size x size: +1 on the plane of each image's class, -1 elsewhere."""
    onehot = F.one_hot(labels.long(), n_classes).float() * 2 - 1
    return onehot[:, :, None, None].expand(-1, -1, size, size)


# --------------------------------------------------------------------------------------------
# Objective
# --------------------------------------------------------------------------------------------
class CondFastGANObjective(FastGANObjective):
    """FastGAN's training step, sampling and scoring
    (:class:`hsilib.models.fastgan.FastGANObjective`: one D and one G update per step,
    random-margin hinge loss, DiffAugment, self-supervised decoders, EMA of G) for conditional
    generators; this class adds only the conditioning. The condition of a generated batch is
    that of the real batch it is trained against (the real images' own masks, RGB renderings,
    classes).

    With ``rgb_weight > 0`` the generator also pays ``rgb_weight * |render(fake) - rgb|_1``,
    the sRGB rendering (:class:`hsilib.models.projection.HSToRGB`) of its cube, mapped back to
    reflectance with ``band_min`` / ``band_max``, against the conditioning image.
    """

    family = "cfastgan"

    def __init__(self, cfg: config.CondGANConfig) -> None:
        self.n_map = MAP_CHANNELS[cfg.condition]
        G = CondGenerator(cfg.image_size, cfg.n_bands, cfg.z_dim, cfg.ngf,
                          map_channels=self.n_map, norm=cfg.norm, n_classes=cfg.n_classes,
                          hidden=cfg.spade_hidden)
        D = Discriminator(cfg.image_size, cfg.n_bands + self.n_map + cfg.n_classes, cfg.ndf)
        super().__init__(cfg, {"G": G, "D": D})
        self._render: nn.Module | None = None
        if cfg.rgb_weight > 0 and len(cfg.band_min) != cfg.n_bands:
            raise ValueError(f"rgb_weight > 0 needs band_min / band_max with {cfg.n_bands} "
                             f"values (the training normaliser's range), got "
                             f"{len(cfg.band_min)}")

    # -- conditions ---------------------------------------------------------------------------
    def batch_condition(self, batch: dict[str, Any], n: int) -> dict[str, Any]:
        """``{"cond_map": map in [-1, 1] or None, "labels": labels or None}`` (the keyword
        arguments of :class:`CondGenerator`) of ``n`` images from a batch dict, checked
        against the config (a single mask / image / label is repeated ``n`` times)."""
        cfg, S = self.cfg, self.cfg.image_size
        cond_map = labels = None
        if cfg.condition != "none":
            key = cfg.condition
            if batch.get(key) is None:
                raise ValueError(f"this {cfg.condition}-conditioned generator needs '{key}'")
            m = torch.as_tensor(batch[key], dtype=torch.float32, device=self.device)
            if key == "mask" and m.ndim in (2, 3):
                m = m.reshape(-1, 1, *m.shape[-2:])
            if m.ndim == 3:
                m = m[None]
            if m.ndim != 4 or m.shape[1] != self.n_map or m.shape[-2:] != (S, S):
                raise ValueError(f"'{key}' must be N x {self.n_map} x {S} x {S}, got "
                                 f"{tuple(m.shape)}")
            if len(m) == 1 and n > 1:
                m = m.expand(n, -1, -1, -1)
            if len(m) != n:
                raise ValueError(f"'{key}' has {len(m)} items for {n} images")
            cond_map = m * 2 - 1
        if cfg.n_classes:
            if batch.get("label") is None:
                raise ValueError("this class-conditional generator needs 'label'")
            y = torch.as_tensor(batch["label"], device=self.device).long().reshape(-1)
            y = y.expand(n) if len(y) == 1 else y
            if len(y) != n or y.min() < 0 or y.max() >= cfg.n_classes:
                raise ValueError(f"'label' must hold {n} integers in [0, {cfg.n_classes}), got "
                                 f"{y.tolist()}")
            labels = y
        return {"cond_map": cond_map, "labels": labels}

    def condition(self, n: int, **condition: Any) -> dict[str, Any]:
        """The keyword conditions of :meth:`sample` and :meth:`score` (``mask``, ``rgb``,
        ``label``: one per image, or one for all) as :meth:`batch_condition`'s inputs."""
        unknown = set(condition) - {"mask", "rgb", "label"}
        if unknown:
            raise TypeError(f"unknown conditions {sorted(unknown)}; use mask, rgb, label")
        extra = {"mask", "rgb"} & {k for k, v in condition.items() if v is not None}
        if extra - {self.cfg.condition}:
            raise ValueError(f"this generator is conditioned on {self.cfg.condition!r}, got "
                             f"{sorted(extra)}")
        return self.batch_condition(condition, n)

    def d_input(self, images: torch.Tensor | tuple[torch.Tensor, torch.Tensor],
                cond_map: torch.Tensor | None = None, labels: torch.Tensor | None = None):
        """What the discriminator sees: images (or the ``(big, small)`` pair) with the map and
        the class planes concatenated as extra channels."""
        def cat(x: torch.Tensor) -> torch.Tensor:
            parts = [x]
            if cond_map is not None:
                parts.append(resize_map(cond_map, x.shape[-1]).to(x.dtype))
            if labels is not None:
                parts.append(class_planes(labels, self.cfg.n_classes, x.shape[-1]).to(x.dtype))
            return torch.cat(parts, 1)

        return cat(images) if isinstance(images, torch.Tensor) else tuple(cat(x) for x in images)

    # -- the RGB term -------------------------------------------------------------------------
    @property
    def render(self) -> nn.Module:
        """sRGB rendering of generated cubes ([-1, 1] -> reflectance -> sRGB)."""
        if self._render is None:
            from .projection import HSToRGB

            self._render = HSToRGB().to(self.device)
        return self._render

    def to_reflectance(self, x: torch.Tensor) -> torch.Tensor:
        """Generator range [-1, 1] -> reflectance with the config's band range."""
        lo = torch.tensor(self.cfg.band_min, device=x.device, dtype=x.dtype)[None, :, None, None]
        hi = torch.tensor(self.cfg.band_max, device=x.device, dtype=x.dtype)[None, :, None, None]
        return (x + 1) / 2 * (hi - lo) + lo

    def g_terms(self, fake: tuple[torch.Tensor, torch.Tensor], batch: dict[str, Any]
                ) -> dict[str, tuple[float, torch.Tensor]]:
        """``g_rgb_l1``: the rendering of the generated cube against the batch's ``rgb``."""
        if self.cfg.rgb_weight <= 0:
            return {}
        l1 = (self.render(self.to_reflectance(fake[0].float())) - batch["rgb"].float()).abs()
        return {"g_rgb_l1": (self.cfg.rgb_weight, l1.mean())}


registry.register("cfastgan", config.CondGANConfig, CondFastGANObjective)
