"""Attributions: a task whose class difference is planted in two known bands and a known region
must be explained there by every method; attributions of a randomised network must differ; the
pieces (IG completeness, ablation's group effects, relevance spectra, cluster-bootstrap means,
rank correlations, the task-aware distance) against hand-computed values and their properties."""

import numpy as np
import pytest
import torch
from scipy.stats import spearmanr

from hsilib.metrics import attribution as at
from hsilib.metrics.protocol import COLUMNS
from hsilib.models.classifiers import SmallCNN

B, S = 16, 16
PLANTED = (3, 11)


def planted_task(n: int, seed: int, cue: bool = True):
    """``n`` crops, half melanoma: noise around 0.5, a darker disc (the lesion) in every crop,
    and, in melanoma crops only, +0.3 in bands 3 and 11 inside the lesion (when ``cue``)."""
    g = torch.Generator().manual_seed(seed)
    y = torch.arange(n) % 2
    yy, xx = torch.meshgrid(torch.arange(S), torch.arange(S), indexing="ij")
    lesion = ((yy - S / 2 + 0.5) ** 2 + (xx - S / 2 + 0.5) ** 2) <= 25
    x = 0.5 + 0.1 * torch.randn(n, B, S, S, generator=g) - 0.2 * lesion
    if cue:
        for b in PLANTED:
            x[:, b] += 0.3 * y.view(-1, 1, 1) * lesion
    return x, y, lesion.expand(n, S, S).clone()


@pytest.fixture(scope="module")
def trained():
    """A small CNN that has learned the planted task (test accuracy 1), and its data."""
    x, y, _ = planted_task(256, 0)
    torch.manual_seed(0)
    model = SmallCNN(B, 2, width=8)
    opt = torch.optim.Adam(model.parameters(), 1e-2)
    for _ in range(8):
        model.train()
        perm = torch.randperm(len(x))
        for i in range(0, len(x), 32):
            idx = perm[i:i + 32]
            loss = torch.nn.functional.cross_entropy(model(x[idx]), y[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
    model.eval()
    xt, yt, lt = planted_task(40, 1)
    assert (model(xt).argmax(1) == yt).float().mean() == 1.0
    return model, xt, yt, lt, x.mean((0, 2, 3)).numpy()


@pytest.mark.parametrize("method", at.METHODS)
def test_planted_bands_rank_first_and_second_and_the_lesion_leads(trained, method):
    model, x, y, lesion, base = trained
    a = at.attribute(model, x, y, method, lesion=lesion, baseline=base, n_steps=16)
    spectra = at.relevance_spectra(a, lesion, ~lesion, magnitude=True)  # N x 2 x B
    per_band = spectra.sum(1).mean(0)
    assert set(np.argsort(-per_band)[:2]) == set(PLANTED), (method, per_band.round(3))
    lesion_share, skin_share = spectra.sum(2).mean(0)
    assert lesion_share > skin_share, method


@pytest.mark.parametrize("method", at.METHODS)
def test_a_randomised_network_gives_other_attributions(trained, method):
    model, x, y, lesion, base = trained
    kw = dict(lesion=lesion, baseline=base, n_steps=16)
    a = at.attribute(model, x, y, method, **kw)
    r = at.attribute(at.randomised_copy(model, seed=1), x, y, method, **kw)
    rho = at.rank_correlation(a, r)
    assert np.nanmean(rho) < 0.5, (method, np.nanmean(rho))
    assert not torch.equal(a, r)


def test_randomised_copy_reinitialises_every_layer_and_leaves_the_model(trained):
    model = trained[0]
    before = {k: v.clone() for k, v in model.state_dict().items()}
    r = at.randomised_copy(model, seed=3)
    assert all(torch.equal(v, model.state_dict()[k]) for k, v in before.items())
    changed = [k for k, v in r.state_dict().items() if v.dtype.is_floating_point
               and not torch.equal(v, before[k])]
    assert any(k.startswith("stem.0") for k in changed) and any("head" in k for k in changed)
    assert torch.equal(r.stem[1].running_mean, torch.zeros_like(r.stem[1].running_mean))
    assert torch.equal(at.randomised_copy(model, 3).head.weight, r.head.weight)  # seeded


def test_integrated_gradients_are_complete(trained):
    model, x, y, _, base = trained
    a = at.attribute(model, x[:4], y[:4], "ig", baseline=base, n_steps=128)
    margin = at.prepare(model)
    with torch.no_grad():
        m_x = margin(x[:4]).gather(1, y[:4, None])[:, 0]
        m_0 = margin(at.baseline_like(x[:4], base)).gather(1, y[:4, None])[:, 0]
    np.testing.assert_allclose(a.flatten(1).sum(1).numpy(), (m_x - m_0).numpy(), rtol=0.05,
                               atol=0.05)


def test_ablation_puts_each_group_effect_on_its_pixels(trained):
    model, x, y, lesion, base = trained
    a = at.attribute(model, x[:2], y[:2], "ablation", lesion=lesion[:2], baseline=base)
    margin = at.prepare(model)
    band = PLANTED[0]
    ablated = x[:2].clone()
    ablated[:, band][lesion[:2]] = float(base[band])
    with torch.no_grad():
        effect = (margin(x[:2]) - margin(ablated)).gather(1, y[:2, None])[:, 0]
    got = (a[:, band] * lesion[:2]).sum((1, 2))
    np.testing.assert_allclose(got.numpy(), effect.numpy(), rtol=1e-4, atol=1e-5)
    inside = a[0, band][lesion[0]]
    assert torch.allclose(inside, inside[0].expand_as(inside))  # spread evenly


def test_relevance_spectra_by_hand():
    a = torch.zeros(1, 2, 2, 2)
    a[0, 0, 0, 0], a[0, 1, 0, 1], a[0, 1, 1, 1] = 2.0, -1.0, 1.0
    lesion = torch.tensor([[[True, True], [False, False]]])
    skin = ~lesion
    signed = at.relevance_spectra(a, lesion, skin)
    mag = at.relevance_spectra(a, lesion, skin, magnitude=True)
    np.testing.assert_allclose(signed[0], [[0.5, -0.25], [0.0, 0.25]])
    np.testing.assert_allclose(mag[0], [[0.5, 0.25], [0.0, 0.25]])
    assert mag.sum() == pytest.approx(1.0)


def test_mean_with_interval_resamples_whole_sources():
    values = np.array([0.0, 0.0, 1.0, 1.0])  # two sources, two crops each
    mean, lo, hi = at.mean_with_interval(values, ["a", "a", "b", "b"], n_boot=400, seed=0)
    assert mean == pytest.approx(0.5) and lo == pytest.approx(0.0) and hi == pytest.approx(1.0)
    w = np.array([[1.0, 2.0], [3.0, 4.0]])
    m, lo, hi = at.mean_with_interval(w[:, None, :], ["a", "b"], n_boot=50)
    assert m.shape == lo.shape == (1, 2) and np.allclose(m, [[2.0, 3.0]])
    with pytest.raises(ValueError, match="no values"):
        at.mean_with_interval(np.zeros((0, 3)), [])


def test_rank_correlation_is_spearman_per_crop():
    g = torch.Generator().manual_seed(0)
    a, b = torch.randn(3, 2, 4, 4, generator=g), torch.randn(3, 2, 4, 4, generator=g)
    b[0] = a[0] * 2 + 1
    rho = at.rank_correlation(a, b)
    for i in range(3):
        assert rho[i] == pytest.approx(spearmanr(a[i].flatten(), b[i].flatten())[0])
    assert rho[0] == pytest.approx(1.0)
    rho_abs = at.rank_correlation(a, -a, absolute=True)
    assert np.allclose(rho_abs, 1.0)


def test_relevance_distance_is_zero_for_the_same_evidence_and_grows_with_a_shift():
    rng = np.random.default_rng(0)
    real = rng.normal(0, 0.01, (40, 2, B))
    real[:, 0, 3] += 0.2
    held = rng.normal(0, 0.01, (30, 2, B))
    held[:, 0, 3] += 0.2
    assert at.spectrum_distance(real, real) == 0.0
    same = at.relevance_distance(real[:20], real[20:], held, n_repeats=3, n_boot=200)
    moved = real[:20].copy()
    moved[:, 0, 3] -= 0.2  # the cue is gone
    lost = at.relevance_distance(moved, real[20:], held, n_repeats=3, n_boot=200)
    assert set(COLUMNS) <= set(same)
    assert same["excess_low"] <= 0 <= same["excess_high"]  # as close as real crops
    assert 0 < lost["excess_low"] and lost["floor"] < lost["ci_low"] <= lost["ci_high"]
    assert lost["excess"] == pytest.approx(0.1, abs=0.02)  # half of |0.2|, beyond the noise
    assert same["ci_low"] <= same["value"] + 0.01  # the value's interval leans upwards
    assert 0 <= same["value"] <= 1 and lost["kind"] == "task-aware"
    with pytest.raises(ValueError, match="at least 2 crops"):
        at.relevance_distance(real[:1], real, held)


def test_task_aware_distance_tells_a_set_without_the_cue(trained):
    model, *_ = trained
    x, y, lesion = planted_task(48, 2)
    mm = y == 1
    train, held = x[mm][:12], x[mm][12:]
    no_cue, _, _ = planted_task(24, 3, cue=False)
    kw = dict(label=1, method="ablation", n_repeats=2, n_boot=200,
              masks={"real_train": lesion[mm][:12], "real_heldout": lesion[mm][12:]})
    copies = at.task_aware_distance(model, x[mm][:12], train, held,
                                    **{**kw, "masks": {**kw["masks"],
                                                       "synthetic": lesion[mm][:12]}})
    lost = at.task_aware_distance([model, model], no_cue[1::2], train, held, **kw)
    assert list(copies.columns) == COLUMNS and len(copies) == 1
    assert copies.loc[0, "metric"] == "relevance_distance_ablation"
    assert copies.loc[0, "value"] == pytest.approx(copies.loc[0, "floor"])  # the same crops
    assert lost.loc[0, "ci_low"] > lost.loc[0, "floor"]
    assert "value - floor" in lost.loc[0, "note"]


def test_bad_input_is_refused_early_with_names():
    model = SmallCNN(B, 2, width=4)
    x = torch.rand(2, B, S, S)
    with pytest.raises(ValueError, match="method must be one of"):
        at.attribute(model, x, [0, 1], "lime")
    with pytest.raises(ValueError, match="0 \\(DN\\) or 1 \\(MM\\)"):
        at.attribute(model, x, [0, 2], "ig")
    with pytest.raises(ValueError, match="one label each"):
        at.attribute(model, x, [0], "ig")
    with pytest.raises(ValueError, match="one value per band"):
        at.baseline_like(x, [0.5, 0.5])
    with pytest.raises(ValueError, match="no 2-D convolution"):
        at.last_conv_block(torch.nn.Linear(2, 2))


def test_last_conv_block_and_maps_have_the_crop_shape():
    model = SmallCNN(B, 2, width=4).eval()
    assert at.last_conv_block(model) is model.features[-1]
    plain = torch.nn.Sequential(torch.nn.Conv2d(B, 4, 3), torch.nn.ReLU(),
                                torch.nn.Conv2d(4, 4, 3))
    assert at.last_conv_block(plain) is plain[2]
    x = torch.rand(3, B, S, S)
    for method in at.METHODS:
        m = at.spatial_map(model, x, [0, 1, 1], method, window=4, n_steps=4)
        assert m.shape == (3, S, S) and torch.isfinite(m).all()
    assert (at.spatial_map(model, x, [0, 1, 1], "gradcam") >= 0).all()  # ReLU of Grad-CAM
