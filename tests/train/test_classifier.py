"""Classifier training: seeds reproduce, synthetic crops only in training, training mixes keep
the class ratio or the prior they promise, no source image in both training and test,
predictions reproduce the reported metrics exactly. Tiny seeded crop folders in the contract's
format are built here."""

from dataclasses import replace

import numpy as np
import pandas as pd
import pytest
import torch
from fakedata import write_fake_crops

from hsilib import config
from hsilib.data.datasets import Crops, load_crops
from hsilib.train import classifier as T

SIZE = 16


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    from hsilib.data.datasets import BandNormaliser

    root = tmp_path_factory.mktemp("run06")
    index = write_fake_crops(root / "crops", {"MM": 12, "DN": 24})  # train: 8 MM, 16 DN
    split = {0: "train", 1: "train", 2: "train", 3: "val", 4: "test", 5: "train"}
    index["split"] = [split[int(s[-4:]) % 6] for s in index["source"]]
    index[["id", "source", "class", "split"]].to_csv(root / "splits.csv", index=False)
    write_fake_crops(root / "syn_mm", 8, synthetic=True, seed=1, classes=("MM",))
    write_fake_crops(root / "syn_dn", 8, synthetic=True, seed=2, classes=("DN",))
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
    syn = {"MM": r["root"] / "syn_mm", "DN": r["root"] / "syn_dn"}
    preds = _experiment(r, synthetic=syn, n_synthetic_total=6, generator_seed=1,
                        extra_test={"synthetic": [syn["MM"], syn["DN"]]})
    synthetic_ids = set(T.crop_sources(syn["MM"])) | set(T.crop_sources(syn["DN"]))
    for split in ("val", "test"):
        part = preds[preds["split"] == split]
        assert not part["is_synthetic"].any() and not set(part["id"]) & synthetic_ids
        assert set(part["id"]) == set(split_of[split_of == split].index)
        # the source column is the crop index's
        assert (part["source"] == r["index"].set_index("id").loc[part["id"], "source"].values).all()
    train_rows = preds[preds["split"] == "train"]
    assert train_rows["is_synthetic"].sum() == 6 and set(train_rows["id"]) & synthetic_ids
    syn_rows = preds[preds["is_synthetic"]]
    assert (syn_rows["source"] == syn_rows["id"]).all()  # a synthetic crop is its own source
    assert set(preds["split"]) == {"train", "val", "test", "test_synthetic"}
    assert (preds["generator_seed"] == 1).all()
    assert preds.loc[preds["split"] == "test_synthetic", "is_synthetic"].all()
    with pytest.raises(ValueError, match="only 8"):
        T.training_set(real, {"MM": pool}, {"MM": 9}, 1.0, seed=0)


def test_synthetic_counts_follow_the_real_class_ratio():
    assert T.synthetic_counts(torch.tensor([1] * 8 + [0] * 16), 6) == {"MM": 2, "DN": 4}
    assert T.synthetic_counts(np.array([1] * 32 + [0] * 68), 100) == {"MM": 32, "DN": 68}
    assert T.synthetic_counts(np.array([1, 0, 0]), 100) == {"MM": 33, "DN": 67}
    with pytest.raises(ValueError, match="no real training crops"):
        T.synthetic_counts(np.array([]), 5)


def test_training_compositions_and_the_oversampling_control(run):
    r = run
    syn = {"MM": r["root"] / "syn_mm", "DN": r["root"] / "syn_dn"}
    preds = pd.concat([
        _experiment(r, "main", synthetic=syn, n_synthetic_total=6),
        _experiment(r, "syn_mm_only", synthetic={"MM": syn["MM"]}, n_synthetic={"MM": 5}),
        _experiment(r, "dup_mm", duplicate_mm=5),
        _experiment(r, "tstr", real_train=False, synthetic=syn,
                    n_synthetic={"MM": None, "DN": None})])
    table = T.composition(preds)
    expect = {  # MM real, synthetic, duplicated; DN real, synthetic, duplicated
        "main": (8, 2, 0, 16, 4, 0), "syn_mm_only": (8, 5, 0, 16, 0, 0),
        "dup_mm": (8, 0, 5, 16, 0, 0), "tstr": (0, 8, 0, 0, 8, 0)}
    for name, counts in expect.items():
        assert tuple(table.loc[name].iloc[:6]) == counts, name
    # the main mix keeps the real prior (1/3 melanoma); the control matches its arm's prior
    assert table.loc["main", "MM share"] == pytest.approx(8 / 24)
    assert table.loc["dup_mm", "MM share"] == table.loc["syn_mm_only", "MM share"] == 13 / 29
    dup = preds[(preds.config == "dup_mm") & (preds.split == "train")]
    assert dup["is_duplicate"].sum() == 5 and not dup["is_synthetic"].any()
    copies = dup.loc[dup["is_duplicate"], "id"]
    assert set(copies) <= set(dup.loc[~dup["is_duplicate"] & (dup.label == 1), "id"])
    assert copies.is_unique  # 5 copies of 8 melanomas: none copied twice


def test_a_training_source_in_test_is_refused(run, tmp_path):
    r = run
    test_sources = sorted(set(r["index"].loc[r["index"]["split"] == "test", "source"]))
    leaky = tmp_path / "leaky_mm"  # e.g. test crops passed through the export path
    write_fake_crops(leaky, 3, synthetic=True, classes=("MM",), sources=test_sources[:1] * 3)
    with pytest.raises(ValueError, match=r"source leakage.*test split.*" + test_sources[0]):
        _experiment(r, synthetic={"MM": leaky}, n_synthetic={"MM": 2})
    with pytest.raises(ValueError, match="val split"):
        T.check_source_leakage(["a", "b"], {"val": ["b"], "test": ["c"]})
    T.check_source_leakage(["a"], {"val": ["b"], "test": ["c"]})  # disjoint: no error


def test_saved_predictions_reproduce_metrics_exactly(run, tmp_path):
    preds = _experiment(run, "base", seeds=(0, 1))
    reported = T.test_metrics(preds)
    path = tmp_path / "06_predictions.csv"
    T.save_predictions(preds, path)
    again = T.test_metrics(pd.read_csv(path))
    pd.testing.assert_frame_equal(reported, again, check_exact=True)
    assert list(reported["seed"]) == [0, 1] and (reported["n_test"] == 6).all()  # 2 MM + 4 DN
    # the threshold comes from validation predictions, not from the test set
    v = preds[(preds["seed"] == 0) & (preds["split"] == "val")]
    assert reported.loc[0, "threshold"] == T.cm.choose_threshold(v["label"], v["p_mm"])


def test_checkpoints_are_named_by_the_caller(run, tmp_path):
    _experiment(run, "base", seeds=(0, 1), checkpoint_dir=tmp_path, checkpoint_prefix="nb_")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["nb_base_seed0.pt", "nb_base_seed1.pt"]
    _experiment(run, "syn", seeds=(0,), checkpoint_dir=tmp_path, checkpoint_prefix="nb_",
                synthetic={"MM": run["root"] / "syn_mm"}, n_synthetic={"MM": 2}, generator_seed=3)
    assert (tmp_path / "nb_syn_seed0_g3.pt").is_file()


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


def test_a_fixed_subsample_seed_keeps_one_subsample_for_every_classifier_seed(run):
    r = run
    real = load_crops(r["root"] / "crops", r["norm"], SIZE, "train", r["root"] / "splits.csv")
    keep = T.fraction_ids(real, 0.5, seed=7)
    assert len(keep) == 12 and sum(i.startswith("MM") for i in keep) == 4  # 4 of 8, 8 of 16
    assert T.fraction_ids(real, 1.0, seed=7) == real.ids
    for seed in (0, 1, 2):
        train = T.training_set(real, None, None, 0.5, seed, subsample_seed=7)
        assert train.ids == keep  # what a reduced arm's generators were trained on
    per_seed = {T.training_set(real, None, None, 0.5, s).ids for s in range(4)}
    assert len(per_seed) > 1  # without it, each classifier seed draws its own
    preds = _experiment(r, "curve", seeds=(0, 1), fraction=0.5, subsample_seed=7)
    for _, g in preds[preds.split == "train"].groupby("seed"):
        assert tuple(sorted(g["id"])) == tuple(sorted(keep))


def test_arch_replaces_the_configs_architecture_only(run, tmp_path):
    r = run
    cfg = replace(r["cfg"], epochs=1)
    T.run_experiment("resnet", cfg, r["root"] / "crops", r["root"] / "splits.csv", r["norm"],
                     seeds=[0], device="cpu", arch="resnet50", checkpoint_dir=tmp_path)
    saved = torch.load(tmp_path / "resnet_seed0.pt", weights_only=True)
    assert saved["config"] == {**config.to_dict(cfg), "arch": "resnet50"}
    assert any(k.startswith("layer4.") for k in saved["state_dict"])  # a ResNet's last stage


class _Killed(Exception):
    """Stands in for the process ending in the middle of a training."""


def test_a_notebooks_classifier_run_resumes_from_its_loop_state(run, tmp_path, monkeypatch):
    r = run
    cfg = replace(r["cfg"], epochs=4, patience=4)
    whole = _experiment(dict(r, cfg=cfg), "real", checkpoint_dir=tmp_path / "a")
    assert not (tmp_path / "a" / "loops").exists()  # nothing left once a run has ended
    score = T.selection_score
    calls = []

    def dies_in_epoch_3(*args):
        calls.append(1)
        if len(calls) == 3:  # epochs 1 and 2 are on disk; epoch 3 never ends
            raise _Killed
        return score(*args)

    monkeypatch.setattr(T, "selection_score", dies_in_epoch_3)
    with pytest.raises(_Killed):
        _experiment(dict(r, cfg=cfg), "real", checkpoint_dir=tmp_path / "b")
    loop = tmp_path / "b" / "loops" / "real_seed0.pt"
    assert torch.load(loop, weights_only=True)["epoch"] == 1
    monkeypatch.setattr(T, "selection_score", score)
    monkeypatch.setenv("HSILIB_RESUME", "1")  # run_all.py: this notebook's last run was killed
    resumed = _experiment(dict(r, cfg=cfg), "real", checkpoint_dir=tmp_path / "b")
    pd.testing.assert_frame_equal(resumed, whole)
    assert not loop.exists()
    saved = [torch.load(tmp_path / d / "real_seed0.pt", weights_only=True) for d in "ab"]
    assert all(torch.equal(saved[0]["state_dict"][k], saved[1]["state_dict"][k])
               for k in saved[0]["state_dict"])


def test_first_per_class_keeps_each_classes_first_crops_in_order():
    labels = torch.tensor([1, 0, 1, 1, 0, 0, 0])
    crops = Crops(torch.arange(7.0).view(7, 1, 1, 1), labels, tuple("abcdefg"), labels == 2)
    sources = [f"s{i}" for i in range(7)]
    kept, src = T.first_per_class(crops, sources, 2)
    assert kept.ids == ("a", "b", "c", "e") and src == ["s0", "s1", "s2", "s4"]
    assert kept.labels.tolist() == [1, 0, 1, 0]
    assert T.first_per_class(crops, sources, None)[0] is crops  # None: all
    assert T.first_per_class(crops, sources, 10)[0].ids == crops.ids


def test_max_predict_caps_the_predicted_crops_and_keeps_the_training_record(run):
    # a dry run's limit: val / test / extra sets cut to the first crops of each class; every
    # training crop still listed (the record the audits read), predicted only up to the limit
    r = run
    syn = {"MM": r["root"] / "syn_mm"}
    whole = _experiment(r, synthetic=syn, n_synthetic={"MM": 4}, extra_test={"s": syn["MM"]})
    capped = T.run_experiment("syn", replace(r["cfg"], max_predict=2), r["root"] / "crops",
                              r["root"] / "splits.csv", r["norm"], seeds=(0,), device="cpu",
                              synthetic=syn, n_synthetic={"MM": 4}, extra_test={"s": syn["MM"]})
    for split in ("val", "test", "test_s"):
        part, full = capped[capped["split"] == split], whole[whole["split"] == split]
        assert part.groupby("label").size().max() <= 2 and part["p_mm"].notna().all()
        expected = full.groupby("label", sort=False).head(2)["id"]
        assert sorted(part["id"]) == sorted(expected), split
    train, full_train = capped[capped["split"] == "train"], whole[whole["split"] == "train"]
    assert list(train["id"]) == list(full_train["id"])  # the same training set, all listed
    predicted = train[train["p_mm"].notna()]
    assert predicted.groupby("label").size().tolist() == [2, 2]


def test_the_training_record_sizes_the_kept_checkpoint_not_the_loop_state(run, tmp_path,
                                                                          monkeypatch):
    # the plan's disk projection: a run keeps its selected weights; its loop state (optimiser
    # moments, a second copy of the weights) is removed when it ends
    from hsilib.train import watch

    monkeypatch.setattr(watch, "RECORDS", [])
    _experiment(run, name="real", checkpoint_dir=tmp_path)
    kept = tmp_path / "real_seed0.pt"
    assert kept.is_file() and not (tmp_path / "loops").exists()
    record = watch.RECORDS[-1]
    assert record["kind"] == "classifier"
    weights = torch.load(kept, weights_only=True)["state_dict"]
    mb = sum(t.numel() * t.element_size() for t in weights.values()) / 2**20
    assert record["checkpoint_mb"] == pytest.approx(mb, abs=1e-3)
    assert record["checkpoint_mb"] <= kept.stat().st_size / 2**20
