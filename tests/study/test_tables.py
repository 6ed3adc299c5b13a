"""The study's tables, statistics and generated conclusions, on hand-made predictions."""

import numpy as np
import pandas as pd
import pytest
from fakedata import fake_predictions

from hsilib.metrics import classification as cm
from hsilib.study import stats
from hsilib.study.conclusions import conclusions
from hsilib.study.plan import BASELINE, MAIN, MM_ONLY, OVERSAMPLED, PASSTHROUGH, TSTR
from hsilib.train import classifier as tc

GAPS = {BASELINE: 0.3, MAIN: 0.4, MM_ONLY: 0.35, OVERSAMPLED: 0.3, TSTR: 0.0, PASSTHROUGH: 0.3}
REPS = {MAIN: (0, 1), MM_ONLY: (0, 1), TSTR: (0, 1)}


@pytest.fixture(scope="module")
def study():
    preds = fake_predictions(GAPS, replicates=REPS)
    per_seed = stats.per_seed_metrics(preds)
    resampler = stats.TestResampler(preds, n_boot=300, seed=1)
    return preds, per_seed, resampler


def test_holm_hand_case():
    # sorted p: 0.01 (x3), 0.02 (x2 -> 0.04), 0.04 (x1 -> 0.04, monotone); NaN stays NaN
    np.testing.assert_allclose(stats.holm([0.04, 0.01, np.nan, 0.02]), [0.04, 0.03, np.nan, 0.04])


def test_runs_are_seeds_times_generator_replicates(study):
    _, per_seed, _ = study
    assert len(per_seed[per_seed.config == MAIN]) == 6 and len(per_seed[per_seed.config ==
                                                                      BASELINE]) == 3
    table = stats.summary_table(per_seed, [BASELINE, MAIN])
    assert table.loc[MAIN, "runs"] == ("over 3 classifier seeds, 2 generator replicates "
                                       "averaged within seed")
    assert table.loc[BASELINE, "runs"] == "over 3 classifier seeds"
    # the interval is over the 3 seed means (replicates averaged first), not the 6 runs
    seed_means = per_seed[per_seed.config == MAIN].groupby("seed")["auroc"].mean()
    mean, lo, hi = cm.t_interval(seed_means)
    assert table.loc[MAIN, "auroc"] == f"{mean:.3f} [{max(lo, 0):.3f}, {min(hi, 1):.3f}]"


def test_resampled_scores_are_run_means_on_expanded_source_resamples(study):
    preds, per_seed, rs = study
    test = rs.test
    assert list(test["id"]) == sorted(test["id"]) and len(test) == 20
    for src in test["source"].unique():  # both crops of a source share their multiplicity
        cols = rs.weights[:, (test["source"] == src).to_numpy()]
        assert (cols == cols[:, :1]).all()
    scores = rs.scores(MAIN)
    for r in (0, 7):
        idx = np.repeat(np.arange(len(test)), rs.weights[r])
        values = []
        for _, g in preds[preds.config == MAIN].groupby(["seed", "generator_seed"]):
            v = g[g.split == "val"]
            t = g[g.split == "test"].set_index("id").loc[test["id"]]
            thr = cm.choose_threshold(v["label"], v["p_mm"])
            values.append(cm.scores(t["label"].to_numpy()[idx], t["p_mm"].to_numpy()[idx],
                                    thr)["f1"])
        assert scores["f1"][r] == pytest.approx(np.mean(values))
    # the point estimate of the bootstrap is the mean over runs of the summary table
    u = stats.test_uncertainty(per_seed, rs, [MAIN]).set_index("metric")
    assert u.loc["auroc", "mean"] == pytest.approx(per_seed[per_seed.config == MAIN].auroc.mean())
    assert u.loc["auroc", "boot_lo"] <= u.loc["auroc", "mean"] <= u.loc["auroc", "boot_hi"]
    dl = cm.delong(rs.y, rs.probabilities(MAIN))
    assert dl["auroc"] == pytest.approx(u.loc["auroc", "mean"])
    assert (u.loc["auroc", "delong_lo"], u.loc["auroc", "delong_hi"]) == (dl["lo"], dl["hi"])


def test_paired_comparisons_share_the_resamples(study):
    preds, per_seed, _ = study
    twin = preds[preds.config == MAIN].assign(config="twin")  # the same predictions again
    both = pd.concat([preds, twin], ignore_index=True)
    rs = stats.TestResampler(both, n_boot=200, seed=3)
    per = stats.per_seed_metrics(both)
    same = stats.paired_table(per, rs, ["twin"], baseline=MAIN).set_index("metric")
    # identical predictions on identical resamples: every difference is exactly zero
    assert (same[["diff", "boot_lo", "boot_hi"]].to_numpy() == 0).all()
    assert same.loc["auroc", "p_delong"] == 1.0 and same.loc["auroc", "delong_lo"] == 0
    # no difference at all, by every source: equivalent within each metric's margin
    assert same.loc["auroc", "verdict"] == "no change (equivalent within +/-0.05)"
    assert same.loc["f1", "verdict"] == "no change (equivalent within +/-0.1)"
    assert (same["n_seeds"] == 3).all() and (same["n_cells"] == 6).all()
    vs_base = stats.paired_table(per, rs, [MAIN]).set_index("metric")
    assert vs_base.loc["auroc", "n_seeds"] == 3  # replicates averaged within their seed
    d = rs.scores(MAIN)["auroc"] - rs.scores(BASELINE)["auroc"]
    assert vs_base.loc["auroc", "boot_lo"] == pytest.approx(np.quantile(d, 0.025))
    expect = cm.compare_seeds(per, BASELINE, MAIN, "auroc")
    assert vs_base.loc["auroc", "diff"] == pytest.approx(expect["diff"])


def test_tables_and_conclusions_follow_the_numbers(study):
    preds, per_seed, rs = study
    others = [MAIN, MM_ONLY, OVERSAMPLED, TSTR, PASSTHROUGH]
    paired = stats.paired_table(per_seed, rs, others)
    confound = stats.paired_table(per_seed, rs, [MM_ONLY], baseline=OVERSAMPLED)
    u = stats.test_uncertainty(per_seed, rs, [BASELINE, *others])
    text = conclusions(paired, per_seed, u, n_test=20, n_sources=10, confound=confound)
    assert "20 crops of 10 source images" in text and "held-out test set" in text
    pooled = conclusions(paired, per_seed.assign(folds=3), u, n_test=20, n_sources=10)
    assert "pooled over 3 folds (every one of 20 crops of 10 source images" in pooled
    row = paired[(paired.config == MAIN) & (paired.metric == "auroc")].iloc[0]
    main_line = text.split("Main hypothesis")[1].split("\n")[0]
    assert row["verdict"] in main_line and f"{row['diff']:+.3f}" in main_line
    # TSTR was made uninformative (gap 0): its AUROC cannot be told from chance
    tstr = u[(u.config == TSTR) & (u.metric == "auroc")].iloc[0]
    assert tstr["verdict"] == "not distinguishable from chance"
    assert TSTR in text.split("Not distinguishable from chance")[1]
    assert "Synthetic melanoma only" in text and confound.iloc[0]["verdict"] in text
    trtr = per_seed[per_seed.config == BASELINE].auroc
    _, lo, hi = cm.t_interval(trtr)
    value = per_seed[per_seed.config == PASSTHROUGH].auroc.mean()
    assert ("the check holds" in text) == bool(lo <= value <= hi)
    m = stats.confusion_counts(preds, MAIN)
    assert m.sum() == 120 and m[0].sum() == 60  # 3 seeds x 2 replicates x 20 test crops


def _fold_preds():
    """Two folds, one run: each fold's validation picks its own threshold (0.5 and 0.25)."""
    rows = [  # fold, split, id, label, p_mm
        (0, "val", "v0p", 1, 0.8), (0, "val", "v0n", 0, 0.2),
        (0, "test", "a", 1, 0.45), (0, "test", "b", 0, 0.3),
        (1, "val", "v1p", 1, 0.4), (1, "val", "v1n", 0, 0.1),
        (1, "test", "c", 1, 0.3), (1, "test", "d", 0, 0.2)]
    return pd.DataFrame([{"config": BASELINE, "seed": 0, "generator_seed": -1, "fold": f,
                          "split": s, "id": i, "source": f"src_{i}", "label": y, "p_mm": p,
                          "is_synthetic": False, "is_duplicate": False}
                         for f, s, i, y, p in rows])


def test_folds_pool_out_of_fold_predictions_at_each_folds_threshold():
    preds = _fold_preds()
    row = tc.test_metrics(preds).iloc[0]
    # a (0.45) misses fold 0's 0.5, c (0.3) passes fold 1's 0.25: one of two melanomas found
    assert row["n_test"] == 4 and row["folds"] == 2 and row["threshold"] == pytest.approx(0.375)
    assert row["sensitivity"] == 0.5 and row["specificity"] == 1.0
    assert row["auroc"] == pytest.approx(3.5 / 4)  # pooled: 0.3 vs 0.3 is a tie
    per_fold = tc.test_metrics(preds, by=("config", "seed", "fold"))
    assert per_fold["threshold"].tolist() == pytest.approx([0.5, 0.25])
    resampler = stats.TestResampler(preds, n_boot=20, seed=0)
    assert resampler.test["id"].tolist() == ["a", "b", "c", "d"]  # every crop once
    assert stats.confusion_counts(preds, BASELINE).tolist() == [[1, 1], [0, 2]]
    label = stats.runs_label(tc.test_metrics(preds), BASELINE)
    assert label == "over 1 classifier seed, each run pooling 2 folds"


def test_a_family_arm_is_not_read_as_a_learning_curve_arm(study):
    # "real+syn_<family>" shares the learning curve's "real+syn_" prefix; only "..._<pct>%"
    # arms have a real-only partner at the same fraction
    preds, per_seed, rs = study
    family = preds[preds.config == MAIN].assign(config=f"{MAIN}_stylegan2")
    both = pd.concat([preds, family], ignore_index=True)
    per = stats.per_seed_metrics(both)
    rs2 = stats.TestResampler(both, n_boot=50, seed=1)
    paired = stats.paired_table(per, rs2, [MAIN, f"{MAIN}_stylegan2"])
    u = stats.test_uncertainty(per, rs2, [BASELINE, MAIN])
    text = conclusions(paired, per, u, n_test=20, n_sources=10)
    assert "Little real data" not in text
