"""FastGAN for hyperspectral cubes: any band count, outputs of 32 to 256 pixels.

Liu, Zhu, Song & Elgammal, "Towards Faster and Stabilized GAN Training for High-Fidelity Few-shot
Image Synthesis", ICLR 2021. Two ideas make it train on a few hundred images:

- the generator's **skip-layer excitation** (SLE): channel gates computed from the 4 x 4 .. 16 x 16
  maps rescale the 64 x 64 .. 256 x 256 maps (``se_64`` from ``feat_4`` and so on);
- the **self-supervised discriminator**: on real images, small decoders must rebuild the image
  from the discriminator's 8 x 8 features, and a random quadrant of the image from the matching
  quadrant of its 16 x 16 features, which forces it to keep descriptive features.

Layers are named by the resolution they produce (``feat_8``, ``se_64``, ``down_16``). The
channel widths come from the tables in :mod:`hsilib.models.layers`; with ``ngf = ndf = 64`` and a
256 output they are the published ones. Generalising to smaller images: the discriminator always
downsamples to 8 x 8, and every reconstruction target is half the image side (128 for 256).

Introduced in notebook 03 (``notebooks/03_fastgan.ipynb``)::

    cfg = config.resolve("quick", "fastgan")
    G = Generator(cfg.image_size, cfg.n_bands, cfg.z_dim, cfg.ngf)
    big, small = G(torch.randn(8, cfg.z_dim))      # 8 x 16 x 64 x 64 and 8 x 16 x 32 x 32
    objective = FastGANObjective(cfg)              # G, D, losses (for the trainer)
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from .. import config
from . import losses, registry
from .diffaug import diff_augment
from .layers import (
    D_MULT,
    D_SMALL_MULT,
    G_MULT,
    SLE,
    DownBlockComp,
    InitBlock,
    SimpleDecoder,
    check_size,
    down_block,
    downsample,
    frozen_spectral_norm,
    init_weights,
    sn_conv,
    up_block,
    up_block_comp,
    width,
)
from .objective import Objective, Step


def sle_pairs(image_size: int) -> dict[int, int]:
    """Skip-layer excitations of the generator: {target resolution: source resolution}.

    As published: 64 <- 4, 128 <- 8, 256 <- 16. A 32-pixel generator has none of these, so it
    gets one excitation 32 <- 4 (the model stays a FastGAN at every size).
    """
    pairs = {r: r // 16 for r in (64, 128, 256) if r <= image_size}
    return pairs or {image_size: 4}


def quadrant(x: torch.Tensor, part: int) -> torch.Tensor:
    """Quadrant ``part`` of a B x C x H x W tensor: 0 top-left, 1 top-right, 2 bottom-left,
    3 bottom-right."""
    h, w = x.shape[-2] // 2, x.shape[-1] // 2
    r, c = divmod(int(part), 2)
    return x[..., r * h:(r + 1) * h, c * w:(c + 1) * w]


# --------------------------------------------------------------------------------------------
# Generator
# --------------------------------------------------------------------------------------------
class Generator(nn.Module):
    """z (B x z_dim) -> (image B x n_bands x S x S, half-size image B x n_bands x S/2 x S/2).

    Both outputs are in [-1, 1] (tanh); the half-size one feeds the discriminator's
    low-resolution branch, as in the paper.
    """

    def __init__(self, image_size: int = 256, n_bands: int = 16, z_dim: int = 256,
                 ngf: int = 64) -> None:
        super().__init__()
        check_size(image_size)
        self.image_size, self.n_bands, self.z_dim = image_size, n_bands, z_dim
        self.sle = sle_pairs(image_size)
        self.init = InitBlock(z_dim, width(G_MULT, 4, ngf))
        res = 8
        while res <= image_size:
            c_in, c_out = width(G_MULT, res // 2, ngf), width(G_MULT, res, ngf)
            # the published generator alternates heavy (noise) and light up blocks
            block = up_block_comp if res in (8, 32, 128, 512) else up_block
            self.add_module(f"feat_{res}", block(c_in, c_out))
            res *= 2
        for big, small in self.sle.items():
            self.add_module(f"se_{big}", SLE(width(G_MULT, small, ngf), width(G_MULT, big, ngf)))
        self.to_big = sn_conv(width(G_MULT, image_size, ngf), n_bands, 3, 1, 1)
        self.to_small = sn_conv(width(G_MULT, image_size // 2, ngf), n_bands, 1)
        init_weights(self)

    def forward(self, z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return synthesis(self, self.init(z))


def synthesis(G: nn.Module, x: torch.Tensor, *cond: Any) -> tuple[torch.Tensor, torch.Tensor]:
    """A FastGAN generator's path from its 4 x 4 map ``x``: the up blocks ``feat_8`` ..
    ``feat_S`` of ``G`` (each given ``cond``, as the conditional generators' blocks are), the
    skip-layer excitations ``G.sle``, and the two tanh outputs (image, half-size image)."""
    feats = {4: x}
    res = 8
    while res <= G.image_size:
        h = getattr(G, f"feat_{res}")(feats[res // 2], *cond)
        if res in G.sle:
            h = getattr(G, f"se_{res}")(feats[G.sle[res]], h)
        feats[res] = h
        res *= 2
    big = torch.tanh(G.to_big(feats[G.image_size]))
    small = torch.tanh(G.to_small(feats[G.image_size // 2]))
    return big, small


# --------------------------------------------------------------------------------------------
# Discriminator
# --------------------------------------------------------------------------------------------
class Discriminator(nn.Module):
    """Two-branch discriminator with self-supervised decoders.

    ``D(images)`` -> logits B x K (two 5 x 5 patch maps, flattened and concatenated: the full-size
    branch down to 8 x 8 and the half-size branch). ``D(images, part=k)`` also returns the
    reconstructions ``{"big", "small", "part"}``, each B x n_bands x S/2 x S/2: the whole image
    from the 8 x 8 features of both branches, and quadrant ``k`` from quadrant ``k`` of the
    16 x 16 features. Targets: :func:`reconstruction_targets`.
    """

    def __init__(self, image_size: int = 256, n_bands: int = 16, ndf: int = 64) -> None:
        super().__init__()
        check_size(image_size)
        self.image_size, self.n_bands = image_size, n_bands
        s = image_size
        self.add_module(f"from_{s}", nn.Sequential(sn_conv(n_bands, width(D_MULT, s, ndf), 3, 1, 1),
                                                   nn.LeakyReLU(0.2, inplace=True)))
        self.resolutions = []  # of the down blocks: S/2 .. 8
        res = s // 2
        while res >= 8:
            self.add_module(f"down_{res}", DownBlockComp(width(D_MULT, 2 * res, ndf),
                                                         width(D_MULT, res, ndf)))
            self.resolutions.append(res)
            res //= 2
        # excitation of each map by the map 8x its size (published: 32<-256, 16<-128, 8<-64)
        self.sle = {r: 8 * r for r in self.resolutions if 8 * r <= s}
        for r, src in self.sle.items():
            self.add_module(f"se_{r}", SLE(width(D_MULT, src, ndf), width(D_MULT, r, ndf)))
        self.logits_big = nn.Sequential(
            sn_conv(width(D_MULT, 8, ndf), width(D_MULT, 4, ndf), 1),
            nn.BatchNorm2d(width(D_MULT, 4, ndf)), nn.LeakyReLU(0.2, inplace=True),
            sn_conv(width(D_MULT, 4, ndf), 1, 4))
        # half-size branch: S/2 -> 8
        small = [sn_conv(n_bands, width(D_SMALL_MULT, s // 4, ndf), 4, 2, 1),
                 nn.LeakyReLU(0.2, inplace=True)]
        res = s // 4
        while res > 8:
            small.append(down_block(width(D_SMALL_MULT, res, ndf),
                                    width(D_SMALL_MULT, res // 2, ndf)))
            res //= 2
        self.small_down = nn.Sequential(*small)
        self.logits_small = sn_conv(width(D_SMALL_MULT, 8, ndf), 1, 4)
        half, base = s // 2, max(2, ndf // 2)
        self.decoder_big = SimpleDecoder(width(D_MULT, 8, ndf), n_bands, half, base)
        self.decoder_part = SimpleDecoder(width(D_MULT, 16, ndf), n_bands, half, base)
        self.decoder_small = SimpleDecoder(width(D_SMALL_MULT, 8, ndf), n_bands, half, base)
        init_weights(self)

    def forward(self, images: torch.Tensor | tuple[torch.Tensor, torch.Tensor],
                part: int | None = None):
        if isinstance(images, torch.Tensor):
            big, small = images, downsample(images, self.image_size // 2)
        else:
            big, small = images
        feats = {self.image_size: getattr(self, f"from_{self.image_size}")(big)}
        for r in self.resolutions:
            h = getattr(self, f"down_{r}")(feats[2 * r])
            if r in self.sle:
                h = getattr(self, f"se_{r}")(feats[self.sle[r]], h)
            feats[r] = h
        feat_small = self.small_down(small)
        logits = torch.cat([self.logits_big(feats[8]).flatten(1),
                            self.logits_small(feat_small).flatten(1)], dim=1)
        if part is None:
            return logits
        recs = {"big": self.decoder_big(feats[8]),
                "small": self.decoder_small(feat_small),
                "part": self.decoder_part(quadrant(feats[16], part))}
        return logits, recs


def reconstruction_targets(images: torch.Tensor, part: int) -> dict[str, torch.Tensor]:
    """What the decoders of :class:`Discriminator` rebuild from real ``images`` (B x C x S x S):
    the image at half size (``big`` and ``small``) and quadrant ``part`` at full resolution."""
    half = downsample(images, images.shape[-1] // 2)
    return {"big": half, "small": half, "part": quadrant(images, part)}


# --------------------------------------------------------------------------------------------
# The objective: losses of one training step, sampling, scoring
# --------------------------------------------------------------------------------------------
class FastGANObjective(Objective):
    """FastGAN's training step for :class:`hsilib.train.trainer.Trainer`.

    One discriminator update, then one generator update, per step, in the official code's
    order of work:

    - draw z and generate a batch; DiffAugment the real images and, once, the generated pair
      (the same augmented fakes serve both updates, as in the official loop);
    - **D**: FastGAN's random-margin hinge loss on the real images plus the decoders'
      reconstruction loss on a random quadrant, back-propagated *before* the fakes are scored
      (:meth:`d_real_loss`); then the hinge loss of the detached fakes (:meth:`d_fake_loss`)
      and one optimiser step. The gradients equal those of the summed loss (:meth:`d_loss`);
      only the graph of the real images is freed earlier;
    - **G**: the hinge loss of the same augmented fakes, with D frozen (no D gradients).

    Each spectrally normalised layer of D runs one power iteration per step, in the pass over
    the real images (:func:`hsilib.models.layers.frozen_spectral_norm`). On the CPU the
    networks and images are channels_last (faster convolutions and batch norm there; on CUDA
    ``amp`` decides). With ``spectral_loss_weight > 0`` both add SAM + SID terms
    (reconstruction vs target for D, mean spectrum of fake vs real for G). Every random draw
    uses torch's global generator, so a seeded (or resumed) run is exactly reproducible on the
    CPU. The EMA of ``G`` is sampled.

    The conditional FastGANs (:class:`hsilib.models.conditional.CondFastGANObjective`) reuse
    this step through three hooks that do nothing here: :meth:`batch_condition` (the condition
    inputs of the generator, keyword arguments of ``G``), :meth:`d_input` (what D sees of an
    image and its condition) and :meth:`g_terms` (further generator losses).
    """

    family = "fastgan"
    ema_nets = ("G",)
    optimizer_nets = {"D": ("D",), "G": ("G",)}

    def __init__(self, cfg: config.FastGANConfig,
                 nets: dict[str, nn.Module] | None = None) -> None:
        if nets is None:
            nets = {"G": Generator(cfg.image_size, cfg.n_bands, cfg.z_dim, cfg.ngf),
                    "D": Discriminator(cfg.image_size, cfg.n_bands, cfg.ndf)}
        super().__init__(cfg, nets)
        self._recon: nn.Module | None = None
        self.channels_last = False

    @property
    def recon(self) -> nn.Module:
        """The decoders' reconstruction loss, built on first use (sampling a loaded checkpoint
        needs no LPIPS backbone file)."""
        if self._recon is None:
            cfg = self.cfg
            self._recon = losses.reconstruction_loss(cfg.n_bands, cfg.lpips_weights,
                                                     cfg.lpips_net).to(self.device)
        return self._recon

    def to(self, device: Any, *, amp: bool = False) -> FastGANObjective:
        """As :meth:`Objective.to`; on the CPU the networks are also made channels_last."""
        super().to(device, amp=amp)
        self.channels_last = self.amp or self.device.type == "cpu"
        if self.channels_last:
            self.nets.to(memory_format=torch.channels_last)
            self.ema.to(memory_format=torch.channels_last)
        return self

    def optimizer_options(self, name: str) -> dict[str, Any]:
        """The config's rate and betas, with the fused Adam kernel (one pass over each
        parameter instead of one per operation: the same update, up to rounding)."""
        return super().optimizer_options(name) | {"fused": True}

    def layout(self, x: torch.Tensor) -> torch.Tensor:
        """``x`` in the networks' memory format (channels_last on the CPU)."""
        return x.contiguous(memory_format=torch.channels_last) if self.channels_last else x

    def _aug(self, x: torch.Tensor) -> torch.Tensor:
        return diff_augment(x, self.cfg.diffaug) if self.cfg.diffaug else x

    # -- conditioning hooks (unconditional here) ----------------------------------------------
    def batch_condition(self, batch: dict[str, Any], n: int) -> dict[str, Any]:
        """The generator's condition inputs for ``n`` images read from a batch dict."""
        return {}

    def d_input(self, images: torch.Tensor | tuple[torch.Tensor, torch.Tensor],
                **inputs: Any) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
        """What the discriminator sees of ``images`` (or a ``(big, small)`` pair) and their
        condition: the images themselves."""
        return images

    def g_terms(self, fake: tuple[torch.Tensor, torch.Tensor], batch: dict[str, Any]
                ) -> dict[str, tuple[float, torch.Tensor]]:
        """Further generator losses ``{log name: (weight, term)}``: none."""
        return {}

    # -- losses -------------------------------------------------------------------------------
    def d_real_loss(self, real_in: torch.Tensor) -> tuple[torch.Tensor, dict[str, float]]:
        """D's loss on augmented real input ``real_in`` (images and condition): the hinge
        term, the decoders' reconstruction of the image bands (and, with
        ``spectral_loss_weight``, its SAM + SID terms)."""
        D, w, nb = self.nets["D"], self.cfg.spectral_loss_weight, self.cfg.n_bands
        part = int(torch.randint(0, 4, (1,)))
        logits_real, recs = D(real_in, part=part)
        targets = reconstruction_targets(real_in, part)
        pairs = [(recs[k][:, :nb].float(), targets[k][:, :nb].float()) for k in recs]
        rec = sum(self.recon(r, t) for r, t in pairs)
        loss_real = losses.hinge_d_real(logits_real)
        loss = loss_real + rec
        logs = {"d_real": loss_real.item(), "d_rec": rec.item()}
        if w > 0:
            spec = sum(losses.spectral_loss(r, t) for r, t in pairs)
            loss = loss + w * spec
            logs["d_spec"] = spec.item()
        return loss, logs

    def d_fake_loss(self, fake_in: tuple[torch.Tensor, torch.Tensor]
                    ) -> tuple[torch.Tensor, dict[str, float]]:
        """D's hinge loss on an augmented generated ``(big, small)`` input."""
        loss = losses.hinge_d_fake(self.nets["D"](fake_in))
        return loss, {"d_fake": loss.item()}

    def d_loss(self, real: torch.Tensor, fake: tuple[torch.Tensor, torch.Tensor],
               **inputs: Any) -> tuple[torch.Tensor, dict[str, float]]:
        """The discriminator's whole loss on ``real`` images and a generated ``(big, small)``
        pair (with their condition ``inputs``), augmented here: :meth:`d_real_loss` +
        :meth:`d_fake_loss` (the training step back-propagates the two parts in turn)."""
        real_in = self._aug(self.d_input(real, **inputs))  # image and condition move together
        loss_real, logs = self.d_real_loss(real_in)
        fake_in = self.d_input(tuple(f.detach() for f in fake), **inputs)
        loss_fake, logs_fake = self.d_fake_loss(tuple(self._aug(f) for f in fake_in))
        loss = loss_real + loss_fake
        return loss, logs | logs_fake | {"d_loss": loss.item()}

    def g_loss(self, real: torch.Tensor, fake: tuple[torch.Tensor, torch.Tensor],
               batch: dict[str, Any] | None = None, *,
               fake_in: tuple[torch.Tensor, torch.Tensor] | None = None, **inputs: Any
               ) -> tuple[torch.Tensor, dict[str, float]]:
        """The generator's loss for its ``(big, small)`` output (``real`` for spectral terms,
        ``batch`` for :meth:`g_terms`); ``fake_in``: D's augmented input of ``fake`` when
        already made (else it is made here)."""
        w = self.cfg.spectral_loss_weight
        if fake_in is None:
            fake_in = tuple(self._aug(f) for f in self.d_input(fake, **inputs))
        loss = losses.hinge_g(self.nets["D"](fake_in))
        logs = {"g_adv": loss.item()}
        if w > 0:
            spec = losses.mean_spectrum_loss(fake[0].float(), real.float())
            loss = loss + w * spec
            logs["g_spec"] = spec.item()
        for name, (weight, term) in self.g_terms(fake, batch or {}).items():
            loss = loss + weight * term
            logs[name] = term.item()
        return loss, logs | {"g_loss": loss.item()}

    def train_step(self, step: Step) -> dict[str, float]:
        G, D = self.nets["G"], self.nets["D"]
        batch = step.batch(0)
        real = self.layout(batch["image"])
        inputs = self.batch_condition(batch, len(real))
        D.requires_grad_(True)
        with step.autocast():
            fake = G(torch.randn(len(real), self.cfg.z_dim, device=real.device), **inputs)
            real_in = self._aug(self.d_input(real, **inputs))
            fake_in = tuple(self._aug(f) for f in self.d_input(fake, **inputs))
        opt = step.optimizers["D"]
        opt.zero_grad(set_to_none=True)
        with step.autocast():
            loss_real, logs = self.d_real_loss(real_in)
        loss_real.backward()  # frees the real images' graph before the fakes are scored
        with step.autocast(), frozen_spectral_norm(D):
            loss_fake, logs_fake = self.d_fake_loss(tuple(f.detach() for f in fake_in))
        loss_fake.backward()
        opt.step()
        logs |= logs_fake | {"d_loss": loss_real.item() + loss_fake.item()}
        D.requires_grad_(False)  # no D gradients during the G update
        with step.autocast(), frozen_spectral_norm(D):
            loss_g, logs_g = self.g_loss(real, fake, batch, fake_in=fake_in, **inputs)
        step.update("G", loss_g)
        D.requires_grad_(True)
        return logs | logs_g

    # -- sampling and scoring -----------------------------------------------------------------
    def sample_batch(self, G: nn.Module, n: int, gen: torch.Generator,
                     **inputs: Any) -> torch.Tensor:
        """Latents drawn batch by batch from ``gen``; the generator's noise injections draw
        from the seeded global generator, so the images depend on ``seed`` and
        ``batch_size``."""
        z = torch.randn(n, self.cfg.z_dim, generator=gen)
        return G(z.to(self.device), **inputs)[0].contiguous()

    def score_batch(self, images: torch.Tensor, **inputs: Any) -> torch.Tensor:
        """The discriminator's mean logit per image; images are shown to it as real images
        are, with the half-size view resized from the image."""
        images = self.layout(images)
        pair = (images, downsample(images, self.cfg.image_size // 2))
        return self.nets["D"](self.d_input(pair, **inputs)).float().mean(1)


registry.register("fastgan", config.FastGANConfig, FastGANObjective)
