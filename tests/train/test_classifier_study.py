"""Notebook 06's plan, tables and generated conclusions, on hand-made predictions (no training)."""

from dataclasses import replace

import numpy as np
import pandas as pd
import pytest

from hsilib import config
from hsilib.metrics import classification as cm
from hsilib.models.classifiers import WeightFileError
from hsilib.train import classifier_study as S

DIRS = {"MM": "/x/fastgan_mm", "DN": "/x/fastgan_dn"}


def test_plan_skips_missing_weights_and_rejects_wrong_paths(tmp_path):
    cfg = config.resolve("quick", "classifier")
    plan, skipped = S.plan_experiments(cfg, DIRS)
    names = [e.name for e in plan]
    assert names[:2] == [S.BASELINE, S.MAIN] and "tstr" in names
    assert {"real_25%", "real+syn_25%", "real_50%", "real+syn_50%"} <= set(names)
    assert len(skipped) == 2 and all("not set" in s for s in skipped)
    main = plan[1].kwargs
    assert main["n_synthetic"] == {"MM": cfg.n_synthetic_mm, "DN": cfg.n_synthetic_dn}
    assert plan[0].kwargs["extra_test"]["synthetic"] == [DIRS["MM"], DIRS["DN"]]
    with pytest.raises(WeightFileError, match="pretrained_weights"):
        S.plan_experiments(replace(cfg, pretrained_weights=str(tmp_path / "no.pth")), DIRS)
    weights = tmp_path / "imagenet.pth"
    weights.write_bytes(b"")
    plan, skipped = S.plan_experiments(replace(cfg, pretrained_weights=str(weights)), DIRS)
    assert {"imagenet", "imagenet+syn", "imagenet_probe"} <= {e.name for e in plan}
    assert len(skipped) == 1 and "specialist" in skipped[0]


def test_holm_hand_case():
    # sorted p: 0.01 (x3), 0.02 (x2 -> 0.04), 0.04 (x1 -> 0.04, monotone); NaN stays NaN
    np.testing.assert_allclose(S.holm([0.04, 0.01, np.nan, 0.02]), [0.04, 0.03, np.nan, 0.04])


def _preds(seeds=(0, 1, 2)):
    """Two configs on 20 test + 10 val images; 'better' separates the classes more."""
    rng = np.random.default_rng(0)
    rows = []
    for split, n in (("val", 10), ("test", 20)):
        y = np.r_[np.ones(n // 2, int), np.zeros(n - n // 2, int)]
        for seed in seeds:
            for cfg, gap in ((S.BASELINE, 0.1), (S.MAIN, 0.4)):
                p = np.clip(0.5 + gap * (y - 0.5) + 0.15 * rng.standard_normal(n), 0, 1)
                rows.append(pd.DataFrame({"config": cfg, "seed": seed, "split": split,
                                          "id": [f"{split}{i}" for i in range(n)],
                                          "label": y, "p_mm": p, "is_synthetic": False}))
    return pd.concat(rows, ignore_index=True)


def test_tables_and_conclusions_follow_the_numbers():
    preds = _preds()
    per_seed = S.per_seed_metrics(preds)
    assert set(per_seed["config"]) == {S.BASELINE, S.MAIN, "TRTR"}  # no synthetic test split
    table = S.summary_table(per_seed, [S.BASELINE, S.MAIN])
    mean = per_seed[per_seed.config == S.MAIN]["auroc"].mean()
    assert table.loc[S.MAIN, "auroc"].startswith(f"{mean:.3f} [")
    paired = S.paired_table(preds, per_seed, [S.MAIN], n_boot=200)
    row = paired.set_index("metric").loc["auroc"]
    expect = cm.compare_seeds(per_seed, S.BASELINE, S.MAIN, "auroc")
    assert row["diff"] == pytest.approx(expect["diff"]) and row["p_t"] == expect["p_t"]
    text = S.conclusions(paired, per_seed, n_test=20)
    assert "20 images" in text and f"{row['diff']:+.3f}" in text
    verdict = "an improvement" if row["lo"] > 0 and row["p_t"] < 0.05 else "no detectable"
    assert verdict in text.split("Main hypothesis")[1].split("\n")[0]
    m = S.confusion_counts(preds, S.MAIN)
    assert m.sum() == 60 and m[0].sum() == 30  # 3 seeds x 20 test images, half melanoma
