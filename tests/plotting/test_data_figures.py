"""Notebook 01's figures, drawn from a tiny fake stand-in: what each panel shows."""

import matplotlib
import numpy as np

from hsilib import WAVELENGTHS_NM
from hsilib.data import explore
from hsilib.plotting import data as figs

matplotlib.use("Agg")


def test_image_figures_show_one_panel_per_view(fake_crops, keeps_rules):
    root, ds, index = fake_crops
    fig = figs.plot_cubes(ds, per_class=1)
    n_images = ds.index["class"].nunique()
    assert len(fig.axes) == n_images * (2 + len(figs.SHOW_BANDS_NM)) + 1  # + colour bar
    assert [ax.get_title() for ax in fig.axes[2:2 + len(figs.SHOW_BANDS_NM)]] == \
        [f"{nm} nm" for nm in figs.SHOW_BANDS_NM]
    keeps_rules(fig)
    for fig in (figs.plot_overlays(ds, root / "crops" / "masks", root / "truth", n=3),
                figs.plot_crop_grid(index, root / "crops", per_class=2)):
        assert len(fig.axes) >= 3
        keeps_rules(fig)


def test_region_spectra_figure_plots_the_class_means(fake_crops, keeps_rules):
    root, ds, _ = fake_crops
    spectra = explore.region_spectra(ds, root / "crops" / "masks")
    fig = figs.plot_region_spectra(spectra)
    lesion_ax = fig.axes[0]
    for line in lesion_ax.get_lines():
        cls = line.get_label().split(" ")[0]
        if cls not in ("MM", "DN", "Other"):
            continue  # the haemoglobin markers
        want = spectra[(spectra.region == "lesion") & (spectra["class"] == cls)]
        np.testing.assert_allclose(line.get_ydata(), want[list(WAVELENGTHS_NM)].mean().to_numpy())
    assert {ln.get_label().split(" ")[0] for ln in lesion_ax.get_lines()} >= {"MM", "DN"}
    keeps_rules(fig)


def test_lesion_range_figure_draws_one_bar_per_band_and_method(keeps_rules):
    import pandas as pd

    rows = [{"normalisation": name, "wavelength_nm": nm, "lesion_lo": -0.9, "lesion_median": m,
             "lesion_hi": 0.1, "share": 0.5} for name, m in (("percentile", -0.2),
                                                              ("minmax", -0.6))
            for nm in WAVELENGTHS_NM]
    fig = figs.plot_lesion_range(pd.DataFrame(rows))
    ax = fig.axes[0]
    bars = ax.collections  # one set of vertical bars per normaliser
    assert [len(b.get_segments()) for b in bars] == [16, 16]
    assert [t.get_text() for t in ax.get_legend().get_texts()] == [
        "percentile (mean share 50%)", "minmax (mean share 50%)"]
    medians = [ln.get_ydata() for ln in ax.get_lines()]
    np.testing.assert_allclose(medians[0], -0.2)
    np.testing.assert_allclose(medians[1], -0.6)
    keeps_rules(fig)
