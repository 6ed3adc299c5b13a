"""The oracle ladder (hsilib.study.oracle) as a calibration instrument for the metric protocol.

On a tiny stand-in run (notebook 01's pipeline: generated cubes, segmentation, crops, a split
and a normaliser), the clean oracle must score at the real-vs-real floor on every metric: a
metric whose pipeline treats synthetic crops differently from real ones shows up here. Every
corruption's strongest rung must be told apart from the floor by at least one metric: a ladder
no metric can see is a broken ladder. The corruptions themselves are checked by value.
"""

import warnings

import numpy as np
import pandas as pd
import pytest

from hsilib import config
from hsilib.data import preprocess, splits
from hsilib.data.crop_folder import read_index
from hsilib.data.datasets import fit_train_normaliser, load_crops
from hsilib.data.hsi_dermoscopy import HSIDermoscopy
from hsilib.data.masks import SegmentationWarning
from hsilib.standin.writer import generate_standin
from hsilib.study import correlation_calibration as cal
from hsilib.study import oracle as orc
from hsilib.study.generators.data import load_replicate
from hsilib.study.generators.study import evaluate_set

SCALE, SIZE, SEED = 0.25, 32, 0
METRICS = ("FD_rand", "KID", "precision", "density", "recall", "coverage", "FD_spectral_lesion",
           "FD_spectral_skin", "SAM_mean_spectra_deg", "TV_rel_diff", "W1_f_mel_epi", "W1_blood",
           "W1_sat", "W1_mus_scale", "SSIM", "PSNR", "SAM_rad", "SID", "NN_train_dist_ratio",
           "frac_closer_than_heldout_p5", "detectability_AUROC", "MS_GMSD", "MDSI", "HaarPSI")


@pytest.fixture(scope="module")
def calibration(tmp_path_factory):
    """A stand-in run of 96 melanoma and 8 nevus cubes, the clean oracle and the strongest
    rung of every kind, the melanoma metric tables of each and the floor's intervals."""
    root = tmp_path_factory.mktemp("oracle")
    standin = generate_standin(root / "standin", n_mm=96, n_dn=8, n_other=1, scale=SCALE,
                               seed=SEED, progress=False)
    ds = HSIDermoscopy(standin / "hsidermoscopy")
    min_area = orc.min_area(400, SCALE)
    with warnings.catch_warnings():  # lesions at the field's border are dropped, as always
        warnings.simplefilter("ignore", SegmentationWarning)
        index = preprocess.make_crops(ds, root / "crops", size=SIZE, min_area=min_area,
                                      progress=False)
    table = splits.make_splits(index, (0.55, 0.4, 0.05), seed=SEED)
    splits.save_csv(table, root / "splits.csv")
    norm = fit_train_normaliser(root / "crops", table, split="train", seed=SEED)
    train = table[(table.split == "train") & (table["class"] == "MM")]
    spec = orc.OracleSpec(scale=SCALE, seed=5, counts={"MM": len(train), "DN": 6}, size=SIZE,
                          crop_scale=1.5, min_area=min_area)
    rungs = orc.plan(config.ORACLE_CORRUPTIONS, (1.0,))
    built = orc.build_ladder(spec, rungs, lambda name: root / name)
    data = load_replicate(root / "crops", root / "splits.csv", norm, SIZE,
                          table.set_index("id")["source"], train_range="unit", val_range="unit")
    metrics = config.MetricsConfig(feature_size=75, n_repeats=1, n_boot=200, n_boot_set=50,
                                   n_pixels=4000, n_pixels_physics=300, probe_epochs=2,
                                   probe_folds=2, probe_width=4)
    tables = {}
    for state, folder in orc.ladder_folders(built).items():
        synthetic = load_crops(folder["MM"], norm, SIZE).images
        tables[state] = evaluate_set(data, "MM", synthetic, metrics=metrics, seed=SEED,
                                     device="cpu").assign(state=state, **{"class": "MM"})
    floors = evaluate_set(data, "MM", data.unit("MM", "train"), metrics=metrics, seed=SEED,
                          device="cpu")
    floors = floors[~floors.kind.isin(("memorisation", "detectability"))].assign(
        **{"class": "MM"})
    return built, orc.rung_table(built), pd.concat(tables.values(), ignore_index=True), floors


def test_the_protocol_has_the_metrics_checked_here(calibration):
    _, _, long, _ = calibration
    assert sorted(set(long.metric)) == sorted(METRICS)


@pytest.mark.parametrize("metric", METRICS)
def test_the_clean_oracle_scores_at_the_floor(calibration, metric):
    _, _, long, floors = calibration
    clean = long[(long.state == orc.CLEAN_STATE) & (long.metric == metric)]
    check = cal.floor_check(clean, floors)
    assert check["at_floor"].all(), check.to_dict("records")


def test_every_corruption_is_seen_by_some_metric(calibration):
    _, rungs, long, floors = calibration
    mono = cal.monotonicity(long, floors, rungs, n_draws=200)
    seen = mono.groupby("kind")["detected"].any()
    assert set(seen.index) == set(config.ORACLE_CORRUPTIONS)
    assert seen.all(), f"no metric tells these from the floor: {list(seen.index[~seen])}"
    # the detected metrics are the expected kind of metric for some flaws
    found = mono[mono.detected].groupby("kind")["metric"].apply(set)
    assert found["blur"] & {"TV_rel_diff", "SSIM", "SAM_rad", "SID", "PSNR"}
    assert found["melanin"] & {"SAM_rad", "SID", "SAM_mean_spectra_deg", "FD_spectral_skin"}
    assert found["label_noise"]  # half the melanomas are nevi: seen by some metric


def test_rungs_are_the_same_lesions_and_are_read_back_on_rerun(calibration, tmp_path):
    built, rungs, _, _ = calibration
    clean = read_index(built.set_index(["state", "class"]).loc[(orc.CLEAN_STATE, "MM"),
                                                               "folder"])
    blur = read_index(built.set_index(["state", "class"]).loc[("oracle_blur_1", "MM"),
                                                              "folder"])
    assert list(clean.source) == list(blur.source)  # the same lesions, corrupted
    assert clean.is_synthetic.all() and (clean["class"] == "MM").all()
    assert clean.source.str.startswith("oracle_MM_").all()
    assert not rungs.cached.any()
    # a rerun with the same parameters reads every folder
    spec = orc.OracleSpec(scale=SCALE, seed=5, counts={"MM": len(clean), "DN": 6}, size=SIZE,
                          crop_scale=1.5, min_area=orc.min_area(400, SCALE))
    root = built.folder.iloc[0].parent
    again = orc.build_ladder(spec, orc.plan(config.ORACLE_CORRUPTIONS, (1.0,)),
                             lambda name: root / name)
    assert again.cached.all()


def test_label_noise_swaps_half_the_crops_for_the_other_class(calibration):
    built, _, _, _ = calibration
    folder = built.set_index(["state", "class"]).loc[("oracle_label_noise_1", "MM"), "folder"]
    index = read_index(folder)
    assert (index["class"] == "MM").all()  # labelled melanoma...
    assert (index.subtype == "DN").sum() == round(0.5 * len(index))  # ...half of them nevi
    assert index.loc[index.subtype == "DN", "source"].str.startswith("oracle_DN_").all()


# --------------------------------------------------------------------------------------------
# Each corruption by value, on made-up crops
# --------------------------------------------------------------------------------------------
RNG = np.random.default_rng(0)
CROPS = RNG.uniform(0.1, 0.6, (8, 16, 16, 16)).astype(np.float32)
OTHER = RNG.uniform(0.1, 0.6, (5, 16, 16, 16)).astype(np.float32)


def _corrupt(kind, level=1.0):
    return orc.corrupt(CROPS, orc.Rung(kind, level), cls="MM", other=OTHER, seed=1)


def test_blur_smooths_noise_adds_and_the_spectral_kinds_act_on_the_bands():
    blurred, origin = _corrupt("blur")
    assert blurred.std() < CROPS.std() and (origin == np.arange(8)).all()
    np.testing.assert_allclose(blurred.mean((1, 2)), CROPS.mean((1, 2)), atol=0.03)
    noisy, _ = _corrupt("noise", 0.5)
    assert np.std(noisy - CROPS) == pytest.approx(0.02, rel=0.1)
    smooth, _ = _corrupt("spectral_smoothing")
    assert np.abs(np.diff(smooth, axis=-1)).mean() < np.abs(np.diff(CROPS, axis=-1)).mean()
    np.testing.assert_allclose(smooth.mean(-1), CROPS.mean(-1), atol=0.05)
    shifted, _ = _corrupt("misregistration")
    assert shifted.shape == CROPS.shape  # bands moved by whole pixels, values kept
    assert np.isin(shifted[0, :, :, 0], CROPS[0, :, :, 0]).all()


def test_diversity_frame_and_label_noise_by_value():
    few, origin = _corrupt("diversity", 1.0)  # n^0 = one lesion
    assert set(origin) == {0}
    assert all(np.isclose(np.sort(f.ravel()), np.sort(CROPS[0].ravel())).all() for f in few)
    half, origin = _corrupt("diversity", 0.5)
    assert len(set(origin)) == round(8 ** 0.5)
    framed, _ = _corrupt("fingerprint")
    w = max(1, round(16 / 16))
    np.testing.assert_allclose(framed[:, :w], CROPS[:, :w] * 0.5, rtol=1e-6)
    np.testing.assert_allclose(framed[:, w:-w, w:-w], CROPS[:, w:-w, w:-w])
    swapped, origin = _corrupt("label_noise", 1.0)
    assert (origin >= 8).sum() == 4 and (origin < 8).sum() == 4
    np.testing.assert_array_equal(swapped[origin >= 8], OTHER[origin[origin >= 8] - 8])
    with pytest.raises(ValueError, match="not a crop-level corruption"):
        _corrupt("melanin")


def test_the_plan_and_the_values_of_each_level():
    rungs = orc.plan(("blur", "melanin"), (1.0, 0.5))
    assert [r.name for r in rungs] == ["clean", "blur_0.5", "blur_1", "melanin_0.5",
                                       "melanin_1"]
    assert orc.parameter("melanin", 0.5) == 1.5 and orc.parameter("blur", 0.5) == 1.0
    assert orc.parameter("label_noise", 1.0) == 0.5 and orc.parameter("clean", 0.0) == 0.0
    with pytest.raises(ValueError, match="unknown corruption"):
        orc.plan(("smudge",), (1.0,))
    with pytest.raises(ValueError, match="levels"):
        orc.plan(("blur",), (0.0,))
    assert orc.min_area(400, 0.25) == 25


def test_no_oracle_on_real_data_and_a_missing_standin_is_named(tmp_path):
    assert orc.standin_params(tmp_path, "/data/HSIDermoscopy") is None
    with pytest.raises(FileNotFoundError, match="notebook 01"):
        orc.standin_params(tmp_path, None)


def test_clean_crops_equal_notebook_01s_crops_of_the_same_image(tmp_path):
    """The oracle crops a fresh image exactly as notebook 01 crops a data-set image."""
    spec = orc.OracleSpec(scale=SCALE, seed=3, counts={"MM": 2, "DN": 2}, size=SIZE,
                          crop_scale=1.5, min_area=orc.min_area(400, SCALE))
    crops, sources = orc.draw_crops(spec, "MM", [])
    from hsilib.standin import oracle as so

    image = so.draw_image("MM", 0, 3, SCALE)
    cube = so.render(image)
    masks = preprocess.segment_lesions(cube, min_area=spec.min_area)
    first = preprocess.crop_in_field(cube, masks, SIZE, 1.5)[0]["cube"]
    np.testing.assert_array_equal(crops[orc.CLEAN][0], first)
    assert sources[0] == "oracle_MM_0001"
