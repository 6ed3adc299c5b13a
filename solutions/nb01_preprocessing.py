"""Notebook 01: splits, the framing check and the segmentation, recomputed from the run folder."""

from __future__ import annotations

import pandas as pd

from ._run import paths, result

MADE_BY = "01_preprocessing"


def splits(run) -> pd.DataFrame:
    """``splits/splits.csv``: one row per crop with its source image, class and split."""
    p = paths(run)
    return pd.read_csv(p.require(p.splits / "splits.csv", MADE_BY))


def split_counts(run) -> pd.DataFrame:
    """Crops per split (rows: train, val, test) and class (columns), with a total column."""
    table = splits(run)
    counts = pd.crosstab(table["split"], table["class"])
    counts = counts.reindex([s for s in ("train", "val", "test") if s in counts.index])
    return counts.assign(total=counts.sum(axis=1))


def sources_in_two_splits(run) -> list[str]:
    """Source images whose crops fall into more than one split (the answer must be none: a
    lesion seen in training and scored in test would inflate every test number)."""
    n = splits(run).groupby("source")["split"].nunique()
    return sorted(n[n > 1].index)


def framing_gap(run) -> dict[str, float]:
    """Check 1 by hand: the share of melanoma and of nevus crops whose box reached past the
    field's edge (``crops/index.csv``), and the gap between them (a fraction, 0.05 = 5 points)."""
    p = paths(run)
    index = pd.read_csv(p.require(p.crops / "index.csv", MADE_BY))
    share = index.groupby("class")["touches_field_edge"].mean()
    return {"MM": float(share["MM"]), "DN": float(share["DN"]),
            "gap": float(abs(share["MM"] - share["DN"]))}


def mean_dice(run) -> pd.Series:
    """Mean Dice of the segmentation against the true lesion outline, per class (the part of
    each image's stem before its number: ``MM_0001`` -> ``MM``)."""
    dice = result(run, "01_segmentation_dice", MADE_BY)
    return dice.groupby(dice["stem"].str.rsplit("_", n=1).str[0])["dice"].mean()
