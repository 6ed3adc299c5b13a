"""Notebook 06's plan: every configuration, its runs per generator replicate, skipped parts,
wrong weight paths."""

from dataclasses import replace

import pytest

from hsilib import config
from hsilib.models.classifiers import WeightFileError
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
