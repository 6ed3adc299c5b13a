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
