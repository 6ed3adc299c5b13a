"""CIE rendering (hsilib.standin.rendering) against colour-science and simple properties."""

import colour
import numpy as np
import pytest

from hsilib import WAVELENGTHS_NM
from hsilib.standin import optics, rendering

pytestmark = pytest.mark.filterwarnings("ignore:Aligning")  # colour-science resampling notes

DENSE = rendering.RENDER_WAVELENGTHS_NM
BANDS = np.asarray(WAVELENGTHS_NM, dtype=float)


def _lab(srgb):
    return colour.XYZ_to_Lab(colour.sRGB_to_XYZ(np.asarray(srgb)))


def test_perfect_white_is_white():
    for grid in (DENSE, np.arange(380.0, 721.0, 10.0)):
        np.testing.assert_allclose(rendering.spectra_to_srgb(np.ones(grid.size), grid),
                                   [1, 1, 1], atol=2e-3)
    assert np.all(rendering.spectra_to_srgb(np.zeros(DENSE.size), DENSE) == 0)


def test_xyz_matches_colour_science():
    spectrum = 0.3 + 0.25 * np.sin(DENSE / 37.0) + 0.1 * (DENSE - 380) / 340
    sd = colour.SpectralDistribution(dict(zip(DENSE, spectrum, strict=True)))
    ref = colour.sd_to_XYZ(sd, colour.MSDS_CMFS["CIE 1931 2 Degree Standard Observer"],
                           colour.SDS_ILLUMINANTS["D65"], method="Integration")
    ours = rendering.spectra_to_xyz(spectrum, DENSE) * 100
    np.testing.assert_allclose(ours, ref, atol=0.05)
    srgb_ref = colour.XYZ_to_sRGB(ref / 100)  # D65 white in, no adaptation needed
    np.testing.assert_allclose(rendering.spectra_to_srgb(spectrum, DENSE),
                               np.clip(srgb_ref, 0, 1), atol=2e-3)


def test_end_slope_extrapolation_is_exact_for_straight_lines():
    line = 0.2 + 0.001 * (BANDS - 465)
    dense = rendering.extrapolate_end_slope(line, BANDS)
    np.testing.assert_allclose(dense, 0.2 + 0.001 * (DENSE - 465), atol=1e-12)
    falling = 0.5 - 0.004 * (BANDS - 465)  # would go negative by 720 nm: clipped at 0
    assert rendering.extrapolate_end_slope(falling, BANDS).min() == 0.0


@pytest.mark.parametrize("params", [
    dict(f_mel_epi=0.025, blood=0.006, sat=0.7),  # normal skin
    dict(f_mel_epi=0.10, blood=0.006, sat=0.7),  # solar lentigo
    dict(f_mel_epi=0.025, blood=0.04, sat=0.7),  # erythema
])
def test_cube_rendering_close_to_dense_rendering(params):
    dense = rendering.spectra_to_srgb(optics.skin_reflectance(DENSE, **params), DENSE)
    cube = rendering.cube_to_rgb(optics.skin_reflectance(BANDS, **params), BANDS)
    de = colour.delta_E(_lab(dense), _lab(cube), method="CIE 2000")
    assert de < 5.0


def test_cube_to_rgb_shapes_and_errors():
    cube = np.random.default_rng(0).uniform(0, 1, (5, 7, 16)).astype(np.float32)
    rgb = rendering.cube_to_rgb(cube, BANDS)
    assert rgb.shape == (5, 7, 3) and rgb.min() >= 0 and rgb.max() <= 1
    assert rendering.to_uint8(rgb).dtype == np.uint8
    with pytest.raises(ValueError, match="wavelengths_nm"):
        rendering.cube_to_rgb(cube, BANDS[:15])


def test_cached_tables_are_read_only():
    """Tables cached for the session are constants: writing into one raises instead of
    silently changing every later rendering."""
    m = rendering.end_slope_matrix(tuple(float(w) for w in BANDS))
    with pytest.raises(ValueError, match="read-only"):
        m[0, 0] = 1.0
    assert not optics._prahl_table().flags.writeable
