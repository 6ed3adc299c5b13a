"""Memorisation: do synthetic images sit closer to the generator's training images than unseen
real images do?

Distances are L2 between 16 x 16 downsampled images, the distance to a training image being the
minimum over its 8 flips and 90-degree rotations (the generators train with them), so a copy
that was flipped or rotated still counts as a copy. :func:`memorisation_rows` gives the two rows
of the protocol's table with their intervals (synthetic and held-out images resampled).

Used by :func:`hsilib.metrics.protocol.evaluate_generator` (notebook 03).
"""

from __future__ import annotations

import numpy as np
import torch

from .intervals import percentile_interval
from .protocol_sets import SMALL, Summary


def dihedral_nn_distances(query: np.ndarray, reference: np.ndarray, *, side: int = SMALL,
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


def memorisation_rows(syn: Summary, train: Summary, held: Summary, syn_pos, syn_boot,
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
