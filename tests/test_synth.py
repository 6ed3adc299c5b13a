"""Synthetic export: crop-folder format, CropDataset round trip, discriminator filtering, and the
writing path on real crops (reflectance and labels survive it)."""

import json
import warnings

import numpy as np
import pytest
import torch

from hsilib import config
from hsilib.data.datasets import BandNormaliser, CropDataset, load_crop, read_index
from hsilib.models import registry
from hsilib.synth import export_synthetic, write_synthetic
from hsilib.train.trainer import make_trainer


def _checkpoint(tmp_path):
    cfg = config.resolve("smoke", "fastgan", ngf=4, ndf=4, z_dim=16, image_size=32, batch_size=4)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # no LPIPS backbone: L1 + (1 - SSIM)
        t = make_trainer(cfg, torch.rand(6, 16, 32, 32) * 2 - 1, device="cpu")
    t.fit(1)
    return t.save(tmp_path / "fastgan_mm.pt")


def _normaliser():
    rng = np.random.default_rng(0)
    return BandNormaliser().fit([rng.uniform(0.05, 0.6, (8, 8, 16)).astype(np.float32)])


def test_export_loads_through_crop_dataset(tmp_path):
    ck, norm = _checkpoint(tmp_path), _normaliser()
    out = tmp_path / "synthetic" / "fastgan_mm"
    table = export_synthetic(ck, out, n=5, cls="MM", normaliser=norm, seed=3, batch_size=2,
                             device="cpu")
    assert len(table) == 5
    index = read_index(out)
    assert index.is_synthetic.all() and (index.label == 1).all()
    assert (index.generator == "fastgan").all() and (index.seed == 3).all()
    assert (index.checkpoint_sha == registry.file_sha256(ck)).all()
    assert len(index.checkpoint_sha[0]) == 12
    ds = CropDataset(out, normaliser=norm, value_range="symmetric")
    item = ds[0]
    assert item["label"] == 1 and item["is_synthetic"] is True
    assert item["image"].shape == (16, 32, 32) and item["mask"].sum() == 0
    # the stored reflectance is the normaliser's inverse of the EMA generator's output
    objective, _ = registry.load(ck)
    images = objective.sample(5, seed=3, batch_size=2)
    assert torch.allclose(item["image"], images[0], atol=1e-5)
    side = json.loads((out / "export.json").read_text())
    assert side["kept_fraction"] == 1.0 and side["family"] == "fastgan" and side["step"] == 1


def test_discriminator_filter_keeps_the_top_fraction(tmp_path):
    ck, norm = _checkpoint(tmp_path), _normaliser()
    out = tmp_path / "dn"
    export_synthetic(ck, out, n=4, cls="DN", normaliser=norm, seed=0, batch_size=4,
                     filter_top_fraction=0.5, device="cpu")
    side = json.loads((out / "export.json").read_text())
    assert side["n_generated"] == 8 and side["kept_fraction"] == 0.5
    scores = np.array(side["scores"])
    kept = side["kept_indices"]
    assert sorted(kept) == sorted(np.argsort(-scores)[:4].tolist())
    assert scores[kept].min() >= np.delete(scores, kept).max()
    ds = CropDataset(out)
    assert len(ds) == 4 and (ds.labels == 0).all()


def test_write_synthetic_round_trips_real_crops_and_keeps_their_sources(tmp_path):
    norm = _normaliser()
    rng = np.random.default_rng(1)
    cubes = rng.uniform(0.05, 0.6, (3, 8, 8, 16)).astype(np.float32)  # H x W x B reflectance
    images = torch.from_numpy(norm.apply(cubes, "symmetric", band_axis=-1)).permute(0, 3, 1, 2)
    table = write_synthetic(images, tmp_path / "pass_dn", cls="DN", normaliser=norm,
                            generator="passthrough", sources=["a", "a", "b"])
    assert list(table.id) == [f"passthrough_dn_{i:04d}" for i in (1, 2, 3)]
    index = read_index(tmp_path / "pass_dn")
    assert list(index.source) == ["a", "a", "b"] and (index.label == 0).all()
    assert index.is_synthetic.all() and (index.generator == "passthrough").all()
    for cube, path in zip(cubes, index.path, strict=True):
        np.testing.assert_allclose(load_crop(path)[0], cube, rtol=1e-5, atol=1e-6)
    own = write_synthetic(images[:1], tmp_path / "own", cls="MM", normaliser=norm, generator="g")
    assert list(own.source) == list(own.id) == ["g_mm_0001"]
    with pytest.raises(ValueError, match="sources has 1 entries for 3"):
        write_synthetic(images, tmp_path / "x", cls="MM", normaliser=norm, generator="g",
                        sources=["a"])
    with pytest.raises(ValueError, match="cls must be one of"):
        write_synthetic(images, tmp_path / "x", cls="BCC", normaliser=norm, generator="g")
