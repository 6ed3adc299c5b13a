"""Run the cells of an experiment grid as Ray tasks, on this machine or on a cluster.

Ray is an optional dependency (``pip install -e ".[cluster]"``); nothing here imports it until
an executor is used. :class:`RayExecutor` plugs into :func:`hsilib.study.grid.run_grid`:

- with no ``address`` (and no ``RAY_ADDRESS`` in the environment) it starts Ray embedded in
  this process, using every core and GPU of the machine; with an address (``"auto"``,
  ``"ray://head:10001"``, or ``run_all.py --cluster ADDRESS``) it joins a running cluster;
- each cell is one task asking for ``num_cpus`` cores and ``num_gpus`` GPUs; a fraction such as
  ``num_gpus=0.25`` lets four small classifier runs share one GPU;
- results come back as they finish, so :func:`~hsilib.study.grid.run_grid` stores each one
  atomically at once (the run folder is written by the driver only) and a rerun skips it;
- a cell that raises comes back as a :class:`~hsilib.study.cells.CellFailure` with its
  traceback; the other cells run on.

Inside a task, torch uses ``num_cpus`` threads, so concurrent cells do not oversubscribe the
cores, and the workers start with the project's thread environment
(:func:`hsilib.runtime.thread_environment`: a passive OpenMP wait policy, set before a worker
imports torch), so idle threads of one cell do not spin on the cores of another. A Ray
cluster inside a Slurm allocation: see ``docs/scaling.md``.
"""

from __future__ import annotations

import math
import os
import traceback
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from .cells import Cell, CellFailure


def _run_in_task(fn: Callable[[Cell], Any], cell: Cell, threads: int,
                 notebook: str | None) -> Any:
    """Runs inside a Ray worker: ``fn(cell)``, or a :class:`CellFailure` if it raises. The
    driver's notebook is declared to the test-split guard, as in the driver."""
    import torch

    from .. import guard

    guard.enter(notebook)
    torch.set_num_threads(max(1, threads))
    try:
        return fn(cell)
    except Exception as exc:  # noqa: BLE001 - every failure goes back to the driver
        return CellFailure(f"{type(exc).__name__}: {exc}", traceback.format_exc())


class RayExecutor:
    """Cells as Ray tasks; see the module docstring.

    ``address``: a running cluster (default ``RAY_ADDRESS``, else an embedded local Ray);
    ``num_cpus`` / ``num_gpus``: resources per cell (fractions allowed for GPUs);
    ``init_options``: extra keyword arguments for ``ray.init`` (an embedded Ray only).
    Ray started here is left running for the next grid; :meth:`shutdown` stops it.
    """

    def __init__(self, address: str | None = None, *, num_cpus: float = 1,
                 num_gpus: float = 0.0, init_options: dict[str, Any] | None = None):
        if num_cpus <= 0 or num_gpus < 0:
            raise ValueError(f"RayExecutor: need num_cpus > 0 and num_gpus >= 0, got "
                             f"{num_cpus}, {num_gpus}")
        try:
            import ray  # noqa: F401
        except ImportError as exc:
            raise ImportError("the 'ray' executor needs Ray: pip install -e '.[cluster]'") from exc
        self.address = address or os.environ.get("RAY_ADDRESS") or None
        self.num_cpus, self.num_gpus = float(num_cpus), float(num_gpus)
        self.init_options = dict(init_options or {})
        self._started_here = False

    def _ensure_ray(self) -> Any:
        import ray

        if not ray.is_initialized():
            options = {"include_dashboard": False, "log_to_driver": True,
                       "ignore_reinit_error": True, "runtime_env": self.runtime_env()}
            if self.address:
                ray.init(address=self.address, **options)
            else:
                ray.init(**(options | self.init_options | {"runtime_env": options["runtime_env"]}))
                self._started_here = True
        return ray

    def runtime_env(self) -> dict[str, Any]:
        """Ray's ``runtime_env`` of this job's workers: the thread environment for
        ``num_cpus`` threads per task (an ``env_vars`` entry of ``init_options``'s own
        ``runtime_env`` wins)."""
        from ..runtime import thread_environment

        threads = max(1, math.floor(self.num_cpus))
        given = dict(self.init_options.get("runtime_env") or {})
        return given | {"env_vars": thread_environment(threads) | given.get("env_vars", {})}

    def resources(self) -> dict[str, float]:
        """What the connected cluster offers (starting Ray if needed): CPU, GPU, ..."""
        return dict(self._ensure_ray().cluster_resources())

    def map_unordered(self, fn: Callable[[Cell], Any],
                      cells: Sequence[Cell]) -> Iterator[tuple[int, Any]]:
        """``(index into cells, fn(cell) or CellFailure)`` in the order the cells finish."""
        if not cells:
            return
        ray = self._ensure_ray()
        task = ray.remote(_run_in_task).options(num_cpus=self.num_cpus, num_gpus=self.num_gpus,
                                                max_retries=0)
        fn_ref = ray.put(fn)  # shipped once, not once per cell
        threads = max(1, math.floor(self.num_cpus))
        from .. import guard

        notebook = guard.active()
        pending = {task.remote(fn_ref, cell, threads, notebook): i
                   for i, cell in enumerate(cells)}
        while pending:
            done, _ = ray.wait(list(pending), num_returns=1)
            ref = done[0]
            i = pending.pop(ref)
            try:
                outcome = ray.get(ref)
            except Exception as exc:  # noqa: BLE001 - a worker that died, not a Python error
                outcome = CellFailure(f"{type(exc).__name__}: {exc}", traceback.format_exc())
            yield i, outcome

    def map(self, fn: Callable[[Cell], Any], cells: Sequence[Cell]) -> list[Any]:
        """All results in the order of ``cells`` (raises on the first failed cell)."""
        out: list[Any] = [None] * len(cells)
        for i, outcome in self.map_unordered(fn, cells):
            if isinstance(outcome, CellFailure):
                raise RuntimeError(f"cell {cells[i].name} failed: {outcome.error}\n"
                                   f"{outcome.traceback}")
            out[i] = outcome
        return out

    def shutdown(self) -> None:
        """Stop the embedded Ray this executor started (a cluster is left alone)."""
        import ray

        if self._started_here and ray.is_initialized():
            ray.shutdown()
            self._started_here = False
