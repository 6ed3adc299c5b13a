"""A variational auto-encoder (VAE) for hyperspectral cubes: any band count, 32 to 256 pixels.

Kingma & Welling, "Auto-Encoding Variational Bayes", ICLR 2014. The likelihood-based alternative
to adversarial training: an encoder ``q(z | x) = N(mu(x), diag(sigma(x)^2))`` and a decoder
``x_hat(z)`` are trained together to maximise the evidence lower bound (ELBO)

    log p(x) >= E_q[log p(x | z)] - KL(q(z | x) || N(0, I)).

Two likelihoods (``likelihood``), each with the KL divergence (summed over the latent
dimensions) weighted by ``kl_weight``:

- ``"mse"`` (the study's setting): the per-value **mean** squared error plus ``kl_weight`` x KL.
  Against the ELBO this divides the reconstruction term by the number of values (16 x 64 x 64
  = 65536 at 64 px): with ``kl_weight = 0.01`` the KL counts as if multiplied by about 655 in a
  Gaussian likelihood of unit variance, an effective beta in the hundreds to thousands that
  leaves the latent code almost nothing to carry (notebook 05 measures the KL per image).
- ``"gaussian"``: the proper Gaussian negative log-likelihood, **summed** over every value,
  ``sum 0.5 ((x - x_hat) / sigma_b)^2 + log sigma_b + 0.5 log 2 pi``, with one standard
  deviation ``sigma_b`` per band, **learned** with the networks (initialised at
  ``sigma_init``, its rate ``sigma_lr_mul`` times ``lr``; ``learn_sigma=False`` keeps it fixed
  there), and ``kl_weight = 1`` for the
  ELBO itself. A learned variance calibrates the decoder (Rybkin et al., "Simple and
  Effective VAE Training with Calibrated Decoders", ICML 2021): each ``sigma_b`` moves to the
  band's reconstruction error, so the balance between the two terms is measured, not chosen.
  ``log sigma_b`` is floored at :data:`LOG_SIGMA_MIN`.

Optionally SAM + SID between reconstruction and input (``spectral_loss_weight``) are added.
Sampling decodes ``z ~ N(0, I)`` and returns the decoder's mean ``x_hat(z)`` (no pixel noise
is drawn, for either likelihood): the decoder's U-Net-style up blocks (upsample, two 3 x 3
convolutions) take no encoder skips, so a sample needs the prior alone.

With ``conditional=True`` the model is a conditional VAE (CVAE): the class label (MM or DN) is
given to the encoder as constant one-hot channels and to the decoder concatenated to ``z``, and
``sample(n, seed=..., cls="MM")`` draws lesions of that class.

Introduced in notebook 05 (``notebooks/05_vae.ipynb``)::

    cfg = config.resolve("quick", "vae")
    objective = VAEObjective(cfg)                   # encoder, decoder, loss (for the trainer)
    x_hat, mu, logvar = objective.reconstruct(images)
    samples = objective.sample(8, seed=0)           # 8 x 16 x 64 x 64 in [-1, 1]
"""

from __future__ import annotations

import math
from itertools import pairwise
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from .. import config
from ..labels import LABELS
from . import losses, registry
from .layers import check_size
from .objective import Objective, Step

CLASSES = ("MM", "DN")  # the classes of a conditional VAE, in one-hot order
LOG_SIGMA_MIN = -6.0  # floor of the Gaussian likelihood's log standard deviations


def widths(image_size: int, base: int) -> list[int]:
    """Channel widths of the feature maps from ``image_size`` down to 4 x 4: ``base`` at full
    size, doubled at every halving, at most ``8 * base``."""
    n = image_size.bit_length() - 2  # 32 -> 4 maps (32, 16, 8, 4)
    return [base * min(2 ** i, 8) for i in range(n)]


# --------------------------------------------------------------------------------------------
# The closed-form pieces of the ELBO
# --------------------------------------------------------------------------------------------
def kl_standard_normal(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """``KL(N(mu, diag(exp(logvar))) || N(0, I))`` per row (summed over the last dimension):
    ``0.5 * sum(mu^2 + exp(logvar) - 1 - logvar)``."""
    return 0.5 * (mu.pow(2) + logvar.exp() - 1.0 - logvar).sum(-1)


def reparameterise(mu: torch.Tensor, logvar: torch.Tensor,
                   generator: torch.Generator | None = None) -> torch.Tensor:
    """``z = mu + sigma * eps`` with ``eps ~ N(0, I)``: a sample of ``q(z | x)`` through which
    gradients reach ``mu`` and ``logvar`` (the randomness sits in ``eps`` alone)."""
    eps = torch.randn(mu.shape, generator=generator, dtype=mu.dtype).to(mu.device)
    return mu + torch.exp(0.5 * logvar) * eps


def gaussian_nll(x: torch.Tensor, x_hat: torch.Tensor, log_sigma: torch.Tensor
                 ) -> torch.Tensor:
    """Per image, ``-log N(x; x_hat, sigma^2)`` summed over every value, with one standard
    deviation per band (``log_sigma``: n_bands values): ``sum 0.5 ((x - x_hat) / sigma)^2 +
    log sigma + 0.5 log(2 pi)``."""
    log_sigma = log_sigma.view(1, -1, *([1] * (x.dim() - 2)))
    z = (x - x_hat) * torch.exp(-log_sigma)
    per_value = 0.5 * z.pow(2) + log_sigma + 0.5 * math.log(2 * math.pi)
    return per_value.flatten(1).sum(1)


def vae_terms(x: torch.Tensor, x_hat: torch.Tensor, mu: torch.Tensor, logvar: torch.Tensor,
              kl_weight: float, spectral_loss_weight: float = 0.0,
              log_sigma: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
    """The per-image terms of the loss: ``rec``, ``kl`` (:func:`kl_standard_normal`),
    optionally ``spec`` (SAM + SID of each image), and ``loss = rec + kl_weight * kl
    (+ spectral_loss_weight * spec)``; every entry has one value per image.

    ``rec``: without ``log_sigma`` the mean squared error over bands and pixels (the study's
    likelihood); with it the Gaussian negative log-likelihood summed over every value
    (:func:`gaussian_nll`), so that ``-loss`` is the ELBO itself when ``kl_weight = 1``.
    """
    if log_sigma is None:
        rec = (x_hat - x).pow(2).flatten(1).mean(1)
    else:
        rec = gaussian_nll(x, x_hat, log_sigma)
    kl = kl_standard_normal(mu, logvar)
    out = {"rec": rec, "kl": kl, "loss": rec + kl_weight * kl}
    if spectral_loss_weight > 0:
        spec = torch.stack([losses.spectral_loss(a[None], b[None])
                            for a, b in zip(x_hat, x, strict=True)])
        out["spec"] = spec
        out["loss"] = out["loss"] + spectral_loss_weight * spec
    return out


# --------------------------------------------------------------------------------------------
# Networks
# --------------------------------------------------------------------------------------------
class Encoder(nn.Module):
    """Image (B x n_bands x S x S) [+ one-hot class] -> (mu, logvar), each B x latent_dim.

    Stride-2 4 x 4 convolutions (BN, LeakyReLU) halve the side down to 4 x 4; two linear heads
    read the flattened 4 x 4 map. A class condition enters as constant one-hot channels.
    """

    def __init__(self, image_size: int, n_bands: int, latent_dim: int, base: int,
                 n_classes: int = 0) -> None:
        super().__init__()
        check_size(image_size)
        self.n_classes = n_classes
        w = widths(image_size, base)
        layers: list[nn.Module] = [nn.Conv2d(n_bands + n_classes, w[0], 3, 1, 1),
                                   nn.LeakyReLU(0.2, inplace=True)]
        for c_in, c_out in pairwise(w):
            layers += [nn.Conv2d(c_in, c_out, 4, 2, 1), nn.BatchNorm2d(c_out),
                       nn.LeakyReLU(0.2, inplace=True)]
        self.features = nn.Sequential(*layers)
        self.to_mu = nn.Linear(w[-1] * 16, latent_dim)
        self.to_logvar = nn.Linear(w[-1] * 16, latent_dim)

    def forward(self, x: torch.Tensor, onehot: torch.Tensor | None = None
                ) -> tuple[torch.Tensor, torch.Tensor]:
        if self.n_classes:
            x = torch.cat([x, onehot[:, :, None, None].expand(-1, -1, *x.shape[-2:])], 1)
        h = self.features(x).flatten(1)
        return self.to_mu(h), self.to_logvar(h)


class UpBlock(nn.Module):
    """U-Net-style up-sampling block: nearest x2, then two 3 x 3 conv + BN + LeakyReLU. Unlike
    a U-Net it concatenates no encoder features, so the decoder runs from ``z`` alone."""

    def __init__(self, c_in: int, c_out: int) -> None:
        super().__init__()
        self.main = nn.Sequential(
            nn.Upsample(scale_factor=2, mode="nearest"),
            nn.Conv2d(c_in, c_out, 3, 1, 1), nn.BatchNorm2d(c_out), nn.LeakyReLU(0.2, True),
            nn.Conv2d(c_out, c_out, 3, 1, 1), nn.BatchNorm2d(c_out), nn.LeakyReLU(0.2, True))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.main(x)


class Decoder(nn.Module):
    """z (B x latent_dim) [+ one-hot class] -> image B x n_bands x S x S in [-1, 1] (tanh).

    ``sigma``: with a Gaussian likelihood, the initial standard deviation of every band
    (None: no likelihood scale, the per-value MSE). ``log sigma = sigma_lr_mul * sigma_raw``
    with ``sigma_raw`` a parameter when ``learn_sigma`` (else a buffer, and the multiplier 1):
    the multiplier is a learning-rate multiplier, as StyleGAN's mapping network's, so that Adam
    moves ``log sigma`` by about ``lr * sigma_lr_mul`` per step and the scale settles within a
    few hundred steps instead of tens of thousands."""

    def __init__(self, image_size: int, n_bands: int, latent_dim: int, base: int,
                 n_classes: int = 0, sigma: float | None = None,
                 learn_sigma: bool = True, sigma_lr_mul: float = 1.0) -> None:
        super().__init__()
        check_size(image_size)
        self.n_classes = n_classes
        self.sigma_mul = float(sigma_lr_mul) if learn_sigma else 1.0
        init = None if sigma is None else torch.full((n_bands,), math.log(sigma) / self.sigma_mul)
        if init is not None and learn_sigma:
            self.sigma_raw = nn.Parameter(init)
        else:  # None (no likelihood scale) or a fixed one, saved with the weights
            self.register_buffer("sigma_raw", init)
        w = widths(image_size, base)[::-1]  # 4 x 4 first
        self.c0 = w[0]
        self.init = nn.Linear(latent_dim + n_classes, w[0] * 16)
        self.ups = nn.Sequential(*[UpBlock(c_in, c_out) for c_in, c_out in pairwise(w)])
        self.to_image = nn.Conv2d(w[-1], n_bands, 3, 1, 1)

    def forward(self, z: torch.Tensor, onehot: torch.Tensor | None = None) -> torch.Tensor:
        if self.n_classes:
            z = torch.cat([z, onehot], 1)
        h = F.leaky_relu(self.init(z), 0.2).view(len(z), self.c0, 4, 4)
        return torch.tanh(self.to_image(self.ups(h)))

    def band_log_sigma(self) -> torch.Tensor | None:
        """The likelihood's log standard deviation per band, floored at
        :data:`LOG_SIGMA_MIN` (None for the per-value MSE)."""
        if self.sigma_raw is None:
            return None
        return (self.sigma_raw * self.sigma_mul).clamp(min=LOG_SIGMA_MIN)


# --------------------------------------------------------------------------------------------
# The objective
# --------------------------------------------------------------------------------------------
class VAEObjective(Objective):
    """The VAE's training step for :class:`hsilib.train.trainer.Trainer`: one optimiser (Adam
    over encoder and decoder), one update per step on the mean of :func:`vae_terms`'
    ``loss``. The EMA of the decoder is sampled; ``score`` is minus the per-image loss at the
    posterior mean (a deterministic, weighted ELBO: higher = better explained by the model).
    With the Gaussian likelihood the logs also carry ``sigma``, its mean over bands.
    A conditional VAE reads the batch's ``label`` (1 = MM, 0 = DN)."""

    family = "vae"
    ema_nets = ("decoder",)
    sampled_net = "decoder"
    optimizer_nets = {"vae": ("encoder", "decoder")}

    def __init__(self, cfg: config.VAEConfig) -> None:
        k = len(CLASSES) if cfg.conditional else 0
        enc = Encoder(cfg.image_size, cfg.n_bands, cfg.latent_dim, cfg.base_width, k)
        sigma = cfg.sigma_init if cfg.likelihood == "gaussian" else None
        dec = Decoder(cfg.image_size, cfg.n_bands, cfg.latent_dim, cfg.base_width, k, sigma,
                      cfg.learn_sigma, cfg.sigma_lr_mul)
        super().__init__(cfg, {"encoder": enc, "decoder": dec})

    def onehot(self, n: int, cls: str | None = None, label: torch.Tensor | None = None
               ) -> torch.Tensor | None:
        """The decoder's and encoder's class input: None for an unconditional VAE; else one-hot
        rows (order :data:`CLASSES`) from a class name or from binary labels (1 = MM)."""
        if not self.cfg.conditional:
            if cls is not None:
                raise TypeError("this VAE is unconditional (conditional=False); got cls="
                                f"{cls!r}")
            return None
        if label is None:
            if cls not in CLASSES:
                raise ValueError(f"a conditional VAE needs cls in {CLASSES}, got {cls!r}")
            label = torch.full((n,), LABELS[cls])
        idx = torch.where(label.long() == LABELS["MM"], CLASSES.index("MM"), CLASSES.index("DN"))
        return F.one_hot(idx, len(CLASSES)).float().to(self.device)

    def forward_terms(self, x: torch.Tensor, onehot: torch.Tensor | None = None,
                      sample: bool = True, ema: bool = False) -> dict[str, torch.Tensor]:
        """Encode ``x``, draw ``z`` (reparameterised; the posterior mean when not ``sample``),
        decode, and return :func:`vae_terms` plus ``x_hat``, ``mu`` and ``logvar``."""
        mu, logvar = self.nets["encoder"](x, onehot)
        z = reparameterise(mu, logvar) if sample else mu
        dec = self.net("decoder", ema)
        x_hat = dec(z, onehot)
        log_sigma = dec.band_log_sigma()
        terms = vae_terms(x.float(), x_hat.float(), mu.float(), logvar.float(),
                          self.cfg.kl_weight, self.cfg.spectral_loss_weight,
                          None if log_sigma is None else log_sigma.float())
        return terms | {"x_hat": x_hat, "mu": mu, "logvar": logvar}

    def train_step(self, step: Step) -> dict[str, float]:
        batch = step.batch(0)
        x = batch["image"]
        onehot = self.onehot(len(x), label=batch.get("label")) if self.cfg.conditional else None
        if self.cfg.conditional and "label" not in batch:
            raise ValueError("a conditional VAE trains on data with a 'label' entry")
        with step.autocast():
            t = self.forward_terms(x, onehot)
        loss = t["loss"].mean()
        step.update("vae", loss)
        logs = {k: float(t[k].detach().mean()) for k in ("rec", "kl", "spec") if k in t}
        log_sigma = self.nets["decoder"].band_log_sigma()
        if log_sigma is not None:  # the likelihood's scale, mean over bands
            logs["sigma"] = float(log_sigma.detach().exp().mean())
        return logs | {"loss": loss.item()}

    def reconstruct(self, images: torch.Tensor, *, cls: str | None = None,
                    batch_size: int | None = None, ema: bool = True
                    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Deterministic reconstructions (decoded posterior means) of ``images`` in [-1, 1], with
        the posterior means and log-variances; CPU float32."""
        dec = self.net("decoder", ema)

        def run(x: torch.Tensor, onehot: torch.Tensor | None):
            mu, logvar = self.nets["encoder"](x, onehot)
            return dec(mu, onehot), mu, logvar

        return self.map_batches(run, len(images), batch_size, x=images,
                                **self.condition(len(images), cls))

    def decode(self, z: torch.Tensor, *, cls: str | None = None, ema: bool = True
               ) -> torch.Tensor:
        """Images (CPU float32, [-1, 1]) of latent codes ``z`` (e.g. an interpolation path),
        in one batch."""
        dec = self.net("decoder", ema)
        return self.map_batches(lambda z, onehot: dec(z, onehot), len(z), len(z), z=z,
                                **self.condition(len(z), cls))

    # -- sampling and scoring -----------------------------------------------------------------
    def condition(self, n: int, cls: str | None = None, **condition: Any) -> dict[str, Any]:
        """``cls`` (MM or DN; a conditional VAE needs it) as the one-hot input of ``n``
        images."""
        if condition:
            raise TypeError(f"the VAE takes only cls as a condition; got {sorted(condition)}")
        return {"onehot": self.onehot(n, cls)}

    def sample_inputs(self, n: int, gen: torch.Generator, **condition: Any) -> dict[str, Any]:
        """``z ~ N(0, I)`` for all ``n`` images in one draw: the decoder is in eval mode, so the
        images depend on the weights, ``seed`` and ``cls`` only."""
        return self.condition(n, **condition) | {
            "z": torch.randn(n, self.cfg.latent_dim, generator=gen)}

    def sample_batch(self, G: nn.Module, n: int, gen: torch.Generator, *, z: torch.Tensor,
                     onehot: torch.Tensor | None) -> torch.Tensor:
        return G(z, onehot)

    def score_batch(self, images: torch.Tensor, onehot: torch.Tensor | None) -> torch.Tensor:
        """Minus the per-image loss at the posterior mean (higher = better explained)."""
        return -self.forward_terms(images, onehot, sample=False, ema=True)["loss"]


registry.register("vae", config.VAEConfig, VAEObjective)
