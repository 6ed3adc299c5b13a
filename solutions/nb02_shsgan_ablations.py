"""Notebook 02: each arm's distance to the floor, over its training seeds."""

from __future__ import annotations

import pandas as pd

from hsilib.metrics.intervals import t_interval

from ._run import result


def gap_to_floor(run, metric: str = "FD_rand") -> pd.DataFrame:
    """Per arm and class: ``metric``'s value minus its floor for each training seed, their mean
    and 95 % Student-t interval over seeds (NaN bounds with one seed), from
    ``02_metrics_long.csv``; sorted from the arm nearest its floor."""
    long = result(run, "02_metrics_long", "02_shsgan_ablations")
    rows = long[long["metric"] == metric].assign(gap=lambda t: t["value"] - t["floor"])
    out = []
    for (arm, cls), g in rows.groupby(["arm", "class"]):
        mean, lo, hi = t_interval(g["gap"])
        out.append({"arm": arm, "class": cls, "n_seeds": g["seed"].nunique(), "gap": mean,
                    "lo": lo, "hi": hi})
    return pd.DataFrame(out).sort_values(["class", "gap"]).reset_index(drop=True)
