"""The generic trainer with FastGAN: one step learns, EMA arithmetic, exact resume, schedules,
deterministic dict batches, checkpoints that load with weights_only=True."""

import warnings

import numpy as np
import pytest
import torch

from hsilib import config
from hsilib.models import registry
from hsilib.models.fastgan import FastGANObjective
from hsilib.runtime import seed_everything
from hsilib.train.trainer import linear_decay, make_trainer


def _images(n=10, size=32):
    return torch.rand(n, 16, size, size, generator=torch.Generator().manual_seed(1)) * 2 - 1


def _cfg(**kw):
    return config.resolve("smoke", "fastgan", **{"spectral_loss_weight": 0.5, "ngf": 4,
                                                 "ndf": 4, "z_dim": 16, **kw})


def _trainer(model_seed=0, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # no LPIPS backbone: the L1 + (1 - SSIM) fallback
        t = make_trainer(_cfg(), _images(), seed=model_seed, device="cpu", log_every=1, **kw)
        t.objective.recon  # built now, inside the warning filter  # noqa: B018
    return t


def test_one_step_changes_weights_and_logs_every_loss():
    seed_everything(0)
    t = _trainer()
    G, D = t.objective.nets["G"], t.objective.nets["D"]
    g0 = [p.detach().clone() for p in G.parameters()]
    d0 = [p.detach().clone() for p in D.parameters()]
    logs = t.train_step()
    assert t.step == 1 and logs["step"] == 1
    assert all(np.isfinite(v) for v in logs.values())
    assert {"d_loss", "g_loss", "d_rec", "d_real", "d_fake", "d_spec", "g_spec"} <= set(logs)
    assert logs["d_loss"] == pytest.approx(
        logs["d_real"] + logs["d_fake"] + logs["d_rec"] + 0.5 * logs["d_spec"], rel=1e-5)
    assert logs["g_loss"] == pytest.approx(logs["g_adv"] + 0.5 * logs["g_spec"], rel=1e-5)
    assert any(not torch.equal(a, b) for a, b in zip(g0, G.parameters(), strict=True))
    assert any(not torch.equal(a, b) for a, b in zip(d0, D.parameters(), strict=True))


def test_ema_is_the_exponential_moving_average_of_the_generator():
    seed_everything(0)
    t = _trainer(ema_decay=0.9)
    assert t.ema_decay_at(1) == 2 / 11 and t.ema_decay_at(10_000) == 0.9  # warm-up, then 0.9
    ema, G = t.objective.ema["G"], t.objective.nets["G"]
    before = [p.detach().clone() for p in ema.parameters()]
    t.train_step()
    d = 2 / 11
    for e0, e1, g in zip(before, ema.parameters(), G.parameters(), strict=True):
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
    ck = torch.load(tmp_path / "ck.pt", weights_only=True)  # plain tensors and containers only
    assert ck["family"] == "fastgan"
    assert config.from_dict(config.FastGANConfig, ck["config"]) == _cfg()


def test_a_finished_training_loaded_again_still_reports_its_speed(tmp_path, monkeypatch):
    # a resumed dry run skips trainings finished before the interruption: their records (and
    # so the plan's rows) come from the train_step seconds kept in the checkpoint
    from hsilib.train import watch

    monkeypatch.setattr(watch, "RECORDS", [])
    t = _trainer()
    t.fit(2, checkpoint=tmp_path / "ck.pt")
    first = watch.RECORDS[-1]
    assert first["done"] == 2 and t.timed_steps == 2 and 0 < t.train_seconds <= first["seconds"]
    again = _trainer(model_seed=1).load(tmp_path / "ck.pt")
    assert (again.timed_steps, again.train_seconds) == (2, t.train_seconds)
    again.fit(2, checkpoint=tmp_path / "ck.pt")  # nothing left to train
    loaded = watch.RECORDS[-1]
    assert len(watch.RECORDS) == 2 and loaded["done"] == 2
    assert loaded["seconds"] == pytest.approx(t.train_seconds, abs=1e-4)
    assert "checkpoint" in loaded["timing"] and "this run" in first["timing"]
    again.fit(2)  # recorded once: a second call that trains nothing adds no row
    assert len(watch.RECORDS) == 2
    again.fit(3)  # one more step: timing goes on adding up
    assert again.timed_steps == 3 and watch.RECORDS[-1]["done"] == 1
    t.fit(2)  # a training of this process that is already there adds no row either
    assert len(watch.RECORDS) == 3


def test_fit_trains_for_the_configs_steps_by_default():
    t = _trainer()
    assert t.objective.cfg.steps == 3
    t.fit()
    assert t.step == 3 and len(t.history) == 3
    t.fit()  # already there: nothing more
    assert t.step == 3
    with pytest.raises(ValueError, match="steps must be >= 0"):
        t.fit(-1)


def test_resume_refuses_another_config(tmp_path):
    _trainer().save(tmp_path / "ck.pt")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        other = make_trainer(_cfg(ngf=8), _images(), device="cpu")
    with pytest.raises(ValueError, match=r"differs in \['ngf'\]"):
        other.load(tmp_path / "ck.pt")


def test_registry_loads_the_checkpoint_and_samples_the_ema(tmp_path):
    seed_everything(0)
    t = _trainer()
    t.fit(2, checkpoint=tmp_path / "ck.pt")
    loaded, ck = registry.load(tmp_path / "ck.pt")
    assert isinstance(loaded, FastGANObjective) and ck["step"] == 2
    a = loaded.sample(5, seed=3, batch_size=2)
    b = t.objective.sample(5, seed=3, batch_size=2)
    assert a.shape == (5, 16, 32, 32) and torch.equal(a, b)
    assert not torch.allclose(a, loaded.sample(5, seed=4))
    assert not torch.allclose(a, loaded.sample(5, seed=3, ema=False))  # EMA != trained G
    with pytest.raises(TypeError, match="unconditional"):
        loaded.sample(2, seed=0, label=1)


def test_every_logged_key_reaches_the_progress_bar(monkeypatch):
    shown = []

    class Bar:
        def update(self, n):
            pass

        def set_postfix(self, values, refresh=False):
            shown.append(set(values))

        def close(self):
            pass

    monkeypatch.setattr("hsilib.train.trainer.progress", lambda **kw: Bar())
    t = _trainer()
    t.fit(1)
    assert shown == [set(t.history[0]) - {"step"}]


def test_n_samples_and_callbacks():
    seed_everything(0)
    seen = {}
    t = _trainer(sample_every=1, eval_every=2, n_samples=3,
                 on_sample=lambda step, imgs: seen.setdefault(step, imgs.shape),
                 on_eval=lambda step, objective: {"score": float(step)})
    hist = t.fit(2)
    assert len(hist) == 2 and seen == {1: (3, 16, 32, 32), 2: (3, 16, 32, 32)}
    assert t.evals == [{"step": 2, "score": 2.0}]


def test_learning_rate_schedule_is_applied_per_step():
    sched = linear_decay(total=4, start=2)
    assert [sched(s) for s in range(5)] == [1.0, 1.0, 1.0, 0.5, 0.0]
    t = _trainer(lr_schedule=sched)
    lr0 = t.optimizers["G"].param_groups[0]["initial_lr"]
    for _ in range(4):
        t.train_step()
    assert t.optimizers["G"].param_groups[0]["lr"] == pytest.approx(0.5 * lr0)
    assert [h.get("lr_factor", 1.0) for h in t.history] == [1.0, 1.0, 1.0, 0.5]
    with pytest.raises(ValueError, match="start < total"):
        linear_decay(total=3, start=3)


def test_make_trainer_checks_the_image_shape():
    with pytest.raises(ValueError, match=r"asks for \(16, 32, 32\)"):
        make_trainer(_cfg(), _images(size=16), device="cpu")


def test_registry_refuses_unknown_families_configs_and_files(tmp_path):
    with pytest.raises(KeyError, match="unknown generator family 'nope'; registered: .*fastgan"):
        registry.family("nope")
    with pytest.raises(ValueError, match="family must be 'other'"):
        registry.register("other", config.FastGANConfig, FastGANObjective)
    with pytest.raises(TypeError, match="names no generator family"):
        registry.build(config.GeneratorConfig())
    with pytest.raises(TypeError, match="family 'fastgan' takes a FastGANConfig"):
        class Fake(config.GeneratorConfig):
            family = "fastgan"
        registry.build(Fake())
    torch.save({"weights": torch.zeros(1)}, tmp_path / "other.pt")
    with pytest.raises(ValueError, match="other.pt is not a generator checkpoint"):
        registry.load(tmp_path / "other.pt")
    with pytest.raises(FileNotFoundError, match="missing.pt does not exist"):
        registry.load(tmp_path / "missing.pt")
