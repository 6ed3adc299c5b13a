"""The classic GAN families: losses against their formulas, AC-GAN samples carry the
requested label (the generator's class embedding decides, and a briefly trained auxiliary
head reads it back)."""

import pytest
import torch
import torch.nn.functional as F

from hsilib import config
from hsilib.data.samplers import TensorSampler
from hsilib.models import registry
from hsilib.models.classic import ClassicGANObjective
from hsilib.train.trainer import Trainer


def _cfg(variant, **kw):
    return config.resolve("smoke", "classic", variant=variant, **kw)


def test_dcgan_and_sngan_losses_are_their_formulas():
    torch.manual_seed(0)
    for variant in ("dcgan", "sngan"):
        obj = ClassicGANObjective(_cfg(variant))
        real, fake = torch.rand(3, 16, 32, 32) * 2 - 1, torch.rand(3, 16, 32, 32) * 2 - 1
        D = obj.nets["D"].eval()
        loss, _ = obj.d_loss(real, fake)
        dr, df = D(real), D(fake)
        if variant == "sngan":
            want = F.relu(1 - dr).mean() + F.relu(1 + df).mean()
            want_g = -df.mean()
        else:
            want = -F.logsigmoid(dr).mean() - torch.log1p(-torch.sigmoid(df)).mean()
            want_g = -F.logsigmoid(df).mean()
        torch.testing.assert_close(loss, want, atol=1e-5, rtol=1e-5)
        torch.testing.assert_close(obj.g_loss(fake)[0], want_g, atol=1e-5, rtol=1e-5)


def test_acgan_samples_carry_their_requested_label(tmp_path):
    cfg = _cfg("acgan", steps=40, lr=2e-3)
    torch.manual_seed(0)
    # two clearly different classes: DN cubes dark, MM cubes bright
    n = 16
    labels = torch.tensor([0, 1] * (n // 2))
    images = torch.where(labels[:, None, None, None] == 1, 0.6, -0.6) + 0.05 * torch.randn(
        n, 16, 32, 32)
    obj = registry.build(cfg, seed=0)
    trainer = Trainer(obj, TensorSampler({"image": images, "label": labels}, 8), amp=False,
                      log_every=0, ema_decay=0.0)
    trainer.fit(cfg.steps)
    mm, dn = obj.sample(8, seed=1, cls="MM"), obj.sample(8, seed=1, cls="DN")
    # same latents, different requested class: the class embedding changes the images
    assert (mm - dn).abs().mean() > 1e-3
    # the auxiliary head (trained on real labels too) reads the requested class back
    p_mm, p_dn = obj.classify(mm)[:, 1], obj.classify(dn)[:, 1]
    assert p_mm.mean() > 0.5 > p_dn.mean()
    # after a round trip through the checkpoint the same holds, bit for bit
    back, _ = registry.load(trainer.save(tmp_path / "acgan.pt"))
    torch.testing.assert_close(back.sample(8, seed=1, cls="MM"), mm)


def test_acgan_needs_a_class_and_labels():
    obj = ClassicGANObjective(_cfg("acgan"))
    with pytest.raises(ValueError, match="cls="):
        obj.sample(2, seed=0)
    with pytest.raises(ValueError, match="AC-GAN classes"):
        obj.sample(2, seed=0, cls="Other")
    with pytest.raises(TypeError, match="unconditional"):
        ClassicGANObjective(_cfg("dcgan")).sample(2, seed=0, cls="MM")
