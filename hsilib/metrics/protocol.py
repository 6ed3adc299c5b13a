"""The generator evaluation protocol: one call, one tidy table, every score beside its floor.

:func:`evaluate_generator` compares a synthetic set with a *held-out* real set (never with the
generator's training images) and repeats every measurement for real training images against the
same held-out set: the real-vs-real **floor**, the value a perfect generator would reach.

- **Equal sizes, repeated.** With ``n = min(n_synthetic, n_real_train)`` the larger of the two
  sets is subsampled to ``n`` images, so value and floor rest on equally many images (FD, KID and
  the k-NN metrics depend on it), and both are averaged over ``MetricsConfig.n_repeats`` random
  subsamples.
- **An interval for every row** (``ci_low``, ``ci_high``; 95 %, percentile bootstrap). They
  cover the resampling of *images* (with replacement; the repeats' subsamples are taken at the
  same positions of each resampled set) and never the generator's training seed: two training
  runs can differ by more. Which images each row resamples is in its ``note``: synthetic images
  for the means of per-synthetic-image terms (precision, density, the paired rows), held-out
  images for recall and coverage (each with the other set fixed), synthetic *and* held-out
  images for the set-level rows (Frechet distances, KID, spectral FD, mean-spectrum angle, TV,
  the chromophore distances; ``n_boot_set`` resamples on precomputed per-image summaries) and
  the memorisation rows, source images (cluster bootstrap) for detectability.
- **Paired metrics** (SSIM, PSNR, SAM, SID) pair each synthetic image with its nearest
  held-out image (L2 on 16 x 16 downsampled images) and say so. The spectral-shape rows (SAM,
  SID, mean-spectrum angle) are computed on reflectance (``to_reflectance``) over the pixels
  inside the dermoscope's field, never on min-max-normalised values.
- **Memorisation**: how close synthetic images come to the training set (the minimum over the 8
  flips and rotations of each training image, since the generators train with them) compared
  with how close unseen real images come.
- **Detectability**: a classifier two-sample test (:mod:`hsilib.metrics.probe`): the
  cross-validated AUROC of a small CNN telling real from synthetic images (0.5 =
  indistinguishable), beside the same probe between two halves of the real images.

These fix flaw 4 of the original study (``docs/original_study.md``). :func:`side_by_side` puts
the tables of several runs (e.g. with and without a loss term) in one;
:func:`record_generator_metrics` adds a table to a run's generator-results table.

Sets are tensors or arrays ``N x B x H x W`` in [0, 1] (normalised), or indexable datasets
yielding dicts with ``image`` (and ``mask``) such as :class:`hsilib.data.datasets.CropDataset`.
Each set is read in batches for the per-image summaries (network features, downsampled copies,
sampled spectra; memory grows with these, not with the images), once more for the paired metrics,
and whole for the detectability probe.

Introduced in notebook 03.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F

from ..config import MetricsConfig
from ..paths import atomic_path
from ..runtime import device as pick_device
from . import distribution as dist
from . import physics
from . import spectral as sp
from .intervals import bootstrap, percentile_interval
from .probe import grouped_cv_auroc

COLUMNS = ["metric", "value", "floor", "ci_low", "ci_high", "n_synthetic", "n_real", "kind",
           "note"]
SET_NAMES = ("synthetic", "real_train", "real_heldout")
_SMALL = 16  # side of the downsampled images used for nearest-neighbour search
_PROBE_MIN_SIDE = 16  # the probe's SmallCNN halves the side four times


# --------------------------------------------------------------------------------------------
# Reading the sets
# --------------------------------------------------------------------------------------------
def _length(source) -> int:
    if isinstance(source, (torch.Tensor, np.ndarray)):
        return sp.as_images(source).shape[0]
    if hasattr(source, "__len__") and hasattr(source, "__getitem__"):
        return len(source)
    raise TypeError("sets must be tensors/arrays N x B x H x W or indexable datasets, got "
                    f"{type(source).__name__}")


def _take(source, idx, masks: np.ndarray | None = None,
          name: str = "") -> tuple[torch.Tensor, torch.Tensor | None]:
    """Images (and drawn masks: from ``masks``, else from the dataset items when they carry
    them) at ``idx`` of a tensor or dataset."""
    idx = [int(i) for i in idx]
    drawn = None
    if isinstance(source, (torch.Tensor, np.ndarray)):
        images = sp.as_images(source)[idx].float()
    else:
        items = [source[i] for i in idx]
        if isinstance(items[0], dict):
            images = torch.stack([torch.as_tensor(it["image"]) for it in items]).float()
            if "mask" in items[0]:
                drawn = torch.stack([torch.as_tensor(it["mask"]).reshape(images.shape[-2:])
                                     for it in items])
        else:
            images = torch.stack([torch.as_tensor(it) for it in items]).float()
    if masks is not None:
        m = masks[idx]
        if m.size != len(idx) * math.prod(images.shape[-2:]):
            raise ValueError(f"masks[{name!r}] must be N x [1 x] H x W with the images' "
                             f"{tuple(images.shape[-2:])} pixels, got shape {masks.shape}")
        drawn = torch.from_numpy(m.reshape(len(idx), *images.shape[-2:]))
    return images, drawn


def _reflectance(images: torch.Tensor, to_reflectance: Callable | None) -> torch.Tensor:
    """``images`` mapped by ``to_reflectance`` (the images themselves when it is None)."""
    if to_reflectance is None:
        return images
    out = to_reflectance(images)
    return (out if torch.is_tensor(out) else torch.from_numpy(np.asarray(out))).float()


# --------------------------------------------------------------------------------------------
# One pass over a set: per-image summaries
# --------------------------------------------------------------------------------------------
@dataclass
class _Summary:
    """Per-image summaries of the images ``index`` of a set (rows follow ``index``)."""

    index: np.ndarray  # positions in the set, sorted
    feats: np.ndarray  # network features, one row per image
    small: np.ndarray  # downsampled images (B x 16 x 16, flattened) for nearest neighbours
    small_all: np.ndarray  # the same for every image of the set (memorisation reference)
    tv: np.ndarray  # per-pixel total variation
    #: region -> per image: (count, sum, sum of outer products) of sampled normalised spectra
    moments: dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]]
    spectrum_sum: np.ndarray  # per image: sum of its in-field spectra (reflectance if given)
    n_field: np.ndarray  # per image: number of in-field pixels
    fits: list[np.ndarray] = field(default_factory=list)  # per image: chromophore fits
    fit_names: tuple[str, ...] = ()  # the fitted parameters (columns of ``fits``)

    def rows(self, positions: np.ndarray) -> np.ndarray:
        """Rows of the images at set ``positions``."""
        return np.searchsorted(self.index, positions)


def _summarise(source, masks, name, extractor, to_reflectance, *, batch_size: int,
               keep: np.ndarray | None, pixels_per_image: int, physics_per_image: int,
               seed: int) -> _Summary:
    """One pass: downsampled copies of every image; features, TV, moments of sampled lesion
    and skin spectra, in-field spectrum sums and (with ``physics_per_image``) chromophore fits of
    sampled reflectance spectra of the images in ``keep`` (all when None), so that unused
    training images cost no network pass."""
    rng = np.random.default_rng(seed)
    n = _length(source)
    index = np.arange(n) if keep is None else np.unique(keep)
    selected = np.zeros(n, bool)
    selected[index] = True
    device = next(extractor.parameters(), torch.zeros(())).device
    feats, small_all, tv, sums, counts, phys = [], [], [], [], [], []
    spectra: dict[str, list] = {"lesion": [], "skin": []}
    for start in range(0, n, batch_size):
        idx = np.arange(start, min(start + batch_size, n))
        images, drawn = _take(source, idx, masks, name)
        small_all.append(F.adaptive_avg_pool2d(images, _SMALL).flatten(1).double().numpy())
        sel = torch.from_numpy(selected[idx])
        if not sel.any():
            continue
        images = images[sel]
        drawn = drawn[sel] if drawn is not None else None
        feats.append(extractor(images.to(device)).double().cpu().numpy())
        tv.append(sp.total_variation(images, per_pixel=True, reduction="none").numpy())
        lesion, skin = dist.region_masks(images, drawn)
        pix = images.permute(0, 2, 3, 1).double()
        refl = _reflectance(images, to_reflectance).permute(0, 2, 3, 1).double()
        for j in range(len(images)):
            for region, inside in (("lesion", lesion[j]), ("skin", skin[j])):
                px = pix[j][inside].numpy()
                px = px[rng.choice(len(px), min(len(px), pixels_per_image), replace=False)]
                spectra[region].append((len(px), px.sum(0), px.T @ px))
            rf = refl[j][lesion[j] | skin[j]].numpy()
            sums.append(rf.sum(0))
            counts.append(len(rf))
            if physics_per_image:
                phys.append(rf[rng.choice(len(rf), min(len(rf), physics_per_image),
                                          replace=False)])
    small_all = np.concatenate(small_all)
    moments = {region: tuple(np.array([m[i] for m in v], np.float64) for i in range(3))
               for region, v in spectra.items()}
    summary = _Summary(index, np.concatenate(feats), small_all[index], small_all,
                       np.concatenate(tv), moments, np.stack(sums), np.asarray(counts))
    if physics_per_image:
        fitted = physics.invert_spectra(np.concatenate(phys))
        summary.fit_names = tuple(c for c in fitted.columns if c in physics.BOUNDS)
        # melanin, blood and scattering span decades: compared in log10, as chromophore_distance
        values = np.stack([np.log10(fitted[c].to_numpy()) if physics.BOUNDS[c][2] == "log"
                           else fitted[c].to_numpy() for c in summary.fit_names], axis=1)
        summary.fits = np.split(values, np.cumsum([len(p) for p in phys])[:-1])
    return summary


# --------------------------------------------------------------------------------------------
# Nearest neighbours
# --------------------------------------------------------------------------------------------
def _nearest(query: np.ndarray, ref: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    d = torch.cdist(torch.from_numpy(query), torch.from_numpy(ref))
    dmin, idx = d.min(1)
    return idx.numpy(), dmin.numpy()


def dihedral_nn_distances(query: np.ndarray, reference: np.ndarray, *, side: int = _SMALL,
                          dihedral: bool = True) -> np.ndarray:
    """L2 distance of each query image to its nearest reference image, the distance to a
    reference image being the minimum over its 8 flips and 90-degree rotations (only the
    image itself with ``dihedral=False``). Rows are flattened ``B x side x side`` images."""
    ref = torch.from_numpy(np.asarray(reference, np.float64)).reshape(len(reference), -1, side,
                                                                       side)
    views = [ref]
    if dihedral:
        rots = [torch.rot90(ref, k, dims=(-2, -1)) for k in range(4)]
        views = rots + [r.flip(-1) for r in rots]
    ref_all = torch.cat([v.flatten(1) for v in views])
    query = torch.from_numpy(np.asarray(query, np.float64))
    return torch.cdist(query, ref_all).min(1).values.numpy()


# --------------------------------------------------------------------------------------------
# Per-image terms: paired metrics
# --------------------------------------------------------------------------------------------
#: statistic of each paired metric over images (PSNR of an exact copy is +inf: the median
#: keeps the summary finite and robust; SAM and SID are NaN for an image with no in-field pixel)
_PAIRED = {"SSIM": np.nanmean, "PSNR": np.nanmedian, "SAM_rad": np.nanmean, "SID": np.nanmean}


def _paired_terms(source, idx, masks, name, heldout, held_masks, nn_idx, batch_size,
                  to_reflectance) -> dict[str, np.ndarray]:
    """Per image of ``source[idx]``: SSIM and PSNR (normalised values) and the mean SAM and SID
    over pixels inside both fields (reflectance when ``to_reflectance`` is given) against its
    nearest held-out image ``heldout[nn_idx]``."""
    vals: dict[str, list] = {k: [] for k in _PAIRED}
    for i in range(0, len(idx), batch_size):
        a, _ = _take(source, idx[i:i + batch_size], masks, name)
        b, _ = _take(heldout, nn_idx[i:i + batch_size], held_masks, "real_heldout")
        vals["SSIM"].append(sp.ssim(a, b, data_range=1.0, reduction="none"))
        vals["PSNR"].append(sp.psnr(a, b, data_range=1.0, reduction="none"))
        inside = dist.field_masks(a) & dist.field_masks(b)
        ra, rb = _reflectance(a, to_reflectance), _reflectance(b, to_reflectance)
        vals["SAM_rad"].append(sp.sam(ra, rb, mask=inside, reduction="none"))
        vals["SID"].append(sp.sid(ra, rb, mask=inside, reduction="none"))
    return {k: torch.cat(v).double().numpy() for k, v in vals.items()}


# --------------------------------------------------------------------------------------------
# Set-level scores of one (candidate, held-out) pair of image selections
# --------------------------------------------------------------------------------------------
def _gaussian(moments: tuple[np.ndarray, ...], rows: np.ndarray):
    """(count, mean, unbiased covariance) of the pixels pooled over the images ``rows``."""
    n, s1, s2 = (m[rows].sum(0) for m in moments)
    mean = s1 / max(n, 1)
    return n, mean, (s2 - n * np.outer(mean, mean)) / max(n - 1, 1)


def _set_scores(cand: _Summary, c_rows: np.ndarray, real: _Summary, r_rows: np.ndarray, *,
                fd_name: str, seed: int) -> dict[str, float]:
    """Set-level scores of the candidate images ``c_rows`` against the held-out images
    ``r_rows`` (rows may repeat: bootstrap resamples)."""
    out = {fd_name: dist.frechet_distance(real.feats[r_rows], cand.feats[c_rows]).value,
           "KID": dist.kid(real.feats[r_rows], cand.feats[c_rows], n_subsets=50,
                           subset_size=100, seed=seed).value}
    for region in ("lesion", "skin"):
        (n_a, *a), (n_b, *b) = (_gaussian(v.moments[region], rows)
                                for v, rows in ((real, r_rows), (cand, c_rows)))
        out[f"FD_spectral_{region}"] = (dist.gaussian_frechet_distance(*a, *b)
                                        if min(n_a, n_b) > 16 else float("nan"))
    mean_a, mean_b = (v.spectrum_sum[rows].sum(0) / max(v.n_field[rows].sum(), 1)
                      for v, rows in ((real, r_rows), (cand, c_rows)))
    out["SAM_mean_spectra_deg"] = float(sp.sam_mean_spectra(
        torch.from_numpy(mean_a).view(1, -1, 1, 1), torch.from_numpy(mean_b).view(1, -1, 1, 1),
        degrees=True))
    tv_real = real.tv[r_rows].mean()
    out["TV_rel_diff"] = float(abs(cand.tv[c_rows].mean() - tv_real) / tv_real)
    if cand.fits and real.fits:
        from scipy.stats import wasserstein_distance

        fa, fb = (np.concatenate([v.fits[i] for i in rows])
                  for v, rows in ((cand, c_rows), (real, r_rows)))
        for j, name in enumerate(cand.fit_names):
            out[f"W1_{name}"] = float(wasserstein_distance(fa[:, j], fb[:, j]))
    return out


def _mean_of_dicts(dicts: list[dict[str, float]]) -> dict[str, float]:
    return {k: float(np.mean([d[k] for d in dicts])) for k in dicts[0]}


# --------------------------------------------------------------------------------------------
# Detectability: classifier two-sample test
# --------------------------------------------------------------------------------------------
def _group_ids(groups: Mapping | None, name: str, n: int) -> np.ndarray:
    """Source-image ids of a real set (``groups[name]``), else one group per image."""
    if groups is not None and groups.get(name) is not None:
        ids = np.asarray(groups[name]).astype(str)
        if ids.shape != (n,):
            raise ValueError(f"groups[{name!r}] must hold one id per image ({n}), got shape "
                             f"{ids.shape}")
        return ids
    return np.array([f"{name}/{i}" for i in range(n)])


def _halves_by_group(groups: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """0/1 per image: groups in random order, each added to the half with fewer images."""
    ids, sizes = np.unique(groups, return_counts=True)
    half = {}
    total = [0, 0]
    for j in rng.permutation(len(ids)):
        side = int(total[1] < total[0])
        half[ids[j]] = side
        total[side] += sizes[j]
    return np.array([half[g] for g in groups])


def _probe_input(images: torch.Tensor) -> torch.Tensor:
    """Images smaller than the probe can take, enlarged (nearest neighbour) to its minimum."""
    if min(images.shape[-2:]) >= _PROBE_MIN_SIDE:
        return images
    return F.interpolate(images, size=(_PROBE_MIN_SIDE,) * 2, mode="nearest")


def _detectability(synthetic, real_train, real_heldout, groups: Mapping | None,
                   cfg: MetricsConfig, seed: int, device: str) -> dict:
    """The detectability row: probe AUROC real vs synthetic, floor real half vs real half."""
    sets = {name: s for name, s in zip(SET_NAMES, (synthetic, real_train, real_heldout),
                                         strict=True)}
    real = _probe_input(torch.cat([_take(sets[k], range(_length(sets[k])))[0]
                                   for k in SET_NAMES[1:]]))
    real_groups = np.concatenate([_group_ids(groups, k, _length(sets[k]))
                                  for k in SET_NAMES[1:]])
    rng = np.random.default_rng(seed)
    n_syn = _length(synthetic)
    n = min(n_syn, len(real))
    syn_idx = np.sort(rng.choice(n_syn, n, replace=False))
    real_idx = np.sort(rng.choice(len(real), n, replace=False))
    images = torch.cat([real[real_idx], _probe_input(_take(synthetic, syn_idx)[0])])
    labels = np.r_[np.zeros(n), np.ones(n)]
    probe = dict(n_splits=cfg.probe_folds, epochs=cfg.probe_epochs, width=cfg.probe_width,
                 n_boot=cfg.n_boot, seed=seed, device=device)
    res = grouped_cv_auroc(images, labels, np.r_[real_groups[real_idx],
                                                 [f"synthetic/{i}" for i in syn_idx]], **probe)
    halves = _halves_by_group(real_groups, rng)
    floor = float("nan")
    if min(len(np.unique(real_groups[halves == h])) for h in (0, 1)) >= 2:
        floor = grouped_cv_auroc(real, halves, real_groups, **probe).auroc
    given = [k for k in SET_NAMES[1:] if groups is not None and groups.get(k) is not None]
    grouping = ("real images grouped by source image (groups=)" if len(given) == 2 else
                f"{given[0]} images grouped by source image (groups=), the others each their "
                "own group" if given else
                "each real image its own group (no groups= given: crops of one source image "
                "may fall in different folds)")
    note = (f"classifier two-sample test: out-of-fold AUROC of a SmallCNN (width "
            f"{cfg.probe_width}, {cfg.probe_epochs} epochs, {res.n_splits}-fold grouped CV) "
            f"telling {n} real (train + held-out) from {n} synthetic images, 0.5 = "
            f"indistinguishable; {grouping}; floor: the same probe between two halves of all "
            f"{len(real)} real images split by group; CI: cluster bootstrap over groups "
            f"(source images; each synthetic image its own), not probe or generator seeds")
    return dict(metric="detectability_AUROC", value=res.auroc, floor=floor, ci_low=res.ci_low,
                ci_high=res.ci_high, n_synthetic=n, n_real=n, kind="detectability", note=note)


# --------------------------------------------------------------------------------------------
# The protocol
# --------------------------------------------------------------------------------------------
def _check_inputs(cfg: MetricsConfig, sizes: dict[str, int], masks,
                  groups) -> dict[str, np.ndarray]:
    """Checks of the sets' sizes, ``cfg`` and the keys of ``masks`` and ``groups``; the masks
    as arrays."""
    for name, n in sizes.items():
        if n < 2:
            raise ValueError(f"{name} has {n} images; the metrics need at least 2")
    minimum = dict(n_repeats=1, n_boot=0, n_boot_set=0, probe_epochs=0, probe_folds=2,
                   probe_width=1)
    for key, low in minimum.items():
        if getattr(cfg, key) < low:
            raise ValueError(f"MetricsConfig.{key} must be >= {low}, got {getattr(cfg, key)}")
    unknown = set(groups or {}) - set(SET_NAMES[1:])
    if unknown:
        raise ValueError(f"groups has unknown keys {sorted(unknown)}; expected {SET_NAMES[1:]}")
    out = {}
    for name, m in (masks or {}).items():
        if name not in sizes:
            raise ValueError(f"masks has an unknown key {name!r}; expected {SET_NAMES}")
        if m is None:
            continue
        m = np.asarray(m)
        if len(m) != sizes[name]:
            raise ValueError(f"masks[{name!r}] holds {len(m)} masks for {sizes[name]} images")
        out[name] = m
    return out


def evaluate_generator(synthetic, real_train, real_heldout, *, cfg: MetricsConfig | None = None,
                       extractor=None, masks: Mapping | None = None,
                       groups: Mapping | None = None, seed: int = 0,
                       to_reflectance: Callable | None = None,
                       device: str = "auto") -> pd.DataFrame:
    """Evaluate a synthetic set against held-out real images, each score beside its floor.

    ``cfg``: a :class:`~hsilib.config.MetricsConfig` (default: its ``full`` values); its ``k``
    is lowered to one less than the smaller of ``n`` (below) and the held-out count when a set is
    that small (the note says so). ``extractor``: a feature module (default
    :class:`~hsilib.metrics.distribution.Inception16` at ``cfg.feature_size`` with the local FID
    checkpoint ``cfg.inception_weights``, or ``HSILIB_FID_WEIGHTS`` when None; without either
    the score is ``FD_rand``). Every set needs at least 2 images.

    ``masks``: optional dict with keys ``synthetic``, ``real_train``, ``real_heldout`` of lesion
    masks ``N x [1 x] H x W`` (1 = lesion; e.g. ``Crops.masks``), used instead of the masks that
    dataset items may carry; images without a (non-empty) mask get
    :func:`~hsilib.metrics.distribution.lesion_masks`. Out-of-field pixels (near-zero spectra,
    :func:`~hsilib.metrics.distribution.field_masks`) are neither lesion nor skin.
    ``groups``: optional dict with keys ``real_train``, ``real_heldout`` of one source-image id
    per image, for the detectability probe's folds and interval; without it each real image is
    its own group (the note says so). ``to_reflectance``: maps normalised ``N x B x H x W``
    tensors back to reflectance (e.g. ``partial(normaliser.inverse, value_range="unit",
    band_axis=1)``); the spectral-shape rows (``SAM_rad``, ``SID``, ``SAM_mean_spectra_deg``)
    are computed on its output, and the chromophore distances (``W1_*``) are added. Without it
    those rows use the given values and their notes say so. Features and the probe run on
    ``device`` ("auto": CUDA if available); everything else runs on the CPU.

    Value and floor: with ``n = min(n_synthetic, n_real_train)``, ``cfg.n_repeats`` random
    subsamples of ``n`` synthetic and of ``n`` training images (the smaller set whole) are each
    compared with all held-out images; value (synthetic) and floor (training) are the means over
    the repeats. ``n_synthetic`` in the table is ``n``.

    Intervals (``ci_low``, ``ci_high``): 95 % percentile bootstrap of the value. Each resample
    draws the synthetic set and the held-out set with replacement (the repeats' subsamples are
    taken at the same positions of the resampled synthetic set) and recomputes the mean over
    repeats. The means of per-image terms resample only the images they average: synthetic
    images for precision, density and the paired rows, held-out images for recall and coverage
    (``cfg.n_boot`` resamples); the set-level rows (Frechet distances, KID, spectral FD,
    mean-spectrum angle, TV, chromophore distances) resample both sets (``cfg.n_boot_set``
    resamples), as do the memorisation rows (``cfg.n_boot``); detectability has the probe's
    cluster bootstrap over groups. No interval covers generator or probe seeds. A resample
    repeats some images, which the set-level distances read as lost diversity: their intervals
    lean upwards, and for a near-perfect set the value can sit at or just below ``ci_low``. Read
    an interval as the spread of the value, and the gap to the floor for the verdict.

    Detectability (``detectability_AUROC``, skipped when ``cfg.probe_epochs == 0``):
    :func:`~hsilib.metrics.probe.grouped_cv_auroc` on all real images (train + held-out) vs as
    many synthetic images (the larger side subsampled at random), with ``cfg.probe_folds``,
    ``cfg.probe_epochs``, ``cfg.probe_width`` (images under 16 px enlarged to 16, nearest
    neighbour); floor: the same probe between two halves of the real images split by group.

    Returns a DataFrame with columns :data:`COLUMNS`, one row per metric.
    """
    from threadpoolctl import threadpool_limits

    # The scores are many small matrix operations: one BLAS thread is as fast for them, and
    # threads that wait on each other stall when other processes hold the cores.
    with threadpool_limits(limits=1, user_api="blas"):
        return _evaluate(synthetic, real_train, real_heldout, cfg=cfg or MetricsConfig(),
                         extractor=extractor, masks=masks, groups=groups, seed=seed,
                         to_reflectance=to_reflectance, device=device)


def _evaluate(synthetic, real_train, real_heldout, *, cfg: MetricsConfig, extractor,
              masks: Mapping | None, groups: Mapping | None, seed: int,
              to_reflectance: Callable | None, device: str) -> pd.DataFrame:
    """The body of :func:`evaluate_generator`."""
    sets = dict(zip(SET_NAMES, (synthetic, real_train, real_heldout), strict=True))
    sizes = {name: _length(s) for name, s in sets.items()}
    masks = _check_inputs(cfg, sizes, masks, groups)
    if extractor is None:
        extractor = dist.Inception16(feature_size=cfg.feature_size,
                                     weights=cfg.inception_weights, seed=seed)
    extractor = extractor.to(pick_device(device)).eval()
    n_syn, n_train, n_held = sizes.values()
    n, repeats = min(n_syn, n_train), cfg.n_repeats
    k = min(cfg.k, n - 1, n_held - 1)  # k-NN needs more than k images per set
    rng = np.random.default_rng(seed)

    def subsample(total: int) -> list[np.ndarray]:
        return [np.sort(rng.choice(total, n, replace=False)) if total > n else np.arange(total)
                for _ in range(repeats)]

    syn_pos, train_pos = subsample(n_syn), subsample(n_train)
    train_keep = np.unique(np.concatenate(train_pos))

    def summarise(name: str, keep, used: int) -> _Summary:
        # per image: a share of the pixel budgets, so that the ``used`` images of one comparison
        # hold about n_pixels spectra per region and n_pixels_physics for the chromophore fits
        # (the same for value and floor: distances between samples depend on their sizes)
        return _summarise(sets[name], masks.get(name), name, extractor, to_reflectance,
                          batch_size=cfg.batch_size, keep=keep,
                          pixels_per_image=math.ceil(cfg.n_pixels / used),
                          physics_per_image=(math.ceil(cfg.n_pixels_physics / used)
                                             if to_reflectance is not None else 0), seed=seed)

    with torch.no_grad():
        syn = summarise("synthetic", None, n)
        train = summarise("real_train", train_keep, n)
        held = summarise("real_heldout", None, n_held)
    fd_name = getattr(extractor, "score_name", "FD")
    train_rows = [train.rows(p) for p in train_pos]
    held_rows = np.arange(n_held)
    set_kw = dict(fd_name=fd_name, seed=seed)

    # values and floors: means over the repeats
    values = _mean_of_dicts([_set_scores(syn, p, held, held_rows, **set_kw) for p in syn_pos])
    floors = _mean_of_dicts([_set_scores(train, r, held, held_rows, **set_kw)
                             for r in train_rows])
    # per-image terms: per synthetic (or training) image, or per held-out image and repeat
    per_syn, per_train, per_held, per_held_floor = {}, {}, {}, {}
    prec, _ = dist.precision_recall(held.feats, syn.feats, k=k)
    dens, _ = dist.density_coverage(held.feats, syn.feats, k=k)
    per_syn.update(precision=prec.per_sample, density=dens.per_sample)
    prec, _ = dist.precision_recall(held.feats, train.feats, k=k)
    dens, _ = dist.density_coverage(held.feats, train.feats, k=k)
    per_train.update(precision=prec.per_sample, density=dens.per_sample)
    for out, summary, rows_list in ((per_held, syn, syn_pos), (per_held_floor, train, train_rows)):
        terms = [(dist.precision_recall(held.feats, summary.feats[r], k=k)[1].per_sample,
                  dist.density_coverage(held.feats, summary.feats[r], k=k)[1].per_sample)
                 for r in rows_list]
        out.update(recall=np.stack([t[0] for t in terms]),
                   coverage=np.stack([t[1] for t in terms]))
    nn_syn, _ = _nearest(syn.small, held.small)
    nn_train, _ = _nearest(train.small, held.small)
    hm = masks.get("real_heldout")
    per_syn.update(_paired_terms(synthetic, syn.index, masks.get("synthetic"), "synthetic",
                                 real_heldout, hm, nn_syn, cfg.batch_size, to_reflectance))
    per_train.update(_paired_terms(real_train, train.index, masks.get("real_train"),
                                   "real_train", real_heldout, hm, nn_train, cfg.batch_size,
                                   to_reflectance))
    stat = {**_PAIRED, "precision": np.mean, "density": np.mean}
    for metric, terms in per_syn.items():
        values[metric] = float(np.mean([stat[metric](terms[p]) for p in syn_pos]))
        floors[metric] = float(np.mean([stat[metric](per_train[metric][r]) for r in train_rows]))
    for metric, terms in per_held.items():
        values[metric] = float(terms.mean())
        floors[metric] = float(per_held_floor[metric].mean())

    # bootstrap resamples of the synthetic and held-out sets (positions, with replacement)
    boot = np.random.default_rng(seed + 1)
    syn_boot = bootstrap(n_syn, cfg.n_boot, boot)
    held_boot = bootstrap(n_held, cfg.n_boot, boot)
    intervals = {}
    for metric, terms in per_syn.items():
        f = stat[metric]
        intervals[metric] = percentile_interval(np.mean(
            [f(terms[syn_boot[:, p]], axis=1) for p in syn_pos], axis=0))
    for metric, terms in per_held.items():
        intervals[metric] = percentile_interval(terms[:, held_boot].mean(axis=(0, 2)))
    set_boot = [_mean_of_dicts([_set_scores(syn, sb[p], held, hb, **set_kw) for p in syn_pos])
                for sb, hb in zip(bootstrap(n_syn, cfg.n_boot_set, boot),
                                  bootstrap(n_held, cfg.n_boot_set, boot), strict=True)]
    for metric in (set_boot[0] if set_boot else {}):
        intervals[metric] = percentile_interval([b[metric] for b in set_boot])

    notes = _notes(fd_name, getattr(extractor, "feature_size", None), k, cfg.k,
                   to_reflectance is not None)
    repeat_note = (f"value and floor: mean over {repeats} random subsample"
                   f"{'s' if repeats > 1 else ''} of {n} synthetic / {n} training images "
                   f"(of {n_syn} / {n_train}) vs all {n_held} held-out")
    rows = []
    for metric, value in values.items():
        kind, ci_note = _describe(metric, fd_name, cfg)
        ci = intervals.get(metric, (float("nan"), float("nan")))
        rows.append(dict(metric=metric, value=value, floor=floors[metric], ci_low=ci[0],
                         ci_high=ci[1], n_synthetic=n, n_real=n_held, kind=kind,
                         note=f"{notes[metric]}; {repeat_note}; {ci_note}"))
    rows += _memorisation_rows(syn, train, held, syn_pos, syn_boot, held_boot,
                               f"{repeat_note}; {_ci_note('synthetic and held-out', cfg.n_boot)}")
    if cfg.probe_epochs > 0:
        rows.append(_detectability(synthetic, real_train, real_heldout, groups, cfg, seed,
                                   device))
    order = {kind: i for i, kind in enumerate(_KINDS)}
    rows.sort(key=lambda r: order[r["kind"]])
    return pd.DataFrame(rows, columns=COLUMNS)


#: Order of the row kinds in the table.
_KINDS = ("distribution", "spectral", "physics", "paired to nearest real", "memorisation",
          "detectability")


def _ci_note(images: str, n_boot: int) -> str:
    return (f"CI: 95% bootstrap over {images} images ({n_boot} resamples), not generator "
            "seeds")


def _describe(metric: str, fd_name: str, cfg: MetricsConfig) -> tuple[str, str]:
    """(kind, what the interval resamples) of a metric row."""
    both = _ci_note("synthetic and held-out", cfg.n_boot_set)
    if metric in _PAIRED:
        return "paired to nearest real", _ci_note("synthetic", cfg.n_boot) + (
            "; held-out fixed")
    if metric in ("precision", "density"):
        return "distribution", _ci_note("synthetic", cfg.n_boot) + (
            "; the held-out manifold fixed")
    if metric in ("recall", "coverage"):
        return "distribution", _ci_note("held-out", cfg.n_boot) + (
            "; the synthetic manifolds fixed")
    if metric.startswith("W1_"):
        return "physics", both
    if metric in (fd_name, "KID"):
        return "distribution", both
    return "spectral", both


def _notes(fd_name: str, size, k: int, k_cfg: int, reflectance: bool) -> dict[str, str]:
    on = ("on reflectance" if reflectance else
          "on the given (normalised) values: no to_reflectance given")
    k_note = f"k = {k}" + (f" (lowered from {k_cfg}: too few images)" if k < k_cfg else "")
    pair = "each image vs its nearest held-out image (L2, 16x16 downsampled)"
    notes = {fd_name: (f"Frechet distance of {size}-px Inception16 features" if size else
                       "Frechet distance of the extractor's features")
             + (" (random weights: not an FID)" if fd_name == "FD_rand" else ""),
             "KID": "unbiased MMD^2, cubic kernel, subsets of <= 100",
             **dict.fromkeys(("precision", "recall", "density", "coverage"), k_note),
             "FD_spectral_lesion": "Frechet distance of sampled lesion-pixel spectra",
             "FD_spectral_skin": "Frechet distance of sampled skin-pixel spectra (in-field)",
             "SAM_mean_spectra_deg": f"angle between the sets' mean in-field spectra, {on}",
             "TV_rel_diff": "|mean TV - held-out mean TV| / held-out mean TV",
             "SSIM": pair, "PSNR": f"{pair}; median over images",
             "SAM_rad": f"{pair}; mean spectral angle over in-field pixels, {on}",
             "SID": f"{pair}; mean spectral information divergence over in-field pixels, {on}"}
    for p in physics.BOUNDS:
        scale = "log10" if physics.BOUNDS[p][2] == "log" else "linear"
        notes[f"W1_{p}"] = (f"Wasserstein-1 ({scale}) of fitted {p} over sampled in-field "
                            "reflectance pixels")
    return notes


def _memorisation_rows(syn: _Summary, train: _Summary, held: _Summary, syn_pos, syn_boot,
                       held_boot, tail: str) -> list[dict]:
    """Nearest-training-image distances (16x16 L2, minimum over the 8 flips and rotations of
    each training image) of synthetic vs held-out real images; the intervals resample both."""
    d_syn = dihedral_nn_distances(syn.small, train.small_all)
    d_held = dihedral_nn_distances(held.small, train.small_all)
    med_held, p5 = np.median(d_held), np.quantile(d_held, 0.05)
    ratio = np.mean([np.median(d_syn[p]) for p in syn_pos]) / med_held
    closer = np.mean([(d_syn[p] < p5).mean() for p in syn_pos])
    med_syn_b = np.mean([np.median(d_syn[syn_boot[:, p]], axis=1) for p in syn_pos], axis=0)
    p5_b = np.quantile(d_held[held_boot], 0.05, axis=1)
    closer_b = np.mean([(d_syn[syn_boot[:, p]] < p5_b[:, None]).mean(1) for p in syn_pos],
                       axis=0)
    lo_r, hi_r = percentile_interval(med_syn_b / np.median(d_held[held_boot], axis=1))
    lo_c, hi_c = percentile_interval(closer_b)
    common = dict(n_synthetic=len(syn_pos[0]), n_real=len(d_held), kind="memorisation")
    where = ("nearest training image over all training images and their 8 flips/rotations "
             "(L2, 16x16 downsampled)")
    tail = f"{tail}; floor: its value for unseen real images"
    return [
        dict(metric="NN_train_dist_ratio", value=float(ratio), floor=1.0, ci_low=lo_r,
             ci_high=hi_r, note=f"median distance to the {where}: synthetic / held-out (<< 1: "
             f"copies of training images); {tail}", **common),
        dict(metric="frac_closer_than_heldout_p5", value=float(closer), floor=0.05,
             ci_low=lo_c, ci_high=hi_c, note=f"share of synthetic images nearer to the {where} "
             f"than 95% of held-out images are; {tail}", **common),
    ]


def side_by_side(tables: Mapping[str, pd.DataFrame]) -> pd.DataFrame:
    """Tables of :func:`evaluate_generator` for several runs, side by side: one row per metric
    (``metric``, ``kind``), one column of values per run (named by the keys of ``tables``) and
    the first run's real-vs-real ``floor``. Metrics missing from a later run are NaN."""
    first = next(iter(tables.values()))
    out = first[["metric", "kind"]].copy()
    for name, t in tables.items():
        out[name] = t.set_index("metric").value.reindex(first.metric).to_numpy()
    out["floor"] = first.floor.to_numpy()
    return out


# --------------------------------------------------------------------------------------------
# The study's generator-results table
# --------------------------------------------------------------------------------------------
#: One row per (notebook, family, variant, class, seed, step, metric): the keys of a result.
RESULT_KEYS = ["notebook", "family", "variant", "class", "seed", "step", "metric"]
RESULT_COLUMNS = [*RESULT_KEYS, "value", "floor", "ci_low", "ci_high", "n_synthetic", "n_real",
                  "wall_s"]


def record_generator_metrics(path: str | Path, table: pd.DataFrame, *, notebook: str,
                             family: str, variant: str, cls: str, seed: int, step: int,
                             wall_s: float = float("nan")) -> pd.DataFrame:
    """Add one evaluation to the generator-results table at ``path`` and return the table.

    ``table`` is what :func:`evaluate_generator` returned for one synthetic set; the keyword
    arguments say which set it was (``variant`` names the configuration within a family, e.g.
    ``"baseline"`` or ``"spectral"``; ``step`` the generator's training step; ``wall_s`` the
    seconds its training took). Rows with the same keys are replaced, so a rerun updates
    instead of duplicating. ``ci_low``/``ci_high`` come from ``table`` where it has them and
    are empty otherwise. The file is rewritten atomically. Every generator notebook writes here
    and notebook 08 reads only this table (and the classifier results).
    """
    path = Path(path)
    rows = table.reindex(columns=["metric", "value", "floor", "ci_low", "ci_high",
                                  "n_synthetic", "n_real"]).assign(
        notebook=str(notebook), family=str(family), variant=str(variant), seed=int(seed),
        step=int(step), wall_s=float(wall_s), **{"class": str(cls)})[RESULT_COLUMNS]
    if rows.metric.duplicated().any():
        raise ValueError("the evaluation table repeats a metric; one row per metric expected")
    old = read_generator_metrics(path) if path.exists() else None
    if old is not None and len(old):
        keys = pd.MultiIndex.from_frame(rows[RESULT_KEYS].astype(str))
        stale = pd.MultiIndex.from_frame(old[RESULT_KEYS].astype(str)).isin(keys)
        rows = pd.concat([old[~stale], rows], ignore_index=True)
    with atomic_path(path) as tmp:
        rows.to_csv(tmp, index=False)
    return rows


def read_generator_metrics(path: str | Path) -> pd.DataFrame:
    """The generator-results table at ``path``, with its columns checked (key columns read as
    text, so notebook "03" stays "03" and a rerun replaces its rows instead of adding them)."""
    table = pd.read_csv(path, dtype={k: str for k in ("notebook", "family", "variant", "class")})
    missing = [c for c in RESULT_COLUMNS if c not in table.columns]
    if missing:
        raise ValueError(f"{path} is not a generator-results table: no columns {missing}")
    return table[RESULT_COLUMNS]
