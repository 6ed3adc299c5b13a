"""Interactive explorers for the notebooks: sliders over a cube, drawn by pure functions.

Every explorer is two layers: a pure function that returns the figure for given slider values
(:func:`cube_view`), which the tests call headlessly, and a thin ipywidgets wrapper
(:func:`cube_explorer`) that redraws it when a slider moves. Introduced in notebook 01
(``notebooks/01_preprocessing.ipynb``, section 5)::

    spectra = explore.region_spectra(ds, run.crops / "masks")   # lesion and skin references
    cube_explorer(ds, spectra)          # image, wavelength (nm), pixel row and column sliders
    fig = cube_view(ds[0], 542, row=40, col=60, references=spectra)   # the same, one frame
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from . import WAVELENGTHS_NM
from .plotting.style import BELOW, grey, reflectance_stretch, series_colours
from .standin.rendering import cube_to_rgb

#: The reference spectra drawn beside a pixel's: an image's own lesion and skin means.
REGIONS = ("lesion", "skin")


def nearest_band(wavelength_nm: float, wavelengths_nm: Sequence[float] = WAVELENGTHS_NM) -> int:
    """Index of the band nearest ``wavelength_nm``; a wavelength farther than half a band step
    outside the cube's range is an error (a slider of another camera, say)."""
    wl = np.asarray(wavelengths_nm, dtype=float)
    half = (wl[-1] - wl[0]) / (len(wl) - 1) / 2 if len(wl) > 1 else 0.5
    if not wl[0] - half <= wavelength_nm <= wl[-1] + half:
        raise ValueError(f"wavelength_nm={wavelength_nm} lies outside the cube's bands "
                         f"({wl[0]:g}-{wl[-1]:g} nm)")
    return int(np.argmin(np.abs(wl - wavelength_nm)))


def references_of(references: pd.DataFrame | None, stem: str,
                  wavelengths_nm: Sequence[float]) -> dict[str, np.ndarray]:
    """The lesion and skin mean spectra of image ``stem`` from a table of
    :func:`hsilib.data.explore.region_spectra` (region, stem and one column per wavelength);
    regions the table lacks for that image are left out."""
    if references is None:
        return {}
    rows = references[references["stem"] == stem]
    return {region: rows.loc[rows["region"] == region, list(wavelengths_nm)].to_numpy(float)[0]
            for region in REGIONS if (rows["region"] == region).any()}


def cube_view(sample: Mapping[str, Any], wavelength_nm: float, row: int, col: int,
              references: pd.DataFrame | None = None) -> Any:
    """One frame of the cube explorer for an image of :class:`~hsilib.data.hsi_dermoscopy.
    HSIDermoscopy` (``cube`` H x W x B, ``wavelengths_nm``, ``stem``, ``class``): the band nearest
    ``wavelength_nm`` in grey, the pixel (``row``, ``col``) marked; that pixel's spectrum beside
    the image's lesion and skin mean spectra (``references``: :func:`references_of`), the band
    marked; the CIE 1931 / D65 sRGB rendering of the cube. Returns the figure."""
    cube = np.asarray(sample["cube"], dtype=float)
    wl = list(sample.get("wavelengths_nm", WAVELENGTHS_NM))
    h, w = cube.shape[:2]
    if not (0 <= row < h and 0 <= col < w):
        raise ValueError(f"pixel (row={row}, col={col}) lies outside the {h} x {w} cube of "
                         f"{sample.get('stem', 'this image')}")
    band = nearest_band(wavelength_nm, wl)
    fig, axes = plt.subplots(1, 3, figsize=(12, 3.6), gridspec_kw={"width_ratios": [1, 1.3, 1]})
    im = grey(axes[0], cube[..., band], reflectance_stretch([cube[..., band]]),
              f"{wl[band]:g} nm (band {band + 1} of {len(wl)})")
    fig.colorbar(im, ax=axes[0], shrink=0.8, label="reflectance")
    axes[2].imshow(cube_to_rgb(cube, wl))
    axes[2].set_title("CIE 1931 / D65 sRGB", fontsize=9)
    axes[2].axis("off")
    for ax in (axes[0], axes[2]):
        ax.plot(col, row, marker="+", color="tab:red", markersize=12, mew=2)
    colours = series_colours(REGIONS)
    for region, spectrum in references_of(references, sample.get("stem"), wl).items():
        axes[1].plot(wl, spectrum, color=colours[region], label=f"{region} mean of this image")
    axes[1].plot(wl, cube[row, col], color="black", marker="o", ms=3,
                 label=f"pixel ({row}, {col})")
    axes[1].axvline(wl[band], color="grey", ls=":", lw=1)
    axes[1].set(xlabel="wavelength (nm)", ylabel="reflectance",
                title=f"{sample.get('stem', '')} ({sample.get('class', '?')})")
    axes[1].legend(fontsize=8, ncols=3, **BELOW)
    fig.tight_layout()
    return fig


def cube_explorer(dataset: Any, references: pd.DataFrame | None = None) -> Any:
    """Sliders for the image of ``dataset`` (an :class:`~hsilib.data.hsi_dermoscopy.HSIDermoscopy`
    or any sequence of its samples), the wavelength in nm and the pixel's row and column, over
    :func:`cube_view`; returns the widget (display it as a cell's last line)."""
    import ipywidgets as widgets
    from IPython.display import display

    if len(dataset) == 0:
        raise ValueError("cube_explorer: the data set holds no image")
    h, w = np.asarray(dataset[0]["cube"]).shape[:2]
    wl = list(dataset[0].get("wavelengths_nm", WAVELENGTHS_NM))
    step = int(round((wl[-1] - wl[0]) / max(len(wl) - 1, 1))) or 1
    sliders = {
        "image": widgets.IntSlider(value=0, min=0, max=len(dataset) - 1, description="image"),
        "wavelength_nm": widgets.IntSlider(value=int(wl[0]), min=int(wl[0]), max=int(wl[-1]),
                                           step=step, description="nm"),
        "row": widgets.IntSlider(value=h // 2, min=0, max=h - 1, description="row"),
        "col": widgets.IntSlider(value=w // 2, min=0, max=w - 1, description="column"),
    }

    def show(image: int, wavelength_nm: int, row: int, col: int) -> None:
        sample = dataset[image]
        hh, ww = np.asarray(sample["cube"]).shape[:2]  # images may differ in size
        fig = cube_view(sample, wavelength_nm, min(row, hh - 1), min(col, ww - 1), references)
        display(fig)
        plt.close(fig)

    out = widgets.interactive_output(show, sliders)
    return widgets.VBox([widgets.HBox([sliders["image"], sliders["wavelength_nm"]]),
                         widgets.HBox([sliders["row"], sliders["col"]]), out])
