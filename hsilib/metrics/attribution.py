"""Which wavelengths and pixels a melanoma classifier uses: attributions (notebook 09).

Every method explains the classifier's evidence for a crop's OWN class, the logit margin
``m(x) = z_y(x) - z_{1-y}(x)`` (:class:`ClassMargin`; ``y`` = 1 for melanoma), and comes from
captum (Kokhlikyan et al. 2020); each gives a value ``a[b, p]`` per band ``b`` and pixel ``p``:

- ``"ig"``, Integrated Gradients (Sundararajan et al. 2017): ``a_i = (x_i - x'_i) * integral
  over alpha in [0, 1] of dm/dx_i at x' + alpha (x - x')``, ``n_steps`` points; complete:
  ``sum_i a_i = m(x) - m(x')`` for the baseline image ``x'``.
- ``"gradcam"``, Grad-CAM (Selvaraju et al. 2017) on the last convolutional block
  (:func:`last_conv_block`): ``L = ReLU(sum_k alpha_k A_k)``, ``alpha_k`` = the spatial mean of
  ``dm/dA_k``. Grad-CAM is a map at the block's coarse resolution (:func:`spatial_map`); per band
  it is Guided Grad-CAM, guided backpropagation times the upsampled map.
- ``"ablation"``, feature ablation: each (band, region) group of pixels is replaced by the
  baseline; ``a`` = ``m(x) - m(x with the group replaced)``, spread evenly over the group's
  pixels, so a region's sum is the group's effect. Its map (:func:`spatial_map`) is occlusion
  (Zeiler & Fergus 2014) of square windows through all bands.

:func:`relevance_spectra` turns a crop's attributions into its relevance per wavelength over
the lesion and over the surrounding skin, as shares of the crop's total absolute attribution (so
every crop weighs the same); :func:`mean_with_interval` averages crops with a cluster bootstrap
over source images. :func:`randomised_copy` and :func:`rank_correlation` are the
model-randomisation sanity check (Adebayo et al. 2018): attributions that barely change when the
weights are randomised explain the input, not the model.

:func:`task_aware_distance` is the task-aware metric of a synthetic set: how far the relevance
spectra the classifier produces on synthetic crops lie from those on real crops of the same
class, beside the real-vs-real floor, in the table format of
:func:`hsilib.metrics.protocol.evaluate_generator`.

Introduced in notebook 09.
"""

from __future__ import annotations

import copy
import warnings
from collections.abc import Mapping, Sequence
from contextlib import contextmanager

import numpy as np
import pandas as pd
import torch
from torch import nn

from .classification import cluster_weights
from .distribution import region_masks
from .protocol import COLUMNS

#: Attribution methods (module docstring).
METHODS = ("ig", "gradcam", "ablation")
#: Regions of a relevance spectrum, in the order of its second axis.
REGIONS = ("lesion", "skin")
_LEVEL = 0.95


# --------------------------------------------------------------------------------------------
# The explained quantity and the network's parts
# --------------------------------------------------------------------------------------------
class ClassMargin(nn.Module):
    """Wraps a 2-logit classifier: output ``[z_0 - z_1, z_1 - z_0]``, so that target ``y``
    explains the evidence for class ``y`` against the other (the softmax depends on nothing
    else)."""

    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        z = self.model(x)
        d = z[:, 1] - z[:, 0]
        return torch.stack([-d, d], dim=1)


def prepare(model: nn.Module, device: str | torch.device = "cpu") -> ClassMargin:
    """A copy of ``model`` in eval mode on ``device``, its ReLUs not in place (captum's hooks
    need that), weights frozen, wrapped in :class:`ClassMargin`. The original is untouched."""
    if isinstance(model, ClassMargin):
        return model
    m = copy.deepcopy(model).to(device).eval()
    for mod in m.modules():
        if hasattr(mod, "inplace"):
            mod.inplace = False
    for p in m.parameters():
        p.requires_grad_(False)
    return ClassMargin(m)


def last_conv_block(model: nn.Module) -> nn.Module:
    """The last convolutional block of a classifier: the last entry of ``features`` (the small
    CNN, DenseNet), else ``layer4`` (ResNet), ``conv_head`` (EfficientNet), else the last
    ``Conv2d``."""
    model = model.model if isinstance(model, ClassMargin) else model
    for name in ("features", "layer4", "conv_head"):
        block = getattr(model, name, None)
        if isinstance(block, nn.Sequential) and len(block):
            return block[-1]
        if isinstance(block, nn.Module):
            return block
    convs = [m for m in model.modules() if isinstance(m, nn.Conv2d)]
    if not convs:
        raise ValueError(f"{type(model).__name__} has no 2-D convolution for Grad-CAM")
    return convs[-1]


def randomised_copy(model: nn.Module, seed: int = 0) -> nn.Module:
    """A copy of ``model`` with every layer re-initialised (weights and batch-norm statistics):
    the full model randomisation of Adebayo et al. (2018). The global RNG is left as it was."""
    m = copy.deepcopy(model.model if isinstance(model, ClassMargin) else model)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        for mod in m.modules():
            if hasattr(mod, "reset_parameters"):
                mod.reset_parameters()
            if hasattr(mod, "reset_running_stats"):
                mod.reset_running_stats()
    return m


def baseline_like(images: torch.Tensor, baseline=None) -> torch.Tensor:
    """The baseline image ``x'`` for ``images`` (N x B x H x W): zeros for None, a constant for
    a number, one value per band for a length-B vector (e.g. the training crops' mean
    spectrum, a flat image of average skin-and-lesion colour)."""
    if baseline is None:
        return torch.zeros_like(images)
    b = torch.as_tensor(np.asarray(baseline, np.float32), device=images.device)
    if b.ndim == 0:
        return torch.full_like(images, float(b))
    if b.shape != (images.shape[1],):
        raise ValueError(f"baseline must be a number or one value per band ({images.shape[1]}), "
                         f"got shape {tuple(b.shape)}")
    return b.view(1, -1, 1, 1).expand_as(images).contiguous()


# --------------------------------------------------------------------------------------------
# Attributions and maps
# --------------------------------------------------------------------------------------------
def _check(images, labels, method: str) -> tuple[torch.Tensor, torch.Tensor]:
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, got {method!r}")
    x = torch.as_tensor(images, dtype=torch.float32)
    y = torch.as_tensor(labels, dtype=torch.long).reshape(-1)
    if x.ndim != 4 or len(x) != len(y):
        raise ValueError(f"images must be N x B x H x W with one label each, got "
                         f"{tuple(x.shape)} and {len(y)} labels")
    if len(y) and not bool(((y == 0) | (y == 1)).all()):
        raise ValueError("labels must be 0 (DN) or 1 (MM)")
    return x, y


@contextmanager
def _quiet():
    """captum's notes about input gradients and ReLU hooks, expected here, kept out of logs."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*required_grads has been set.*")
        warnings.filterwarnings("ignore", message=".*[Ss]etting backward hooks.*")
        yield


def attribute(model: nn.Module, images, labels, method: str, *, lesion=None, baseline=None,
              n_steps: int = 32, batch_size: int = 16,
              device: str | torch.device = "cpu") -> torch.Tensor:
    """Attributions ``N x B x H x W`` (float32, CPU) of each crop's class margin by ``method``.

    ``images``: classifier inputs N x B x H x W; ``labels``: 0 (DN) / 1 (MM), the class each
    crop's evidence is explained for. ``baseline``: see :func:`baseline_like` (IG's ``x'`` and
    the value ablation puts in). ``lesion``: N x H x W lesion masks for ablation's (band,
    region) groups (None: :func:`hsilib.metrics.distribution.region_masks`). ``n_steps``: IG's
    integration points. ``model``: a classifier or its :func:`prepare` d copy.
    """
    from captum.attr import FeatureAblation, GuidedGradCam, IntegratedGradients

    x_all, y_all = _check(images, labels, method)
    margin = prepare(model, device)
    if method == "ablation" and lesion is None:
        lesion = region_masks(x_all)[0]
    out = []
    with _quiet():
        for i in range(0, len(x_all), batch_size):
            x, y = x_all[i:i + batch_size].to(device), y_all[i:i + batch_size].to(device)
            base = baseline_like(x, baseline)
            if method == "ig":
                a = IntegratedGradients(margin).attribute(
                    x, base, target=y, n_steps=n_steps, internal_batch_size=batch_size * 8)
            elif method == "gradcam":
                a = GuidedGradCam(margin, last_conv_block(margin)).attribute(x, target=y)
            else:
                inside = torch.as_tensor(lesion[i:i + batch_size]).bool().to(device)
                groups = (2 * torch.arange(x.shape[1], device=device).view(1, -1, 1, 1)
                          + (~inside).long()[:, None])
                a = FeatureAblation(margin).attribute(
                    x, baselines=base, target=y, feature_mask=groups.expand_as(x),
                    perturbations_per_eval=8)
                sizes = torch.stack([inside.flatten(1).sum(1), (~inside).flatten(1).sum(1)], 1)
                per_group = sizes.gather(1, (~inside).long().flatten(1)).view_as(inside)
                a = a / per_group[:, None].clamp_min(1)
            out.append(a.detach().float().cpu())
    return torch.cat(out) if out else torch.zeros(0, *x_all.shape[1:])


def spatial_map(model: nn.Module, images, labels, method: str, *, baseline=None,
                n_steps: int = 32, window: int = 8, batch_size: int = 16,
                device: str | torch.device = "cpu") -> torch.Tensor:
    """Where in the crop the evidence sits, ``N x H x W``: IG summed over bands; Grad-CAM of the
    last convolutional block (ReLU, bilinearly upsampled); occlusion of ``window`` x ``window``
    squares through all bands (stride half a window) for ``"ablation"``."""
    from captum.attr import LayerAttribution, LayerGradCam, Occlusion

    x_all, y_all = _check(images, labels, method)
    if method == "ig":
        return attribute(model, x_all, y_all, "ig", baseline=baseline, n_steps=n_steps,
                         batch_size=batch_size, device=device).sum(1)
    margin = prepare(model, device)
    out = []
    with _quiet():
        for i in range(0, len(x_all), batch_size):
            x, y = x_all[i:i + batch_size].to(device), y_all[i:i + batch_size].to(device)
            if method == "gradcam":
                cam = LayerGradCam(margin, last_conv_block(margin)).attribute(
                    x, target=y, relu_attributions=True)
                a = LayerAttribution.interpolate(cam, tuple(x.shape[-2:]), "bilinear")[:, 0]
            else:
                step = max(window // 2, 1)
                a = Occlusion(margin).attribute(
                    x, sliding_window_shapes=(x.shape[1], window, window),
                    strides=(x.shape[1], step, step), baselines=baseline_like(x, baseline),
                    target=y, perturbations_per_eval=32).mean(1)
            out.append(a.detach().float().cpu())
    return torch.cat(out)


# --------------------------------------------------------------------------------------------
# Relevance spectra, their means and the sanity check
# --------------------------------------------------------------------------------------------
def relevance_spectra(attributions: torch.Tensor, lesion, skin, *,
                      magnitude: bool = False) -> np.ndarray:
    """Per crop, the relevance of each band over the lesion and over the skin: ``N x 2 x B``
    (regions in :data:`REGIONS` order), each the region's summed attribution (``magnitude``:
    summed absolute attribution) divided by the crop's total absolute attribution. Signed
    values say which bands speak for the crop's class (> 0) or against it; magnitudes say where
    the classifier looks, and over both regions they sum to 1 minus the share outside the field.
    """
    a = torch.as_tensor(attributions).double()
    total = a.abs().flatten(1).sum(1).clamp_min(torch.finfo(torch.float64).tiny)
    v = a.abs() if magnitude else a
    parts = [(v * torch.as_tensor(m).double()[:, None]).sum((2, 3)) for m in (lesion, skin)]
    return (torch.stack(parts, 1) / total[:, None, None]).numpy()


def mean_with_interval(values, groups, labels=None, *, n_boot: int = 1000, seed: int = 0,
                       level: float = _LEVEL) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Mean over crops of ``values`` (N x ...) with a percentile interval from a cluster
    bootstrap over ``groups`` (source images; all crops of a source move together; stratified
    by ``labels`` when given). Returns (mean, lo, hi), each of shape ``values.shape[1:]``."""
    v = np.asarray(values, float)
    if len(v) == 0:
        raise ValueError("mean_with_interval: no values")
    lab = np.zeros(len(v)) if labels is None else np.asarray(labels)
    w = cluster_weights(groups, lab, n_boot, seed).astype(float)
    flat = v.reshape(len(v), -1)
    boots = (w @ flat) / w.sum(1, keepdims=True)
    a = (1 - level) / 2
    lo, hi = np.quantile(boots, [a, 1 - a], axis=0)
    shape = v.shape[1:]
    return flat.mean(0).reshape(shape), lo.reshape(shape), hi.reshape(shape)


def rank_correlation(a: torch.Tensor, b: torch.Tensor, *, absolute: bool = False) -> np.ndarray:
    """Spearman's rank correlation, per crop, between two attributions of the same crops
    (every band and pixel one value; ``absolute``: of their absolute values, as Adebayo et al.
    2018 also report). One value per crop."""
    from scipy.stats import rankdata

    x, y = (torch.as_tensor(t).flatten(1).double().numpy() for t in (a, b))
    if x.shape != y.shape:
        raise ValueError(f"attributions differ in shape: {x.shape} vs {y.shape}")
    if absolute:
        x, y = np.abs(x), np.abs(y)
    rx, ry = rankdata(x, axis=1), rankdata(y, axis=1)
    rx -= rx.mean(1, keepdims=True)
    ry -= ry.mean(1, keepdims=True)
    den = np.sqrt((rx**2).sum(1) * (ry**2).sum(1))
    return np.where(den > 0, (rx * ry).sum(1) / np.where(den > 0, den, 1), np.nan)


def crop_spectra(models: nn.Module | Sequence[nn.Module], images, labels, *, masks=None,
                 method: str = "ig", baseline=None, n_steps: int = 32, magnitude: bool = False,
                 batch_size: int = 16, device: str | torch.device = "cpu") -> np.ndarray:
    """Relevance spectra (:func:`relevance_spectra`, N x 2 x B) of ``images`` by ``method``,
    averaged over ``models`` (e.g. one classifier per seed). ``masks``: drawn lesion masks
    (N x H x W; an empty one is segmented, as in
    :func:`hsilib.metrics.distribution.region_masks`); None segments every crop."""
    models = [models] if isinstance(models, nn.Module) else list(models)
    x = torch.as_tensor(images, dtype=torch.float32)
    lesion, skin = region_masks(x, masks)
    per_model = [relevance_spectra(
        attribute(m, x, labels, method, lesion=lesion, baseline=baseline, n_steps=n_steps,
                  batch_size=batch_size, device=device), lesion, skin, magnitude=magnitude)
        for m in models]
    return np.mean(per_model, axis=0)


# --------------------------------------------------------------------------------------------
# The task-aware metric: relevance spectra of synthetic vs real crops
# --------------------------------------------------------------------------------------------
def spectrum_distance(a: np.ndarray, b: np.ndarray) -> float:
    """Half the L1 distance between the mean relevance spectra of two sets of crops (each
    N x 2 x B): 0 when the classifier finds the same evidence in the same bands and regions, at
    most 1 (all of it elsewhere, or of the opposite sign)."""
    return float(0.5 * np.abs(np.mean(a, 0) - np.mean(b, 0)).sum())


def _mean_rows(spectra: np.ndarray, rows: np.ndarray) -> np.ndarray:
    return spectra[rows].mean(axis=-3)  # rows: (..., n) positions -> (..., 2, B)


def relevance_distance(synthetic: np.ndarray, real_train: np.ndarray, real_heldout: np.ndarray,
                       *, heldout_groups=None, n_repeats: int = 5, n_boot: int = 1000,
                       seed: int = 0, name: str = "relevance_distance") -> dict:
    """The task-aware distance from precomputed relevance spectra (N x 2 x B each).

    As :func:`hsilib.metrics.protocol.evaluate_generator` does for its set-level rows: with
    ``n = min(n_synthetic, n_real_train)``, value = the mean over ``n_repeats`` random subsamples
    of ``n`` synthetic crops of :func:`spectrum_distance` to all held-out crops; floor = the
    same for ``n`` real TRAINING crops (what a generator reproducing real crops would reach).
    Each bootstrap resample draws the synthetic, the training and the held-out crops (the
    latter by ``heldout_groups``, source images, when given) with replacement and recomputes
    both: ``ci_low``/``ci_high`` is the 95% percentile interval of the value, and
    ``excess_low``/``excess_high`` that of value minus floor on the same resamples. A distance
    between sample means is never below 0, and a resample, which repeats crops, moves it up:
    the value's interval leans upwards, so compare with the floor through the excess, whose
    interval covers 0 when the synthetic crops are as close as real ones. Returns one row of
    :data:`hsilib.metrics.protocol.COLUMNS` plus the excess (``excess``, ``excess_low``,
    ``excess_high``).
    """
    syn, train, held = (np.asarray(s, float) for s in (synthetic, real_train, real_heldout))
    if min(len(syn), len(train), len(held)) < 2:
        raise ValueError(f"{name}: each set needs at least 2 crops, got {len(syn)} synthetic, "
                         f"{len(train)} training, {len(held)} held-out")
    rng = np.random.default_rng(seed)
    n = min(len(syn), len(train))

    def subsets(total: int) -> np.ndarray:
        return np.stack([np.sort(rng.choice(total, n, replace=False)) for _ in range(n_repeats)])

    def distance(spectra: np.ndarray, rows: np.ndarray, target: np.ndarray) -> np.ndarray:
        # mean over the repeats' subsamples (rows[..., r, :]) of the half L1 to ``target``
        return np.mean([0.5 * np.abs(_mean_rows(spectra, rows[..., r, :]) - target).sum((-2, -1))
                        for r in range(rows.shape[-2])], axis=0)

    syn_pos, train_pos = subsets(len(syn)), subsets(len(train))
    value, floor = distance(syn, syn_pos, held.mean(0)), distance(train, train_pos, held.mean(0))
    groups = np.arange(len(held)) if heldout_groups is None else np.asarray(heldout_groups)
    w = cluster_weights(groups, np.zeros(len(held)), n_boot, seed + 1).astype(float)
    held_boot = (w @ held.reshape(len(held), -1) / w.sum(1, keepdims=True)).reshape(
        n_boot, *held.shape[1:])
    syn_boot = rng.integers(0, len(syn), (n_boot, len(syn)))
    train_boot = rng.integers(0, len(train), (n_boot, len(train)))
    boot_value = distance(syn, syn_boot[:, syn_pos], held_boot)
    excess = boot_value - distance(train, train_boot[:, train_pos], held_boot)
    q = [(1 - _LEVEL) / 2, (1 + _LEVEL) / 2]
    (lo, hi), (ex_lo, ex_hi) = np.quantile(boot_value, q), np.quantile(excess, q)
    note = (f"half L1 between mean relevance spectra (lesion and skin x bands, shares of each "
            f"crop's absolute attribution), 0 = same evidence, 1 = none shared; value and floor: "
            f"mean over {n_repeats} subsamples of {n} synthetic / {n} training crops vs all "
            f"{len(held)} held-out; 95% bootstrap of synthetic, training and held-out crops"
            + (" (held-out by source image)" if heldout_groups is not None else "")
            + f"; value - floor {value - floor:+.4f} [{ex_lo:+.4f}, {ex_hi:+.4f}]")
    return dict(metric=name, value=float(value), floor=float(floor), ci_low=float(lo),
                ci_high=float(hi), n_synthetic=n, n_real=len(held), kind="task-aware",
                note=note, excess=float(value - floor), excess_low=float(ex_lo),
                excess_high=float(ex_hi))


def task_aware_distance(classifiers: nn.Module | Sequence[nn.Module], synthetic, real_train,
                        real_heldout, *, label: int, masks: Mapping | None = None,
                        groups: Mapping | None = None, method: str = "ig", baseline=None,
                        n_steps: int = 32, n_repeats: int = 5, n_boot: int = 1000,
                        seed: int = 0, device: str | torch.device = "cpu") -> pd.DataFrame:
    """The task-aware metric of a synthetic set: does a melanoma classifier find the same
    evidence, in the same bands and regions, in synthetic crops as in real crops of the class?

    ``classifiers``: one trained classifier or several (e.g. one per seed; their spectra are
    averaged per crop). ``synthetic``, ``real_train``, ``real_heldout``: classifier inputs
    ``N x B x H x W`` (normalised as for training) of ONE class, ``label`` (1 = MM, 0 = DN):
    the synthetic crops, the real crops the generator was trained on, and real crops it never
    saw (validation). ``masks``: optional dict with keys ``synthetic``, ``real_train``,
    ``real_heldout`` of lesion masks (None or an empty mask: segmented, as everywhere in the
    protocol). ``groups``: optional dict with key ``real_heldout`` of source-image ids for the
    cluster bootstrap. ``method``: an attribution method of :data:`METHODS`, with ``baseline``
    and ``n_steps`` as in :func:`attribute`.

    Returns a one-row table with the columns of
    :func:`hsilib.metrics.protocol.evaluate_generator` (metric ``relevance_distance_<method>``,
    value, real-vs-real floor, interval, sizes, kind ``task-aware``, note with the interval of
    value minus floor), so it can be appended to a generator's metric table; see
    :func:`relevance_distance`.
    """
    masks = dict(masks or {})
    sets = {"synthetic": synthetic, "real_train": real_train, "real_heldout": real_heldout}
    spectra = {k: crop_spectra(classifiers, v, torch.full((len(v),), int(label)),
                               masks=masks.get(k), method=method, baseline=baseline,
                               n_steps=n_steps, device=device) for k, v in sets.items()}
    row = relevance_distance(spectra["synthetic"], spectra["real_train"],
                             spectra["real_heldout"],
                             heldout_groups=(groups or {}).get("real_heldout"),
                             n_repeats=n_repeats, n_boot=n_boot, seed=seed,
                             name=f"relevance_distance_{method}")
    return pd.DataFrame([row], columns=COLUMNS)
