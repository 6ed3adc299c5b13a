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


def _amounts():
    import pandas as pd

    rows = []
    for family, mix in (("fastgan", "MM"), ("fastgan", "both"), ("vae", "both"),
                        ("duplicated", "MM")):
        for percent in (0, 50, 100):
            for how in (("none", "top", "random") if percent and family != "duplicated"
                        else ("none",)):
                for metric in ("auroc", "sensitivity"):
                    m = 0.6 + percent / 1000 + (0.02 if how == "top" else 0)
                    rows.append(dict(family=family, mix=mix, percent=percent, metric=metric,
                                     mean=m, boot_lo=m - 0.05, boot_hi=m + 0.05,
                                     **{"filter": how}))
    return pd.DataFrame(rows)


def test_amount_curves_one_line_per_family_and_mix(keeps_rules):
    table = _amounts()
    fig = figs.plot_amount_curves(table)
    lines = [ln for ln in fig.axes[0].get_lines() if not ln.get_label().startswith("_")]
    assert sorted(ln.get_label() for ln in lines) == [
        "fastgan, MM", "fastgan, both", "real MM duplicated", "vae, both"]
    vae = next(ln for ln in lines if ln.get_label() == "vae, both")
    np.testing.assert_allclose(vae.get_ydata(), [0.6, 0.65, 0.7])
    keeps_rules(fig)


def test_filtering_bars_compare_the_three_subsets(keeps_rules):
    fig = figs.plot_filtering(_amounts())
    ax = fig.axes[0]
    assert [c.get_label() for c in ax.containers if c.get_label()[:1] != "_"] == [
        "unfiltered", "top-scored by the critic", "random subset"]
    assert len(ax.patches) == 3 * 6  # 3 subsets x (3 family-mixes x 2 amounts)
    keeps_rules(fig)
