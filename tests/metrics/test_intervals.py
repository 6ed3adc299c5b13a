"""The one home of the project's intervals and verdict words (hsilib.metrics.intervals)."""

import numpy as np
import pytest
from scipy import stats

from hsilib.metrics import intervals as iv


# --------------------------------------------------------------------------------------------
# Resampling
# --------------------------------------------------------------------------------------------
def test_bootstrap_draws_positions_with_replacement_from_a_seed_or_a_generator():
    idx = iv.bootstrap(7, 500, seed=3)
    assert idx.shape == (500, 7) and idx.min() == 0 and idx.max() == 6
    np.testing.assert_array_equal(idx, np.random.default_rng(3).integers(0, 7, (500, 7)))
    # a Generator advances: two sets drawn from one stay in order
    rng, ref = np.random.default_rng(1), np.random.default_rng(1)
    a, b = iv.bootstrap(4, 3, rng), iv.bootstrap(5, 2, rng)
    np.testing.assert_array_equal(a, ref.integers(0, 4, (3, 4)))
    np.testing.assert_array_equal(b, ref.integers(0, 5, (2, 5)))
    with pytest.raises(ValueError, match="n >= 1"):
        iv.bootstrap(0, 10)


def _clusters():
    # 3 strata; groups of unequal sizes; group "g1" appears in two strata (two clusters)
    groups = np.array(["g0", "g0", "g1", "g2", "g2", "g2", "g1", "g3", "g4", "g4", "g5"])
    strata = np.array([0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 2])
    return groups, strata


@pytest.mark.parametrize("order", ["stratum", "resample"])
def test_cluster_bootstrap_moves_clusters_together_and_keeps_stratum_sizes(order):
    groups, strata = _clusters()
    w = iv.cluster_bootstrap(groups, strata, n_boot=400, seed=0, order=order)
    assert w.shape == (400, groups.size) and w.dtype.kind == "i"
    for s in np.unique(strata):
        for g in np.unique(groups[strata == s]):
            cols = w[:, (groups == g) & (strata == s)]
            assert (cols == cols[:, :1]).all()  # all items of a cluster move together
        # one column per cluster: the clusters drawn per stratum add up to its cluster count
        first = [np.flatnonzero((groups == g) & (strata == s))[0]
                 for g in np.unique(groups[strata == s])]
        assert (w[:, first].sum(1) == len(first)).all()
    assert (w[:, strata == 2] == 1).all()  # a stratum of one cluster always draws it once
    assert not (w == w[:1]).all()
    # every cluster is drawn once per resample on average, whichever the order
    assert w[:, [0, 2, 3, 6, 7, 8]].mean() == pytest.approx(1.0, abs=0.06)


def test_cluster_bootstrap_orders_reproduce_their_reference_draws():
    groups, strata = _clusters()
    # "resample": resample by resample, each stratum drawing its sorted clusters with choice()
    rng = np.random.default_rng(5)
    ref = np.zeros((30, groups.size), int)
    for b in range(30):
        for s in np.unique(strata):
            ids = np.unique(groups[strata == s])
            for g in rng.choice(ids, len(ids)):
                ref[b, (groups == g) & (strata == s)] += 1
    got = iv.cluster_bootstrap(groups, strata, n_boot=30, seed=5, order="resample")
    np.testing.assert_array_equal(got, ref)
    # "stratum": each stratum draws the counts of all resamples at once
    rng = np.random.default_rng(5)
    ref = np.zeros((30, groups.size), int)
    for s in np.unique(strata):
        ids = np.unique(groups[strata == s])
        counts = rng.multinomial(len(ids), np.full(len(ids), 1 / len(ids)), 30)
        for j, g in enumerate(ids):
            ref[:, (groups == g) & (strata == s)] = counts[:, [j]]
    np.testing.assert_array_equal(iv.cluster_bootstrap(groups, strata, n_boot=30, seed=5), ref)


def test_cluster_bootstrap_rejects_bad_input():
    with pytest.raises(ValueError, match="strata"):
        iv.cluster_bootstrap(["a", "b"], [0], n_boot=3)
    with pytest.raises(ValueError, match="order"):
        iv.cluster_bootstrap(["a", "b"], n_boot=3, order="groups")


# --------------------------------------------------------------------------------------------
# Intervals
# --------------------------------------------------------------------------------------------
def test_percentile_interval_by_hand_and_degenerate_cases():
    v = np.arange(41, dtype=float)  # quantile q of 0..40 is 40 q
    lo, hi = iv.percentile_interval(v)
    assert lo == pytest.approx(1.0) and hi == pytest.approx(39.0)
    assert iv.percentile_interval(v, 0.5) == pytest.approx((10.0, 30.0))
    assert iv.percentile_interval(np.r_[v, np.nan]) == (lo, hi)  # NaNs left out
    assert np.isnan(iv.percentile_interval([])).all()
    assert np.isnan(iv.percentile_interval([np.nan, np.nan])).all()
    assert np.isnan(iv.percentile_interval([np.inf, np.inf])).all()  # e.g. PSNR of copies
    assert iv.percentile_interval([1, 2, 3]) == pytest.approx((1.05, 2.95))  # integers work
    # float32 statistics keep their precision: the same as numpy's percentile on them
    x = np.random.default_rng(0).random(999).astype(np.float32)
    assert iv.percentile_interval(x) == (float(np.percentile(x, 2.5)),
                                         float(np.percentile(x, 97.5)))
    with pytest.raises(ValueError, match="level"):
        iv.percentile_interval(v, 95)


def test_t_interval_matches_scipy():
    v = [0.61, 0.7, 0.66, 0.74]
    mean, lo, hi = iv.t_interval(v)
    want = stats.t.interval(0.95, 3, loc=np.mean(v), scale=stats.sem(v))
    assert mean == pytest.approx(np.mean(v)) and (lo, hi) == pytest.approx(want)
    assert iv.t_interval([0.5, np.nan])[0] == 0.5 and np.isnan(iv.t_interval([0.5])[1])
    assert np.isnan(iv.t_interval([])).all()


def test_bootstrap_pvalue_by_hand():
    # 2 of 9 differences <= 0, 7 >= 0: (1 + 2 * 2) / 10
    assert iv.bootstrap_pvalue([-0.1, 0.0, 0.2, 0.3, 0.1, 0.4, 0.2, 0.5, 0.6]) == 0.5
    assert iv.bootstrap_pvalue(np.ones(99)) == 0.01  # never exactly 0
    assert iv.bootstrap_pvalue(np.zeros(9)) == 1.0


# --------------------------------------------------------------------------------------------
# Verdicts
# --------------------------------------------------------------------------------------------
def test_chance_and_change_verdicts():
    assert iv.chance_verdict([(0.6, 0.9), (0.45, 0.8)]) == iv.NOT_DISTINGUISHABLE_FROM_CHANCE
    assert iv.chance_verdict([(0.6, 0.9), (0.55, 0.8)]) == "above chance"
    assert iv.chance_verdict([(0.1, 0.4)]) == "below chance"
    assert iv.chance_verdict([(np.nan, np.nan)]) == "not distinguishable from chance"
    assert iv.change_verdict(0.1, [(0.05, 0.2), (-0.01, 0.2)], 0.01) == iv.NO_CHANGE
    assert iv.change_verdict(0.1, [(0.05, 0.2), (0.01, 0.2)], 0.01) == "improvement"
    assert iv.change_verdict(-0.1, [(-0.2, -0.05)], 0.01) == "deterioration"
    assert iv.change_verdict(0.1, [(0.05, 0.2)], 0.2) == "no detectable change"
    assert iv.change_verdict(0.1, [(0.05, np.nan)], 0.01) == "no detectable change"


def test_association_and_bound_verdicts():
    assert iv.bound_verdict(0.2, 0.6, 0.18) == "beyond the bound"
    assert iv.bound_verdict(-0.1, 0.1, 0.18) == "within the bound"
    assert iv.bound_verdict(-0.1, 0.4, 0.18) == "crosses the bound"
    assert iv.bound_verdict(np.nan, 0.4, 0.18) == "undefined"
    assert iv.association_verdict(-0.6, -0.2, 0.01) == "negative association"
    assert iv.association_verdict(0.2, 0.6, 0.01) == "positive association"
    assert iv.association_verdict(-0.6, -0.2, 0.2) == iv.NO_ASSOCIATION
    assert iv.association_verdict(-0.6, 0.1, 0.001) == "no detectable association"
    assert iv.association_verdict(np.nan, np.nan, 0.001) == "no detectable association"


def test_comparison_verdict_calls_a_difference_only_when_intervals_are_apart():
    assert iv.comparison_verdict((0.4, 0.5), (0.6, 0.7)) == "better"
    assert iv.comparison_verdict((0.4, 0.5), (0.6, 0.7), lower_is_better=False) == "worse"
    assert iv.comparison_verdict((0.8, 0.9), (0.6, 0.7)) == "worse"
    assert iv.comparison_verdict((0.5, 0.6), (0.6, 0.7)) == iv.NOT_DISTINGUISHABLE  # touching
    assert iv.comparison_verdict((np.nan, 0.5), (0.6, 0.7)) == "not distinguishable"
