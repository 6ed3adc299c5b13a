"""Grouped, stratified splits and the per-band normaliser."""

import json

import numpy as np
import pandas as pd
import pytest
import torch

from hsilib.data.datasets import BandNormaliser
from hsilib.data.splits import (
    check_grouped,
    fold_split,
    grouped_kfold,
    make_splits,
    save_csv,
)


def fake_index(seed=0, n=(85, 175, 70)):
    """Crops like the real set: 1-3 lesions per source image."""
    rng = np.random.default_rng(seed)
    rows = []
    for cls, count in zip(("MM", "DN", "Other"), n, strict=True):
        for i in range(count):
            for k in range(rng.choice([1, 1, 1, 2, 3])):
                rows.append({"id": f"{cls}_{i:04d}_crop{k + 1:02d}", "source": f"{cls}_{i:04d}",
                             "class": cls})
    return pd.DataFrame(rows)


@pytest.mark.parametrize("seed", [0, 1, 7])
def test_splits_grouped_and_stratified(seed):
    index = fake_index(seed)
    splits = make_splits(index, (0.7, 0.15, 0.15), seed=seed)
    assert splits.id.tolist() == index.id.tolist()
    assert splits.groupby("source").split.nunique().max() == 1  # no image in two splits
    images = splits.drop_duplicates("source")
    for cls, n in (("MM", 85), ("DN", 175), ("Other", 70)):
        counts = images[images["class"] == cls].split.value_counts()
        assert counts.sum() == n
        for split, frac in (("train", 0.7), ("val", 0.15), ("test", 0.15)):
            assert abs(counts[split] - frac * n) <= 1, (cls, split, counts)
    # class proportions over images agree between splits within 2 points
    share = images.groupby("split")["class"].value_counts(normalize=True).unstack()
    assert (share.max() - share.min()).max() < 0.02
    # deterministic for a seed, different for another
    assert make_splits(index, seed=seed).equals(splits)
    assert not make_splits(index, seed=seed + 100).split.equals(splits.split)


def test_splits_small_classes_get_every_split():
    index = fake_index(0, n=(3, 4, 3))
    images = make_splits(index, seed=0).drop_duplicates("source")
    for cls in ("MM", "DN", "Other"):
        assert set(images[images["class"] == cls].split) == {"train", "val", "test"}


def test_mixed_class_source_rejected():
    index = pd.DataFrame({"id": ["a", "b"], "source": ["s", "s"], "class": ["MM", "DN"]})
    with pytest.raises(ValueError, match="several classes.*'s'"):
        make_splits(index)


def test_check_grouped_detects_leak():
    table = pd.DataFrame({"source": ["a", "a", "b"], "split": ["train", "test", "val"]})
    with pytest.raises(AssertionError, match="'a'"):
        check_grouped(table, "split")


def test_kfold_grouped_and_balanced():
    index = fake_index(3)
    folds = grouped_kfold(index, k=5, seed=0)
    assert set(folds.fold) == set(range(5))
    assert folds.groupby("source").fold.nunique().max() == 1
    per_fold = folds.drop_duplicates("source").groupby("fold")["class"].value_counts().unstack()
    assert (per_fold.max() - per_fold.min()).max() <= 3  # about n/5 of each class per fold
    with pytest.raises(ValueError, match="at least 2"):
        grouped_kfold(index, k=1)


def test_save_csv_atomic(tmp_path):
    path = save_csv(pd.DataFrame({"a": [1, 2]}), tmp_path / "s" / "x.csv")
    assert pd.read_csv(path).a.tolist() == [1, 2]
    assert [p.name for p in path.parent.iterdir()] == ["x.csv"]


def test_normaliser_maps_train_range_and_inverts(tmp_path):
    rng = np.random.default_rng(0)
    train = [rng.uniform(0.1, 0.6, (8, 9, 16)).astype(np.float32) for _ in range(4)]
    train[2][0, 0, 3] = 0.01  # the band-3 minimum
    train[1][4, 4, 5] = 0.95  # the band-5 maximum
    norm = BandNormaliser().fit(train)
    assert norm.band_min[3] == pytest.approx(0.01) and norm.band_max[5] == pytest.approx(0.95)
    stacked = np.stack(train)
    unit = norm.apply(stacked)
    np.testing.assert_allclose(unit.min(axis=(0, 1, 2)), 0, atol=1e-6)
    np.testing.assert_allclose(unit.max(axis=(0, 1, 2)), 1, atol=1e-6)
    sym = norm.apply(stacked, "symmetric")
    np.testing.assert_allclose(sym.min(axis=(0, 1, 2)), -1, atol=1e-6)
    np.testing.assert_allclose(sym.max(axis=(0, 1, 2)), 1, atol=1e-6)
    np.testing.assert_allclose(norm.inverse(sym, "symmetric"), stacked, atol=1e-6)
    # torch images: bands on axis -3, batched or not; same numbers as numpy
    image = torch.from_numpy(train[0].transpose(2, 0, 1).copy())
    np.testing.assert_allclose(norm.apply(image).numpy(), unit[0].transpose(2, 0, 1), atol=1e-6)
    batch = torch.from_numpy(stacked.transpose(0, 3, 1, 2).copy())
    out = norm.apply(batch, "symmetric")
    assert out.dtype == torch.float32
    torch.testing.assert_close(norm.inverse(out, "symmetric"), batch, atol=1e-6, rtol=0)
    # saved and loaded with wavelengths
    path = norm.save(tmp_path / "normalisation.json")
    saved = json.loads(path.read_text())
    assert saved["wavelengths_nm"][0] == 465 and len(saved["band_min"]) == 16
    again = BandNormaliser.load(path)
    np.testing.assert_array_equal(again.apply(stacked), unit)


def test_normaliser_errors(tmp_path):
    with pytest.raises(RuntimeError, match="not fitted"):
        BandNormaliser().apply(np.zeros((2, 2, 16)))
    norm = BandNormaliser().fit([np.zeros((2, 2, 16))])
    with pytest.raises(ValueError, match="16 bands"):
        norm.apply(np.zeros((2, 2, 15)))
    with pytest.raises(ValueError, match="value_range"):
        norm.apply(np.zeros((2, 2, 16)), "wide")
    (tmp_path / "bad.json").write_text("{}")
    with pytest.raises(ValueError, match="bad.json"):
        BandNormaliser.load(tmp_path / "bad.json")
    # a constant band maps to 0 instead of dividing by zero
    assert np.isfinite(norm.apply(np.ones((2, 2, 16)))).all()


def test_percentile_normaliser_matches_numpy_and_inverts(tmp_path):
    rng = np.random.default_rng(1)
    train = [rng.uniform(0.05, 0.7, (6, 7, 16)).astype(np.float32) for _ in range(3)]
    norm = BandNormaliser(method="percentile", percentiles=(5, 95), max_pixels=10_000).fit(train)
    pixels = np.concatenate([t.reshape(-1, 16) for t in train])
    np.testing.assert_allclose(norm.band_min, np.percentile(pixels, 5, axis=0), rtol=1e-6)
    np.testing.assert_allclose(norm.band_max, np.percentile(pixels, 95, axis=0), rtol=1e-6)
    stacked = np.stack(train)
    sym = norm.apply(stacked, "symmetric")
    # the fitted percentiles map to -1 and 1; values beyond them are not clipped
    assert (sym < -1).any() and (sym > 1).any()
    np.testing.assert_allclose((sym < -1).mean(axis=(0, 1, 2)), 0.05, atol=0.01)
    np.testing.assert_allclose(norm.inverse(sym, "symmetric"), stacked, atol=1e-6)
    batch = torch.from_numpy(stacked.transpose(0, 3, 1, 2).copy())
    torch.testing.assert_close(norm.inverse(norm.apply(batch), "unit"), batch, atol=1e-6, rtol=0)
    # the JSON records the method and loads back to the same mapping
    saved = json.loads(norm.save(tmp_path / "n.json").read_text())
    assert saved["method"] == "percentile" and saved["percentiles"] == [5, 95]
    again = BandNormaliser.load(tmp_path / "n.json")
    assert again.method == "percentile" and again.percentiles == (5.0, 95.0)
    np.testing.assert_array_equal(again.apply(stacked), norm.apply(stacked))


def test_zeros_outside_the_field_do_not_move_the_percentile_normaliser():
    rng = np.random.default_rng(2)
    crop = rng.uniform(0.1, 0.5, (10, 10, 16)).astype(np.float32)
    framed = crop.copy()
    framed[:3] = 0.0  # black out-of-field rows
    norm = BandNormaliser(method="percentile").fit([framed])
    pixels = crop[3:].reshape(-1, 16)
    np.testing.assert_allclose(norm.band_min, np.percentile(pixels, 0.5, axis=0), rtol=1e-6)
    np.testing.assert_allclose(norm.band_max, np.percentile(pixels, 99.5, axis=0), rtol=1e-6)
    assert BandNormaliser(method="minmax").fit([framed]).band_min.max() == 0  # min/max is moved
    # subsampling is seeded: the same seed, the same fit
    big = [rng.uniform(0.1, 0.5, (40, 40, 16)).astype(np.float32) for _ in range(2)]
    a = BandNormaliser(method="percentile", max_pixels=100, seed=3).fit(big)
    b = BandNormaliser(method="percentile", max_pixels=100, seed=3).fit(big)
    np.testing.assert_array_equal(a.band_min, b.band_min)


def test_old_json_without_method_loads_as_minmax(tmp_path):
    path = tmp_path / "old.json"
    path.write_text(json.dumps({"band_min": [0.0] * 16, "band_max": [2.0] * 16,
                                "wavelengths_nm": list(range(465, 631, 11)), "n_fitted": 3}))
    norm = BandNormaliser.load(path)
    assert norm.method == "minmax" and norm.n_fitted == 3
    np.testing.assert_allclose(norm.apply(np.ones((1, 1, 16)), "symmetric"), 0.0)
    with pytest.raises(ValueError, match="method must be one of"):
        BandNormaliser(method="zscore")
    with pytest.raises(ValueError, match="percentiles"):
        BandNormaliser(method="percentile", percentiles=(99, 1))
    with pytest.raises(ValueError, match="no field pixels"):
        BandNormaliser(method="percentile").fit([np.zeros((2, 2, 16))])


def test_data_config_normalisation_fields_match_the_normaliser():
    import typing

    from hsilib import config
    from hsilib.data.datasets import NORMALISATIONS

    hints = typing.get_type_hints(config.DataConfig)
    assert set(typing.get_args(hints["normalisation"])) == set(NORMALISATIONS)
    cfg = config.resolve("quick", "data")
    assert (cfg.normalisation, cfg.norm_percentiles) == ("percentile", (0.5, 99.5))
    with pytest.raises(config.ConfigError, match="normalisation: got 'zscore'"):
        config.resolve("quick", "data", normalisation="zscore")
    with pytest.raises(config.ConfigError, match="norm_percentiles"):
        config.resolve("quick", "data", norm_percentiles=(99.5, 0.5))


@pytest.mark.parametrize("k", [3, 5])
def test_fold_split_grouped_disjoint_every_crop_tested_once(k):
    kfold = grouped_kfold(fake_index(3), k=k, seed=0)
    tables = [fold_split(kfold, r) for r in range(k)]
    for r, table in enumerate(tables):
        assert list(table.columns) == ["id", "source", "class", "split"]
        assert table.id.tolist() == kfold.id.tolist()  # every crop in exactly one split
        check_grouped(table, "split")  # no source image in two splits
        fold = kfold.set_index("id")["fold"]
        for split, want in (("test", r), ("val", (r + 1) % k)):
            assert set(fold[table.id[table.split == split]]) == {want}
        assert set(fold[table.id[table.split == "train"]]) == set(range(k)) - {r, (r + 1) % k}
    tested = pd.concat([t[t.split == "test"] for t in tables])
    validated = pd.concat([t[t.split == "val"] for t in tables])
    assert sorted(tested.id) == sorted(kfold.id) == sorted(validated.id)  # each exactly once


def test_fold_split_refuses_two_folds_and_a_missing_fold():
    kfold = grouped_kfold(fake_index(0, n=(10, 10, 4)), k=2, seed=0)
    with pytest.raises(ValueError, match="at least 3 folds"):
        fold_split(kfold, 0)
    kfold3 = grouped_kfold(fake_index(0, n=(10, 10, 4)), k=3, seed=0)
    with pytest.raises(ValueError, match="fold r=3"):
        fold_split(kfold3, 3)
    with pytest.raises(ValueError, match="0..K-1"):
        fold_split(kfold3[kfold3.fold != 1], 0)
