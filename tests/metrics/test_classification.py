"""Classification metrics: values against scikit-learn and hand-computed cases (melanoma = 1)."""

import numpy as np
import pandas as pd
import pytest
from scipy import stats
from sklearn import metrics as skm

from hsilib.metrics import classification as C


def _fake(n=60, seed=0, ties=False):
    rng = np.random.default_rng(seed)
    y = (rng.random(n) < 0.35).astype(int)
    y[:2] = [0, 1]
    p = np.clip(0.3 * y + rng.normal(0.35, 0.2, n), 0, 1)
    if ties:
        p = np.round(p, 1)
    return y, p


@pytest.mark.parametrize("seed,ties", [(0, False), (1, True), (2, True)])
def test_scores_match_sklearn(seed, ties):
    y, p = _fake(seed=seed, ties=ties)
    t = 0.45
    s = C.scores(y, p, t)
    yhat = (p >= t).astype(int)
    tn, fp, fn, tp = skm.confusion_matrix(y, yhat, labels=[0, 1]).ravel()
    assert C.confusion(y, yhat) == {"tp": tp, "fn": fn, "fp": fp, "tn": tn}
    assert s["sensitivity"] == pytest.approx(skm.recall_score(y, yhat, pos_label=1))
    assert s["specificity"] == pytest.approx(skm.recall_score(y, yhat, pos_label=0))
    assert s["precision"] == pytest.approx(skm.precision_score(y, yhat, zero_division=0))
    assert s["f1"] == pytest.approx(skm.f1_score(y, yhat, pos_label=1))
    assert s["balanced_accuracy"] == pytest.approx(skm.balanced_accuracy_score(y, yhat))
    assert s["auroc"] == pytest.approx(skm.roc_auc_score(y, p), abs=1e-12)
    assert s["auprc"] == pytest.approx(skm.average_precision_score(y, p), abs=1e-12)


def test_melanoma_is_the_positive_class():
    # 3 MM, 2 DN; the classifier finds 2 of 3 melanomas and calls one nevus melanoma.
    y = [1, 1, 1, 0, 0]
    yhat = [1, 1, 0, 1, 0]
    s = C.threshold_scores(y, yhat)
    assert s["sensitivity"] == pytest.approx(2 / 3)
    assert s["specificity"] == pytest.approx(1 / 2)
    assert s["precision"] == pytest.approx(2 / 3)
    assert s["f1"] == pytest.approx(2 / 3)


def test_choose_threshold_youden_hand_case():
    y = np.array([0, 0, 0, 1, 1, 1])
    p = np.array([0.1, 0.2, 0.6, 0.4, 0.7, 0.9])
    t = C.choose_threshold(y, p, "youden")
    # the best cut lies between 0.6 and 0.7 (sens 2/3, spec 1: J = 2/3) and equals
    # the cut between 0.2 and 0.4 (sens 1, spec 2/3); the more specific one wins.
    assert t == pytest.approx(0.65)
    # brute force over all midpoints agrees on the optimum value of J
    fpr, tpr, _ = skm.roc_curve(y, p)
    s = C.threshold_scores(y, (p >= t).astype(int))
    assert s["sensitivity"] + s["specificity"] - 1 == pytest.approx((tpr - fpr).max())
    assert C.choose_threshold(y, p, "fixed") == 0.5
    with pytest.raises(ValueError, match="both"):
        C.choose_threshold([1, 1], [0.2, 0.3])


def test_aggregate_and_compare_seeds():
    per_seed = pd.DataFrame({"config": ["a"] * 3 + ["b"] * 3, "seed": [0, 1, 2] * 2,
                             "auroc": [0.6, 0.7, 0.8, 0.7, 0.75, 0.95]})
    agg = C.aggregate_seeds(per_seed, metrics=["auroc"]).set_index("config")
    v = np.array([0.6, 0.7, 0.8])
    half = stats.t.ppf(0.975, 2) * v.std(ddof=1) / np.sqrt(3)
    assert agg.loc["a", "mean"] == pytest.approx(0.7)
    assert agg.loc["a", "lo"] == pytest.approx(0.7 - half)
    assert agg.loc["a", "hi"] == pytest.approx(0.7 + half)
    cmp = C.compare_seeds(per_seed, "a", "b", "auroc")
    assert cmp["diff"] == pytest.approx(0.1)
    assert cmp["p_t"] == pytest.approx(stats.ttest_rel([0.7, 0.75, 0.95], v).pvalue)


def test_bad_input_is_named():
    with pytest.raises(ValueError, match="y_true"):
        C.scores([0, 2], [0.1, 0.2])
    with pytest.raises(ValueError, match="entries"):
        C.scores([0, 1], [0.1])


# --------------------------------------------------------------------------------------------
# Cluster bootstrap over source images
# --------------------------------------------------------------------------------------------
def _clustered(n_sources=30, seed=0):
    """Test crops of ``n_sources`` source images (1-4 crops each, one class per source)."""
    rng = np.random.default_rng(seed)
    sizes = rng.integers(1, 5, n_sources)
    src_label = (np.arange(n_sources) % 3 == 0).astype(int)
    sources = np.repeat([f"s{i:02d}" for i in range(n_sources)], sizes)
    y = np.repeat(src_label, sizes)
    p = np.clip(0.25 * y + rng.normal(0.4, 0.2, y.size), 0, 1).round(2)  # with ties
    return sources, y, p


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_cluster_weights_keep_sources_together_and_class_sizes_fixed(seed):
    sources, y, _ = _clustered(seed=seed)
    w = C.cluster_weights(sources, y, n_boot=200, seed=seed)
    assert w.shape == (200, y.size)
    for s in np.unique(sources):  # every crop of a source has its source's multiplicity
        cols = w[:, sources == s]
        assert (cols == cols[:, :1]).all()
    first = np.unique(sources, return_index=True)[1]  # one column per source
    n_mm_sources = len(set(sources[y == 1]))
    assert (w[:, first][:, y[first] == 1].sum(1) == n_mm_sources).all()
    assert (w[:, first].sum(1) == len(first)).all()
    np.testing.assert_array_equal(w, C.cluster_weights(sources, y, n_boot=200, seed=seed))
    assert not (w == w[:1]).all()  # resamples differ


def test_weighted_scores_equal_scores_on_the_expanded_resample():
    sources, y, p = _clustered(seed=5)
    w = C.cluster_weights(sources, y, n_boot=40, seed=1)
    got = C.weighted_scores(y, p, 0.45, w)
    for r in range(len(w)):
        idx = np.repeat(np.arange(y.size), w[r])
        expect = C.scores(y[idx], p[idx], 0.45)
        for m in C.METRICS:
            assert got[m][r] == pytest.approx(expect[m], abs=1e-12), (m, r)


# --------------------------------------------------------------------------------------------
# DeLong
# --------------------------------------------------------------------------------------------
def test_delong_hand_case_with_a_tie():
    # melanoma 0.9, 0.6, 0.4; nevus 0.5, 0.4 (the 0.4 pair is tied: counts 1/2).
    # V10 = (1, 1, 1/4), V01 = (2/3, 5/6); AUROC = 9/12 = 0.75
    # Var = var(V10)/3 + var(V01)/2 = (0.375 / 2) / 3 + (1/72) / 2 = 5/72
    y, p = [1, 1, 1, 0, 0], [0.9, 0.6, 0.4, 0.5, 0.4]
    r = C.delong(y, p)
    assert r["auroc"] == pytest.approx(0.75) == pytest.approx(C.auroc(y, p))
    assert r["se"] == pytest.approx(np.sqrt(5 / 72))
    half = stats.norm.ppf(0.975) * np.sqrt(5 / 72)
    assert (r["lo"], r["hi"]) == (pytest.approx(0.75 - half), 1.0)  # clipped at 1
    # paired, B ranks the tied pair correctly: d10 = (0, 0, 1/4), d01 = (0, 1/6)
    # diff = 1/12; Var = var(d10)/3 + var(d01)/2 = (1/48)/3 + (1/72)/2 = 1/144 + 1/144
    b = [0.9, 0.6, 0.45, 0.5, 0.4]
    pr = C.delong_paired(y, p, b)
    assert pr["diff"] == pytest.approx(1 / 12)
    assert pr["se"] == pytest.approx(np.sqrt(2 / 144))
    assert pr["p_value"] == pytest.approx(2 * stats.norm.sf((1 / 12) / np.sqrt(2 / 144)))
    same = C.delong_paired(y, p, p)
    assert (same["diff"], same["se"], same["p_value"]) == (0.0, 0.0, 1.0)


def test_delong_agrees_with_the_bootstrap_on_a_larger_case():
    rng = np.random.default_rng(11)
    y = np.r_[np.ones(150, int), np.zeros(250, int)]
    pa = np.round(rng.normal(0.8 * y, 1.0), 1)  # rounded: many ties
    pb = pa + rng.normal(0.3 * y, 0.7)
    rng = np.random.default_rng(3)  # crops resampled with replacement within each class
    pos, neg = np.flatnonzero(y == 1), np.flatnonzero(y == 0)
    idx = np.concatenate([rng.choice(pos, (3000, pos.size)), rng.choice(neg, (3000, neg.size))], 1)
    boot_a = np.array([C.auroc(y[i], pa[i]) for i in idx])
    boot_d = np.array([C.auroc(y[i], pb[i]) for i in idx]) - boot_a
    assert C.delong(y, pa)["se"] == pytest.approx(boot_a.std(), rel=0.08)
    assert C.delong_paired(y, pa, pb)["se"] == pytest.approx(boot_d.std(), rel=0.08)
    # K classifiers: the components average, so the point estimate is the mean AUROC
    both = np.vstack([pa, pb])
    assert C.delong(y, both)["auroc"] == pytest.approx((C.auroc(y, pa) + C.auroc(y, pb)) / 2)


def test_compare_seeds_averages_generator_replicates_within_their_seed():
    per_seed = pd.DataFrame({
        "config": ["a", "a", "b", "b", "b", "b"], "seed": [0, 1, 0, 0, 1, 1],
        "generator_seed": [-1, -1, 0, 1, 0, 1], "auroc": [0.6, 0.7, 0.65, 0.7, 0.6, 0.9]})
    cmp = C.compare_seeds(per_seed, "a", "b", "auroc")
    # seed 0: (0.65 + 0.7) / 2 - 0.6 = 0.075; seed 1: (0.6 + 0.9) / 2 - 0.7 = 0.05
    d = np.array([0.075, 0.05])
    assert cmp["n_seeds"] == 2 and cmp["n_cells"] == 4 and cmp["diff"] == pytest.approx(0.0625)
    assert cmp["p_t"] == pytest.approx(stats.ttest_1samp(d, 0).pvalue)
    assert cmp["sd"] == pytest.approx(d.std(ddof=1))
    half = stats.t.ppf(0.975, 1) * d.std(ddof=1) / np.sqrt(2)
    assert (cmp["lo"], cmp["hi"]) == pytest.approx((0.0625 - half, 0.0625 + half))
    both = per_seed.assign(config=["a"] * 2 + ["c"] * 4)  # both with replicates: seed means too
    both = pd.concat([both, both[both.config == "c"].assign(config="d", auroc=0.5)])
    r = C.compare_seeds(both, "c", "d", "auroc")
    assert r["n_seeds"] == 2 and r["diff"] == pytest.approx(0.5 - np.mean([0.675, 0.75]))
    # aggregate_seeds counts seeds too: mean and interval of the two seed means
    agg = C.aggregate_seeds(per_seed, metrics=["auroc"]).set_index("config")
    assert agg.loc["b", "n"] == 2 and agg.loc["b", "mean"] == pytest.approx(0.7125)
    assert C.runs_interval(per_seed, "b", "auroc") == pytest.approx(
        C.t_interval([0.675, 0.75]))


def test_paired_t_is_vectorised_and_matches_scipy():
    rng = np.random.default_rng(4)
    d = rng.normal(0.1, 0.2, (7, 4))
    res = C.paired_t(d)
    for i in range(7):
        assert res["p"][i] == pytest.approx(stats.ttest_1samp(d[i], 0).pvalue)
        mean, lo, hi = C.t_interval(d[i])
        assert (res["mean"][i], res["lo"][i], res["hi"][i]) == pytest.approx((mean, lo, hi))
    flat = C.paired_t(np.zeros((2, 3)))
    assert (flat["p"] == 1).all()
    assert np.isnan(C.paired_t(np.ones((2, 1)))["p"]).all()
