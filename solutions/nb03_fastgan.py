"""Notebook 03: value against floor, and the spread between generator replicates."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from ._run import paths, result

MADE_BY = "03_fastgan"


def metric_table(run, cls: str = "MM", tag: str = "g0", family: str = "") -> pd.DataFrame:
    """``03_metrics_[<family>_]<cls>_<tag>.csv`` (family ``"stylegan2"`` or FastGAN's ``""``)."""
    name = "_".join(p for p in ("03_metrics", family, cls.lower(), tag) if p)
    return result(run, name, MADE_BY)


def gap_to_floor(run, cls: str = "MM", tag: str = "g0") -> pd.DataFrame:
    """Per metric: value, floor, ``gap`` = value - floor, and ``floor_in_ci``: whether the
    value's 95 % interval holds the floor (then this generator is not told apart from real
    crops on that metric, at this sample size)."""
    t = metric_table(run, cls, tag)[["metric", "value", "floor", "ci_low", "ci_high"]]
    t = t.assign(gap=t["value"] - t["floor"])
    return t.assign(floor_in_ci=(t["ci_low"] <= t["floor"]) & (t["floor"] <= t["ci_high"]))


def replicate_spread(run, cls: str = "MM", metric: str = "FD_rand") -> pd.DataFrame:
    """``metric`` of every FastGAN replicate of class ``cls`` beside the width of its interval
    over images: when replicates differ by more than that width, the interval (which holds the
    generator fixed) understates the uncertainty of "FastGAN" as a method."""
    p = paths(run)
    rows = []
    for path in sorted(p.results.glob(f"03_metrics_{cls.lower()}_*.csv")):
        t = pd.read_csv(path).set_index("metric")
        rows.append({"replicate": Path(path).stem.rsplit("_", 1)[1],
                     "value": t.loc[metric, "value"],
                     "ci_width": t.loc[metric, "ci_high"] - t.loc[metric, "ci_low"]})
    if not rows:
        p.require(p.results / f"03_metrics_{cls.lower()}_g0.csv", MADE_BY)
    table = pd.DataFrame(rows)
    return table.assign(spread=table["value"].max() - table["value"].min())
