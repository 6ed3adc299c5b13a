"""The test-split guard: generator notebooks cannot read the test split."""

import pytest

from hsilib import guard
from hsilib.notebook import setup


def test_generator_notebook_is_refused_the_test_split(tmp_path):
    setup("03", "smoke", run_dir=tmp_path, check_inputs=False)
    assert guard.active() == "03"
    guard.check_split("val")  # validation and training are fine
    guard.check_split("train")
    with pytest.raises(guard.TestSplitError, match="notebook 03 may not read the test split"):
        guard.check_split("test", "crops/index.csv")


def test_classifier_notebook_and_plain_code_may_read_it(tmp_path):
    guard.check_split("test")  # no notebook declared: scripts and tests are not refused
    setup("06", "smoke", run_dir=tmp_path, check_inputs=False)
    guard.check_split("test")


def test_crop_loader_refuses_test_in_a_generator_notebook(tmp_path, fake_crops):
    from hsilib.data.datasets import CropDataset

    root, _, index = fake_crops
    splits_csv = tmp_path / "splits.csv"
    index.assign(split=["test" if i % 2 else "val" for i in range(len(index))])[
        ["id", "source", "class", "split"]].to_csv(splits_csv, index=False)
    assert len(CropDataset(root / "crops", split="test", splits_csv=splits_csv)) > 0
    setup("03", "smoke", run_dir=tmp_path / "run", check_inputs=False)
    assert len(CropDataset(root / "crops", split="val", splits_csv=splits_csv)) > 0
    with pytest.raises(guard.TestSplitError, match="notebook 03"):
        CropDataset(root / "crops", split="test", splits_csv=splits_csv)


@pytest.mark.parametrize("method", ["percentile", "minmax"])
def test_normaliser_sees_training_crops_only(tmp_path, method):
    import numpy as np
    import pandas as pd

    from hsilib.data.datasets import BandNormaliser, fit_train_normaliser, write_crop_folder

    rng = np.random.default_rng(0)
    cubes = {f"c{i}": rng.uniform(0.1, 0.5, (8, 8, 16)).astype(np.float32) for i in range(5)}
    cubes["c3"] *= 4.0  # validation and test crops far outside the training range
    cubes["c4"] *= 0.01
    split = {"c0": "train", "c1": "train", "c2": "train", "c3": "val", "c4": "test"}
    row = dict(source="", label=1, subtype="MM", lesion_index=1, y0=0, x0=0, y1=8, x1=8,
               mask_area=0, is_synthetic=False, generator="real", checkpoint_sha="none", seed=-1)
    write_crop_folder(tmp_path / "crops", [({**row, "id": k, "source": k, "class": "MM"}, c, None)
                                           for k, c in cubes.items()])
    splits = pd.DataFrame({"id": list(split), "source": list(split), "class": "MM",
                           "split": list(split.values())})
    fitted = fit_train_normaliser(tmp_path / "crops", splits, method=method)
    alone = BandNormaliser(method=method).fit([cubes[k] for k in ("c0", "c1", "c2")])
    np.testing.assert_array_equal(fitted.band_min, alone.band_min)
    np.testing.assert_array_equal(fitted.band_max, alone.band_max)
    assert fitted.n_fitted == 3
