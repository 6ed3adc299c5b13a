"""The generator figures' loss curves: what they draw is the running mean of the logged losses."""

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from hsilib.plotting import gan as figs  # noqa: E402
from hsilib.plotting import running_mean  # noqa: E402


def test_loss_curves_draw_running_means_with_a_fixed_or_automatic_window():
    rng = np.random.default_rng(0)
    long = pd.DataFrame({"step": np.arange(200), "d_loss": rng.normal(size=200)})
    short = pd.DataFrame({"step": np.arange(40), "d_loss": rng.normal(size=40)})
    fig = figs.loss_curves({"a": long, "b": short}, columns=("d_loss",), smooth=7)
    lines = fig.axes[0].get_lines()
    np.testing.assert_allclose(lines[0].get_ydata(), running_mean(long.d_loss, 7))
    np.testing.assert_allclose(lines[1].get_ydata(), running_mean(short.d_loss, 7))
    plt.close(fig)
    # automatic: the window of the longest history, 200 // 25 = 8, for every run
    fig = figs.loss_curves({"a": long, "b": short}, columns=("d_loss",), smooth=None, points=25)
    np.testing.assert_allclose(fig.axes[0].get_lines()[1].get_ydata(),
                               running_mean(short.d_loss, 8))
    plt.close(fig)


def test_ada_curves_draw_p_r_t_and_smoothed_losses_of_every_run():
    rng = np.random.default_rng(1)
    h = pd.DataFrame({"step": np.arange(60), "ada_p": np.linspace(0, 0.3, 60),
                      "ada_rt": rng.uniform(size=60), "d_loss": rng.normal(size=60),
                      "g_loss": rng.normal(size=60)})
    fig = figs.ada_curves({"MM g0": h, "DN g0": h.drop(columns="ada_rt")}, target=0.6)
    p_ax, rt_ax, loss_ax = fig.axes
    np.testing.assert_allclose(p_ax.get_lines()[1].get_ydata(), h.ada_p)
    assert len(rt_ax.get_lines()) == 2  # one run has r_t, plus the dashed target
    assert rt_ax.get_lines()[-1].get_ydata()[0] == 0.6
    # 60 values, about 30 stretches: a window of 2 for D and G of each run
    np.testing.assert_allclose(loss_ax.get_lines()[0].get_ydata(), running_mean(h.d_loss, 2))
    assert len(loss_ax.get_lines()) == 4
    plt.close(fig)
