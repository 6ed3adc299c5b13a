"""Detectability: a classifier two-sample test of real against synthetic images.

:func:`detectability_row` trains the probe CNN of :mod:`hsilib.metrics.probe` to tell real
images (training and held-out, grouped by source image) from as many synthetic ones, and sets
its cross-validated AUROC (0.5 = indistinguishable) beside the floor: the same probe between
two halves of the real images split by group.

Used by :func:`hsilib.metrics.protocol.evaluate_generator` (notebook 03).
"""

from __future__ import annotations

from collections.abc import Mapping, MutableMapping

import numpy as np
import torch
import torch.nn.functional as F

from ..config import MetricsConfig
from .probe import grouped_cv_auroc
from .protocol_sets import fingerprint, set_length, take

SET_NAMES = ("synthetic", "real_train", "real_heldout")
PROBE_MIN_SIDE = 16  # the probe's SmallCNN halves the side four times


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
    if min(images.shape[-2:]) >= PROBE_MIN_SIDE:
        return images
    return F.interpolate(images, size=(PROBE_MIN_SIDE,) * 2, mode="nearest")


def detectability_row(synthetic, real_train, real_heldout, groups: Mapping | None,
                      cfg: MetricsConfig, seed: int, device: str,
                      kept: MutableMapping | None = None) -> dict:
    """The detectability row: probe AUROC real vs synthetic, floor real half vs real half.
    ``kept``: where the floor is kept between calls on the same real sets (it depends on the
    synthetic set only through its size, which fixes the random draws before the halves)."""
    sets = {name: s for name, s in zip(SET_NAMES, (synthetic, real_train, real_heldout),
                                         strict=True)}
    real = _probe_input(torch.cat([take(sets[k], range(set_length(sets[k])))
                                   for k in SET_NAMES[1:]]))
    real_groups = np.concatenate([_group_ids(groups, k, set_length(sets[k]))
                                  for k in SET_NAMES[1:]])
    rng = np.random.default_rng(seed)
    n_syn = set_length(synthetic)
    n = min(n_syn, len(real))
    syn_idx = np.sort(rng.choice(n_syn, n, replace=False))
    real_idx = np.sort(rng.choice(len(real), n, replace=False))
    images = torch.cat([real[real_idx], _probe_input(take(synthetic, syn_idx))])
    labels = np.r_[np.zeros(n), np.ones(n)]
    probe = dict(n_splits=cfg.probe_folds, epochs=cfg.probe_epochs, width=cfg.probe_width,
                 n_boot=cfg.n_boot, seed=seed, device=device)
    res = grouped_cv_auroc(images, labels, np.r_[real_groups[real_idx],
                                                 [f"synthetic/{i}" for i in syn_idx]], **probe)
    halves = _halves_by_group(real_groups, rng)
    prints = [fingerprint(sets[k]) for k in SET_NAMES[1:]]
    key = (None if kept is None or None in prints else
           ("detectability floor", *prints, tuple(real_groups.tolist()), n_syn,
            tuple(sorted(probe.items(), key=lambda kv: kv[0])), str(device)))
    floor = float("nan") if key is None else kept.get(key, float("nan"))
    if (key is None or key not in kept) and min(
            len(np.unique(real_groups[halves == h])) for h in (0, 1)) >= 2:
        floor = grouped_cv_auroc(real, halves, real_groups, **probe).auroc
    if key is not None:
        kept[key] = floor
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
