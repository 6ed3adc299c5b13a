"""Values of the skin reflectance model (hsilib.standin.optics) against the sanity table of
docs/skin_optics.md."""

import numpy as np
import pytest

from hsilib import WAVELENGTHS_NM
from hsilib.standin import optics

SANITY_WL = (465, 542, 575, 630)
NORMAL = dict(f_mel_epi=0.025, blood=0.006, sat=0.7, epi_mm=0.1)
# (case, parameters changed from normal skin, table R at 465/542/575/630, tolerance). The table
# is recomputed from the model's formulas (Farrell integrated R_d, n = 1.4, mu_s' = 46
# (lambda/500)^-1.421, melanin exponent m = 3, epidermis as a filter; the dermal-melanin row with
# the two-layer model), so every row must hold within 0.02 in R, and within 0.005 for the dark
# nevus, whose R is small.
SANITY = [
    ("normal skin", {}, (0.30, 0.31, 0.32, 0.52), 0.02),
    ("solar lentigo", dict(f_mel_epi=0.10), (0.11, 0.17, 0.19, 0.36), 0.02),
    ("junctional nevus", dict(f_mel_epi=0.20), (0.03, 0.08, 0.10, 0.21), 0.02),
    ("dark nevus", dict(f_mel_epi=0.35, blood=0.015), (0.004, 0.016, 0.025, 0.09), 0.005),
    ("erythema", dict(blood=0.04), (0.17, 0.14, 0.15, 0.44), 0.02),
    ("dermal melanin", dict(f_mel_derm=0.05, papillary_mm=0.3), (0.19, 0.19, 0.20, 0.25), 0.02),
    ("regression", dict(mus_scale=2.0, blood=0.004), (0.39, 0.42, 0.44, 0.61), 0.02),
]


def test_band_centre_absorbers_match_reference_table():
    wl = np.array([465, 542, 575, 630])
    oxy, deoxy = optics.mua_blood(wl)
    np.testing.assert_allclose(oxy, [205.9, 285.4, 291.5, 3.3], atol=0.1)
    np.testing.assert_allclose(deoxy, [100.2, 257.9, 219.1, 27.6], atol=0.1)
    np.testing.assert_allclose(optics.mua_melanin(wl), [645, 407, 341, 259], atol=1.0)
    np.testing.assert_allclose(optics.mua_baseline(wl), [1.02, 0.49, 0.39, 0.31], atol=0.01)
    np.testing.assert_allclose(optics.musp_skin(wl), [51.0, 41.0, 37.7, 33.1], atol=0.1)
    assert optics.r_eff(1.4) == pytest.approx(0.5295, abs=1e-4)


@pytest.mark.parametrize("name,change,expected,tol", SANITY)
def test_sanity_table(name, change, expected, tol):
    r = optics.skin_reflectance(SANITY_WL, **{**NORMAL, **change})
    np.testing.assert_allclose(r, expected, atol=tol, err_msg=name)


def test_sanity_table_orderings():
    """The qualitative content of the table: melanin darkens the blue most, blood deepens the
    542/575 dips, dermal melanin flattens the spectrum, scattering whitens."""
    rows = [getattr(s, "values", s) for s in SANITY]
    r = {n: optics.skin_reflectance(SANITY_WL, **{**NORMAL, **c}) for n, c, _, _ in rows}
    assert r["normal skin"][0] > r["solar lentigo"][0] > r["junctional nevus"][0] > \
        r["dark nevus"][0]
    assert np.all(r["regression"] > r["normal skin"])
    assert r["erythema"][1] < r["erythema"][0] and r["erythema"][3] > 3 * r["erythema"][1]
    dm = r["dermal melanin"]
    assert dm[3] / dm[0] < 1.4 < r["normal skin"][3] / r["normal skin"][0]


def test_planar_and_farrell_agree_on_skin():
    rng = np.random.default_rng(0)
    mua = rng.uniform(0.5, 4.0, 500)  # dermis with 0-2 % blood, 465-630 nm
    musp = rng.uniform(30.0, 100.0, 500)
    diff = optics.reflectance_one_layer(mua, musp) - optics._reflectance_planar(mua, musp)
    # about 0.01 at a typical dermis; up to 0.02 at the strongest absorption drawn here
    assert np.abs(diff).max() <= 0.02


def test_one_layer_hand_computed():
    # mu_a = 1, mu_s' = 40: a' = 40/41, s = sqrt(3/41), A = (1 + R_eff)/(1 - R_eff).
    reff = -1.440 / 1.96 + 0.710 / 1.4 + 0.668 + 0.0636 * 1.4
    big_a = (1 + reff) / (1 - reff)
    alb, s = 40 / 41, np.sqrt(3 / 41)
    assert optics.reflectance_one_layer(1.0, 40.0) == pytest.approx(
        alb / 2 * np.exp(-s) * (1 + np.exp(-4 / 3 * big_a * s)), rel=1e-12)
    # and the planar form at the same point, A' = (1 - R_eff)/(2 (1 + R_eff))
    a = (1 - reff) / (2 * (1 + reff))
    assert optics._reflectance_planar(1.0, 40.0) == pytest.approx(
        3 * a * alb / ((s + 1) * (s + 3 * a)), rel=1e-12)


def test_two_layer_reduces_to_one_layer():
    rng = np.random.default_rng(1)
    mua = rng.uniform(0.3, 40.0, 1000)
    musp = rng.uniform(10.0, 150.0, 1000)
    d = rng.uniform(0.0, 0.2, 1000)
    np.testing.assert_allclose(optics.reflectance_two_layer(mua, musp, mua, musp, d),
                               optics.reflectance_one_layer(mua, musp), rtol=1e-10, atol=1e-12)
    r32 = optics.reflectance_two_layer(*(x.astype(np.float32) for x in (mua, musp, mua, musp, d)))
    assert r32.dtype == np.float32
    np.testing.assert_allclose(r32, optics.reflectance_one_layer(mua, musp), atol=1e-6)
    # and through skin_reflectance: no dermal melanin = one layer whatever the papillary depth
    wl = np.array(WAVELENGTHS_NM)
    a = optics.skin_reflectance(wl, **NORMAL, f_mel_derm=0.0, papillary_mm=np.array([0.05, 0.6]))
    np.testing.assert_allclose(a[0], a[1], atol=1e-12)


def test_two_layer_limits():
    """A thin top layer shows the lower layer; a thick one hides it."""
    mua1, musp1, mua2, musp2 = 2.0, 45.0, 20.0, 45.0
    thin = optics.reflectance_two_layer(mua1, musp1, mua2, musp2, 1e-7)
    thick = optics.reflectance_two_layer(mua1, musp1, mua2, musp2, 5.0)
    # thin: the lower layer's planar value, scaled by the top layer's Farrell/planar ratio to
    # the power exp(-contrast), contrast = relative difference of the effective attenuations
    ratio = optics.reflectance_one_layer(mua1, musp1) / optics._reflectance_planar(mua1, musp1)
    mu1, mu2 = np.sqrt(3 * mua1 * (mua1 + musp1)), np.sqrt(3 * mua2 * (mua2 + musp2))
    weight = np.exp(-(mu2 - mu1) / mu1)
    assert thin == pytest.approx(optics._reflectance_planar(mua2, musp2) * ratio**weight,
                                 rel=1e-4)
    assert thick == pytest.approx(optics.reflectance_one_layer(mua1, musp1), rel=1e-6)
    mid = optics.reflectance_two_layer(mua1, musp1, mua2, musp2, np.array([0.01, 0.03, 0.1]))
    assert np.all(np.diff(mid) > 0)  # deeper absorber -> brighter


def test_skin_reflectance_broadcasts_and_keeps_dtype():
    wl = np.array(WAVELENGTHS_NM, dtype=np.float64)
    f = np.full((3, 4), 0.05, dtype=np.float32)
    r = optics.skin_reflectance(wl, f_mel_epi=f, blood=np.float32(0.01), sat=0.8)
    assert r.shape == (3, 4, 16) and r.dtype == np.float32
    r64 = optics.skin_reflectance(wl, f_mel_epi=f.astype(np.float64), blood=0.01, sat=0.8)
    assert r64.dtype == np.float64
    np.testing.assert_allclose(r[0, 0], r64[0, 0], rtol=1e-5)
    blood = np.array([[0.002], [0.02]])  # (2, 1) x (3,) -> (2, 3)
    r2 = optics.skin_reflectance(wl, f_mel_epi=np.array([0.02, 0.1, 0.3]), blood=blood, sat=0.7)
    assert r2.shape == (2, 3, 16)
    assert np.all(r2[:, 0] > r2[:, 2])  # more melanin -> darker at every band


def test_vessel_packaging_flattens_dips():
    wl = np.array([520.0, 542.0, 560.0])
    kw = dict(f_mel_epi=0.02, blood=0.03, sat=0.9)
    spread = optics.skin_reflectance(wl, **kw)
    packed = optics.skin_reflectance(wl, **kw, vessel_radius_um=25.0)
    dip = lambda r: (r[0] + r[2]) / 2 - r[1]  # noqa: E731
    assert dip(packed) < dip(spread)
    assert optics.vessel_packaging(np.array([0.0]), 0.002)[0] == pytest.approx(1.0)


def test_bad_input_names_the_parameter():
    with pytest.raises(ValueError, match="wavelengths_nm"):
        optics.skin_reflectance([300, 500], f_mel_epi=0.02, blood=0.01, sat=0.7)
    with pytest.raises(ValueError, match="blood"):
        optics.skin_reflectance([500], f_mel_epi=0.02, blood=np.nan, sat=0.7)


def test_two_layer_smooth_through_the_singular_albedo():
    """At mu_s' = 2 mu_a (mu_eff = mu_tr) the particular solution diverges but R must not."""
    musp = 50.0
    mua2 = np.array([24.9, 24.999999, 25.0, 25.000001, 25.1])
    r = optics.reflectance_two_layer(1.5, 50.0, mua2, musp, 0.02)
    assert np.isfinite(r).all()
    assert np.abs(np.diff(r)).max() < 1e-3
    one = optics.reflectance_one_layer(mua2, musp)  # and as a single layer: same smoothness
    np.testing.assert_allclose(optics.reflectance_two_layer(mua2, musp, mua2, musp, 0.02), one,
                               atol=2e-6)


def test_dermal_melanin_darkens_continuously():
    """No step between skin without and with a trace of dermal melanin, and more of it (or a
    shallower layer) darkens monotonically."""
    wl = np.array(WAVELENGTHS_NM)
    f = np.array([0.0, 1e-6, 1e-4, 1e-3, 1e-2, 0.05])
    r = optics.skin_reflectance(wl, **NORMAL, f_mel_derm=f)
    assert np.abs(r[1] - r[0]).max() < 1e-4  # a trace changes R by a trace
    assert np.all(np.diff(r, axis=0) < 0)
    depth = optics.skin_reflectance(wl, **NORMAL, f_mel_derm=0.05,
                                    papillary_mm=np.array([0.1, 0.3, 1.0]))
    assert np.all(np.diff(depth, axis=0) > 0)
