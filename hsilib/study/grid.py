"""Experiment grids: every (experiment, seed, replicate) cell run once, stored atomically, skipped
on rerun.

A study is a grid of cells, one per experiment, seed and, for an experiment that lists
``replicates`` (e.g. the generator replicates whose synthetic crops it trains on), replicate:
an experiment without them has one cell per seed (replicate ``None``). :func:`run_grid` runs
the cells that have no stored result yet, writes each result to its own folder as soon as it
arrives, and returns all results concatenated in grid order (experiments in the given order,
seeds within each, replicates within each seed), exactly as a plain loop over the cells
would. So an interrupted study resumes where it stopped, and a finished one is read back
without training anything::

    preds = run_grid(plan, train_one, seeds=study.seeds, out_dir=run.results / "06_cells",
                     context={"config": config.to_dict(cfg), "inputs": file_stamps(inputs)})

Where the cells run is the executor's business. An executor has one method,
``map(fn, cells) -> iterable of fn(cell)`` in the order of ``cells``, like the built-in
:func:`map` or :meth:`concurrent.futures.Executor.map`; :class:`SequentialExecutor` (the
default) runs them in this process, one after another. An executor may instead offer
``map_unordered(fn, cells) -> iterable of (index, outcome)`` in the order the cells finish,
an outcome being the result or a :class:`CellFailure`: then each result is stored as soon as it
arrives, a failed cell is reported with its traceback, and the other cells go on (the grid
raises :class:`GridError` at the end). :class:`hsilib.study.ray_executor.RayExecutor` does
this on a local or remote Ray cluster: the cells are plain dataclasses and the function pickles
whenever ``run_cell`` does (cloudpickle); results come back to this process, which alone writes
the files. :func:`make_executor` builds one by name; with no executor given, :func:`run_grid`
takes the one named by the environment (``HSILIB_EXECUTOR``, set by ``run_all.py
--executor``).

Layout of ``out_dir``: one folder ``<experiment name>_seed<k>/`` (``..._seed<k>_g<r>/`` for
replicate ``r``) per cell, holding ``result.json`` (the cell's DataFrame: columns, dtypes and
values, read back exactly by :func:`read_result`; plain JSON, so a run folder from someone else
runs no code when it is read) and ``cell.json`` (name, seed, replicate, fingerprint). A folder
appears only complete (:func:`hsilib.paths.atomic_dir`); a result that cannot be read back
(truncated, edited) counts as not done and its cell runs again. The fingerprint hashes the
experiment, the seed, the replicate and ``context``; a stored cell whose fingerprint differs
(the experiment or the configuration changed) is stale and runs again.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import numbers
import time
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from functools import partial
from pathlib import Path
from typing import Any, Protocol

import pandas as pd

from ..paths import atomic_dir
from .cells import Cell, CellFailure

RESULT_FILE = "result.json"
CELL_FILE = "cell.json"


class GridResultError(ValueError):
    """A stored cell result is not a table this module wrote (truncated, edited, other)."""


def _plain(value: Any) -> Any:
    """A JSON-ready value: numpy scalars as Python numbers, anything else by ``str``."""
    item = getattr(value, "item", None)
    return item() if callable(item) else str(value)


def write_result(table: pd.DataFrame, path: str | Path) -> None:
    """Write ``table`` as JSON: column names, dtypes and values (floats exactly, NaN kept)."""
    doc = {"columns": [str(c) for c in table.columns],
           "dtypes": [str(t) for t in table.dtypes],
           "data": [table[c].tolist() for c in table.columns], "rows": len(table)}
    Path(path).write_text(json.dumps(doc, default=_plain))


def read_result(path: str | Path) -> pd.DataFrame:
    """The table :func:`write_result` wrote to ``path``; :class:`GridResultError` naming the
    file when it is anything else (it never runs code: plain JSON only)."""
    try:
        doc = json.loads(Path(path).read_text())
        columns, dtypes, data = doc["columns"], doc["dtypes"], doc["data"]
        ok = (isinstance(columns, list) and isinstance(dtypes, list) and isinstance(data, list)
              and len(columns) == len(dtypes) == len(data)
              and all(isinstance(t, str) for t in dtypes)
              and all(isinstance(v, list) and len(v) == doc["rows"] for v in data))
        if not ok:
            raise ValueError("columns, dtypes and values do not fit together")
        table = pd.DataFrame({i: pd.Series(v, dtype=object) for i, v in enumerate(data)},
                             index=pd.RangeIndex(doc["rows"]))
        table = table.astype(dict(enumerate(dtypes))) if len(columns) else table
        table.columns = columns
        return table
    except (OSError, ValueError, KeyError, TypeError) as err:
        raise GridResultError(f"{path}: not a stored grid result ({type(err).__name__}: "
                              f"{err})") from err


class Executor(Protocol):
    """Runs ``fn`` on every cell; yields the results in the order of ``cells``."""

    def map(self, fn: Callable[[Cell], Any], cells: Sequence[Cell]) -> Iterable[Any]: ...


class SequentialExecutor:
    """The default executor: the cells one after another, in this process, lazily (each result
    is stored before the next cell starts); the first exception stops the grid."""

    def map(self, fn: Callable[[Cell], Any], cells: Sequence[Cell]) -> Iterable[Any]:
        return map(fn, cells)


class GridError(RuntimeError):
    """Some cells of a grid failed (the others were stored); ``failures`` maps cell names to
    their :class:`CellFailure`."""

    def __init__(self, failures: Mapping[str, CellFailure], n_cells: int):
        self.failures = dict(failures)
        names = ", ".join(self.failures)
        super().__init__(f"{len(self.failures)} of {n_cells} cells failed ({names}); the others "
                         "are stored and a rerun runs only the failed ones. First traceback:\n"
                         + next(iter(self.failures.values())).traceback)


EXECUTORS = ("local", "ray")


def make_executor(name: str | None = None, *, address: str | None = None,
                  **options: Any) -> Executor:
    """The executor called ``name``: ``"local"`` (:class:`SequentialExecutor`) or ``"ray"``
    (:class:`hsilib.study.ray_executor.RayExecutor` on the cluster at ``address``, else
    ``RAY_ADDRESS``, else an embedded one; ``options`` go to it). ``None`` reads the
    environment: ``HSILIB_EXECUTOR`` (default ``local``) and ``HSILIB_RAY_ADDRESS``."""
    import os

    if name is None:
        name = os.environ.get("HSILIB_EXECUTOR") or "local"
        address = address or os.environ.get("HSILIB_RAY_ADDRESS") or None
    if name not in EXECUTORS:
        raise ValueError(f"executor must be one of {', '.join(EXECUTORS)}, got {name!r}")
    if name == "local":
        return SequentialExecutor()
    from .ray_executor import RayExecutor

    return RayExecutor(address=address, **options)


def _describe(experiment: Any, replicate: int | None) -> Any:
    """What one cell runs: ``experiment.spec(replicate)`` when the experiment defines it, else
    its fields (a dataclass) or itself, less its list of replicates. Either way, adding a
    replicate adds cells and leaves the stored ones valid."""
    spec = getattr(experiment, "spec", None)
    if callable(spec):
        return spec(replicate)
    if not dataclasses.is_dataclass(experiment):
        return experiment
    fields = dataclasses.asdict(experiment)
    fields.pop("replicates", None)
    return fields


def fingerprint(experiment: Any, seed: int, context: Mapping[str, Any] | None = None,
                replicate: int | None = None) -> str:
    """SHA-256 of what the cell runs (``experiment.spec(replicate)`` if defined, else the
    experiment's fields when a dataclass, else its ``str``), the seed, the replicate (when
    there is one) and ``context``, as canonical JSON (paths and other objects by ``str``)."""
    spec = {"experiment": _describe(experiment, replicate), "seed": seed, "context": context}
    if replicate is not None:
        spec["replicate"] = replicate
    text = json.dumps(spec, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()


def file_stamps(paths: Iterable[str | Path]) -> dict[str, list[int]]:
    """``{path: [size, mtime_ns]}`` of input files, to put in ``context``: a cell computed before
    an input was rewritten (say, an earlier notebook ran again) is then stale."""
    out = {}
    for p in paths:
        st = Path(p).stat()
        out[str(p)] = [st.st_size, st.st_mtime_ns]
    return out


def replicates_of(experiment: Any) -> tuple[int | None, ...]:
    """The replicates an experiment runs over: its ``replicates`` attribute, or ``(None,)``."""
    reps = tuple(getattr(experiment, "replicates", ()) or ())
    if len(set(reps)) != len(reps):
        raise ValueError(f"experiment {experiment.name!r}: duplicate replicates {list(reps)}")
    return tuple(_integers(reps, f"experiment {experiment.name!r}: replicates")) or (None,)


def _integers(values: Sequence[Any], what: str) -> list[int]:
    """``values`` as ints; anything that is not an integer (0.5, "1", True) is refused."""
    bad = [v for v in values if not isinstance(v, numbers.Integral) or isinstance(v, bool)
           or v < 0]
    if bad:
        raise ValueError(f"{what} must be non-negative integers, got {list(values)} "
                         f"(not integers: {bad})")
    return [int(v) for v in values]


def grid_cells(experiments: Sequence[Any], seeds: Sequence[int],
               context: Mapping[str, Any] | None = None) -> list[Cell]:
    """The cells of a grid in order (experiments, seeds, replicates); experiment names must be
    unique plain file names, seeds and replicates non-negative integers, and no two cells may
    share a folder (names that differ only in case share one on some file systems)."""
    names = [e.name for e in experiments]
    bad = [n for n in names if not isinstance(n, str) or not n or "/" in n or "\\" in n
           or n.startswith(".")]
    if bad:
        raise ValueError(f"experiment names must be plain file names, got {bad}")
    seeds = _integers(seeds, "grid seeds")
    twice = sorted(n for n, k in Counter(names).items() if k > 1)
    if twice or len(set(seeds)) != len(seeds):
        raise ValueError(f"duplicate cells: experiment names {twice}, seeds {list(seeds)}")
    cells = [Cell(e, s, r, fingerprint(e, s, context, r))
             for e in experiments for s in seeds for r in replicates_of(e)]
    folders = Counter(c.name.casefold() for c in cells)
    clash = sorted({c.name for c in cells if folders[c.name.casefold()] > 1})
    if clash:
        raise ValueError(f"cells {clash} would share one folder (the same name, or names that "
                         "differ only in case); rename the experiments")
    return cells


def is_done(cell: Cell, out_dir: str | Path) -> bool:
    """True when ``out_dir`` holds a complete result of ``cell`` with the same fingerprint (a
    result that does not read back, or holds another number of rows than recorded, is not
    done; an old ``result.pkl`` is never read)."""
    folder = Path(out_dir) / cell.name
    try:
        stored = json.loads((folder / CELL_FILE).read_text())
        if not isinstance(stored, dict) or stored.get("fingerprint") != cell.fingerprint:
            return False
        return len(read_result(folder / RESULT_FILE)) == stored.get("rows")
    except (OSError, ValueError):
        return False


def _timed(run_cell: Callable[[Any, int, int | None], pd.DataFrame],
           cell: Cell) -> tuple[pd.DataFrame, float]:
    t0 = time.perf_counter()
    result = run_cell(cell.experiment, cell.seed, cell.replicate)
    if not isinstance(result, pd.DataFrame):
        raise TypeError(f"run_cell returned {type(result).__name__} for cell {cell.name!r}; "
                        "it must return a pandas DataFrame")
    return result, time.perf_counter() - t0


def _store(cell: Cell, result: pd.DataFrame, out_dir: Path, seconds: float) -> None:
    with atomic_dir(out_dir / cell.name) as tmp:
        write_result(result, tmp / RESULT_FILE)
        (tmp / CELL_FILE).write_text(json.dumps(
            {"name": cell.experiment.name, "seed": cell.seed, "replicate": cell.replicate,
             "fingerprint": cell.fingerprint,
             "seconds": round(seconds, 3), "rows": len(result)}, indent=1) + "\n")


def run_grid(experiments: Sequence[Any],
             run_cell: Callable[[Any, int, int | None], pd.DataFrame], *,
             seeds: Sequence[int], out_dir: str | Path,
             context: Mapping[str, Any] | None = None,
             executor: Executor | None = None) -> pd.DataFrame:
    """Run ``run_cell(experiment, seed, replicate)`` for every cell not stored yet.

    ``experiments``: objects with a unique ``name``, optional ``replicates`` and optional
    ``spec(replicate)`` (e.g. :class:`hsilib.study.plan.Experiment`); ``replicate`` is None for
    an experiment without replicates.
    ``run_cell``: returns the cell's results as a DataFrame; it must depend on nothing but its
    arguments and what ``context`` describes. ``out_dir``: one folder per cell (module
    docstring). ``context``: JSON-able description of everything else the results depend on
    (e.g. the resolved config); changing it reruns every cell. ``executor``: where the cells run
    (default: :func:`make_executor` from the environment, i.e. :class:`SequentialExecutor`
    unless ``HSILIB_EXECUTOR`` says otherwise).

    Each result is written atomically as soon as the executor yields it, so an exception stops
    the grid with every finished cell stored and no partial folder. With an executor that runs
    cells concurrently (``map_unordered``), a failing cell does not stop the others: every
    result is stored, then :class:`GridError` names the failed cells with their tracebacks.
    Returns the results of all cells concatenated in grid order (``ignore_index``), read back
    from ``out_dir``.
    """
    out_dir = Path(out_dir)
    cells = grid_cells(experiments, seeds, context)
    todo = [c for c in cells if not is_done(c, out_dir)]
    print(f"{len(cells) - len(todo)} of {len(cells)} cells stored in {out_dir}; running "
          f"{len(todo)}")
    own = executor is None  # made here from the environment: stopped here when done
    executor = executor or make_executor()
    try:
        _run_cells(executor, partial(_timed, run_cell), todo, out_dir)
    finally:
        if own and hasattr(executor, "shutdown"):
            executor.shutdown()
    return pd.concat([read_result(out_dir / c.name / RESULT_FILE) for c in cells],
                     ignore_index=True)


def _run_cells(executor: Executor, fn: Callable[[Cell], Any], todo: list[Cell],
               out_dir: Path) -> None:
    if hasattr(executor, "map_unordered"):
        failures: dict[str, CellFailure] = {}
        for i, outcome in executor.map_unordered(fn, todo):
            cell = todo[i]
            if isinstance(outcome, CellFailure):
                failures[cell.name] = outcome
                print(f"{cell.name:28s} FAILED: {outcome.error}\n{outcome.traceback}")
                continue
            result, seconds = outcome
            _store(cell, result, out_dir, seconds)
            print(f"{cell.name:28s} {seconds:7.1f} s")
        if failures:
            raise GridError(failures, len(todo))
    else:
        for cell, (result, seconds) in zip(todo, executor.map(fn, todo), strict=True):
            _store(cell, result, out_dir, seconds)
            print(f"{cell.name:28s} {seconds:7.1f} s")
