"""The cube explorer: its frames drawn headlessly, by value, and the widget's sliders."""

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402

from hsilib import WAVELENGTHS_NM  # noqa: E402
from hsilib.interactive import cube_explorer, cube_view, nearest_band  # noqa: E402
from hsilib.plotting import rules, savefig  # noqa: E402
from hsilib.standin.rendering import cube_to_rgb  # noqa: E402


def sample(stem="MM_0001", h=12, w=20):
    """A cube whose pixel (r, c) in band b holds 0.1 + 0.01 b + 0.001 r + 0.0001 c."""
    r, c, b = np.meshgrid(np.arange(h), np.arange(w), np.arange(16), indexing="ij")
    cube = 0.1 + 0.01 * b + 0.001 * r + 0.0001 * c
    return {"cube": cube, "wavelengths_nm": WAVELENGTHS_NM, "stem": stem, "class": "MM"}


def references(stem="MM_0001"):
    rows = [{"stem": stem, "class": "MM", "region": region,
             **dict(zip(WAVELENGTHS_NM, np.full(16, level), strict=True))}
            for region, level in (("lesion", 0.05), ("skin", 0.3))]
    rows.append({"stem": "other", "class": "DN", "region": "lesion",
                 **dict(zip(WAVELENGTHS_NM, np.full(16, 0.9), strict=True))})
    return pd.DataFrame(rows)


def test_nearest_band_snaps_to_the_grid_and_refuses_other_ranges():
    assert nearest_band(465) == 0 and nearest_band(630) == 15
    assert nearest_band(545) == WAVELENGTHS_NM.index(542)
    assert nearest_band(470.4) == 0 and nearest_band(470.6) == 1  # half of an 11 nm step
    with pytest.raises(ValueError, match="wavelength_nm=700 lies outside"):
        nearest_band(700)


def test_frame_shows_the_band_the_pixel_and_its_references():
    s = sample()
    fig = cube_view(s, 542, row=3, col=7, references=references())
    band_ax, spectrum_ax, rgb_ax = fig.axes[:3]
    band = WAVELENGTHS_NM.index(542)
    np.testing.assert_allclose(band_ax.images[0].get_array(), s["cube"][..., band])
    assert band_ax.get_title().startswith("542 nm")
    np.testing.assert_allclose(rgb_ax.images[0].get_array(), cube_to_rgb(s["cube"],
                                                                          WAVELENGTHS_NM))
    lines = {ln.get_label(): ln for ln in spectrum_ax.get_lines()}
    np.testing.assert_allclose(lines["pixel (3, 7)"].get_ydata(), s["cube"][3, 7])
    np.testing.assert_allclose(lines["lesion mean of this image"].get_ydata(), 0.05)
    np.testing.assert_allclose(lines["skin mean of this image"].get_ydata(), 0.3)
    assert len([k for k in lines if "mean of this image" in k]) == 2  # not the other image's
    marker = band_ax.get_lines()[0]
    assert (marker.get_xdata()[0], marker.get_ydata()[0]) == (7, 3)  # x = column, y = row
    plt.close(fig)


def test_frame_keeps_the_figure_rules(tmp_path):
    savefig(cube_view(sample(), 542, row=3, col=7, references=references()), "01_explorer",
            tmp_path)
    plt.close("all")
    assert rules.violations(rules.read_record(tmp_path / "01_explorer.png")) == []


def test_frame_without_references_and_a_bad_pixel():
    fig = cube_view(sample(), 465, row=0, col=0)
    assert [ln.get_label() for ln in fig.axes[1].get_lines()][0] == "pixel (0, 0)"
    plt.close(fig)
    with pytest.raises(ValueError, match=r"pixel \(row=12, col=0\) lies outside the 12 x 20"):
        cube_view(sample(), 465, row=12, col=0)


def test_explorer_sliders_span_the_cube_and_redraw(capsys):
    data = [sample("MM_0001"), sample("MM_0002", h=8, w=8)]
    box = cube_explorer(data, references())
    image, nm = box.children[0].children
    row, col = box.children[1].children
    assert (nm.min, nm.max, nm.step) == (465, 630, 11)
    assert (image.max, row.max, col.max) == (1, 11, 19)
    capsys.readouterr()
    row.value, col.value = 11, 19
    image.value = 1  # a smaller image: the pixel is clipped into it, no error
    nm.value = 597
    assert capsys.readouterr().out.count("Figure(") == 4  # one frame per move (no IPython here)
    plt.close("all")
    with pytest.raises(ValueError, match="no image"):
        cube_explorer([])
