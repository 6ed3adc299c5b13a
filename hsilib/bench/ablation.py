"""Benchmarks: one training step of every arm of notebook 02's ablation at 64 px.

``gan.ablation_<arm>_64_<dev>``: the arm's ``full`` config (the study's batch 4 for the WGAN-GP
arms, 16 for the classic families; 16 bands) built through :func:`hsilib.study.ablation.
arm_config`, one :meth:`~hsilib.train.trainer.Trainer.train_step` per item (WGAN-GP arms: two
critic updates with the gradient penalty and one generator update), flips and rotations off.
CUDA variants are registered only when a CUDA device is present.
"""

from __future__ import annotations

import torch

from .. import config
from . import register
from .gan import train_steps

SIZE = 64


def _setup(arm: str, device: str, steps: int):
    from ..data.samplers import TensorSampler, UnpairedSampler
    from ..models import registry
    from ..study.ablation import arm_config
    from ..train.trainer import Trainer

    extra = ({"reflectance_min": (0.0,) * 16, "reflectance_max": (1.0,) * 16}
             if arm == "shsgan_rgb" else {})
    cfg = arm_config(config.resolve("full"), arm, image_size=SIZE, amp=device == "cuda",
                     **extra)
    gen = torch.Generator().manual_seed(0)
    cubes = torch.rand(32, cfg.n_bands, SIZE, SIZE, generator=gen) * 2 - 1
    if arm == "shsgan_rgb":
        sampler = UnpairedSampler(cubes, torch.rand(32, 3, SIZE, SIZE, generator=gen),
                                  cfg.batch_size, augment=None)
    else:
        data = {"image": cubes, "label": torch.arange(32) % 2}
        sampler = TensorSampler(data, cfg.batch_size, augment=None)
    trainer = Trainer(registry.build(cfg, seed=0), sampler, amp=cfg.amp, device=device,
                      log_every=0)

    return train_steps(trainer, steps, device)


def _register(device: str) -> None:
    from ..study.ablation import ARMS

    steps = 2 if device == "cpu" else 20
    for arm, (section, _, what) in ARMS.items():
        batch = config.resolve("full", section).batch_size
        register(f"gan.ablation_{arm}_{SIZE}_{device}", group="gan", unit="steps",
                 repeats=2 if device == "cpu" else 3,
                 note=f"{what}; {SIZE}px, batch {batch}, 16 bands, full widths, {device}")(
            lambda cfg, arm=arm: _setup(arm, device, steps))


_register("cpu")
if torch.cuda.is_available():
    _register("cuda")
