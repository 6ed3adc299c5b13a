"""The evaluation protocol: floors, nearest-real pairing and memorisation, on known cases."""

from __future__ import annotations

import pytest
import torch

from hsilib import config
from hsilib.metrics import distribution as dist
from hsilib.metrics import protocol
from hsilib.metrics import spectral as sp


class _BandStats(torch.nn.Module):
    """Cheap features (per-band mean and std) so the protocol tests stay fast."""

    score_name = "FD_bandstats"

    def forward(self, x):
        return torch.cat([x.mean(dim=(2, 3)), x.std(dim=(2, 3))], dim=1)


@pytest.fixture(scope="module")
def sets(smooth_images):
    return (smooth_images(12, size=24, seed=10),  # train
            smooth_images(12, size=24, seed=11))  # held-out


def _row(table, metric):
    return table.set_index("metric").loc[metric]


def test_table_layout_and_floor_equals_direct_computation(sets, smooth_images):
    train, held = sets
    syn = (smooth_images(12, size=24, seed=12) * 0.8).clamp(0, 1)
    table = protocol.evaluate_generator(syn, train, held, extractor=_BandStats(),
                                        cfg=config.MetricsConfig(batch_size=5))
    assert list(table.columns) == protocol.COLUMNS
    assert set(table.kind) == {"distribution", "spectral", "paired to nearest real",
                               "memorisation"}
    assert (table.n_synthetic == 12).all() and (table.n_real == 12).all()
    assert table.value.notna().all() and table.floor.notna().all()
    f = _BandStats()
    fd = dist.frechet_distance(f(held).double(), f(syn).double()).value
    floor = dist.frechet_distance(f(held).double(), f(train).double()).value
    assert _row(table, "FD_bandstats").value == pytest.approx(fd, rel=1e-6)
    assert _row(table, "FD_bandstats").floor == pytest.approx(floor, rel=1e-6)
    assert _row(table, "FD_bandstats").value > _row(table, "FD_bandstats").floor  # darker set
    assert set(table[table.kind == "paired to nearest real"].metric) == {"SSIM", "PSNR",
                                                                         "SAM_rad"}


def test_heldout_copies_are_perfect_and_pairing_finds_them(sets):
    train, held = sets
    table = protocol.evaluate_generator(held.clone(), train, held, extractor=_BandStats(),
                                        cfg=config.MetricsConfig(batch_size=7))
    assert _row(table, "SSIM").value == pytest.approx(1.0)
    assert _row(table, "SAM_rad").value == pytest.approx(0.0, abs=1e-3)
    assert _row(table, "FD_bandstats").value == pytest.approx(0.0, abs=1e-9)
    for m in ("precision", "recall", "coverage"):
        assert _row(table, m).value == 1.0
    # slightly perturbed copies: each is paired with its own original
    noisy = (held + 0.01 * torch.randn(held.shape, generator=torch.Generator().manual_seed(0)))
    table = protocol.evaluate_generator(noisy, train, held, extractor=_BandStats())
    assert _row(table, "SSIM").value == pytest.approx(float(sp.ssim(noisy, held, data_range=1.0)))
    assert _row(table, "SAM_rad").value == pytest.approx(float(sp.sam(noisy, held)), rel=1e-5)


def test_memorisation_flags_training_copies(sets, smooth_images):
    train, held = sets
    table = protocol.evaluate_generator(train.clone(), train, held, extractor=_BandStats())
    assert _row(table, "NN_train_dist_ratio").value == pytest.approx(0.0, abs=1e-9)
    assert _row(table, "frac_closer_than_heldout_p5").value == 1.0
    fresh = protocol.evaluate_generator(smooth_images(12, size=24, seed=13), train, held,
                                        extractor=_BandStats())
    assert _row(fresh, "NN_train_dist_ratio").value > 0.5


def test_datasets_with_masks_and_physics(sets):
    train, held = sets
    mask = torch.zeros(1, 24, 24)
    mask[:, 6:18, 6:18] = 1
    as_items = [{"image": img, "mask": mask, "label": 1} for img in held]
    table = protocol.evaluate_generator(train[:6], train, as_items, extractor=_BandStats(),
                                        to_reflectance=lambda x: 0.6 * x,
                                        cfg=config.MetricsConfig(n_pixels_physics=200))
    phys = table[table.kind == "physics"]
    assert set(phys.metric) == {"W1_f_mel_epi", "W1_blood", "W1_sat", "W1_mus_scale"}
    assert (phys.value >= 0).all() and (table.n_synthetic == 6).all()
    with pytest.raises(ValueError, match="real_heldout has 1 images"):
        protocol.evaluate_generator(train, train, held[:1], extractor=_BandStats())
    with pytest.raises(TypeError, match="indexable"):
        protocol.evaluate_generator(iter(train), train, held, extractor=_BandStats())


def test_default_extractor_is_fd_rand(sets, monkeypatch):
    monkeypatch.delenv(dist.WEIGHTS_ENV, raising=False)
    train, held = sets
    table = protocol.evaluate_generator(held[:4], train[:4], held[4:8],
                                        cfg=config.MetricsConfig(feature_size=75, batch_size=4))
    assert "FD_rand" in set(table.metric) and "FID" not in set(table.metric)
    assert "not an FID" in _row(table, "FD_rand").note


def test_k_is_lowered_for_small_sets_and_says_so(sets):
    train, held = sets
    table = protocol.evaluate_generator(held[:3].clone(), train, held, extractor=_BandStats(),
                                        cfg=config.MetricsConfig(k=5))
    assert _row(table, "precision").note == "k = 2 (lowered from 5: too few images)"
    full = protocol.evaluate_generator(held.clone(), train, held, extractor=_BandStats(),
                                       cfg=config.MetricsConfig(k=3))
    assert _row(full, "coverage").note == "k = 3" and _row(full, "coverage").value == 1.0


def test_side_by_side_aligns_runs_by_metric_and_keeps_the_first_floor():
    import pandas as pd

    a = pd.DataFrame({"metric": ["FD", "SAM"], "kind": ["set", "paired"],
                      "value": [1.0, 2.0], "floor": [0.5, 0.1]})
    b = pd.DataFrame({"metric": ["SAM", "FD"], "kind": ["paired", "set"],
                      "value": [3.0, 4.0], "floor": [9.0, 9.0]})
    c = pd.DataFrame({"metric": ["FD"], "kind": ["set"], "value": [5.0], "floor": [9.0]})
    out = protocol.side_by_side({"base": a, "spectral": b, "short": c})
    assert list(out.columns) == ["metric", "kind", "base", "spectral", "short", "floor"]
    assert out["spectral"].tolist() == [4.0, 3.0]  # matched by metric, not by row
    assert out["floor"].tolist() == [0.5, 0.1]
    assert out["short"].iloc[0] == 5.0 and pd.isna(out["short"].iloc[1])


def test_intervals_resample_per_sample_terms_and_set_metrics_have_none(sets):
    train, held = sets
    table = protocol.evaluate_generator(held[:8].clone(), train, held, extractor=_BandStats(),
                                        cfg=config.MetricsConfig(n_boot=200))
    rows = table.set_index("metric")
    for m in ("precision", "density", "SSIM", "SAM_rad", "frac_closer_than_heldout_p5"):
        assert rows.ci_low[m] <= rows.value[m] <= rows.ci_high[m], m
    assert rows.ci_low["coverage"] <= rows.value["coverage"] <= rows.ci_high["coverage"]
    assert rows.loc[["FD_bandstats", "KID", "FD_spectral_lesion"], ["ci_low", "ci_high"]
                    ].isna().all().all()
    # copies of held-out images: every one is inside the real manifold, in every resample
    assert rows.value["precision"] == rows.ci_low["precision"] == rows.ci_high["precision"] == 1


def test_bootstrap_interval_by_hand():
    import numpy as np

    assert protocol._bootstrap_ci(np.full(5, 0.3), np.mean, 100, 0) == (0.3, 0.3)
    x = np.arange(10.0)
    idx = np.random.default_rng(4).integers(0, 10, (300, 10))
    want = np.quantile(x[idx].mean(1), [0.025, 0.975])
    assert protocol._bootstrap_ci(x, np.mean, 300, 4) == pytest.approx(tuple(want))
    assert all(np.isnan(protocol._bootstrap_ci(x[:1], np.mean, 300, 4)))
