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


def test_mcnemar_hand_table():
    # A right & B wrong on 6 images (b), A wrong & B right on 1 (c), 5 concordant.
    y = np.ones(12, int)
    a = np.array([1] * 6 + [0] + [1] * 3 + [0] * 2)
    b = np.array([0] * 6 + [1] + [1] * 3 + [0] * 2)
    r = C.mcnemar(y, a, b)
    assert (r["b"], r["c"]) == (6, 1)
    # exact two-sided binomial: 2 * P(X <= 1), X ~ Bin(7, 1/2) = 2 * 8 / 128
    assert r["p_value"] == pytest.approx(16 / 128)
    assert C.mcnemar(y, a, a)["p_value"] == 1.0


def test_bootstrap_ci_contains_point_and_is_seeded():
    y, p = _fake(seed=3)
    t = C.choose_threshold(y, p)
    ci = C.bootstrap_ci(y, p, t, n_boot=300, seed=7)
    assert list(ci["metric"]) == list(C.METRICS)
    assert (ci["lo"] <= ci["value"] + 1e-12).all() and (ci["value"] <= ci["hi"] + 1e-12).all()
    pd.testing.assert_frame_equal(ci, C.bootstrap_ci(y, p, t, n_boot=300, seed=7))
    # stratified: class counts are the same in every resample
    idx = C._stratified_indices(y, 50, 0)
    assert (y[idx].sum(axis=1) == y.sum()).all()


def test_paired_bootstrap_identical_and_better():
    y, p = _fake(seed=4)
    same = C.paired_bootstrap(y, p, p, 0.5, 0.5, n_boot=200)
    assert np.allclose(same[["diff", "lo", "hi"]].to_numpy(), 0)
    assert (same["p_boot"] == 1).all()
    perfect = np.where(y == 1, 0.9, 0.1)
    better = C.paired_bootstrap(y, p, perfect, 0.5, 0.5, n_boot=200).set_index("metric")
    assert better.loc["auroc", "b"] == 1.0 and better.loc["auroc", "lo"] > 0
    assert better.loc["auroc", "p_boot"] < 0.05


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
