"""Interactive explorers for the notebooks: sliders over a cube or a latent space, drawn by pure
functions.

Every explorer is two layers: a pure function that returns the figure for given slider values,
which the tests call headlessly, and a thin ipywidgets wrapper that redraws it when a control
moves. Three explorers:

- :func:`cube_view` / :func:`cube_explorer`: a cube's bands, a pixel's spectrum and the CIE
  rendering (notebook 01, section 5)::

    spectra = explore.region_spectra(ds, run.crops / "masks")   # lesion and skin references
    cube_explorer(ds, spectra)          # image, wavelength (nm), pixel row and column sliders
    fig = cube_view(ds[0], 542, row=40, col=60, references=spectra)   # the same, one frame

- :func:`sefa_view` / :func:`sefa_explorer`: one latent of a StyleGAN2 generator moved along a
  SeFa direction by a number of standard deviations of w (notebook 03, section 17)::

    directions, eigvals = sg2_edit.sefa_directions(G, k=3)
    sefa_explorer(G, directions, eigenvalues=eigvals, to_reflectance=study.to_reflectance)
    fig = sefa_view(G, directions, direction=0, strength=2.0, seed=0)

- :func:`vae_interpolation_view` / :func:`vae_explorer`: the decoded image at ``t`` on the
  straight path between the posterior means of two crops (notebook 05, section 8)::

    vae_explorer(objective, val_crops, to_reflectance=study.to_reflectance)
    fig = vae_interpolation_view(objective, val_crops[0], val_crops[-1], t=0.5)
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import torch

from . import WAVELENGTHS_NM
from .metrics.distribution import lesion_masks
from .models import stylegan2_edit as sg2_edit
from .plotting.style import BELOW, grey, reflectance_stretch, series_colours
from .standin.rendering import cube_to_rgb

#: The reference spectra drawn beside a pixel's: an image's own lesion and skin means.
REGIONS = ("lesion", "skin")
#: Generated images in [-1, 1] -> reflectance (a study's ``to_reflectance``); None: ``(x + 1) / 2``.
ToReflectance = Callable[[torch.Tensor], torch.Tensor] | None


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


# --------------------------------------------------------------------------------------------
# Latent explorers: shared pieces
# --------------------------------------------------------------------------------------------
def _finite(name: str, value: Any) -> float:
    """``value`` as a float, or a ValueError naming parameter ``name`` when it is not a finite
    number (a slider's value typed by hand, a NaN from an empty table)."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        number = math.nan
    if isinstance(value, bool) or not math.isfinite(number):
        raise ValueError(f"{name} must be a finite number, got {value!r}")
    return number


def _reflectance(images: torch.Tensor, to_reflectance: ToReflectance) -> torch.Tensor:
    """Generated images (N x B x H x W in [-1, 1]) clamped to [-1, 1], as notebooks 03 and 05
    do before rendering, then mapped to reflectance (without ``to_reflectance``: to [0, 1])."""
    x = images.detach().float().cpu().clamp(-1, 1)
    return (x + 1) / 2 if to_reflectance is None else to_reflectance(x).float()


def _rgb(image: torch.Tensor, wavelengths_nm: Sequence[float]) -> np.ndarray:
    """The CIE 1931 / D65 sRGB rendering (H x W x 3 in [0, 1]) of one image B x H x W."""
    return np.clip(cube_to_rgb(image.permute(1, 2, 0).numpy(), list(wavelengths_nm)), 0, 1)


def lesion_mean_spectrum(image: torch.Tensor) -> tuple[np.ndarray, bool]:
    """Mean spectrum of the lesion pixels of one reflectance image (B x H x W), the lesion found
    by the rule the metrics use for every generated set (Otsu's threshold of the band mean,
    :func:`hsilib.metrics.distribution.lesion_masks`), and whether a lesion was found; without
    one (a flat image) the whole image's mean spectrum."""
    mask = lesion_masks(image[None])[0]
    pixels = image[:, mask] if mask.any() else image.flatten(1)
    return pixels.mean(1).numpy(), bool(mask.any())


def _spectrum_axes(ax: Any, spectra: Mapping[str, np.ndarray],
                   wavelengths_nm: Sequence[float], title: str, reflectance: bool) -> None:
    """Named spectra on one axes, one colour each, the legend below it."""
    colours = series_colours(spectra)
    for name, spectrum in spectra.items():
        ax.plot(wavelengths_nm, spectrum, color=colours[name], marker="o", ms=3, label=name)
    ax.set(xlabel="wavelength (nm)", ylabel="reflectance" if reflectance else "(x + 1) / 2",
           title=title)
    ax.legend(fontsize=8, ncols=2, **BELOW)


def _image_axes(ax: Any, image: torch.Tensor, wavelengths_nm: Sequence[float],
                title: str) -> None:
    ax.imshow(_rgb(image, wavelengths_nm))
    ax.set_title(title, fontsize=9)
    ax.axis("off")


# --------------------------------------------------------------------------------------------
# SeFa directions of a StyleGAN2 generator
# --------------------------------------------------------------------------------------------
@torch.no_grad()
def seeded_latent(G: Any, seed: int) -> torch.Tensor:
    """The ``w`` (w_dim, CPU) that generator ``G`` maps ``z ~ N(0, I)`` drawn with ``seed`` to.
    With ``z_dim >= 16`` (every profile's generator) this is the first latent that
    :func:`hsilib.study.generators.latent.traversals` moves for the same seed, so the explorer
    starts where notebook 03's traversal figure does (torch draws fewer than 16 normal values
    by another route, so a smaller ``z`` would differ)."""
    z = torch.randn(1, G.z_dim, generator=torch.Generator().manual_seed(int(seed)))
    p = next(G.parameters())
    return G.mapping(z.to(p.device, p.dtype))[0].float().cpu()


@torch.no_grad()
def sefa_edit(G: Any, directions: torch.Tensor, *, direction: int, strength: float,
              sd: torch.Tensor | None = None, seed: int = 0, w: torch.Tensor | None = None
              ) -> dict[str, torch.Tensor]:
    """One latent moved along SeFa direction ``direction`` (a row index of ``directions``,
    k x w_dim unit vectors of :func:`hsilib.models.stylegan2_edit.sefa_directions`) by
    ``strength`` standard deviations of w along it: ``w + strength * sd[direction] * d``, on
    every layer, as notebook 03's traversals move it.

    ``sd``: the spread of w along each direction (:func:`~hsilib.models.stylegan2_edit.
    w_spread`; computed here when None). The latent is ``w`` (w_dim, or n_ws x w_dim for W+,
    e.g. an inverted crop) when given, else :func:`seeded_latent` of ``seed``. Returns ``w``,
    ``w_edited`` and the two images ``base`` and ``edited`` (B x S x S in the generator's
    [-1, 1] range, CPU), drawn in one batch with the noise inputs off, so only the move
    changes the image and strength 0 gives the base image exactly."""
    directions = torch.as_tensor(directions).detach().float().cpu()
    if directions.dim() != 2 or directions.shape[1] != G.w_dim:
        raise ValueError(f"directions must be k x {G.w_dim} (the generator's w_dim), got "
                         f"{tuple(directions.shape)}")
    k = len(directions)
    if isinstance(direction, bool) or not isinstance(direction, int | np.integer) \
            or not 0 <= direction < k:
        raise ValueError(f"direction must be an index from 0 to {k - 1} ({k} directions), "
                         f"got {direction!r}")
    strength = _finite("strength", strength)
    sd = (sg2_edit.w_spread(G, directions) if sd is None
          else torch.as_tensor(sd).detach().float().cpu().flatten())
    if sd.shape != (k,):
        raise ValueError(f"sd must hold one spread per direction ({k}), got {tuple(sd.shape)}")
    base = seeded_latent(G, seed) if w is None else torch.as_tensor(w).detach().float().cpu()
    if base.shape not in ((G.w_dim,), (G.n_ws, G.w_dim)):
        raise ValueError(f"w must be one latent of {G.w_dim} values (or {G.n_ws} x {G.w_dim} "
                         f"in W+), got {tuple(base.shape)}")
    edited = base + strength * float(sd[int(direction)]) * directions[int(direction)]
    ws = torch.stack([base, edited])
    ws = ws[:, None].repeat(1, G.n_ws, 1) if ws.dim() == 2 else ws
    p = next(G.parameters())
    images = G.synthesis(ws.to(p.device, p.dtype), noise="none").float().cpu()
    return {"w": base, "w_edited": edited, "base": images[0], "edited": images[1]}


def sefa_view(G: Any, directions: torch.Tensor, *, direction: int, strength: float,
              sd: torch.Tensor | None = None, seed: int = 0, w: torch.Tensor | None = None,
              eigenvalues: torch.Tensor | None = None, to_reflectance: ToReflectance = None,
              wavelengths_nm: Sequence[float] = WAVELENGTHS_NM, latent_name: str | None = None
              ) -> Any:
    """One frame of the SeFa explorer (:func:`sefa_edit`'s arguments): the base and the edited
    image in the CIE 1931 / D65 sRGB rendering of their reflectance (``to_reflectance``, e.g.
    a study's, after clamping to [-1, 1]), the change of the band-mean reflectance (where the
    edit acts), and the lesion mean spectrum before and after (:func:`lesion_mean_spectrum`).
    ``eigenvalues`` (SeFa's, one per direction) and ``latent_name`` (default "seed <seed>" or
    "given latent") only label the figure. Directions are counted from 1 in the titles, as in
    notebook 03. Returns the figure."""
    e = sefa_edit(G, directions, direction=direction, strength=strength, sd=sd, seed=seed, w=w)
    refl = _reflectance(torch.stack([e["base"], e["edited"]]), to_reflectance)
    name = f"direction {int(direction) + 1}"
    if eigenvalues is not None:
        name += f" (eigenvalue {float(eigenvalues[int(direction)]):.2f})"
    latent_name = latent_name or ("given latent" if w is not None else f"seed {seed}")
    fig, axes = plt.subplots(1, 4, figsize=(14, 3.8),
                             gridspec_kw={"width_ratios": [1, 1, 1.2, 1.5]})
    _image_axes(axes[0], refl[0], wavelengths_nm, f"base, {latent_name}\nCIE 1931 / D65 sRGB")
    _image_axes(axes[1], refl[1], wavelengths_nm,
                f"{float(strength):+.2f} sd along {name}\nCIE 1931 / D65 sRGB")
    change = (refl[1] - refl[0]).mean(0).numpy()
    lim = float(np.abs(change).max()) or 1e-3
    im = axes[2].imshow(change, cmap="RdBu_r", vmin=-lim, vmax=lim)
    axes[2].set_title("edited minus base", fontsize=9)
    axes[2].axis("off")
    fig.colorbar(im, ax=axes[2], shrink=0.8, label="change of band-mean reflectance")
    spectra = {}
    for label, image in (("base", refl[0]), ("edited", refl[1])):
        spectrum, found = lesion_mean_spectrum(image)
        spectra[f"{label}: lesion mean" if found else f"{label}: image mean (no lesion)"] = \
            spectrum
    _spectrum_axes(axes[3], spectra, wavelengths_nm, "lesion mean spectrum",
                   to_reflectance is not None)
    fig.tight_layout()
    return fig


def sefa_explorer(G: Any, directions: torch.Tensor, *, sd: torch.Tensor | None = None,
                  eigenvalues: torch.Tensor | None = None, to_reflectance: ToReflectance = None,
                  max_strength: float = 3.0, n_seeds: int = 100, ws: torch.Tensor | None = None,
                  wavelengths_nm: Sequence[float] = WAVELENGTHS_NM) -> Any:
    """A direction dropdown, a strength slider (standard deviations of w along the direction,
    from ``-max_strength`` to ``+max_strength``) and a latent slider over :func:`sefa_view`:
    seeds ``0 .. n_seeds - 1``, or the rows of ``ws`` (N x w_dim, or N x n_ws x w_dim in W+;
    e.g. inverted crops) when given. ``sd`` is computed once here when None. The sliders
    redraw when released (a 256-pixel generator takes a moment per image); returns the
    widget."""
    import ipywidgets as widgets
    from IPython.display import display

    directions = torch.as_tensor(directions).detach().float().cpu()
    if len(directions) == 0:
        raise ValueError("sefa_explorer: directions holds no direction")
    max_strength = _finite("max_strength", max_strength)
    if max_strength <= 0:
        raise ValueError(f"max_strength must be positive, got {max_strength}")
    sd = sg2_edit.w_spread(G, directions) if sd is None else sd
    ws = None if ws is None else torch.as_tensor(ws).detach().float().cpu()
    n = int(n_seeds) if ws is None else len(ws)
    if n < 1:
        raise ValueError(f"sefa_explorer: no latent to show (n_seeds={n_seeds}, ws of {n})")
    labels = [f"direction {k + 1}" + ("" if eigenvalues is None else
                                      f" (eigenvalue {float(eigenvalues[k]):.2f})")
              for k in range(len(directions))]
    controls = {
        "direction": widgets.Dropdown(options=list(zip(labels, range(len(labels)),
                                                       strict=True)),
                                      value=0, description="direction"),
        "strength": widgets.FloatSlider(value=0.0, min=-max_strength, max=max_strength,
                                        step=max_strength / 12, description="sd of w",
                                        continuous_update=False),
        "latent": widgets.IntSlider(value=0, min=0, max=n - 1, continuous_update=False,
                                    description="seed" if ws is None else "latent"),
    }

    def show(direction: int, strength: float, latent: int) -> None:
        where = ({"seed": latent} if ws is None
                 else {"w": ws[latent], "latent_name": f"latent {latent}"})
        fig = sefa_view(G, directions, direction=direction, strength=strength, sd=sd,
                        eigenvalues=eigenvalues, to_reflectance=to_reflectance,
                        wavelengths_nm=wavelengths_nm, **where)
        display(fig)
        plt.close(fig)

    out = widgets.interactive_output(show, controls)
    return widgets.VBox([widgets.HBox([controls["direction"], controls["latent"]]),
                         controls["strength"], out])


# --------------------------------------------------------------------------------------------
# A VAE's latent path between two crops
# --------------------------------------------------------------------------------------------
def _crop(name: str, crop: Any, objective: Any) -> torch.Tensor:
    """One crop (n_bands x S x S) as the VAE of ``objective`` reads it, or a ValueError
    naming parameter ``name``."""
    x = torch.as_tensor(crop).detach().float().cpu()
    want = (objective.cfg.n_bands, objective.cfg.image_size, objective.cfg.image_size)
    if tuple(x.shape) != want:
        raise ValueError(f"{name} must be one crop of {want[0]} x {want[1]} x {want[2]} "
                         f"(bands x side x side, in [-1, 1]), got {tuple(x.shape)}")
    return x


def vae_path(objective: Any, a: Any, b: Any, *, t: float, cls: str | None = None
             ) -> dict[str, torch.Tensor]:
    """The point ``z_t = (1 - t) mu_a + t mu_b`` on the straight path between the posterior
    means of crops ``a`` and ``b`` (n_bands x S x S in [-1, 1]) under the VAE ``objective``
    (:class:`hsilib.models.vae.VAEObjective`; ``cls`` for a class-conditional one), decoded
    beside both ends, as notebook 05's interpolation does. Returns ``mu`` (2 x latent_dim),
    ``z`` and ``images`` (3 x B x S x S, [-1, 1], CPU): end ``a``, ``z_t``, end ``b``, decoded
    in one batch, so ``t = 0`` and ``t = 1`` give the ends' reconstructions exactly."""
    t = _finite("t", t)
    if not 0 <= t <= 1:
        raise ValueError(f"t must lie in [0, 1] (0: crop a, 1: crop b), got {t}")
    pair = torch.stack([_crop("a", a, objective), _crop("b", b, objective)])
    mu = objective.reconstruct(pair, cls=cls, batch_size=2)[1]
    z = (1 - t) * mu[0] + t * mu[1]
    return {"mu": mu, "z": z, "images": objective.decode(torch.stack([mu[0], z, mu[1]]),
                                                         cls=cls)}


def vae_interpolation_view(objective: Any, a: Any, b: Any, *, t: float, cls: str | None = None,
                           to_reflectance: ToReflectance = None,
                           names: tuple[str, str] = ("crop a", "crop b"),
                           wavelengths_nm: Sequence[float] = WAVELENGTHS_NM) -> Any:
    """One frame of the VAE explorer (:func:`vae_path`'s arguments): the decoded image at
    ``t`` between the decoded ends (CIE 1931 / D65 sRGB of their reflectance, through
    ``to_reflectance``), and the mean spectra of the three decoded images beside those of the
    two real crops (a reconstruction's gap to its crop is visible there). ``names`` label
    the two crops (e.g. their ids). Returns the figure."""
    path = vae_path(objective, a, b, t=t, cls=cls)
    refl = _reflectance(path["images"], to_reflectance)
    real = _reflectance(torch.stack([_crop("a", a, objective), _crop("b", b, objective)]),
                        to_reflectance)
    t = float(t)
    fig, axes = plt.subplots(1, 4, figsize=(14, 3.8),
                             gridspec_kw={"width_ratios": [1, 1, 1, 1.6]})
    titles = (f"{names[0]}, decoded (t = 0)", f"decoded at t = {t:.2f}",
              f"{names[1]}, decoded (t = 1)")
    for ax, image, title in zip(axes[:3], refl, titles, strict=True):
        _image_axes(ax, image, wavelengths_nm, f"{title}\nCIE 1931 / D65 sRGB")
    spectra = {f"real {names[0]}": real[0].mean((1, 2)).numpy(),
               f"real {names[1]}": real[1].mean((1, 2)).numpy(),
               titles[0]: refl[0].mean((1, 2)).numpy(),
               titles[1]: refl[1].mean((1, 2)).numpy(),
               titles[2]: refl[2].mean((1, 2)).numpy()}
    _spectrum_axes(axes[3], spectra, wavelengths_nm, "mean spectrum of each image",
                   to_reflectance is not None)
    fig.tight_layout()
    return fig


def vae_explorer(objective: Any, crops: Any, *, cls: str | None = None,
                 ids: Sequence[str] | None = None, to_reflectance: ToReflectance = None,
                 wavelengths_nm: Sequence[float] = WAVELENGTHS_NM) -> Any:
    """Two crop dropdowns (the pair, by ``ids`` when given, else by index; first and last
    crop to start with, as in notebook 05) and a ``t`` slider over
    :func:`vae_interpolation_view`, for crops N x n_bands x S x S in [-1, 1] (e.g. a class's
    validation crops); returns the widget."""
    import ipywidgets as widgets
    from IPython.display import display

    n = len(crops)
    if n == 0:
        raise ValueError("vae_explorer: crops holds no crop")
    names = [f"crop {i}" for i in range(n)] if ids is None else [str(i) for i in ids]
    if len(names) != n:
        raise ValueError(f"ids must name every crop: {len(names)} ids for {n} crops")
    options = list(zip(names, range(n), strict=True))
    controls = {
        "a": widgets.Dropdown(options=options, value=0, description="crop a"),
        "b": widgets.Dropdown(options=options, value=n - 1, description="crop b"),
        "t": widgets.FloatSlider(value=0.5, min=0.0, max=1.0, step=0.05, description="t",
                                 continuous_update=False),
    }

    def show(a: int, b: int, t: float) -> None:
        fig = vae_interpolation_view(objective, crops[a], crops[b], t=t, cls=cls,
                                     to_reflectance=to_reflectance,
                                     names=(names[a], names[b]), wavelengths_nm=wavelengths_nm)
        display(fig)
        plt.close(fig)

    out = widgets.interactive_output(show, controls)
    return widgets.VBox([widgets.HBox([controls["a"], controls["b"]]), controls["t"], out])
