"""run_grid: resumable, atomic per-cell results, replicates per experiment, pluggable executors,
same as a plain loop."""

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import pytest

from hsilib.study.grid import SequentialExecutor, file_stamps, grid_cells, is_done, run_grid


@dataclass(frozen=True)
class Exp:
    name: str
    kwargs: dict = field(default_factory=dict)
    replicates: tuple[int, ...] = ()


EXPS = [Exp("real"), Exp("real+syn", {"n": 3}, (0, 1)), Exp("real_25%", {"fraction": 0.25})]
SEEDS = (0, 1)
#: (experiment, seed, replicate) in grid order
GRID = [(e, s, r) for e in EXPS for s in SEEDS for r in (e.replicates or (None,))]


def cell_name(e, s, r):
    return f"{e.name}_seed{s}" + ("" if r is None else f"_g{r}")


class Counting:
    """A cell function that records its calls and can fail on a chosen call."""

    def __init__(self, fail_on: int | None = None):
        self.calls: list[tuple[str, int, int | None]] = []
        self.fail_on = fail_on

    def __call__(self, exp: Exp, seed: int, replicate: int | None) -> pd.DataFrame:
        self.calls.append((exp.name, seed, replicate))
        if len(self.calls) == self.fail_on:
            raise RuntimeError("cell crashed")
        rng = np.random.default_rng([seed, len(exp.name), 9 if replicate is None else replicate])
        return pd.DataFrame({"config": exp.name, "seed": seed,
                             "generator_seed": -1 if replicate is None else replicate,
                             "id": [f"x{i}" for i in range(4)],
                             "p_mm": rng.random(4), "is_synthetic": [True, False] * 2})


def plain_loop(run_cell) -> pd.DataFrame:
    return pd.concat([run_cell(e, s, r) for e, s, r in GRID], ignore_index=True)


def test_results_equal_a_plain_loop_in_grid_order(tmp_path):
    got = run_grid(EXPS, Counting(), seeds=SEEDS, out_dir=tmp_path)
    pd.testing.assert_frame_equal(got, plain_loop(Counting()))
    keys = ["config", "seed", "generator_seed"]
    assert list(got.drop_duplicates(keys)[keys].itertuples(index=False, name=None)) == [
        (e.name, s, -1 if r is None else r) for e, s, r in GRID]
    # an experiment with replicates has one cell per seed and replicate, named with both
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(cell_name(*c) for c in GRID)
    assert {"real+syn_seed0_g0", "real+syn_seed1_g1", "real_seed0"} <= {
        p.name for p in tmp_path.iterdir()}


def test_rerun_skips_stored_cells_and_reruns_stale_ones(tmp_path):
    first = Counting()
    ref = run_grid(EXPS, first, seeds=SEEDS, out_dir=tmp_path, context={"epochs": 2})
    assert len(first.calls) == len(GRID) == 8
    again = Counting()
    pd.testing.assert_frame_equal(
        run_grid(EXPS, again, seeds=SEEDS, out_dir=tmp_path, context={"epochs": 2}), ref)
    assert again.calls == []
    more = Counting()  # one more seed: only its cells run
    run_grid(EXPS, more, seeds=(*SEEDS, 2), out_dir=tmp_path, context={"epochs": 2})
    assert more.calls == [(e.name, 2, r) for e in EXPS for r in (e.replicates or (None,))]
    changed = Counting()  # an experiment's arguments changed: only that one reruns
    exps = [EXPS[0], Exp("real+syn", {"n": 4}, (0, 1)), EXPS[2]]
    run_grid(exps, changed, seeds=SEEDS, out_dir=tmp_path, context={"epochs": 2})
    assert changed.calls == [("real+syn", s, r) for s in SEEDS for r in (0, 1)]
    added = Counting()  # one more replicate: only its cells run
    exps = [EXPS[0], Exp("real+syn", {"n": 4}, (0, 1, 2)), EXPS[2]]
    run_grid(exps, added, seeds=SEEDS, out_dir=tmp_path, context={"epochs": 2})
    assert added.calls == [("real+syn", s, 2) for s in SEEDS]
    other = Counting()  # another configuration: everything reruns
    run_grid(EXPS, other, seeds=SEEDS, out_dir=tmp_path, context={"epochs": 3})
    assert len(other.calls) == len(GRID)


def test_a_rewritten_input_file_makes_every_cell_stale(tmp_path):
    data = tmp_path / "index.csv"
    data.write_text("id\nx0\n")
    context = {"inputs": file_stamps([data])}
    run_grid(EXPS, Counting(), seeds=SEEDS, out_dir=tmp_path / "cells", context=context)
    assert file_stamps([data]) == context["inputs"]  # nothing changed: nothing reruns
    data.write_text("id\nx0\nx1\n")  # an earlier notebook wrote its output again
    rerun = Counting()
    run_grid(EXPS, rerun, seeds=SEEDS, out_dir=tmp_path / "cells",
             context={"inputs": file_stamps([data])})
    assert len(rerun.calls) == len(GRID)


def test_crash_keeps_finished_cells_and_leaves_no_partial_folder(tmp_path):
    crashing = Counting(fail_on=4)
    with pytest.raises(RuntimeError, match="cell crashed"):
        run_grid(EXPS, crashing, seeds=SEEDS, out_dir=tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "real+syn_seed0_g0", "real_seed0", "real_seed1"]
    cells = grid_cells(EXPS, SEEDS)
    assert [is_done(c, tmp_path) for c in cells] == [True] * 3 + [False] * 5
    resumed = Counting()
    got = run_grid(EXPS, resumed, seeds=SEEDS, out_dir=tmp_path)
    assert resumed.calls == [(e.name, s, r) for e, s, r in GRID[3:]]
    pd.testing.assert_frame_equal(got, plain_loop(Counting()))


def test_a_custom_executor_runs_the_cells(tmp_path):
    class ThreadExecutor:
        """Another backend: a thread pool (map keeps the order of the cells)."""

        def __init__(self):
            self.seen: list[str] = []

        def map(self, fn, cells):
            self.seen += [c.name for c in cells]
            with ThreadPoolExecutor(max_workers=3) as pool:
                return list(pool.map(fn, cells))

    executor = ThreadExecutor()
    got = run_grid(EXPS, Counting(), seeds=SEEDS, out_dir=tmp_path / "a", executor=executor)
    assert executor.seen == [cell_name(*c) for c in GRID]
    pd.testing.assert_frame_equal(got, plain_loop(Counting()))
    seq = run_grid(EXPS, Counting(), seeds=SEEDS, out_dir=tmp_path / "b",
                   executor=SequentialExecutor())
    pd.testing.assert_frame_equal(got, seq)


def test_bad_grids_are_refused(tmp_path):
    with pytest.raises(ValueError, match="duplicate"):
        run_grid([Exp("a"), Exp("a")], Counting(), seeds=(0,), out_dir=tmp_path)
    with pytest.raises(ValueError, match="plain file names"):
        run_grid([Exp("a/b")], Counting(), seeds=(0,), out_dir=tmp_path)
    with pytest.raises(TypeError, match="'a_seed0'.*DataFrame"):
        run_grid([Exp("a")], lambda e, s, r: [1], seeds=(0,), out_dir=tmp_path)
    with pytest.raises(ValueError, match="duplicate replicates"):
        run_grid([Exp("a", replicates=(1, 1))], Counting(), seeds=(0,), out_dir=tmp_path)
    assert not any(tmp_path.iterdir())
