"""Notebook 02's arms resolve to buildable configs, and its conclusion text follows the
intervals over training seeds: overlapping intervals are never called a difference, and one
seed gets no verdict."""

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from hsilib import config
from hsilib.study.ablation import (
    ARMS,
    arm_config,
    critic_conclusion,
    reconstruction_conclusion,
    seed_intervals,
)


def test_every_arm_resolves_to_its_family():
    study = config.resolve("smoke")
    for arm, (section, fields, _) in ARMS.items():
        cfg = arm_config(study, arm)
        assert cfg.family == section
        assert all(getattr(cfg, k) == v for k, v in fields.items())
    with pytest.raises(KeyError, match="unknown arm"):
        arm_config(study, "nope")
    with pytest.raises(config.ConfigError, match="unknown arms"):
        config.resolve("smoke", "ablation_study", arms=("critic_2d", "nope"))


def _long(values, cls="MM", metric="FD"):
    """A long table: one row per arm and seed (``values``: arm -> one value per seed); the
    image-bootstrap interval columns are there but the conclusion reads the seeds."""
    return pd.DataFrame([{"arm": arm, "class": cls, "seed": s, "metric": metric, "value": v,
                          "ci_low": v - 0.01, "ci_high": v + 0.01, "floor": 0.1}
                         for arm, vs in values.items() for s, v in enumerate(vs)])


def test_seed_intervals_are_student_t_over_the_seeds():
    t = seed_intervals(_long({"critic_2d": [1.0, 1.02, 0.98], "critic_3d": [0.4]}), "FD")
    r = t.set_index("arm")
    half = stats.t.ppf(0.975, 2) * 0.02 / 3 ** 0.5  # sd of (1, 1.02, 0.98) is 0.02
    assert r.loc["critic_2d", "n_seeds"] == 3
    assert r.loc["critic_2d", "value"] == pytest.approx(1.0)
    assert (r.loc["critic_2d", "ci_low"], r.loc["critic_2d", "ci_high"]) == pytest.approx(
        (1 - half, 1 + half))
    assert r.loc["critic_3d", "n_seeds"] == 1 and np.isnan(r.loc["critic_3d", "ci_low"])


def test_critic_conclusion_over_seeds_apart_overlapping_and_one_seed():
    """Three seeds with intervals apart: a difference; three seeds overlapping: not
    distinguishable; one seed: no verdict (and the best arm with one seed gets none)."""
    t = _long({"critic_2d": [1.0, 1.02, 0.98], "critic_3d": [0.5, 0.52, 0.48],
               "critic_3d_sn": [0.5, 0.7, 0.3], "critic_3d_sn_fft": [0.3]})
    text = critic_conclusion(t, "FD")
    assert ("2-D -> 3-D convolutions: 1 -> 0.5 [0.45, 0.55] over 3 seeds, better, intervals "
            "over seeds apart") in text
    assert ("adding spectral norm: 0.5 -> 0.5 [0.00317, 0.997] over 3 seeds, within the "
            "intervals over seeds (not distinguishable)") in text
    assert "adding the FFT spectral arm: 0.5 -> 0.3 (1 seed), one seed: no verdict" in text
    assert "Best mean: critic_3d_sn_fft (0.3), one seed: no verdict against the 2-D critic." in text
    # three seeds of the best arm, apart from the 2-D critic's
    t2 = _long({"critic_2d": [1.0, 1.02, 0.98], "critic_3d": [0.5, 0.52, 0.48]})
    assert "Best mean: critic_3d (0.5), beyond the 2-D critic's interval over seeds." in (
        critic_conclusion(t2, "FD"))
    # three seeds overlapping the 2-D critic's
    t3 = _long({"critic_2d": [1.0, 1.3, 0.7], "critic_3d": [0.9, 1.2, 0.6]})
    text3 = critic_conclusion(t3, "FD")
    assert "within the intervals over seeds (not distinguishable)" in text3
    assert "its interval over seeds overlaps the 2-D critic's" in text3
    # one seed per arm (the old single-run table): no verdict, whatever the image intervals
    t1 = _long({"critic_2d": [1.0], "critic_3d": [0.2]})
    assert "2-D -> 3-D convolutions: 1 -> 0.2 (1 seed), one seed: no verdict" in (
        critic_conclusion(t1, "FD"))


def test_critic_conclusion_when_the_2d_critic_is_best():
    t = _long({"critic_2d": [0.4, 0.41, 0.39], "critic_3d": [0.9, 0.91, 0.89]})
    assert "No spectral critic change improved on the 2-D critic's mean FD" in (
        critic_conclusion(t, "FD"))


def test_reconstruction_conclusion_against_the_linear_baseline():
    t = pd.DataFrame([
        {"model": "linear", "rmse": 0.03, "rmse_lo": 0.02, "rmse_hi": 0.04, "sam_deg": 5.0,
         "sam_deg_lo": 4.0, "sam_deg_hi": 6.0},
        {"model": "gan", "rmse": 0.1, "rmse_lo": 0.08, "rmse_hi": 0.12, "sam_deg": 5.5,
         "sam_deg_lo": 4.5, "sam_deg_hi": 6.5}])
    text = reconstruction_conclusion(t)
    assert "gan: rmse 0.1 [0.08, 0.12] reflectance vs linear 0.03 [0.02, 0.04]: worse" in text
    assert "sam_deg 5.5 [4.5, 6.5] degrees vs linear 5 [4, 6]: not distinguishable" in text
    with pytest.raises(ValueError, match="linear"):
        reconstruction_conclusion(t[t.model != "linear"])


def test_reconstruction_conclusion_per_input_and_over_seeds():
    def row(model, inp, rmse):
        return {"model": model, "input": inp, "rmse": rmse, "rmse_lo": rmse - 0.01,
                "rmse_hi": rmse + 0.01, "sam_deg": 5.0, "sam_deg_lo": 4.0, "sam_deg_hi": 6.0}

    t = pd.DataFrame([row("linear", "CIE rendering", 0.03), row("arm_g0", "CIE rendering", 0.1),
                      row("arm_g1", "CIE rendering", 0.11), row("arm_g2", "CIE rendering", 0.035),
                      row("linear", "camera RGB", 0.06), row("arm_g0", "camera RGB", 0.05)])
    text = reconstruction_conclusion(t)
    assert "- arm_g0 (camera RGB in): rmse 0.05 [0.04, 0.06] reflectance vs linear 0.06" in text
    assert ("- arm (CIE rendering in), over its 3 seeds: mean RMSE 0.0817 [-0.0195, 0.183] "
            "(interval over seeds); worse than the linear baseline in 2, better in 0 of 3 "
            "seeds") in text
    assert ("- arm (camera RGB in), over its seeds: one seed: no verdict on the arm against the "
            "linear baseline.") in text


def test_critic_conclusion_names_skipped_rungs():
    t = _long({"critic_2d": [1.0, 1.01, 0.99], "critic_3d_sn_fft": [0.5, 0.51, 0.49]})
    assert "critic_2d -> critic_3d_sn_fft: 1 -> 0.5 [0.475, 0.525] over 3 seeds, better" in (
        critic_conclusion(t, "FD"))
