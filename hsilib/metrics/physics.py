"""Chromophore inversion: what the spectra say about melanin, blood, oxygenation and scattering.

Each pixel's spectrum is fitted with the stand-in's forward model
(:func:`hsilib.standin.optics.skin_reflectance`): first the nearest entry of a precomputed lookup
table (in log-reflectance, where melanin and blood act almost additively, Beer-Lambert-like),
then a few vectorised Levenberg-Marquardt steps in a bounded parameterisation. The fitted maps
give a realism metric in the physician's terms: are the synthetic lesions as pigmented, as
vascular, as oxygenated as the real ones? :func:`chromophore_distance` compares two sets per
parameter with the Wasserstein-1 distance. It works on real cubes too (in reflectance units).

What it can and cannot tell: the model is a one-dimensional diffusion model, so the fit is only
as good as the model for real skin; epidermal melanin and epidermal thickness enter almost only as
their product, so ``f_mel_epi`` is reported *at the reference thickness* ``epi_mm`` (0.1 mm):
``f_mel_epi * epi_mm_true / 0.1``.

Introduced in notebook 03.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from .. import WAVELENGTHS_NM
from .spectral import as_images

#: Fitted parameters with (low, high, scale): "log" parameters are searched in log space.
BOUNDS = {
    "f_mel_epi": (0.002, 0.6, "log"),
    "blood": (0.0005, 0.2, "log"),
    "sat": (0.0, 1.0, "lin"),
    "mus_scale": (0.4, 2.5, "log"),
    "f_mel_derm": (0.0, 0.3, "lin"),
}
#: Lookup-table points per parameter (log-spaced for "log" parameters).
GRID = {"f_mel_epi": 18, "blood": 16, "sat": 6, "mus_scale": 6, "f_mel_derm": 4}
_FLOOR = 1e-4  # reflectance floor before taking logs (dark or noisy pixels)


def _names(fit_dermal_melanin: bool) -> tuple[str, ...]:
    base = ("f_mel_epi", "blood", "sat", "mus_scale")
    return base + ("f_mel_derm",) if fit_dermal_melanin else base


def _to_params(u: np.ndarray, names) -> dict[str, np.ndarray]:
    """Unbounded ``u`` (N x P) -> bounded parameters via a sigmoid (in log space for "log")."""
    out = {}
    for j, name in enumerate(names):
        lo, hi, scale = BOUNDS[name]
        s = 1.0 / (1.0 + np.exp(-np.clip(u[:, j], -30, 30)))
        out[name] = (np.exp(np.log(lo) + (np.log(hi) - np.log(lo)) * s) if scale == "log"
                     else lo + (hi - lo) * s)
    return out


def _to_u(params: dict[str, np.ndarray], names) -> np.ndarray:
    cols = []
    for name in names:
        lo, hi, scale = BOUNDS[name]
        v = np.asarray(params[name], float)
        s = ((np.log(v) - np.log(lo)) / (np.log(hi) - np.log(lo)) if scale == "log"
             else (v - lo) / (hi - lo))
        s = np.clip(s, 1e-4, 1 - 1e-4)
        cols.append(np.log(s / (1 - s)))
    return np.stack(cols, axis=1)


def _log_model(u: np.ndarray, names, wavelengths_nm, epi_mm: float,
               papillary_mm: float) -> np.ndarray:
    from ..standin.optics import skin_reflectance

    p = _to_params(u, names)
    r = skin_reflectance(wavelengths_nm, epi_mm=epi_mm, papillary_mm=papillary_mm, **p)
    return np.log(np.maximum(r, _FLOOR))


def _lookup_table(wavelengths_nm: tuple, names: tuple, epi_mm: float, papillary_mm: float):
    """(u grid K x P, log-reflectance K x B) over the product grid of :data:`GRID`; built per
    :func:`invert_spectra` call (tens of milliseconds), so it always matches the model code."""
    axes = []
    for name in names:
        lo, hi, scale = BOUNDS[name]
        n = GRID[name]
        axes.append(np.geomspace(lo, hi, n) if scale == "log" else np.linspace(lo, hi, n))
    mesh = np.meshgrid(*axes, indexing="ij")
    u = _to_u({n: m.ravel() for n, m in zip(names, mesh, strict=True)}, names)
    return u, _log_model(u, names, np.asarray(wavelengths_nm, float), epi_mm, papillary_mm)


def invert_spectra(spectra, wavelengths_nm=WAVELENGTHS_NM, *, fit_dermal_melanin: bool = False,
                   n_iter: int = 25, n_starts: int = 3, epi_mm: float = 0.1,
                   papillary_mm: float = 0.3, chunk: int = 2048) -> pd.DataFrame:
    """Fit chromophores to reflectance spectra (``N x B``, reflectance units, not normalised).

    Returns one row per spectrum: ``f_mel_epi`` (at ``epi_mm``), ``blood``, ``sat``,
    ``mus_scale`` (and ``f_mel_derm`` with ``fit_dermal_melanin``, below a papillary dermis of
    ``papillary_mm``), and ``residual``, the RMS misfit in log-reflectance (about the relative
    error of the fit). Vectorised over spectra, processed in chunks of ``chunk``; each spectrum
    is refined from its ``n_starts`` nearest lookup-table entries and the best fit kept.
    """
    y = np.asarray(spectra, float)
    wl = tuple(float(w) for w in wavelengths_nm)
    if y.ndim != 2 or y.shape[1] != len(wl):
        raise ValueError(f"spectra must be N x {len(wl)} (one per wavelength), got {y.shape}")
    names = _names(fit_dermal_melanin)
    table = _lookup_table(wl, names, epi_mm, papillary_mm)
    rows = [_fit_chunk(np.log(np.maximum(y[i:i + chunk], _FLOOR)), names, wl, epi_mm,
                       papillary_mm, n_iter, n_starts, table) for i in range(0, len(y), chunk)]
    if not rows:
        return pd.DataFrame(columns=[*names, "residual"])
    return pd.concat(rows, ignore_index=True)


def _fit_chunk(log_y, names, wl, epi_mm, papillary_mm, n_iter, n_starts,
               lookup) -> pd.DataFrame:
    # 1. nearest lookup-table entry: |a - b|^2 = |a|^2 + |b|^2 - 2 a.b
    u_grid, table = lookup
    d2 = (table**2).sum(1)[None, :] - 2.0 * log_y @ table.T
    # several starts (the best distinct table entries) guard against the local minima of the
    # melanin / blood / scattering trade-offs; the best fit of each spectrum wins
    n, starts = len(log_y), min(n_starts, len(u_grid))
    best = np.argpartition(d2, starts - 1, axis=1)[:, :starts]
    u = u_grid[best.T.ravel()]
    log_y = np.tile(log_y, (starts, 1))
    # 2. Levenberg-Marquardt in u, one damping factor per spectrum, finite-difference Jacobian
    model = (lambda v: _log_model(v, names, np.asarray(wl), epi_mm, papillary_mm))  # noqa: E731
    res = model(u) - log_y
    cost = (res**2).sum(1)
    lam = np.full(len(u), 1e-2)
    h = 1e-4
    eye = np.eye(u.shape[1])
    for _ in range(n_iter):
        jac = np.stack([(model(u + h * eye[j]) - res - log_y) / h for j in range(u.shape[1])],
                       axis=2)  # N x B x P
        jtj = np.einsum("nbp,nbq->npq", jac, jac)
        jtr = np.einsum("nbp,nb->np", jac, res)
        a = jtj + (lam[:, None, None] + 1e-9) * (eye * np.diagonal(jtj, axis1=1, axis2=2)[:, None]
                                                 + 1e-6 * eye)
        step = np.linalg.solve(a, -jtr[..., None])[..., 0]
        u_new = u + step
        res_new = model(u_new) - log_y
        cost_new = (res_new**2).sum(1)
        better = cost_new < cost
        u[better], res[better], cost[better] = u_new[better], res_new[better], cost_new[better]
        lam = np.where(better, lam / 3, lam * 4)
    pick = cost.reshape(starts, n).argmin(0) * n + np.arange(n)
    out = pd.DataFrame(_to_params(u[pick], names))
    out["residual"] = np.sqrt(cost[pick] / log_y.shape[1])
    return out


def sample_spectra(images, *, masks=None, region: str = "all", n_pixels: int = 5000,
                   seed: int = 0, channels_last: bool = False) -> np.ndarray:
    """Up to ``n_pixels`` spectra (``n x B``) drawn with ``seed`` from a set of images
    (``N x B x H x W``, or ``N x H x W x B`` cubes with ``channels_last``), from the lesion
    (mask 1), the skin (mask 0) or ``all`` pixels."""
    x = np.asarray(images, np.float32)
    if x.ndim == 3:
        x = x[None]
    if not channels_last:
        x = np.moveaxis(as_images(x).numpy(), 1, -1)
    spectra = x.reshape(-1, x.shape[-1])
    if region != "all":
        if masks is None:
            raise ValueError(f"region={region!r} needs masks")
        m = np.asarray(masks).reshape(-1) > 0.5
        if m.size != len(spectra):
            raise ValueError(f"masks hold {m.size} pixels, images {len(spectra)}")
        spectra = spectra[m if region == "lesion" else ~m]
    spectra = spectra[spectra.sum(1) > 0]  # outside the dermoscope's field
    rng = np.random.default_rng(seed)
    if len(spectra) > n_pixels:
        spectra = spectra[rng.choice(len(spectra), n_pixels, replace=False)]
    return spectra


def chromophore_distance(a: pd.DataFrame, b: pd.DataFrame) -> pd.DataFrame:
    """Wasserstein-1 distance between two sets' fitted parameters, one row per parameter
    (log10 scale for melanin, blood and scattering, which span decades), with both medians."""
    from scipy.stats import wasserstein_distance

    rows = []
    for name in [c for c in a.columns if c in BOUNDS and c in b.columns]:
        log = BOUNDS[name][2] == "log"
        va, vb = (np.log10(v[name].to_numpy()) if log else v[name].to_numpy() for v in (a, b))
        rows.append({"parameter": name, "scale": "log10" if log else "linear",
                     "wasserstein": float(wasserstein_distance(va, vb)),
                     "median_a": float(a[name].median()), "median_b": float(b[name].median()),
                     "n_a": len(a), "n_b": len(b)})
    return pd.DataFrame(rows)
