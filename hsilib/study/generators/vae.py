"""What notebook 05 measures of a VAE besides the metric protocol: reconstructions of the
validation crops, samples against the validation crops' features, the KL-weight sweep.

:class:`VAEReadout` holds the validation crops' Inception16 features (computed once) and
measures a VAE objective on the first replicate's validation crops of a class:
:meth:`~VAEReadout.reconstruction` (MSE in [-1, 1] and the lesion pixels' spectral angle on
reflectance), :meth:`~VAEReadout.samples` (Frechet distance of the features and the signed
change of total variation). :func:`kl_sweep` trains and measures the melanoma VAEs of the sweep;
:data:`LIKELIHOODS` names the two likelihoods set side by side (the study's per-value MSE and
the Gaussian likelihood with beta 1) and :func:`likelihood_table` reads them off together.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import Any

import numpy as np
import pandas as pd
import torch

from ...metrics import spectral as sp
from ...metrics.distribution import Inception16, extract_features, frechet_distance
from .study import Family, GeneratorRun, GeneratorStudy

#: the two likelihoods of notebook 05: run prefix -> (VAEConfig changes, description). The
#: study's arm keeps the section's kl_weight; the Gaussian arm is the ELBO itself (beta 1)
LIKELIHOODS: dict[str, tuple[dict[str, Any], str]] = {
    "vae": ({"likelihood": "mse"}, "per-value mean MSE + kl_weight x KL (the study)"),
    "vae_gauss": ({"likelihood": "gaussian", "kl_weight": 1.0},
                  "Gaussian NLL summed over values, learned sigma per band, + KL (beta 1)"),
}


class VAEReadout:
    """Reconstruction and sample scores of VAEs against the validation crops of
    ``study``'s first replicate (which the study loads in [-1, 1]: a VAE reconstructs them)."""

    def __init__(self, study: GeneratorStudy, n_bands: int = 16) -> None:
        self.study, self.data = study, study.data()
        m = study.metrics
        self.extractor = (study.feature_extractor() if n_bands == 16 else  # the protocol's
                          Inception16(n_bands, weights=m.inception_weights,
                                      feature_size=m.feature_size, seed=study.seed))
        self.fd_name = self.extractor.score_name
        self.val_features = {c: extract_features(self.data.unit(c, "val"), self.extractor,
                                                 batch_size=m.batch_size, device=study.device)
                             for c in study.classes}

    def tv_change(self, unit: torch.Tensor, cls: str) -> float:
        """Signed relative change of the mean total variation of images ``unit`` in [0, 1]
        against the validation crops of ``cls``: below 0, smoother than real."""
        real = sp.total_variation(self.data.unit(cls, "val"), per_pixel=True).item()
        return sp.total_variation(unit, per_pixel=True).item() / real - 1

    def reconstruction(self, objective: Any, cls: str) -> dict[str, float]:
        """Reconstruction MSE (in [-1, 1]) and the lesion pixels' SAM (degrees, on
        reflectance) of the validation crops of ``cls``; a class-conditional VAE is told the
        class."""
        val = self.data.images(cls, "val", "symmetric")
        cond = cls if objective.cfg.conditional else None
        x_hat = objective.reconstruct(val, batch_size=objective.cfg.batch_size, cls=cond)[0]
        refl = self.study.to_reflectance
        sam = sp.sam(refl(x_hat), refl(val), mask=self.data.masks(cls, "val"), degrees=True)
        return {"recon_MSE": (x_hat - val).pow(2).mean().item(), "recon_SAM_deg": sam.item()}

    def samples(self, images: torch.Tensor, cls: str) -> dict[str, float]:
        """Frechet distance of the features of ``images`` (in [-1, 1]) to the validation crops
        of ``cls``, and their change of total variation."""
        unit = (images + 1) / 2
        feats = extract_features(unit, self.extractor, batch_size=self.study.metrics.batch_size,
                                 device=self.study.device)
        return {f"sample_{self.fd_name}": frechet_distance(self.val_features[cls], feats).value,
                "sample_TV_change": self.tv_change(unit, cls)}

    def reconstruction_table(self, recon: dict[str, torch.Tensor]
                             ) -> tuple[pd.DataFrame, dict[str, np.ndarray]]:
        """Per class, the reconstructions ``recon`` (in [-1, 1]) of the validation crops
        against them on reflectance: RMSE, SAM over all and lesion pixels, SAM between mean
        spectra, change of total variation; and the RMSE per band."""
        rows, per_band = [], {}
        for c, x_hat in recon.items():
            val = self.data.images(c, "val", "symmetric")
            r_hat, r_true = self.study.to_reflectance(x_hat), self.study.to_reflectance(val)
            per_band[c] = (r_hat - r_true).pow(2).mean(dim=(0, 2, 3)).sqrt().numpy()
            rows.append({"class": c, "n_validation": len(val),
                         "RMSE_reflectance": (r_hat - r_true).pow(2).mean().sqrt().item(),
                         "SAM_deg_all_pixels": sp.sam(r_hat, r_true, degrees=True).item(),
                         "SAM_deg_lesion": sp.sam(r_hat, r_true, mask=self.data.masks(c, "val"),
                                                  degrees=True).item(),
                         "SAM_mean_spectra_deg": sp.sam_mean_spectra(r_hat, r_true,
                                                                     degrees=True).item(),
                         "TV_change": self.tv_change(self.study.unit(r_hat), c)})
        return pd.DataFrame(rows), per_band


def kl_sweep(study: GeneratorStudy, cfg: Any, weights: Sequence[float], *, steps: int,
             n_synthetic: int, readout: VAEReadout) -> tuple[dict[float, GeneratorRun],
                                                             pd.DataFrame]:
    """One melanoma VAE per KL weight (``vae_mm_kl<w>_sweep``; the first replicate's crops and
    seed, otherwise identical), each measured on the validation crops: reconstruction, KL per
    image at the posterior mean, ``n_synthetic`` samples (notebook 05, section 4)."""
    runs, rows = {}, []
    for w in weights:
        name = f"vae_mm_kl{w:g}_sweep"
        run = runs[w] = study.train(replace(cfg, kl_weight=w), name, cls="MM", steps=steps)
        obj = run.objective.train(False)
        kl = kl_per_image(obj, readout.data.images("MM", "val", "symmetric"))
        rows.append({"kl_weight": w, **readout.reconstruction(obj, "MM"), "KL_per_image": kl,
                     **readout.samples(obj.sample(n_synthetic, seed=study.seed), "MM"),
                     "train_s": round(run.wall_s, 1)})
    return runs, pd.DataFrame(rows)


def both_classes(study: GeneratorStudy) -> tuple[dict[str, torch.Tensor], list[str]]:
    """Training crops of melanoma then nevus with float labels 1 / 0, and their ids: the data
    of a class-conditional VAE (notebook 05, section 9)."""
    both = study.data().stacked("train")
    return {"image": both.images, "label": both.labels.float()}, list(both.ids)


def fastgan_checkpoint(study: GeneratorStudy, cls: str, seed: int):
    """Notebook 03's FastGAN of class ``cls`` and generator seed ``seed``, or of its first
    fold when notebook 03 ran cross-validation (notebook 05, section 10)."""
    folder = study.run.checkpoints
    by_seed, by_fold = (folder / f"fastgan_{cls.lower()}_g{seed}.pt",
                        folder / f"fastgan_{cls.lower()}_f0.pt")
    if by_fold.is_file() and not by_seed.is_file():
        return by_fold
    return study.run.require(by_seed, "03_fastgan")


def kl_per_image(objective: Any, images: torch.Tensor) -> float:
    """Mean KL (nats) of ``q(z | x)`` from the prior over ``images`` (in [-1, 1]), at the
    posterior means: how much the codes carry."""
    obj = objective.train(False)
    return obj.forward_terms(images.to(obj.device), sample=False)["kl"].mean().item()


def likelihood_table(families: dict[str, Family], tables: dict[str, dict], readout: VAEReadout,
                     fd: str) -> pd.DataFrame:
    """One row per likelihood (``families``: prefix of :data:`LIKELIHOODS` -> its trained
    :class:`Family`; ``tables``: prefix -> its metric tables by ``(class, replicate)``), class
    and replicate: KL per validation image, the reconstruction of the validation crops (MSE in
    [-1, 1], lesion SAM on reflectance), the learned sigma (mean over bands, [-1, 1] units),
    and the protocol's ``fd`` and detectability with their intervals and floors."""
    rows = []
    for prefix, family in families.items():
        for (c, r), run in family.items():
            obj = run.objective
            dec = obj.net("decoder", True)
            log_sigma = dec.band_log_sigma()
            t = tables[prefix][c, r].set_index("metric")
            row = {"likelihood": prefix, "class": c, "replicate": family.study.tag(r),
                   "KL_per_image": kl_per_image(obj, readout.data.images(c, "val",
                                                                         "symmetric")),
                   **readout.reconstruction(obj, c),
                   "sigma": (float(log_sigma.exp().mean()) if log_sigma is not None
                             else float("nan"))}
            for m in (fd, "detectability_AUROC"):
                if m in t.index:
                    row |= {m: t.value[m], f"{m}_lo": t.ci_low[m], f"{m}_hi": t.ci_high[m],
                            f"{m}_floor": t.floor[m]}
            rows.append(row)
    return pd.DataFrame(rows)
