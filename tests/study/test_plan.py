"""Notebook 06's plan: every configuration, skipped pretrained parts, wrong weight paths."""

from dataclasses import replace

import pytest

from hsilib import config
from hsilib.models.classifiers import WeightFileError
from hsilib.study.plan import BASELINE, MAIN, plan_experiments

DIRS = {"MM": "/x/fastgan_mm", "DN": "/x/fastgan_dn"}


def test_plan_skips_missing_weights_and_rejects_wrong_paths(tmp_path):
    cfg = config.resolve("quick", "classifier")
    study = config.resolve("quick", "classifier_study")
    plan, skipped = plan_experiments(cfg, study, DIRS)
    names = [e.name for e in plan]
    assert names[:2] == [BASELINE, MAIN] and "tstr" in names
    assert {"real_25%", "real+syn_25%", "real_50%", "real+syn_50%"} <= set(names)
    assert len(skipped) == 2 and all("not set" in s for s in skipped)
    main = plan[1].kwargs
    assert main["n_synthetic"] == {"MM": study.n_synthetic_mm, "DN": study.n_synthetic_dn}
    assert plan[0].kwargs["extra_test"]["synthetic"] == [DIRS["MM"], DIRS["DN"]]
    with pytest.raises(WeightFileError, match="pretrained_weights"):
        plan_experiments(replace(cfg, pretrained_weights=str(tmp_path / "no.pth")), study,
                         DIRS)
    weights = tmp_path / "imagenet.pth"
    weights.write_bytes(b"")
    plan, skipped = plan_experiments(replace(cfg, pretrained_weights=str(weights)), study, DIRS)
    assert {"imagenet", "imagenet+syn", "imagenet_probe"} <= {e.name for e in plan}
    assert len(skipped) == 1 and "specialist" in skipped[0]
