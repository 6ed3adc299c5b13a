"""The generic GAN trainer: one step learns, EMA arithmetic, exact resume, deterministic data."""

import warnings

import numpy as np
import pytest
import torch

from hsilib import config
from hsilib.models import fastgan, losses
from hsilib.runtime import seed_everything
from hsilib.train.gan import GANTrainer, TensorSampler, flip_rotate


def _images(n=10, size=32):
    return torch.rand(n, 16, size, size, generator=torch.Generator().manual_seed(1)) * 2 - 1


def _trainer(model_seed=0, **kw):
    cfg = config.resolve("smoke", "fastgan", spectral_loss_weight=0.5, ngf=4, ndf=4, z_dim=16)
    torch.manual_seed(model_seed)
    G, D = fastgan.build(cfg)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        recon = losses.reconstruction_loss(cfg.n_bands, None)
    obj = losses.FastGANObjective(G, D, z_dim=cfg.z_dim, recon=recon,
                                  spectral_weight=cfg.spectral_loss_weight)
    return GANTrainer(G, D, obj, TensorSampler(_images(), cfg.batch_size, seed=0),
                      cfg_dict=config.to_dict(cfg), log_every=1, **kw)


def test_one_step_changes_weights_and_losses_are_finite():
    seed_everything(0)
    t = _trainer()
    g0 = [p.detach().clone() for p in t.G.parameters()]
    d0 = [p.detach().clone() for p in t.D.parameters()]
    logs = t.train_step()
    assert t.step == 1
    assert all(np.isfinite(v) for v in logs.values())
    assert {"d_loss", "g_loss", "d_rec", "d_spec", "g_spec"} <= set(logs)
    assert any(not torch.equal(a, b) for a, b in zip(g0, t.G.parameters(), strict=True))
    assert any(not torch.equal(a, b) for a, b in zip(d0, t.D.parameters(), strict=True))


def test_ema_is_the_exponential_moving_average_of_the_generator():
    seed_everything(0)
    t = _trainer(ema_decay=0.9)
    assert t.ema_decay_at(1) == 2 / 11 and t.ema_decay_at(10_000) == 0.9  # warm-up, then 0.9
    before = [p.detach().clone() for p in t.G_ema.parameters()]
    t.train_step()
    d = 2 / 11
    for e0, e1, g in zip(before, t.G_ema.parameters(), t.G.parameters(), strict=True):
        assert torch.allclose(e1, d * e0 + (1 - d) * g, atol=1e-6)


def test_resume_reproduces_the_next_step_exactly(tmp_path):
    seed_everything(0)
    t = _trainer()
    t.fit(2, checkpoint=tmp_path / "ck.pt")
    t.fit(3)
    expected = t.history[-1]
    seed_everything(7)  # a different global state and different initial weights...
    resumed = _trainer(model_seed=1).load(tmp_path / "ck.pt")
    assert resumed.step == 2 and len(resumed.history) == 2
    resumed.fit(3)
    assert resumed.history[-1] == expected  # ...and still bit-identical losses
    ck = torch.load(tmp_path / "ck.pt", weights_only=False)
    assert config.from_dict(config.FastGANConfig, ck["config"]).image_size == 32


def test_n_critic_and_callbacks():
    seed_everything(0)
    seen = {}
    t = _trainer(n_critic=2, sample_every=1, eval_every=2, n_samples=3,
                 on_sample=lambda step, imgs: seen.setdefault(step, imgs.shape),
                 on_eval=lambda step, G: {"score": float(step)})
    hist = t.fit(2)
    assert len(hist) == 2 and seen == {1: (3, 16, 32, 32), 2: (3, 16, 32, 32)}
    assert t.evals == [{"step": 2, "score": 2.0}]


def test_sampler_is_a_pure_function_of_seed_and_step():
    imgs = _images(5)
    s = TensorSampler(imgs, 4, seed=3)
    assert torch.equal(s.batch(10), s.batch(10))
    assert not torch.equal(s.batch(10), s.batch(11))
    with pytest.raises(ValueError, match="N x C x H x W"):
        TensorSampler(imgs[0], 4)


def test_flip_rotate_only_permutes_pixels():
    x = torch.rand(3, 16, 8, 8)
    y = flip_rotate(x, np.random.default_rng(0))
    for a, b in zip(x, y, strict=True):
        sa = a.flatten(1).T
        sb = b.flatten(1).T
        assert torch.equal(sa[torch.argsort(sa[:, 0])], sb[torch.argsort(sb[:, 0])])
