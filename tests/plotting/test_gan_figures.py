"""The generator figures: loss curves draw the running mean of the logged losses; sample grids
keep 8 rows and one grey stretch; mean spectra draw real data in black."""

import matplotlib

matplotlib.use("Agg")
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402

from hsilib.plotting import gan as figs  # noqa: E402
from hsilib.plotting import running_mean  # noqa: E402


def test_loss_curves_draw_running_means_with_a_fixed_or_automatic_window(keeps_rules):
    rng = np.random.default_rng(0)
    long = pd.DataFrame({"step": np.arange(200), "d_loss": rng.normal(size=200)})
    short = pd.DataFrame({"step": np.arange(40), "d_loss": rng.normal(size=40)})
    fig = figs.loss_curves({"a": long, "b": short}, columns=("d_loss",), smooth=7)
    lines = fig.axes[0].get_lines()
    np.testing.assert_allclose(lines[0].get_ydata(), running_mean(long.d_loss, 7))
    np.testing.assert_allclose(lines[1].get_ydata(), running_mean(short.d_loss, 7))
    keeps_rules(fig)
    # automatic: the window of the longest history, 200 // 25 = 8, for every run
    fig = figs.loss_curves({"a": long, "b": short}, columns=("d_loss",), smooth=None, points=25)
    np.testing.assert_allclose(fig.axes[0].get_lines()[1].get_ydata(),
                               running_mean(short.d_loss, 8))
    keeps_rules(fig)


def test_ada_curves_draw_p_r_t_and_smoothed_losses_of_every_run(keeps_rules):
    rng = np.random.default_rng(1)
    h = pd.DataFrame({"step": np.arange(60), "ada_p": np.linspace(0, 0.3, 60),
                      "ada_rt": rng.uniform(size=60), "d_loss": rng.normal(size=60),
                      "g_loss": rng.normal(size=60)})
    fig = figs.ada_curves({"MM g0": h, "DN g0": h.drop(columns="ada_rt")}, target=0.6)
    p_ax, rt_ax, d_ax, g_ax = fig.axes
    np.testing.assert_allclose(p_ax.get_lines()[1].get_ydata(), h.ada_p)
    assert len(rt_ax.get_lines()) == 2  # one run has r_t, plus the dashed target
    assert rt_ax.get_lines()[-1].get_ydata()[0] == 0.6
    # 60 values, about 30 stretches: a window of 2 for D and G of each run
    np.testing.assert_allclose(d_ax.get_lines()[0].get_ydata(), running_mean(h.d_loss, 2))
    np.testing.assert_allclose(g_ax.get_lines()[1].get_ydata(), running_mean(h.g_loss, 2))
    assert len(d_ax.get_lines()) == len(g_ax.get_lines()) == 2
    keeps_rules(fig)


def _sets(k, n=4, seed=0):
    rng = np.random.default_rng(seed)
    names = ["real MM"] + [f"critic_{i}" for i in range(k - 1)]
    return {name: torch.as_tensor(rng.uniform(0.1, 0.6, (n, 16, 8, 8)), dtype=torch.float32)
            for name in names}


def test_sample_grid_keeps_at_most_8_rows_and_one_grey_stretch(keeps_rules):
    from hsilib import WAVELENGTHS_NM

    groups = _sets(12)  # 24 rows: three blocks of 8 side by side
    fig = figs.sample_grid(groups, WAVELENGTHS_NM, n=4, title="every arm")
    images = [ax for ax in fig.axes if ax.images]
    rows = {ax.get_subplotspec().rowspan.start for ax in images}
    assert len(rows) == 8 and len(images) == 12 * 2 * 4
    grey = [ax.images[0] for ax in images if ax.images[0].get_array().ndim == 2]
    assert len(grey) == 12 * 4 and len({im.get_clim() for im in grey}) == 1
    means = torch.cat(list(groups.values())).mean(1).numpy()
    assert grey[0].get_clim() == (0.0, pytest.approx(np.percentile(means, 99.5), rel=1e-5))
    keeps_rules(fig)
    fig = figs.sample_grid(_sets(2), WAVELENGTHS_NM, n=3)
    assert len({ax.get_subplotspec().rowspan.start for ax in fig.axes if ax.images}) == 4
    keeps_rules(fig)


def test_mean_spectra_draw_real_in_black_and_every_set_in_its_own_colour(keeps_rules):
    from hsilib import WAVELENGTHS_NM

    groups = _sets(12)
    fig = figs.mean_spectra(groups, WAVELENGTHS_NM, title="spectra")
    lines = {ln.get_label().split(" (n")[0]: ln for ln in fig.axes[0].get_lines()}
    assert lines["real MM"].get_color() == "black"
    assert len({ln.get_color() for ln in lines.values()}) == 12
    np.testing.assert_allclose(lines["critic_0"].get_ydata(),
                               groups["critic_0"].mean((2, 3)).mean(0).numpy(), rtol=1e-6)
    keeps_rules(fig)
