"""Experiment-grid throughput: the same grid of small classifier cells run one after another
(the local executor) and as Ray tasks (one core each; on a GPU, fractions of one GPU).

Each cell trains the project's small CNN for a fixed number of steps on random 16-band crops,
the size of a notebook-06 cell at ``quick``. Ray is started in the setup (not timed); the
timed part is the grid alone, so items/s x 60 is cells per minute.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from . import register

N_CELLS, STEPS = 8, 30


class _Exp:
    def __init__(self, name: str):
        self.name = name


def _train_cell(experiment, seed, replicate, device="cpu"):
    import pandas as pd
    import torch

    from ..models.classifiers import build_classifier

    torch.manual_seed(seed)
    model = build_classifier("small", n_bands=16).to(device)
    opt = torch.optim.Adam(model.parameters(), 1e-3)
    x = torch.randn(32, 16, 64, 64, device=device)
    y = torch.randint(0, 2, (32,), device=device)
    for _ in range(STEPS):
        loss = torch.nn.functional.cross_entropy(model(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
    return pd.DataFrame({"cell": [experiment.name], "loss": [float(loss)]})


def _grid(executor_factory, n_cells: int, device: str = "cpu"):
    from functools import partial

    from ..study.grid import run_grid

    executor = executor_factory()
    if hasattr(executor, "resources"):
        executor.resources()  # start Ray now, outside the timed part
    plan = [_Exp(f"cell{i}") for i in range(n_cells)]

    def run():
        with tempfile.TemporaryDirectory() as tmp:
            run_grid(plan, partial(_train_cell, device=device), seeds=[0], out_dir=Path(tmp),
                     executor=executor)
        return n_cells

    return run


@register("grid.sequential_8", group="grid", unit="cells",
          note=f"{N_CELLS} small-CNN cells x {STEPS} steps, local executor")
def _sequential(cfg):
    from ..study.grid import SequentialExecutor

    return _grid(SequentialExecutor, N_CELLS)


def _ray_available() -> bool:
    import importlib.util

    return importlib.util.find_spec("ray") is not None


if _ray_available():
    @register("grid.ray_8", group="grid", unit="cells",
              note=f"{N_CELLS} small-CNN cells x {STEPS} steps, Ray, 1 core per cell")
    def _ray(cfg):
        from ..study.ray_executor import RayExecutor

        return _grid(lambda: RayExecutor(num_cpus=1), N_CELLS)

    def _cuda() -> bool:
        import torch

        return torch.cuda.is_available()

    if _cuda():
        @register("grid.cuda_sequential_16", group="grid", unit="cells",
                  note="16 small-CNN cells on one GPU, one after another")
        def _cuda_seq(cfg):
            from ..study.grid import SequentialExecutor

            return _grid(SequentialExecutor, 16, device="cuda")

        @register("grid.cuda_ray_16", group="grid", unit="cells",
                  note="16 small-CNN cells, Ray, 0.25 GPU + 1 core per cell")
        def _cuda_ray(cfg):
            from ..study.ray_executor import RayExecutor

            return _grid(lambda: RayExecutor(num_cpus=1, num_gpus=0.25), 16, device="cuda")
