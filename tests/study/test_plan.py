"""Notebook 06's plan: every configuration, its runs per generator replicate, skipped parts,
wrong weight paths."""

import json
from dataclasses import replace

import pandas as pd
import pytest

from hsilib import config
from hsilib.data.splits import fold_split, grouped_kfold
from hsilib.models.classifiers import WeightFileError
from hsilib.study.grid import grid_cells
from hsilib.study.plan import (
    BASELINE,
    MAIN,
    MM_ONLY,
    OVERSAMPLED,
    PASSTHROUGH,
    TSTR,
    arm_table,
    measured_seconds,
    plan_experiments,
)

DIRS = {g: {"MM": f"/x/fastgan_mm_g{g}", "DN": f"/x/fastgan_dn_g{g}"} for g in (0, 1)}
PASS = {"MM": "/x/passthrough_mm", "DN": "/x/passthrough_dn"}


def test_plan_skips_missing_weights_and_rejects_wrong_paths(tmp_path):
    cfg = config.resolve("quick", "classifier")
    study = config.resolve("quick", "classifier_study")
    plan, skipped = plan_experiments(cfg, study, DIRS, PASS)
    names = [e.name for e in plan]
    assert names[:4] == [BASELINE, MAIN, MM_ONLY, OVERSAMPLED] and TSTR in names
    assert {"real_25%", PASSTHROUGH} <= set(names)
    # no synthetic crops at a reduced fraction without generators trained on its subsample
    assert "real+syn_25%" not in names and "real+syn_50%" not in names
    assert sum("not set" in s for s in skipped) == 2
    assert sum("learning curve at" in s for s in skipped) == 2
    with pytest.raises(WeightFileError, match="pretrained_weights"):
        plan_experiments(replace(cfg, pretrained_weights=str(tmp_path / "no.pth")), study,
                         DIRS)
    weights = tmp_path / "imagenet.pth"
    weights.write_bytes(b"")
    plan, skipped = plan_experiments(replace(cfg, pretrained_weights=str(weights)), study, DIRS)
    assert {"imagenet", "imagenet+syn", "imagenet_probe"} <= {e.name for e in plan}
    assert PASSTHROUGH not in {e.name for e in plan}
    assert any("specialist" in s for s in skipped) and any("pass-through" in s for s in skipped)


def test_synthetic_configurations_run_per_generator_replicate():
    cfg = config.resolve("quick", "classifier")
    study = config.resolve("quick", "classifier_study")
    plan = {e.name: e for e in plan_experiments(cfg, study, DIRS, PASS)[0]}
    for name, e in plan.items():
        uses_synthetic = "synthetic" in e.kwargs or bool(e.per_replicate)
        real_only = name in (BASELINE, OVERSAMPLED, "augment", "focal", "balanced", "real_25%",
                             "real_50%", PASSTHROUGH, "focal+balanced")
        assert real_only != (e.replicates == (0, 1)), name
        assert not real_only or not e.per_replicate, name
        assert uses_synthetic or real_only, name
    main = plan[MAIN].arguments(1)
    assert main["synthetic"] == DIRS[1] and main["generator_seed"] == 1
    assert main["n_synthetic_total"] == study.n_synthetic_total and "n_synthetic" not in main
    mm_only = plan[MM_ONLY].arguments(0)
    assert mm_only["synthetic"] == {"MM": DIRS[0]["MM"]}
    assert mm_only["n_synthetic"] == {"MM": study.n_synthetic_mm_only}
    assert plan[OVERSAMPLED].arguments(None) == {"duplicate_mm": study.n_synthetic_mm_only}
    # TSTR of replicate g is also scored on the OTHER replicate's crops (held out)
    assert plan[TSTR].arguments(0)["extra_test"] == {"heldout": list(DIRS[1].values())}
    assert plan[TSTR].arguments(1)["extra_test"] == {"heldout": list(DIRS[0].values())}
    assert plan[BASELINE].arguments(None)["extra_test"] == {
        f"synthetic_g{g}": [d["MM"], d["DN"]] for g, d in DIRS.items()}
    assert plan[PASSTHROUGH].arguments(None)["synthetic"] == PASS
    with pytest.raises(ValueError, match="name one"):
        plan[MAIN].arguments(None)
    with pytest.raises(ValueError, match="no generator replicate 5"):
        plan[MAIN].arguments(5)
    # a cell's fingerprint depends on its own replicate's folders only
    assert plan[MAIN].spec(0) != plan[MAIN].spec(1)
    fewer = {e.name: e for e in plan_experiments(cfg, study, {0: DIRS[0]}, PASS)[0]}
    assert fewer[MAIN].spec(0) == plan[MAIN].spec(0)
    assert "extra_test" not in fewer[TSTR].arguments(0)  # one replicate: nothing held out


def _crop_index(n_sources=(9, 12)):
    """Two crops per source image, MM and DN sources."""
    return pd.DataFrame([{"id": f"{c}{i}_{k}", "source": f"{c}{i}", "class": c}
                         for c, n in zip(("MM", "DN"), n_sources, strict=True)
                         for i in range(n) for k in (1, 2)])


def test_folds_plan_one_cell_per_config_seed_fold_and_no_test_source_in_training():
    k, seeds = 3, (0, 1)
    kfold = grouped_kfold(_crop_index(), k=k, seed=0)
    tables = {r: fold_split(kfold, r) for r in range(k)}
    dirs = {r: {"MM": f"/x/fastgan_mm_f{r}", "DN": f"/x/fastgan_dn_f{r}"} for r in range(k)}
    passthrough = {r: {"MM": f"/x/passthrough_mm_f{r}", "DN": f"/x/passthrough_dn_f{r}"}
                   for r in range(k)}
    # what each fold's generators (and pass-through folders) were made from: its training crops
    made_from = {d: set(tables[r].source[tables[r].split == "train"])
                 for r in range(k) for d in [*dirs[r].values(), *passthrough[r].values()]}
    cfg = config.resolve("smoke", "classifier")
    # TSTR counts set: with None the 1:2 arm counts the exported crops (test_tstr_ratio_...)
    study = replace(config.resolve("smoke", "classifier_study"), n_synthetic_tstr=6)
    plan, _ = plan_experiments(cfg, study, dirs, passthrough, folds=True)
    cells = grid_cells(plan, seeds)
    assert len(cells) == len(plan) * len(seeds) * k
    assert len({c.name for c in cells}) == len(cells)
    assert {(c.experiment.name, c.seed, c.replicate) for c in cells} == {
        (e.name, s, r) for e in plan for s in seeds for r in range(k)}
    for cell in cells:
        args = cell.experiment.arguments(cell.replicate)
        assert args["fold"] == cell.replicate and "generator_seed" not in args
        assert cell.name.endswith(f"_seed{cell.seed}_f{cell.replicate}")
        table = tables[cell.replicate]
        test_sources = set(table.source[table.split == "test"])
        training = set() if args.get("real_train") is False else set(
            table.source[table.split == "train"])
        for folder in (args.get("synthetic") or {}).values():
            training |= made_from[folder]
        assert training and not training & test_sources, cell.name
        assert not training & set(table.source[table.split == "val"]), cell.name
    base = {e.name: e for e in plan}[BASELINE]
    assert base.arguments(2)["extra_test"] == {"synthetic": list(dirs[2].values())}
    # another fold's generators were trained on this fold's test crops: the audit would catch it
    assert made_from[dirs[1]["MM"]] & set(tables[0].source[tables[0].split == "test"])
    with pytest.raises(ValueError, match="every fold"):
        plan_experiments(cfg, study, dirs, {0: passthrough[0]}, folds=True)


# -- the optional arms ------------------------------------------------------------------------
CURVE = {0.25: {g: {"MM": f"/x/curve25_mm_g{g}", "DN": f"/x/curve25_dn_g{g}"} for g in (0, 1)}}
FAMILIES = {"spade_rgb": {0: {"MM": "/x/spade_rgb_mm_g0", "DN": "/x/spade_rgb_dn_g0"}},
            "classcond": {0: {"MM": "/x/classcond_mm_g0", "DN": "/x/classcond_dn_g0"}}}


def _full_plan(**inputs):
    cfg = config.resolve("full", "classifier")
    study = replace(config.resolve("full", "classifier_study"), n_synthetic_tstr=60,
                    fractions=(0.25, 0.5, 1.0), mixed=((100, 50), (66, 0)),
                    syn_families=("spade_rgb", "cyclegan"), tstr_families=("classcond",))
    plan, skipped = plan_experiments(cfg, study, DIRS, PASS, **inputs)
    return {e.name: e for e in plan}, skipped, study


def test_reduced_curve_arms_use_their_own_generators_on_one_subsample_per_replicate():
    plan, skipped, study = _full_plan(curve_dirs=CURVE)
    real, syn = plan["real_25%"], plan["real+syn_25%"]
    assert real.replicates == syn.replicates == (0, 1)
    for g in (0, 1):  # the pair trains on the same subsample: the one its generators saw
        assert real.arguments(g) == {"fraction": 0.25, "subsample_seed": g, "generator_seed": g}
        args = syn.arguments(g)
        assert args["synthetic"] == CURVE[0.25][g] and args["subsample_seed"] == g
        assert args["fraction"] == 0.25 and args["n_synthetic_total"] == study.n_synthetic_total
    # 50% has no generators of its own: real only, on a subsample per seed, and a note
    assert "real+syn_50%" not in plan and plan["real_50%"].replicates == ()
    assert any("learning curve at 50%" in s for s in skipped)


def test_optional_arms_and_their_arguments():
    plan, skipped, study = _full_plan(families=FAMILIES, sefa_dirs={0: "/x/sefa_g0",
                                                                     1: "/x/sefa_g1"})
    assert plan["focal+balanced"].arguments(None) == {"loss": "focal", "balanced": True}
    assert plan["resnet50"].arguments(None) == {"arch": "resnet50"}
    assert plan["resnet50+syn"].arguments(1)["arch"] == "resnet50"
    mixed = plan["real+100MM+50DN"].arguments(0)
    assert mixed["n_synthetic"] == {"MM": 100, "DN": 50} and mixed["synthetic"] == DIRS[0]
    only_mm = plan["real+66MM+0DN"].arguments(1)  # a zero count leaves its class out
    assert only_mm["n_synthetic"] == {"MM": 66} and only_mm["synthetic"] == {"MM": DIRS[1]["MM"]}
    # TSTR 1:2 keeps the nevus count and halves the melanoma count
    ratio = plan["tstr_1to2"].arguments(0)
    assert ratio["real_train"] is False and ratio["n_synthetic"] == {"MM": 30, "DN": 60}
    rgb = plan["real+syn_spade_rgb"]  # one replicate: notebook 04 trains once
    assert rgb.replicates == (0,) and rgb.arguments(0)["synthetic"] == FAMILIES["spade_rgb"][0]
    assert rgb.arguments(0)["n_synthetic_total"] == study.n_synthetic_total
    assert "real+syn_cyclegan" not in plan and any("cyclegan" in s for s in skipped)
    c11 = plan["tstr_classcond"].arguments(0)  # one generator for both classes (check 11c)
    assert c11["synthetic"] == FAMILIES["classcond"][0] and c11["real_train"] is False
    assert c11["n_synthetic"] == {"MM": 60, "DN": 60}
    sefa = plan["real+sefaMM"].arguments(1)
    assert sefa["synthetic"] == {"MM": "/x/sefa_g1"}
    assert sefa["n_synthetic"] == {"MM": study.n_synthetic_mm_only}
    none = {e.name for e in plan_experiments(
        config.resolve("full", "classifier"),
        replace(study, arms=(), syn_families=(), tstr_families=()), DIRS, PASS)[0]}
    assert not none & {"focal+balanced", "resnet50", "real+sefaMM", "tstr_1to2",
                       "real+100MM+50DN"}


def test_tstr_ratio_counts_the_exported_crops_when_not_set(tmp_path):
    dirs = {}
    for g in (0, 1):
        dirs[g] = {}
        for c, n in (("MM", 9), ("DN", 7 + g)):
            folder = tmp_path / f"{c}{g}"
            folder.mkdir()
            pd.DataFrame({"id": range(n)}).to_csv(folder / "index.csv", index=False)
            dirs[g][c] = folder
    study = replace(config.resolve("full", "classifier_study"), n_synthetic_tstr=None)
    plan = {e.name: e for e in plan_experiments(config.resolve("full", "classifier"), study,
                                                 dirs)[0]}
    assert plan["tstr_1to2"].arguments(0)["n_synthetic"] == {"MM": 4, "DN": 7}


def test_under_folds_an_arm_missing_a_fold_is_skipped():
    k = 3
    dirs = {r: {"MM": f"/x/mm_f{r}", "DN": f"/x/dn_f{r}"} for r in range(k)}
    cfg = config.resolve("full", "classifier")
    study = replace(config.resolve("full", "classifier_study"), n_synthetic_tstr=10)
    plan, skipped = plan_experiments(
        cfg, study, dirs, folds=True, families={"stylegan2": dirs, "spade_rgb": {0: dirs[0]}},
        curve_dirs={0.25: {0: dirs[0]}})
    names = {e.name for e in plan}
    assert "real+syn_stylegan2" in names and "real+syn_spade_rgb" not in names
    assert "real+syn_25%" not in names and "real_25%" in names
    assert all(e.replicates == tuple(range(k)) and e.by_fold for e in plan)
    assert any("spade_rgb" in s and "miss folds" in s for s in skipped)


def test_arm_table_comes_from_the_config():
    table = arm_table().set_index("arm")
    assert list(table.columns) == ["what", *config.PROFILES]
    for profile in config.PROFILES:
        study = config.resolve(profile, "classifier_study")
        for arm in config.CLASSIFIER_ARMS:
            assert (table.loc[arm, profile] == "runs") == (arm in study.arms), (arm, profile)
        for name in study.syn_families:
            assert table.loc[f"{MAIN}_{name}", profile] == "runs"
        for name in study.tstr_families:
            assert table.loc[f"{TSTR}_{name}", profile] == "runs"
    assert table.loc["resnet50", "quick"] == "-" and table.loc["resnet50", "full"] == "runs"


def test_measured_seconds_sum_the_stored_cells(tmp_path):
    for name, seed, secs in (("real", 0, 1.5), ("real", 1, 2.0), ("tstr", 0, 0.5),
                             ("gone", 0, 9.0)):
        folder = tmp_path / f"{name}_seed{seed}"
        folder.mkdir()
        (folder / "cell.json").write_text(json.dumps({"name": name, "seconds": secs}))
    plan = [type("E", (), {"name": n})() for n in ("real", "tstr", "focal")]
    seconds = measured_seconds(tmp_path, plan)
    assert seconds.to_dict() == {"real": 3.5, "tstr": 0.5, "focal": 0.0}
