"""Benchmarks: generator training steps per second and peak memory, every speed case.

For each case of :data:`hsilib.bench.steps.CASES` (FastGAN at 64, 128 and 256 px and CycleGAN
at 64 and 128 px at the published widths, StyleGAN2-ADA at 64 px at full widths, and each
family's ``quick`` settings):

- ``gan.<case>_cpu``: this repository's step (:func:`hsilib.bench.steps.project_step`: the
  trainer every notebook uses, with the family's objective);
- ``gan.<case>_published_cpu``: the published implementation's loop written out in
  :mod:`hsilib.bench.published_fastgan`, :mod:`~hsilib.bench.published_cyclegan` and
  :mod:`~hsilib.bench.published_stylegan2`.

These run one after the other, each in its own process (peak memory per benchmark); the ratios
``docs/performance.md`` reports come from the interleaved comparisons of ``python -m hsilib.bench
--against REV`` (:mod:`hsilib.bench.compare`). CUDA variants of this repository's steps at the
published widths are registered only when a CUDA device is present.
"""

from __future__ import annotations

import importlib

import torch

from . import register
from .steps import CASES, Case, project_step


def train_steps(trainer, steps: int, device: str):
    """The timed part of a training-step benchmark: ``steps`` trainer steps (synchronised on
    CUDA), returning the step count."""
    def run():
        for _ in range(steps):
            trainer.train_step()
        if device == "cuda":
            torch.cuda.synchronize()
        return steps

    return run


def _ours(case: Case, device: str):
    import hsilib

    step = project_step(hsilib, case, device=device)
    if device != "cuda":
        return step

    def run() -> int:
        n = step()
        torch.cuda.synchronize()
        return n

    return run


def _published(case: Case):
    import hsilib

    module = importlib.import_module(f"{__package__}.published_{case.family}")
    return module.published_step(hsilib, case)


def _register(case: Case, device: str) -> None:
    slow = case.profile == "full" and (case.size >= 128 or case.family == "stylegan2")
    repeats = 3 if device == "cuda" else (1 if slow else 2)
    register(f"gan.{case.name}_{device}", group="gan", unit="steps", repeats=repeats,
             note=f"{case.note}, this repo's trainer, {device}")(
        lambda cfg: _ours(case, device))
    if device == "cpu":
        register(f"gan.{case.name}_published_cpu", group="gan", unit="steps", repeats=repeats,
                 note=f"{case.note}, published loop, cpu")(lambda cfg: _published(case))


for _case in CASES.values():
    _register(_case, "cpu")
    if torch.cuda.is_available() and _case.profile == "full":
        _register(_case, "cuda")
