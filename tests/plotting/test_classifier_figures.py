"""Notebook 06's figures show the numbers of hsilib.study.stats (hand-made predictions)."""

import matplotlib
import numpy as np
from fakedata import fake_predictions

from hsilib.metrics.classification import auroc
from hsilib.plotting import classifiers as figs
from hsilib.study import stats
from hsilib.study.plan import BASELINE, MAIN

matplotlib.use("Agg")


def test_bars_are_the_seed_means(keeps_rules):
    per_seed = stats.per_seed_metrics(fake_predictions({BASELINE: 0.1, MAIN: 0.4}))
    metrics = ("auroc", "f1")
    ax = figs.plot_bars(per_seed, [BASELINE, MAIN], metrics)
    heights = [p.get_height() for p in ax.patches]
    want = [per_seed.loc[per_seed.config == c, m].mean() for c in (BASELINE, MAIN)
            for m in metrics]
    np.testing.assert_allclose(heights, want)
    keeps_rules(ax.figure)


def test_confusion_figure_annotates_the_summed_counts(keeps_rules):
    preds = fake_predictions({BASELINE: 0.1, MAIN: 0.4})
    fig = figs.plot_confusions(preds, [BASELINE, MAIN])
    for ax, config in zip(fig.axes, (BASELINE, MAIN), strict=True):
        counts = [int(t.get_text().split("\n")[0]) for t in ax.texts]
        assert counts == stats.confusion_counts(preds, config).ravel().tolist()
        assert ax.get_title() == config
    keeps_rules(fig)


def test_roc_legend_gives_the_ensemble_auroc(keeps_rules):
    preds = fake_predictions({BASELINE: 0.1, MAIN: 0.4})
    ax = figs.plot_roc(preds, [MAIN])
    line = ax.get_lines()[0]
    assert line.get_xdata()[0] == 0 and line.get_xdata()[-1] == 1
    test = preds[(preds.config == MAIN) & (preds.split == "test")]
    mean_p = test.groupby("id", sort=False)[["label", "p_mm"]].mean()
    assert f"AUROC {auroc(mean_p['label'], mean_p['p_mm']):.2f}" in line.get_label()
    keeps_rules(ax.figure)
