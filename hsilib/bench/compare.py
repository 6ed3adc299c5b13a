"""Speed comparisons of the generator steps: interleaved timings in one process.

A timing on a shared machine moves with whatever else runs, so every comparison here times its
contenders in turn, A, B, C, A, B, C, ... in one process (the order rotated each round), and
reports medians with the 1-minute load average before and after. Contenders of a case
(:data:`hsilib.bench.steps.CASES`):

- ``this``: the project's step from this checkout;
- ``<rev>``: the project's step from git revision ``rev`` (:func:`load_revision` imports that
  revision's package under another name), so a change that speeds up the networks shows even
  though it speeds up both sides of a reference comparison;
- ``published``: the published implementation's training loop written out in
  :mod:`hsilib.bench.published_fastgan`, :mod:`~hsilib.bench.published_cyclegan` and
  :mod:`~hsilib.bench.published_stylegan2`.

``python -m hsilib.bench --against REV`` runs this for every case; ``--shared`` measures each
project step with and without a competing process (:mod:`hsilib.bench.shared`).
"""

from __future__ import annotations

import atexit
import io
import os
import shutil
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
import types
from collections.abc import Callable, Mapping
from pathlib import Path

from .steps import CASES, Case, project_step

REPO = Path(__file__).resolve().parents[2]


def load_revision(rev: str, repo: Path = REPO) -> types.ModuleType:
    """The ``hsilib`` package of git revision ``rev``, extracted to a temporary folder
    (removed at exit) and imported as ``hsilib_<sha>``, beside this one."""
    import importlib.util

    found = subprocess.run(["git", "rev-parse", "--verify", "--quiet", f"{rev}^{{commit}}"],
                           cwd=repo, capture_output=True, text=True)
    if found.returncode != 0:
        raise ValueError(f"--against {rev!r}: not a commit of the repository {repo}")
    sha = found.stdout.strip()
    name = f"hsilib_{sha[:10]}"
    if name in sys.modules:
        return sys.modules[name]
    folder = Path(tempfile.mkdtemp(prefix=f"{name}_"))
    atexit.register(shutil.rmtree, folder, ignore_errors=True)
    archive = subprocess.run(["git", "archive", "--format=tar", sha, "hsilib"], cwd=repo,
                             capture_output=True, check=True).stdout
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        tar.extractall(folder, filter="data")
    spec = importlib.util.spec_from_file_location(
        name, folder / "hsilib" / "__init__.py",
        submodule_search_locations=[str(folder / "hsilib")])
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def _cpu_seconds() -> float:
    """CPU seconds (user + system) of this process, all its threads."""
    import resource

    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def interleave(contenders: Mapping[str, Callable[[], int]], repeats: int, warmup: int = 1,
               cpu: dict[str, list[float]] | None = None) -> dict[str, list[float]]:
    """Seconds per item of each contender over ``repeats`` rounds, the contenders taking turns
    in every round (their order rotated by one each round) after ``warmup`` untimed rounds.
    A contender returns how many items (steps) it ran. ``cpu``, if given, receives the CPU
    seconds per item of each call (all threads): a measure that other jobs on the machine
    move much less than wall time."""
    names = list(contenders)
    times: dict[str, list[float]] = {n: [] for n in names}
    for r in range(warmup + repeats):
        k = r % len(names)
        for name in names[k:] + names[:k]:
            c0, t0 = _cpu_seconds(), time.perf_counter()
            items = contenders[name]() or 1
            if r >= warmup:
                times[name].append((time.perf_counter() - t0) / items)
                if cpu is not None:
                    cpu.setdefault(name, []).append((_cpu_seconds() - c0) / items)
    return times


def load_average() -> float:
    """The 1-minute load average (``os.getloadavg``)."""
    return os.getloadavg()[0]


def cycle_means(times: list[float], k: int) -> list[float]:
    """Means of consecutive groups of ``k`` timed calls (one cycle of unequal steps each)."""
    return [statistics.fmean(times[i:i + k]) for i in range(0, len(times) - k + 1, k)]


def summarise(times: Mapping[str, list[float]], base: str = "this") -> dict[str, dict]:
    """Median and spread of each contender's seconds per step and ``ratio``: the contender's
    median over ``base``'s (above 1: ``base`` is faster)."""
    med = {n: statistics.median(t) for n, t in times.items()}
    return {n: {"median_s": med[n], "min_s": min(t), "max_s": max(t), "n": len(t),
                "ratio": med[n] / med[base]} for n, t in times.items()}


def contenders(case: Case, against: str | None, published: bool = True,
               seed: int = 0) -> dict[str, Callable[[], int]]:
    """``this``, ``<against>`` (when given) and ``published`` steps of ``case``."""
    import importlib

    import hsilib

    out = {"this": project_step(hsilib, case, seed)}
    if against:
        out[against] = project_step(load_revision(against), case, seed)
    if published:
        module = importlib.import_module(f"{__package__}.published_{case.family}")
        out["published"] = module.published_step(hsilib, case, seed)
    return out


def compare_case(name: str, against: str | None, repeats: int, published: bool = True
                 ) -> dict:
    """Interleaved timings of case ``name``'s contenders, with the load before and after."""
    import torch

    case = CASES[name]
    fns = contenders(case, against, published)
    k = max(1, case.cycle // case.steps_per_call)  # calls per cycle of unequal steps
    load0 = load_average()
    cpu: dict[str, list[float]] = {}
    times = interleave(fns, -(-repeats // k) * k, cpu=cpu)
    times, cpu = ({n: cycle_means(t, k) for n, t in d.items()} for d in (times, cpu))
    return {"case": name, "note": case.note, "load_before": load0,
            "load_after": load_average(), "threads": torch.get_num_threads(),
            "results": summarise(times), "cpu": summarise(cpu)}


def worker_env() -> dict[str, str]:
    """The environment of a benchmark's worker process: this one's with the project's thread
    variables where unset (:func:`hsilib.runtime.thread_environment`)."""
    from ..runtime import thread_defaults_enabled, thread_environment

    env = dict(os.environ)
    if thread_defaults_enabled():
        env = thread_environment() | env
    return env


def format_row(row: dict) -> str:
    """One printed line per case: each contender's median and its ratio to ``this``."""
    cpu = row.get("cpu", {})

    def cell(n: str, r: dict) -> str:
        if n == "this":
            return f"{n} {r['median_s']:.3f} s"
        extra = f", CPU time x{cpu[n]['ratio']:.2f}" if n in cpu else ""
        return f"{n} {r['median_s']:.3f} s (x{r['ratio']:.2f}{extra})"

    parts = [cell(n, r) for n, r in row["results"].items()]
    return (f"{row['case']:18s} " + ", ".join(parts)
            + f"  [load {row['load_before']:.2f} -> {row['load_after']:.2f}]")
