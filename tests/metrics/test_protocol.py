"""The evaluation protocol: equal-size repeated floors, intervals, nearest-real pairing,
reflectance spectral shape, masks, dihedral memorisation and detectability, on known cases."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from hsilib import config
from hsilib.metrics import detectability, probe, protocol, protocol_sets
from hsilib.metrics import distribution as dist
from hsilib.metrics import spectral as sp


class _BandStats(torch.nn.Module):
    """Cheap features (per-band mean and std) so the protocol tests stay fast."""

    score_name = "FD_bandstats"

    def forward(self, x):
        return torch.cat([x.mean(dim=(2, 3)), x.std(dim=(2, 3))], dim=1)


def _cfg(**kw) -> config.MetricsConfig:
    """Small settings; the detectability probe off unless a test turns it on."""
    base = dict(batch_size=5, n_boot=100, n_boot_set=20, n_repeats=1, probe_epochs=0,
                n_pixels=2000, n_pixels_physics=200)
    return config.MetricsConfig(**(base | kw))


@pytest.fixture(scope="module")
def sets(smooth_images):
    return (smooth_images(12, size=24, seed=10),  # train
            smooth_images(12, size=24, seed=11))  # held-out


def _row(table, metric):
    return table.set_index("metric").loc[metric]


def _affine(x):
    """A per-band affine map, like BandNormaliser.inverse: it changes spectral angles."""
    lo = torch.linspace(0.02, 0.1, 16).view(1, 16, 1, 1)
    span = torch.linspace(0.7, 0.3, 16).view(1, 16, 1, 1)
    return lo + span * x


# --------------------------------------------------------------------------------------------
# Layout, floors, repeats
# --------------------------------------------------------------------------------------------
def test_table_layout_and_floor_equals_direct_computation(sets, smooth_images):
    train, held = sets
    syn = (smooth_images(12, size=24, seed=12) * 0.8).clamp(0, 1)
    table = protocol.evaluate_generator(syn, train, held, extractor=_BandStats(), cfg=_cfg())
    assert list(table.columns) == protocol.COLUMNS
    assert set(table.kind) == {"distribution", "spectral", "paired to nearest real",
                               "memorisation"}
    assert (table.n_synthetic == 12).all() and (table.n_real == 12).all()
    assert table.value.notna().all() and table.floor.notna().all()
    f = _BandStats()
    fd = dist.frechet_distance(f(held).double(), f(syn).double()).value
    floor = dist.frechet_distance(f(held).double(), f(train).double()).value
    assert _row(table, "FD_bandstats").value == pytest.approx(fd, rel=1e-6)
    assert _row(table, "FD_bandstats").floor == pytest.approx(floor, rel=1e-6)
    assert _row(table, "FD_bandstats").value > _row(table, "FD_bandstats").floor  # darker set
    assert set(table[table.kind == "paired to nearest real"].metric) == {"SSIM", "PSNR",
                                                                         "SAM_rad", "SID"}
    assert not table.metric.duplicated().any()


@pytest.mark.parametrize(("n_syn", "n_train"), [(20, 12), (12, 20)])
def test_value_and_floor_use_equal_sizes_and_average_the_repeats(smooth_images, monkeypatch,
                                                                 n_syn, n_train):
    """Every Frechet distance compares n = min(n_syn, n_train) images with all held-out ones;
    value and floor are the means over the repeats, and the subsampled side varies."""
    syn, train = smooth_images(n_syn, size=16, seed=1), smooth_images(n_train, size=16, seed=2)
    held = smooth_images(9, size=16, seed=3)
    calls = []
    real_fd = dist.frechet_distance

    def spy(real, fake, **kw):
        score = real_fd(real, fake, **kw)
        calls.append((len(real), len(fake), score.value))
        return score

    monkeypatch.setattr(dist, "frechet_distance", spy)
    table = protocol.evaluate_generator(syn, train, held, extractor=_BandStats(),
                                        cfg=_cfg(n_repeats=4, n_boot_set=0))
    assert [c[:2] for c in calls] == [(9, 12)] * 8  # 4 repeats for the value, 4 for the floor
    fd = _row(table, "FD_bandstats")
    values, floors = [c[2] for c in calls[:4]], [c[2] for c in calls[4:]]
    assert fd.value == pytest.approx(np.mean(values)) and fd.floor == pytest.approx(
        np.mean(floors))
    sub = values if n_syn > n_train else floors  # the subsampled side differs between repeats
    whole = floors if n_syn > n_train else values
    assert len(set(np.round(sub, 12))) > 1 and len(set(np.round(whole, 12))) == 1
    assert (table.n_synthetic[table.kind != "detectability"] == 12).all()
    assert "mean over 4 random subsamples of 12 synthetic / 12 training images" in fd.note


# --------------------------------------------------------------------------------------------
# Intervals
# --------------------------------------------------------------------------------------------
def test_every_row_has_an_interval_that_says_what_it_resamples(sets, smooth_images):
    train, held = sets
    syn = (smooth_images(14, size=24, seed=12) * 0.9).clamp(0, 1)
    table = protocol.evaluate_generator(syn, train, held, extractor=_BandStats(),
                                        to_reflectance=_affine, cfg=_cfg(n_repeats=2))
    rows = table.set_index("metric")
    assert rows.ci_low.notna().all() and (rows.ci_low <= rows.ci_high).all()
    both = "CI: 95% bootstrap over synthetic and held-out images"
    for m in ("FD_bandstats", "KID", "FD_spectral_lesion", "FD_spectral_skin",
              "SAM_mean_spectra_deg", "TV_rel_diff", "W1_blood", "NN_train_dist_ratio"):
        assert both in rows.note[m] and "not generator seeds" in rows.note[m], m
    for m in ("precision", "density", "SSIM", "PSNR", "SAM_rad", "SID"):
        assert "CI: 95% bootstrap over synthetic images (100 resamples)" in rows.note[m], m
    for m in ("recall", "coverage"):
        assert "CI: 95% bootstrap over held-out images" in rows.note[m], m
    # set-level intervals are not degenerate: resampling images moves the FD
    assert rows.ci_high["FD_bandstats"] > rows.ci_low["FD_bandstats"]


def test_per_image_intervals_by_hand_and_degenerate_cases(sets):
    train, held = sets
    noisy = held + 0.01 * torch.randn(held.shape, generator=torch.Generator().manual_seed(0))
    cfg = _cfg(n_boot=300)
    table = protocol.evaluate_generator(noisy, train, held, extractor=_BandStats(), cfg=cfg)
    # each noisy copy pairs with its own original (see the pairing test); the SSIM interval is
    # the percentile interval of the mean over resamples of the synthetic images
    ssim = sp.ssim(noisy, held, data_range=1.0, reduction="none").double().numpy()
    idx = np.random.default_rng(1).integers(0, 12, (300, 12))  # the draws of seed + 1
    want = np.quantile(ssim[idx].mean(1), [0.025, 0.975])
    assert (_row(table, "SSIM").ci_low, _row(table, "SSIM").ci_high) == pytest.approx(
        tuple(want))
    # copies of held-out images: inside the real manifold in every resample
    copies = protocol.evaluate_generator(held.clone(), train, held, extractor=_BandStats(),
                                         cfg=cfg).set_index("metric")
    assert copies.value["precision"] == copies.ci_low["precision"] == 1
    assert copies.ci_high["precision"] == 1
    assert copies.value["FD_bandstats"] == pytest.approx(0.0, abs=1e-9)
    assert copies.ci_low["FD_bandstats"] >= 0


# --------------------------------------------------------------------------------------------
# Pairing and spectral shape on reflectance
# --------------------------------------------------------------------------------------------
def test_heldout_copies_are_perfect_and_pairing_finds_them(sets):
    train, held = sets
    table = protocol.evaluate_generator(held.clone(), train, held, extractor=_BandStats(),
                                        cfg=_cfg(batch_size=7))
    assert _row(table, "SSIM").value == pytest.approx(1.0)
    assert _row(table, "SAM_rad").value == pytest.approx(0.0, abs=1e-3)
    assert _row(table, "SID").value == pytest.approx(0.0, abs=1e-6)
    assert _row(table, "FD_bandstats").value == pytest.approx(0.0, abs=1e-9)
    for m in ("precision", "recall", "coverage"):
        assert _row(table, m).value == 1.0
    # slightly perturbed copies: each is paired with its own original
    noisy = (held + 0.01 * torch.randn(held.shape, generator=torch.Generator().manual_seed(0)))
    table = protocol.evaluate_generator(noisy, train, held, extractor=_BandStats(), cfg=_cfg())
    assert _row(table, "SSIM").value == pytest.approx(float(sp.ssim(noisy, held, data_range=1.0)))
    assert _row(table, "SAM_rad").value == pytest.approx(float(sp.sam(noisy, held)), rel=1e-5)
    assert _row(table, "SID").value == pytest.approx(float(sp.sid(noisy, held)), rel=1e-5)
    assert "no to_reflectance given" in _row(table, "SAM_rad").note


def test_spectral_shape_rows_are_computed_on_reflectance(sets):
    train, held = sets
    noisy = (held + 0.02 * torch.randn(held.shape, generator=torch.Generator().manual_seed(1)))
    noisy = noisy.clamp(1e-3, 1)
    table = protocol.evaluate_generator(noisy, train, held, extractor=_BandStats(),
                                        to_reflectance=_affine, cfg=_cfg())
    ra, rb = _affine(noisy), _affine(held)
    assert _row(table, "SAM_rad").value == pytest.approx(float(sp.sam(ra, rb)), rel=1e-5)
    assert _row(table, "SID").value == pytest.approx(float(sp.sid(ra, rb)), rel=1e-5)
    angle = sp.sam_mean_spectra(ra.double(), rb.double(), degrees=True)
    assert _row(table, "SAM_mean_spectra_deg").value == pytest.approx(float(angle), rel=1e-4)
    # not the angle of the normalised values, which the affine map changes
    assert abs(float(sp.sam(noisy, held)) - _row(table, "SAM_rad").value) > 1e-3
    for m in ("SAM_rad", "SID", "SAM_mean_spectra_deg"):
        assert "on reflectance" in _row(table, m).note


def test_kept_real_summaries_give_the_same_tables_and_are_read_once(sets, monkeypatch):
    # evaluations of several synthetic sets against the same real sets: with a shared
    # ``summaries`` mapping the real sets are summarised once, and every table is the table
    # of a call without it
    train, held = sets
    fakes = [(held + 0.02 * torch.randn(held.shape, generator=torch.Generator().manual_seed(s))
              ).clamp(1e-3, 1) for s in (1, 2)]
    kw = dict(extractor=_BandStats(), to_reflectance=_affine, cfg=_cfg(n_repeats=2), seed=3)
    plain = [protocol.evaluate_generator(f, train, held, **kw) for f in fakes]
    calls = []
    real_summarise = protocol.summarise
    monkeypatch.setattr(protocol, "summarise",
                        lambda src, name, *a, **k: calls.append(name) or
                        real_summarise(src, name, *a, **k))
    kept: dict = {}
    for fake, expected in zip(fakes, plain, strict=True):
        pd.testing.assert_frame_equal(
            protocol.evaluate_generator(fake, train, held, summaries=kept, **kw), expected)
    assert calls == ["synthetic", "real_train", "real_heldout", "synthetic"]
    assert len(kept) == 2
    # other real images are another key, not the kept summary
    protocol.evaluate_generator(fakes[0], train, held.flip(-1), summaries=kept, **kw)
    assert calls[-2:] == ["synthetic", "real_heldout"] and len(kept) == 3


def test_out_of_field_pixels_are_left_out_of_spectral_shape(sets):
    """Zeroed corners (outside the dermoscope's field) in both images of a pair: the angle is
    the one of the in-field pixels, not diluted by zero-angle corner pixels."""
    train, held = sets
    noisy = (held + 0.02 * torch.randn(held.shape, generator=torch.Generator().manual_seed(2)))
    noisy = noisy.clamp(1e-3, 1)
    a, b = noisy.clone(), held.clone()
    a[..., :6, :6] = b[..., :6, :6] = 0
    table = protocol.evaluate_generator(a, train, b, extractor=_BandStats(), cfg=_cfg())
    inside = torch.ones(12, 24, 24, dtype=torch.bool)
    inside[:, :6, :6] = False
    assert _row(table, "SAM_rad").value == pytest.approx(
        float(sp.sam(a, b, mask=inside)), rel=1e-5)
    assert _row(table, "SAM_rad").value > float(sp.sam(a, b)) * 1.03  # all-pixel mean is lower


# --------------------------------------------------------------------------------------------
# One lesion rule for every set
# --------------------------------------------------------------------------------------------
def _as_items(images, masks):
    """Dataset-like items carrying a drawn mask, as notebook 01's crops do."""
    return [{"image": img, "mask": m[None]} for img, m in zip(images, masks, strict=True)]


def test_a_copy_of_the_training_crops_scores_at_the_floor(sets):
    """Real sets carrying drawn masks (here: the left half, nothing like Otsu's lesions) and a
    synthetic copy of the training crops without any: every row but memorisation equals the
    floor, the lesion spectral FD included (mixing the drawn masks with Otsu put it far above),
    and the memorisation rows flag the copies."""
    train, held = sets
    left = torch.zeros(12, 24, 24)
    left[:, :, :12] = 1
    cfg = _cfg(probe_epochs=6, probe_width=4, probe_folds=3)
    copy = protocol.evaluate_generator(train.clone(), _as_items(train, left),
                                       _as_items(held, left), extractor=_BandStats(), cfg=cfg,
                                       to_reflectance=_affine, device="cpu").set_index("metric")
    assert {"FD_spectral_lesion", "FD_spectral_skin", "W1_blood", "SID",
            "detectability_AUROC"} <= set(copy.index)
    lesion = copy.loc["FD_spectral_lesion"]
    assert lesion.value == pytest.approx(lesion.floor, abs=1e-12)
    assert lesion.ci_low <= lesion.floor <= lesion.ci_high
    assert "the same rule for every set" in lesion.note
    at_floor = copy[~copy.kind.isin(["memorisation", "detectability"])]
    np.testing.assert_allclose(at_floor.value, at_floor.floor, rtol=1e-9, atol=1e-12)
    # the probe cannot tell copies from real crops: its interval covers its real-vs-real floor
    det = copy.loc["detectability_AUROC"]
    assert det.ci_low <= det.floor <= det.ci_high and det.ci_low <= 0.5
    assert copy.loc["NN_train_dist_ratio"].value == pytest.approx(0.0, abs=1e-9)
    # the drawn masks are not read: plain tensors give the same table
    plain = protocol.evaluate_generator(train.clone(), train, held, extractor=_BandStats(),
                                        cfg=cfg, to_reflectance=_affine, device="cpu")
    np.testing.assert_array_equal(plain.value, copy.value.to_numpy())
    # the old mix by hand, drawn masks for the real sets and Otsu for the copy: far above
    n_px = 4000
    otsu = protocol_sets.lesion_and_skin(train)[0]
    drawn = left.bool() & dist.field_masks(train)
    pick = (lambda x, m: x.permute(0, 2, 3, 1)[m].double().numpy()[:n_px])  # noqa: E731
    real = _moments(pick(held, drawn))
    old_value = dist.gaussian_frechet_distance(*real, *_moments(pick(train, otsu)))
    old_floor = dist.gaussian_frechet_distance(*real, *_moments(pick(train, drawn)))
    assert old_value > 4 * old_floor


def _moments(x):
    return x.mean(0), np.cov(x, rowvar=False)


def test_datasets_with_masks_and_physics(sets):
    train, held = sets
    mask = torch.zeros(1, 24, 24)
    mask[:, 6:18, 6:18] = 1
    as_items = [{"image": img, "mask": mask, "label": 1} for img in held]
    table = protocol.evaluate_generator(train[:6], train, as_items, extractor=_BandStats(),
                                        to_reflectance=lambda x: 0.6 * x, cfg=_cfg())
    phys = table[table.kind == "physics"]
    assert set(phys.metric) == {"W1_f_mel_epi", "W1_blood", "W1_sat", "W1_mus_scale"}
    assert (phys.value >= 0).all() and (phys.ci_low <= phys.ci_high).all()
    assert (table.n_synthetic == 6).all()
    with pytest.raises(ValueError, match="real_heldout has 1 images"):
        protocol.evaluate_generator(train, train, held[:1], extractor=_BandStats())
    with pytest.raises(TypeError, match="indexable"):
        protocol.evaluate_generator(iter(train), train, held, extractor=_BandStats())
    with pytest.raises(ValueError, match="MetricsConfig.n_repeats must be >= 1, got 0"):
        protocol.evaluate_generator(train, train, held, extractor=_BandStats(),
                                    cfg=_cfg(n_repeats=0))


# --------------------------------------------------------------------------------------------
# Memorisation
# --------------------------------------------------------------------------------------------
def test_memorisation_flags_training_copies(sets, smooth_images):
    train, held = sets
    table = protocol.evaluate_generator(train.clone(), train, held, extractor=_BandStats(),
                                        cfg=_cfg())
    assert _row(table, "NN_train_dist_ratio").value == pytest.approx(0.0, abs=1e-9)
    assert _row(table, "frac_closer_than_heldout_p5").value == 1.0
    fresh = protocol.evaluate_generator(smooth_images(12, size=24, seed=13), train, held,
                                        extractor=_BandStats(), cfg=_cfg())
    assert _row(fresh, "NN_train_dist_ratio").value > 0.5


def test_memorisation_sees_through_flips_and_rotations(sets):
    train, held = sets
    # each synthetic image a flipped and/or rotated training image (never the image itself)
    moved = torch.stack([torch.rot90(img, 1 + i % 3, dims=(-2, -1)).flip(-1) if i % 2 else
                         torch.rot90(img, 1 + i % 3, dims=(-2, -1)) for i, img in
                         enumerate(train)])
    table = protocol.evaluate_generator(moved, train, held, extractor=_BandStats(), cfg=_cfg())
    assert _row(table, "NN_train_dist_ratio").value < 0.05
    assert _row(table, "frac_closer_than_heldout_p5").value == 1.0
    assert "8 flips/rotations" in _row(table, "NN_train_dist_ratio").note
    # a search over the training images as they are misses the copies
    pool = (lambda x: torch.nn.functional.adaptive_avg_pool2d(x, 16).flatten(1).double()  # noqa: E731
            .numpy())
    d_syn = protocol.dihedral_nn_distances(pool(moved), pool(train), dihedral=False)
    d_held = protocol.dihedral_nn_distances(pool(held), pool(train), dihedral=False)
    assert np.median(d_syn) / np.median(d_held) > 0.5
    # and the dihedral search finds each exactly
    np.testing.assert_allclose(protocol.dihedral_nn_distances(pool(moved), pool(train)), 0,
                               atol=1e-5)


# --------------------------------------------------------------------------------------------
# Detectability
# --------------------------------------------------------------------------------------------
def test_detectability_copies_near_chance_planted_band_near_one(smooth_images):
    train, held = smooth_images(30, size=16, seed=20), smooth_images(10, size=16, seed=21)
    real = torch.cat([train, held])
    cfg = _cfg(probe_epochs=10, probe_width=4, probe_folds=4, n_boot=200)

    def auroc(synthetic):
        table = protocol.evaluate_generator(synthetic, train, held, extractor=_BandStats(),
                                            cfg=cfg, device="cpu")
        return _row(table, "detectability_AUROC")

    banded = real.clone()
    banded[:, :, 6:9, :] += 0.3  # a bright horizontal band in every synthetic image
    fresh, copies, found = auroc(smooth_images(40, size=16, seed=22)), auroc(real), auroc(banded)
    # new images of the real distribution: chance
    assert abs(fresh.value - 0.5) < 0.15 and fresh.ci_low <= 0.5 <= fresh.ci_high
    # exact copies of the real images: never detected; the probe may even fall below chance,
    # since it learns each copy's twin in another fold with the opposite label
    assert copies.value < 0.6 and copies.ci_low < 0.5
    assert found.value > 0.9 and found.ci_low > 0.5
    assert fresh.kind == "detectability" and fresh.n_synthetic == fresh.n_real == 40
    # the floor sees only the real images: the same for every synthetic set
    assert 0 <= fresh.floor <= 1 and fresh.floor == copies.floor == found.floor
    assert "each real image its own group" in fresh.note


def test_the_kept_detectability_floor_is_computed_once_and_equal(smooth_images, monkeypatch):
    train, held = smooth_images(12, size=16, seed=30), smooth_images(8, size=16, seed=31)
    cfg = _cfg(probe_epochs=2, probe_width=4, probe_folds=2, n_boot=50)
    fakes = [smooth_images(12, size=16, seed=s) for s in (32, 33)]
    kw = dict(extractor=_BandStats(), cfg=cfg, device="cpu", seed=4)
    plain = [_row(protocol.evaluate_generator(f, train, held, **kw), "detectability_AUROC")
             for f in fakes]
    calls = []
    probe_fn = detectability.grouped_cv_auroc
    monkeypatch.setattr(detectability, "grouped_cv_auroc",
                        lambda *a, **k: calls.append(1) or probe_fn(*a, **k))
    kept: dict = {}
    rows = [_row(protocol.evaluate_generator(f, train, held, summaries=kept, **kw),
                 "detectability_AUROC") for f in fakes]
    assert len(calls) == 3  # two synthetic sets, one floor
    for got, expected in zip(rows, plain, strict=True):
        pd.testing.assert_series_equal(got, expected)
    # a synthetic set of another size draws other halves: its own floor
    protocol.evaluate_generator(fakes[0][:10], train, held, summaries=kept, **kw)
    assert len(calls) == 5


def test_detectability_groups_and_equal_counts(sets, smooth_images, monkeypatch):
    train, held = sets
    seen, shapes = [], []

    def fake_probe(images, labels, groups, **kw):
        seen.append((len(images), np.asarray(labels), np.asarray(groups), kw))
        shapes.append(tuple(images.shape))
        y = np.asarray(labels)
        return probe.ProbeResult(0.5, 0.4, 0.6, np.zeros(len(y)), y, np.asarray(groups), 2)

    monkeypatch.setattr(detectability, "grouped_cv_auroc", fake_probe)
    ids = {"real_train": np.repeat(np.arange(6), 2), "real_heldout": np.repeat([10, 11, 12], 4)}
    syn = smooth_images(30, size=24, seed=5)
    table = protocol.evaluate_generator(syn, train, held, extractor=_BandStats(), groups=ids,
                                        cfg=_cfg(probe_epochs=3, probe_folds=4, probe_width=5))
    (n, y, g, kw), (n_f, y_f, g_f, _) = seen
    assert n == 48 and (y == 0).sum() == (y == 1).sum() == 24  # 24 real, 24 of 30 synthetic
    assert set(g[y == 0]) == {str(i) for i in [*range(6), 10, 11, 12]}
    assert len(set(g[y == 1])) == 24  # each synthetic image its own group
    assert kw == dict(n_splits=4, epochs=3, width=5, n_boot=100, seed=0, device="auto")
    # the floor: the 24 real images, two halves that never split a source image
    assert n_f == 24 and all(len(set(y_f[g_f == k])) == 1 for k in set(g_f))
    assert "grouped by source image (groups=)" in _row(table, "detectability_AUROC").note
    with pytest.raises(ValueError, match=r"groups\['real_train'\] must hold one id per image"):
        protocol.evaluate_generator(syn, train, held, extractor=_BandStats(), cfg=_cfg(
            probe_epochs=1), groups={"real_train": [1, 2]})
    with pytest.raises(ValueError, match=r"groups has unknown keys \['synthetic'\]"):
        protocol.evaluate_generator(syn, train, held, extractor=_BandStats(), cfg=_cfg(),
                                    groups={"synthetic": np.arange(30)})
    only_train = protocol.evaluate_generator(syn, train, held, extractor=_BandStats(),
                                             groups={"real_train": ids["real_train"]},
                                             cfg=_cfg(probe_epochs=1))
    assert ("real_train images grouped by source image (groups=), the others each their own "
            "group") in _row(only_train, "detectability_AUROC").note
    # images too small for the probe's network are enlarged for it
    shapes.clear()
    protocol.evaluate_generator(syn[:, :, :8, :8], train[:, :, :8, :8], held[:, :, :8, :8],
                                extractor=_BandStats(), cfg=_cfg(probe_epochs=1))
    assert shapes == [(48, 16, 16, 16), (24, 16, 16, 16)]


# --------------------------------------------------------------------------------------------
# Defaults, small sets, tables of several runs, the results file
# --------------------------------------------------------------------------------------------
def test_default_extractor_is_fd_rand(sets, monkeypatch):
    monkeypatch.delenv(dist.WEIGHTS_ENV, raising=False)
    train, held = sets
    table = protocol.evaluate_generator(held[:4], train[:4], held[4:8],
                                        cfg=_cfg(feature_size=75, batch_size=4))
    assert "FD_rand" in set(table.metric) and "FID" not in set(table.metric)
    assert "not an FID" in _row(table, "FD_rand").note


def test_k_is_lowered_for_small_sets_and_says_so(sets):
    train, held = sets
    table = protocol.evaluate_generator(held[:3].clone(), train, held, extractor=_BandStats(),
                                        cfg=_cfg(k=5))
    assert _row(table, "precision").note.startswith("k = 2 (lowered from 5: too few images)")
    full = protocol.evaluate_generator(held.clone(), train, held, extractor=_BandStats(),
                                       cfg=_cfg(k=3))
    assert _row(full, "coverage").note.startswith("k = 3;")
    assert _row(full, "coverage").value == 1.0


def test_side_by_side_aligns_runs_by_metric_and_keeps_the_first_floor():
    a = pd.DataFrame({"metric": ["FD", "SAM"], "kind": ["set", "paired"],
                      "value": [1.0, 2.0], "floor": [0.5, 0.1]})
    b = pd.DataFrame({"metric": ["SAM", "FD"], "kind": ["paired", "set"],
                      "value": [3.0, 4.0], "floor": [9.0, 9.0]})
    c = pd.DataFrame({"metric": ["FD"], "kind": ["set"], "value": [5.0], "floor": [9.0]})
    out = protocol.side_by_side({"base": a, "spectral": b, "short": c})
    assert list(out.columns) == ["metric", "kind", "base", "spectral", "short", "floor"]
    assert out["spectral"].tolist() == [4.0, 3.0]  # matched by metric, not by row
    assert out["floor"].tolist() == [0.5, 0.1]
    assert out["short"].iloc[0] == 5.0 and pd.isna(out["short"].iloc[1])


def test_record_and_side_by_side_take_the_new_rows(sets, smooth_images, tmp_path):
    train, held = sets
    cfg = _cfg(probe_epochs=1, probe_folds=2, probe_width=2)
    tables = {name: protocol.evaluate_generator(smooth_images(12, size=24, seed=s), train, held,
                                                extractor=_BandStats(), cfg=cfg, device="cpu")
              for name, s in (("a", 30), ("b", 31))}
    csv = tmp_path / "generator_metrics.csv"
    for name, table in tables.items():
        protocol.record_generator_metrics(csv, table, notebook="03", family="fastgan",
                                          variant=name, cls="MM", seed=0, step=1)
    back = protocol.read_generator_metrics(csv)
    assert len(back) == 2 * len(tables["a"])
    got = back[back.variant == "b"].set_index("metric")
    for m in ("detectability_AUROC", "SID", "FD_bandstats"):
        assert got.value[m] == pytest.approx(_row(tables["b"], m).value)
        assert got.ci_low[m] == pytest.approx(_row(tables["b"], m).ci_low)
    side = protocol.side_by_side(tables)
    assert {"detectability_AUROC", "SID"} <= set(side.metric)
    assert side.set_index("metric").loc["SID", "b"] == pytest.approx(_row(tables["b"], "SID")
                                                                     .value)


def test_recording_the_same_evaluation_twice_replaces_it(tmp_path):
    """Notebook numbers such as "04" are text: a rerun must replace its rows, not add them."""
    table = pd.DataFrame({"metric": ["recon_RMSE", "recon_SAM_deg"], "value": [0.1, 5.0],
                          "floor": [0.0, 0.0], "ci_low": [0.09, 4.0], "ci_high": [0.11, 6.0],
                          "n_synthetic": [4, 4], "n_real": [4, 4]})
    csv = tmp_path / "generator_metrics.csv"
    for wall in (1.0, 2.0):
        protocol.record_generator_metrics(csv, table, notebook="04", family="cyclegan",
                                          variant="rgb_to_hs", cls="both", seed=0, step=3,
                                          wall_s=wall)
    back = protocol.read_generator_metrics(csv)
    assert len(back) == 2 and set(back.notebook) == {"04"} and set(back.wall_s) == {2.0}
