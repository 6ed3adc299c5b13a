"""The test-split guard: generator notebooks cannot read the test split."""

import pytest

from hsilib import guard
from hsilib.notebook import setup


def test_generator_notebook_is_refused_the_test_split(tmp_path):
    setup("03", "smoke", run_dir=tmp_path)
    assert guard.active() == "03"
    guard.check_split("val")  # validation and training are fine
    guard.check_split("train")
    with pytest.raises(guard.TestSplitError, match="notebook 03 may not read the test split"):
        guard.check_split("test", "crops/index.csv")


def test_classifier_notebook_and_plain_code_may_read_it(tmp_path):
    guard.check_split("test")  # no notebook declared: scripts and tests are not refused
    setup("06", "smoke", run_dir=tmp_path)
    guard.check_split("test")


def _checkpoint(path, ids, n=3):
    import torch

    from hsilib.config import resolve
    from hsilib.train.trainer import make_trainer

    cfg = resolve("smoke", "fastgan")
    size = (n if ids is None else len(ids), cfg.n_bands, cfg.image_size, cfg.image_size)
    images = torch.rand(size) * 2 - 1
    return make_trainer(cfg, images, seed=0, device="cpu", data_ids=ids).save(path)


def test_audit_passes_training_ids_and_catches_a_leak(tmp_path):
    import pandas as pd

    splits = pd.DataFrame({"id": ["a1", "a2", "b1", "c1", "a3"],
                           "source": ["a", "a", "b", "c", "x"],
                           "class": "MM", "split": ["train", "train", "val", "test", "train"]})
    ok = _checkpoint(tmp_path / "ok.pt", ["a1", "a2", "a3"])
    table = guard.audit_generators([ok], splits)
    assert table.loc[0, ["n_ids", "train", "val", "test", "unknown"]].tolist() == [3, 3, 0, 0, 0]
    leak = _checkpoint(tmp_path / "leak.pt", ["a1", "c1"])
    with pytest.raises(guard.LeakageError, match=r"leak\.pt: trained on 0 validation, 1 test"):
        guard.audit_generators([ok, leak], splits)
    # a crop of a held-out source image that was mislabelled "train" is caught by its source
    sibling = splits.assign(split=["train", "train", "val", "test", "train"],
                            source=["a", "a", "b", "c", "b"])
    with pytest.raises(guard.LeakageError, match=r"outside the training split: \['b'\]"):
        guard.audit_generators([ok], sibling)
    with pytest.raises(guard.LeakageError, match="no data_ids"):
        guard.audit_generators([_checkpoint(tmp_path / "anon.pt", None)], splits)


def test_crop_loader_refuses_test_in_a_generator_notebook(tmp_path, fake_crops):
    from hsilib.data.datasets import CropDataset

    root, _, index = fake_crops
    splits_csv = tmp_path / "splits.csv"
    index.assign(split=["test" if i % 2 else "val" for i in range(len(index))])[
        ["id", "source", "class", "split"]].to_csv(splits_csv, index=False)
    assert len(CropDataset(root / "crops", split="test", splits_csv=splits_csv)) > 0
    setup("03", "smoke", run_dir=tmp_path / "run")
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


def test_audit_per_fold_passes_own_fold_and_catches_another_folds_table(tmp_path):
    import pandas as pd

    from hsilib.data.splits import fold_split

    kfold = pd.DataFrame({"id": ["a1", "a2", "b1", "c1", "d1", "e1"],
                          "source": ["a", "a", "b", "c", "d", "e"], "class": "MM",
                          "fold": [2, 2, 0, 1, 0, 1]})
    tables = {r: fold_split(kfold, r) for r in range(3)}
    fold0 = _checkpoint(tmp_path / "fastgan_mm_f0.pt", ["a1", "a2"])  # fold 0 trains on fold 2
    audit = guard.audit_generators([fold0], tables[0])
    assert audit.loc[0, ["train", "val", "test"]].tolist() == [2, 0, 0]
    with pytest.raises(guard.LeakageError, match="trained on 2 validation, 0 test"):
        guard.audit_generators([fold0], tables[1])  # fold 1 validates on fold 2
    with pytest.raises(guard.LeakageError, match="trained on 0 validation, 2 test"):
        guard.audit_generators([fold0], tables[2])  # fold 2 tests on it
