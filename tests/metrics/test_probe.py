"""The probe classifier: AUROC with ties, the cluster bootstrap, the CV probe on planted cues."""

import numpy as np
import pytest
import torch
from sklearn.metrics import roc_auc_score

from hsilib.metrics.classification import auroc
from hsilib.metrics.probe import cluster_bootstrap_auroc, grouped_cv_auroc


def test_auroc_matches_sklearn_with_ties():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 200)
    s = rng.integers(0, 5, 200).astype(float)  # many ties
    assert auroc(y, s) == pytest.approx(roc_auc_score(y, s))
    # hand case: positives {2, 1}, negatives {1, 0}: pairs 2>1, 2>0, 1=1 (1/2), 1>0 -> 3.5 / 4
    assert auroc([1, 1, 0, 0], [2, 1, 1, 0]) == pytest.approx(0.875)


def test_cluster_bootstrap_moves_groups_together():
    # two groups per label, each group's scores identical: any resample is a mix of whole groups
    y = np.array([1, 1, 1, 1, 0, 0, 0, 0])
    s = np.array([0.9, 0.9, 0.2, 0.2, 0.1, 0.1, 0.8, 0.8])
    g = np.array(["a", "a", "b", "b", "c", "c", "d", "d"])
    lo, hi = cluster_bootstrap_auroc(y, s, g, n_boot=300, seed=0)
    # the possible AUROCs of whole-group resamples are 0, 0.25, 0.5, 0.75, 1 only
    assert 0 <= lo <= hi <= 1
    assert {round(4 * lo) / 4, round(4 * hi) / 4} <= {0.0, 0.25, 0.5, 0.75, 1.0}
    assert lo == pytest.approx(round(4 * lo) / 4) and hi == pytest.approx(round(4 * hi) / 4)


def _images(n, cue, rng):
    x = torch.from_numpy(rng.normal(0, 1, (n, 4, 16, 16)).astype(np.float32))
    x[:, :, 4:12, 4:12] += cue  # a bright square in every image of this label
    return x


def test_probe_finds_a_planted_cue_and_not_noise():
    rng = np.random.default_rng(1)
    x = torch.cat([_images(40, 1.5, rng), _images(40, 0.0, rng)])
    y = np.r_[np.ones(40), np.zeros(40)]
    groups = np.arange(80) // 2  # pairs of images share a source
    found = grouped_cv_auroc(x, y, groups, n_splits=4, epochs=8, width=4, n_boot=200)
    assert found.auroc > 0.9 and found.ci_low > 0.5
    noise = torch.cat([_images(40, 0.0, rng), _images(40, 0.0, rng)])
    none = grouped_cv_auroc(noise, y, groups, n_splits=4, epochs=8, width=4, n_boot=200)
    assert none.ci_low <= 0.5 <= none.ci_high
    assert "not distinguishable from chance" in none.describe()
    # out-of-fold: every image scored once, by a model that never saw its group
    assert np.isfinite(found.scores).all() and found.n == {0: 40, 1: 40}


def test_probe_rejects_bad_input():
    x = torch.zeros(4, 2, 8, 8)
    with pytest.raises(ValueError, match="both 0 and 1"):
        grouped_cv_auroc(x, [1, 1, 1, 1], [0, 1, 2, 3])
    with pytest.raises(ValueError, match="at least 2 groups"):
        grouped_cv_auroc(x, [1, 1, 0, 0], [0, 0, 1, 2])
    with pytest.raises(ValueError, match="N x B x H x W"):
        grouped_cv_auroc(x[0], [1, 0], [0, 1])
