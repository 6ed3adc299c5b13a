"""The VAE family: KL and ELBO against closed forms and hand computations, shapes at every
size and band count, one step learns, seeded sampling, the class condition, checkpoints and
exact resume through the generic trainer."""

import json
import math

import numpy as np
import pytest
import torch
from torch.distributions import Normal, kl_divergence

from hsilib import config
from hsilib.data.datasets import BandNormaliser, read_index
from hsilib.models import registry
from hsilib.models.vae import (
    Decoder,
    Encoder,
    VAEObjective,
    kl_standard_normal,
    reparameterise,
    vae_terms,
)
from hsilib.synth import export_synthetic
from hsilib.train.trainer import make_trainer


def _cfg(**kw):
    return config.resolve("smoke", "vae", **kw)


def _images(n=10, size=32, bands=16):
    return torch.rand(n, bands, size, size, generator=torch.Generator().manual_seed(1)) * 2 - 1


def test_kl_matches_closed_form_and_torch_distributions():
    mu = torch.tensor([[0.5, -1.0], [0.0, 0.0]])
    logvar = torch.tensor([[math.log(4.0), 0.0], [0.0, 0.0]])
    # row 0: 0.5 * [(0.25 + 4 - 1 - ln 4) + (1 + 1 - 1 - 0)]; row 1: a standard normal, 0
    want = torch.tensor([0.5 * (3.25 - math.log(4.0) + 1.0), 0.0])
    got = kl_standard_normal(mu, logvar)
    assert torch.allclose(got, want, atol=1e-6)
    g = torch.Generator().manual_seed(0)
    mu, logvar = torch.randn(5, 7, generator=g), torch.randn(5, 7, generator=g)
    ref = kl_divergence(Normal(mu, (0.5 * logvar).exp()), Normal(0.0, 1.0)).sum(-1)
    assert torch.allclose(kl_standard_normal(mu, logvar), ref, atol=1e-5)


def test_loss_terms_of_a_hand_computed_case():
    x = torch.zeros(1, 2, 1, 2)
    x_hat = torch.tensor([[[[1.0, 0.0]], [[0.0, -1.0]]]])  # squared errors 1, 0, 0, 1
    mu, logvar = torch.tensor([[1.0]]), torch.tensor([[0.0]])  # KL = 0.5 * 1
    t = vae_terms(x, x_hat, mu, logvar, kl_weight=0.1)
    assert t["rec"].item() == pytest.approx(0.5)
    assert t["kl"].item() == pytest.approx(0.5)
    assert t["loss"].item() == pytest.approx(0.5 + 0.1 * 0.5)


def test_gaussian_likelihood_is_the_summed_normal_log_prob_plus_kl():
    """likelihood="gaussian", kl_weight 1: per image, the loss is
    -Normal(x_hat, sigma).log_prob(x) summed over every value, plus the KL (the negative ELBO),
    with one learned sigma per band."""
    cfg = _cfg(likelihood="gaussian", kl_weight=1.0)
    obj = VAEObjective(cfg).train(False)
    dec = obj.nets["decoder"]
    with torch.no_grad():
        for d in (dec, obj.ema["decoder"]):  # the score reads the EMA decoder
            d.sigma_raw.copy_(torch.linspace(-2.5, -0.5, cfg.n_bands) / cfg.sigma_lr_mul)
    x = _images(3)
    t = obj.forward_terms(x, sample=False)
    mu, logvar = obj.nets["encoder"](x)
    x_hat = dec(mu)
    sigma = torch.linspace(-2.5, -0.5, cfg.n_bands).exp().view(1, -1, 1, 1)
    nll = -Normal(x_hat, sigma).log_prob(x).flatten(1).sum(1)
    kl = kl_divergence(Normal(mu, (0.5 * logvar).exp()), Normal(0.0, 1.0)).sum(1)
    torch.testing.assert_close(t["rec"], nll, rtol=1e-5, atol=1e-2)
    torch.testing.assert_close(t["loss"], nll + kl, rtol=1e-5, atol=1e-2)
    assert obj.score(x).tolist() == pytest.approx((-(nll + kl)).tolist(), rel=1e-4)
    # the study's likelihood on the same networks: per-value mean MSE + kl_weight x KL
    study = vae_terms(x, x_hat, mu, logvar, kl_weight=0.01)
    torch.testing.assert_close(study["loss"], (x_hat - x).pow(2).flatten(1).mean(1) + 0.01 * kl)
    # sigma is a parameter of the decoder that the step trains, and is logged: Adam's first
    # step moves each band's log sigma by lr x sigma_lr_mul
    tr = make_trainer(cfg, _images(), seed=0, device="cpu")
    before = tr.objective.nets["decoder"].band_log_sigma().detach().clone()
    logs = tr.train_step()
    moved = tr.objective.nets["decoder"].band_log_sigma().detach() - before
    torch.testing.assert_close(moved.abs(), torch.full_like(moved, cfg.lr * cfg.sigma_lr_mul),
                               rtol=1e-3, atol=0)
    assert logs["sigma"] > 0 and "sigma_raw" in dict(tr.objective.nets["decoder"]
                                                      .named_parameters())
    fixed = VAEObjective(_cfg(likelihood="gaussian", learn_sigma=False, sigma_init=0.2))
    assert "sigma_raw" in dict(fixed.nets["decoder"].named_buffers())
    assert fixed.nets["decoder"].band_log_sigma().exp().tolist() == pytest.approx([0.2] * 16)
    assert VAEObjective(_cfg()).nets["decoder"].band_log_sigma() is None


def test_score_is_minus_the_loss_of_a_fixed_tiny_model_at_the_posterior_mean():
    """A 32 px model with every weight zero except the decoder's output bias: mu = logvar = 0
    (KL 0) and every reconstructed value is tanh(b) for band bias b."""
    obj = VAEObjective(_cfg(n_bands=2, latent_dim=3, kl_weight=0.5))
    with torch.no_grad():
        for net in (*obj.nets.values(), *obj.ema.values()):
            for p in net.parameters():
                p.zero_()
        bias = torch.tensor([0.2, -0.4])
        obj.ema["decoder"].to_image.bias.copy_(bias)
    x = torch.zeros(1, 2, 32, 32)
    x[0, 0] = 0.5
    rec = ((math.tanh(0.2) - 0.5) ** 2 + math.tanh(-0.4) ** 2) / 2
    assert obj.score(x).item() == pytest.approx(-rec, rel=1e-5)


def test_reparameterisation_moves_gradients_to_mu_and_logvar():
    mu = torch.zeros(2000, 1, requires_grad=True)
    logvar = torch.full((2000, 1), math.log(9.0), requires_grad=True)
    z = reparameterise(mu, logvar, torch.Generator().manual_seed(0))
    assert z.std().item() == pytest.approx(3.0, rel=0.05)
    z.sum().backward()
    assert torch.all(mu.grad == 1) and logvar.grad.abs().sum() > 0


@pytest.mark.parametrize("size", [32, 64, 128, 256])
@pytest.mark.parametrize("bands", [3, 16])
def test_encoder_and_decoder_shapes(size, bands):
    enc, dec = Encoder(size, bands, 5, 2), Decoder(size, bands, 5, 2)
    mu, logvar = enc(torch.rand(2, bands, size, size))
    assert mu.shape == logvar.shape == (2, 5)
    x = dec(mu)
    assert x.shape == (2, bands, size, size) and x.abs().max() <= 1


def test_bad_size_is_named():
    with pytest.raises(ValueError, match="image_size"):
        Encoder(48, 16, 4, 2)


def test_one_optimiser_step_lowers_the_loss_on_a_fixed_batch():
    torch.manual_seed(0)
    obj = VAEObjective(_cfg(spectral_loss_weight=0.5))
    opt = obj.configure_optimizers()
    assert list(opt) == ["vae"]
    x = _images(8)
    obj.train(False)  # fixed BN statistics: the same function before and after the step

    def loss():
        return obj.forward_terms(x, sample=False)["loss"].mean()

    before = loss()
    opt["vae"].zero_grad()
    before.backward()
    opt["vae"].step()
    assert loss().item() < before.item()


def test_samples_depend_only_on_the_seed():
    torch.manual_seed(0)
    obj = VAEObjective(_cfg())
    a = obj.sample(5, seed=3, batch_size=2)
    torch.manual_seed(123)  # the global state does not matter
    assert torch.equal(a, obj.sample(5, seed=3, batch_size=2)) and a.shape == (5, 16, 32, 32)
    # the latents are drawn before batching: another batch size changes only rounding
    assert torch.allclose(a, obj.sample(5, seed=3, batch_size=5), atol=1e-5)
    assert not torch.equal(a, obj.sample(5, seed=4))
    with pytest.raises(TypeError, match="unconditional"):
        obj.sample(2, seed=0, cls="MM")


def test_conditional_samples_differ_by_class_and_need_one():
    torch.manual_seed(0)
    obj = VAEObjective(_cfg(conditional=True))
    mm, dn = obj.sample(3, seed=0, cls="MM"), obj.sample(3, seed=0, cls="DN")
    assert not torch.allclose(mm, dn)
    assert torch.equal(mm, obj.sample(3, seed=0, cls="MM"))
    with pytest.raises(ValueError, match="cls"):
        obj.sample(3, seed=0)


def test_conditional_trains_on_labels_and_scores_with_the_class():
    data = {"image": _images(), "label": torch.tensor([1, 0] * 5)}
    t = make_trainer(_cfg(conditional=True), data, seed=0, device="cpu")
    logs = t.train_step()
    assert {"rec", "kl", "loss"} <= set(logs)
    s = t.objective.score(_images(3), cls="DN")
    assert s.shape == (3,) and torch.all(s < 0)


def test_checkpoint_round_trip_and_exact_resume(tmp_path):
    cfg = _cfg(spectral_loss_weight=0.2)
    full = make_trainer(cfg, _images(), seed=0, device="cpu", data_ids=[f"c{i}" for i in
                                                                      range(10)])
    full.fit(4)
    part = make_trainer(cfg, _images(), seed=0, device="cpu")
    part.fit(2, checkpoint=tmp_path / "vae.pt")
    resumed = make_trainer(cfg, _images(), seed=1, device="cpu").load(tmp_path / "vae.pt")
    assert resumed.step == 2
    resumed.fit(4)
    for a, b in zip(full.objective.state_dict()["nets"].values(),
                    resumed.objective.state_dict()["nets"].values(), strict=True):
        assert torch.equal(a, b)
    full.save(tmp_path / "full.pt")
    obj, ckpt = registry.load(tmp_path / "full.pt")  # weights_only=True inside
    assert ckpt["family"] == "vae" and isinstance(obj, VAEObjective)
    assert ckpt["config"]["spectral_loss_weight"] == 0.2
    assert torch.equal(obj.sample(3, seed=1), full.objective.sample(3, seed=1))


def test_cvae_export_keeps_the_best_explained_samples_of_the_class(tmp_path):
    """export_synthetic with a class condition: sample(cls=) draws, score(cls=) ranks, and the
    kept crops are the top half by ELBO score."""
    data = {"image": _images(), "label": torch.tensor([1, 0] * 5)}
    t = make_trainer(_cfg(conditional=True), data, seed=0, device="cpu")
    t.fit(2)
    ck = t.save(tmp_path / "cvae.pt")
    rng = np.random.default_rng(0)
    norm = BandNormaliser().fit([rng.uniform(0.05, 0.6, (8, 8, 16)).astype(np.float32)])
    out = tmp_path / "vae_dn"
    table = export_synthetic(ck, out, n=3, cls="DN", normaliser=norm, seed=1, batch_size=2,
                             filter_top_fraction=0.5, condition={"cls": "DN"},
                             generator_name="vae_g0", device="cpu")
    assert len(table) == 3 and (read_index(out).generator == "vae_g0").all()
    side = json.loads((out / "export.json").read_text())
    obj, _ = registry.load(ck)
    scores = obj.score(obj.sample(6, seed=1, batch_size=2, cls="DN"), cls="DN").numpy()
    assert np.allclose(side["scores"], scores, atol=1e-5)
    assert side["kept_indices"] == sorted(np.argsort(-scores, kind="stable")[:3].tolist())
