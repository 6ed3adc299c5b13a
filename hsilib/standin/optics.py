"""Skin optics: absorbers, scattering and a fast diffusion reflectance model.

The physics, its sources and the sanity table it is checked against are documented in
``docs/skin_optics.md``:

* absorbers (mu_a in cm^-1): whole-blood oxy/deoxy hemoglobin from Prahl's extinction table,
  eumelanin ``519 (lambda/500)^-3`` and the bloodless baseline (Jacques 1998, 2013);
* reduced scattering as a power law ``46 (lambda/500)^-1.421`` (Jacques 2013, Table 2);
* diffuse reflectance of a semi-infinite dermis from diffusion theory under broad-beam
  illumination, integrated over the surface (Farrell, Patterson & Wilson 1992, Med Phys
  19:879), the epidermis as an absorbing filter crossed twice, and a two-layer dermis
  (papillary dermis of thickness d over a dermis holding dermal melanin; the layered planar
  solution of Svaasand et al. 1995, Lasers Med Sci 10:55 and Bjorgan, Milanic & Randeberg 2014,
  JBO 19:066003, carried over to Farrell's form) that reduces exactly to the one-layer model
  when both layers are equal.

:func:`skin_reflectance` is the vectorised entry point used by the stand-in generator
(:mod:`hsilib.standin.imaging`) and by the chromophore inversion of the metrics.
"""

from __future__ import annotations

from functools import lru_cache
from importlib import resources

import numpy as np

#: Whole blood: 150 g/L hemoglobin, 64 500 g/mol; mu_a = ln(10) * eps * c.
BLOOD_HB_FACTOR = 2.303 * 150.0 / 64500.0
#: Refractive index of the dermis.
N_DERMIS = 1.4
#: Power-law reduced scattering of skin, mu_s' = a (lambda/500)^-b (Jacques 2013, Table 2).
MUSP_A, MUSP_B = 46.0, 1.421
#: Eumelanin mu_a at 500 nm and its spectral exponent (Jacques 2013, eqs. 8-9).
MEL_A, MEL_M = 519.0, 3.0


# --------------------------------------------------------------------------------------------
# Absorbers and scattering (all in cm^-1; wavelengths in nm)
# --------------------------------------------------------------------------------------------
@lru_cache(maxsize=1)
def _prahl_table() -> np.ndarray:
    """Prahl's molar extinction of HbO2 and Hb (cm^-1/M), 380-720 nm in 2 nm steps, as (n, 3)."""
    name = "resources/hemoglobin_extinction_prahl.csv"
    text = resources.files("hsilib.standin").joinpath(name)
    with text.open("r") as fh:
        table = np.loadtxt(fh, delimiter=",", comments="#", skiprows=3)
    table.setflags(write=False)  # a cached constant: no caller may change it
    return table


def _as_wavelengths(wavelengths_nm) -> np.ndarray:
    wl = np.asarray(wavelengths_nm, dtype=np.float64)
    if wl.ndim != 1 or wl.size == 0:
        raise ValueError(f"wavelengths_nm must be a non-empty 1-D array, got shape {wl.shape}")
    table = _prahl_table()
    lo, hi = table[0, 0], table[-1, 0]
    if wl.min() < lo or wl.max() > hi:
        raise ValueError(f"wavelengths_nm must lie within {lo:.0f}-{hi:.0f} nm (Prahl table), "
                         f"got {wl.min():.1f}-{wl.max():.1f}")
    return wl


def mua_blood(wavelengths_nm) -> tuple[np.ndarray, np.ndarray]:
    """mu_a of fully oxygenated and fully deoxygenated whole blood (cm^-1), linear in the table."""
    wl = _as_wavelengths(wavelengths_nm)
    table = _prahl_table()
    oxy = np.interp(wl, table[:, 0], table[:, 1]) * BLOOD_HB_FACTOR
    deoxy = np.interp(wl, table[:, 0], table[:, 2]) * BLOOD_HB_FACTOR
    return oxy, deoxy


def mua_melanin(wavelengths_nm, m: float = MEL_M) -> np.ndarray:
    """mu_a of the melanosome interior (eumelanin), 519 (lambda/500)^-m (Jacques 2013)."""
    wl = _as_wavelengths(wavelengths_nm)
    return MEL_A * (wl / 500.0) ** (-m)


def mua_baseline(wavelengths_nm) -> np.ndarray:
    """mu_a of bloodless tissue, 0.244 + 85.3 exp(-(lambda - 154)/66.2) (Jacques 1998)."""
    wl = _as_wavelengths(wavelengths_nm)
    return 0.244 + 85.3 * np.exp(-(wl - 154.0) / 66.2)


def musp_skin(wavelengths_nm, a: float = MUSP_A, b: float = MUSP_B) -> np.ndarray:
    """Reduced scattering mu_s' = a (lambda/500)^-b of skin (Jacques 2013, Table 2)."""
    wl = _as_wavelengths(wavelengths_nm)
    return a * (wl / 500.0) ** (-b)


def vessel_packaging(mua_bl, radius_cm):
    """Packaging factor C = (1 - exp(-2 mu_a R)) / (2 mu_a R) for blood confined to vessels of
    radius R (cm); C -> 1 for small vessels, and it flattens the 542/576 nm dips for large ones."""
    x = 2.0 * np.asarray(mua_bl) * radius_cm
    safe = np.maximum(x, 1e-12)
    return np.where(x > 1e-6, -np.expm1(-safe) / safe, 1.0 - x / 2.0)


# --------------------------------------------------------------------------------------------
# Diffusion reflectance
# --------------------------------------------------------------------------------------------
def r_eff(n: float = N_DERMIS) -> float:
    """Effective internal reflection of a tissue/air boundary (Groenhuis polynomial fit)."""
    return -1.440 / n**2 + 0.710 / n + 0.668 + 0.0636 * n


def _boundary_a(n: float) -> float:
    """Cuccia's A = (1 - R_eff) / (2 (1 + R_eff)); reflectance = A * fluence at the surface."""
    reff = r_eff(n)
    return (1.0 - reff) / (2.0 * (1.0 + reff))


def _s_and_albedo(mua, musp):
    """``s = sqrt(3 (1 - a'))`` and the albedo ``a' = mu_s'/(mu_a + mu_s')``."""
    mua, musp = np.asarray(mua), np.asarray(musp)
    albedo = musp / (mua + musp)
    return np.sqrt(3.0 * (1.0 - albedo)), albedo


def reflectance_one_layer(mua, musp, n: float = N_DERMIS):
    """Diffuse reflectance of a semi-infinite turbid medium under broad-beam illumination.

    Farrell, Patterson & Wilson 1992 (Med Phys 19:879), integrated over the surface:
    ``R = (a'/2) exp(-s) (1 + exp(-(4/3) A s))`` with albedo ``a' = mu_s'/(mu_a + mu_s')``,
    ``s = sqrt(3 (1 - a'))`` and ``A = (1 + R_eff)/(1 - R_eff)``. Arrays broadcast; the result
    keeps a float32 input's dtype.
    """
    s, albedo = _s_and_albedo(mua, musp)
    reff = r_eff(n)
    big_a = (1.0 + reff) / (1.0 - reff)
    return 0.5 * albedo * np.exp(-s) * (1.0 + np.exp(-(4.0 / 3.0) * big_a * s))


def _reflectance_planar(mua, musp, n: float = N_DERMIS):
    """Planar diffusion solution at spatial frequency 0 (Cuccia et al. 2009, JBO 14:024012):
    ``R = 3 A' a' / ((s + 1)(s + 3 A'))``, ``A' = (1 - R_eff)/(2 (1 + R_eff))``. Within 0.01 of
    :func:`reflectance_one_layer` on skin; used to scale the layered planar solution."""
    s, albedo = _s_and_albedo(mua, musp)
    a3 = 3.0 * _boundary_a(n)
    return a3 * albedo / ((s + 1.0) * (s + a3))


def _off_resonance(mua, musp, rel: float = 1e-5):
    gap = musp - 2.0 * mua
    tiny = rel * (mua + musp)
    near = np.abs(gap) < tiny
    if not np.any(near):
        return mua
    moved = (musp - np.where(gap < 0, -tiny, tiny)) / 2.0
    return np.where(near, moved, mua)


def _reflectance_two_layer_planar(mua1, musp1, mua2, musp2, thickness_cm, n: float = N_DERMIS):
    """Diffuse reflectance of a layer of thickness d (cm) over a semi-infinite second layer.

    The 1-D diffusion equation ``D_i phi'' - mu_a,i phi = -q_i`` is solved per layer with the
    collimated source ``q = mu_s' exp(-mu_tr z)`` (continued with the lower layer's attenuation
    below d), the partial-current boundary ``phi(0) = 2 A_F D phi'(0)`` at the surface and
    continuity of fluence and flux at z = d (the layered planar model of Svaasand et al. 1995;
    Bjorgan et al. 2014). The homogeneous parts use exp(-mu_eff z) and exp(mu_eff (z - d)) so
    every exponential is <= 1. With equal layers the upward-growing term vanishes and the result
    is :func:`_reflectance_planar` (to rounding). Arrays broadcast; solved in float64.
    """
    # Solved in float64: the 2 x 2 elimination loses ~1e-5 in float32.
    mua1, musp1, mua2, musp2, d = (np.asarray(x, dtype=np.float64)
                                   for x in (mua1, musp1, mua2, musp2, thickness_cm))
    reff = r_eff(n)
    k = 2.0 * (1.0 + reff) / (1.0 - reff) / 3.0  # z_b = k / mu_tr, the extrapolation length

    # At mu_s' = 2 mu_a (mu_eff = mu_tr) the particular and homogeneous solutions diverge and
    # cancel; R itself is smooth there. Such a layer is evaluated at mu_a moved by 5e-6 mu_tr
    # (R changes by ~1e-6), far enough for float64 to resolve the cancellation (~1e-10).
    mua1, mua2 = _off_resonance(mua1, musp1), _off_resonance(mua2, musp2)
    mutr1, mutr2 = mua1 + musp1, mua2 + musp2
    d1, d2 = 1.0 / (3.0 * mutr1), 1.0 / (3.0 * mutr2)
    mueff1, mueff2 = np.sqrt(mua1 / d1), np.sqrt(mua2 / d2)
    # Particular solutions of phi'' - mu_eff^2 phi = -q/D for q = mu_s' exp(-mu_tr z).
    c1 = -3.0 * musp1 / (musp1 - 2.0 * mua1)  # = -3 mu_tr mu_s' / (mu_tr^2 - mu_eff^2)
    c2 = -3.0 * musp2 / (musp2 - 2.0 * mua2)
    e_tr = np.exp(-mutr1 * d)  # collimated light left at the interface
    e_1 = np.exp(-mueff1 * d)
    # Unknowns: b (exp(-mu1 z)), u (exp(mu1 (z - d))) in layer 1; w (exp(-mu2 (z - d))) below.
    # Surface: phi(0) - k/mu_tr1 phi'(0) = 0.
    #   c1 (1 + k) + b (1 + k mu1/mutr1) + u e_1 (1 - k mu1/mutr1) = 0
    # Interface fluence: c1 e_tr + b e_1 + u = c2 e_tr + w
    # Interface flux:   D1 (-mutr1 c1 e_tr - mu1 b e_1 + mu1 u) = D2 (-mutr2 c2 e_tr - mu2 w)
    p = 1.0 + k * mueff1 / mutr1
    q = (1.0 - k * mueff1 / mutr1) * e_1
    r0 = -c1 * (1.0 + k)
    # From the interface: w = c1 e_tr + b e_1 + u - c2 e_tr; insert into the flux condition.
    g1, g2 = d1 * mueff1, d2 * mueff2
    # flux: -d1 mutr1 c1 e_tr - g1 b e_1 + g1 u = -d2 mutr2 c2 e_tr - g2 (c1 e_tr + b e_1 + u
    #        - c2 e_tr)
    # => b e_1 (g2 - g1) + u (g1 + g2) = e_tr (d1 mutr1 c1 - d2 mutr2 c2 - g2 c1 + g2 c2)
    rhs2 = e_tr * (d1 * mutr1 * c1 - d2 * mutr2 * c2 - g2 * c1 + g2 * c2)
    a21, a22 = e_1 * (g2 - g1), g1 + g2
    det = p * a22 - q * a21
    b = (r0 * a22 - q * rhs2) / det
    u = (p * rhs2 - a21 * r0) / det
    phi0 = c1 + b + u * e_1
    return _boundary_a(n) * phi0


def reflectance_two_layer(mua1, musp1, mua2, musp2, thickness_cm, n: float = N_DERMIS):
    """Diffuse reflectance of a layer of thickness d (cm) over a semi-infinite second layer.

    The layered planar diffusion solution (Svaasand et al. 1995, Lasers Med Sci 10:55; Bjorgan,
    Milanic & Randeberg 2014, JBO 19:066003; see :func:`_reflectance_two_layer_planar`) gives
    the reflectance of the layered medium. The one-layer model of this project is Farrell's
    integrated form, which differs from the planar form by about 0.01; to join the two without a
    step, the layered solution is scaled by the top layer's Farrell/planar ratio raised to a
    weight that fades with the contrast of the lower layer as seen through the top one::

        R = R_planar,2 * (R_Farrell(top) / R_planar(top)) ** g,
        g = exp(-c),  c = |mu_eff,2 - mu_eff,1| / mu_eff,1 * exp(-mu_eff,1 d),
        mu_eff = sqrt(3 mu_a (mu_a + mu_s'))   (the diffuse light's attenuation)

    Equal layers (c = 0) and a lower layer deeper than the light reaches give
    :func:`reflectance_one_layer` exactly, and a small dermal absorber changes the reflectance
    continuously; a strongly absorbing lower layer close to the surface (dermal melanin under
    0.3 mm: c about 1.3 at 542 nm) tends to the layered planar solution, whose dependence on
    the depth of the lower layer it keeps. Arrays broadcast; the result keeps a float32
    input's dtype.
    """
    args = [np.asarray(x) for x in (mua1, musp1, mua2, musp2, thickness_cm)]
    out_dtype = np.result_type(*args)
    wide = [x.astype(np.float64, copy=False) for x in args]
    ratio = reflectance_one_layer(*wide[:2], n=n) / _reflectance_planar(*wide[:2], n=n)
    mu1, mu2 = (np.sqrt(3.0 * a * (a + s)) for a, s in (wide[:2], wide[2:4]))
    weight = np.exp(-np.abs(mu2 - mu1) / mu1 * np.exp(-mu1 * wide[4]))
    out = _reflectance_two_layer_planar(*wide, n=n) * ratio**weight
    return out.astype(out_dtype, copy=False)


# --------------------------------------------------------------------------------------------
# Skin
# --------------------------------------------------------------------------------------------
def skin_reflectance(wavelengths_nm, *, f_mel_epi, blood, sat, f_mel_derm=0.0, papillary_mm=0.3,
                     mus_scale=1.0, epi_mm=0.1, vessel_radius_um=0.0):
    """Diffuse reflectance of skin from its chromophores.

    Parameters are arrays (or scalars) of any broadcastable shape ``(...)``: epidermal melanin
    volume fraction ``f_mel_epi``, dermal blood volume fraction ``blood``, oxygen saturation
    ``sat``, dermal melanin fraction ``f_mel_derm`` below a papillary dermis of ``papillary_mm``,
    a multiplier ``mus_scale`` of the dermal reduced scattering, epidermal thickness ``epi_mm``,
    and an optional vessel radius (um) for the packaging correction (0 = blood spread evenly).

    Model: epidermis = absorbing filter crossed twice, ``exp(-2 mu_a,epi L)``; dermis = two-layer
    diffusion (:func:`reflectance_two_layer`), which is the one-layer model where
    ``f_mel_derm == 0``. Returns ``(..., n_wavelengths)`` in float32 if every parameter is
    float32 (or a Python scalar) and float64 otherwise.
    """
    wl = _as_wavelengths(wavelengths_nm)
    raw = (f_mel_epi, blood, sat, f_mel_derm, papillary_mm, mus_scale, epi_mm, vessel_radius_um)
    # Python scalars are "weak": they follow the arrays' precision, as in NumPy 2 promotion.
    typed = [np.asarray(v).dtype for v in raw if isinstance(v, (np.ndarray, np.generic))]
    dtype = np.float32 if typed and all(t == np.float32 for t in typed) else np.float64
    params = [np.asarray(v) for v in raw]
    for name, v in zip(("f_mel_epi", "blood", "sat", "f_mel_derm", "papillary_mm", "mus_scale",
                        "epi_mm", "vessel_radius_um"), params, strict=True):
        if not np.all(np.isfinite(v)) or np.any(v < 0):
            raise ValueError(f"skin_reflectance: {name} must be finite and >= 0")
    fe, bl, st, fd, pap, mss, epi, vr = (v.astype(dtype, copy=False)[..., None] for v in params)

    oxy, deoxy = (x.astype(dtype) for x in mua_blood(wl))
    mel = mua_melanin(wl).astype(dtype)
    base = mua_baseline(wl).astype(dtype)
    musp = musp_skin(wl).astype(dtype)

    mua_bl = st * oxy + (1 - st) * deoxy
    if np.any(vr > 0):
        mua_bl = mua_bl * vessel_packaging(mua_bl, vr * 1e-4)
    mua_derm = bl * mua_bl + (1 - bl) * base
    mua_epi = fe * mel + (1 - fe) * base
    musp_derm = mss * musp
    r_derm = reflectance_one_layer(mua_derm, musp_derm)
    # The two-layer solve only where there is dermal melanin: elsewhere both layers are equal
    # and it would return the one-layer value anyway (see reflectance_two_layer).
    shape = np.broadcast_shapes(*(v.shape for v in params))
    deep = np.broadcast_to(fd[..., 0] > 0, shape)
    if deep.any():
        full = shape + (wl.size,)
        r_derm = np.array(np.broadcast_to(r_derm, full))
        mua_d, musp_d = (np.broadcast_to(x, full)[deep] for x in (mua_derm, musp_derm))
        fd_d = np.broadcast_to(fd, full[:-1] + (1,))[deep]
        pap_d = np.broadcast_to(pap, full[:-1] + (1,))[deep]
        r_derm[deep] = reflectance_two_layer(mua_d, musp_d, mua_d + fd_d * mel, musp_d,
                                             pap_d * 0.1)
    out = np.exp(-2.0 * mua_epi * (epi * 0.1)) * r_derm
    return np.ascontiguousarray(np.broadcast_to(out, shape + (wl.size,)), dtype=dtype)
