"""Notebook 06's plan: every configuration, its runs per generator replicate, skipped parts,
wrong weight paths."""

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
    assert {"real_25%", "real+syn_25%", PASSTHROUGH} <= set(names)
    full = plan_experiments(cfg, config.resolve("full", "classifier_study"), DIRS, PASS)[0]
    assert {"real_50%", "real+syn_50%"} <= {e.name for e in full}
    assert len(skipped) == 2 and all("not set" in s for s in skipped)
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
                             "real_50%", PASSTHROUGH)
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
    study = config.resolve("smoke", "classifier_study")
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
