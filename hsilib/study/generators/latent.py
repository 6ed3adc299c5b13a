"""Reading a StyleGAN2 generator's latent space: SeFa traversals measured, validation crops
inverted (notebook 03, part II, sections 17 and 18).

:func:`traversals` moves a fixed set of latents along each SeFa direction and measures every
step in the physician's terms (lesion area, brightness, chromophores); :func:`slopes` sums a
traversal up as the change per SD; :func:`invert` projects real crops into W and W+ and scores
the reconstructions on reflectance; :func:`area_table` measures edited images.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import pandas as pd
import torch

from ... import WAVELENGTHS_NM
from ...metrics.distribution import lesion_masks
from ...metrics.physics import invert_spectra, sample_spectra
from ...models import stylegan2_edit as sg2_edit

#: what a traversal step is measured by
MEASURES = ("lesion area (%)", "mean reflectance", "melanin (median)", "blood (median)")


def _measure(x: torch.Tensor, seed: int) -> dict[str, float]:
    """Lesion share (Otsu masks), mean reflectance and the median chromophores of the lesion
    pixels of reflectance images ``x`` (N x B x S x S)."""
    lesion = lesion_masks(x)
    spectra = sample_spectra(x, masks=lesion.numpy(), region="lesion", n_pixels=300, seed=seed)
    fit = invert_spectra(spectra) if len(spectra) else None
    return {"lesion area (%)": 100 * lesion.float().mean().item(),
            "mean reflectance": x.mean().item(),
            "melanin (median)": np.nan if fit is None else fit.f_mel_epi.median(),
            "blood (median)": np.nan if fit is None else fit.blood.median()}


def traversals(G: Any, directions: torch.Tensor, sd: torch.Tensor, alphas: np.ndarray, *,
               to_reflectance: Callable[[torch.Tensor], torch.Tensor], n: int, seed: int,
               device: Any = "cpu") -> tuple[pd.DataFrame, dict[int, torch.Tensor]]:
    """``n`` latents (drawn with ``seed``) moved along every direction by ``alpha * sd`` for
    each alpha, every step measured (:data:`MEASURES`). Returns the table (one row per
    direction and alpha) and, per direction, the first latent's images (A x B x S x S,
    reflectance) for a figure."""
    with torch.no_grad():
        gen = torch.Generator().manual_seed(seed)
        z = torch.randn(n, G.z_dim, generator=gen)
        w = G.mapping(z.to(device)).cpu()
    rows, strips = [], {}
    for k in range(len(directions)):
        images = sg2_edit.traverse(G, w, directions[k], alphas * float(sd[k]))  # A x N x B x S x S
        refl = to_reflectance(images.clamp(-1, 1).flatten(0, 1)).view(images.shape)
        strips[k] = refl[:, 0]
        rows += [{"direction": k + 1, "alpha (sd)": a, **_measure(x, seed)}
                 for a, x in zip(alphas, refl, strict=True)]
    return pd.DataFrame(rows), strips


def slopes(traversal: pd.DataFrame, measures: Sequence[str] = MEASURES) -> pd.DataFrame:
    """Least-squares change per SD of every measure along each direction (NaN with fewer
    than two finite values)."""
    return traversal.groupby("direction").apply(
        lambda t: pd.Series({m: np.polyfit(t["alpha (sd)"], t[m], 1)[0]
                             if t[m].notna().sum() > 1 else np.nan for m in measures}),
        include_groups=False)


def invert(G: Any, targets: torch.Tensor, *, steps: int, seed: int,
           to_reflectance: Callable[[torch.Tensor], torch.Tensor], device: Any = "cpu"
           ) -> tuple[dict[str, dict], pd.DataFrame, pd.DataFrame]:
    """Project ``targets`` (N x B x S x S in [-1, 1]) into W and W+
    (:func:`hsilib.models.stylegan2.project`) and score the reconstructions on reflectance.

    Returns the projections per space (``ws``, ``images``, ``loss``, ``sam_deg`` per crop),
    the per-band RMSE table and the summary table (mean SAM, its SD over crops, mean band
    RMSE, final MSE)."""
    inv, rows = {}, []
    for space in ("w", "w+"):
        inv[space] = sg2_edit.project(G, targets.to(device), steps=steps, space=space, seed=seed)
        err = sg2_edit.reconstruction_errors(to_reflectance(inv[space]["images"].clamp(-1, 1)),
                                        to_reflectance(targets))
        rows += [{"space": space, "band": i + 1, "wavelength (nm)": wl, "RMSE": v}
                 for i, (wl, v) in enumerate(zip(WAVELENGTHS_NM, err["rmse_band"], strict=True))]
        inv[space]["sam_deg"] = np.degrees(err["sam_image"])
    bands = pd.DataFrame(rows)
    summary = pd.DataFrame({s: {"mean SAM (deg)": inv[s]["sam_deg"].mean(),
                                "SD over crops (deg)": inv[s]["sam_deg"].std(ddof=1)
                                if len(inv[s]["sam_deg"]) > 1 else np.nan,
                                "mean band RMSE (reflectance)":
                                    bands[bands.space == s].RMSE.mean(),
                                "final MSE ([-1, 1])": inv[s]["loss"][-1]} for s in inv}).T
    return inv, bands, summary


def area_table(images: torch.Tensor, alphas: Sequence[float]) -> pd.DataFrame:
    """Lesion share and mean reflectance of each set of edited images (A x N x B x S x S,
    reflectance), one row per alpha."""
    return pd.DataFrame([{"alpha (sd)": a,
                          "lesion area (%)": 100 * lesion_masks(e).float().mean().item(),
                          "mean reflectance": e.mean().item()}
                         for a, e in zip(alphas, images, strict=True)])
