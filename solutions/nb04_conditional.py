"""Notebook 04: how far each mask-conditioned model's shapes are from the floor."""

from __future__ import annotations

import pandas as pd

from ._run import result


def shape_gap(run) -> pd.DataFrame:
    """Per model and class: Dice between conditioning mask and generated lesion, the floor (the
    same segmentation on the real validation crop against its own mask) and ``gap`` = Dice -
    floor (0 at the floor, negative below it), from ``04_shape_fidelity.csv``."""
    t = result(run, "04_shape_fidelity", "04_conditional")
    is_floor = t["model"].str.endswith("(floor)")
    floors = t[is_floor].set_index("class")["dice"]
    models = t[~is_floor & t["ci_low"].notna()].copy()
    models["floor"] = models["class"].map(floors)
    models["gap"] = models["dice"] - models["floor"]
    return models[["model", "class", "dice", "floor", "gap", "n"]].reset_index(drop=True)
