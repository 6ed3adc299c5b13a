"""Benchmarks of the core helpers (a baseline for the runner itself)."""

from __future__ import annotations

import numpy as np

from . import register


@register("core.seed_and_matmul", group="core", note="seed + 512x512 float32 matmul x 20",
          unit="matmuls")
def _matmul(cfg):
    from ..runtime import seed_everything

    rng = seed_everything(0)
    a = rng.standard_normal((512, 512), dtype=np.float32)

    def run():
        for _ in range(20):
            a @ a
        return 20

    return run
