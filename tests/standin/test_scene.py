"""Scenes and lesion features (hsilib.standin.scene, hsilib.standin.lesion)."""

import numpy as np
import pandas as pd
import pytest

from hsilib.standin.lesion import sample_lesion
from hsilib.standin.scene import FIELD_MM, MAX_RADIUS_SHARE, image_rng, sample_scene, soft_cap

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



def test_soft_cap_is_smooth_monotone_and_below_the_cap():
    r = np.linspace(0.1, 40, 400)
    capped = np.array([soft_cap(x, 10.0) for x in r])
    assert (np.diff(capped) > 0).all() and (capped < 10.0).all()
    assert soft_cap(10.0, 10.0) == pytest.approx(10.0 * 2 ** -0.25)  # k = 4 at the cap
    assert soft_cap(5.0, 10.0) == pytest.approx(5.0 / (1 + 1 / 16) ** 0.25)  # -1.5 %
    assert soft_cap(1.0, 10.0) == pytest.approx(1.0, rel=1e-4)  # small lesions untouched
    with pytest.raises(ValueError, match="r_max"):
        soft_cap(1.0, 0.0)


def test_lesion_sizes_stay_plausible_under_the_cap():
    sizes = {}
    for cls in ("MM", "DN"):
        scenes = [sample_scene(cls, image_rng(1, cls, i), shape=(68, 128), n_lesions=1)
                  for i in range(60)]
        sizes[cls] = np.array([s.lesions[0]["diameter_mm"] for s in scenes])
        # the cap in mm: the share of the usable field's diameter
        caps = np.array([2 * MAX_RADIUS_SHARE[0] * min(s.field_radius, 34, 64) * s.mm_per_px
                         for s in scenes])
        assert ((caps >= MAX_RADIUS_SHARE[0] * FIELD_MM[0] - 1e-6)
                & (caps <= MAX_RADIUS_SHARE[0] * FIELD_MM[1] + 1e-6)).all()
        ratio = sizes[cls] / caps
        # never reached, and no lesion size is special (a hard clip made many exactly 1)
        assert ratio.max() < 1 and len(np.unique(np.round(ratio, 4))) == len(ratio)
    assert np.median(sizes["MM"]) > np.median(sizes["DN"]) + 1.0  # melanomas are larger
    assert 5.0 < np.median(sizes["DN"]) < 7.5 and 6.0 < np.median(sizes["MM"]) < 10.0
