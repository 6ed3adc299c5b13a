"""What notebook 04 measures of its conditional generators besides the metric protocol.

Shape fidelity of mask-conditioned samples (:func:`shape_fidelity`: the Dice coefficient
between a held-out conditioning mask and the lesion segmented in the generated cube, the
segmentation of the real crop as floor), the RGB-to-16-band reconstructions against the true
cubes from their CIE renderings and camera photographs (:func:`rgb_to_hs`), CycleGAN's RGB
against the CIE rendering (:func:`hs_to_rgb`), one
class-conditional generator against one per class (:func:`shared_vs_per_class`) and the
exports (:func:`export_sets`). Each result that is a generator score also goes into
``generator_metrics.csv``.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from ...data.preprocess import dice, segment_lesions
from ...labels import LABELS
from ...metrics.intervals import mean_interval
from ...metrics.reconstruction import reconstruction_summary
from ...models import registry
from ...quiet import expected_warnings
from .camera import CIE
from .study import GeneratorRun, GeneratorStudy

FLOOR = "real validation crop (floor)"
ZERO = "cfastgan_mask, all-zero mask: lesion share"
MASK_MODELS = ("cfastgan_mask", "spade_mask")
LINEAR = "linear RGB -> 16 bands (training pairs)"


def render_rgb(render: Any, reflectance: torch.Tensor, batch: int = 64) -> torch.Tensor:
    """The sRGB rendering (``render``: :class:`~hsilib.models.projection.HSToRGB`) of
    reflectance images, negative values clipped, ``batch`` images at a time."""
    with torch.no_grad():
        return torch.cat([render(reflectance[i:i + batch].clamp(min=0))
                          for i in range(0, len(reflectance), batch)])


def segment_union(cube: torch.Tensor, min_area: int) -> np.ndarray:
    """Union of the lesions :func:`~hsilib.data.preprocess.segment_lesions` finds in one
    reflectance crop (B x S x S), the whole crop counted as the dermoscope's field."""
    side = cube.shape[-1]
    with expected_warnings("segmentation_notes"):  # an empty crop warns; it has no lesion
        found = segment_lesions(cube.permute(1, 2, 0).numpy(), min_area=min_area,
                                field=np.ones((side, side), bool))
    return np.any(found, axis=0) if found else np.zeros((side, side), bool)


def cycled(x: torch.Tensor, n: int) -> torch.Tensor:
    """``n`` items of ``x`` taken in turn (``x[0], x[1], ..., x[0], ...``)."""
    return x[torch.arange(n) % len(x)]


def score_table(metrics: Mapping[str, tuple[float, float, float]], n_synthetic: int,
                n_real: int | None = None, floor: float = 0.0) -> pd.DataFrame:
    """A generator-results table of hand-made scores: ``metric -> (value, ci_low,
    ci_high)``, one floor for all."""
    return pd.DataFrame({"metric": list(metrics), "value": [v[0] for v in metrics.values()],
                         "floor": [floor] * len(metrics),
                         "ci_low": [v[1] for v in metrics.values()],
                         "ci_high": [v[2] for v in metrics.values()],
                         "n_synthetic": [n_synthetic] * len(metrics),
                         "n_real": [n_synthetic if n_real is None else n_real] * len(metrics)})


def _dice_row(model: str, cls: str, values, seed: int) -> dict:
    lo, hi = mean_interval(values, seed=seed)
    return {"model": model, "class": cls, "dice": np.mean(values), "ci_low": lo, "ci_high": hi,
            "n": len(values)}


def shape_fidelity(study: GeneratorStudy, runs: Mapping[str, GeneratorRun], *,
                   min_area: int) -> tuple[pd.DataFrame, dict]:
    """Dice between each validation lesion's mask and the lesion segmented in the crop a mask
    model (:data:`MASK_MODELS`, in ``runs``) draws for that mask and class, with 95% bootstrap
    intervals over lesions; the floor segments the real crop; the first model with an all-zero
    mask gives the lesion share it draws anyway. Each Dice goes into the generator-results
    table (variant ``<model>_valmasks``). Returns the table and the generated reflectance by
    class and model."""
    d, seed, side = study.data(), study.seed, study.image_size
    rows, held_out = [], {}
    for c in study.classes:
        masks = d.masks(c, "val")
        real = study.to_reflectance(d.images(c, "val"), value_range="unit")
        rows.append(_dice_row(FLOOR, c, [dice(segment_union(real[i], min_area), masks[i] > 0.5)
                                         for i in range(len(masks))], seed))
        for v in MASK_MODELS:
            x = study.to_reflectance(runs[v].objective.sample(len(masks), seed=seed, mask=masks,
                                                              label=LABELS[c]))
            held_out.setdefault(c, {})[v] = x
            rows.append(_dice_row(v, c, [dice(segment_union(x[i], min_area), masks[i] > 0.5)
                                         for i in range(len(x))], seed))
        zero = study.to_reflectance(runs[MASK_MODELS[0]].objective.sample(
            8, seed=seed, mask=torch.zeros(side, side), label=LABELS[c]))
        rows.append({"model": ZERO, "class": c,
                     "dice": float(np.mean([segment_union(z, min_area).mean() for z in zero])),
                     "ci_low": np.nan, "ci_high": np.nan, "n": len(zero)})
    table = pd.DataFrame(rows)
    for c in study.classes:
        floor = table[(table.model == FLOOR) & (table["class"] == c)].iloc[0]
        for v in MASK_MODELS:
            r = table[(table.model == v) & (table["class"] == c)].iloc[0]
            study.record(score_table({"mask_Dice": (r.dice, r.ci_low, r.ci_high)}, r.n,
                                     floor.n, floor.dice), runs[v], variant=f"{v}_valmasks",
                         cls=c)
    return table, held_out


def mask_metrics(study: GeneratorStudy, runs: Mapping[str, GeneratorRun], n: int,
                 cls: str = "MM") -> dict[str, pd.DataFrame]:
    """The metric protocol of ``n`` samples of each mask model conditioned on the validation
    masks of ``cls`` (cycled; the protocol finds the lesions of every set by its one rule, not
    from the conditions), recorded as ``<model>_valmasks``."""
    tables = {}
    for v in MASK_MODELS:
        m = cycled(study.data().masks(cls, "val"), n)
        x = study.to_reflectance(runs[v].objective.sample(n, seed=study.seed + 1, mask=m,
                                                          label=LABELS[cls]))
        tables[v] = study.evaluate(cls, study.unit(x))
        study.record(tables[v], runs[v], variant=f"{v}_valmasks", cls=cls)
    return tables


def rgb_to_hs(study: GeneratorStudy, preds: Mapping[tuple[str, str], torch.Tensor],
              truth: torch.Tensor, runs: Mapping[str, GeneratorRun], *, n_pixels: int,
              earlier: Path | None = None) -> pd.DataFrame:
    """One row per model and RGB input (``preds``: reflectance cubes reconstructed from an RGB
    image of each cube of ``truth``, keyed ``(model, input)``, the input :data:`CIE` or
    :data:`CAMERA`): band RMSE, SAM and chromophore errors with 95% bootstrap intervals; the
    rows of notebook 02's table ``earlier`` are appended when it exists (an ``input`` column
    missing from an older table reads as :data:`CIE`). The SPADE and CycleGAN rows
    (``runs["spade_rgb"]``, ``runs["cyclegan"]``) go into the generator-results table, as
    variants ``spade_rgb`` / ``rgb_to_hs`` on the CIE input and ``..._camera`` on the camera
    photographs."""
    recon = pd.DataFrame([{"model": k, "input": source, **reconstruction_summary(
        p, truth, n_pixels=n_pixels, seed=study.seed, n_boot=study.metrics.n_boot)}
        for (k, source), p in preds.items()])
    if earlier is not None and earlier.is_file():
        shs = pd.read_csv(earlier)
        shs["model"] = "notebook 02: " + shs["model"].astype(str)
        if "input" not in shs.columns:
            shs["input"] = CIE
        recon = pd.concat([recon, shs[[c for c in shs.columns if c in recon.columns]]],
                          ignore_index=True)
    for k, run, variant in (("SPADE-FastGAN (RGB map)", runs["spade_rgb"], "spade_rgb"),
                            ("CycleGAN G_hs", runs["cyclegan"], "rgb_to_hs")):
        for source in dict.fromkeys(src for _, src in preds):
            r = recon[(recon.model == k) & (recon.input == source)].iloc[0]
            study.record(score_table({"recon_RMSE": (r.rmse, r.rmse_lo, r.rmse_hi),
                                      "recon_SAM_deg": (r.sam_deg, r.sam_deg_lo, r.sam_deg_hi)},
                                     len(truth)), run, cls="both",
                         variant=variant if source == CIE else f"{variant}_camera")
    return recon


def hs_to_rgb(study: GeneratorStudy, fake_rgb: torch.Tensor, rendered: torch.Tensor,
              field: torch.Tensor, run: GeneratorRun) -> pd.DataFrame:
    """CycleGAN's RGB images of validation cubes (``fake_rgb``) against the CIE renderings of
    the same cubes (``rendered``), over the in-field pixels ``field`` (N x S x S): sRGB RMSE per
    image with a bootstrap interval, and the mean and median CIEDE2000; recorded as
    ``hs_to_rgb``."""
    import colour  # colour-science: CIE conversions and CIEDE2000

    def lab(x):
        return colour.XYZ_to_Lab(colour.sRGB_to_XYZ(x.permute(0, 2, 3, 1)[field].numpy()))

    per_image = [((fake_rgb[i] - rendered[i]) ** 2)[:, field[i]].mean().sqrt().item()
                 for i in range(len(rendered))]
    de = colour.delta_E(lab(fake_rgb), lab(rendered), method="CIE 2000")
    lo, hi = mean_interval(per_image, seed=study.seed)
    table = pd.DataFrame([{"model": "CycleGAN G_rgb vs CIE rendering",
                           "rgb_rmse": np.mean(per_image), "rgb_rmse_lo": lo, "rgb_rmse_hi": hi,
                           "mean_CIEDE2000": float(de.mean()),
                           "median_CIEDE2000": float(np.median(de)), "n_images": len(rendered)}])
    study.record(score_table({"hs_to_rgb_RMSE": (np.mean(per_image), lo, hi),
                              "hs_to_rgb_CIEDE2000": (float(de.mean()), np.nan, np.nan)},
                             len(rendered)), run, variant="hs_to_rgb", cls="both")
    return table


def shared_vs_per_class(study: GeneratorStudy, shared: GeneratorRun,
                        per_class: Mapping[str, GeneratorRun], n: int
                        ) -> dict[tuple[str, str], pd.DataFrame]:
    """The metric protocol of ``n`` samples per class from the class-conditional generator
    ``shared`` and from each class's own FastGAN, recorded as ``04_shared`` /
    ``04_per_class``."""
    tables = {}
    for c in study.classes:
        drawn = {"shared": (shared, shared.objective.sample(n, seed=study.seed, label=LABELS[c])),
                 "per_class": (per_class[c], per_class[c].objective.sample(n, seed=study.seed))}
        for variant, (run, x) in drawn.items():
            tables[c, variant] = study.evaluate(c, (x + 1) / 2)
            study.record(tables[c, variant], run, variant=f"04_{variant}", cls=c)
    return tables


def export_sets(study: GeneratorStudy, classcond: GeneratorRun, mask_model: GeneratorRun, n: int,
                *, batch_size: int) -> dict[str, pd.DataFrame]:
    """Per class, ``n`` crops from the class-conditional generator (``classcond_<cls>_<tag>``)
    and from the mask-conditioned FastGAN on the class's TRAINING masks, cycled
    (``cfastgan_<cls>_<tag>``, read back from its checkpoint)."""
    tag, exports = study.tag(study.first), {}
    for c in study.classes:
        name = f"classcond_{c.lower()}_{tag}"
        exports[name] = study.export(classcond, name, cls=c, n=n, generator=f"classcond_{tag}",
                                     batch_size=batch_size, condition={"label": LABELS[c]})
        name = f"cfastgan_{c.lower()}_{tag}"
        obj, _ = registry.load(mask_model.checkpoint, study.device)
        images = obj.sample(n, seed=study.seed, mask=cycled(study.data().masks(c, "train"), n),
                            label=LABELS[c])
        exports[name] = study.write(images, mask_model, name, cls=c, generator=f"cfastgan_{tag}")
    return exports
