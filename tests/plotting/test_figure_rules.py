"""The figure rules (hsilib.plotting.rules): each rule caught on a figure made to break it, code
names put in words, and every figure of the session's smoke run keeping every rule."""

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

from hsilib.config import ARMS  # noqa: E402
from hsilib.plotting import rules, savefig  # noqa: E402
from hsilib.plotting.style import palette, series_colours, words  # noqa: E402

WL = np.arange(465, 631, 11)


def _saved(fig, tmp_path, name="01_fig"):
    savefig(fig, name, tmp_path)
    plt.close(fig)
    return rules.read_record(tmp_path / f"{name}.png")


def test_a_figure_that_keeps_the_rules_has_no_violation(tmp_path):
    fig, ax = plt.subplots(figsize=(6, 3.5))
    for name, colour in series_colours(["real train", "FastGAN", "VAE"]).items():
        ax.plot(WL, np.linspace(0.2, 0.5, 16), color=colour, label=name)
    ax.set(xlabel="wavelength (nm)", ylabel="reflectance")
    ax.legend(loc="upper left", bbox_to_anchor=(1.02, 1))
    rec = _saved(fig, tmp_path)
    assert rec["width_px"] < 1280 and rec["dpi"] == 150
    assert rules.violations(rec) == []


def test_each_rule_is_caught(tmp_path):
    fig, axes = plt.subplots(1, 3, figsize=(12, 3))
    for i in range(3):
        axes[0].plot(WL, np.full(16, 0.3), color="tab:blue", label=f"critic_2d {i}")
    axes[0].legend(loc="center")  # on top of the lines
    axes[0].set(xlabel="wavelength", title="a_b_c shown as is? no: words")
    axes[1].imshow(np.random.default_rng(0).random((8, 8)), cmap="gray")
    axes[1].axis("off")
    axes[2].plot([0, 1], [0, 1])
    axes[2].text(0.5, 0.5, "$r_t$ math is fine", fontsize=3)
    problems = "\n".join(rules.violations(_saved(fig, tmp_path)))
    assert "series share a colour ['#1f77b4']" in problems
    assert "wavelength axis without its unit (nm)" in problems
    assert "numeric y axis without a label" in problems
    assert "legend covers" in problems
    assert "single-band image (gray" in problems and "without a colour bar" in problems
    assert "axes 2: numeric x axis without a label" in problems
    assert "smallest text 3 pt" in problems


def test_grid_rows_and_code_names_are_caught():
    rec = {"axes": [{"title": "", "title_boxes": [], "box": [0, 10 * r, 10, 10 * r + 9],
                     "row": r, "xlabel": "", "ylabel": "", "x_numeric": None,
                     "y_numeric": None, "series": [], "legend": None, "annotations": 0,
                     "images": [{"kind": "colour", "cmap": "viridis", "clim": [0, 1]}]}
                    for r in range(9)],
           "colourbars": [], "texts": ["critic_3d_sn_fft", "fastgan, DN", "DN_0001_crop01",
                                       "$r_t$ (math)"],
           "min_font_pt": 10, "width_px": 1000, "dpi": 150}
    problems = rules.violations(rec)
    assert "9 rows of images (at most 8 per figure)" in problems
    assert "code name(s) ['critic_3d_sn_fft'] in text 'critic_3d_sn_fft'" in problems
    assert "code name(s) ['fastgan'] in text 'fastgan, DN'" in problems
    assert len(problems) == 3  # image ids and math are no code names


def test_a_single_band_image_with_its_colour_bar_passes(tmp_path):
    fig, ax = plt.subplots(figsize=(4, 3))
    im = ax.imshow(np.random.default_rng(0).random((8, 8)), cmap="gray", vmin=0, vmax=0.6)
    ax.axis("off")
    fig.colorbar(im, ax=ax, label="reflectance")
    assert rules.violations(_saved(fig, tmp_path)) == []


def test_every_arm_and_known_code_name_is_put_in_words():
    names = [*ARMS, "frac_closer_than_heldout_p5", "fastgan, DN", "real+synMM",
             "oracle_label_noise_1", "shsgan_critic_3d_sn_fft_g0", "fastgan_both_50%_random",
             "W1_f_mel_epi", "sens_at_spec", "auroc", "tstr_1to2", "real+syn_spade_rgb"]
    for name in names:
        assert rules.code_names(words(name)) == [], (name, words(name))
    assert words("critic_3d_sn_fft") == "3-D critic + SN + FFT"
    assert words("fastgan, DN") == "FastGAN, DN"
    assert words("real+synMM") == "real + synthetic MM"
    assert words("oracle_label_noise_1") == "oracle, label noise (level 1)"
    assert words("test auroc (MM positive)") == "test AUROC (MM positive)"
    assert words("DN_0001_crop01") == "DN_0001_crop01" and words("$r_t$") == "$r_t$"


def test_savefig_writes_category_ticks_and_legends_in_words(tmp_path):
    fig, ax = plt.subplots(figsize=(5, 3))
    ax.bar(["auroc", "f1"], [0.7, 0.6], color=palette(2), label="real+syn")
    ax.set_ylabel("test score")
    ax.legend(loc="upper left", bbox_to_anchor=(1.02, 1))
    rec = _saved(fig, tmp_path)
    assert {"AUROC", "F1", "real + synthetic"} <= set(rec["texts"])


def test_palette_is_distinct_and_real_is_black():
    assert len(set(palette(25))) == 25 and "#000000" not in palette(25)
    colours = series_colours(["real train", "real+syn", "FastGAN", "real validation"])
    assert colours["real train"] == "black" and colours["real+syn"] != "black"
    assert len(set(colours.values())) == 4


# --- every figure of the session's smoke run ---------------------------------------------------


@pytest.mark.notebooks
def test_every_figure_of_the_smoke_run_keeps_the_rules(smoke_run):
    out, _ = smoke_run
    found = rules.check_folder(out / "figures")
    assert len(found) >= 40, f"only {len(found)} figures in the smoke run"
    bad = {name: problems for name, problems in found.items() if problems}
    assert not bad, "\n".join(f"{name}:\n  " + "\n  ".join(p) for name, p in bad.items())
