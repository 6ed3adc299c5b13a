"""The generator evaluation protocol: one call, one tidy table, every score beside its floor.

:func:`evaluate_generator` compares a synthetic set with a *held-out* real set (never with the
generator's training images) and repeats every measurement for real training images against the
same held-out set, with the same number of images: the real-vs-real **floor**, the value a
perfect generator would reach with this many images. Paired metrics (SSIM, PSNR, SAM) pair each
synthetic image with its nearest held-out real image and say so. A memorisation check compares
how close synthetic images come to the training set with how close unseen real images come.
These fix flaw 4 of the original study (``docs/original_study.md``). :func:`side_by_side`
puts the tables of several runs (e.g. with and without a loss term) in one.

Sets are tensors or arrays ``N x B x H x W`` in [0, 1] (normalised), or indexable datasets
yielding dicts with ``image`` (and ``mask``) such as :class:`hsilib.data.datasets.CropDataset`.
Each set is read once in batches for the set-level statistics (memory grows with features,
not images), and the synthetic and real-training sets once more for the paired metrics.

Introduced in notebook 03.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
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

COLUMNS = ["metric", "value", "floor", "ci_low", "ci_high", "n_synthetic", "n_real", "kind",
           "note"]
_SMALL = 16  # side of the downsampled images used for nearest-neighbour search


# --------------------------------------------------------------------------------------------
# One pass over a set
# --------------------------------------------------------------------------------------------
def _length(source) -> int:
    if isinstance(source, (torch.Tensor, np.ndarray)):
        return sp.as_images(source).shape[0]
    if hasattr(source, "__len__") and hasattr(source, "__getitem__"):
        return len(source)
    raise TypeError("sets must be tensors/arrays N x B x H x W or indexable datasets, got "
                    f"{type(source).__name__}")


def _take(source, idx) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Images (and masks, when the items carry them) at ``idx`` of a tensor or dataset."""
    idx = [int(i) for i in idx]
    if isinstance(source, (torch.Tensor, np.ndarray)):
        return sp.as_images(source)[idx].float(), None
    items = [source[i] for i in idx]
    if isinstance(items[0], dict):
        images = torch.stack([torch.as_tensor(it["image"]) for it in items]).float()
        masks = (torch.stack([torch.as_tensor(it["mask"]).reshape(images.shape[-2:])
                              for it in items]) if "mask" in items[0] else None)
        return images, masks
    return torch.stack([torch.as_tensor(it) for it in items]).float(), None


def _batches(source, masks, batch_size: int):
    n = _length(source)
    for i in range(0, n, batch_size):
        idx = range(i, min(i + batch_size, n))
        images, item_masks = _take(source, idx)
        m = item_masks
        if masks is not None:
            m = torch.as_tensor(np.asarray(masks[i:i + len(idx)])).reshape(
                len(idx), *images.shape[-2:])
        m = m > 0.5 if m is not None else torch.zeros(len(idx), *images.shape[-2:], dtype=bool)
        empty = ~m.flatten(1).any(1)
        if empty.any():  # no drawn mask (e.g. synthetic images): a computed one
            m[empty] = dist.lesion_masks(images[empty])
        yield images, m


@dataclass
class _Summary:
    n: int  # images summarised below (a subset of the set when ``keep`` was given)
    feats: np.ndarray  # n x D network features
    small: np.ndarray  # n x (B * 16 * 16) downsampled images for nearest-neighbour search
    small_all: np.ndarray  # the same for every image of the set (memorisation check)
    spectra: dict  # region -> sampled per-pixel spectra
    tv: np.ndarray  # per-pixel total variation of each image


def _summarise(source, masks, extractor, batch_size, seed, pixels_per_image,
               keep: np.ndarray | None = None) -> _Summary:
    """One pass: downsampled copies of every image; features, spectra and TV of the images
    in ``keep`` (all when None), so that unused training images cost no network pass."""
    rng = np.random.default_rng(seed)
    feats, small_all, tv = [], [], []
    spectra = {"lesion": [], "skin": []}
    device = next(extractor.parameters(), torch.zeros(())).device
    start = 0
    for images, m in _batches(source, masks, batch_size):
        small_all.append(F.adaptive_avg_pool2d(images, _SMALL).flatten(1).double().numpy())
        rows = np.arange(start, start + len(images))
        start += len(images)
        sel = torch.from_numpy(np.isin(rows, keep) if keep is not None else rows >= 0)
        if not sel.any():
            continue
        images, m = images[sel], m[sel]
        feats.append(extractor(images.to(device)).double().cpu().numpy())
        tv.append(sp.total_variation(images, per_pixel=True, reduction="none").numpy())
        pix = images.permute(0, 2, 3, 1)
        for region, in_region in (("lesion", m), ("skin", ~m)):
            px = pix[in_region].double().numpy()
            n_keep = min(len(px), pixels_per_image * len(images))
            spectra[region].append(px[rng.choice(len(px), n_keep, replace=False)])
    small_all = np.concatenate(small_all)
    idx = np.arange(len(small_all)) if keep is None else np.sort(keep)
    return _Summary(len(idx), np.concatenate(feats), small_all[idx], small_all,
                    {k: np.concatenate(v) for k, v in spectra.items()}, np.concatenate(tv))


# --------------------------------------------------------------------------------------------
# Scores of one (candidate, held-out) pair of summaries
# --------------------------------------------------------------------------------------------
def _bootstrap_ci(terms: np.ndarray, stat, n_boot: int, seed: int,
                  level: float = 0.95) -> tuple[float, float]:
    """Percentile bootstrap interval of ``stat(terms)`` over resamples of the terms."""
    terms = np.asarray(terms, float)
    if n_boot < 1 or len(terms) < 2:
        return float("nan"), float("nan")
    idx = np.random.default_rng(seed).integers(0, len(terms), (n_boot, len(terms)))
    stats = np.array([stat(terms[i]) for i in idx])
    lo, hi = np.nanquantile(stats, [(1 - level) / 2, (1 + level) / 2])
    return float(lo), float(hi)


def _set_scores(cand: _Summary, real: _Summary, *, name: str, k: int, n_pixels: int,
                seed: int, terms: dict | None = None) -> dict[str, float]:
    """Set-level scores; the per-sample terms of the k-NN metrics go into ``terms``."""
    rng = np.random.default_rng(seed)
    out = {name: dist.frechet_distance(real.feats, cand.feats).value,
           "KID": dist.kid(real.feats, cand.feats, n_subsets=50, subset_size=100,
                           seed=seed).value}
    for score in (*dist.precision_recall(real.feats, cand.feats, k=k),
                  *dist.density_coverage(real.feats, cand.feats, k=k)):
        out[score.metric] = score.value
        if terms is not None:
            terms[score.metric] = (score.per_sample, np.mean)
    for region in ("lesion", "skin"):
        a, b = (v.spectra[region] for v in (real, cand))
        a = a[rng.choice(len(a), min(len(a), n_pixels), replace=False)]
        b = b[rng.choice(len(b), min(len(b), n_pixels), replace=False)]
        out[f"FD_spectral_{region}"] = (dist.frechet_distance(a, b).value
                                        if min(len(a), len(b)) > 16 else float("nan"))
    mean_a = np.concatenate(list(real.spectra.values())).mean(0)
    mean_b = np.concatenate(list(cand.spectra.values())).mean(0)
    out["SAM_mean_spectra_deg"] = float(sp.sam_mean_spectra(
        torch.from_numpy(mean_a).view(1, -1, 1, 1), torch.from_numpy(mean_b).view(1, -1, 1, 1),
        degrees=True))
    out["TV_rel_diff"] = float(abs(cand.tv.mean() - real.tv.mean()) / real.tv.mean())
    return out


def _nearest(query: np.ndarray, ref: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    d = torch.cdist(torch.from_numpy(query), torch.from_numpy(ref))
    dmin, idx = d.min(1)
    return idx.numpy(), dmin.numpy()


def _paired_scores(source, idx_in_source, heldout, nn_idx, batch_size,
                   terms: dict | None = None) -> dict[str, float]:
    """SSIM, PSNR and SAM of ``source[idx_in_source]`` against their nearest held-out images
    (the per-image values go into ``terms``)."""
    vals = {"SSIM": [], "PSNR": [], "SAM_rad": []}
    for i in range(0, len(idx_in_source), batch_size):
        a, _ = _take(source, idx_in_source[i:i + batch_size])
        b, _ = _take(heldout, nn_idx[i:i + batch_size])
        vals["SSIM"].append(sp.ssim(a, b, data_range=1.0, reduction="none"))
        vals["PSNR"].append(sp.psnr(a, b, data_range=1.0, reduction="none"))
        vals["SAM_rad"].append(sp.sam(a, b, reduction="none"))
    # PSNR of an exact copy is +inf: the median keeps the summary finite and robust
    per_image = {k: torch.cat(v).double().numpy() for k, v in vals.items()}
    stats = {k: (np.nanmedian if k == "PSNR" else np.mean) for k in per_image}
    if terms is not None:
        terms.update({k: (v, stats[k]) for k, v in per_image.items()})
    return {k: float(stats[k](v)) for k, v in per_image.items()}


def _physics_scores(sources, to_reflectance, n_pixels, seed) -> tuple[pd.DataFrame, ...]:
    fits = []
    for source in sources:
        rng = np.random.default_rng(seed)
        n = _length(source)
        idx = np.sort(rng.choice(n, min(n, 50), replace=False))
        images, _ = _take(source, idx)
        cube = np.asarray(to_reflectance(images.numpy()), np.float32)
        spectra = physics.sample_spectra(cube, n_pixels=n_pixels, seed=seed)
        fits.append(physics.invert_spectra(spectra))
    return tuple(fits)


# --------------------------------------------------------------------------------------------
# The protocol
# --------------------------------------------------------------------------------------------
def evaluate_generator(synthetic, real_train, real_heldout, *, cfg: MetricsConfig | None = None,
                       extractor=None, masks=None, seed: int = 0,
                       to_reflectance: Callable | None = None,
                       device: str = "auto") -> pd.DataFrame:
    """Evaluate a synthetic set against held-out real images, each score beside its floor.

    ``cfg``: a :class:`~hsilib.config.MetricsConfig` (default: its ``full`` values); its ``k``
    is lowered to one less than the smallest set when a set is that small (the note says so).
    ``extractor``: a feature module (default :class:`~hsilib.metrics.distribution.Inception16`
    at ``cfg.feature_size`` with the local FID checkpoint ``cfg.inception_weights``, or
    ``HSILIB_FID_WEIGHTS`` when None; without either the score is ``FD_rand``). Every set needs
    at least 2 images.
    ``masks``: optional dict with keys ``synthetic``, ``real_train``, ``real_heldout`` of lesion
    masks ``N x [1 x] H x W``; otherwise masks come with dataset items, and images without one get
    :func:`~hsilib.metrics.distribution.lesion_masks`. ``to_reflectance``: maps normalised
    ``N x B x H x W`` images back to reflectance (e.g. ``lambda x: normaliser.inverse(x,
    band_axis=1)``); with it the chromophore distances are added. Features are computed on
    ``device`` ("auto": CUDA if available); everything else runs on the CPU.

    Floors: a random subset of the training images, as many as there are synthetic images,
    measured against the same held-out set. Intervals (``ci_low``, ``ci_high``): 95% percentile
    bootstrap (``cfg.n_boot`` resamples) of the metrics that are means (or medians) of
    per-sample terms, over the samples they average with the other set held fixed: synthetic
    images for precision, density, the paired and the memorisation metrics, held-out images for
    recall and coverage. They cover the resampling of those images only, not generator seeds;
    set-level metrics (Frechet distances, KID, spectral and physics rows) have none (NaN).
    Returns a DataFrame with columns :data:`COLUMNS`.
    """
    cfg = cfg or MetricsConfig()
    batch_size, n_pixels = cfg.batch_size, cfg.n_pixels
    if extractor is None:
        extractor = dist.Inception16(feature_size=cfg.feature_size,
                                     weights=cfg.inception_weights, seed=seed)
    extractor = extractor.to(pick_device(device)).eval()
    masks = masks or {}
    ppi = max(n_pixels // 50, 16)  # pixels kept per image and region in the first pass
    n_syn, n_train = _length(synthetic), _length(real_train)
    sizes = {"synthetic": n_syn, "real_train": n_train, "real_heldout": _length(real_heldout)}
    for name, n in sizes.items():
        if n < 2:
            raise ValueError(f"{name} has {n} images; the metrics need at least 2")
    k = min(cfg.k, *(n - 1 for n in sizes.values()))  # k-NN needs more than k images per set
    # the floor's training images: as many as there are synthetic images (all if fewer)
    train_idx = np.sort(np.random.default_rng(seed).choice(n_train, min(n_syn, n_train),
                                                           replace=False))
    with torch.no_grad():
        syn = _summarise(synthetic, masks.get("synthetic"), extractor, batch_size, seed, ppi)
        train_sub = _summarise(real_train, masks.get("real_train"), extractor, batch_size, seed,
                               ppi, keep=train_idx)
        held = _summarise(real_heldout, masks.get("real_heldout"), extractor, batch_size, seed,
                          ppi)
    fd_name = getattr(extractor, "score_name", "FD")

    terms: dict = {}  # metric -> (per-sample terms, statistic) for the bootstrap intervals
    values = _set_scores(syn, held, name=fd_name, k=k, n_pixels=n_pixels, seed=seed,
                         terms=terms)
    floors = _set_scores(train_sub, held, name=fd_name, k=k, n_pixels=n_pixels, seed=seed)
    nn_syn, _ = _nearest(syn.small, held.small)
    nn_train, _ = _nearest(train_sub.small, held.small)
    values.update(_paired_scores(synthetic, np.arange(syn.n), real_heldout, nn_syn, batch_size,
                                 terms))
    floors.update(_paired_scores(real_train, train_idx, real_heldout, nn_train, batch_size))

    size = getattr(extractor, "feature_size", None)
    k_note = f"k = {k}" + (f" (lowered from {cfg.k}: too few images)" if k < cfg.k else "")
    notes = {fd_name: (f"Frechet distance of {size}-px Inception16 features" if size else
                       "Frechet distance of the extractor's features")
             + (" (random weights: not an FID)" if fd_name == "FD_rand" else ""),
             "KID": "unbiased MMD^2, cubic kernel, subsets of <= 100",
             **dict.fromkeys(("precision", "recall", "density", "coverage"), k_note),
             "SAM_mean_spectra_deg": "angle between mean spectra",
             "TV_rel_diff": "|mean TV - held-out mean TV| / held-out mean TV"}
    rows = []
    for metric, value in values.items():
        paired = metric in ("SSIM", "PSNR", "SAM_rad")
        kind = "paired to nearest real" if paired else (
            "spectral" if "spectral" in metric or "SAM" in metric or "TV" in metric
            else "distribution")
        note = ("each image vs its nearest held-out image (L2, 16x16 downsampled)"
                + ("; median over images" if metric == "PSNR" else "")) if paired else notes.get(
                    metric, f"{_length(synthetic)} vs {_length(real_heldout)} images")
        ci = _bootstrap_ci(*terms[metric], cfg.n_boot, seed) if metric in terms else (
            float("nan"), float("nan"))
        rows.append(dict(metric=metric, value=value, floor=floors[metric], ci_low=ci[0],
                         ci_high=ci[1], n_synthetic=syn.n, n_real=held.n, kind=kind, note=note))
    rows += _memorisation_rows(syn, train_sub, held, cfg.n_boot, seed)
    if to_reflectance is not None:
        fits = _physics_scores((synthetic, real_heldout, real_train), to_reflectance,
                               cfg.n_pixels_physics, seed)
        d_syn = physics.chromophore_distance(fits[0], fits[1])
        d_floor = physics.chromophore_distance(fits[2], fits[1])
        for (_, a), (_, b) in zip(d_syn.iterrows(), d_floor.iterrows(), strict=True):
            rows.append(dict(metric=f"W1_{a.parameter}", value=a.wasserstein,
                             floor=b.wasserstein, n_synthetic=syn.n, n_real=held.n,
                             kind="physics", note=f"Wasserstein-1 ({a.scale}) of fitted "
                             f"{a.parameter} over {a.n_a} vs {a.n_b} pixels"))
    return pd.DataFrame(rows, columns=COLUMNS)


def _memorisation_rows(syn: _Summary, train: _Summary, held: _Summary, n_boot: int,
                       seed: int) -> list[dict]:
    """Nearest-training-image distances of synthetic vs held-out real images (16x16 L2); the
    intervals resample the synthetic images (the held-out reference fixed)."""
    _, d_syn = _nearest(syn.small, train.small_all)
    _, d_held = _nearest(held.small, train.small_all)
    p5, med_held = np.quantile(d_held, 0.05), np.median(d_held)
    common = dict(n_synthetic=syn.n, n_real=held.n, kind="memorisation")
    ratio = (lambda d: np.median(d) / med_held)  # noqa: E731
    closer = (d_syn < p5).astype(float)
    lo_r, hi_r = _bootstrap_ci(d_syn, ratio, n_boot, seed)
    lo_c, hi_c = _bootstrap_ci(closer, np.mean, n_boot, seed)
    return [
        dict(metric="NN_train_dist_ratio", value=float(ratio(d_syn)), floor=1.0, ci_low=lo_r,
             ci_high=hi_r, note="median NN distance to training images: synthetic / held-out "
             "(<< 1: copies of training images)", **common),
        dict(metric="frac_closer_than_heldout_p5", value=float(closer.mean()), floor=0.05,
             ci_low=lo_c, ci_high=hi_c, note="share of synthetic images nearer to a training "
             "image than 95% of held-out images are", **common),
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
    """The generator-results table at ``path``, with its columns checked."""
    table = pd.read_csv(path)
    missing = [c for c in RESULT_COLUMNS if c not in table.columns]
    if missing:
        raise ValueError(f"{path} is not a generator-results table: no columns {missing}")
    return table[RESULT_COLUMNS]
