"""The study's tables, statistics and generated conclusions, on hand-made predictions."""

import numpy as np
import pytest
from fakedata import fake_predictions

from hsilib.metrics import classification as cm
from hsilib.study import stats
from hsilib.study.conclusions import conclusions
from hsilib.study.plan import BASELINE, MAIN


def test_holm_hand_case():
    # sorted p: 0.01 (x3), 0.02 (x2 -> 0.04), 0.04 (x1 -> 0.04, monotone); NaN stays NaN
    np.testing.assert_allclose(stats.holm([0.04, 0.01, np.nan, 0.02]), [0.04, 0.03, np.nan, 0.04])


def test_tables_and_conclusions_follow_the_numbers():
    preds = fake_predictions({BASELINE: 0.1, MAIN: 0.4})
    per_seed = stats.per_seed_metrics(preds)
    assert set(per_seed["config"]) == {BASELINE, MAIN, "TRTR"}  # no synthetic test split
    table = stats.summary_table(per_seed, [BASELINE, MAIN])
    mean = per_seed[per_seed.config == MAIN]["auroc"].mean()
    assert table.loc[MAIN, "auroc"].startswith(f"{mean:.3f} [")
    paired = stats.paired_table(preds, per_seed, [MAIN], n_boot=200)
    row = paired.set_index("metric").loc["auroc"]
    expect = cm.compare_seeds(per_seed, BASELINE, MAIN, "auroc")
    assert row["diff"] == pytest.approx(expect["diff"]) and row["p_t"] == expect["p_t"]
    text = conclusions(paired, per_seed, n_test=20)
    assert "20 images" in text and f"{row['diff']:+.3f}" in text
    verdict = "an improvement" if row["lo"] > 0 and row["p_t"] < 0.05 else "no detectable"
    assert verdict in text.split("Main hypothesis")[1].split("\n")[0]
    m = stats.confusion_counts(preds, MAIN)
    assert m.sum() == 60 and m[0].sum() == 30  # 3 seeds x 20 test images, half melanoma
