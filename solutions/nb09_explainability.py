"""Notebook 09: the bands chosen from the relevance spectra, and the randomisation check."""

from __future__ import annotations

import pandas as pd

from hsilib import WAVELENGTHS_NM

from ._run import result

MADE_BY = "09_explainability"


def band_choice(run) -> pd.DataFrame:
    """``09_band_choice.csv`` in order of choice, with each band's wavelength looked up in
    :data:`hsilib.WAVELENGTHS_NM` and ``score_by_hand`` = relevance x novelty (novelty:
    1 - R^2 of the band regressed on the bands chosen before it, on validation pixels)."""
    t = result(run, "09_band_choice", MADE_BY).sort_values("step").reset_index(drop=True)
    t["wavelength_by_hand"] = [float(WAVELENGTHS_NM[b]) for b in t["band"]]
    t["score_by_hand"] = t["relevance"] * t["novelty"]
    return t


def randomisation(run) -> pd.DataFrame:
    """Per attribution method: the rank correlation between the absolute attributions of the
    trained network and of its randomised copy (``09_randomisation.csv``), averaged over the
    explained seeds, highest first. Near 1, a method shows the input, not what the network
    learnt; the method on top changed least when the weights were randomised."""
    t = result(run, "09_randomisation", MADE_BY)
    table = t.groupby("method", as_index=False).agg(
        rho_absolute=("rho_absolute", "mean"), rho_absolute_hi=("rho_absolute_hi", "max"),
        seeds=("seed", "nunique"))
    return table.sort_values("rho_absolute", ascending=False).reset_index(drop=True)
