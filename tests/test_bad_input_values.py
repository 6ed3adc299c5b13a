"""Bad input, part 3: no number is computed from bad input (class 4 of the table in
``tests/test_bad_input.py``).

Each case of :data:`CASES` must raise the stated error with a message naming the file, set or
key, and leave its folder byte for byte as it was (``badinput.check_case``). The tests after
the cases check the answers that are not errors: an interval that cannot be estimated is NaN
with a warning, never a point such as [1, 1], and masks that follow the one-channel rule are
read.
"""

from __future__ import annotations

import shutil
import warnings

import cv2
import numpy as np
import pytest
import torch
from badinput import (
    CTX,
    Cases,
    all_train,
    check_case,
    crop_folder_with,
    crops,  # noqa: F401 (fixture)
    normaliser,
    source,  # noqa: F401 (fixture)
    )
from torch import nn

from hsilib import config
from hsilib.data import preprocess as pp
from hsilib.data.datasets import (
    BandNormaliser,
    CropDataset,
    fit_train_normaliser,
    load_crops,
    write_crop_folder,
)
from hsilib.metrics import classification as cm
from hsilib.metrics import distribution as dist
from hsilib.metrics.intervals import IntervalWarning, percentile_interval
from hsilib.metrics.probe import cluster_bootstrap_auroc
from hsilib.metrics.protocol import evaluate_generator
from hsilib.metrics.spectral import sam
from hsilib.models import classifiers as M
from hsilib.models import registry
from hsilib.models.checkpoint import CheckpointError
from hsilib.study.grid import grid_cells
from hsilib.synth import write_synthetic

CASES = Cases()
ROW = dict(source="s", label=1, subtype="MM", lesion_index=1, y0=0, x0=0, y1=8, x1=8,
           mask_area=0, is_synthetic=False, generator="real", checkpoint_sha="none", seed=-1)


def _mask_file(tmp, image, stem="MM_0001"):
    (tmp / "m").mkdir(exist_ok=True)
    cv2.imwrite(str(tmp / "m" / f"{stem}_crop01_mask.png"), image)
    return lambda: pp.load_user_masks(tmp / "m", stem)


def _lesion(shape=(10, 12)):
    m = np.zeros(shape, np.uint8)
    m[2:6, 3:8] = 255
    return m


def _nan_crop_folder(tmp, bad="MM_001"):
    """A fake crop folder in which crop ``bad`` holds one NaN."""
    def edit(cube):
        cube[3, 4, 5] = np.nan
        return cube
    return crop_folder_with(tmp, bad, edit)


def _feats(bad_row=None, n=6, d=4, seed=0):
    x = np.random.default_rng(seed).normal(size=(n, d))
    if bad_row is not None:
        x[bad_row, 1] = np.nan
    return x


# -- 4. masks: the one-channel rule -----------------------------------------------------------
@CASES
def mask_with_an_alpha_channel(tmp):
    rgba = np.dstack([_lesion()] * 3 + [np.full((10, 12), 255, np.uint8)])
    return _mask_file(tmp, rgba), ValueError, r"MM_0001_crop01_mask\.png: .*alpha channel"


@CASES
def mask_in_colour(tmp):
    colour = np.dstack([_lesion(), np.zeros((10, 12), np.uint8), _lesion()])
    return _mask_file(tmp, colour), ValueError, r"MM_0001_crop01_mask\.png: .*in colour"


@CASES
def mask_empty(tmp):
    return (_mask_file(tmp, np.zeros((10, 12), np.uint8)), ValueError,
            r"MM_0001_crop01_mask\.png: the mask is empty")


@CASES
def mask_covering_the_whole_image(tmp):
    return (_mask_file(tmp, np.full((10, 12), 255, np.uint8)), ValueError,
            r"MM_0001_crop01_mask\.png: the mask covers the whole image")


@CASES
def crops_from_a_colour_user_mask(tmp):
    from hsilib.data.hsi_dermoscopy import HSIDermoscopy

    shutil.copytree(CTX["source"] / "hsidermoscopy", tmp / "data")
    ds = HSIDermoscopy(tmp / "data")
    h, w = ds[0]["cube"].shape[:2]
    colour = np.dstack([_lesion((h, w)), np.zeros((h, w), np.uint8), _lesion((h, w))])
    _mask_file(tmp, colour, ds.index.stem[0])
    return (lambda: pp.make_crops(ds, tmp / "crops", size=16, min_area=1, masks_dir=tmp / "m",
                                  progress=False),
            ValueError, rf"{ds.index.stem[0]}_crop01_mask\.png: .*in colour")


# -- 4. NaN and inf: weights, normalisers, crops, exports --------------------------------------
@CASES
def checkpoint_with_nan_weights(tmp):
    ck = torch.load(CTX["source"] / "gan.pt", weights_only=True)
    key = next(iter(ck["objective"]["nets"]))
    ck["objective"]["nets"][key] = torch.full_like(ck["objective"]["nets"][key], float("nan"))
    torch.save(ck, tmp / "diverged.pt")
    return (lambda: registry.load(tmp / "diverged.pt"), CheckpointError,
            rf"diverged\.pt: \d+ NaN/inf values in objective\.nets\.{key}")


@CASES
def classifier_weights_with_inf(tmp):
    sd = M.SmallCNN(n_bands=16).state_dict()
    first = next(k for k, v in sd.items() if v.is_floating_point())
    sd[first][0] = float("inf")
    torch.save(sd, tmp / "w.pth")
    return (lambda: M.build_classifier("small", weights=tmp / "w.pth"), M.WeightFileError,
            r"w\.pth: \d+ NaN/inf values")


def _load_edited_normaliser(tmp, old, new):
    """Loading a saved normaliser whose first ``old`` was replaced by ``new`` in the file."""
    normaliser(tmp)
    (tmp / "norm.json").write_text((tmp / "norm.json").read_text().replace(old, new, 1))
    return lambda: BandNormaliser.load(tmp / "norm.json")


@CASES
def normaliser_file_with_nan(tmp):
    return (_load_edited_normaliser(tmp, "0.0", "NaN"), ValueError,
            r"norm\.json: not a normalisation JSON \(NaN is not a number")


@CASES
def normaliser_file_with_an_infinite_bound(tmp):
    return (_load_edited_normaliser(tmp, "1.0", "1e999"), ValueError,
            r"norm\.json: .*must be finite")


@CASES
def normaliser_file_with_max_below_min(tmp):
    (tmp / "n.json").write_text('{"band_min": ' + str([1.0] * 16) + ', "band_max": '
                                + str([0.5] * 16) + ', "wavelengths_nm": '
                                + str(list(range(16))) + "}")
    return (lambda: BandNormaliser.load(tmp / "n.json"), ValueError,
            r"n\.json: .*band_max < band_min in bands \[0, 1")


@CASES
def crop_dataset_serving_a_nan_crop(tmp):
    folder = _nan_crop_folder(tmp)
    ds = CropDataset(folder)
    i = int(np.flatnonzero(ds.table.id == "MM_001")[0])
    return lambda: ds[i], ValueError, r"MM_001\.npz: 1 NaN/inf values in the crop"


@CASES
def load_crops_of_a_folder_with_a_nan_crop(tmp):
    folder = _nan_crop_folder(tmp)
    return (lambda: load_crops(folder, normaliser(), 8), ValueError,
            r"MM_001\.npz: 1 NaN/inf values")


@CASES
def normaliser_fitted_on_a_nan_crop(tmp):
    folder = _nan_crop_folder(tmp, "MM_000")
    splits = all_train(folder, tmp / "splits.csv")
    return (lambda: fit_train_normaliser(folder, splits), ValueError,
            r"MM_000\.npz: 1 NaN/inf values")


@CASES
def export_of_nan_images(tmp):
    images = torch.zeros(3, 16, 8, 8)
    images[1, 2, 3, 4] = float("nan")
    return (lambda: write_synthetic(images, tmp / "syn", cls="MM", normaliser=normaliser(),
                                    generator="fastgan"),
            ValueError, r"fastgan \(MM\): 1 of 3 generated images hold NaN or inf \(images \[1\]")


@CASES
def crop_folder_with_an_inf_cube(tmp):
    cube = np.ones((8, 8, 16), np.float32)
    cube[0, 0, 0] = np.inf
    return (lambda: write_crop_folder(tmp / "out", [({**ROW, "id": "x1", "class": "MM"}, cube,
                                                     None)]),
            ValueError, r"crop 'x1': 1 NaN/inf values")


# -- 4. NaN and inf: metric inputs name the set --------------------------------------------------
@CASES
def precision_recall_of_nan_features(tmp):
    return (lambda: dist.precision_recall(_feats(), _feats(2)), ValueError,
            r"fake: the features of 1 of 6 images hold NaN/inf")


@CASES
def density_coverage_of_nan_features(tmp):
    return (lambda: dist.density_coverage(_feats(0), _feats()), ValueError,
            r"real: the features of 1 of 6 images")


@CASES
def frechet_distance_of_inf_features(tmp):
    fake = _feats()
    fake[3, 0] = np.inf
    return lambda: dist.frechet_distance(_feats(), fake), ValueError, r"fake: the features of 1"


@CASES
def kid_of_nan_features(tmp):
    return lambda: dist.kid(_feats(4), _feats()), ValueError, r"real: the features of 1"


@CASES
def sam_of_nan_predictions(tmp):
    preds = torch.rand(2, 16, 4, 4)
    preds[1, 0, 0, 0] = float("nan")
    return (lambda: sam(preds, torch.rand(2, 16, 4, 4)), ValueError,
            r"preds: 1 NaN/inf values in 1 of 2 images \(e\.g\. images \[1\]\)")


@CASES
def sam_of_an_inf_target(tmp):
    target = torch.rand(2, 16, 4, 4)
    target[0, 3, 1, 1] = float("inf")
    return lambda: sam(torch.rand(2, 16, 4, 4), target), ValueError, r"target: 1 NaN/inf"


def _evaluate(bad_set):
    sets = {name: torch.rand(4, 16, 8, 8) for name in ("synthetic", "real_train", "real_heldout")}
    sets[bad_set][2, 0, 1, 1] = float("nan")
    cfg = config.resolve("smoke", "metrics", probe_epochs=0, n_boot=2, n_boot_set=0)
    extractor = nn.Sequential(nn.AdaptiveAvgPool2d(2), nn.Flatten())
    return lambda: evaluate_generator(*sets.values(), cfg=cfg, extractor=extractor,
                                      device="cpu")


@CASES
def evaluate_generator_with_a_nan_synthetic_image(tmp):
    return _evaluate("synthetic"), ValueError, r"the synthetic set: images \[2\] hold NaN/inf"


@CASES
def evaluate_generator_with_a_nan_heldout_image(tmp):
    return _evaluate("real_heldout"), ValueError, r"the real_heldout set: images \[2\]"


# -- 4. labels must be exactly 0/1; empty scores ----------------------------------------------
@CASES
def auroc_of_fractional_labels(tmp):
    return (lambda: cm.auroc([0, 0.7, 1, 1], [0.1, 0.2, 0.8, 0.9]), ValueError,
            r"y_true must hold 0 \(DN\) / 1 \(MM, the positive class\) only, got 1 other "
            r"value\(s\), e\.g\. \[0\.7\]")


@CASES
def auroc_of_a_label_two(tmp):
    return (lambda: cm.auroc([0, 2, 1], [0.1, 0.5, 0.9]), ValueError,
            r"y_true must hold 0 .* e\.g\. \[2\]")


@CASES
def scores_of_class_names(tmp):
    return (lambda: cm.scores(["MM", "DN"], [0.9, 0.1]), ValueError,
            r"y_true must hold the numbers 0 \(DN\) / 1 .*got dtype")


@CASES
def delong_of_a_label_minus_one(tmp):
    return (lambda: cm.delong([0, -1, 1, 1], [0.1, 0.2, 0.8, 0.9]), ValueError,
            r"y_true must hold 0 .*\[-1\]")


@CASES
def scores_of_nothing(tmp):
    return lambda: cm.scores([], []), ValueError, r"scores: y_true and p are empty"


@CASES
def cluster_bootstrap_of_labels_that_are_not_classes(tmp):
    return (lambda: cm.cluster_weights(["a", "b", "c"], [0, 0.5, 1]), ValueError,
            r"labels must hold 0 \(DN\) / 1 .*\[0\.5\]")


# -- 4. grid seeds and folders -------------------------------------------------------------------
class _Exp:
    def __init__(self, name, replicates=()):
        self.name, self.replicates = name, replicates


@CASES
def grid_seed_that_is_a_fraction(tmp):
    return (lambda: grid_cells([_Exp("a")], [0, 0.5]), ValueError,
            r"grid seeds must be non-negative integers, got \[0, 0\.5\] \(not integers: \[0\.5\]")


@CASES
def grid_seed_that_is_text(tmp):
    return lambda: grid_cells([_Exp("a")], ["1"]), ValueError, r"grid seeds .*\['1'\]"


@CASES
def grid_seed_that_is_a_boolean(tmp):
    return lambda: grid_cells([_Exp("a")], [True]), ValueError, r"not integers: \[True\]"


@CASES
def grid_seed_that_is_negative(tmp):
    return lambda: grid_cells([_Exp("a")], [-1]), ValueError, r"non-negative integers.*\[-1\]"


@CASES
def grid_replicate_that_is_a_fraction(tmp):
    return (lambda: grid_cells([_Exp("a", (0, 1.5))], [0]), ValueError,
            r"experiment 'a': replicates must be non-negative integers")


@CASES
def grid_cells_sharing_one_folder(tmp):
    return (lambda: grid_cells([_Exp("Real"), _Exp("real")], [0]), ValueError,
            r"cells \['Real_seed0', 'real_seed0'\] would share one folder")






























@pytest.mark.parametrize("name", sorted(CASES))
def test_bad_input_fails_early_named_and_harmless(name, tmp_path, source, crops):  # noqa: F811
    CTX["source"], CTX["crops"] = source, crops
    check_case(CASES, name, tmp_path)


# -- answers that are not errors -------------------------------------------------------------------
def test_one_source_per_class_gives_no_cluster_interval_and_says_so():
    y, p = [1, 1, 0, 0], [0.9, 0.8, 0.2, 0.1]
    with pytest.warns(IntervalWarning, match=r"test cluster bootstrap .*at least two groups"):
        w = cm.cluster_weights(["mm_a", "mm_a", "dn_a", "dn_a"], y, n_boot=50)
    boot = cm.weighted_scores(y, p, 0.5, w)
    assert all(np.isnan(v).all() for v in boot.values())
    assert np.isnan(percentile_interval(boot["auroc"])).all()  # not [1, 1]
    with warnings.catch_warnings():  # two sources per class: a real interval, no warning
        warnings.simplefilter("error")
        w = cm.cluster_weights(["a", "b", "c", "d"], y, n_boot=50)
    assert np.isfinite(cm.weighted_scores(y, p, 0.5, w)["auroc"]).all()


def test_delong_with_two_test_items_gives_no_interval_and_says_so():
    with pytest.warns(IntervalWarning, match=r"DeLong: .*at least two melanomas and two nevi, "
                                             r"got 1 and 1"):
        out = cm.delong([1, 0], [0.9, 0.1])
    assert out["auroc"] == 1.0 and np.isnan([out["se"], out["lo"], out["hi"]]).all()
    with pytest.warns(IntervalWarning):
        paired = cm.delong_paired([1, 0, 0], [0.9, 0.1, 0.2], [0.8, 0.3, 0.1])
    assert np.isnan([paired["lo"], paired["hi"], paired["p_value"]]).all()


def test_the_detectability_interval_over_one_group_per_label_is_nan():
    with pytest.warns(IntervalWarning, match="groups per label"):
        lo, hi = cluster_bootstrap_auroc([1, 1, 0, 0], [0.9, 0.8, 0.1, 0.2], ["g", "g", "h", "h"])
    assert np.isnan([lo, hi]).all()


@pytest.mark.parametrize("image", ["grey", "grey16", "grey_as_rgb", "binary01"])
def test_masks_that_follow_the_one_channel_rule_are_read(tmp_path, image):
    lesion = _lesion()
    made = {"grey": lesion, "grey16": lesion.astype(np.uint16) * 257,
            "grey_as_rgb": np.dstack([lesion] * 3), "binary01": (lesion > 0).astype(np.uint8)}
    masks = _mask_file(tmp_path, made[image])()
    assert len(masks) == 1 and masks[0].sum() == 20 and masks[0][2:6, 3:8].all()




