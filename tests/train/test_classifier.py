"""Classifier training: seeds reproduce, synthetic crops only in training, predictions reproduce
the reported metrics exactly. Tiny seeded crop folders in the contract's format are built here."""

from dataclasses import replace

import numpy as np
import pandas as pd
import pytest
import torch

from hsilib import config
from hsilib.data.datasets import load_crops
from hsilib.train import classifier as T

SIZE = 16


def _write_crops(folder, n_per_class, synthetic=False, seed=0, classes=("MM", "DN")):
    """Crop folder per the data contract; melanoma crops are darker in the blue bands."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True)
    rows = []
    for cls in classes:
        for k in range(n_per_class):
            cid = f"{'syn_' if synthetic else ''}{cls}_{k:03d}"
            cube = rng.uniform(0.2, 0.6, (20, 20, 16)).astype(np.float32)
            if cls == "MM":
                cube[..., :6] *= 0.6
            np.savez(folder / f"{cid}.npz", cube=cube, mask=np.ones((20, 20), np.uint8))
            rows.append({"id": cid, "source": f"{cls}_{k // 2:04d}", "class": cls,
                         "label": int(cls == "MM"), "subtype": cls, "lesion_index": k % 2 + 1,
                         "y0": 0, "x0": 0, "y1": 20, "x1": 20, "mask_area": 400,
                         "path": f"{cid}.npz", "is_synthetic": synthetic,
                         "generator": "fastgan" if synthetic else "",
                         "checkpoint_sha": "", "seed": seed if synthetic else -1})
    pd.DataFrame(rows).to_csv(folder / "index.csv", index=False)
    return pd.DataFrame(rows)


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    from hsilib.data.datasets import BandNormaliser

    root = tmp_path_factory.mktemp("run06")
    index = _write_crops(root / "crops", 12)
    split = {0: "train", 1: "train", 2: "train", 3: "val", 4: "test", 5: "train"}
    index["split"] = [split[int(s[-4:]) % 6] for s in index["source"]]
    index[["id", "source", "class", "split"]].to_csv(root / "splits.csv", index=False)
    _write_crops(root / "syn_mm", 8, synthetic=True, seed=1, classes=("MM",))
    train_ids = index.loc[index["split"] == "train", "id"]
    norm = BandNormaliser().fit(np.load(root / "crops" / f"{i}.npz")["cube"] for i in train_ids)
    cfg = replace(config.resolve("smoke", "classifier"), image_size=SIZE, epochs=3, patience=2,
                  batch_size=4)
    return {"root": root, "index": index, "norm": norm, "cfg": cfg}


def _experiment(run, name="syn", seeds=(0,), **kw):
    r = run
    return T.run_experiment(name, r["cfg"], r["root"] / "crops", r["root"] / "splits.csv",
                            r["norm"], seeds=seeds, device="cpu", **kw)


def test_synthetic_enters_only_the_training_split(run):
    r = run
    split_of = r["index"].set_index("id")["split"]
    real = load_crops(r["root"] / "crops", r["norm"], SIZE, "train", r["root"] / "splits.csv")
    pool = load_crops(r["root"] / "syn_mm", r["norm"], SIZE)
    train = T.training_set(real, {"MM": pool}, {"MM": 5}, 1.0, seed=0)
    assert int(train.is_synthetic.sum()) == 5 and len(train) == len(real) + 5
    assert set(train.labels[train.is_synthetic].tolist()) == {1}  # synthetic melanoma
    assert {split_of[i] for i in train.ids if not i.startswith("syn_")} == {"train"}
    preds = _experiment(r, synthetic={"MM": r["root"] / "syn_mm"}, n_synthetic={"MM": 5},
                        extra_test={"synthetic": r["root"] / "syn_mm"})
    for split in ("val", "test"):
        part = preds[preds["split"] == split]
        assert not part["is_synthetic"].any()
        assert set(part["id"]) == set(split_of[split_of == split].index)
    assert preds.loc[preds["split"] == "test_synthetic", "is_synthetic"].all()
    with pytest.raises(ValueError, match="only 8"):
        T.training_set(real, {"MM": pool}, {"MM": 9}, 1.0, seed=0)


def test_saved_predictions_reproduce_metrics_exactly(run, tmp_path):
    preds = _experiment(run, "base", seeds=(0, 1))
    reported = T.test_metrics(preds)
    path = tmp_path / "06_predictions.csv"
    T.save_predictions(preds, path)
    again = T.test_metrics(pd.read_csv(path))
    pd.testing.assert_frame_equal(reported, again, check_exact=True)
    assert list(reported["seed"]) == [0, 1] and (reported["n_test"] == 4).all()
    # the threshold comes from validation predictions, not from the test set
    v = preds[(preds["seed"] == 0) & (preds["split"] == "val")]
    assert reported.loc[0, "threshold"] == T.cm.choose_threshold(v["label"], v["p_mm"])


def test_checkpoints_are_named_by_the_caller(run, tmp_path):
    _experiment(run, "base", seeds=(0, 1), checkpoint_dir=tmp_path, checkpoint_prefix="nb_")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["nb_base_seed0.pt", "nb_base_seed1.pt"]


def test_seeds_reproduce_a_short_run(run):
    r = run
    real = load_crops(r["root"] / "crops", r["norm"], SIZE, "train", r["root"] / "splits.csv")
    val = load_crops(r["root"] / "crops", r["norm"], SIZE, "val", r["root"] / "splits.csv")
    kw = dict(augment=True, balanced=True, loss="focal", device="cpu")
    m1, h1 = T.train_classifier(r["cfg"], real, val, 3, **kw)
    m2, h2 = T.train_classifier(r["cfg"], real, val, 3, **kw)
    m3, _ = T.train_classifier(r["cfg"], real, val, 4, **kw)
    pd.testing.assert_frame_equal(h1, h2)
    for k, v in m1.state_dict().items():
        assert torch.equal(v, m2.state_dict()[k]), k
    assert not torch.equal(m1.head.weight, m3.head.weight)
    # the returned checkpoint is the one with the best validation score
    assert h1.loc[h1["selected"], "val_score"].iloc[0] == h1["val_score"].max()


def test_focal_loss_values():
    logits = torch.tensor([[2.0, -1.0], [0.5, 0.3]])
    y = torch.tensor([0, 1])
    ce = torch.nn.functional.cross_entropy(logits, y)
    torch.testing.assert_close(T.focal_loss(logits, y, gamma=0.0), ce)
    p = torch.softmax(logits, 1)[torch.arange(2), y]
    torch.testing.assert_close(T.focal_loss(logits, y, 2.0), (-(1 - p) ** 2 * p.log()).mean())


def test_augmentation_is_seeded_and_never_mixes_bands():
    from hsilib.data.datasets import train_transforms

    x = torch.rand(4, 16, 16, 16)
    a = T.augment_batch(x, train_transforms(16, seed=0))
    b = T.augment_batch(x, train_transforms(16, seed=0))
    assert a.shape == x.shape and torch.equal(a, b) and not torch.equal(a, x)
    # an image whose pixels all share one spectrum keeps exactly that spectrum everywhere
    spectrum = torch.linspace(0.1, 0.9, 16)
    flat = spectrum[None, :, None, None].expand(2, 16, 16, 16).contiguous()
    out = T.augment_batch(flat, train_transforms(16, seed=1))
    torch.testing.assert_close(out, flat, rtol=1e-5, atol=1e-5)


def test_stratified_fraction():
    labels = torch.tensor([1] * 10 + [0] * 30)
    idx = T.stratified_fraction(labels, 0.25, seed=0)
    assert (labels[idx] == 1).sum() == 2 or (labels[idx] == 1).sum() == 3
    assert (labels[idx] == 0).sum() == 8 and len(set(idx.tolist())) == len(idx)
    np.testing.assert_array_equal(idx, T.stratified_fraction(labels, 0.25, seed=0))
