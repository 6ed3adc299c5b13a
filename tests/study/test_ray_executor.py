"""The Ray executor gives the same grid tables as the sequential one, survives failed cells and
resumes: only the failed cells run again."""

import os
from pathlib import Path

import pandas as pd
import pytest

from hsilib.study.grid import CellFailure, GridError, SequentialExecutor, make_executor, run_grid

ray = pytest.importorskip("ray")


class Exp:
    def __init__(self, name, scale, replicates=()):
        self.name, self.scale, self.replicates = name, scale, replicates

    def spec(self, replicate):
        return {"name": self.name, "scale": self.scale}


def cell_table(exp, seed, replicate):
    import numpy as np

    rng = np.random.default_rng(seed * 100 + (replicate or 0))
    return pd.DataFrame({"exp": exp.name, "seed": seed, "replicate": replicate,
                         "value": exp.scale * rng.normal(size=3), "pid": os.getpid()})


@pytest.fixture(scope="module")
def executor():
    import sys

    # the workers cannot import this test module: ship its functions by value, as cloudpickle
    # does for functions defined in a notebook
    ray.cloudpickle.register_pickle_by_value(sys.modules[__name__])
    ex = make_executor("ray", address=None, init_options={"num_cpus": 2})
    yield ex
    ex.shutdown()


def plan():
    return [Exp("a", 1.0), Exp("b", 2.0, replicates=(0, 1))]


def test_ray_grid_equals_sequential_grid(tmp_path, executor):
    seq = run_grid(plan(), cell_table, seeds=[0, 1], out_dir=tmp_path / "seq",
                   executor=SequentialExecutor())
    par = run_grid(plan(), cell_table, seeds=[0, 1], out_dir=tmp_path / "ray", executor=executor)
    assert len(seq) == 6 * 3
    pd.testing.assert_frame_equal(seq.drop(columns="pid"), par.drop(columns="pid"))
    assert set(par.pid) != {os.getpid()}  # the cells ran in Ray workers


def failing_once(marker: str):
    def run(exp, seed, replicate):
        if exp.name == "b" and seed == 1 and replicate == 0 and not Path(marker).exists():
            raise RuntimeError("planted failure")
        Path(marker + f".{exp.name}{seed}{replicate}").touch()  # which cells ran
        return cell_table(exp, seed, replicate)
    return run


def test_failed_cell_does_not_stop_the_others_and_reruns_alone(tmp_path, executor):
    marker = str(tmp_path / "fixed")
    out = tmp_path / "cells"
    with pytest.raises(GridError, match="planted failure") as err:
        run_grid(plan(), failing_once(marker), seeds=[0, 1], out_dir=out, executor=executor)
    assert list(err.value.failures) == ["b_seed1_g0"]
    stored = sorted(p.name for p in out.iterdir())
    assert "b_seed1_g0" not in stored and len(stored) == 5  # every other cell was stored
    for f in tmp_path.glob("fixed.*"):
        f.unlink()
    Path(marker).touch()
    table = run_grid(plan(), failing_once(marker), seeds=[0, 1], out_dir=out, executor=executor)
    assert sorted(p.name for p in tmp_path.glob("fixed.*")) == ["fixed.b10"]  # only that one
    want = run_grid(plan(), cell_table, seeds=[0, 1], out_dir=tmp_path / "ref",
                    executor=SequentialExecutor())
    pd.testing.assert_frame_equal(table.drop(columns="pid"), want.drop(columns="pid"))


def test_a_dead_worker_is_a_cell_failure(executor):
    from hsilib.study.grid import grid_cells

    def die(cell):
        os._exit(3)

    cells = grid_cells([Exp("x", 1.0)], [0])
    [(i, outcome)] = list(executor.map_unordered(die, cells))
    assert i == 0 and isinstance(outcome, CellFailure)


def test_make_executor_reads_the_environment(monkeypatch):
    monkeypatch.setenv("HSILIB_EXECUTOR", "local")
    assert isinstance(make_executor(), SequentialExecutor)
    monkeypatch.setenv("HSILIB_EXECUTOR", "dask")
    with pytest.raises(ValueError, match="executor must be one of"):
        make_executor()


def thread_settings(cell):
    import os

    import torch

    return os.environ.get("OMP_WAIT_POLICY"), os.environ.get("OMP_NUM_THREADS"), \
        torch.get_num_threads()


def test_workers_start_with_the_thread_environment(executor):
    """Workers import torch with a passive OpenMP wait policy and ``num_cpus`` threads."""
    assert executor.runtime_env()["env_vars"]["OMP_WAIT_POLICY"] == "PASSIVE"
    (policy, omp, threads), = executor.map(thread_settings, ["cell"])
    assert policy == "PASSIVE" and omp == "1" and threads == 1
