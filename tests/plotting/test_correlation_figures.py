"""Notebook 08's figures show the numbers of hsilib.study.correlation."""

import matplotlib
import numpy as np
import pandas as pd

from hsilib.plotting import correlation as figs
from hsilib.study import correlation as cor

matplotlib.use("Agg")

RNG = np.random.default_rng(0)
N = 12
METRICS = pd.DataFrame({"FD": RNG.uniform(size=N), "recall": RNG.uniform(size=N)},
                       index=[f"s{i}" for i in range(N)])
UTILITY = pd.DataFrame({"auroc": -0.1 * METRICS["FD"] + RNG.normal(scale=0.01, size=N),
                        "sensitivity": RNG.normal(size=N)}, index=METRICS.index)
GROUPS = np.array(["fastgan MM", "vae MM"] * (N // 2))
TABLE = cor.correlation_table(METRICS, UTILITY, groups=GROUPS, n_boot=100, n_perm=99)


def test_heatmap_cells_are_the_correlations():
    fig = figs.heatmap(TABLE, "spearman")
    shown = fig.axes[0].images[0].get_array()
    want = TABLE[TABLE.method == "spearman"].pivot(index="metric", columns="utility", values="r")
    np.testing.assert_allclose(np.asarray(shown), want.to_numpy())
    matplotlib.pyplot.close(fig)


def test_forest_marks_the_bound_and_places_every_estimate():
    fig = figs.forest(TABLE, "auroc", 0.18)
    ax = fig.axes[0]
    band = ax.patches[0]
    assert np.isclose(band.get_x(), -0.18) and np.isclose(band.get_x() + band.get_width(), 0.18)
    xs = np.concatenate([np.asarray(ln.get_xdata(), float) for ln in ax.lines
                         if ln.get_marker() == "o"])
    want = TABLE[(TABLE.utility == "auroc") & TABLE.method.isin(["spearman", "pearson"])].r
    assert set(np.round(xs, 6)) == set(np.round(want.to_numpy(float), 6))
    matplotlib.pyplot.close(fig)


def test_scatter_points_and_matrix():
    fig = figs.scatter(METRICS, UTILITY["auroc"], GROUPS, TABLE, 0.18)
    pts = np.concatenate([c.get_offsets() for c in fig.axes[0].collections
                          if hasattr(c, "get_offsets") and len(c.get_offsets())
                          and c.get_offsets().shape[1] == 2 and not c.get_label().startswith("_")])
    assert len(pts) == N and set(np.round(pts[:, 0], 9)) == set(np.round(METRICS["FD"], 9))
    matplotlib.pyplot.close(fig)
    fig = figs.matrix(cor.metric_matrix(METRICS))
    assert np.asarray(fig.axes[0].images[0].get_array())[0, 0] == 1.0
    matplotlib.pyplot.close(fig)
