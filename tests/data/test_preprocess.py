"""Segmentation, crops and Dice on fake cubes with known blobs."""

import re
import warnings

import cv2
import numpy as np
import pandas as pd
import pytest
from fakedata import (
    ellipse,
    fake_cube,
    field_mask,
    lesion_spectrum,
    make_fake_standin,
    skin_spectrum,
)
from skimage.filters import threshold_otsu

from hsilib.data.hsi_dermoscopy import HSIDermoscopy
from hsilib.data.preprocess import (
    CROP_COLUMNS,
    OPTIONAL_COLUMNS,
    SegmentationWarning,
    crop_and_resize,
    crop_box,
    crop_in_field,
    dice,
    estimate_field,
    false_rgb,
    field_crop_box,
    fill_outside_field,
    fit_field_circle,
    inside_circle,
    load_user_masks,
    make_crops,
    otsu_threshold,
    save_user_masks,
    segment_lesions,
    segmentation_report,
)


@pytest.fixture(scope="module")
def fake(tmp_path_factory):
    return make_fake_standin(tmp_path_factory.mktemp("fake"), n=(3, 3, 2), seed=2)


def test_false_rgb_is_band_mean():
    cube = np.arange(2 * 3 * 16, dtype=np.float32).reshape(2, 3, 16)
    rgb = false_rgb(cube)
    assert rgb.shape == (2, 3, 3)
    np.testing.assert_allclose(rgb[..., 1], cube.mean(-1))
    np.testing.assert_array_equal(rgb[..., 0], rgb[..., 2])


def test_false_rgb_percentile_stretch_hand_values():
    # band means 0, 1, ..., 100 (each pixel's two bands average to its index)
    means = np.arange(101, dtype=np.float32).reshape(1, 101)
    cube = np.stack([means - 0.5, means + 0.5], axis=-1)
    rgb = false_rgb(cube, stretch=(10, 90))  # percentiles 10 and 90 -> 0 and 1
    expected = np.clip((means - 10) / 80, 0, 1)
    np.testing.assert_allclose(rgb[..., 0], expected, atol=1e-6)
    np.testing.assert_array_equal(rgb[..., 0], rgb[..., 1])
    np.testing.assert_array_equal(rgb[..., 1], rgb[..., 2])
    assert rgb[0, 0, 0] == 0 and rgb[0, -1, 0] == 1 and rgb[0, 50, 0] == pytest.approx(0.5)


@pytest.mark.parametrize("bins", [128, 256])
def test_otsu_threshold_separates_two_modes(bins):
    values = np.r_[np.full(100, 0.2), np.full(100, 0.8)]
    t = otsu_threshold(values, bins=bins)
    assert 0.2 < t < 0.8
    assert ((values > t) == (values == 0.8)).all()


@pytest.mark.parametrize("bins", [128, 256])
def test_otsu_threshold_matches_skimage(bins):
    rng = np.random.default_rng(0)
    values = np.r_[rng.normal(0.3, 0.05, 500), rng.normal(0.7, 0.08, 300)]
    width = (values.max() - values.min()) / bins
    reference = threshold_otsu(values, nbins=bins)  # the reference (a dev dependency)
    assert abs(otsu_threshold(values, bins) - reference) <= width


def test_dice_hand_values():
    a = np.zeros((4, 4), bool)
    b = np.zeros((4, 4), bool)
    a[:2, :2] = True  # 4 px
    b[:2, :] = True  # 8 px, overlap 4
    assert dice(a, b) == pytest.approx(2 * 4 / 12)
    assert dice(a, a) == 1.0
    assert dice(a, ~a) == 0.0
    assert dice(np.zeros(3, bool), np.zeros(3, bool)) == 1.0


def test_crop_box_hand_checked():
    mask = np.zeros((100, 200), bool)
    mask[40:60, 50:90] = True  # bbox y 40..60 (h 20), x 50..90 (w 40), centre (50, 70)
    assert crop_box(mask, 1.5) == (35, 40, 65, 100)  # h 30, w 60 about the centre
    assert crop_box(mask, 1.0) == (40, 50, 60, 90)
    corner = np.zeros((100, 200), bool)
    corner[0:10, 190:200] = True  # centre (5, 195), scaled half-size 7.5 -> clipped
    assert crop_box(corner, 1.5) == (0, 187, 13, 200)
    with pytest.raises(ValueError, match="empty"):
        crop_box(np.zeros((3, 3), bool))


def test_crop_and_resize_keeps_spectra_and_shape():
    rng = np.random.default_rng(0)
    spectra = rng.random((3, 16), dtype=np.float32)
    cube = spectra[rng.integers(0, 3, (40, 60))]  # every pixel one of three spectra
    cube[10:30, 20:50] = spectra[0]
    mask = np.zeros((40, 60), np.uint8)
    mask[10:30, 20:50] = 1
    crop, crop_mask = crop_and_resize(cube, mask, crop_box(mask, 1.5), 16)
    assert crop.shape == (16, 16, 16) and crop.dtype == np.float32
    assert crop_mask.shape == (16, 16) and set(np.unique(crop_mask)) <= {0, 1}
    # inside the lesion the spectrum is exactly spectra[0] (area-averaging equal spectra)
    np.testing.assert_allclose(crop[8, 8], spectra[0], rtol=1e-5)
    assert crop_mask[8, 8] == 1


def test_segmentation_dice_above_0_9(fake):
    ds = HSIDermoscopy(fake / "hsidermoscopy")
    predicted = {}
    with warnings.catch_warnings():
        warnings.simplefilter("error", SegmentationWarning)  # clean blobs: nothing dropped
        for i in range(len(ds)):
            s = ds[i]
            predicted[s["stem"]] = segment_lesions(s["cube"], min_area=100, name=s["stem"])
    report = segmentation_report(predicted, fake / "truth")
    truth = pd.read_csv(fake / "truth" / "lesions.csv")
    assert len(report) == len(truth)  # every true lesion has a row
    assert (report.pred_index > 0).all()
    assert report.dice.min() > 0.9, report
    # two-lesion images give two masks
    assert report.groupby("stem").n_pred.first().max() == 2


def test_hair_does_not_split_field_or_lesion():
    rng = np.random.default_rng(5)
    cube, labels, field = fake_cube(rng, (68, 128), 1, hair=True)
    est = estimate_field(cube, margin=0)
    assert dice(est, field) > 0.97
    masks = segment_lesions(cube, min_area=100)
    assert len(masks) == 1 and dice(masks[0], labels == 1) > 0.9


def test_small_and_border_segments_warned_with_name():
    rng = np.random.default_rng(3)
    cube, labels, field = fake_cube(rng, (68, 128), 1, hair=False)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert segment_lesions(cube, min_area=5000, name="cubeA") == []
    messages = [str(w.message) for w in caught if w.category is SegmentationWarning]
    assert any(re.search(r"cubeA.*below min_area=5000", m) for m in messages), messages
    assert any(re.search(r"cubeA: no lesion left", m) for m in messages), messages
    # move a dark blob onto the field's edge: dropped, with a warning naming the file
    edge = cube.copy()
    edge[25:45, 2:20] = cube[labels == 1][0]
    with pytest.warns(SegmentationWarning, match=r"cubeB.*1 touching the field border"):
        masks = segment_lesions(edge, min_area=100, name="cubeB")
    assert len(masks) == 1 and dice(masks[0], labels == 1) > 0.9


def test_user_masks_round_trip_and_empty_mask_refused(tmp_path):
    a = np.zeros((10, 12), bool)
    a[2:5, 3:7] = True
    b = np.zeros((10, 12), bool)
    b[6:9, 1:4] = True
    save_user_masks(tmp_path, "MM_0007", [a, b])
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "MM_0007_crop01_mask.png", "MM_0007_crop02_mask.png"]
    cv2.imwrite(str(tmp_path / "MM_00071_crop01_mask.png"), a.astype(np.uint8))  # other stem
    masks = load_user_masks(tmp_path, "MM_0007")
    assert len(masks) == 2
    np.testing.assert_array_equal(masks[0], a)
    np.testing.assert_array_equal(masks[1], b)
    with pytest.raises(ValueError, match="MM_0007_crop01_mask.png: mask is"):
        load_user_masks(tmp_path, "MM_0007", shape=(11, 12))
    cv2.imwrite(str(tmp_path / "MM_0007_crop03_mask.png"), np.zeros((10, 12), np.uint8))
    with pytest.raises(ValueError, match="MM_0007_crop03_mask.png: the mask is empty"):
        load_user_masks(tmp_path, "MM_0007")


def test_make_crops_folder_contract(tmp_path, fake):
    ds = HSIDermoscopy(fake / "hsidermoscopy")
    out = tmp_path / "crops"
    index = make_crops(ds, out, size=24, min_area=100, workers=1, progress=False)
    truth = pd.read_csv(fake / "truth" / "lesions.csv")
    assert len(index) == len(truth)
    assert list(pd.read_csv(out / "index.csv").columns) == [*CROP_COLUMNS, *OPTIONAL_COLUMNS]
    # the fake lesions sit in the middle of the field: no box reaches its edge
    assert not index.touches_field_edge.any() and (index.field_fill == 0).all()
    assert set(index.source) == set(ds.index.stem)
    assert not index.is_synthetic.any() and index.id.is_unique
    row = index.iloc[0]
    with np.load(out / row.path) as z:
        assert z["cube"].shape == (24, 24, 16) and z["cube"].dtype == np.float32
        assert z["mask"].dtype == np.uint8 and z["mask"].any()
    assert (index.label == index["class"].map({"MM": 1, "DN": 0, "Other": -1})).all()
    # the boxes hold the lesions: each box is the 1.5x box of the saved full-size mask
    masks = load_user_masks(out / "masks", row.source)
    assert crop_box(masks[row.lesion_index - 1], 1.5) == (row.y0, row.x0, row.y1, row.x1)
    assert masks[row.lesion_index - 1].sum() == row.mask_area
    # Dice from the saved masks folder
    report = segmentation_report(out / "masks", fake / "truth")
    assert report.dice.min() > 0.9
    # hand-drawn masks reproduce the same crops
    again = make_crops(ds, tmp_path / "crops2", size=24, min_area=100, masks_dir=out / "masks",
                       progress=False)
    pd.testing.assert_frame_equal(again.drop(columns=[]), index)
    assert not any(p.name.startswith(".") for p in tmp_path.iterdir())


def test_make_crops_parallel_matches_serial(tmp_path, fake):
    ds = HSIDermoscopy(fake / "hsidermoscopy")
    a = make_crops(ds, tmp_path / "a", size=16, min_area=100, workers=1, progress=False)
    b = make_crops(ds, tmp_path / "b", size=16, min_area=100, workers=2, progress=False)
    pd.testing.assert_frame_equal(a, b)
    for p in a.path:
        np.testing.assert_array_equal(np.load(tmp_path / "a" / p)["cube"],
                                      np.load(tmp_path / "b" / p)["cube"])


def test_make_crops_is_atomic(tmp_path, fake, monkeypatch):
    import hsilib.data.cropping as cropping

    ds = HSIDermoscopy(fake / "hsidermoscopy")
    out = tmp_path / "crops"
    calls = {"n": 0}
    real = cropping.crop_and_resize

    def failing(*a, **k):
        calls["n"] += 1
        if calls["n"] == 3:
            raise RuntimeError("interrupted")
        return real(*a, **k)

    monkeypatch.setattr(cropping, "crop_and_resize", failing)
    with pytest.raises(RuntimeError, match="interrupted"):
        make_crops(ds, out, size=16, min_area=100, progress=False)
    assert list(tmp_path.iterdir()) == []  # neither the target nor a temp folder


def test_standin_reads_and_segments(tmp_path):
    """Integration with the stand-in generator's layout (the contract), when it is present."""
    writer = pytest.importorskip("hsilib.standin.writer")
    root = writer.generate_standin(tmp_path, n_mm=2, n_dn=2, n_other=1, scale=0.5, seed=3,
                                   workers=1, progress=False)
    ds = HSIDermoscopy(root / "hsidermoscopy")
    assert len(ds) == 5 and ds[0]["cube"].shape == (136, 256, 16)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SegmentationWarning)
        predicted = {ds[i]["stem"]: segment_lesions(ds[i]["cube"], min_area=100)
                     for i in range(len(ds))}
    report = segmentation_report(predicted, root / "truth")
    assert report.dice.median() > 0.8, report


# --------------------------------------------------------------------------------------------
# Crops kept inside the dermoscope field
# --------------------------------------------------------------------------------------------
def _disk(shape, centre, radius):
    yy, xx = np.mgrid[: shape[0], : shape[1]]
    return (yy - centre[0]) ** 2 + (xx - centre[1]) ** 2 <= radius**2


def test_fit_field_circle_ignores_image_border_and_lesion_notch():
    centre, radius = (40.3, 70.6), 45.2  # clipped by the image's top and bottom
    field = _disk((80, 140), centre, radius)
    field[35:50, 105:120] = False  # a dark lesion at the rim carves a notch into the field
    (cy, cx), r = fit_field_circle(field)
    assert abs(cy - centre[0]) < 0.5 and abs(cx - centre[1]) < 0.5
    assert abs(r - radius) < 0.7
    assert fit_field_circle(np.ones((30, 40), bool)) is None  # the field fills the image


def _edge_scene(shape=(68, 128)):
    """A fake cube whose round lesion sits near the right edge of the circular field."""
    field = field_mask(shape)  # centre (33.5, 63.5), radius 60.16
    labels = ellipse(shape, 34, 114, 8, 8, 0.0) & field
    cube = np.empty(shape + (16,), np.float32)
    cube[:] = skin_spectrum()
    cube[labels] = lesion_spectrum(1.2)
    rng = np.random.default_rng(0)
    cube *= (1 + 0.02 * rng.standard_normal(cube.shape)).astype(np.float32)
    cube[~field] = 0.0
    return cube, labels, field


def test_crop_near_field_edge_has_no_zero_pixels_and_the_whole_lesion():
    cube, lesion, field = _edge_scene()
    y0, x0, y1, x1 = crop_box(lesion, 1.5)
    assert (cube[y0:y1, x0:x1] == 0).all(-1).any()  # the study's crop holds black outside
    (crop,) = crop_in_field(cube, [lesion], size=32, scale=1.5)
    assert (crop["cube"] != 0).all()  # no zero anywhere: every outside pixel was filled
    assert crop["touches_field_edge"] and 0 < crop["field_fill"] < 0.2
    by0, bx0, by1, bx1 = crop["box"]
    ys, xs = np.nonzero(lesion)
    assert by0 <= ys.min() and ys.max() < by1 and bx0 <= xs.min() and xs.max() < bx1
    assert (by1 - by0, bx1 - bx0) == (y1 - y0, x1 - x0)  # same size as the study's box
    assert bx0 < x0  # moved towards the field's centre (on the left)
    # the whole lesion is in the crop: its resized area matches the full-size one
    area = crop["mask"].sum() * (by1 - by0) * (bx1 - bx0) / 32**2
    assert area == pytest.approx(lesion.sum(), rel=0.1)


def test_field_crop_box_moves_a_box_that_fits_fully_inside():
    shape, centre = (60, 100), (30.0, 50.0)
    inside = _disk(shape, centre, 28)
    lesion = np.zeros(shape, bool)
    lesion[26:34, 64:72] = True  # an 8 x 8 lesion right of the field centre
    y0, x0, y1, x1 = crop_box(lesion, 2.6)  # 21 x 21 about (30, 68): corners leave the disk
    assert not inside[y0:y1, x0:x1].all()
    box = field_crop_box(lesion, inside, centre, 2.6)
    assert (box[2] - box[0], box[3] - box[1]) == (y1 - y0, x1 - x0)
    assert inside[box[0]:box[2], box[1]:box[3]].all()  # the shifted box fits
    assert box[1] <= 64 and box[3] >= 72  # and still holds the lesion
    # the smallest shift that fits: one pixel less and the box leaves the field
    assert not inside[box[0]:box[2], box[1] + 1:box[3] + 1].all()


def test_fill_is_the_mirror_image_in_the_circle():
    # band 0 = row, band 1 = column: a filled pixel shows where its value came from
    shape, centre, radius = (21, 21), (10.0, 10.0), 8.0
    yy, xx = np.mgrid[: shape[0], : shape[1]].astype(np.float32)
    cube = np.stack([yy, xx], axis=-1)
    inside = inside_circle(shape, centre, radius, rim_px=0.0)
    lesions = np.zeros(shape, bool)
    lesions[10, 4] = True  # the mirror of (10, 0) is (10, 4): a lesion, so skin is used
    skin = np.array([-1.0, -1.0], np.float32)
    sub, filled = fill_outside_field(cube, (0, 0, 21, 21), inside, centre, radius, lesions, skin)
    assert filled.sum() == (~inside).sum()
    # (10, 19) is 9 px from the centre, 1 px outside: its mirror is 7 px out, (10, 17)
    np.testing.assert_array_equal(sub[10, 19], [10, 17])
    # (2, 18): d = 8 sqrt(2) = 11.31, mirror at 16 - 11.31 = 4.69 along the diagonal -> (6.7, 13.3)
    np.testing.assert_array_equal(sub[2, 18], [7, 13])
    np.testing.assert_array_equal(sub[10, 0], skin)  # the mirror is on a lesion
    np.testing.assert_array_equal(sub[inside], cube[inside])  # the field is untouched


def test_crop_in_field_without_masks_or_field_edge():
    assert crop_in_field(np.zeros((20, 30, 16), np.float32), [], size=8) == []
    # a field that fills the image has no edge: the study's box, nothing filled
    cube = np.full((40, 60, 16), 0.3, np.float32)
    lesion = np.zeros((40, 60), bool)
    lesion[15:25, 20:30] = True
    cube[lesion] = 0.05
    (crop,) = crop_in_field(cube, [lesion], size=8)
    assert crop["box"] == crop_box(lesion, 1.5) and crop["field_fill"] == 0.0
    assert not crop["touches_field_edge"]
