"""The study logic of notebook 09: what the classifier looks at, 16 bands vs RGB, and whether
synthetic lesions keep the cues.

1. **Input variants** (:class:`InputVariant`): the same crops as 16 normalised bands (notebook
   06's input), as their CIE 1931 / D65 sRGB rendering (:func:`hsilib.standin.rendering.
   cube_to_rgb`, 3 channels), as the band-mean grey image (1 channel) and as a few bands chosen
   on VALIDATION attributions (:func:`select_bands`). A variant is handed to notebook 06's
   :func:`hsilib.train.classifier.run_experiment` in place of the normaliser (it normalises,
   then maps the bands), so every variant trains, selects and predicts exactly as notebook 06's
   classifiers do; :func:`plan_variants` and :class:`VariantRunner` make the grid of
   :func:`hsilib.study.grid.run_grid`, and :mod:`hsilib.study.stats` scores it.
2. **Attributions** of the 16-band classifiers: :func:`explain_crops` (every method and seed,
   relevance spectra per crop), :func:`spectrum_summary` (means with cluster-bootstrap
   intervals over source images), :func:`randomisation_check`.
3. **Conclusions** written from the numbers: :func:`variant_conclusions`.

Whether the relevance agrees with the stand-in's chromophores and whether synthetic crops keep
the cues is :mod:`hsilib.study.cues`.

Melanoma is the positive class in every number.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from torch import nn

from .. import WAVELENGTHS_NM
from ..data.datasets import BandNormaliser, Crops
from ..metrics import attribution as at
from ..metrics.intervals import CANNOT_TELL, EQUIVALENT, NO_CHANGE
from ..standin.rendering import cube_to_rgb
from ..train import classifier as tc
from .conclusions import _difference, _level
from .plan import Experiment

#: The input variants, the first being the one the others are compared with; the reduced
#: variant, ``n`` bands chosen on validation, is called ``bands<n>`` (:data:`SELECTED`).
VARIANTS = ("bands16", "rgb", "grey", "selected")
BASE = VARIANTS[0]
SELECTED = "selected"
LABELS = {"bands16": "16 bands (465-630 nm)", "rgb": "CIE 1931 / D65 sRGB rendering",
          "grey": "band-mean grey image", "selected": "bands chosen on validation attributions"}
#: Prefix of notebook 09's classifier checkpoints and grid cells.
PREFIX = "09_"
CLASS_NAMES = {1: "MM", 0: "DN"}


# --------------------------------------------------------------------------------------------
# 1. Input variants, the plan and the runner of the grid
# --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class InputVariant:
    """A crop cube (H x W x B reflectance) -> the channels one variant feeds the classifier.

    ``kind``: ``"bands"`` (the training normaliser's output, all bands or ``bands``),
    ``"grey"`` (the mean over the normalised bands, 1 channel) or ``"rgb"`` (the sRGB rendering
    of the reflectance, 3 channels in [0, 1], what a camera or screen shows). It offers the
    normaliser's ``apply`` and ``wavelengths_nm`` (the bands its channels are made from), so
    :func:`hsilib.data.datasets.load_crops` reads crops through it.
    """

    kind: str
    normaliser: BandNormaliser
    bands: tuple[int, ...] | None = None

    def __post_init__(self) -> None:
        if self.kind not in ("bands", "rgb", "grey"):
            raise ValueError(f"InputVariant: kind must be 'bands', 'rgb' or 'grey', got "
                             f"{self.kind!r}")
        n = len(self.normaliser.wavelengths_nm)
        if self.bands is not None and (not self.bands or not all(0 <= b < n for b in self.bands)):
            raise ValueError(f"InputVariant: bands must be indices in [0, {n}), got {self.bands}")

    @property
    def wavelengths_nm(self) -> np.ndarray:
        wl = np.asarray(self.normaliser.wavelengths_nm, np.float32)
        return wl[list(self.bands)] if self.bands is not None else wl

    @property
    def n_input_bands(self) -> int:
        """Bands of the crop files this variant reads (every band of the normaliser)."""
        return len(self.normaliser.wavelengths_nm)

    @property
    def n_channels(self) -> int:
        return {"rgb": 3, "grey": 1}.get(self.kind, len(self.wavelengths_nm))

    def apply(self, cube: np.ndarray, value_range: str = "unit") -> np.ndarray:
        """H x W x B reflectance -> H x W x :attr:`n_channels` float32 classifier input."""
        if self.kind == "rgb":
            if value_range not in ("unit", "symmetric"):
                raise ValueError(f"value_range must be 'unit' or 'symmetric', got "
                                 f"{value_range!r}")
            rgb = cube_to_rgb(np.asarray(cube, np.float32), self.normaliser.wavelengths_nm)
            return (rgb if value_range == "unit" else 2 * rgb - 1).astype(np.float32)
        x = self.normaliser.apply(np.asarray(cube, np.float32), value_range)
        if self.kind == "grey":
            return x.mean(-1, keepdims=True).astype(np.float32)
        return x[..., list(self.bands)] if self.bands is not None else x


def make_variant(name: str, normaliser: BandNormaliser,
                 bands: Sequence[int] | None = None) -> InputVariant:
    """The :class:`InputVariant` of a variant of :data:`VARIANTS` (``selected`` needs
    ``bands``)."""
    if name not in VARIANTS:
        raise ValueError(f"unknown input variant {name!r}; choose one of {VARIANTS}")
    if name == SELECTED and not bands:
        raise ValueError("the selected-bands variant needs its bands (select_bands)")
    kind = {"rgb": "rgb", "grey": "grey"}.get(name, "bands")
    return InputVariant(kind, normaliser, tuple(int(b) for b in bands) if name == SELECTED
                        else None)


def plan_variants(bands: Sequence[int] | None = None,
                  wavelengths_nm: Sequence[float] | None = None) -> list[Experiment]:
    """The experiments of the 16-bands-vs-RGB comparison: 16 bands, sRGB and grey, plus the
    reduced variant ``bands<n>`` when its ``bands`` are known (chosen on validation after the
    16-band classifiers are trained; ``wavelengths_nm`` only labels them)."""
    plan = [Experiment(v, ("variants",), LABELS[v], dict(variant=v)) for v in VARIANTS[:3]]
    if bands is not None and len(bands):
        nm = (", ".join(f"{wavelengths_nm[b]:.0f}" for b in bands) + " nm"
              if wavelengths_nm is not None else f"bands {list(bands)}")
        plan.append(Experiment(f"bands{len(bands)}", ("variants",),
                               f"{len(bands)} bands ({nm}) chosen on validation attributions",
                               dict(variant=SELECTED, bands=[int(b) for b in bands])))
    return plan


def classifier_config(cfg: Any, study: Any) -> Any:
    """The classifier config of the variants: ``cfg`` with ``study.epochs`` when set."""
    return cfg if study.epochs is None else replace(cfg, epochs=study.epochs)


@dataclass
class VariantRunner:
    """``run_cell`` of :func:`hsilib.study.grid.run_grid` for :func:`plan_variants`: one
    variant, one classifier seed, with notebook 06's :func:`~hsilib.train.classifier.
    run_experiment` (checkpoints ``<checkpoint_dir>/09_<variant>_seed<k>.pt``)."""

    cfg: Any
    crops_dir: Path
    splits_csv: Path
    normaliser: BandNormaliser
    checkpoint_dir: Path | None = None
    device: Any = "auto"
    _caches: dict = field(default_factory=dict, repr=False)

    def __call__(self, experiment: Experiment, seed: int, replicate: int | None) -> pd.DataFrame:
        args = experiment.arguments(replicate)
        view = make_variant(args.pop("variant"), self.normaliser, args.pop("bands", None))
        return tc.run_experiment(experiment.name, self.cfg, self.crops_dir, self.splits_csv,
                                 view, seeds=[seed], device=self.device,
                                 checkpoint_dir=self.checkpoint_dir, checkpoint_prefix=PREFIX,
                                 cache=self._caches.setdefault(experiment.name, {}), **args)


def load_classifier(path: str | Path, device: Any = "cpu") -> nn.Module:
    """A classifier saved by :func:`~hsilib.train.classifier.run_experiment`, rebuilt from its
    saved config (architecture; input channels from its first convolution), read with
    ``weights_only=True`` and checked against the model before loading; eval mode."""
    from ..models.checkpoint import CheckpointError, check_state_dict, safe_load
    from ..models.classifiers import build_classifier

    state = safe_load(path, "cpu", "classifier checkpoint")
    if not isinstance(state, dict) or "state_dict" not in state or "config" not in state:
        raise CheckpointError(f"{path}: not a classifier checkpoint of run_experiment")
    sd = state["state_dict"]
    first = next((v for v in sd.values() if getattr(v, "ndim", 0) == 4), None)
    if first is None:
        raise CheckpointError(f"{path}: holds no convolution weights")
    model = build_classifier(state["config"]["arch"], int(first.shape[1]), 2)
    check_state_dict(model, sd, path)
    model.load_state_dict(sd)
    return model.to(device).eval()


def load_models(checkpoint_dir: str | Path, seeds: Sequence[int], variant: str = BASE,
                device: Any = "cpu") -> dict[int, nn.Module]:
    """``{seed: classifier}`` of one variant, from notebook 09's checkpoints."""
    return {s: load_classifier(Path(checkpoint_dir) / f"{PREFIX}{variant}_seed{s}.pt", device)
            for s in seeds}


# --------------------------------------------------------------------------------------------
# 2. Attributions of crops: spectra per crop, their means, the randomisation check
# --------------------------------------------------------------------------------------------
def baseline_spectrum(images: torch.Tensor, kind: str = "mean") -> np.ndarray | None:
    """IG's and ablation's baseline: the mean spectrum of ``images`` (the training crops, as the
    classifier sees them) for ``"mean"``, None (zeros) for ``"zero"``."""
    if kind == "zero":
        return None
    if kind != "mean":
        raise ValueError(f"baseline must be 'mean' or 'zero', got {kind!r}")
    return images.double().mean((0, 2, 3)).float().numpy()


def pick_crops(crops: Crops, n_per_class: int | None, seed: int = 0) -> Crops:
    """At most ``n_per_class`` crops of each class (a seeded draw, in the original order)."""
    if n_per_class is None:
        return crops
    rng, y = np.random.default_rng(seed), crops.labels.numpy()
    keep = [rng.choice(np.flatnonzero(y == c), min(n_per_class, int((y == c).sum())),
                       replace=False) for c in np.unique(y)]
    return crops.subset(np.sort(np.concatenate(keep)))


def explain_crops(models: Mapping[int, nn.Module], crops: Crops, methods: Sequence[str], *,
                  baseline=None, n_steps: int = 32,
                  wavelengths_nm: Sequence[float] = WAVELENGTHS_NM,
                  device: Any = "cpu") -> pd.DataFrame:
    """Relevance spectra (:func:`hsilib.metrics.attribution.relevance_spectra`) of every crop
    by every method and classifier seed, for the crop's own class. Lesion = the crop's drawn
    mask (segmented where empty). Long table: ``method, seed, id, label, region,
    wavelength_nm, signed, magnitude``."""
    from ..metrics.distribution import region_masks

    wl = np.asarray(wavelengths_nm, float)
    if crops.images.shape[1] != len(wl):
        raise ValueError(f"crops have {crops.images.shape[1]} channels, wavelengths_nm "
                         f"{len(wl)}")
    lesion, skin = region_masks(crops.images, crops.masks)
    frames = []
    for method in methods:
        for seed, model in models.items():
            a = at.attribute(model, crops.images, crops.labels, method, lesion=lesion,
                             baseline=baseline, n_steps=n_steps, device=device)
            signed = at.relevance_spectra(a, lesion, skin)
            mag = at.relevance_spectra(a, lesion, skin, magnitude=True)
            n, r, b = signed.shape
            frames.append(pd.DataFrame({
                "method": method, "seed": seed, "id": np.repeat(crops.ids, r * b),
                "label": np.repeat(crops.labels.numpy(), r * b),
                "region": np.tile(np.repeat(at.REGIONS, b), n), "wavelength_nm": np.tile(wl, n * r),
                "signed": signed.ravel(), "magnitude": mag.ravel()}))
    return pd.concat(frames, ignore_index=True)


def per_crop(frame: pd.DataFrame, value: str = "magnitude") -> pd.DataFrame:
    """``frame`` of :func:`explain_crops` averaged over seeds: one row per method, crop, region
    and wavelength (the seeds' classifiers as one explanation)."""
    keys = ["method", "id", "label", "region", "wavelength_nm"]
    return frame.groupby(keys, as_index=False, sort=False)[value].mean()


def spectrum_summary(frame: pd.DataFrame, sources: Mapping[str, str], value: str = "signed", *,
                     n_boot: int = 1000, seed: int = 0) -> pd.DataFrame:
    """Mean relevance spectrum per method, classifier seed (``"all"``: each crop's mean over
    seeds), class and region, with a 95% cluster-bootstrap interval over the crops' source
    images (``sources``: id -> source). Columns: ``method, seed, class, region, wavelength_nm,
    mean, lo, hi, n_crops``."""
    both = pd.concat([frame.assign(seed=frame["seed"].astype(str)),
                      per_crop(frame, value).assign(seed="all")], ignore_index=True)
    rows = []
    for (method, s, label), g in both.groupby(["method", "seed", "label"], sort=False):
        wide = g.pivot_table(index="id", columns=["region", "wavelength_nm"], values=value)
        wide = wide.reindex(columns=pd.MultiIndex.from_product(
            [list(at.REGIONS), sorted(g["wavelength_nm"].unique())]))
        mean, lo, hi = at.mean_with_interval(wide.to_numpy(), [sources[i] for i in wide.index],
                                             n_boot=n_boot, seed=seed)
        for j, (region, nm) in enumerate(wide.columns):
            rows.append({"method": method, "seed": s, "class": CLASS_NAMES[int(label)],
                         "region": region, "wavelength_nm": nm, "mean": mean[j], "lo": lo[j],
                         "hi": hi[j], "n_crops": len(wide)})
    return pd.DataFrame(rows)


def region_shares(frame: pd.DataFrame, sources: Mapping[str, str], *, n_boot: int = 1000,
                  seed: int = 0) -> pd.DataFrame:
    """Share of each crop's absolute attribution that lies on its lesion (the rest on skin or
    outside the field), each crop's mean over seeds: mean per method and class with a 95%
    cluster-bootstrap interval over source images."""
    crop = per_crop(frame, "magnitude")
    lesion = crop[crop["region"] == "lesion"].groupby(["method", "label", "id"])["magnitude"]
    rows = []
    for (method, label), g in lesion.sum().groupby(level=[0, 1], sort=False):
        ids = g.index.get_level_values("id")
        m, lo, hi = at.mean_with_interval(g.to_numpy(), [sources[i] for i in ids],
                                          n_boot=n_boot, seed=seed)
        rows.append({"method": method, "class": CLASS_NAMES[int(label)],
                     "lesion_share": float(m), "lo": float(lo), "hi": float(hi),
                     "n_crops": len(g)})
    return pd.DataFrame(rows)


def top_bands(summary: pd.DataFrame, region: str = "lesion", k: int = 3) -> pd.DataFrame:
    """The ``k`` wavelengths with the largest mean signed relevance over ``region``, per
    method, classifier seed and class of :func:`spectrum_summary`."""
    s = summary[summary["region"] == region].sort_values("mean", ascending=False)
    return (s.groupby(["method", "seed", "class"], sort=False)["wavelength_nm"]
            .apply(lambda w: ", ".join(f"{v:.0f}" for v in w.head(k))).unstack("class"))


def band_relevance(frame: pd.DataFrame) -> np.ndarray:
    """One relevance per band (in wavelength order): the absolute-attribution share over lesion
    and skin together, each crop's mean over seeds, averaged over crops (and methods)."""
    crop = per_crop(frame, "magnitude")
    per_band = crop.groupby(["method", "id", "wavelength_nm"])["magnitude"].sum()
    return per_band.groupby(level="wavelength_nm").mean().sort_index().to_numpy()


def randomisation_check(models: Mapping[int, nn.Module], crops: Crops, sources: Sequence[str],
                        methods: Sequence[str], *, baseline=None, n_steps: int = 32,
                        n_boot: int = 1000, seed: int = 0, device: Any = "cpu") -> pd.DataFrame:
    """Model randomisation (Adebayo et al. 2018): per method and seed, Spearman's rank
    correlation between the attributions of the trained classifier and of the same network with
    every layer re-initialised, on the same crops, signed and of absolute values: mean over
    crops with a cluster-bootstrap interval over ``sources``. Near 1 means the method shows the
    input, not what the network learned."""
    rows = []
    for method in methods:
        for s, model in models.items():
            kw = dict(baseline=baseline, n_steps=n_steps, device=device)
            a = at.attribute(model, crops.images, crops.labels, method, **kw)
            r = at.attribute(at.randomised_copy(model, seed=1000 + s), crops.images,
                             crops.labels, method, **kw)
            row = {"method": method, "seed": s, "n_crops": len(crops)}
            for key, absolute in (("signed", False), ("absolute", True)):
                rho = at.rank_correlation(a, r, absolute=absolute)
                ok = np.isfinite(rho)
                m, lo, hi = at.mean_with_interval(rho[ok], np.asarray(sources)[ok],
                                                  n_boot=n_boot, seed=seed)
                row.update({f"rho_{key}": float(m), f"rho_{key}_lo": float(lo),
                            f"rho_{key}_hi": float(hi)})
            rows.append(row)
    return pd.DataFrame(rows)


# --------------------------------------------------------------------------------------------
# Band choice on validation
# --------------------------------------------------------------------------------------------
def select_bands(relevance: Sequence[float], images: torch.Tensor, k: int = 3, *,
                 max_pixels: int = 20_000, seed: int = 0) -> tuple[list[int], pd.DataFrame]:
    """``k`` bands chosen greedily from VALIDATION quantities only: the most relevant band
    first; then each next band maximises its relevance times its novelty, ``1 - R^2`` of the
    band regressed on the bands already chosen over the validation pixels (the share of it they
    do not explain), so a neighbour that repeats a chosen band scores near 0. ``relevance``:
    one value per band (e.g. the mean absolute-attribution share on validation crops);
    ``images``: the validation crops (N x B x H x W), at most ``max_pixels`` of their pixels
    (a seeded draw). Returns the band indices and a table of the steps (``step, band,
    relevance, novelty, score``)."""
    r = np.asarray(relevance, float)
    b = images.shape[1]
    if r.shape != (b,) or not 1 <= k < b:
        raise ValueError(f"select_bands: need one relevance per band ({b}) and 1 <= k < {b}, "
                         f"got {r.shape} and k={k}")
    pixels = images.permute(1, 0, 2, 3).reshape(b, -1).double().numpy().T
    if len(pixels) > max_pixels:
        pixels = pixels[np.random.default_rng(seed).choice(len(pixels), max_pixels,
                                                           replace=False)]
    centred = pixels - pixels.mean(0)
    total = np.maximum((centred**2).sum(0), 1e-30)
    chosen, rows = [], []
    for step in range(k):
        novelty = np.ones(b)
        if chosen:
            coef, *_ = np.linalg.lstsq(centred[:, chosen], centred, rcond=None)
            novelty = ((centred - centred[:, chosen] @ coef) ** 2).sum(0) / total
        score = r * novelty
        score[chosen] = -np.inf
        best = int(np.argmax(score))
        chosen.append(best)
        rows.append({"step": step + 1, "band": best, "relevance": r[best],
                     "novelty": novelty[best], "score": score[best]})
    return chosen, pd.DataFrame(rows)


# --------------------------------------------------------------------------------------------
# 3. Conclusions
# --------------------------------------------------------------------------------------------
STANDIN_NOTE = ("On the generated stand-in these numbers describe the simulator's physics (its "
                "melanin and haemoglobin spectra, its lesion drawings, its camera), not patients; "
                "they say something about real lesions only once the notebook runs on the real "
                "HSIDermoscopy cubes.")


def variant_conclusions(paired: pd.DataFrame, uncertainty: pd.DataFrame,
                        labels: Mapping[str, str], *, n_test: int, n_sources: int, n_seeds: int,
                        standin: bool = True) -> str:
    """Markdown bullets on the input variants, from :func:`hsilib.study.stats.paired_table`
    (every variant vs 16 bands) and :func:`~hsilib.study.stats.test_uncertainty`, in the
    study's vocabulary (improvement, deterioration, equivalent within the margin, or "cannot
    tell" with the smallest detectable change); ``labels``: variant
    name -> description (the plan's labels)."""
    p = paired[paired["metric"] == "auroc"].set_index("config")
    lines = [f"Test set: {n_test} crops of {n_sources} source images, touched once; "
             f"{n_seeds} classifier seeds per variant; melanoma (MM) = positive class; "
             "differences are variant minus 16 bands, paired by classifier seed.",
             f"- **16 bands**: AUROC {_level(uncertainty, BASE)}."]
    for v in [c for c in p.index if c != BASE]:
        lines.append(f"- **{labels.get(v, v)}** (AUROC {_level(uncertainty, v)}) "
                     f"vs 16 bands: {_difference(p.loc[v])}.")
    if "rgb" in p.index:
        verdict, diff = p.loc["rgb", "verdict"], p.loc["rgb", "diff"]
        absence = ("this test set cannot tell whether the 16 bands carry information that RGB "
                   "lacks (absence of evidence, not evidence of absence)")
        meaning = {"deterioration": "the 16 bands carry diagnostic information that the sRGB "
                   "rendering loses",
                   "improvement": "the 3-channel rendering does better than the 16 bands, so "
                   "this classifier does not turn the extra bands into accuracy",
                   NO_CHANGE: absence, CANNOT_TELL: absence}.get(verdict)
        if verdict.startswith(EQUIVALENT):
            meaning = (f"the two inputs score the same within +/-{p.loc['rgb', 'margin']:g} "
                       "AUROC, so at this classifier's level the extra bands add nothing "
                       "larger than that")
        lines.append(f"- **What it means**: RGB minus 16 bands = {diff:+.3f} AUROC, {verdict}: "
                     f"{meaning}.")
    if standin:
        lines.append(f"- **Caveat**: {STANDIN_NOTE}")
    return "\n".join(lines)
