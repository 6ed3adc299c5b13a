"""Notebook 08's figures show the numbers of hsilib.study.correlation and
hsilib.study.correlation_calibration."""

import matplotlib
import numpy as np
import pandas as pd
import pytest

from hsilib.plotting import correlation as figs
from hsilib.study import correlation as cor

matplotlib.use("Agg")

RNG = np.random.default_rng(0)
KINDS = [f"k{i}" for i in range(5)]
RUNGS = pd.DataFrame({"state": ["oracle_clean"] + [f"oracle_{k}_{v:g}" for k in KINDS
                                                   for v in (0.5, 1.0)],
                      "kind": ["clean"] + [k for k in KINDS for _ in (0, 1)],
                      "level": [0.0] + [0.5, 1.0] * 5})
DIST = pd.DataFrame({"FD": RUNGS.level.to_numpy() * 2 + RNG.uniform(0, 0.1, 11),
                     "recall": RNG.uniform(size=11)}, index=RUNGS.state)
UTILITY = pd.DataFrame({"auroc": -0.1 * RUNGS.level.to_numpy() + RNG.normal(0, 0.01, 11),
                        "brier": RNG.normal(size=11)}, index=RUNGS.state)
TABLE = cor.association_table(DIST, UTILITY, *cor.ladder_layout(RUNGS), n_boot=100, n_perm=99)


def keeps_rules(fig):
    keeps_rules(fig)


def test_heatmap_cells_are_the_correlations(keeps_rules):
    fig = figs.heatmap(TABLE, "within")
    shown = fig.axes[0].images[0].get_array()
    want = TABLE[TABLE.method == "within"].pivot(index="metric", columns="utility", values="r")
    np.testing.assert_allclose(np.asarray(shown), want.loc[["FD", "recall"],
                                                           ["auroc", "brier"]].to_numpy())
    keeps_rules(fig)


def test_forest_marks_the_bound_and_places_every_estimate(keeps_rules):
    fig = figs.forest(TABLE, "auroc", 0.18)
    ax = fig.axes[0]
    band = ax.patches[0]
    assert np.isclose(band.get_x(), -0.18) and np.isclose(band.get_x() + band.get_width(), 0.18)
    xs = np.concatenate([np.asarray(ln.get_xdata(), float) for ln in ax.lines
                         if ln.get_marker() == "o"])
    want = TABLE[(TABLE.utility == "auroc")
                 & TABLE.method.isin(["within", "spearman", "pearson"])].r
    finite = (lambda v: set(np.round(v[np.isfinite(v)], 6)))  # noqa: E731
    assert finite(xs) == finite(want.to_numpy(float)) and len(xs) == len(want)
    keeps_rules(fig)


def test_ladder_axes_draw_each_kind_from_the_oracle_and_the_generators(keeps_rules):
    gens = pd.DataFrame({"FD": [3.0, 0.5]}, index=["g1", "g2"])
    fig = figs.ladder_axes(DIST, UTILITY["auroc"], RUNGS, gens,
                           pd.Series([0.01, -0.02], index=["g1", "g2"], name="auroc"),
                           columns=["FD"])
    lines = {ln.get_label(): ln for ln in fig.axes[0].lines}
    k0 = lines["k0"]
    np.testing.assert_allclose(k0.get_xdata(), DIST.loc[["oracle_clean", "oracle_k0_0.5",
                                                         "oracle_k0_1"], "FD"])
    np.testing.assert_allclose(lines["run's generators"].get_xdata(), [3.0, 0.5])
    keeps_rules(fig)


def test_calibration_and_utilities_and_matrix(keeps_rules):
    mono = pd.DataFrame({"metric": ["FD", "FD", "recall", "recall"], "kind": ["a", "b"] * 2,
                         "rho": [1.0, 0.5, -0.5, 0.0], "lo": [0.5, -1, -1, -1],
                         "hi": [1, 1, 1, 1], "detected": [True, False, False, True]})
    fig = figs.calibration(mono)
    np.testing.assert_allclose(np.asarray(fig.axes[0].images[0].get_array()),
                               [[1.0, 0.5], [-0.5, 0.0]])
    texts = sorted(t.get_text() for t in fig.axes[0].texts)
    assert "+1.0*o" in texts and "+0.0o" in texts
    keeps_rules(fig)
    utility = pd.DataFrame({"state": ["s1", "s2", "s1", "s2"], "utility": ["auroc"] * 2
                            + ["ece"] * 2, "diff": [0.1, -0.2, 0.0, 0.01],
                            "lo": [0.0, -0.3, -0.1, 0.0], "hi": [0.2, -0.1, 0.1, 0.02]})
    fig = figs.utilities(utility, {"s1": "oracle: blur", "s2": "fastgan"})
    xs = sorted(float(ln.get_xdata()[0]) for ln in fig.axes[0].lines if ln.get_marker() == "o")
    assert xs == pytest.approx([-0.2, 0.1])
    keeps_rules(fig)
    fig = figs.matrix(cor.metric_matrix(DIST))
    assert np.asarray(fig.axes[0].images[0].get_array())[0, 0] == 1.0
    keeps_rules(fig)


def test_ladder_samples_show_each_state_s_first_crops(tmp_path, keeps_rules):
    from hsilib.data.crop_folder import write_crop_folder

    folders = {}
    states = ["oracle_clean", *(f"oracle_blur_{k}" for k in range(1, 10))]  # 10: two blocks
    for state in states:
        rows = [({"id": f"{state}_{i}", "source": "x", "class": "MM", "label": 1,
                  "subtype": "MM", "lesion_index": 1, "y0": 0, "x0": 0, "y1": 8, "x1": 8,
                  "mask_area": 0, "is_synthetic": True, "generator": "g", "checkpoint_sha": "",
                  "seed": 0}, np.full((8, 8, 16), 0.3, np.float32), None) for i in range(3)]
        write_crop_folder(tmp_path / state, rows)
        folders[state] = {"MM": tmp_path / state}
    from hsilib import WAVELENGTHS_NM

    fig = figs.ladder_samples(folders, WAVELENGTHS_NM, n=2)
    shown = [ax for ax in fig.axes if ax.images]
    assert len(shown) == 2 * 10
    assert len({ax.get_subplotspec().rowspan.start for ax in shown}) == 5  # 2 blocks of 5 rows
    assert fig.axes[0].get_ylabel() == "oracle (clean)"
    assert fig.axes[2].get_ylabel() == "blur (level 5)"
    keeps_rules(fig)
