"""Notebook 02's arms resolve to buildable configs, and its conclusion text follows the
intervals: overlapping intervals are never called a difference."""

import pandas as pd
import pytest

from hsilib import config
from hsilib.study.ablation import (
    ARMS,
    arm_config,
    critic_conclusion,
    reconstruction_conclusion,
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


def _table(values):
    rows = []
    for arm, (v, lo, hi) in values.items():
        rows.append({"arm": arm, "class": "MM", "metric": "FD", "value": v, "ci_low": lo,
                     "ci_high": hi, "floor": 0.1})
    return pd.DataFrame(rows)


def test_critic_conclusion_calls_a_difference_only_when_intervals_are_apart():
    t = _table({"critic_2d": (1.0, 0.9, 1.1), "critic_3d": (0.95, 0.85, 1.05),
                "critic_3d_sn": (0.5, 0.45, 0.55), "critic_3d_sn_fft": (0.52, 0.46, 0.6)})
    text = critic_conclusion(t, "FD")
    assert "2-D -> 3-D convolutions: 1 -> 0.95 [0.85, 1.05], within the intervals" in text
    assert "adding spectral norm: 0.95 -> 0.5 [0.45, 0.55], better, intervals apart" in text
    assert "adding the FFT spectral arm: 0.5 -> 0.52 [0.46, 0.6], within the intervals" in text
    assert "Best: critic_3d_sn (0.5), beyond the 2-D critic's interval." in text


def test_critic_conclusion_when_the_2d_critic_is_best():
    t = _table({"critic_2d": (0.4, 0.3, 0.5), "critic_3d": (0.9, 0.8, 1.0)})
    assert "No spectral critic change improved on the 2-D critic's FD" in critic_conclusion(
        t, "FD")


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


def test_critic_conclusion_names_skipped_rungs():
    t = _table({"critic_2d": (1.0, 0.9, 1.1), "critic_3d_sn_fft": (0.5, 0.4, 0.6)})
    assert "critic_2d -> critic_3d_sn_fft: 1 -> 0.5 [0.4, 0.6], better" in critic_conclusion(
        t, "FD")
