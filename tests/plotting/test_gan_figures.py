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
