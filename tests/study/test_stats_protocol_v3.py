"""Protocol v3 of the classifier statistics: the classifier seed as the unit of replication,
equivalence (TOST), power and the minimal detectable change, the three-way verdict, the TRTS
reading, and each profile's design. Simulations are vectorised and seeded."""

import numpy as np
import pandas as pd
import pytest
from fakedata import fake_predictions
from scipy import stats as sps

from hsilib.metrics import classification as cm
from hsilib.metrics import intervals as iv
from hsilib.metrics import power as pw
from hsilib.study import stats
from hsilib.study.conclusions import conclusions
from hsilib.study.plan import BASELINE, MAIN
from hsilib.study.power_analysis import Design, design_power, profile_designs

ALPHA = 0.05


# --------------------------------------------------------------------------------------------
# The null: no true effect, seeds x generator replicates
# --------------------------------------------------------------------------------------------
def _designs() -> list[tuple[int, int]]:
    """(seeds, generator replicates) of every profile's classifier and proportion study, and
    the designs 3 x 2, 2 x 2 and 5 x 3."""
    found = {(d.n_seeds, d.n_replicates) for section in ("classifier_study", "proportion_study")
             for d in profile_designs(section, seeds_only=section == "proportion_study")}
    return sorted(found | {(3, 2), (2, 2), (5, 3)})


def _null_runs(rng, n_sim: int, n_seeds: int, n_reps: int, both: bool):
    """Per-run metrics with no true effect: a seed effect shared by both configurations of a
    seed (paired by seed) plus independent run noise; the baseline runs once per seed (or,
    with ``both``, per replicate too, as a filtered arm against its random control)."""
    seed = rng.standard_normal((n_sim, n_seeds, 1))
    base = seed + rng.standard_normal((n_sim, n_seeds, n_reps if both else 1))
    other = seed + rng.standard_normal((n_sim, n_seeds, n_reps))
    return base, other


def _old_pairing_p(base, other) -> np.ndarray:
    """The protocol before v3: every replicate paired with its seed's baseline run, the pairs
    treated as independent (a t-test over seeds x replicates)."""
    d = (other - base).reshape(len(other), -1)
    return cm.paired_t(d)["p"]


def _false_positive_rates(n_seeds, n_reps, both=False, n_sim=4000, seed=0):
    rng = np.random.default_rng([seed, n_seeds, n_reps, int(both)])
    base, other = _null_runs(rng, n_sim, n_seeds, n_reps, both)
    after = cm.paired_t(other.mean(-1) - base.mean(-1))["p"]  # replicates averaged per seed
    before = _old_pairing_p(base, other)
    return float(np.mean(before < ALPHA)), float(np.mean(after < ALPHA))


@pytest.mark.parametrize("n_seeds,n_reps", _designs())
def test_paired_test_over_seeds_holds_its_level_under_the_null(n_seeds, n_reps):
    """The seed-level test has exactly the level 0.05 here, so a simulated rate exceeds
    0.05 + 2 SE by chance in about 2% of seeds; the draws are seeded."""
    n_sim = 4000
    bound = ALPHA + 2 * np.sqrt(ALPHA * (1 - ALPHA) / n_sim)
    for both in (False, True) if n_reps > 1 else (False,):
        before, after = _false_positive_rates(n_seeds, n_reps, both, n_sim)
        assert after <= bound, (n_seeds, n_reps, both, after)
        if n_reps > 1 and n_seeds > 1 and not both:
            # the defect the protocol fixes: one baseline run shared by several pairs
            assert before > bound, (n_seeds, n_reps, before)


def test_compare_seeds_on_a_table_is_the_vectorised_test():
    rng = np.random.default_rng(3)
    base, other = _null_runs(rng, 1, 3, 2, both=False)
    rows = [dict(config="a", seed=s, generator_seed=-1, auroc=base[0, s, 0]) for s in range(3)]
    rows += [dict(config="b", seed=s, generator_seed=r, auroc=other[0, s, r])
             for s in range(3) for r in range(2)]
    res = cm.compare_seeds(pd.DataFrame(rows), "a", "b", "auroc")
    vec = cm.paired_t(other.mean(-1) - base.mean(-1))
    assert res["p_t"] == pytest.approx(vec["p"][0])
    assert (res["lo"], res["hi"]) == pytest.approx((vec["lo"][0], vec["hi"][0]))
    assert res["n_seeds"] == 3 and res["n_cells"] == 6


def test_every_interval_over_runs_is_over_seed_means():
    preds = fake_predictions({BASELINE: 0.3, MAIN: 0.4}, replicates={MAIN: (0, 1)})
    per_seed = stats.per_seed_metrics(preds)
    rs = stats.TestResampler(preds, n_boot=100, seed=0)
    means = per_seed[per_seed.config == MAIN].groupby("seed")["auroc"].mean()
    mean, lo, hi = iv.t_interval(means)
    u = stats.test_uncertainty(per_seed, rs, [MAIN]).set_index("metric").loc["auroc"]
    assert (u["mean"], u["runs_lo"], u["runs_hi"]) == pytest.approx((mean, max(lo, 0),
                                                                      min(hi, 1)))
    assert u["runs"] == "over 3 classifier seeds, 2 generator replicates averaged within seed"
    agg = cm.aggregate_seeds(per_seed[per_seed.config == MAIN], metrics=["auroc"]).iloc[0]
    assert agg["n"] == 3 and (agg["lo"], agg["hi"]) == pytest.approx((lo, hi))
    p = stats.paired_table(per_seed, rs, [MAIN]).set_index("metric").loc["auroc"]
    assert p["runs"] == "over 3 classifier seeds, 2 generator replicates averaged within seed"
    assert p["n_seeds"] == 3


# --------------------------------------------------------------------------------------------
# Equivalence: TOST on hand-computed cases
# --------------------------------------------------------------------------------------------
def test_tost_t_hand_cases():
    # mean 0.02, sd 0.01, se 0.01 / sqrt(3); upper test t = (0.02 - 0.05) / se = -5.196, df 2
    se = 0.01 / np.sqrt(3)
    expect = sps.t.cdf((0.02 - 0.05) / se, 2)
    assert expect == pytest.approx(0.017549, abs=1e-6)
    assert iv.tost_t([0.01, 0.02, 0.03], 0.05) == pytest.approx(expect)  # inside: passes
    assert iv.tost_t([0.04, 0.06, 0.08], 0.05) > 0.5  # mean 0.06 across the margin: fails
    assert iv.tost_t([-0.08, -0.06, -0.04], 0.05) > 0.5  # symmetric
    assert np.isnan(iv.tost_t([0.01], 0.05))
    assert iv.tost_t([0.02, 0.02], 0.05) == 0.0 and iv.tost_t([0.07, 0.07], 0.05) == 1.0
    with pytest.raises(ValueError, match="margin"):
        iv.tost_t([0.0, 0.1], 0.0)


def test_tost_normal_and_bootstrap_hand_cases():
    # z = (0.01 - 0.05) / 0.015 = -2.667: p = Phi(-2.667) = 0.00383 (the other side: Phi(-4))
    assert iv.tost_normal(0.01, 0.015, 0.05) == pytest.approx(sps.norm.cdf(-0.04 / 0.015))
    assert iv.tost_normal(0.01, 0.015, 0.05) == pytest.approx(0.003830, abs=1e-6)
    assert iv.tost_normal(0.06, 0.015, 0.05) > 0.5
    d = np.array([-0.06, -0.02, 0.0, 0.02, 0.04])  # one resample at or below -0.05, none above
    assert iv.tost_bootstrap(d, 0.05) == pytest.approx(2 / 6)
    inside = np.linspace(-0.03, 0.03, 999)
    assert iv.tost_bootstrap(inside, 0.05) == pytest.approx(1 / 1000)


def test_tost_passes_exactly_when_the_90_percent_interval_lies_inside_the_margin():
    rng = np.random.default_rng(7)
    for _ in range(200):
        v = rng.normal(rng.uniform(-0.08, 0.08), 0.03, 4)
        _, lo, hi = iv.t_interval(v, level=1 - 2 * ALPHA)
        assert (iv.tost_t(v, 0.05) < ALPHA) == (-0.05 < lo and hi < 0.05)


def test_three_way_verdict():
    cv = iv.change_verdict
    assert cv(0.1, [(0.05, 0.2)], 0.01, p_equivalence=0.5, margin=0.05) == "improvement"
    assert cv(-0.1, [(-0.2, -0.05)], 0.01, p_equivalence=0.5, margin=0.05) == "deterioration"
    assert cv(0.01, [(-0.02, 0.04)], 0.6, p_equivalence=0.01, margin=0.05) == \
        "no change (equivalent within +/-0.05)"
    assert cv(0.01, [(-0.2, 0.2)], 0.6, p_equivalence=0.3, margin=0.05) == "cannot tell"
    assert cv(0.01, [(-0.2, 0.2)], 0.6, p_equivalence=np.nan, margin=0.05) == "cannot tell"
    assert cv(0.01, [(-0.2, 0.2)], 0.6) == "no detectable change"  # no equivalence test


def test_paired_table_equivalent_and_cannot_tell():
    # a near twin of the baseline (tiny noise) against a very noisy configuration
    preds = fake_predictions({BASELINE: 0.3}, seeds=(0, 1, 2, 3, 4))
    base = preds[preds.config == BASELINE]
    rng = np.random.default_rng(0)
    twin = base.assign(config="twin", p_mm=base.p_mm + rng.normal(0, 1e-3, len(base)))
    noisy = base.assign(config="noisy", p_mm=rng.uniform(0, 1, len(base)))
    both = pd.concat([preds, twin, noisy], ignore_index=True)
    per = stats.per_seed_metrics(both)
    rs = stats.TestResampler(both, n_boot=300, seed=1)
    t = stats.paired_table(per, rs, ["twin", "noisy"], metrics=("auroc",)).set_index("config")
    assert t.loc["twin", "verdict"] == "no change (equivalent within +/-0.05)"
    assert t.loc["twin", "p_tost_holm"] < ALPHA and t.loc["twin", "margin"] == 0.05
    assert t.loc["noisy", "verdict"] in ("cannot tell", "deterioration")
    for c in ("twin", "noisy"):
        r = t.loc[c]
        assert r["mdc"] >= max(r["mdc_runs"], r["mdc_test"]) - 1e-9
        assert r["mdc_test"] == pytest.approx(pw.mdc(sd_runs=None, n_seeds=5,
                                                     se_test=r["se_test"]))
        assert r["mdc_runs"] == pytest.approx(pw.mdc(sd_runs=r["sd"], n_seeds=5))


# --------------------------------------------------------------------------------------------
# Power: a true effect equal to the printed minimal detectable change is found ~80% of the time
# --------------------------------------------------------------------------------------------
N_POWER = 20000
TOL = 3 * np.sqrt(0.8 * 0.2 / N_POWER)  # simulation error


@pytest.mark.parametrize("n_seeds", [2, 3, 5])
def test_seed_test_detects_its_mdc_80_percent_of_the_time(n_seeds):
    sd = 0.05
    delta = pw.mdc(sd_runs=sd, n_seeds=n_seeds)
    rng = np.random.default_rng(n_seeds)
    d = rng.normal(delta, sd, (N_POWER, n_seeds))
    assert np.mean(cm.paired_t(d)["p"] < ALPHA) == pytest.approx(0.8, abs=TOL)
    null = rng.normal(0, sd, (N_POWER, n_seeds))
    assert pw.power(0.0, sd_runs=sd, n_seeds=n_seeds) == pytest.approx(ALPHA, abs=1e-3)
    assert np.mean(cm.paired_t(null)["p"] < ALPHA) == pytest.approx(ALPHA, abs=TOL)


def test_whole_rule_detects_its_mdc_80_percent_of_the_time():
    sd, se, n_seeds = 0.04, 0.03, 3
    delta = pw.mdc(sd_runs=sd, n_seeds=n_seeds, se_test=se)
    assert delta > max(pw.mdc(sd_runs=sd, n_seeds=n_seeds), pw.mdc(sd_runs=None, n_seeds=0,
                                                                  se_test=se))
    rng = np.random.default_rng(11)
    test_error = rng.normal(0, se, (N_POWER, 1))  # one test set, shared by every seed
    d = delta + test_error + rng.normal(0, sd, (N_POWER, n_seeds))
    res = cm.paired_t(d)
    z = sps.norm.ppf(1 - ALPHA / 2)
    found = (res["p"] < ALPHA) & (np.abs(res["mean"]) > z * se)
    assert found.mean() == pytest.approx(0.8, abs=TOL)


def test_test_set_mdc_from_delong_is_about_right_for_a_binormal_test_set():
    """16 melanomas and 29 nevi (the quick profile's test split), two correlated classifiers:
    DeLong's paired test finds a true AUROC difference equal to the MDC computed from the
    difference's standard error about 80% of the time (the SE changes a little with the
    AUROC, so the normal model is approximate by a few points)."""
    rng = np.random.default_rng(5)
    m, n, rho, mu_a = 16, 29, 0.9, 1.0
    y = np.r_[np.ones(m), np.zeros(n)]

    def draw(mu_b, n_sim):
        ex, ey = rng.standard_normal((n_sim, m)), rng.standard_normal((n_sim, n))
        xb = mu_b + rho * ex + np.sqrt(1 - rho ** 2) * rng.standard_normal((n_sim, m))
        yb = rho * ey + np.sqrt(1 - rho ** 2) * rng.standard_normal((n_sim, n))
        return np.array([[cm.delong_paired(y, np.r_[mu_a + ex[i], ey[i]],
                                           np.r_[xb[i], yb[i]])[k] for k in ("diff", "p_value")]
                         for i in range(n_sim)])

    se = draw(mu_a, 1000)[:, 0].std()
    delta = pw.mdc(sd_runs=None, n_seeds=0, se_test=se)
    auc_a = sps.norm.cdf(mu_a / np.sqrt(2))
    found = draw(np.sqrt(2) * sps.norm.ppf(auc_a + delta), 1500)
    assert found[:, 0].mean() == pytest.approx(delta, abs=0.01)
    assert np.mean(found[:, 1] < ALPHA) == pytest.approx(0.8, abs=0.05)


def test_mdc_edge_cases():
    assert np.isnan(pw.mdc(sd_runs=0.05, n_seeds=1))  # one seed: no test over seeds
    assert pw.mdc(sd_runs=0.0, n_seeds=3) == 0.0
    assert np.isnan(pw.mdc(sd_runs=np.nan, n_seeds=3))
    # the z-test alone: z_{0.975} + z_{0.8} standard errors (the far tail adds nothing visible)
    assert pw.mdc(sd_runs=None, n_seeds=0, se_test=0.1) == pytest.approx(0.28016, abs=1e-4)


# --------------------------------------------------------------------------------------------
# Each profile's design
# --------------------------------------------------------------------------------------------
def test_profile_designs_read_the_profiles():
    from hsilib import config

    for d in profile_designs("classifier_study"):
        gan = config.resolve(d.profile, "gan_study")
        assert d.n_seeds == len(config.resolve(d.profile, "classifier_study").seeds)
        folds = gan.replicates == "folds"
        assert d.folds == (folds and gan.folds_run is None)  # every fold: every crop tested
        assert d.n_replicates == (1 if folds else len(gan.generator_seeds))
    assert Design("x", 3, 2).label == "3 classifier seeds x 2 generator replicates"


def test_replicate_components_and_design_power_by_hand():
    other = np.array([[0.70, 0.74], [0.60, 0.66], [0.80, 0.82]])
    base = np.array([0.70, 0.65, 0.75])
    var_seed, var_rep = pw.replicate_components(other, base)
    # within-seed variance: deviations +-0.02, +-0.03, +-0.01 -> (2 * 0.0014) / 3 df
    assert var_rep == pytest.approx(2 * (0.02 ** 2 + 0.03 ** 2 + 0.01 ** 2) / 3)
    d = other.mean(1) - base  # 0.02, -0.02, 0.06
    assert var_seed == pytest.approx(d.var(ddof=1) - var_rep / 2)
    rows = [dict(config="a", seed=s, generator_seed=-1, auroc=base[s]) for s in range(3)]
    rows += [dict(config="b", seed=s, generator_seed=r, auroc=other[s, r])
             for s in range(3) for r in range(2)]
    paired = pd.DataFrame([dict(config="b", metric="auroc", se_test=0.04)])
    designs = [Design("p", 5, 3), Design("f", 5, 1, folds=True)]
    t = design_power(pd.DataFrame(rows), paired, designs, baseline="a", other="b",
                     n_sources_split=40, n_sources_all=160)
    sd3 = np.sqrt(var_seed + var_rep / 3)
    assert t.loc[0, "sd_runs"] == pytest.approx(sd3) and t.loc[0, "se_test"] == 0.04
    assert t.loc[0, "mdc"] == pytest.approx(pw.mdc(sd_runs=sd3, n_seeds=5, se_test=0.04))
    assert t.loc[1, "se_test"] == pytest.approx(0.02)  # 4x the sources: half the SE
    assert t.loc[1, "test set"] == "every MM and DN crop (160 source images)"


# --------------------------------------------------------------------------------------------
# Generated text: TRTS and the detectable change
# --------------------------------------------------------------------------------------------
def test_conclusions_give_the_mdc_and_both_readings_of_a_higher_trts():
    preds = fake_predictions({BASELINE: 0.3, MAIN: 0.3}, replicates={MAIN: (0, 1)})
    per_seed = stats.per_seed_metrics(preds)
    rs = stats.TestResampler(preds, n_boot=200, seed=2)
    paired = stats.paired_table(per_seed, rs, [MAIN])
    u = stats.test_uncertainty(per_seed, rs, [BASELINE, MAIN])
    trts = per_seed[per_seed.config == BASELINE].assign(config="TRTS", generator_seed=0)
    trts = pd.concat([trts, trts.assign(generator_seed=1)])
    trts["auroc"] = [0.97, 0.99, 0.98, 0.99, 0.96, 0.98]
    text = conclusions(paired, pd.concat([per_seed, trts]), u, n_test=20, n_sources=10)
    row = paired[(paired.config == MAIN) & (paired.metric == "auroc")].iloc[0]
    main = text.split("Main hypothesis")[1].split("\n")[0]
    assert row["verdict"] in main
    if row["verdict"] not in iv.CHANGES:
        assert f"smallest change detectable with 80% power: {row['mdc']:.3f}" in main
    line = text.split("TRTS vs TRTR")[1].split("\n")[0]
    assert "low within-class diversity" in line and "exaggerate the differences" in line
    assert "over 3 classifier seeds" in line
