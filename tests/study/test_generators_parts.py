"""The notebook-specific parts of the generator layer, by value: SeFa traversal slopes and
edit areas (03), the bootstrap interval, cycling and score tables of notebook 04, the
class-conditional VAE's data and notebook 03's checkpoint as notebook 05 finds it."""

import numpy as np
import pandas as pd
import pytest
import torch
from fakedata import write_fake_run

from hsilib.notebook import setup
from hsilib.paths import MissingInputError
from hsilib.study.generators import GeneratorStudy, conditional, latent, vae
from hsilib.study.generators.arms import run_name


def test_slopes_are_least_squares_per_direction():
    alphas = [-3.0, 0.0, 3.0]
    traversal = pd.DataFrame({"direction": [1, 1, 1, 2, 2, 2], "alpha (sd)": alphas * 2,
                              "area": [10.0, 12.0, 14.0, 5.0, 5.0, 8.0],
                              "blood": [np.nan, np.nan, 1.0, 1.0, 2.0, 3.0]})
    slopes = latent.slopes(traversal, ["area", "blood"])
    assert slopes.loc[1, "area"] == pytest.approx(4 / 6)
    assert slopes.loc[2, "area"] == pytest.approx(0.5)  # polyfit of (5, 5, 8) over (-3, 0, 3)
    assert np.isnan(slopes.loc[1, "blood"]) and slopes.loc[2, "blood"] == pytest.approx(1 / 3)


def test_area_table_measures_each_alpha():
    bright = torch.full((2, 16, 8, 8), 0.5)
    dark_centre = bright.clone()
    dark_centre[:, :, 2:6, 2:6] = 0.1  # a lesion of 16 of 64 pixels
    table = latent.area_table(torch.stack([bright, dark_centre]), [-1.0, 1.0])
    assert list(table["alpha (sd)"]) == [-1.0, 1.0]
    assert table["lesion area (%)"].iloc[1] == pytest.approx(25.0)
    assert table["mean reflectance"].iloc[1] == pytest.approx(0.5 * 48 / 64 + 0.1 * 16 / 64)


def test_mean_interval_cycled_and_score_table():
    values = [0.0, 1.0, 0.5, 0.25]
    lo, hi = conditional.mean_interval(values, n_boot=200, seed=3)
    b = np.random.default_rng(3).integers(0, 4, (200, 4))
    assert (lo, hi) == tuple(np.percentile(np.asarray(values)[b].mean(1), [2.5, 97.5]))
    assert conditional.cycled(torch.arange(3), 7).tolist() == [0, 1, 2, 0, 1, 2, 0]
    table = conditional.score_table({"a": (1.0, 0.5, 1.5), "b": (2.0, np.nan, np.nan)}, 7,
                                    n_real=9, floor=0.3)
    pd.testing.assert_frame_equal(table, pd.DataFrame({
        "metric": ["a", "b"], "value": [1.0, 2.0], "floor": [0.3, 0.3], "ci_low": [0.5, np.nan],
        "ci_high": [1.5, np.nan], "n_synthetic": [7, 7], "n_real": [9, 9]}))


def test_segment_union_finds_a_dark_lesion():
    cube = torch.full((16, 32, 32), 0.5)
    cube[:, 10:22, 8:20] = 0.05
    mask = conditional.segment_union(cube, min_area=10)
    assert mask.shape == (32, 32) and mask[16, 14] and not mask[2, 2]
    assert not conditional.segment_union(torch.full((16, 32, 32), 0.5), min_area=10).any()


def test_vae_data_of_both_classes_and_notebook_03s_checkpoint(tmp_path):
    write_fake_run(tmp_path, n_per_class=12)
    nb = setup("05", "smoke", seed=0, run_dir=tmp_path, check_inputs=False)  # no 03 yet
    study = GeneratorStudy(nb, image_size=8,
                           seeds=(0, 1), val_range="symmetric")
    data, ids = vae.both_classes(study)
    n_mm = len(study.data().ids("MM", "train"))
    assert data["label"].dtype == torch.float32 and data["label"][:n_mm].eq(1).all()
    assert data["label"][n_mm:].eq(0).all() and len(ids) == len(data["image"])
    assert torch.equal(data["image"][:n_mm], study.data().images("MM", "train"))
    folder = tmp_path / "checkpoints"
    with pytest.raises(MissingInputError, match="03_fastgan"):
        vae.fastgan_checkpoint(study, "MM", 1)
    (folder / "fastgan_mm_f0.pt").touch()
    assert vae.fastgan_checkpoint(study, "MM", 1).name == "fastgan_mm_f0.pt"
    (folder / "fastgan_mm_g1.pt").touch()  # a seed's own generator comes first
    assert vae.fastgan_checkpoint(study, "MM", 1).name == "fastgan_mm_g1.pt"


def test_arm_run_names():
    assert run_name("critic_2d", "MM", 0) == "shsgan_critic_2d_mm_g0"
    assert run_name("acgan", None, 2) == "shsgan_acgan_g2"


def test_lighter_protocol_changes_only_what_it_is_given():
    from hsilib import config
    from hsilib.study.generators import lighter_protocol

    base = config.resolve("quick", "metrics")
    assert lighter_protocol(base) == base
    light = lighter_protocol(base, repeats=1)
    assert (light.n_repeats, light.probe_epochs) == (1, base.probe_epochs)
    assert lighter_protocol(base, probe_epochs=0).probe_epochs == 0  # 0 is a value, not "keep"
    assert light.feature_size == base.feature_size and light.n_boot_set == base.n_boot_set
    vae_study = config.resolve("quick", "vae_study")
    assert (vae_study.eval_repeats, vae_study.eval_probe_epochs) == (1, None)
