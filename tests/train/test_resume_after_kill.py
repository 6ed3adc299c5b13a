"""Training killed mid-run resumes from its last checkpoint and ends exactly where an
uninterrupted run ends (CPU): the same weights, optimiser state and history."""

import warnings

import pandas as pd
import pytest
import torch

from hsilib import config
from hsilib.data.datasets import Crops
from hsilib.runtime import seed_everything
from hsilib.train import classifier as C
from hsilib.train.trainer import Trainer, make_trainer


class Killed(Exception):
    """Stands in for the process being killed."""


def _equal_states(a, b):
    if isinstance(a, torch.Tensor):
        return isinstance(b, torch.Tensor) and torch.equal(a, b)
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(_equal_states(a[k], b[k]) for k in a)
    if isinstance(a, (list, tuple)):
        return len(a) == len(b) and all(_equal_states(x, y) for x, y in zip(a, b, strict=True))
    return a == b


# -- GAN ----------------------------------------------------------------------------------------
def _gan(seed=0):
    cfg = config.resolve("smoke", "fastgan", ngf=4, ndf=4, z_dim=16, checkpoint_every=2)
    images = torch.rand(8, 16, 32, 32, generator=torch.Generator().manual_seed(3)) * 2 - 1
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # no LPIPS weights: the documented fallback
        t = make_trainer(cfg, images, seed=seed, device="cpu", log_every=1)
        t.objective.recon  # noqa: B018  (built inside the filter)
    return t


def test_gan_killed_mid_run_resumes_exactly(tmp_path, monkeypatch):
    seed_everything(0)
    full = _gan()
    full.fit(4, checkpoint=tmp_path / "full.pt")

    seed_everything(0)
    killed = _gan()
    real_step = Trainer.train_step

    def dies_at_step_3(self):
        if self.step == 2:  # the checkpoint of step 2 is on disk; step 3 never finishes
            raise Killed
        return real_step(self)

    monkeypatch.setattr(Trainer, "train_step", dies_at_step_3)
    with pytest.raises(Killed):
        killed.fit(4, checkpoint=tmp_path / "run.pt")
    monkeypatch.setattr(Trainer, "train_step", real_step)

    seed_everything(99)  # a fresh process: other global random state, other initial weights
    resumed = _gan(seed=5).load(tmp_path / "run.pt")
    assert resumed.step == 2
    resumed.fit(4, checkpoint=tmp_path / "run.pt")
    assert resumed.history == full.history
    assert _equal_states(resumed.objective.state_dict(), full.objective.state_dict())
    assert _equal_states({k: o.state_dict() for k, o in resumed.optimizers.items()},
                         {k: o.state_dict() for k, o in full.optimizers.items()})


# -- classifier ---------------------------------------------------------------------------------
def _crops(n, seed):
    g = torch.Generator().manual_seed(seed)
    labels = torch.arange(n) % 2
    images = torch.rand(n, 16, 16, 16, generator=g)
    images[labels == 1, :6] *= 0.5
    return Crops(images, labels, tuple(f"c{seed}_{i}" for i in range(n)),
                 torch.zeros(n, dtype=torch.bool))


def test_classifier_killed_mid_run_resumes_exactly(tmp_path, monkeypatch):
    cfg = config.resolve("smoke", "classifier", epochs=4, patience=4, batch_size=4)
    train, val = _crops(12, 0), _crops(8, 1)
    kw = dict(augment=True, balanced=True, device="cpu")  # every random state in play
    model_a, hist_a = C.train_classifier(cfg, train, val, 3, **kw)

    real = C.selection_score
    calls = {"n": 0}

    def dies_in_epoch_3(*a):
        calls["n"] += 1
        if calls["n"] == 3:
            raise Killed
        return real(*a)

    monkeypatch.setattr(C, "selection_score", dies_in_epoch_3)
    ck = tmp_path / "clf.pt"
    with pytest.raises(Killed):
        C.train_classifier(cfg, train, val, 3, checkpoint=ck, **kw)
    monkeypatch.setattr(C, "selection_score", real)
    assert torch.load(ck, weights_only=True)["epoch"] == 1  # epochs 0 and 1 done

    seed_everything(1234)  # a fresh process
    model_b, hist_b = C.train_classifier(cfg, train, val, 3, checkpoint=ck, **kw)
    pd.testing.assert_frame_equal(hist_a, hist_b)
    assert _equal_states(model_a.state_dict(), model_b.state_dict())
    # a finished checkpoint returns the same model without training again
    model_c, hist_c = C.train_classifier(cfg, train, val, 3, checkpoint=ck, **kw)
    pd.testing.assert_frame_equal(hist_a, hist_c)
    assert _equal_states(model_a.state_dict(), model_c.state_dict())
    # another run's checkpoint is refused, naming the file
    with pytest.raises(ValueError, match=rf"{ck} comes from another training run.*seed"):
        C.train_classifier(cfg, train, val, 4, checkpoint=ck, **kw)
