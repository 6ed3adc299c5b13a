"""The generator training steps the speed comparisons time, built from any copy of the package.

A *case* is one family at one size and width (:data:`CASES`). :func:`project_step` builds the
project's step for a case from ``lib``, an imported ``hsilib`` package: this one, or an older
revision imported under another name (:func:`hsilib.bench.compare.load_revision`), so that the
same case times the code before and after a change side by side in one process. It uses only
what every revision since the generic trainer offers (``config.resolve``, the family registry,
:class:`~hsilib.train.trainer.Trainer`), never this revision's own helpers.

Every case trains on the same random data from a fixed seed, with the sampler's flips and
rotations off (the published loops have none), and times whole trainer steps. StyleGAN2's
lazy regularisers (R1 every 16 steps, path length every 4) make its steps unequal, so its
timings are means over whole cycles of 16 consecutive steps (:attr:`Case.cycle`), the same
steps for every implementation.
"""

from __future__ import annotations

import importlib
import types
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch

from ..quiet import expected_warnings

#: the module of each family, relative to the package (imported before building, so that an
#: older revision registers its own family instead of importing this one's)
_FAMILY_MODULES = {"fastgan": "models.fastgan", "cyclegan": "models.cyclegan",
                   "stylegan2": "models.stylegan2"}


@dataclass(frozen=True)
class Case:
    """One timed configuration: ``family`` at ``profile``'s settings with ``overrides``."""

    name: str
    family: str
    profile: str
    overrides: dict[str, Any] = field(default_factory=dict)
    steps_per_call: int = 1  # trainer steps per timed call
    note: str = ""
    cycle: int = 1  # steps after which the work of the steps repeats (a multiple of the above)

    @property
    def size(self) -> int:
        return int(self.overrides["image_size"])


_FULL_FASTGAN = dict(batch_size=8, lpips_weights=None)  # published widths: ngf = ndf = 64
#: the speed cases: published widths at the published comparison's sizes and batches, and the
#: ``quick`` settings the notebooks train with
CASES = {c.name: c for c in (
    *(Case(f"fastgan_{s}", "fastgan", "full", _FULL_FASTGAN | {"image_size": s},
           note=f"FastGAN {s} px, batch 8, ngf = ndf = 64") for s in (64, 128, 256)),
    Case("fastgan_quick", "fastgan", "quick", {"image_size": 64, "lpips_weights": None},
         note="FastGAN at quick (64 px, batch 8, ngf = ndf = 16)"),
    *(Case(f"cyclegan_{s}", "cyclegan", "full", {"image_size": s, "batch_size": 1},
           note=f"CycleGAN RGB <-> 16 bands {s} px, batch 1, ngf = ndf = 64") for s in (64, 128)),
    Case("cyclegan_quick", "cyclegan", "quick", {"image_size": 64},
         note="CycleGAN at quick (64 px, batch 4, ngf = ndf = 16)"),
    Case("stylegan2_64", "stylegan2", "full", {"image_size": 64, "batch_size": 8},
         steps_per_call=4, cycle=16, note="StyleGAN2-ADA 64 px, batch 8, full widths (256-512)"),
    Case("stylegan2_quick", "stylegan2", "quick", {"image_size": 64}, steps_per_call=16,
         cycle=16, note="StyleGAN2-ADA at quick (64 px, batch 8, widths 16-64)"),
)}


def resolve(lib: types.ModuleType, case: Case) -> Any:
    """The case's config from ``lib``'s profiles (CycleGAN gets a flat band range)."""
    extra = {}
    if case.family == "cyclegan":
        extra = {"band_min": (0.0,) * 16, "band_max": (1.0,) * 16}
    cfg_module = importlib.import_module(f"{lib.__name__}.config")
    return cfg_module.resolve(case.profile, case.family, **(case.overrides | extra))


def data(cfg: Any, seed: int = 0) -> dict[str, torch.Tensor]:
    """Random training images in [-1, 1] (and RGB images in [0, 1] for CycleGAN), 32 each."""
    g = torch.Generator().manual_seed(seed)
    shape = (32, cfg.n_bands, cfg.image_size, cfg.image_size)
    out = {"image": torch.rand(shape, generator=g) * 2 - 1}
    if cfg.family == "cyclegan":
        out["rgb"] = torch.rand(32, cfg.rgb_channels, cfg.image_size, cfg.image_size,
                                generator=g)
    return out


def timed_steps(step: Callable[[], Any], n: int) -> Callable[[], int]:
    """A timed call: ``n`` calls of ``step``; returns ``n``."""
    def run() -> int:
        for _ in range(n):
            step()
        return n

    return run


def project_step(lib: types.ModuleType, case: Case, seed: int = 0,
                 device: str = "cpu") -> Callable[[], int]:
    """The project's trainer step for ``case`` from the package ``lib`` on ``device`` (bf16
    autocast on CUDA, as the trainer's ``amp``)."""
    importlib.import_module(f"{lib.__name__}.{_FAMILY_MODULES[case.family]}")
    trainer_mod = importlib.import_module(f"{lib.__name__}.train.trainer")
    samplers = importlib.import_module(f"{lib.__name__}.data.samplers")
    registry = importlib.import_module(f"{lib.__name__}.models.registry")
    cfg = resolve(lib, case)
    batches = data(cfg, seed)
    with expected_warnings("lpips_fallback"):  # no LPIPS backbone offline: L1 + (1 - SSIM)
        if case.family == "cyclegan":
            sampler = samplers.UnpairedSampler(batches["image"], batches["rgb"], cfg.batch_size,
                                               seed=seed, augment=None)
        else:
            sampler = samplers.TensorSampler(batches["image"], cfg.batch_size, seed=seed,
                                             augment=None)
        trainer = trainer_mod.Trainer(registry.build(cfg, seed=seed), sampler,
                                      amp=device == "cuda", device=device, log_every=0,
                                      ema_decay=cfg.ema_decay)
        if case.family == "fastgan":
            trainer.objective.recon  # built now, inside the warning filter  # noqa: B018
    return timed_steps(trainer.train_step, case.steps_per_call)
