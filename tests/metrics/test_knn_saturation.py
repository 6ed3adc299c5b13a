"""k-NN metrics whose real-vs-real floor sits at their ceiling say so in the protocol table."""

from __future__ import annotations

import numpy as np
import torch

from hsilib import config
from hsilib.metrics import protocol


class _BandMeans(torch.nn.Module):
    """Cheap features (per-band means) so the test stays fast."""

    score_name = "FD_bandmeans"

    def forward(self, x):
        return x.mean(dim=(2, 3))


def test_saturation_note_by_hand():
    note = protocol.saturation_note("precision", 0.94, n_ball=17, k=3)
    assert note == ("SATURATED: the real-vs-real floor 0.94 lies within 0.1 of the ceiling 1, "
                    "so this metric cannot separate a good generator from a perfect one here "
                    "(too few images for k = 3: each k-NN ball spans the 3 nearest of only 16 "
                    "other held-out images, 19% of them)")
    assert "of only 74 other compared images, 4% of them" in protocol.saturation_note(
        "recall", 0.95, 75, 3)
    assert protocol.saturation_note("coverage", 0.90, 17, 3).startswith("SATURATED")  # edge
    assert protocol.saturation_note("recall", 0.899, 17, 3) == ""  # just outside the gap
    assert protocol.saturation_note("recall", 0.85, 17, 3, gap=0.2).startswith("SATURATED")
    assert protocol.saturation_note("density", 0.99, 17, 3) == ""  # no ceiling
    assert protocol.saturation_note("FD_rand", 0.0, 17, 3) == ""
    assert protocol.saturation_note("precision", float("nan"), 17, 3) == ""


def test_tiny_heldout_set_flags_its_knn_rows(smooth_images):
    # 5 held-out and 8 compared images with k = 3: each ball spans 3 of the 4 (or 7) others,
    # so nearly every real image falls inside one and the floors reach 1
    train, held = smooth_images(8, size=16, seed=1), smooth_images(5, size=16, seed=2)
    syn = (smooth_images(8, size=16, seed=3) * 0.9).clamp(0, 1)
    cfg = config.MetricsConfig(batch_size=8, n_boot=20, n_boot_set=5, n_repeats=1, k=3,
                               probe_epochs=0, n_pixels=500, n_pixels_physics=50)
    table = protocol.evaluate_generator(syn, train, held, extractor=_BandMeans(),
                                        cfg=cfg).set_index("metric")
    for metric in ("precision", "recall", "coverage"):
        floor = table.loc[metric, "floor"]
        flagged = "SATURATED" in table.loc[metric, "note"]
        assert flagged == bool(floor >= 0.9), (metric, floor)
        if flagged:
            assert f"floor {floor:.2f}" in table.loc[metric, "note"]
            n_ball = 8 if metric == "recall" else 5
            assert (f"too few images for k = 3: each k-NN ball spans the 3 nearest of only "
                    f"{n_ball - 1} other") in table.loc[metric, "note"]
    assert table.loc["precision", "floor"] >= 0.9 and "SATURATED" in table.loc["precision",
                                                                                "note"]
    others = table.drop(index=["precision", "recall", "coverage"])
    assert not others["note"].str.contains("SATURATED").any()
    assert np.isfinite(table.loc["density", "floor"])
