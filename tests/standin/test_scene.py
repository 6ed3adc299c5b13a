"""Scenes and lesion features (hsilib.standin.scene, hsilib.standin.lesion)."""

import numpy as np
import pandas as pd
import pytest

from hsilib.standin.lesion import sample_lesion
from hsilib.standin.scene import image_rng, sample_scene

SMALL = (68, 128)  # scale 0.25


def test_two_lesion_images_exist():
    counts = [sample_scene("DN", image_rng(0, "DN", i), shape=(34, 64)).labels.max()
              for i in range(60)]
    frac = np.mean(np.array(counts) == 2)
    assert 0.03 < frac < 0.35
    scene = sample_scene("MM", np.random.default_rng(0), shape=SMALL, n_lesions=2)
    assert set(np.unique(scene.labels)) == {0, 1, 2} and len(scene.lesions) == 2


def test_class_features_overlap_but_follow_odds_ratios():
    rng = np.random.default_rng(0)
    mm = pd.DataFrame([sample_lesion("MM", rng) for _ in range(600)])
    dn = pd.DataFrame([sample_lesion("DN", rng) for _ in range(600)])
    for col in ("blue_white_veil", "regression", "streaks", "blotches", "atypical_network"):
        assert mm[col].mean() > 1.5 * dn[col].mean(), col
        assert dn[col].mean() > 0.01 and mm[col].mean() < 0.9, col  # neither never nor always
    assert mm["asymmetry"].mean() > dn["asymmetry"].mean()
    assert (dn["asymmetry"] == 2).mean() > 0.05 and (mm["asymmetry"] == 0).mean() > 0.05
    assert mm["diameter_mm"].median() > dn["diameter_mm"].median()
    with pytest.raises(ValueError, match="cls"):
        sample_lesion("BCC", rng)

