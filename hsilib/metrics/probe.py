"""Probe classifiers: can a small CNN tell two sets of images apart?

One tool answers two questions of the protocol:

- **Detectability of a generator** (a classifier two-sample test, C2ST; Lopez-Paz & Oquab,
  ICLR 2017): real vs synthetic crops. An AUROC of 0.5 means the probe cannot tell them apart;
  1.0 means every synthetic image gives itself away.
- **Shortcut checks on the data** (notebook 01): melanoma vs nevus from the crops with the lesion
  hidden. Anything the probe finds there is a cue other than the lesion that a classifier could
  learn instead of the lesion.

:func:`grouped_cv_auroc` runs stratified K-fold cross-validation grouped by source image (all
crops of one image stay in one fold, so the probe never sees a sibling of a test crop), trains a
fresh small CNN per fold for a fixed number of epochs (no early stopping: nothing is selected on
the held-out fold), pools the out-of-fold scores into one AUROC and gives it a 95% interval by a
cluster bootstrap over groups. The interval covers the resampling of images (by group) only, not
the probe's training seed.

Introduced in notebook 01; used by the generator protocol from notebook 03 on.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from ..runtime import device as pick_device
from .classification import auroc
from .intervals import chance_verdict, cluster_bootstrap, enough_clusters, percentile_interval


@dataclass(frozen=True)
class ProbeResult:
    """Out-of-fold AUROC of a probe and what it rests on."""

    auroc: float
    ci_low: float  # 95% cluster-bootstrap interval (groups resampled within each label)
    ci_high: float
    scores: np.ndarray  # out-of-fold probability of label 1, one per image
    labels: np.ndarray
    groups: np.ndarray
    n_splits: int

    @property
    def n(self) -> dict[int, int]:
        """Images per label."""
        return {int(k): int((self.labels == k).sum()) for k in np.unique(self.labels)}

    def describe(self, what: str = "label 1") -> str:
        """One sentence: the AUROC, its interval, and whether it is distinguishable from 0.5."""
        verdict = chance_verdict([(self.ci_low, self.ci_high)])
        return (f"AUROC for {what} = {self.auroc:.3f} (95% CI {self.ci_low:.3f}-"
                f"{self.ci_high:.3f}, {self.n_splits}-fold grouped CV, {self.n} images): "
                f"{verdict}")


def cluster_bootstrap_auroc(labels, scores, groups, *, n_boot: int = 1000, seed: int = 0,
                            level: float = 0.95) -> tuple[float, float]:
    """Percentile interval of the AUROC when whole groups are resampled with replacement,
    separately within each label (:func:`~hsilib.metrics.intervals.cluster_bootstrap`: a
    group's images move together; the label counts stay roughly fixed, so every resample holds
    both labels)."""
    y, s = np.asarray(labels), np.asarray(scores, float)
    if not enough_clusters(groups, y, "cluster bootstrap of the AUROC (groups per label)"):
        return float("nan"), float("nan")
    weights = cluster_bootstrap(groups, y, n_boot=n_boot, seed=seed, order="resample")
    items = np.arange(len(y))
    stats = []
    for w in weights:
        idx = np.repeat(items, w)
        stats.append(auroc(y[idx], s[idx]))
    return percentile_interval(stats, level)


def _dihedral(x: torch.Tensor, g: torch.Generator) -> torch.Tensor:
    """A random one of the 8 flips/rotations per batch (they move pixels, never mix bands)."""
    k = int(torch.randint(0, 4, (1,), generator=g))
    x = torch.rot90(x, k, dims=(-2, -1))
    return x.flip(-1) if bool(torch.randint(0, 2, (1,), generator=g)) else x


def _fit_predict(x_train, y_train, x_test, *, epochs, batch_size, lr, width, seed, dev):
    from ..models.classifiers import SmallCNN

    torch.manual_seed(seed)
    g = torch.Generator().manual_seed(seed)
    # per-band standardisation fitted on the training fold only
    mean = x_train.mean(dim=(0, 2, 3), keepdim=True)
    std = x_train.std(dim=(0, 2, 3), keepdim=True).clamp_min(1e-6)
    x_train, x_test = (x_train - mean) / std, (x_test - mean) / std
    model = SmallCNN(x_train.shape[1], 2, width).to(dev)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    counts = torch.bincount(y_train, minlength=2).clamp_min(1).float()
    weight = (counts.sum() / (2 * counts)).to(dev)  # balanced loss: the prior is no cue
    n = len(y_train)
    for _ in range(epochs):
        model.train()
        order = torch.randperm(n, generator=g)
        for i in range(0, n, batch_size):
            idx = order[i:i + batch_size]
            if len(idx) < 2:
                continue  # a batch of one breaks batch norm
            xb = _dihedral(x_train[idx], g).to(dev)
            loss = F.cross_entropy(model(xb), y_train[idx].to(dev), weight=weight)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
    model.eval()
    with torch.no_grad():
        return torch.cat([F.softmax(model(x_test[i:i + 256].to(dev)), 1)[:, 1].cpu()
                          for i in range(0, len(x_test), 256)]).double().numpy()


def grouped_cv_auroc(images, labels, groups, *, n_splits: int = 5, epochs: int = 15,
                     batch_size: int = 32, lr: float = 2e-3, width: int = 8, n_boot: int = 1000,
                     seed: int = 0, device: str = "auto") -> ProbeResult:
    """Out-of-fold AUROC of a small CNN that tells label 1 from label 0.

    ``images``: N x B x H x W (any value range; each band is standardised on the training
    folds). ``labels``: N of 0/1. ``groups``: N group ids (the source image of a crop; give each
    synthetic image its own). Folds are stratified by label and grouped
    (``StratifiedGroupKFold``, shuffled with ``seed``); ``n_splits`` is lowered to the number of
    groups of the rarer label when that is smaller (at least 2 are needed). Each fold trains a
    fresh :class:`~hsilib.models.classifiers.SmallCNN` of ``width`` for ``epochs`` epochs (Adam,
    class-balanced cross-entropy, random flips and 90-degree rotations).
    """
    from sklearn.model_selection import StratifiedGroupKFold

    x = torch.as_tensor(np.asarray(images, np.float32) if not torch.is_tensor(images)
                        else images).float()
    y = np.asarray(labels).astype(np.int64)
    g = np.asarray(groups)
    if x.ndim != 4 or len(x) != len(y) or len(y) != len(g):
        raise ValueError(f"images must be N x B x H x W with one label and group each; got "
                         f"images {tuple(x.shape)}, {len(y)} labels, {len(g)} groups")
    if set(np.unique(y)) != {0, 1}:
        raise ValueError(f"labels must hold both 0 and 1, got {sorted(set(y.tolist()))}")
    n_groups = min(len(np.unique(g[y == k])) for k in (0, 1))
    if n_groups < 2:
        raise ValueError(f"each label needs at least 2 groups for cross-validation; the rarer "
                         f"label has {n_groups}")
    k = min(n_splits, n_groups)
    dev = pick_device(device)
    scores = np.full(len(y), np.nan)
    cv = StratifiedGroupKFold(n_splits=k, shuffle=True, random_state=seed)
    yt = torch.from_numpy(y)
    for fold, (tr, te) in enumerate(cv.split(np.zeros(len(y)), y, g)):
        scores[te] = _fit_predict(x[tr], yt[tr], x[te], epochs=epochs, batch_size=batch_size,
                                  lr=lr, width=width, seed=seed * 100 + fold, dev=dev)
    lo, hi = cluster_bootstrap_auroc(y, scores, g, n_boot=n_boot, seed=seed)
    return ProbeResult(auroc(y, scores), lo, hi, scores, y, g, k)


__all__ = ["ProbeResult", "cluster_bootstrap_auroc", "grouped_cv_auroc"]
