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
  held-out image (L2 on 16 x 16 downsampled images) and say so; with ``to_reflectance`` the
  perceptual scores MS-GMSD, MDSI and HaarPSI (:mod:`hsilib.metrics.perceptual`, piq) compare
  the CIE renderings of the same pairs. The spectral-shape rows (SAM,
  SID, mean-spectrum angle) are computed on reflectance (``to_reflectance``) over the pixels
  inside the dermoscope's field, never on min-max-normalised values.
- **One lesion rule.** The lesion and skin pixels of the spectral FD rows are found by the same
  rule in every set, synthetic, training and held-out alike: in-field pixels darker than
  Otsu's threshold (:func:`~hsilib.metrics.protocol_sets.lesion_and_skin`). It is the only rule
  that applies to a synthetic image; notebook 01's masks exist for real crops only, and mixing
  the two scored exact copies of the training crops at several times the floor.
- **Memorisation**: how close synthetic images come to the training set (the minimum over the 8
  flips and rotations of each training image, since the generators train with them) compared
  with how close unseen real images come.
- **Detectability**: a classifier two-sample test (:mod:`hsilib.metrics.probe`): the
  cross-validated AUROC of a small CNN telling real from synthetic images (0.5 =
  indistinguishable), beside the same probe between two halves of the real images.
- **Saturated k-NN rows**: precision, recall and coverage whose floor comes within
  :data:`SATURATION_GAP` of their ceiling 1 say so in their note (:func:`saturation_note`):
  with few held-out images the k-NN balls are so wide that the metric no longer separates
  generators.

These fix flaw 4 of the original study (``docs/original_study.md``). :func:`side_by_side` puts
the tables of several runs (e.g. with and without a loss term) in one;
:func:`record_generator_metrics` adds a table to a run's generator-results table
(:mod:`hsilib.metrics.generator_results`, re-exported here).

Sets are tensors or arrays ``N x B x H x W`` in [0, 1] (normalised), or indexable datasets
yielding dicts with ``image`` such as :class:`hsilib.data.datasets.CropDataset` (masks the
items carry are not read: see *One lesion rule* above).
Each set is read in batches for the per-image summaries (network features, downsampled copies,
sampled spectra; memory grows with these, not with the images), once more for the paired metrics,
and whole for the detectability probe. This module runs the protocol and writes its table; the
measurements live beside it: :mod:`hsilib.metrics.protocol_sets` (summaries, paired terms,
set-level scores), :mod:`hsilib.metrics.memorisation` (:func:`dihedral_nn_distances`, re-exported
here), :mod:`hsilib.metrics.detectability` and :mod:`hsilib.metrics.intervals`.

Introduced in notebook 03.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, MutableMapping

import numpy as np
import pandas as pd
import torch

from ..config import MetricsConfig
from ..runtime import device as pick_device
from . import distribution as dist
from . import physics
from .detectability import SET_NAMES, detectability_row
from .generator_results import (  # noqa: F401 (re-exported: the notebooks import them here)
    RESULT_COLUMNS,
    RESULT_KEYS,
    read_generator_metrics,
    record_generator_metrics,
)
from .intervals import bootstrap, percentile_interval
from .memorisation import dihedral_nn_distances, memorisation_rows  # noqa: F401 (re-exported)
from .perceptual import NOTE as PERCEPTUAL_NOTE
from .perceptual import PERCEPTUAL
from .protocol_sets import (
    PAIRED,
    Summary,
    fingerprint,
    mean_of_dicts,
    nearest,
    paired_terms,
    set_length,
    set_scores,
    summarise,
)

COLUMNS = ["metric", "value", "floor", "ci_low", "ci_high", "n_synthetic", "n_real", "kind",
           "note"]


# --------------------------------------------------------------------------------------------
# The protocol
# --------------------------------------------------------------------------------------------
def _check_inputs(cfg: MetricsConfig, sizes: dict[str, int], groups) -> None:
    """Checks of the sets' sizes, ``cfg`` and the keys of ``groups``."""
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


def evaluate_generator(synthetic, real_train, real_heldout, *, cfg: MetricsConfig | None = None,
                       extractor=None, groups: Mapping | None = None, seed: int = 0,
                       to_reflectance: Callable | None = None,
                       device: str = "auto",
                       summaries: MutableMapping | None = None) -> pd.DataFrame:
    """Evaluate a synthetic set against held-out real images, each score beside its floor.

    ``cfg``: a :class:`~hsilib.config.MetricsConfig` (default: its ``full`` values); its ``k``
    is lowered to one less than the smaller of ``n`` (below) and the held-out count when a set is
    that small (the note says so). ``extractor``: a feature module (default
    :class:`~hsilib.metrics.distribution.Inception16` at ``cfg.feature_size`` with the local FID
    checkpoint ``cfg.inception_weights``, or ``HSILIB_FID_WEIGHTS`` when None; without either
    the score is ``FD_rand``). Every set needs at least 2 images.

    Lesion and skin pixels (the spectral FD rows): one rule for all three sets,
    :func:`~hsilib.metrics.protocol_sets.lesion_and_skin` (Otsu on the in-field pixels of each
    image; out-of-field pixels, near-zero spectra, are neither lesion nor skin). Masks that
    dataset items carry are not read.
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

    ``summaries``: a mapping in which the two real sets' one-pass summaries, and the
    detectability probe's real-vs-real floor, are kept and looked up (keyed by the sets'
    content and what else they depend on), so that evaluations of several synthetic sets
    against the same real sets compute those once. The caller keeps one mapping per
    ``extractor`` and ``to_reflectance``; the numbers are those of a call without it.

    Returns a DataFrame with columns :data:`COLUMNS`, one row per metric.
    """
    from threadpoolctl import threadpool_limits

    # The scores are many small matrix operations: one BLAS thread is as fast for them, and
    # threads that wait on each other stall when other processes hold the cores.
    with threadpool_limits(limits=1, user_api="blas"):
        return _evaluate(synthetic, real_train, real_heldout, cfg=cfg or MetricsConfig(),
                         extractor=extractor, groups=groups, seed=seed,
                         to_reflectance=to_reflectance, device=device, summaries=summaries)


def protocol_extractor(cfg: MetricsConfig, seed: int) -> dist.Inception16:
    """The protocol's feature network: :class:`~hsilib.metrics.distribution.Inception16` at
    ``cfg.feature_size`` with ``cfg.inception_weights``, initialised from ``seed`` (a local
    generator: two networks of one seed are the same, so callers may build it once)."""
    return dist.Inception16(feature_size=cfg.feature_size, weights=cfg.inception_weights,
                            seed=seed)


def _summary_key(source, name: str, **kw) -> tuple | None:
    """What a real set's summary depends on besides the extractor and ``to_reflectance``: its
    name, its content (:func:`fingerprint`; None for a dataset, which is not kept) and the
    arguments of :func:`summarise`."""
    content = fingerprint(source)
    if content is None:
        return None
    keep = kw.pop("keep")
    return (name, content, None if keep is None else np.asarray(keep).tobytes(),
            tuple(sorted(kw.items())))


def _evaluate(synthetic, real_train, real_heldout, *, cfg: MetricsConfig, extractor,
              groups: Mapping | None, seed: int, to_reflectance: Callable | None, device: str,
              summaries: MutableMapping | None = None) -> pd.DataFrame:
    """The body of :func:`evaluate_generator`."""
    sets = dict(zip(SET_NAMES, (synthetic, real_train, real_heldout), strict=True))
    sizes = {name: set_length(s) for name, s in sets.items()}
    _check_inputs(cfg, sizes, groups)
    if extractor is None:
        extractor = protocol_extractor(cfg, seed)
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

    def read_set(name: str, keep, used: int) -> Summary:
        # per image: a share of the pixel budgets, so that the ``used`` images of one comparison
        # hold about n_pixels spectra per region and n_pixels_physics for the chromophore fits
        # (the same for value and floor: distances between samples depend on their sizes)
        kw = dict(batch_size=cfg.batch_size, keep=keep,
                  pixels_per_image=math.ceil(cfg.n_pixels / used),
                  physics_per_image=(math.ceil(cfg.n_pixels_physics / used)
                                     if to_reflectance is not None else 0), seed=seed)
        key = (_summary_key(sets[name], name, **kw)
               if summaries is not None and name != "synthetic" else None)
        if key is not None and key in summaries:
            return summaries[key]
        summary = summarise(sets[name], name, extractor, to_reflectance, **kw)
        if key is not None:
            summaries[key] = summary
        return summary

    with torch.no_grad():
        syn = read_set("synthetic", None, n)
        train = read_set("real_train", train_keep, n)
        held = read_set("real_heldout", None, n_held)
    fd_name = getattr(extractor, "score_name", "FD")
    train_rows = [train.rows(p) for p in train_pos]
    held_rows = np.arange(n_held)
    set_kw = dict(fd_name=fd_name, seed=seed)

    # values and floors: means over the repeats
    values = mean_of_dicts([set_scores(syn, p, held, held_rows, **set_kw) for p in syn_pos])
    floors = mean_of_dicts([set_scores(train, r, held, held_rows, **set_kw)
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
    nn_syn, _ = nearest(syn.small, held.small)
    nn_train, _ = nearest(train.small, held.small)
    per_syn.update(paired_terms(synthetic, syn.index, "synthetic", real_heldout, nn_syn,
                                cfg.batch_size, to_reflectance))
    per_train.update(paired_terms(real_train, train.index, "real_train", real_heldout,
                                  nn_train, cfg.batch_size, to_reflectance))
    stat = {**PAIRED, **PERCEPTUAL, "precision": np.mean, "density": np.mean}
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
    set_boot = [mean_of_dicts([set_scores(syn, sb[p], held, hb, **set_kw) for p in syn_pos])
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
        flag = saturation_note(metric, floors[metric], n if metric == "recall" else n_held, k)
        rows.append(dict(metric=metric, value=value, floor=floors[metric], ci_low=ci[0],
                         ci_high=ci[1], n_synthetic=n, n_real=n_held, kind=kind,
                         note=f"{notes[metric]}; {repeat_note}; {ci_note}"
                         + (f"; {flag}" if flag else "")))
    rows += memorisation_rows(syn, train, held, syn_pos, syn_boot, held_boot,
                              f"{repeat_note}; {_ci_note('synthetic and held-out', cfg.n_boot)}")
    if cfg.probe_epochs > 0:
        rows.append(detectability_row(synthetic, real_train, real_heldout, groups, cfg, seed,
                                      device, kept=summaries))
    order = {kind: i for i, kind in enumerate(_KINDS)}
    rows.sort(key=lambda r: order[r["kind"]])
    return pd.DataFrame(rows, columns=COLUMNS)


#: k-NN metrics whose ceiling is 1 (shares of images inside the other set's k-NN balls), with
#: the set their balls are built on: the held-out images (precision, coverage) or the compared
#: synthetic or training images (recall).
KNN_CEILING = {"precision": 1.0, "recall": 1.0, "coverage": 1.0}
KNN_BALLS = {"precision": "held-out", "coverage": "held-out", "recall": "compared"}
#: How close to its ceiling a real-vs-real floor may come before the row says it is saturated.
SATURATION_GAP = 0.10


def saturation_note(metric: str, floor: float, n_ball: int, k: int,
                    gap: float = SATURATION_GAP) -> str:
    """The flag of a k-NN row whose real-vs-real floor lies within ``gap`` of the metric's
    ceiling (:data:`KNN_CEILING`), else "". ``n_ball``: the images the metric's k-NN balls
    are built on (:data:`KNN_BALLS`). Such a metric cannot separate a good generator from a
    perfect one here: every ball spans the k nearest of only ``n_ball - 1`` other images, so
    the balls are wide and nearly any image lands in one (too few images for k). Density has
    no ceiling (1 is its expectation for two samples of one distribution; it can exceed 1), so
    it is not flagged."""
    ceiling = KNN_CEILING.get(metric)
    if ceiling is None or not np.isfinite(floor) or floor < ceiling - gap:
        return ""
    return (f"SATURATED: the real-vs-real floor {floor:.2f} lies within {gap:g} of the "
            f"ceiling {ceiling:g}, so this metric cannot separate a good generator from a "
            f"perfect one here (too few images for k = {k}: each k-NN ball spans the {k} "
            f"nearest of only {n_ball - 1} other {KNN_BALLS[metric]} images, "
            f"{k / (n_ball - 1):.0%} of them)")


#: Order of the row kinds in the table.
_KINDS = ("distribution", "spectral", "physics", "paired to nearest real", "memorisation",
          "detectability")


def _ci_note(images: str, n_boot: int) -> str:
    return (f"CI: 95% bootstrap over {images} images ({n_boot} resamples), not generator "
            "seeds")


def _describe(metric: str, fd_name: str, cfg: MetricsConfig) -> tuple[str, str]:
    """(kind, what the interval resamples) of a metric row."""
    both = _ci_note("synthetic and held-out", cfg.n_boot_set)
    if metric in PAIRED or metric in PERCEPTUAL:
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
             "FD_spectral_lesion": ("Frechet distance of sampled lesion-pixel spectra (lesion: "
                                    "Otsu on in-field pixels, the same rule for every set)"),
             "FD_spectral_skin": "Frechet distance of sampled skin-pixel spectra (in-field)",
             "SAM_mean_spectra_deg": f"angle between the sets' mean in-field spectra, {on}",
             "TV_rel_diff": "|mean TV - held-out mean TV| / held-out mean TV",
             "SSIM": pair, "PSNR": f"{pair}; median over images",
             "SAM_rad": f"{pair}; mean spectral angle over in-field pixels, {on}",
             "SID": f"{pair}; mean spectral information divergence over in-field pixels, {on}",
             **dict.fromkeys(PERCEPTUAL, PERCEPTUAL_NOTE)}
    for p in physics.BOUNDS:
        scale = "log10" if physics.BOUNDS[p][2] == "log" else "linear"
        notes[f"W1_{p}"] = (f"Wasserstein-1 ({scale}) of fitted {p} over sampled in-field "
                            "reflectance pixels")
    return notes


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
