"""CropDataset and the band-safe augmentations."""

import numpy as np
import pandas as pd
import pytest
import torch

from hsilib.data.datasets import (
    BandNormaliser,
    CropDataset,
    Crops,
    eval_transforms,
    load_crops,
    read_index,
    train_transforms,
    write_crop_folder,
)
from hsilib.data.splits import make_splits, save_csv


def _row(ident, cls, synthetic=False):
    return {"id": ident, "source": ident.rsplit("_crop", 1)[0], "class": cls,
            "label": {"MM": 1, "DN": 0, "Other": -1}[cls], "subtype": cls, "lesion_index": 1,
            "y0": 0, "x0": 0, "y1": 20, "x1": 20, "mask_area": 10, "is_synthetic": synthetic,
            "generator": "fastgan" if synthetic else "real", "checkpoint_sha": "none", "seed": 0}


@pytest.fixture()
def crops(tmp_path):
    rng = np.random.default_rng(0)
    items = []
    for i in range(12):
        cls = ("MM", "DN", "Other")[i % 3]
        cube = rng.uniform(0.05, 0.6, (20, 20, 16)).astype(np.float32)
        mask = np.zeros((20, 20), np.uint8)
        mask[5:15, 5:15] = 1
        items.append((_row(f"{cls}_{i:04d}_crop01", cls), cube, mask))
    write_crop_folder(tmp_path / "crops", items)
    index = read_index(tmp_path / "crops")
    splits = make_splits(index, seed=0)
    save_csv(splits, tmp_path / "splits.csv")
    syn = [(_row(f"fastgan_mm_{i:04d}", "MM", True), np.full((20, 20, 16), 0.3, np.float32),
            None) for i in range(5)]
    write_crop_folder(tmp_path / "syn", syn)
    return tmp_path


def test_items_follow_the_contract(crops):
    norm = BandNormaliser().fit(np.load(p)["cube"] for p in read_index(crops / "crops").path)
    ds = CropDataset(crops / "crops", normaliser=norm, value_range="symmetric")
    assert len(ds) == 12
    item = ds[0]
    assert set(item) == {"image", "label", "wavelengths_nm", "mask", "id", "is_synthetic"}
    assert item["image"].shape == (16, 20, 20) and item["image"].dtype == torch.float32
    assert item["mask"].shape == (1, 20, 20) and item["mask"].dtype == torch.float32
    assert item["wavelengths_nm"].tolist()[:2] == [465.0, 476.0]
    assert item["label"] == 1 and item["id"] == "MM_0000_crop01" and not item["is_synthetic"]
    images = torch.stack([ds[i]["image"] for i in range(len(ds))])
    assert images.amin().item() == pytest.approx(-1, abs=1e-6)
    assert images.amax().item() == pytest.approx(1, abs=1e-6)
    raw = np.load(read_index(crops / "crops").path[0])["cube"]
    np.testing.assert_allclose(norm.inverse(item["image"], "symmetric").numpy(),
                               raw.transpose(2, 0, 1), atol=1e-6)


def test_split_and_class_filters(crops):
    splits = pd.read_csv(crops / "splits.csv")
    train = CropDataset(crops / "crops", split="train", splits_csv=crops / "splits.csv",
                        classes=("MM", "DN"))
    expected = splits[(splits.split == "train") & splits["class"].isin(["MM", "DN"])]
    assert sorted(train.table.id) == sorted(expected.id)
    assert set(train.labels) <= {0, 1}
    with pytest.raises(ValueError, match="splits_csv"):
        CropDataset(crops / "crops", split="train")
    with pytest.raises(FileNotFoundError, match="nothing.*index.csv"):
        CropDataset(crops / "nothing")


def test_add_synthetic_train_only(crops):
    kw = {"splits_csv": crops / "splits.csv", "classes": ("MM", "DN")}
    train = CropDataset(crops / "crops", split="train", **kw)
    n_real = len(train)
    train.add_synthetic(crops / "syn", n=3, seed=1)
    assert len(train) == n_real + 3
    assert train.table.is_synthetic.sum() == 3
    assert train[len(train) - 1]["is_synthetic"] and train[len(train) - 1]["label"] == 1
    assert not train[0]["is_synthetic"]
    with pytest.raises(ValueError, match="asked for 9"):
        train.add_synthetic(crops / "syn", n=9)
    for split in ("val", "test", None):
        ds = CropDataset(crops / "crops", split=split, **kw) if split else CropDataset(
            crops / "crops")
        with pytest.raises(ValueError, match="training split only"):
            ds.add_synthetic(crops / "syn", n=1)


def test_transforms_shapes(crops):
    ds = CropDataset(crops / "crops", transform=train_transforms(16, seed=0))
    item = ds[3]
    assert item["image"].shape == (16, 16, 16) and item["mask"].shape == (1, 16, 16)
    assert set(item["mask"].unique().tolist()) <= {0.0, 1.0}
    ev = eval_transforms(16)(image=np.zeros((20, 30, 16), np.float32))["image"]
    assert ev.shape == (16, 16, 16)


@pytest.mark.parametrize("seed", range(5))
def test_train_transforms_never_mix_bands(seed):
    rng = np.random.default_rng(seed)
    cube = rng.random((40, 52, 16), dtype=np.float32)
    perm = rng.permutation(16)
    # permuting bands commutes with the (identically seeded) random transform
    a = train_transforms(32, seed=seed)(image=cube)["image"]
    b = train_transforms(32, seed=seed)(image=np.ascontiguousarray(cube[..., perm]))["image"]
    np.testing.assert_array_equal(a[..., perm], b)
    # a cube whose band b holds the value b everywhere keeps the spectrum 0..15 at every pixel
    flat = np.broadcast_to(np.arange(16, dtype=np.float32), (40, 52, 16)).copy()
    out = train_transforms(32, seed=seed)(image=flat)["image"]
    np.testing.assert_allclose(out, np.broadcast_to(np.arange(16), out.shape), atol=1e-4)


def test_write_crop_folder_checks_fields_and_is_atomic(tmp_path):
    bad = [({"id": "x"}, np.zeros((4, 4, 16), np.float32), None)]
    with pytest.raises(ValueError, match="missing index fields"):
        write_crop_folder(tmp_path / "out", bad)
    assert list(tmp_path.iterdir()) == []


def test_optional_index_columns_get_defaults(crops):
    # written without them (as the generators' exporters do): defaults in the file and on read
    written = pd.read_csv(crops / "syn" / "index.csv")
    assert (written.field_fill == 0).all() and not written.touches_field_edge.any()
    # an index.csv from before the columns existed
    old = pd.read_csv(crops / "crops" / "index.csv").drop(columns=["field_fill",
                                                                   "touches_field_edge"])
    old.to_csv(crops / "crops" / "index.csv", index=False)
    table = read_index(crops / "crops")
    assert table.field_fill.dtype == float and (table.field_fill == 0).all()
    assert table.touches_field_edge.dtype == bool and not table.touches_field_edge.any()
    # given values are kept and typed
    rows = [({**_row("MM_0001_crop01", "MM"), "field_fill": 0.25, "touches_field_edge": True},
             np.ones((4, 4, 16), np.float32), None)]
    write_crop_folder(crops / "given", rows)
    given = read_index(crops / "given")
    assert given.field_fill.tolist() == [0.25] and given.touches_field_edge.tolist() == [True]


def test_load_crops_carries_the_crops_own_masks(crops):
    norm = BandNormaliser().fit(np.load(p)["cube"] for p in read_index(crops / "crops").path)
    data = load_crops(crops / "crops", norm, 10, classes=("MM", "DN"))
    assert data.masks is not None and data.masks.shape == (len(data), 10, 10)
    assert data.masks.dtype == torch.float32
    # each crop's own 10 x 10 mask in its 20 x 20 crop, resized as the images are
    expected = torch.from_numpy(eval_transforms(10)(
        image=np.zeros((20, 20, 16), np.float32),
        mask=np.pad(np.ones((10, 10), np.uint8), 5))["mask"].astype(np.float32))
    torch.testing.assert_close(data.masks[0], expected)
    assert 0 < expected.mean() < 1
    part = data.subset([2, 0])
    torch.testing.assert_close(part.masks, data.masks[[2, 0]])
    both = Crops.cat([part, data.subset([1])])
    torch.testing.assert_close(both.masks, data.masks[[2, 0, 1]])
    assert both.ids == (data.ids[2], data.ids[0], data.ids[1])
    bare = Crops(data.images[:1], data.labels[:1], data.ids[:1], data.is_synthetic[:1])
    assert bare.masks is None and Crops.cat([bare, bare]).masks is None
    with pytest.raises(ValueError, match="some parts have masks"):
        Crops.cat([bare, part])
    with pytest.raises(ValueError, match="masks must be N x H x W"):
        Crops(data.images, data.labels, data.ids, data.is_synthetic, data.masks[:, :5])
