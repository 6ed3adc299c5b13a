"""Notebook 08's parts by value: probe utilities (hsilib.study.correlation_utility), generator
pairs and the probe plan (hsilib.study.correlation_states), distances to the floor
(hsilib.study.correlation_scoring), the calibration (hsilib.study.correlation_calibration), the
association table and the generated words (hsilib.study.correlation)."""

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_curve

from hsilib.metrics.intervals import NO_ASSOCIATION
from hsilib.study import correlation as cor
from hsilib.study import correlation_calibration as cal
from hsilib.study import correlation_scoring as csc
from hsilib.study import correlation_states as cst
from hsilib.study import correlation_utility as cu
from hsilib.study.stats import holm


# --------------------------------------------------------------------------------------------
# Utilities
# --------------------------------------------------------------------------------------------
def test_run_scores_against_hand_computed_values():
    y = np.array([0, 0, 0, 0, 0, 1, 1, 1, 1, 1])
    p = np.array([0.1, 0.2, 0.3, 0.4, 0.7, 0.35, 0.6, 0.8, 0.9, 0.95])
    s = cu.run_scores(y, p, specificity=0.8, bins=2)
    fpr, tpr, _ = roc_curve(y, p)
    assert s["sens_at_spec"] == pytest.approx(tpr[fpr <= 0.2].max())
    assert s["brier"] == pytest.approx(np.mean((p - y) ** 2))
    # two bins: [0, 0.5) holds 5 crops (1 melanoma), [0.5, 1] 5 crops (4 melanomas)
    low, high = p < 0.5, p >= 0.5
    want = (low.sum() * abs(y[low].mean() - p[low].mean())
            + high.sum() * abs(y[high].mean() - p[high].mean())) / len(y)
    assert s["ece"] == pytest.approx(want)
    assert s["auroc"] == pytest.approx(0.88)
    with pytest.raises(ValueError, match="both melanoma and nevus"):
        cu.run_scores(np.zeros(4), np.full(4, 0.3))


def test_utility_pairs_by_seed_and_fold():
    scores = pd.DataFrame({
        "config": ["real", "real", "s", "s", "real_folds", "f", "f"],
        "seed": [0, 1, 0, 1, 0, 0, 1], "fold": [-1, -1, -1, -1, 2, 2, 2],
        "auroc": [0.7, 0.8, 0.75, 0.79, 0.6, 0.65, 0.5],
        "sens_at_spec": 0.5, "brier": [0.2, 0.2, 0.25, 0.15, 0.2, 0.2, 0.2], "ece": 0.1})
    u = cu.utility_table(scores, ["s", "f"])  # fold 2's seed 1 has no baseline: unpaired
    row = u[(u.state == "s") & (u.utility == "auroc")].iloc[0]
    assert row["diff"] == pytest.approx(((0.75 - 0.7) + (0.79 - 0.8)) / 2)
    assert row["n_pairs"] == 2
    f = u[(u.state == "f") & (u.utility == "auroc")].iloc[0]
    assert f["diff"] == pytest.approx(0.05) and f["n_pairs"] == 1  # against fold 2's baseline
    brier = u[(u.state == "s") & (u.utility == "brier")].iloc[0]
    assert brier["diff"] == pytest.approx(0.0)
    with pytest.raises(ValueError, match="shares no seed and fold"):
        cu.utility_table(scores.assign(fold=scores.fold.where(scores.config != "f", 3)), ["f"])


def test_run_scores_takes_read_only_table_columns_without_a_torch_warning():
    import warnings

    table = pd.DataFrame({"y": [0, 0, 1, 1], "p": [0.1, 0.6, 0.4, 0.9]})
    y, p = table["y"].to_numpy(), table["p"].to_numpy()
    assert not y.flags.writeable  # what a column gives (copy-on-write)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # torch's "not writable" warning would raise here
        s = cu.run_scores(y, p, specificity=0.5, bins=2)
    assert s["auroc"] == pytest.approx(0.75)


def test_utility_difference_equal_up_to_rounding_is_constant_not_tested():
    import warnings

    # 0.8 - 0.7 and 0.2 - 0.1 differ by ~1e-16: scipy's t-test would warn of precision loss
    scores = pd.DataFrame({"config": ["real", "real", "s", "s"], "seed": [0, 1, 0, 1],
                           "fold": -1, "auroc": [0.7, 0.1, 0.8, 0.2],
                           "sens_at_spec": [0.5, 0.5, 0.5 + 1e-17, 0.5],
                           "brier": [0.2, 0.3, 0.1, 0.35], "ece": 0.1})
    d = (scores.auroc[2:].to_numpy() - scores.auroc[:2].to_numpy())
    assert np.ptp(d) > 0  # not exactly constant
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        u = cu.utility_table(scores, ["s"]).set_index("utility")
    assert np.isnan(u.loc["auroc", "p_t"]) and u.loc["auroc", "diff"] == pytest.approx(0.1)
    assert u.loc["sens_at_spec", "p_t"] == 1.0  # no difference at all
    assert 0 < u.loc["brier", "p_t"] < 1  # a real spread is still tested


def test_helps_reads_the_direction_of_each_utility():
    row = dict(lo=0.01, hi=0.05, p_t=0.01)
    assert cu.helps(pd.Series({**row, "utility": "auroc"})) == 1
    assert cu.helps(pd.Series({**row, "utility": "brier"})) == -1  # Brier up: worse
    assert cu.helps(pd.Series({**row, "p_t": np.nan, "utility": "auroc"})) == 0
    assert cu.helps(pd.Series(dict(lo=-0.01, hi=0.05, p_t=0.01, utility="ece"))) == 0


# --------------------------------------------------------------------------------------------
# Pairs of the run's generators, and the probe's plan
# --------------------------------------------------------------------------------------------
def _found():
    rows = []
    for fam, name, seed, step, fold in [("fastgan", "fastgan_{}_g0", 0, 300, -1),
                                        ("fastgan", "fastgan_{}_g0_s000100", 0, 100, -1),
                                        ("vae", "vae_{}_g1", 1, 300, -1),
                                        ("fastgan", "fastgan_{}_f0", 0, 300, 0)]:
        for cls in ("MM", "DN"):
            rows.append({"state": name.format(cls.lower()), "path": f"/c/{name}.pt",
                         "family": fam, "class": cls, "seed": seed, "step": step,
                         "snapshot": "_s" in name, "image_size": 64, "fold": fold})
    rows.append({"state": "fastgan_mm_default_compare", "path": "/c/x.pt", "family": "fastgan",
                 "class": "MM", "seed": 0, "step": 150, "snapshot": False, "image_size": 64,
                 "fold": -1})
    return pd.DataFrame(rows)


def test_pairs_join_the_classes_of_one_kind_and_name_their_run():
    pairs, notes = cst.pair_states(_found())
    assert sorted(pairs.state) == ["fastgan_f0", "fastgan_g0", "fastgan_g0_s000100", "vae_g1"]
    p = pairs.set_index("state")
    assert p.loc["fastgan_g0_s000100", "run"] == "fastgan_g0" and p.loc["fastgan_g0_s000100",
                                                                       "snapshot"]
    assert p.loc["fastgan_f0", "fold"] == 0
    assert len(notes) == 1 and "fastgan_mm_default_compare" in notes[0]
    assert "no nevus generator" in notes[0]
    sub = cst.spread_pairs(pairs, 2)
    assert len(sub) == 2 and set(sub.family) == {"fastgan", "vae"}


def test_the_probe_plan_adds_both_classes_and_runs_folds_inside_them():
    states = {"oracle_clean": ({"MM": "a", "DN": "b"}, -1, "clean"),
              "fastgan_f1": ({"MM": "c", "DN": "d"}, 1, "fold pair")}
    dup = {-1: {"MM": "dm", "DN": "dd"}, 1: {"MM": "fm", "DN": "fd"}}
    counts = {-1: {"MM": 3, "DN": 6}, 1: {"MM": 2, "DN": 5}}
    plan = {e.name: e for e in cst.probe_plan(states, dup, counts)}
    assert list(plan) == ["real", "real+dup", "real_folds", "real+dup_folds", "oracle_clean",
                          "fastgan_f1"]
    assert plan["oracle_clean"].arguments(None) == dict(
        synthetic={"MM": "a", "DN": "b"}, n_synthetic={"MM": None, "DN": None})
    assert plan["real+dup"].arguments(None)["n_synthetic"] == {"MM": 3, "DN": 6}
    assert plan["fastgan_f1"].arguments(1)["fold"] == 1
    assert plan["real_folds"].replicates == (1,)
    assert cst.probe_checkpoint("/c", 2).name == "08_probe_real_seed2.pt"
    assert cst.probe_checkpoint("/c", 0, 1).name == "08_probe_real_folds_seed0_f1.pt"


def test_real_counts_and_duplicates(tmp_path):
    from fakedata import write_fake_run

    _, table = write_fake_run(tmp_path, n_per_class=8)
    counts = cst.real_counts({-1: table}, 50)
    train = table[table.split == "train"]["class"].value_counts()
    assert counts[-1] == {c: int(np.floor(train[c] / 2 + 0.5)) for c in ("MM", "DN")}
    assert cst.real_counts({-1: table}, 50, max_crops=2)[-1] == {"MM": 2, "DN": 2}
    assert cst.real_counts({-1: table}, 50, max_crops=1000) == counts
    folder = cst.write_duplicates(tmp_path / "artifacts" / "crops", table, "MM", tmp_path / "dup")
    from hsilib.data.crop_folder import read_index

    index = read_index(folder)
    assert sorted(index.id) == sorted(table[(table.split == "train")
                                            & (table["class"] == "MM")].id)
    assert not index.is_synthetic.any()
    stamp = (folder / "index.csv").stat().st_mtime_ns
    cst.write_duplicates(tmp_path / "artifacts" / "crops", table, "MM", tmp_path / "dup")
    assert (folder / "index.csv").stat().st_mtime_ns == stamp  # kept as it is
    with pytest.raises(ValueError, match="each class needs at least 2"):
        cst.real_counts({-1: table}, 1)


# --------------------------------------------------------------------------------------------
# Distances, calibration
# --------------------------------------------------------------------------------------------
def test_distances_are_absolute_and_averaged_over_classes():
    long = pd.DataFrame({"state": ["s"] * 4, "class": ["MM", "DN"] * 2,
                         "metric": ["FD", "FD", "precision", "precision"],
                         "value": [0.5, 0.3, 0.7, 0.9], "floor": [0.1, 0.1, 0.9, np.nan]})
    d = csc.distances(long)
    assert d.loc["s", "FD"] == pytest.approx((0.4 + 0.2) / 2)
    assert d.loc["s", "precision"] == pytest.approx((0.2 + 0.9) / 2)


def test_apart_uses_the_half_widths_that_face_each_other():
    # value 1.0, its interval reaching down to 0.8 (se 0.1); floor 0.5 exact: 5 se apart
    assert cal.apart(1.0, 0.8, 5.0, 0.5)
    assert not cal.apart(1.0, 0.2, 1.1, 0.5)  # the long lower half reaches the floor
    # the floor's upper half counts too: hypot(0.1, 0.25) * 1.96 > 0.5
    assert not cal.apart(1.0, 0.8, 1.2, 0.5, 0.45, 0.5 + 0.25 * cal.Z95)
    assert not cal.apart(np.nan, 0, 1, 0.5)


def _ladder_long():
    """Two kinds, a metric that rises with both, one that ignores them, and a floor table."""
    rows = []
    for state, _kind, level in [("oracle_clean", "clean", 0.0), ("oracle_a_0.5", "a", 0.5),
                                ("oracle_a_1", "a", 1.0), ("oracle_b_0.5", "b", 0.5),
                                ("oracle_b_1", "b", 1.0)]:
        rows.append({"state": state, "class": "MM", "metric": "good", "value": 1 + 4 * level,
                     "floor": 1.0, "ci_low": 0.9 + 4 * level, "ci_high": 1.1 + 4 * level,
                     "kind": "distribution"})
        rows.append({"state": state, "class": "MM", "metric": "blind", "value": 1.0,
                     "floor": 1.0, "ci_low": 0.5, "ci_high": 1.5, "kind": "distribution"})
    rungs = pd.DataFrame({"state": ["oracle_clean", "oracle_a_0.5", "oracle_a_1",
                                    "oracle_b_0.5", "oracle_b_1"],
                          "kind": ["clean", "a", "a", "b", "b"],
                          "level": [0.0, 0.5, 1.0, 0.5, 1.0]})
    floors = pd.DataFrame({"class": "MM", "metric": ["good", "blind"], "ci_low": [0.9, 0.5],
                           "ci_high": [1.1, 1.5]})
    return pd.DataFrame(rows), rungs, floors


def test_monotonicity_tells_a_rising_metric_from_a_blind_one():
    long, rungs, floors = _ladder_long()
    mono = cal.monotonicity(long, floors, rungs, n_draws=300).set_index(["metric", "kind"])
    assert mono.loc[("good", "a"), "rho"] == pytest.approx(1.0)
    assert mono.loc[("good", "a"), "verdict"] == cal.RISES and mono.loc[("good", "b"),
                                                                        "detected"]
    assert mono.loc[("blind", "a"), "verdict"] == cal.UNDECIDED
    assert not mono.loc[("blind", "b"), "detected"]
    check = cal.floor_check(long[long.state == "oracle_clean"], floors)
    assert check.at_floor.all()
    # the task-aware distance brings its own interval of value minus floor
    rel = pd.DataFrame({"class": ["MM"], "metric": ["relevance_distance"], "value": [0.3],
                        "floor": [0.1], "ci_low": [0.25], "ci_high": [0.4],
                        "excess_low": [-0.05], "excess_high": [0.3], "kind": ["task-aware"]})
    band = cal.floor_band(rel, floors).iloc[0]
    assert (band.floor_low, band.floor_high) == pytest.approx((0.0, 0.35))


def test_positions_and_the_calibration_table():
    ladder = pd.DataFrame({"FD": [0.1, 0.2, 0.4]}, index=["r1", "r2", "r3"])
    gens = pd.DataFrame({"FD": [0.3, 0.05]}, index=["g1", "g2"])
    place = cal.positions(ladder, gens).set_index("state")
    assert place.loc["g1", "share_below"] == pytest.approx(2 / 3)
    assert place.loc["g1", "nearest"] in {"r2", "r3"} and place.loc["g2", "nearest"] == "r1"
    long, rungs, floors = _ladder_long()
    mono = cal.monotonicity(long, floors, rungs, n_draws=100)
    check = cal.floor_check(long[long.state == "oracle_clean"], floors)
    assoc = pd.DataFrame({"metric": ["good", "blind"], "utility": "auroc", "method": "within",
                          "r": [-0.9, 0.1], "lo": [-1, -0.5], "hi": [-0.7, 0.6],
                          "verdict": ["negative association", NO_ASSOCIATION]})
    place = cal.positions(pd.DataFrame({"good": [1.0], "blind": [0.0]}, index=["r"]),
                          pd.DataFrame({"good": [2.0], "blind": [0.0]}, index=["g"]))
    table = cal.calibration_table(check, mono, assoc, place).set_index("metric")
    assert table.loc["good", "rises"] == "2/2" and table.loc["blind", "rises"] == "0/2"
    assert table.loc["good", "predicts"] == "negative association"
    assert table.loc["good", "generators_share_below"] == 1.0


# --------------------------------------------------------------------------------------------
# The association table and the words
# --------------------------------------------------------------------------------------------
def _planted_ladder(seed=0):
    rng = np.random.default_rng(seed)
    kinds = [f"k{i}" for i in range(8)]
    rungs = pd.DataFrame({"state": ["oracle_clean"] + [f"oracle_{k}_{v:g}" for k in kinds
                                                       for v in (0.5, 1.0)],
                          "kind": ["clean"] + [k for k in kinds for _ in (0, 1)],
                          "level": [0.0] + [0.5, 1.0] * 8})
    level = rungs.level.to_numpy()
    dist = pd.DataFrame({"good": level * rng.uniform(0.5, 2, len(level)),
                         "noise": rng.uniform(size=len(level))}, index=rungs.state)
    utility = pd.DataFrame({"auroc": -0.1 * level + rng.normal(0, 0.005, len(level))},
                           index=rungs.state)
    return rungs, dist, utility


def test_association_table_finds_the_planted_metric_within_kinds():
    rungs, dist, utility = _planted_ladder()
    layout, within = cor.ladder_layout(rungs)
    assert "oracle_clean" not in set(within.state) and len(within) == 8 * 2
    assert layout.set_index("state").loc["oracle_clean", "group"] == "clean"
    table = cor.association_table(dist, utility, layout, within, n_boot=300, n_perm=499)
    assert list(dict.fromkeys(table.method)) == list(cor.METHODS)
    t = table.set_index(["metric", "method"])
    assert t.loc[("good", "within"), "verdict"] == "negative association"
    assert t.loc[("noise", "within"), "verdict"] == NO_ASSOCIATION
    assert t.loc[("good", "within"), "n_clusters"] == 8
    assert t.loc[("good", "pearson"), "vs_bound"] == "beyond the bound"
    assert t.loc[("good", "spearman"), "verdict"] == "" and np.isnan(t.loc[("good", "spearman"),
                                                                           "p_perm"])
    for _, g in table[table.method.isin(cor.TESTED)].groupby(["utility", "method"]):
        assert g["p_holm"].to_numpy() == pytest.approx(holm(g["p_perm"].to_numpy()))
    with pytest.raises(ValueError, match="no metrics or utility"):
        cor.association_table(dist.iloc[:3], utility, layout, within)


def test_conclusions_follow_the_headline_numbers():
    rungs, dist, utility = _planted_ladder()
    table = cor.association_table(dist, utility, *cor.ladder_layout(rungs), n_boot=200,
                                  n_perm=199)
    long_u = pd.DataFrame({"state": list(utility.index), "utility": "auroc",
                           "diff": utility.auroc.to_numpy(), "lo": -1.0, "hi": 1.0,
                           "p_t": 0.5})
    calib = pd.DataFrame({"metric": ["good", "noise"], "at_floor": [True, True],
                          "rises": ["8/8", "0/8"], "predicts": [
                              table.query("metric == 'good' and method == 'within'").verdict
                              .iloc[0], NO_ASSOCIATION]})
    text = cor.conclusions(calibration=calib, ladder=table, generators=None, utility=long_u,
                           names=dict.fromkeys(utility.index, "ladder"), n_seeds=3)
    assert "**Which metric to trust** (at the floor for the oracle" in text
    assert "predicting auroc within kinds): `good`." in text
    assert "`good` -" in text and "over 3 classifier seeds" in text
    assert "over 17 states" in text and "duplicated real" not in text
    with_control = pd.concat([long_u, long_u.iloc[:1].assign(state="real+dup", diff=0.02)])
    text = cor.conclusions(calibration=calib, ladder=table, generators=None,
                           utility=with_control, n_seeds=3,
                           names={**dict.fromkeys(utility.index, "ladder"),
                                  "real+dup": "control"})
    assert "over 17 states" in text and "duplicated real crops instead: +0.020" in text
    calib["predicts"] = NO_ASSOCIATION
    text = cor.conclusions(calibration=calib, ladder=table, generators=None, utility=long_u,
                           names=dict.fromkeys(utility.index, "ladder"), n_seeds=3)
    assert "within kinds): none." in text


def test_find_pairs_from_checkpoints_with_a_run_saved_under_two_names(tmp_path):
    import torch

    from hsilib import config
    from hsilib.train.trainer import make_trainer

    cfg = config.resolve("smoke", "vae", steps=1)
    images = torch.rand(6, cfg.n_bands, cfg.image_size, cfg.image_size) * 2 - 1
    mm, dn = [f"m{i}" for i in range(6)], [f"d{i}" for i in range(6)]
    run = make_trainer(cfg, images, seed=0, device="cpu", data_ids=mm)
    run.fit(1, checkpoint=tmp_path / "vae_mm_g0.pt")
    run.save(tmp_path / "vae_mm_a_sweep.pt")  # the same run: kept under the earlier name
    make_trainer(cfg, images, seed=0, device="cpu", data_ids=dn).fit(
        1, checkpoint=tmp_path / "vae_dn_g0.pt")
    table = pd.DataFrame({"id": mm + dn, "split": "train", "class": ["MM"] * 6 + ["DN"] * 6,
                          "source": mm + dn})
    pairs, notes = cst.find_pairs(tmp_path, {-1: table}, cfg.image_size)
    assert list(pairs.state) == ["vae_g0"] and pairs.loc[0, "fold"] == -1
    assert pairs.loc[0, "path_dn"].endswith("vae_dn_g0.pt")
    assert any("vae_mm_a_sweep" in n and "no nevus" in n for n in notes)
    assert not any("counted once" in n for n in notes)
    none, notes = cst.find_pairs(tmp_path, {-1: table}, cfg.image_size * 2)
    assert none.empty and any("left out" in n and "px" in n for n in notes)


def test_state_scorer_shares_its_feature_network_and_real_summaries(tmp_path):
    # every state of notebook 08 is compared with the same real crops: the scorer builds the
    # protocol's network once and reads the real sets once per fold; each table is the one
    # evaluate_set gives on its own
    from dataclasses import replace

    from fakedata import write_fake_crops, write_fake_run

    from hsilib import config
    from hsilib.data.datasets import load_crops
    from hsilib.paths import run_paths
    from hsilib.study.classifier_inputs import ClassifierInputs
    from hsilib.study.correlation_scoring import StateScorer
    from hsilib.study.generators.study import evaluate_set

    write_fake_run(tmp_path, n_per_class=10)
    run = run_paths(tmp_path).make()
    inputs = ClassifierInputs(run, seeds=(0,))
    metrics = replace(config.resolve("smoke", "metrics"), probe_epochs=0, feature_size=75)
    scorer = StateScorer(inputs, size=32, metrics=metrics, classes=("MM",), seed=0,
                         probe_size=32)
    states = {}
    for s in (1, 2):
        write_fake_crops(tmp_path / f"state{s}", 6, synthetic=True, seed=s, classes=("MM",))
        states[s] = {"MM": tmp_path / f"state{s}"}
    tables = [scorer.metric_table(states[s]) for s in (1, 2)]
    assert len(scorer._summaries[-1]) == 2  # the real training and held-out sets, read once
    for s, table in zip((1, 2), tables, strict=True):
        synthetic = load_crops(states[s]["MM"], inputs.normaliser, 32).images
        alone = evaluate_set(scorer.data(-1), "MM", synthetic, metrics=metrics, seed=0,
                             device="cpu").assign(**{"class": "MM"})
        pd.testing.assert_frame_equal(table, alone)
