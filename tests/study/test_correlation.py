"""Correlations of notebook 08 (hsilib.study.correlation_stats) against scipy, hand-computed
cases and planted relations; the states found from checkpoints (hsilib.study.states)."""

from dataclasses import replace

import numpy as np
import pandas as pd
import pytest
import torch
from scipy import stats as sps

from hsilib import config
from hsilib.data.samplers import UnpairedSampler
from hsilib.models import registry
from hsilib.study import correlation as cor
from hsilib.study import correlation_stats as cs
from hsilib.study.states import discover_states, spread_subset
from hsilib.study.stats import holm
from hsilib.train.trainer import Trainer, make_trainer, snapshot_path, trainer_options

RNG = np.random.default_rng(3)
X = RNG.normal(size=25)
Y = 0.4 * X + RNG.normal(size=25)
X_TIES = np.round(X, 0)  # many ties
Y_TIES = np.round(Y * 2, 0)


@pytest.mark.parametrize("x, y", [(X, Y), (X_TIES, Y_TIES), (X, -X ** 3)])
def test_correlations_match_scipy(x, y):
    assert cs.correlation(x, y, "spearman") == pytest.approx(sps.spearmanr(x, y)[0], abs=1e-12)
    assert cs.correlation(x, y, "kendall") == pytest.approx(sps.kendalltau(x, y)[0], abs=1e-12)
    assert cs.correlation(x, y, "pearson") == pytest.approx(sps.pearsonr(x, y)[0], abs=1e-12)


def test_rows_equal_one_by_one_and_constant_is_nan():
    xs = RNG.normal(size=(6, 12))
    ys = RNG.normal(size=(6, 12))
    for method in cs.METHODS:
        rows = cs.correlation_rows(xs, ys, method)
        one = [cs.correlation(a, b, method) for a, b in zip(xs, ys, strict=True)]
        assert rows == pytest.approx(one)
        assert np.isnan(cs.correlation(np.ones(5), np.arange(5.0), method))
    with pytest.raises(ValueError, match="method"):
        cs.correlation(X, Y, "distance")


def test_permutation_pvalue_of_monotone_relation_is_the_minimum():
    x = np.arange(12.0)
    y = np.exp(x / 3)  # perfectly monotone, not linear
    for method in ("spearman", "kendall"):
        assert cs.permutation_pvalue(x, y, method, n_perm=499, seed=0) == 1 / 500
    # no relation at all: the p-value is far from the minimum
    assert cs.permutation_pvalue(x, np.zeros(12) + (x % 2), "spearman", n_perm=499) > 0.3


def test_permutation_pvalue_is_roughly_uniform_under_the_null():
    ps = [cs.permutation_pvalue(RNG.normal(size=15), RNG.normal(size=15), n_perm=199, seed=s)
          for s in range(200)]
    assert 0.02 < np.mean(np.array(ps) < 0.1) < 0.2  # ~10% below 0.1


def test_planted_relation_is_recovered_and_noise_is_not():
    rng = np.random.default_rng(7)
    n = 30
    metric = rng.uniform(0, 1, n)  # a fake FD: lower is better
    utility = -0.05 * metric + rng.normal(scale=0.008, size=n)  # planted negative relation
    res = cs.correlation_test(metric, utility, "spearman", n_boot=500, n_perm=999)
    assert res["r"] < -0.7 and res["hi"] < 0 and res["p_perm"] == 1 / 1000
    noise = cs.correlation_test(rng.uniform(0, 1, n), utility, "spearman", n_boot=500,
                                n_perm=999)
    assert noise["lo"] < 0 < noise["hi"] and noise["p_perm"] > 0.01


def test_bootstrap_interval_covers_the_estimate():
    lo, hi = cs.bootstrap_interval(X, Y, "spearman", n_boot=400, seed=1)
    assert lo < cs.correlation(X, Y) < hi


def test_holm_against_a_hand_computed_case():
    # sorted 0.01, 0.02, 0.04, 0.30 -> 4*0.01, 3*0.02, max(0.06, 2*0.04), max(0.08, 0.30)
    assert holm([0.04, 0.01, 0.30, 0.02]) == pytest.approx([0.08, 0.04, 0.30, 0.06])


def test_partial_correlation_removes_a_group_offset():
    # within each family the metric and the utility rise together; between families they fall
    x = np.array([1, 2, 3, 11, 12, 13], float)
    y = np.array([21, 22, 23, 1, 2, 3], float)
    groups = ["a"] * 3 + ["b"] * 3
    assert cs.correlation(x, y, "spearman") < 0
    assert cs.partial_correlation(x, y, groups, "spearman") == pytest.approx(1.0)
    assert cs.partial_correlation(x, y, groups, "pearson") == pytest.approx(1.0)


def test_partial_pearson_equals_the_classical_formula_for_one_dummy():
    rng = np.random.default_rng(0)
    z = np.repeat([0.0, 1.0], 10)
    x = z + rng.normal(size=20)
    y = 2 * z + 0.5 * x + rng.normal(size=20)
    rxy, rxz, ryz = (sps.pearsonr(a, b)[0] for a, b in ((x, y), (x, z), (y, z)))
    want = (rxy - rxz * ryz) / np.sqrt((1 - rxz ** 2) * (1 - ryz ** 2))
    assert cs.partial_correlation(x, y, z.astype(int), "pearson") == pytest.approx(want)
    res = cs.partial_test(x, y, z.astype(int), n_boot=200, n_perm=199)
    assert res["r"] == pytest.approx(cs.partial_correlation(x, y, z.astype(int)))
    assert 1 / 200 <= res["p_perm"] <= 1


def test_metric_matrix():
    m = cor.metric_matrix(pd.DataFrame({"a": X, "b": -X, "c": Y}))
    assert m.loc["a", "b"] == pytest.approx(-1) and m.loc["a", "a"] == pytest.approx(1)
    assert m.loc["a", "c"] == pytest.approx(sps.spearmanr(X, Y)[0])


def test_snapshots_and_discovered_states(tmp_path):
    cfg = config.resolve("smoke", "vae", steps=3)
    ids = [f"c{i}" for i in range(6)]
    images = torch.rand(6, cfg.n_bands, cfg.image_size, cfg.image_size) * 2 - 1
    ckpt = tmp_path / "vae_mm_g0.pt"
    tr = make_trainer(cfg, images, seed=0, device="cpu", data_ids=ids)
    tr.fit(3, checkpoint=ckpt, snapshot_steps=(1, 2))
    assert snapshot_path(ckpt, 2) == tmp_path / "snapshots" / "vae_mm_g0_s000002.pt"
    assert snapshot_path(ckpt, 1).is_file() and snapshot_path(ckpt, 2).is_file()
    tr.save(tmp_path / "copy_of_final.pt")  # the same run and step: counted once
    make_trainer(cfg, images, seed=1, device="cpu", data_ids=ids[:3] + ["v0", "v1", "v2"]).fit(
        1, checkpoint=tmp_path / "vae_mm_leaky.pt")
    make_trainer(cfg, images, seed=2, device="cpu", data_ids=ids[:3] + ["d0", "d1", "d2"]).fit(
        1, checkpoint=tmp_path / "vae_mixed.pt")
    rgb = config.resolve("smoke", "shsgan", generator="rgb", steps=1,
                         reflectance_min=(0.05,) * 16, reflectance_max=(0.8,) * 16)
    Trainer(registry.build(rgb, seed=0), UnpairedSampler(images, torch.rand(4, 3, 32, 32), 2),
            device="cpu", data_ids=ids, **trainer_options(rgb)).fit(
        1, checkpoint=tmp_path / "shsgan_rgb_mm_g0.pt")  # samples only from RGB images
    (tmp_path / "not_a_generator.pt").write_bytes(b"junk")
    tr.save(tmp_path / "06_real_seed0.pt")  # named like a classifier notebook's weights
    splits = pd.DataFrame({"id": ids + ["v0", "v1", "v2", "d0", "d1", "d2"],
                           "split": ["train"] * 6 + ["val"] * 3 + ["train"] * 3,
                           "class": ["MM"] * 9 + ["DN"] * 3, "source": "x"})
    states, notes = discover_states(tmp_path, splits)
    assert sorted(states.state) == ["vae_mm_g0", "vae_mm_g0_s000001", "vae_mm_g0_s000002"] or \
        sorted(states.state) == ["copy_of_final", "vae_mm_g0_s000001", "vae_mm_g0_s000002"]
    assert set(states["class"]) == {"MM"} and sorted(states.step) == [1, 2, 3]
    assert states.set_index("step").loc[1, "progress"] == pytest.approx(1 / 3)
    text = " ".join(notes)
    assert "vae_mm_leaky.pt" in text and "vae_mixed.pt" in text and "counted once" in text
    assert "shsgan_rgb_mm_g0.pt: translates RGB images" in text
    # the run trained again, shorter (a profile changed): its snapshot at step 2 is stale
    short = replace(cfg, steps=1)
    make_trainer(short, images, seed=0, device="cpu", data_ids=ids).fit(1, checkpoint=ckpt)
    states, notes = discover_states(tmp_path, splits)
    assert "vae_mm_g0_s000002" not in set(states.state)
    assert any(n.startswith("vae_mm_g0_s000002.pt: left behind by an earlier run") for n in notes)


def test_spread_subset_keeps_every_family_and_the_ends():
    states = pd.DataFrame({"state": [f"s{i}" for i in range(12)],
                           "family": ["a"] * 6 + ["b"] * 6, "class": "MM", "seed": 0,
                           "step": list(range(6)) * 2})
    sub = spread_subset(states, 4)
    assert len(sub) == 4 and set(sub.family) == {"a", "b"}
    assert {"s0", "s11"} <= set(sub.state)
    assert spread_subset(states, None) is states and len(spread_subset(states, 20)) == 12


# --------------------------------------------------------------------------------------------
# Grouped data: whole clusters resampled and permuted
# --------------------------------------------------------------------------------------------
@pytest.mark.parametrize("method", ["spearman", "pearson"])
def test_weighted_rows_equal_the_resample_written_out(method):
    rng = np.random.default_rng(2)
    x, y = np.round(rng.normal(size=9), 1), rng.normal(size=9)  # ties in x
    groups = np.array(list("aaabbbccc"))
    w = rng.integers(0, 3, (5, 9))
    w[:, 0] = 1  # no resample empty
    got = cs.weighted_correlation_rows(x, y, w, method)
    part = cs.weighted_correlation_rows(x, y, w, method, groups)
    for b in range(5):
        xs, ys, gs = (np.repeat(v, w[b]) for v in (x, y, groups))
        assert got[b] == pytest.approx(cs.correlation(xs, ys, method), abs=1e-12)
        assert part[b] == pytest.approx(cs.partial_correlation(xs, ys, gs, method), abs=1e-12)
    ones = cs.weighted_correlation_rows(x, y, np.ones((1, 9)), method)
    assert ones[0] == pytest.approx(cs.correlation(x, y, method))


def test_grouped_test_finds_a_within_group_relation_and_needs_enough_clusters():
    rng = np.random.default_rng(4)
    kinds = np.repeat([f"k{i}" for i in range(8)], 3)
    level = np.tile([0.0, 0.5, 1.0], 8)
    offset = np.repeat(rng.normal(0, 5, 8), 3)  # kinds differ wildly in level
    metric = level + offset
    utility = -level + rng.normal(0, 0.05, 24) - offset * 0.3
    res = cs.grouped_test(metric, utility, clusters=kinds, groups=kinds, n_boot=400,
                          n_perm=999)
    assert res["r"] < -0.8 and res["hi"] < 0 and res["p_perm"] < 0.01
    assert res["n"] == 24 and res["n_clusters"] == 8
    pooled = cs.grouped_test(metric, utility, clusters=kinds, n_boot=400, n_perm=999)
    assert np.isfinite(pooled["lo"]) and np.isnan(pooled["p_perm"])  # descriptive only
    few = cs.grouped_test(metric[:9], utility[:9], clusters=kinds[:9], n_boot=50, n_perm=49)
    assert np.isnan(few["r"]) and few["n_clusters"] == 3
