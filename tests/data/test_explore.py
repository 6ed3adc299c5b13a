"""Notebook-01 helpers: spectra tables, split tables, Dice summary and area scaling."""

import numpy as np
import pandas as pd
from fakedata import lesion_spectrum, skin_spectrum

from hsilib.data import explore


def test_region_spectra_match_the_painted_spectra(fake_crops):
    root, ds, _ = fake_crops
    spectra = explore.region_spectra(ds, root / "crops" / "masks")
    assert len(spectra) == 2 * len(ds)
    skin = spectra[spectra.region == "skin"][list(explore.WAVELENGTHS_NM)].to_numpy()
    np.testing.assert_allclose(skin.mean(0), skin_spectrum(), rtol=0.02)
    lesion = spectra[spectra.region == "lesion"][list(explore.WAVELENGTHS_NM)].to_numpy()
    # fake lesions: skin x exp(-d (lambda/500)^-3), d in [0.8, 1.6]
    assert (lesion < lesion_spectrum(0.75) + 0.01).all()
    assert (lesion > lesion_spectrum(1.65) - 0.01).all()


def test_split_table_counts():
    splits = pd.DataFrame({"id": list("abcde"), "source": ["s1", "s1", "s2", "s3", "s4"],
                           "class": ["MM", "MM", "MM", "DN", "DN"],
                           "split": ["train", "train", "val", "train", "test"]})
    table = explore.split_table(splits)
    assert table.loc["MM", ("images", "train")] == 1
    assert table.loc["MM", ("crops", "train")] == 2
    assert table.loc["DN", ("images", "test")] == 1


def test_dice_summary_and_min_area(fake_crops, tmp_path, capsys):
    root, ds, _ = fake_crops
    summary = explore.dice_summary(root / "crops" / "masks", root / "truth",
                                   out_csv=tmp_path / "dice.csv")
    assert (summary["mean"] > 0.9).all() and summary.missed.sum() == 0
    assert len(pd.read_csv(tmp_path / "dice.csv")) == summary.lesions.sum()
    assert explore.dice_summary(root / "crops" / "masks", None) is None
    assert "real data" in capsys.readouterr().out
    # 68 x 128 cubes hold 1/16 of the camera's 272 x 512 pixels
    assert explore.min_area_for(ds, 400) == 25


def test_separability_features_from_a_masks_folder(fake_crops, capsys):
    from hsilib.data.explore import mask_feature_table
    from hsilib.data.preprocess import load_user_masks
    from hsilib.standin.checks import mask_shape_features, separability_auroc

    root, ds, _ = fake_crops
    masks_dir = root / "crops" / "masks"
    table = mask_feature_table(ds, masks_dir)
    assert set(table["class"]) == {"MM", "DN"} and (table.label == (table["class"] == "MM")).all()
    row = table.iloc[0]
    sample = next(ds[i] for i in range(len(ds)) if ds[i]["stem"] == row.stem)
    mask = load_user_masks(masks_dir, row.stem)[row.lesion_index - 1]
    np.testing.assert_allclose(row[[f"b{i}" for i in range(16)]].to_numpy(float),
                               sample["cube"][mask].mean(0), rtol=1e-6)
    assert row.area == mask_shape_features(mask)["area"]
    assert 0 <= separability_auroc(table=table, n_splits=2) <= 1
    assert explore.separability(None) is None and "cannot be measured" in capsys.readouterr().out
