"""Notebook 07's study: amounts per class, pools and the subsets drawn from them (filtered = the
top fraction by the critic's score, the random control of the same size), and the grid's training
sets (counts per class, synthetic crops only in training, reruns skip finished cells)."""

import json
import warnings
from dataclasses import replace

import numpy as np
import pandas as pd
import pytest
import torch
from fakedata import write_fake_crops

from hsilib import config
from hsilib.data.datasets import BandNormaliser
from hsilib.models import registry
from hsilib.study import proportion as P
from hsilib.study import stats
from hsilib.study.grid import run_grid
from hsilib.train import classifier as tc
from hsilib.train.trainer import make_trainer


def test_amounts_are_shares_of_each_real_class_rounded_half_up():
    assert P.amount_counts({"MM": 75, "DN": 143}, 50) == {"MM": 38, "DN": 72}
    assert P.amount_counts({"MM": 75, "DN": 143}, 200) == {"MM": 150, "DN": 286}
    assert P.amount_counts({"MM": 75, "DN": 143}, 0) == {"MM": 0, "DN": 0}
    with pytest.raises(ValueError, match="percent"):
        P.amount_counts({"MM": 1}, -5)


def test_pool_is_large_enough_for_every_arm():
    study = config.resolve("quick", "proportion_study")  # 50/100/200%, filtering at 100% (both)
    counts = {"MM": 75, "DN": 143}
    # MM: max(150 unfiltered at 200%, ceil(75 / 0.3) = 250); DN: max(286, ceil(143 / 0.3) = 477)
    assert P.pool_size(study, counts, "MM") == 250
    assert P.pool_size(study, counts, "DN") == 477


def test_top_takes_the_best_scored_candidates_and_random_the_same_number():
    scores = np.array([0.1, 0.9, 0.5, 0.3, 0.8, 0.2, 0.7])
    # n = 2 at fraction 0.5: candidates are the first 4 draws; the best two are 0.9 and 0.5
    assert P.select(7, 2, "top", scores=scores, fraction=0.5).tolist() == [1, 2]
    assert P.select(7, 2, "none").tolist() == [0, 1]
    rand = P.select(7, 2, "random", fraction=0.5, seed=3)
    assert len(rand) == 2 and set(rand) <= {0, 1, 2, 3} and len(set(rand)) == 2
    assert P.select(7, 2, "random", fraction=0.5, seed=3).tolist() == rand.tolist()
    # property on a larger pool: top beats every same-size subset of its candidates on the mean
    rng = np.random.default_rng(0)
    s = rng.normal(size=100)
    top = P.select(100, 9, "top", scores=s, fraction=0.3)
    cand = s[:30]
    assert len(top) == 9 and np.isclose(s[top].sum(), np.sort(cand)[-9:].sum())
    for seed in range(5):
        other = P.select(100, 9, "random", fraction=0.3, seed=seed)
        assert len(other) == 9 and other.max() < 30 and s[other].mean() <= s[top].mean()
    with pytest.raises(ValueError, match="needs 30 pool crops"):
        P.select(20, 9, "top", scores=s[:20], fraction=0.3)
    with pytest.raises(ValueError, match="how"):
        P.select(20, 2, "best")
    with pytest.raises(ValueError, match="scores"):
        P.select(20, 2, "top")


# -- pools from a real (tiny) generator checkpoint, and the grid's training sets ---------------
SIZE = 16


def _crops(folder, n_per_class, seed=0):
    """Real crops per the data contract, two per source image; melanoma darker in blue bands."""
    return write_fake_crops(folder, n_per_class, seed=seed, classes=tuple(n_per_class))


@pytest.fixture(scope="module")
def study(tmp_path_factory):
    root = tmp_path_factory.mktemp("run07")
    index = _crops(root / "crops", {"MM": 12, "DN": 24})  # train: 8 MM, 16 DN
    split = {0: "train", 1: "train", 2: "train", 3: "val", 4: "test", 5: "train"}
    index["split"] = [split[int(s[-4:]) % 6] for s in index["source"]]
    index[["id", "source", "class", "split"]].to_csv(root / "splits.csv", index=False)
    train_ids = index.loc[index["split"] == "train", "id"]
    norm = BandNormaliser().fit(np.load(root / "crops" / f"{i}.npz")["cube"] for i in train_ids)
    gcfg = config.resolve("smoke", "fastgan", ngf=4, ndf=4, z_dim=16, image_size=32, batch_size=4)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # no LPIPS backbone
        trainer = make_trainer(gcfg, torch.rand(6, 16, 32, 32) * 2 - 1, device="cpu")
    trainer.fit(1)
    ckpt = trainer.save(root / "fastgan.pt")
    pcfg = replace(config.resolve("smoke", "proportion_study"), amounts=(50.0, 100.0),
                   mixes=("MM", "DN", "both"), filter_amounts=(50.0,), filter_mixes=("both",),
                   filter_fraction=0.5)
    real_counts = {"MM": 8, "DN": 16}
    replicates = (0, 1)
    pools = {}
    for cls in ("MM", "DN"):
        for r in replicates:  # one checkpoint, two replicates: pools differ by their seed
            folder = root / "synthetic" / P.Subset("fastgan", cls, r, 0, "none").pool
            P.export_pool(ckpt, folder, n=P.pool_size(pcfg, real_counts, cls), cls=cls,
                          normaliser=norm, seed=100 + r, generator="fastgan", batch_size=8,
                          device="cpu")
            pools["fastgan", cls, r] = folder
    plan, subsets = P.plan_proportions(pcfg, real_counts, ["fastgan"], replicates,
                                       root / "synthetic")
    for s in subsets:
        folder = pools[s.family, s.cls, s.replicate]
        ids, scores = P.read_pool(folder)
        P.write_subset(folder, root / "synthetic" / s.name,
                       P.select(len(ids), s.n, s.how, scores=scores, fraction=0.5,
                                seed=s.replicate))
    ccfg = replace(config.resolve("smoke", "classifier"), image_size=SIZE, epochs=1, patience=1,
                   batch_size=8)
    cache = {}

    def train_cell(experiment, seed, replicate):
        return tc.run_experiment(experiment.name, ccfg, root / "crops", root / "splits.csv", norm,
                                 seeds=[seed], device="cpu", cache=cache,
                                 **experiment.arguments(replicate))

    def grid():
        return run_grid(plan, train_cell, seeds=(0,), out_dir=root / "cells",
                        context={"config": config.to_dict(ccfg)})

    return dict(root=root, ckpt=ckpt, pcfg=pcfg, plan=plan, subsets=subsets, pools=pools,
                real_counts=real_counts, grid=grid, preds=grid())


def test_pool_holds_the_draws_in_order_with_the_critics_scores(study):
    folder = study["pools"]["fastgan", "MM", 1]
    ids, scores = P.read_pool(folder)
    index = pd.read_csv(folder / "index.csv")
    assert ids == index["id"].tolist() and len(ids) == P.pool_size(study["pcfg"],
                                                                   study["real_counts"], "MM")
    objective, _ = registry.load(study["ckpt"])
    images = objective.sample(len(ids), seed=101, batch_size=8)
    assert np.allclose(scores, objective.score(images).numpy(), atol=1e-5)
    assert P.pool_is_current(folder, study["ckpt"], len(ids), 101)
    assert not P.pool_is_current(folder, study["ckpt"], len(ids), 102)


def test_filtered_subset_is_the_top_fraction_and_random_has_its_size(study):
    # both at 50%: 4 MM (candidates: the first 8 draws of the pool), 8 DN (the first 16)
    for cls, n in (("MM", 4), ("DN", 8)):
        folder = study["pools"]["fastgan", cls, 0]
        ids, scores = P.read_pool(folder)
        top = pd.read_csv(study["root"] / "synthetic" / P.Subset("fastgan", cls, 0, n, "top").name
                          / "index.csv")
        rand = pd.read_csv(study["root"] / "synthetic"
                           / P.Subset("fastgan", cls, 0, n, "random").name / "index.csv")
        cand = scores[: 2 * n]
        best = {ids[i] for i in np.argsort(-cand)[:n]}
        assert set(top["id"]) == best and len(rand) == len(top) == n
        assert set(rand["id"]) <= set(ids[: 2 * n])
        # the copied crops are the pool's files, unchanged
        for cid in top["id"]:
            a = np.load(folder / f"{cid}.npz")["cube"]
            b = np.load(study["root"] / "synthetic" / P.Subset("fastgan", cls, 0, n, "top").name
                        / f"{cid}.npz")["cube"]
            assert np.array_equal(a, b)


def test_grid_trains_each_cell_on_the_intended_crops(study):
    preds, counts = study["preds"], study["real_counts"]
    arms = P.describe(study["plan"]).set_index("config")
    comp = tc.composition(preds)
    for name, arm in arms.iterrows():
        n = P.amount_counts(counts, arm.percent)
        row = comp.loc[name]
        assert row["MM real"] == counts["MM"] and row["DN real"] == counts["DN"]
        want_mm = n["MM"] if arm.family == "fastgan" and arm.mix in ("MM", "both") else 0
        want_dn = n["DN"] if arm.family == "fastgan" and arm.mix in ("DN", "both") else 0
        assert (row["MM synthetic"], row["DN synthetic"]) == (want_mm, want_dn), name
        assert row["MM duplicated"] == (n["MM"] if arm.family == "duplicated" else 0), name
    # the duplication control reaches the prior of the melanoma-only arm at the same amount
    for pct in (50, 100):
        assert comp.loc[f"real+dupMM_{pct}%", "MM share"] == comp.loc[f"fastgan_MM_{pct}%",
                                                                     "MM share"]
    # synthetic crops only in training, and exactly the subset folder of the cell's replicate
    assert not preds.loc[preds["split"] != "train", "is_synthetic"].any()
    for r in (0, 1):
        rows = preds[(preds.config == "fastgan_both_50%_top") & (preds.generator_seed == r)
                     & preds.is_synthetic]
        want = set()
        for cls, k in (("MM", 4), ("DN", 8)):
            want |= set(pd.read_csv(study["root"] / "synthetic"
                                    / P.Subset("fastgan", cls, r, k, "top").name
                                    / "index.csv")["id"])
        assert set(rows["id"]) == want
    runs = preds.groupby("config")["generator_seed"].unique()
    assert sorted(runs["fastgan_DN_100%"]) == [0, 1] and list(runs["real"]) == [-1]


def test_rerun_skips_finished_cells_and_gives_identical_tables(study, capsys):
    again = study["grid"]()
    n_cells = sum(max(1, len(e.replicates)) for e in study["plan"])
    assert n_cells == 19  # baseline, 8 synthetic arms x 2 replicates, 2 duplication controls
    assert f"{n_cells} of {n_cells} cells stored" in capsys.readouterr().out
    pd.testing.assert_frame_equal(again, study["preds"])
    pd.testing.assert_frame_equal(stats.per_seed_metrics(again), stats.per_seed_metrics(
        study["preds"]))
    names = json.loads((study["root"] / "cells" / "real_seed0" / "cell.json").read_text())
    assert names["name"] == "real"


def test_amounts_that_round_to_zero_leave_their_class_out():
    pcfg = replace(config.resolve("smoke", "proportion_study"), amounts=(10.0,),
                   mixes=("MM", "DN", "both"), filter_mixes=())
    plan, subsets = P.plan_proportions(pcfg, {"MM": 4, "DN": 20}, ["fastgan"], (0,), "syn")
    # 10% of 4 MM rounds to 0: no MM-only arm, no duplication control, DN only in "both"
    assert [e.name for e in plan] == ["real", "fastgan_DN_10%", "fastgan_both_10%"]
    assert plan[2].arguments(0)["n_synthetic"] == {"DN": None}
    assert {(s.cls, s.n) for s in subsets} == {("DN", 2)}


def test_conclusions_name_the_effects_distinguishable_from_zero():
    arms = pd.DataFrame({"config": ["a", "b"], "family": "fastgan", "mix": "both",
                         "percent": [50.0, 100.0], "filter": "none"})
    paired = pd.DataFrame([
        dict(config=c, metric=m, diff=d, boot_lo=d - 0.02, boot_hi=d + 0.02, p_t_holm=p,
             verdict=v, margin=0.05, mdc=0.2, mdc_runs=0.3, mdc_test=0.1)
        for c, d, p, v in (("a", 0.10, 0.01, "improvement"),
                           ("b", 0.01, 0.60, "cannot tell"))
        for m in ("auroc", "sensitivity")])
    filtered = paired[paired.config == "b"].assign(config="b_top", against="b_random")
    text = P.conclusions(paired, arms, filtered)
    assert "**auroc** vs the real-only baseline: 1 of 2 configurations" in text
    assert "`a` +0.100 [+0.080, +0.120]" in text
    assert "0 are equivalent to it within +/-0.05" in text
    assert ("`b_top` vs `b_random`: AUROC +0.010 [-0.010, +0.030] (cannot tell; smallest "
            "change detectable with 80% power: 0.200 (seeds alone 0.300, test set alone "
            "0.100))") in text
    assert "Filtering: no arm" in P.conclusions(paired, arms, filtered.iloc[:0])


def test_a_family_runs_on_the_replicates_it_has_and_the_table_comes_from_the_config(tmp_path):
    study = replace(config.resolve("smoke", "proportion_study"), mixes=("MM",))
    plan, subsets = P.plan_proportions(study, {"MM": 8, "DN": 16}, ["fastgan", "spade_rgb"],
                                       {"fastgan": [0, 1], "spade_rgb": [0]}, tmp_path)
    by_name = {e.name: e for e in plan}
    assert by_name["fastgan_MM_50%"].replicates == (0, 1)
    assert by_name["spade_rgb_MM_50%"].replicates == (0,)  # notebook 04 trains once
    assert {(s.family, s.replicate) for s in subsets} == {("fastgan", 0), ("fastgan", 1),
                                                          ("spade_rgb", 0)}
    table = P.family_table().set_index("family")
    for profile in config.PROFILES:
        names = {f for f, _ in config.resolve(profile, "proportion_study").generators}
        assert set(table.index[table[profile] == "runs"]) == names, profile
    assert table.loc["spade_rgb", "checkpoint pattern"] == "spade_rgb_{tag}.pt"


def test_under_folds_every_configuration_runs_per_fold_with_that_folds_counts(tmp_path):
    study = replace(config.resolve("smoke", "proportion_study"), amounts=(50.0,),
                    mixes=("MM", "both"), filter_mixes=("both",))
    counts = {0: {"MM": 8, "DN": 16}, 1: {"MM": 6, "DN": 18}, 2: {"MM": 7, "DN": 15}}
    plan, subsets = P.plan_proportions(study, counts, ["fastgan"], [0, 1, 2], tmp_path,
                                       folds=True)
    assert all(e.by_fold and e.replicates == (0, 1, 2) for e in plan)  # baseline too
    by_name = {e.name: e for e in plan}
    assert by_name["real"].arguments(1) == {"fold": 1}
    assert by_name["real+dupMM_50%"].arguments(1) == {"duplicate_mm": 3, "fold": 1}
    assert by_name["real+dupMM_50%"].arguments(2)["duplicate_mm"] == 4  # 3.5 rounds up
    mm = by_name["fastgan_MM_50%"].arguments(2)
    assert mm["fold"] == 2 and mm["synthetic"] == {"MM": tmp_path / "07_fastgan_mm_f2_n4_none"}
    assert {(s.replicate, s.cls, s.n) for s in subsets if s.how == "none"} == {
        (0, "MM", 4), (0, "DN", 8), (1, "MM", 3), (1, "DN", 9), (2, "MM", 4), (2, "DN", 8)}
    assert "4/3 MM" in by_name["fastgan_MM_50%"].label  # the folds' counts, each once


def test_under_folds_only_generators_trained_inside_a_fold_run(tmp_path):
    for name in ("fastgan_mm_f0.pt", "fastgan_dn_f0.pt", "vae_mm_g0.pt", "vae_dn_g0.pt",
                 "cyclegan_g0.pt"):
        (tmp_path / name).write_bytes(b"")
    generators = (("fastgan", "fastgan_{cls}_{tag}.pt"), ("vae", "vae_{cls}_{tag}.pt"),
                  ("cyclegan", "cyclegan_{tag}.pt"), ("old", "vae_{cls}_g{replicate}.pt"))
    found, notes = P.family_checkpoints(generators, tmp_path, {0: "f0"}, folds=True)
    assert set(found) == {"fastgan"} and found["fastgan"]["MM", 0].name == "fastgan_mm_f0.pt"
    assert any(n.startswith("old: left out") for n in notes)  # a pattern without {tag}
    assert any(n.startswith("vae: no checkpoints") and "left out" in n for n in notes)
    found, _ = P.family_checkpoints(generators, tmp_path, {0: "g0"})  # seeds: g0 is a seed
    assert set(found) == {"fastgan", "vae", "cyclegan", "old"} - {"fastgan"}


def test_max_crops_caps_every_arm_its_pool_and_its_control():
    study = replace(config.resolve("full", "proportion_study"), max_crops=20)
    counts = {"MM": 75, "DN": 143}
    assert P.arm_counts(study, counts, 400.0) == {"MM": 20, "DN": 20}
    assert P.arm_counts(study, counts, 10.0) == {"MM": 8, "DN": 14}  # below the cap: as asked
    assert P.pool_size(study, counts, "DN") == 67  # ceil(20 / 0.3) for the filtered arms
    plan, _ = P.plan_proportions(study, counts, ["fastgan"], (0,), "syn")
    assert {e.name: e for e in plan}["real+dupMM_400%"].arguments(None)["duplicate_mm"] == 20
