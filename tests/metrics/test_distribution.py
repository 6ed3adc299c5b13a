"""Distribution metrics against torchmetrics and brute-force references on small sets."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.linalg
import torch
from torchmetrics.image.fid import FrechetInceptionDistance
from torchvision.models import inception_v3

from hsilib.metrics import distribution as dist


@pytest.fixture(scope="module")
def extractor():
    return dist.Inception16(feature_size=75, seed=0)


@pytest.fixture(scope="module")
def image_sets():
    g = torch.Generator().manual_seed(0)
    real = torch.rand(8, 16, 32, 32, generator=g)
    fake = (torch.rand(6, 16, 32, 32, generator=g) * 0.8 + 0.1).clamp(0, 1)
    return real, fake


def _fd_reference(a: np.ndarray, b: np.ndarray) -> float:
    s1, s2 = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    root = scipy.linalg.sqrtm(s1 @ s2).real
    return float(((a.mean(0) - b.mean(0)) ** 2).sum() + np.trace(s1 + s2 - 2 * root))


class _Recorded(torch.nn.Module):
    """The extractor's first ``num_features`` features, recording every output so that our
    Frechet distance sees exactly the features torchmetrics saw (one Inception pass per image:
    this CPU is small; the slow test uses all 2048 features)."""

    def __init__(self, net, num_features):
        super().__init__()
        self.net, self.num_features, self.outputs = net, num_features, []

    def forward(self, x):
        out = self.net(x)[:, : self.num_features]
        self.outputs.append(out)
        return out


def _check_fd_against_torchmetrics(feature, real, fake):
    tm = FrechetInceptionDistance(feature=feature)
    tm.update(real, real=True)
    tm.update(fake, real=False)
    fr, ff = feature.outputs
    ours = dist.frechet_distance(fr, ff)
    assert ours.value == pytest.approx(float(tm.compute()), rel=1e-3)
    assert (ours.n_real, ours.n_fake) == (len(real), len(fake))
    assert ours.value > 0
    # and the streaming extractor reproduces those features batch by batch
    again = dist.extract_features(fake, feature, batch_size=3)
    np.testing.assert_allclose(again, ff.double().numpy(), rtol=1e-4, atol=1e-6)


def test_frechet_equals_torchmetrics_fid(extractor, image_sets):
    _check_fd_against_torchmetrics(_Recorded(extractor, 256), *image_sets)


@pytest.mark.slow
def test_frechet_equals_torchmetrics_fid_2048(extractor, image_sets):
    _check_fd_against_torchmetrics(_Recorded(extractor, 2048), *image_sets)


@pytest.mark.parametrize("n1,n2,d", [(30, 25, 6), (6, 5, 40)])
def test_frechet_routes_match_sqrtm(n1, n2, d):
    """Both internal routes (eigh for n > d, SVD of X1 X2^T for n < d) equal sqrtm."""
    rng = np.random.default_rng(0)
    a = rng.standard_normal((n1, d))
    b = rng.standard_normal((n2, d)) * 1.5 + 0.3
    assert dist.frechet_distance(a, b).value == pytest.approx(_fd_reference(a, b), rel=1e-6)
    assert dist.frechet_distance(a, a).value == pytest.approx(0.0, abs=1e-8)


def _mmd_poly_brute(x, y):
    d = x.shape[1]

    def k(u, v):
        return (float(u @ v) / d + 1) ** 3

    m = len(x)
    kxx = sum(k(x[i], x[j]) for i in range(m) for j in range(m) if i != j) / (m * (m - 1))
    kyy = sum(k(y[i], y[j]) for i in range(m) for j in range(m) if i != j) / (m * (m - 1))
    kxy = sum(k(x[i], y[j]) for i in range(m) for j in range(m)) / (m * m)
    return kxx + kyy - 2 * kxy


def test_kid_brute_force():
    rng = np.random.default_rng(1)
    x, y = rng.standard_normal((9, 5)), rng.standard_normal((9, 5)) + 0.5
    # subsets of the full size are permutations: every subset gives the full-set MMD
    s = dist.kid(x, y, n_subsets=3, subset_size=50)
    assert s.value == pytest.approx(_mmd_poly_brute(x, y), rel=1e-10)
    assert s.std == pytest.approx(0.0, abs=1e-10) and s.extra["subset_size"] == 9
    small = dist.kid(x[:8], y[:6], n_subsets=4, subset_size=5, seed=1)
    assert small.extra["subset_size"] == 5 and small.std > 0


def _knn_radii_brute(x, k):
    return np.array([sorted(np.linalg.norm(x - p, axis=1))[k] for p in x])


def test_precision_recall_density_coverage_brute_force():
    rng = np.random.default_rng(2)
    real = rng.standard_normal((15, 4))
    fake = rng.standard_normal((11, 4)) * 0.7 + 0.6
    k = 3
    rr, rf = _knn_radii_brute(real, k), _knn_radii_brute(fake, k)
    prec = np.mean([any(np.linalg.norm(f - r) <= rr[i] for i, r in enumerate(real)) for f in fake])
    rec = np.mean([any(np.linalg.norm(r - f) <= rf[j] for j, f in enumerate(fake)) for r in real])
    dens = sum(np.linalg.norm(f - r) <= rr[i] for i, r in enumerate(real) for f in fake) / (
        k * len(fake))
    cov = np.mean([any(np.linalg.norm(f - r) <= rr[i] for f in fake) for i, r in enumerate(real)])
    p, r = dist.precision_recall(real, fake, k=k)
    d, c = dist.density_coverage(real, fake, k=k)
    assert (p.value, r.value, d.value, c.value) == pytest.approx((prec, rec, dens, cov))
    assert 0 < p.value < 1 and 0 < r.value < 1  # the case is not trivial
    assert (p.n_real, p.n_fake) == (15, 11)


def test_weight_loading_adapts_3_channel_checkpoint(tmp_path, monkeypatch):
    torch.manual_seed(123)
    ref = inception_v3(weights=None, aux_logits=False, init_weights=False).state_dict()
    ref = {k: (torch.randn_like(v) if v.is_floating_point() else v) for k, v in ref.items()}
    path = tmp_path / "inception_rgb.pt"
    torch.save(ref, path)
    net = dist.Inception16(weights=path, feature_size=75)
    assert net.score_name == "FID"
    own = net.net.state_dict()
    stem = ref["Conv2d_1a_3x3.conv.weight"]
    expected = torch.cat([stem] * 6, dim=1)[:, :16] * (3 / 16)
    assert torch.equal(own["Conv2d_1a_3x3.conv.weight"], expected)
    for key in ("Mixed_7c.branch_pool.conv.weight", "Mixed_5b.branch1x1.bn.running_var",
                "Conv2d_2a_3x3.bn.weight"):
        assert torch.equal(own[key], ref[key])
    # the environment variable is the fallback
    monkeypatch.setenv(dist.WEIGHTS_ENV, str(path))
    assert dist.Inception16(feature_size=75).score_name == "FID"
    with pytest.raises(FileNotFoundError, match="missing.pt"):
        dist.Inception16(weights=tmp_path / "missing.pt")


def test_random_init_is_fixed_and_leaves_global_rng(monkeypatch):
    monkeypatch.delenv(dist.WEIGHTS_ENV, raising=False)
    torch.manual_seed(0)
    state = torch.get_rng_state()
    a = dist.Inception16(feature_size=75, seed=3)
    assert torch.equal(torch.get_rng_state(), state)
    torch.manual_seed(99)
    b = dist.Inception16(feature_size=75, seed=3)
    assert a.score_name == "FD_rand"
    for (ka, va), (_, vb) in zip(a.state_dict().items(), b.state_dict().items(), strict=True):
        assert torch.equal(va, vb), ka


class _BandStats(torch.nn.Module):
    """A cheap feature module (per-band mean and std) for the streaming checks."""

    def forward(self, x):
        return torch.cat([x.mean(dim=(2, 3)), x.std(dim=(2, 3))], dim=1)


def test_streaming_sources_agree(image_sets):
    real = image_sets[0]
    feature = _BandStats()
    from_tensor = dist.extract_features(real, feature, batch_size=3)
    as_dicts = [{"image": img, "label": 0} for img in real]  # a Dataset-like list of dicts
    from_list = dist.extract_features(as_dicts, feature, batch_size=5)
    from_iter = dist.extract_features((img.numpy() for img in real), feature, batch_size=4)
    batches = dist.extract_features([real[:5], real[5:]], feature)  # an iterable of batches
    assert from_tensor.shape == (8, 32)
    np.testing.assert_allclose(from_tensor, feature(real).double().numpy(), rtol=1e-6)
    for other in (from_list, from_iter, batches):
        np.testing.assert_allclose(other, from_tensor, rtol=1e-6)


def test_spectral_frechet_distance_mean_shift():
    g = torch.Generator().manual_seed(0)
    real = torch.rand(4, 16, 8, 8, generator=g)
    shift = torch.linspace(0, 0.2, 16).view(1, 16, 1, 1)
    masks = torch.zeros(4, 1, 8, 8)
    masks[:, :, 2:6, 2:6] = 1
    scores = dist.spectral_frechet_distance(real, real + shift, real_masks=masks,
                                            fake_masks=masks, n_pixels=10_000)
    assert [s.metric for s in scores] == ["FD_spectral_lesion", "FD_spectral_skin"]
    for s in scores:  # covariances equal, means differ by the shift
        assert s.value == pytest.approx(float((shift**2).sum()), rel=1e-6)
        assert (s.n_real, s.n_fake) == (4, 4)
    assert scores[0].extra["n_pixels_real"] == 4 * 16


def test_lesion_masks_find_dark_blob():
    img = torch.full((1, 16, 20, 20), 0.6)
    img[:, :, 5:12, 6:14] = 0.1
    m = dist.lesion_masks(img)
    assert m.shape == (1, 20, 20) and int(m.sum()) == 7 * 8


def _lesion_in_a_field():
    """Bright skin, a dark lesion, and zero corners outside the dermoscope's field."""
    img = torch.full((1, 16, 20, 20), 0.6)
    img[:, :, 8:13, 8:14] = 0.15
    img[:, :, :4, :4] = 0.0
    img[:, :, 16:, 15:] = 0.002  # near zero: sensor noise outside the field
    return img


def test_field_masks_leave_out_near_zero_spectra():
    field = dist.field_masks(_lesion_in_a_field())[0]
    assert not field[:4, :4].any() and not field[16:, 15:].any()
    assert int(field.sum()) == 400 - 16 - 20


def test_lesion_masks_never_count_out_of_field_pixels():
    img = _lesion_in_a_field()
    m = dist.lesion_masks(img)[0]
    # only the lesion: Otsu's threshold over in-field pixels separates lesion from skin
    want = torch.zeros(20, 20, dtype=torch.bool)
    want[8:13, 8:14] = True
    assert torch.equal(m, want)
    # a threshold over all pixels (corners included) would call the corners lesion
    from hsilib.data.preprocess import otsu_threshold

    mean = img.mean(1)[0]
    assert (mean < otsu_threshold(mean.flatten().double().numpy(), bins=128))[:4, :4].all()
    # an image with no lesion-vs-skin contrast inside the field: no lesion pixels at all
    flat = torch.full((1, 16, 10, 10), 0.5)
    flat[..., :2, :] = 0
    assert not dist.lesion_masks(flat).any()


def test_region_masks_prefer_drawn_masks_and_stay_in_the_field():
    img = _lesion_in_a_field().expand(2, -1, -1, -1).clone()
    drawn = torch.zeros(2, 1, 20, 20)
    drawn[0, :, :6, :6] = 1  # drawn over a corner: the out-of-field part is dropped
    lesion, skin = dist.region_masks(img, drawn)
    assert int(lesion[0].sum()) == 36 - 16 and not lesion[0, :4, :4].any()
    assert torch.equal(lesion[1], dist.lesion_masks(img[1:])[0])  # empty drawn mask: computed
    field = dist.field_masks(img)
    assert torch.equal(lesion | skin, field) and not (lesion & skin).any()


def test_gaussian_frechet_distance_equals_the_sample_version():
    rng = np.random.default_rng(3)
    a = rng.normal(0, 1, (500, 6))
    b = rng.normal(0.3, 1.5, (400, 6)) @ rng.normal(0, 1, (6, 6))
    moments = [(x.mean(0), np.cov(x, rowvar=False)) for x in (a, b)]
    assert dist.gaussian_frechet_distance(*moments[0], *moments[1]) == pytest.approx(
        dist.frechet_distance(a, b).value, rel=1e-9)
    # hand case: equal covariances, means 3 apart along one axis
    assert dist.gaussian_frechet_distance(np.zeros(2), np.eye(2), [3.0, 0.0], np.eye(2)) == (
        pytest.approx(9.0))
