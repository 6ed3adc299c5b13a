"""What each generator family needs to draw crops of one class (hsilib.study.family_sets): the
masks of that class's TRAINING crops, its RGB images, its label; the draws per family, class and
replicate, filtered by the critic where asked, and reused while the checkpoint is unchanged."""

import json
import warnings

import numpy as np
import pandas as pd
import pytest
import torch
from fakedata import make_fake_rgb, write_fake_run

from hsilib import config
from hsilib.data.datasets import BandNormaliser, load_crops
from hsilib.study import family_sets as F
from hsilib.study import proportion as P
from hsilib.train.trainer import make_trainer

SIZE = 32


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    root = tmp_path_factory.mktemp("run06f")
    _, splits = write_fake_run(root, n_per_class=12)
    art = root / "artifacts"
    rgb = make_fake_rgb(art / "standin" / "rgb", n=9, size=40)
    norm = BandNormaliser.load(art / "splits" / "normalisation.json")
    conds = F.Conditions(art / "crops", {0: art / "splits" / "splits.csv"}, {0: norm}, rgb)
    return dict(root=root, splits=splits, norm=norm, conds=conds, rgb=rgb)


def _ckpt(family, **cfg):
    return {"family": family, "config": {"image_size": SIZE, **cfg}}


def test_each_family_gets_the_condition_its_config_names(run):
    conds, splits = run["conds"], run["splits"]
    train_mm = load_crops(run["root"] / "artifacts" / "crops", run["norm"], SIZE, "train",
                          run["root"] / "artifacts" / "splits" / "splits.csv", classes=("MM",))
    assert len(train_mm) == ((splits["class"] == "MM") & (splits.split == "train")).sum()
    mask = conds(_ckpt("cfastgan", condition="mask", n_classes=2), "MM", 7, 0)
    assert set(mask) == {"mask", "label"} and mask["label"] == 1
    assert mask["mask"].shape == (7, SIZE, SIZE)
    k = len(train_mm)  # the training masks of the class, taken in turn
    for i in range(7):
        assert torch.equal(mask["mask"][i], train_mm.masks[i % k])
    spade = conds(_ckpt("cfastgan", condition="mask", n_classes=0), "DN", 3, 0)
    assert set(spade) == {"mask"}  # no class input: no label
    rgb = conds(_ckpt("cfastgan", condition="rgb", n_classes=0), "MM", 5, 0)["rgb"]
    index = pd.read_csv(run["rgb"] / "index.csv")
    n_mm = (index["class"] == "MM").sum()
    assert rgb.shape == (5, 3, SIZE, SIZE) and 0 <= rgb.min() and rgb.max() <= 1
    assert torch.equal(rgb[n_mm], rgb[0])  # the class's RGB images in turn
    cycle = conds(_ckpt("cyclegan"), "DN", 50, 0)["rgb"]  # every DN image, drawn by the seed
    assert len(cycle) == (index["class"] == "DN").sum()
    assert conds.distinct(_ckpt("cyclegan"), "DN", 50) == len(cycle)
    assert conds.distinct(_ckpt("cfastgan", condition="rgb"), "DN", 50) == 50
    assert conds(_ckpt("cfastgan", condition="none", n_classes=2), "DN", 4, 0) == {"label": 0}
    assert conds(_ckpt("classic", variant="acgan"), "MM", 4, 0) == {"cls": "MM"}
    assert conds(_ckpt("vae", conditional=True), "DN", 4, 0) == {"cls": "DN"}
    assert conds(_ckpt("vae", conditional=False), "DN", 4, 0) == {}
    assert conds(_ckpt("fastgan"), "MM", 4, 0) == {}
    blind = F.Conditions(conds.crops_dir, conds.tables, conds.normalisers, None)
    with pytest.raises(FileNotFoundError, match="unpaired RGB"):
        blind(_ckpt("cyclegan"), "MM", 2, 0)


def _cond_checkpoint(path, condition, n_classes):
    cfg = config.resolve("smoke", "cond_gan", condition=condition, n_classes=n_classes,
                         image_size=SIZE, batch_size=4)
    data = {"image": torch.rand(6, 16, SIZE, SIZE) * 2 - 1, "label": torch.tensor([0, 1] * 3)}
    data["mask" if condition == "mask" else "rgb"] = (
        (torch.rand(6, SIZE, SIZE) > 0.5).float() if condition == "mask"
        else torch.rand(6, 3, SIZE, SIZE))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # no LPIPS backbone
        trainer = make_trainer(cfg, data, device="cpu", data_ids=[f"x{i}" for i in range(6)])
    trainer.fit(1)
    return trainer.save(path)


def test_draws_per_family_class_and_replicate_filtered_and_reused(run, tmp_path):
    ckpts = tmp_path / "checkpoints"
    ckpts.mkdir()
    _cond_checkpoint(ckpts / "mask_g0.pt", "mask", 2)
    _cond_checkpoint(ckpts / "rgb_g0.pt", "rgb", 0)
    out = tmp_path / "synthetic"
    families = [("mask", "mask_{tag}.pt", 0.5), ("rgb", "rgb_{tag}.pt", 1.0),
                ("gone", "gone_{cls}_{tag}.pt", 1.0)]
    tags = {0: "g0", 1: "g1"}  # replicate 1 has no checkpoints: left out
    dirs, table, notes = F.draw_families(families, run["conds"], ckpts, lambda n: out / n, tags,
                                         n=5, seed=3, device="cpu")
    assert set(dirs) == {"mask", "rgb"} and set(dirs["mask"]) == {0}
    assert any(n.startswith("gone:") and n.endswith("skipped") for n in notes)
    for name in ("mask", "rgb"):
        for cls in ("MM", "DN"):
            folder = dirs[name][0][cls]
            assert folder == out / f"06_{name}_{cls.lower()}_g0"
            index = pd.read_csv(folder / "index.csv")
            assert len(index) == 5 and set(index["class"]) == {cls} and index.is_synthetic.all()
    meta = json.loads((dirs["mask"][0]["MM"] / "export.json").read_text())
    assert meta["n_generated"] == 10 and meta["filter_top_fraction"] == 0.5
    kept = np.asarray(meta["scores"])[meta["kept_indices"]]
    assert kept.min() >= np.sort(meta["scores"])[-5]  # the critic's best half
    assert meta["condition"]["mask"] == f"tensor [10, {SIZE}, {SIZE}]"
    assert list(table["drawn"]) == [10, 10, 5, 5]
    assert list(table["kept share"]) == [0.5, 0.5, 1.0, 1.0]
    stamp = (dirs["rgb"][0]["DN"] / "index.csv").stat().st_mtime_ns
    F.draw_families(families[1:2], run["conds"], ckpts, lambda n: out / n, tags, n=5, seed=3,
                    device="cpu")
    assert (dirs["rgb"][0]["DN"] / "index.csv").stat().st_mtime_ns == stamp  # kept as it was


def test_notebook_07_pools_take_the_same_conditions(run, tmp_path):
    ckpt = _cond_checkpoint(tmp_path / "mask_g0.pt", "mask", 2)
    table = P.export_pool(ckpt, tmp_path / "pool", n=6, cls="DN", normaliser=run["norm"], seed=1,
                          generator="mask", device="cpu",
                          condition=lambda c, cls, n: run["conds"](c, cls, n, 0))
    ids, scores = P.read_pool(tmp_path / "pool")
    assert len(table) == 6 and ids == table["id"].tolist() and scores is not None
    with pytest.raises(ValueError, match="needs 'mask'"):  # without its condition it cannot draw
        P.export_pool(ckpt, tmp_path / "bare", n=2, cls="DN", normaliser=run["norm"], seed=1,
                      generator="mask", device="cpu")
