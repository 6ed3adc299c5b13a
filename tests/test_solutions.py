"""The worked answers of `solutions/` against a finished run: each recomputed number equals the
one the notebook saved (or lies where the question says), so the answers cannot drift from the
code. By default the run is the suite's shared `smoke` run of every notebook; set
HSILIB_SOLUTIONS_RUN to a finished run folder to check them against that one instead."""

import json
import os
import re
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from hsilib import config  # noqa: E402
from solutions import (  # noqa: E402
    nb01_preprocessing,
    nb02_shsgan_ablations,
    nb03_fastgan,
    nb04_conditional,
    nb05_vae,
    nb06_classifiers,
    nb07_proportions,
    nb08_metric_correlation,
    nb09_explainability,
)

pytestmark = pytest.mark.notebooks


@pytest.fixture(scope="module")
def run(request) -> Path:
    chosen = os.environ.get("HSILIB_SOLUTIONS_RUN")
    if chosen:
        return Path(chosen)
    out, proc = request.getfixturevalue("smoke_run")
    assert (out / "manifest.json").is_file(), proc.stderr[-4000:]
    return out


@pytest.fixture(scope="module")
def study(run) -> config.StudyConfig:
    """Every config section of the profile the run ran under (its parameters unchanged)."""
    return config.resolve(json.loads((run / "manifest.json").read_text())["profile"])


def csv(run: Path, name: str) -> pd.DataFrame:
    return pd.read_csv(run / "artifacts" / "results" / f"{name}.csv")


def test_01_splits_are_grouped_and_the_framing_gap_is_the_checks_number(run):
    splits = pd.read_csv(run / "artifacts" / "splits" / "splits.csv")
    counts = nb01_preprocessing.split_counts(run)
    assert counts["total"].sum() == len(splits)
    assert list(counts.index) == ["train", "val", "test"]
    assert (counts[["MM", "DN"]] >= 1).all().all()  # both classes in every split
    assert nb01_preprocessing.sources_in_two_splits(run) == []
    gap = nb01_preprocessing.framing_gap(run)
    checks = csv(run, "01_checks").set_index("name")
    assert gap["gap"] == pytest.approx(checks.loc["framing", "value"], abs=1e-9)
    assert gap["gap"] == pytest.approx(abs(gap["MM"] - gap["DN"]))
    assert bool(checks.loc["framing", "passed"]) == (gap["gap"] < 0.05)
    dice = nb01_preprocessing.mean_dice(run)
    assert {"MM", "DN"} <= set(dice.index) and dice.between(0, 1).all()


def test_02_gaps_to_the_floor_match_the_arm_table(run, study):
    gaps = nb02_shsgan_ablations.gap_to_floor(run, "FD_rand")
    assert (gaps["n_seeds"] <= len(study.ablation_study.seeds)).all()
    finite = gaps["lo"].notna()
    assert finite.any() and (gaps.loc[finite, "lo"] <= gaps.loc[finite, "gap"]).all()
    assert (gaps.loc[finite, "gap"] <= gaps.loc[finite, "hi"]).all()
    # the arm table prints "value [lo, hi] (floor f)" to three significant digits
    table = csv(run, "02_arm_table")
    number = r"(-?[\d.]+(?:e-?\d+)?)"
    parsed = table["FD_rand"].str.extract(rf"^{number} \[.*\(floor {number}\)")
    table["gap"] = parsed[0].astype(float) - parsed[1].astype(float)
    printed = table.groupby(["arm", "class"])["gap"].mean()
    for row in gaps.itertuples():
        assert row.gap == pytest.approx(printed[row.arm, row._2], rel=0.02, abs=2e-3)


def test_03_gaps_and_replicate_spread(run, study):
    gaps = nb03_fastgan.gap_to_floor(run, "MM", "g0")
    assert np.allclose(gaps["gap"], gaps["value"] - gaps["floor"])
    inside = (gaps["ci_low"] <= gaps["floor"]) & (gaps["floor"] <= gaps["ci_high"])
    assert (gaps["floor_in_ci"] == inside).all()
    detect = gaps.set_index("metric").loc["detectability_AUROC"]
    checks = csv(run, "03_checks_memorisation_detectability")
    row = checks[(checks["class"] == "MM") & (checks["generator seed"] == 0)
                 & (checks["metric"] == "detectability_AUROC")].iloc[0]
    assert detect["value"] == pytest.approx(row["value"]) and detect["floor"] == pytest.approx(
        row["floor"])
    spread = nb03_fastgan.replicate_spread(run, "MM", "FD_rand")
    assert list(spread["replicate"]) == [f"g{s}" for s in study.gan_study.generator_seeds]
    assert spread["spread"].iloc[0] == pytest.approx(spread["value"].max() - spread["value"].min())
    assert (spread["ci_width"] >= 0).all()


def test_04_shape_gap_is_dice_minus_the_real_crops_floor(run):
    gaps = nb04_conditional.shape_gap(run)
    table = csv(run, "04_shape_fidelity")
    floors = table[table["model"] == "real validation crop (floor)"].set_index("class")["dice"]
    assert set(gaps["class"]) == set(floors.index) and len(gaps) >= 2
    assert np.allclose(gaps["floor"], gaps["class"].map(floors))
    assert np.allclose(gaps["gap"], gaps["dice"] - gaps["floor"])
    assert gaps["dice"].between(0, 1).all()


def test_05_kl_tradeoff_spans_the_sweep(run, study):
    answer = nb05_vae.kl_tradeoff(run)
    assert answer["n_weights"] == len(study.vae_study.kl_sweep)
    sweep = csv(run, "05_kl_sweep").sort_values("kl_weight")
    ranks = sweep.rank()
    by_hand = np.corrcoef(ranks["kl_weight"], ranks["KL_per_image"])[0, 1]
    assert answer["KL_per_image"] == pytest.approx(by_hand)
    assert all(-1 <= answer[k] <= 1 for k in ("KL_per_image", "recon_MSE", "sample_FD_rand"))


@pytest.mark.parametrize(("prefix", "solution"), [("06", nb06_classifiers),
                                                  ("07", nb07_proportions)])
def test_06_07_every_run_recomputes_from_its_predictions(run, prefix, solution):
    preds = csv(run, f"{prefix}_predictions")
    tested = set(map(tuple, preds.loc[preds["split"] == "test",
                                      ["config", "seed", "generator_seed"]].to_numpy()))
    metrics = csv(run, f"{prefix}_test_metrics")
    checked = 0
    for row in metrics.itertuples():
        if (row.config, row.seed, row.generator_seed) not in tested:
            continue  # TRTR / TRTS rows: other splits of the baseline's predictions
        answer = solution.recompute_run(run, row.config, row.seed, row.generator_seed)
        for key in ("threshold", "sensitivity", "specificity", "auroc"):
            assert answer[key] == pytest.approx(getattr(row, key), nan_ok=True), (row, key)
        checked += 1
    assert checked >= 2


def test_06_holm_by_hand_equals_the_tables_adjustment(run):
    for metric in ("auroc", "sensitivity"):
        table = nb06_classifiers.holm_table(run, metric)
        assert len(table) >= 2
        assert np.allclose(table["p_t_holm_by_hand"], table["p_t_holm"], equal_nan=True)
    # a hand-computed case: 0.01, 0.04, 0.03 -> 0.03, 0.06, 0.06
    assert np.allclose(nb06_classifiers.holm_by_hand([0.01, 0.04, 0.03]), [0.03, 0.06, 0.06])


def test_07_melanoma_only_mixes_raise_the_prior(run):
    shares = nb07_proportions.mm_share(run).set_index("config")
    table = csv(run, "07_composition").set_index("config")
    assert np.allclose(shares.loc[table.index, "MM_share"], table["MM share"])
    assert shares.loc["real", "prior_shift"] == pytest.approx(0.0)
    mm_only = [c for c in shares.index if re.search(r"_MM_", c)]
    both = [c for c in shares.index if re.search(r"_both_", c)]
    assert mm_only and (shares.loc[mm_only, "prior_shift"] > 0).all()
    assert (shares.loc[both, "prior_shift"].abs().max()
            < shares.loc[mm_only, "prior_shift"].min())


def test_08_floor_rule_by_hand_agrees_with_at_floor(run):
    table = nb08_metric_correlation.floor_check(run)
    assert len(table) >= 5
    assert (table["at_floor_by_hand"] == table["at_floor"].astype(bool)).all()
    # hand-computed: 1.0 +- 0.1 against an exact floor 0.5 is apart; against 0.9 it is not
    assert nb08_metric_correlation.apart_by_hand(1.0, 0.9, 1.1, 0.5, np.nan, np.nan)
    assert not nb08_metric_correlation.apart_by_hand(1.0, 0.9, 1.1, 0.9, np.nan, np.nan)


def test_09_band_choice_and_randomisation(run, study):
    bands = nb09_explainability.band_choice(run)
    assert len(bands) == study.explain_study.n_select
    assert np.allclose(bands["wavelength_by_hand"], bands["wavelength_nm"])
    assert np.allclose(bands["score_by_hand"], bands["score"])
    assert bands["novelty"].iloc[0] == pytest.approx(1.0) and bands["band"].is_unique
    rand = nb09_explainability.randomisation(run)
    assert set(rand["method"]) == set(study.explain_study.methods)
    assert rand["rho_absolute"].between(-1, 1).all()
    assert rand["rho_absolute"].is_monotonic_decreasing


def test_a_missing_table_names_the_notebook(tmp_path):
    with pytest.raises(Exception, match="run notebook 06_classifiers first"):
        nb06_classifiers.holm_table(tmp_path)
