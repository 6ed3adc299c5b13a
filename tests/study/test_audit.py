"""The audits (hsilib.study.audit): shortcut and normalisation checks on hand-made indexes and
crops; the generator audit on checkpoints trained on known ids."""

import numpy as np
import pandas as pd
import pytest
import torch

from hsilib import guard
from hsilib.data.datasets import BandNormaliser, write_crop_folder
from hsilib.study import audit


def _index(mm_touching, mm_total, dn_touching, dn_total):
    rows = []
    for cls, touching, total in (("MM", mm_touching, mm_total), ("DN", dn_touching, dn_total)):
        rows += [{"class": cls, "touches_field_edge": i < touching,
                  "field_fill": 0.1 if i < touching else 0.0} for i in range(total)]
    rows.append({"class": "Other", "touches_field_edge": True, "field_fill": 0.5})
    return pd.DataFrame(rows)


def test_edge_share_hand_made_index():
    table = audit.edge_share(_index(3, 20, 2, 40))
    assert list(table.index) == ["MM", "DN"]  # Other is not part of the task
    assert table.loc["MM"].tolist() == pytest.approx([20, 3, 0.15, 0.015])
    assert table.loc["DN"].tolist() == pytest.approx([40, 2, 0.05, 0.005])
    fail = audit.edge_share_check(_index(3, 20, 2, 40))  # 15 % vs 5 %: 10 points apart
    assert fail.value == pytest.approx(0.10) and fail.passed is False
    assert "MM 15.0% (3/20), DN 5.0% (2/40)" in fail.sentence and "FAIL" in fail.sentence
    ok = audit.edge_share_check(_index(1, 20, 1, 40))  # 5 % vs 2.5 %
    assert ok.value == pytest.approx(0.025) and ok.passed and "PASS" in ok.sentence
    with pytest.raises(ValueError, match="touches_field_edge"):
        audit.edge_share(pd.DataFrame({"class": ["MM"], "field_fill": [0.0]}))


def test_hide_lesion_blanks_the_grown_bounding_box_only():
    images = torch.ones(2, 3, 12, 12)
    masks = torch.zeros(2, 12, 12)
    masks[0, 4:6, 5:8] = 1  # bounding box rows 4-5, columns 5-7
    masks[1, 0:2, 10:12] = 1  # at the corner: the grown box is clipped to the crop
    out = audit.hide_lesion(images, masks, grow_px=2)
    expected = torch.ones(2, 3, 12, 12)
    expected[0, :, 2:8, 3:10] = 0
    expected[1, :, 0:4, 8:12] = 0
    torch.testing.assert_close(out, expected)
    assert images.min() == 1  # the input is left alone
    with pytest.raises(ValueError, match="crop 1 has an empty mask"):
        audit.hide_lesion(images, torch.cat([masks[:1], torch.zeros(1, 12, 12)]))


def test_separability_and_normalisation_verdicts():
    assert audit.separability_check(0.75).passed
    assert audit.separability_check(0.95).passed is False
    assert audit.separability_check(None).passed is None
    real = audit.separability_check(0.95, standin=False)
    assert real.passed is None and "0.950" in real.sentence and "does not apply" in real.sentence
    table = pd.DataFrame({"normalisation": ["percentile", "minmax"], "share": [0.8, 0.4]})
    assert audit.normalisation_check(table, "percentile").passed
    assert audit.normalisation_check(table, "minmax").passed is False
    assert "percentile 80%" in audit.normalisation_check(table, "minmax").sentence


def test_lesion_range_table_hand_checked(tmp_path):
    # lesion pixels hold 0.2 .. 0.4 (a linear ramp), the skin 0.5, outside the field 0
    ramp = np.linspace(0.2, 0.4, 101, dtype=np.float32)
    cube = np.full((101, 2, 16), 0.5, np.float32)
    cube[:, 0] = ramp[:, None]
    cube[:, 1] = 0.0
    mask = np.zeros((101, 2), np.uint8)
    mask[:, 0] = 1
    row = {"id": "MM_0001_crop01", "source": "MM_0001", "class": "MM", "label": 1,
           "subtype": "MM", "lesion_index": 1, "y0": 0, "x0": 0, "y1": 101, "x1": 2,
           "mask_area": 101, "is_synthetic": False, "generator": "real",
           "checkpoint_sha": "none", "seed": -1}
    write_crop_folder(tmp_path / "crops", [(row, cube, mask)])
    splits = pd.DataFrame({"id": [row["id"]], "split": ["train"]})
    unit = BandNormaliser(np.zeros(16), np.ones(16))  # reflectance 0..1 -> -1..1
    table = audit.lesion_range_table(tmp_path / "crops", splits, {"unit": unit},
                                     quantiles=(0.0, 1.0))
    assert len(table) == 16
    # 0.2 -> -0.6, 0.4 -> -0.2: the lesions use a fifth of [-1, 1]
    np.testing.assert_allclose(table.lesion_lo, -0.6, atol=1e-6)
    np.testing.assert_allclose(table.lesion_hi, -0.2, atol=1e-6)
    np.testing.assert_allclose(table.lesion_median, -0.4, atol=1e-6)
    np.testing.assert_allclose(table.share, 0.2, atol=1e-6)


# --------------------------------------------------------------------------------------------
# Generators' training inputs
# --------------------------------------------------------------------------------------------
def _checkpoint(path, ids, n=3):
    from hsilib.config import resolve
    from hsilib.train.trainer import make_trainer

    cfg = resolve("smoke", "fastgan")
    size = (n if ids is None else len(ids), cfg.n_bands, cfg.image_size, cfg.image_size)
    images = torch.rand(size) * 2 - 1
    return make_trainer(cfg, images, seed=0, device="cpu", data_ids=ids).save(path)


def test_audit_passes_training_ids_and_catches_a_leak(tmp_path):
    splits = pd.DataFrame({"id": ["a1", "a2", "b1", "c1", "a3"],
                           "source": ["a", "a", "b", "c", "x"],
                           "class": "MM", "split": ["train", "train", "val", "test", "train"]})
    ok = _checkpoint(tmp_path / "ok.pt", ["a1", "a2", "a3"])
    table = audit.audit_generators([ok], splits)
    assert table.loc[0, ["n_ids", "train", "val", "test", "unknown"]].tolist() == [3, 3, 0, 0, 0]
    leak = _checkpoint(tmp_path / "leak.pt", ["a1", "c1"])
    with pytest.raises(guard.LeakageError, match=r"leak\.pt: trained on 0 validation, 1 test"):
        audit.audit_generators([ok, leak], splits)
    # a crop of a held-out source image that was mislabelled "train" is caught by its source
    sibling = splits.assign(split=["train", "train", "val", "test", "train"],
                            source=["a", "a", "b", "c", "b"])
    with pytest.raises(guard.LeakageError, match=r"outside the training split: \['b'\]"):
        audit.audit_generators([ok], sibling)
    with pytest.raises(guard.LeakageError, match="no data_ids"):
        audit.audit_generators([_checkpoint(tmp_path / "anon.pt", None)], splits)


def test_audit_per_fold_passes_own_fold_and_catches_another_folds_table(tmp_path):
    from hsilib.data.splits import fold_split

    kfold = pd.DataFrame({"id": ["a1", "a2", "b1", "c1", "d1", "e1"],
                          "source": ["a", "a", "b", "c", "d", "e"], "class": "MM",
                          "fold": [2, 2, 0, 1, 0, 1]})
    tables = {r: fold_split(kfold, r) for r in range(3)}
    fold0 = _checkpoint(tmp_path / "fastgan_mm_f0.pt", ["a1", "a2"])  # fold 0 trains on fold 2
    table = audit.audit_generators([fold0], tables[0])
    assert table.loc[0, ["train", "val", "test"]].tolist() == [2, 0, 0]
    with pytest.raises(guard.LeakageError, match="trained on 2 validation, 0 test"):
        audit.audit_generators([fold0], tables[1])  # fold 1 validates on fold 2
    with pytest.raises(guard.LeakageError, match="trained on 0 validation, 2 test"):
        audit.audit_generators([fold0], tables[2])  # fold 2 tests on it
