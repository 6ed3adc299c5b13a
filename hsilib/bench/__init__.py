"""Benchmarks: ``python -m hsilib.bench`` runs the registered ones and prints a table.

Timings live here, never in tests. A benchmark is a *setup* function registered with
:func:`register`; setup builds what it needs (not timed) and returns a zero-argument callable
that does the timed work and returns how many items it processed (steps, images, cubes) or
None. The runner calls it ``warmup`` times, then ``repeats`` times, and reports the median
wall time, items per second and the process's peak resident memory. Each benchmark runs in
its own subprocess so that peaks do not leak between benchmarks.

Add benchmarks in a module of this package and list the module in :data:`MODULES`::

    @register("data.generate_330", group="data", note="330 cubes, 272 x 512 x 16")
    def _generate(cfg):
        ...
        return lambda: generate(...) or 330
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

#: Modules that register benchmarks (imported lazily by the runner).
MODULES = (
    "hsilib.bench.core",
    "hsilib.bench.data",
    "hsilib.bench.metrics",
    "hsilib.bench.gan",
    "hsilib.bench.ablation",
    "hsilib.bench.classifiers",
    "hsilib.bench.grid",
)


@dataclass(frozen=True)
class Benchmark:
    name: str
    group: str
    setup: Callable[[Any], Callable[[], int | None]]
    note: str = ""
    unit: str = "items"
    repeats: int | None = None  # overrides BenchConfig.repeats (for long benchmarks)


REGISTRY: dict[str, Benchmark] = {}


def register(name: str, group: str, note: str = "", unit: str = "items",
             repeats: int | None = None):
    """Decorator that adds a setup function to :data:`REGISTRY` under ``name``."""

    def deco(setup):
        if name in REGISTRY:
            raise ValueError(f"benchmark {name!r} is registered twice")
        REGISTRY[name] = Benchmark(name, group, setup, note, unit, repeats)
        return setup

    return deco


def load_all() -> dict[str, Benchmark]:
    """Import every module in :data:`MODULES` and return the registry."""
    for mod in MODULES:
        importlib.import_module(mod)
    return REGISTRY
