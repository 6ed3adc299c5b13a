"""The oracle generator (hsilib.standin.oracle): fresh lesions from the data set's own sampler,
rendered again from changed truth maps with the same camera noise."""

import numpy as np
import pytest

from hsilib import WAVELENGTHS_NM
from hsilib.standin import oracle as so
from hsilib.standin.imaging import render_cube
from hsilib.standin.scene import image_rng, sample_scene

SCALE = 0.25


@pytest.fixture(scope="module")
def image():
    return so.draw_image("MM", 3, seed=0, scale=SCALE)


def test_an_oracle_image_is_none_of_the_data_sets_images(image):
    # the data set's image 3 of seed 0 comes from three entropy words, the oracle's from four
    shape = image.scene.shape
    data_set = sample_scene("MM", image_rng(0, "MM", 3), shape=shape)
    assert not np.allclose(data_set.maps["f_mel_epi"], image.scene.maps["f_mel_epi"])
    again = so.draw_image("MM", 3, seed=0, scale=SCALE)
    np.testing.assert_array_equal(again.scene.maps["blood"], image.scene.maps["blood"])
    assert image.stem == "oracle_MM_0004" and so.image_stem("DN", 0) == "oracle_DN_0001"
    assert shape == (max(round(272 * SCALE), 16), max(round(512 * SCALE), 16))


def test_rendering_repeats_its_camera_noise(image):
    a, b = so.render(image), so.render(image)
    np.testing.assert_array_equal(a, b)
    # the same as drawing the scene and rendering it in one go, as the data set's writer does
    rng = so.oracle_rng(0, "MM", 3)
    scene = sample_scene("MM", rng, shape=image.scene.shape)
    np.testing.assert_array_equal(render_cube(scene, rng, scale=SCALE), a)
    # a factor of 1 changes nothing
    np.testing.assert_array_equal(so.render(image, so.shift_chromophores(image.scene,
                                                                         melanin=1.0)), a)


def test_shifts_darken_where_the_absorber_absorbs(image):
    clean = so.render(image)
    field = image.scene.field
    wl = np.asarray(WAVELENGTHS_NM)
    blue, green = int(np.argmin(np.abs(wl - 470))), int(np.argmin(np.abs(wl - 575)))
    mel = so.render(image, so.shift_chromophores(image.scene, melanin=2.0))
    blood = so.render(image, so.shift_chromophores(image.scene, blood=3.0))

    def ratio(cube, band):  # median change of one band over the field
        return np.median(cube[field][:, band] / np.maximum(clean[field][:, band], 1e-3))

    assert ratio(mel, blue) < 0.97 and ratio(mel, blue) < ratio(mel, -1)  # melanin: blue
    assert ratio(blood, green) < 0.9 and ratio(blood, green) < ratio(blood, -1)  # Hb at 575 nm
    scat = so.shift_chromophores(image.scene, scattering=2.0)
    np.testing.assert_allclose(scat.maps["mus_scale"], 2 * image.scene.maps["mus_scale"],
                               rtol=1e-6)
    np.testing.assert_array_equal(scat.maps["blood"], image.scene.maps["blood"])


def test_exaggeration_scales_the_lesions_excess_only(image):
    scene = image.scene
    lesion = scene.labels > 0
    skin = (scene.labels == 0) & scene.field
    ref = np.median(scene.maps["f_mel_epi"][skin])
    more = so.exaggerate_lesion(scene, "MM", 2.0).maps["f_mel_epi"]
    less = so.exaggerate_lesion(scene, "DN", 2.0).maps["f_mel_epi"]
    m = scene.maps["f_mel_epi"]
    excess = np.maximum(m - ref, 0)
    np.testing.assert_allclose(more[lesion], (m + excess)[lesion], rtol=1e-5)
    np.testing.assert_allclose(less[lesion], (m - 0.5 * excess)[lesion], rtol=1e-5)
    np.testing.assert_array_equal(more[~lesion], m[~lesion])
    same = so.exaggerate_lesion(scene, "MM", 1.0)
    for k in ("f_mel_epi", "f_mel_derm", "blood"):
        np.testing.assert_allclose(same.maps[k], scene.maps[k], rtol=1e-6)


def test_bad_input_is_refused_with_names(image):
    with pytest.raises(ValueError, match="cls must be 'MM' or 'DN'"):
        so.draw_image("Other", 0, 0, SCALE)
    with pytest.raises(ValueError, match="scale must be > 0"):
        so.draw_image("MM", 0, 0, 0.0)
    with pytest.raises(ValueError, match="unknown chromophores"):
        so.shift_chromophores(image.scene, water=2.0)
    with pytest.raises(ValueError, match="melanin factor must be > 0"):
        so.shift_chromophores(image.scene, melanin=0.0)
    with pytest.raises(ValueError, match="factor must be >= 1"):
        so.exaggerate_lesion(image.scene, "MM", 0.5)
