"""The classic GAN families on 16-band cubes (notebook 02): DCGAN, SN-GAN and AC-GAN.

One DCGAN generator (:class:`~hsilib.models.shsgan.DCGANGenerator`) and 2-D critic
(:class:`~hsilib.models.shsgan.Critic2D`), trained three ways (``ClassicGANConfig.variant``):

- ``"dcgan"`` (Radford et al., ICLR 2016): batch norm in the discriminator, the
  non-saturating loss ``L_D = -E[log s(D(x))] - E[log(1 - s(D(G(z))))]``,
  ``L_G = -E[log s(D(G(z)))]`` (``s`` the logistic sigmoid);
- ``"sngan"`` (Miyato et al., ICLR 2018): spectral normalisation of every discriminator weight
  (``W / sigma_max(W)``, one power iteration per step) and the hinge loss
  ``L_D = E[relu(1 - D(x))] + E[relu(1 + D(G(z)))]``, ``L_G = -E[D(G(z))]``;
- ``"acgan"`` (Odena et al., ICML 2017): ONE generator for both classes, ``G(z, c)``, and a
  discriminator with an auxiliary head that classifies the class; both players add the
  cross-entropy of that head, ``L_cls = CE(C(x), c)``, on real images (D) and on generated
  images with their requested class (D and G), weighted by ``aux_weight``, to the
  non-saturating loss (spectral norm in D for stability). ``sample(n, seed=..., cls="MM")``.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F

from .. import config
from ..labels import LABELS
from . import registry
from .objective import Objective, Step
from .shsgan import Critic2D, DCGANGenerator, init_dcgan

CLASSES = ("DN", "MM")  # AC-GAN class index order: the binary label (1 = MM)


class ClassicGANObjective(Objective):
    """DCGAN (non-saturating), SN-GAN (hinge) or AC-GAN (class-conditional, auxiliary head)."""

    family = "classic"
    ema_nets = ("G",)
    optimizer_nets = {"D": ("D",), "G": ("G",)}

    def __init__(self, cfg: config.ClassicGANConfig) -> None:
        k = 2 if cfg.variant == "acgan" else 0
        G = DCGANGenerator(cfg.image_size, cfg.n_bands, cfg.z_dim, cfg.ngf, n_classes=k)
        D = Critic2D(cfg.image_size, cfg.n_bands, cfg.ndf, sn=cfg.variant != "dcgan",
                     bn=cfg.variant == "dcgan", n_classes=k)
        init_dcgan(G)
        init_dcgan(D)
        super().__init__(cfg, {"G": G, "D": D})

    @property
    def conditional(self) -> bool:
        return self.cfg.variant == "acgan"

    def labels(self, n: int, cls: str | None = None, gen: torch.Generator | None = None
               ) -> torch.Tensor | None:
        """Class indices for the generator: all ``cls``, or random ones (AC-GAN only)."""
        if not self.conditional:
            if cls is not None:
                raise TypeError(f"variant {self.cfg.variant!r} is unconditional; got cls={cls!r}")
            return None
        if cls is None:
            return torch.randint(2, (n,), generator=gen).to(self.device)
        if cls not in CLASSES:
            raise ValueError(f"AC-GAN classes are {CLASSES}, got {cls!r}")
        return torch.full((n,), LABELS[cls], dtype=torch.long, device=self.device)

    def d_loss(self, real, fake, real_label=None, fake_label=None):
        D, v = self.nets["D"], self.cfg.variant
        logs: dict[str, float] = {}
        if self.conditional:
            out_r, cls_r = D(real, with_aux=True)
            out_f, cls_f = D(fake, with_aux=True)
            aux = F.cross_entropy(cls_r.float(), real_label.long()) + F.cross_entropy(
                cls_f.float(), fake_label.long())
            logs["aux_d"] = aux.item()
            logs["aux_acc_real"] = (cls_r.argmax(1) == real_label).float().mean().item()
        else:
            out_r, out_f, aux = D(real), D(fake), 0.0
        out_r, out_f = out_r.float(), out_f.float()
        if v == "sngan":
            adv = F.relu(1 - out_r).mean() + F.relu(1 + out_f).mean()
        else:
            adv = F.softplus(-out_r).mean() + F.softplus(out_f).mean()
        logs["loss_d_adv"] = adv.item()
        return adv + self.cfg.aux_weight * aux, logs

    def g_loss(self, fake, fake_label=None):
        D = self.nets["D"]
        if self.conditional:
            out, cls = D(fake, with_aux=True)
            aux = F.cross_entropy(cls.float(), fake_label.long())
        else:
            out, aux = D(fake), torch.zeros(())
        out = out.float()
        adv = -out.mean() if self.cfg.variant == "sngan" else F.softplus(-out).mean()
        return adv + self.cfg.aux_weight * aux, {"aux_g": aux.item()} if self.conditional else {}

    def train_step(self, step: Step) -> dict[str, float]:
        G, D = self.nets["G"], self.nets["D"]
        batch = step.batch(0)
        real = batch["image"]
        real_label = None
        if self.conditional:
            if "label" not in batch:
                raise ValueError("AC-GAN trains on data with a 'label' entry (1 = MM, 0 = DN)")
            real_label = batch["label"].long()
        fake_label = self.labels(len(real))
        z = torch.randn(len(real), self.cfg.z_dim, device=self.device)
        with step.autocast():
            fake = G(z, fake_label)
            loss_d, logs = self.d_loss(real, fake.detach(), real_label, fake_label)
        step.update("D", loss_d)
        D.requires_grad_(False)
        with step.autocast():
            loss_g, logs_g = self.g_loss(fake, fake_label)
        step.update("G", loss_g)
        D.requires_grad_(True)
        return logs | logs_g | {"loss_d": loss_d.item(), "loss_g": loss_g.item()}

    # -- sampling and scoring -----------------------------------------------------------------
    def condition(self, n: int, cls: str | None = None, **condition: Any) -> dict[str, Any]:
        """``cls`` (``"MM"`` or ``"DN"``, an AC-GAN's class) as the labels of ``n`` images."""
        if condition:
            raise TypeError(f"classic GANs take only cls as a condition; got {sorted(condition)}")
        return {"label": None if cls is None else self.labels(n, cls)}

    def sample_inputs(self, n: int, gen: torch.Generator, cls: str | None = None,
                      **condition: Any) -> dict[str, Any]:
        """Every latent in one draw (so the images do not depend on the batch size); an AC-GAN
        needs ``cls``."""
        if self.conditional and cls is None:
            raise ValueError("an AC-GAN samples one class: pass cls='MM' or cls='DN'")
        return self.condition(n, cls, **condition) | {
            "z": torch.randn(n, self.cfg.z_dim, generator=gen)}

    def sample_batch(self, G: torch.nn.Module, n: int, gen: torch.Generator, *,
                     z: torch.Tensor, label: torch.Tensor | None) -> torch.Tensor:
        return G(z, label)

    def score_batch(self, images: torch.Tensor, label: torch.Tensor | None = None
                    ) -> torch.Tensor:
        """The discriminator's realness logit (the class plays no part in it)."""
        return self.nets["D"](images)

    def classify(self, images: torch.Tensor, batch_size: int | None = None) -> torch.Tensor:
        """The AC-GAN discriminator's class probabilities ``N x 2`` (columns DN, MM)."""
        if not self.conditional:
            raise TypeError("only the AC-GAN has an auxiliary classifier")
        return self.map_batches(
            lambda x: torch.softmax(self.nets["D"](x, with_aux=True)[1].float(), 1),
            len(images), batch_size, x=images)


registry.register("classic", config.ClassicGANConfig, ClassicGANObjective)
