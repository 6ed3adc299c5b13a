"""Devices, seeds, threads and progress bars: the small pieces every notebook and trainer calls.

Introduced in notebook 01.

**Threads.** torch runs its CPU kernels on an OpenMP thread pool whose idle threads, by
default, spin (busy-wait) for a while before they sleep. On a machine whose cores are shared
with another CPU-bound process, the spinning threads take the cores the working ones need: a
FastGAN step of notebook 03 took 4-5 times longer beside one other training process. A
*passive* wait policy (idle threads sleep at once) removes that. OpenMP reads the policy once,
when torch is imported, so it has to be in the environment before: :func:`thread_environment`
is what the project gives every process it starts (notebook kernels through ``run_all.py``,
Ray workers, benchmark workers; ``make kernel`` writes it into the Jupyter kernel spec), and
:func:`apply_thread_defaults` (called when ``hsilib`` is imported, and by the tests) sets it
in this process when nothing has chosen otherwise. Variables already set are kept, so
``OMP_WAIT_POLICY=ACTIVE`` or ``OMP_NUM_THREADS=1`` in the environment still win.
"""

from __future__ import annotations

import io
import math
import os
import random
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tqdm import tqdm

if TYPE_CHECKING:
    import numpy as np

#: the OpenMP idle policy the project runs with (see the module docstring)
WAIT_POLICY = "PASSIVE"
#: what reads each variable: OpenMP (torch's intra-op pool), MKL and OpenBLAS (NumPy)
THREAD_VARIABLES = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")


def _cgroup_cpu_limit() -> float | None:
    """The CPU quota of this process's cgroup (cgroup v2 ``cpu.max``), in cores, if any."""
    try:
        quota, period = Path("/sys/fs/cgroup/cpu.max").read_text().split()[:2]
    except (OSError, ValueError):
        return None
    return None if quota == "max" else int(quota) / int(period)


def physical_cores() -> int:
    """Cores this process may use: the CPUs of its affinity mask counted once per physical core
    (hyper-threads share one), capped by a container's CPU quota; at least 1."""
    cpus = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else list(
        range(os.cpu_count() or 1))
    cores = set()
    for cpu in cpus:
        try:
            siblings = Path(f"/sys/devices/system/cpu/cpu{cpu}/topology/thread_siblings_list")
            cores.add(siblings.read_text().strip())
        except OSError:
            cores.add(str(cpu))
    n = len(cores) or 1
    limit = _cgroup_cpu_limit()
    return max(1, min(n, math.ceil(limit))) if limit else n


def thread_environment(threads: int | None = None) -> dict[str, str]:
    """The environment variables of a process that should use ``threads`` CPU threads
    (default: :func:`physical_cores`) with a passive OpenMP wait policy."""
    n = physical_cores() if threads is None else int(threads)
    if n < 1:
        raise ValueError(f"threads must be >= 1, got {threads!r}")
    return {"OMP_WAIT_POLICY": WAIT_POLICY} | dict.fromkeys(THREAD_VARIABLES, str(n))


def thread_defaults_enabled() -> bool:
    """False when the environment says ``HSILIB_THREAD_DEFAULTS=0``: the project then leaves
    the thread variables to OpenMP's and the libraries' own defaults (e.g. to measure them)."""
    return os.environ.get("HSILIB_THREAD_DEFAULTS", "1") != "0"


def apply_thread_defaults(threads: int | None = None) -> dict[str, str]:
    """Put :func:`thread_environment` into ``os.environ`` where a variable is not set yet
    (nothing with ``HSILIB_THREAD_DEFAULTS=0``); returns what was set. Effective for torch
    only before torch is imported (OpenMP reads it then); child processes inherit it."""
    if not thread_defaults_enabled():
        return {}
    added = {k: v for k, v in thread_environment(threads).items() if k not in os.environ}
    os.environ.update(added)
    return added


def kernel_env_args() -> str:
    """``--env NAME VALUE`` arguments of ``ipykernel install`` for :func:`thread_environment`
    (``make kernel``), so notebooks opened in JupyterLab run with the same threads."""
    return " ".join(f"--env {k} {v}" for k, v in thread_environment().items())


def device(device: str = "auto") -> Any:
    """A ``torch.device``: with ``"auto"``, CUDA if available, else Apple MPS, else CPU.

    Any other string (``"cpu"``, ``"cuda:1"``) is passed through unchanged.
    """
    import torch

    if device != "auto":
        return torch.device(device)
    if torch.cuda.is_available():
        return torch.device("cuda")
    mps = getattr(torch.backends, "mps", None)
    if mps is not None and mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


def seed_everything(seed: int, deterministic: bool = False) -> np.random.Generator:
    """Seed Python's ``random``, NumPy's global state and torch (all devices) in one call.

    Returns a fresh ``numpy.random.Generator`` seeded with ``seed`` for code that prefers an
    explicit generator. ``deterministic=True`` also asks torch for deterministic kernels.
    """
    if not isinstance(seed, int) or isinstance(seed, bool) or seed < 0:
        raise ValueError(f"seed must be a non-negative int, got {seed!r}")
    import numpy as np

    random.seed(seed)
    np.random.seed(seed % 2**32)  # noqa: NPY002 (seeds legacy global-state users)
    os.environ["PYTHONHASHSEED"] = str(seed)
    import torch

    torch.manual_seed(seed)
    if deterministic:
        torch.use_deterministic_algorithms(True, warn_only=True)
        torch.backends.cudnn.benchmark = False
    return np.random.default_rng(seed)


def in_notebook_frontend() -> bool:
    """True inside a Jupyter kernel that can show widget progress bars.

    ``run_all.py`` sets ``HSILIB_PLAIN_PROGRESS=1`` so that headless runs log plain text lines.
    """
    if os.environ.get("HSILIB_PLAIN_PROGRESS"):
        return False
    try:
        import ipywidgets  # noqa: F401  (tqdm.notebook needs it)
        from IPython import get_ipython
    except ImportError:
        return False
    ip = get_ipython()
    return ip is not None and type(ip).__name__ == "ZMQInteractiveShell"


#: The longest summary line :func:`progress` prints when nobody watches (characters); a
#: longer postfix (the last logged losses) is cut at a comma to fit.
SUMMARY_WIDTH = 150


def interactive_terminal() -> bool:
    """True when standard output is a terminal a person watches (a bar may redraw in place)."""
    try:
        return sys.stdout.isatty()
    except (AttributeError, ValueError):  # replaced or closed stdout
        return False


def progress(iterable: Iterable | None = None, total: int | None = None, desc: str = "",
             **kwargs: Any):
    """A tqdm progress bar that suits where it runs.

    JupyterLab gets the widget bar and a terminal the text bar, both updated in place. Where
    nobody watches the bar move (papermill under ``run_all.py``, which sets
    ``HSILIB_PLAIN_PROGRESS``, logs, CI), every redraw of a text bar would become one more line
    of output: there the bar stays silent and prints one summary line when it closes
    (:class:`OneLineProgress`), so an executed notebook shows one line per training. A long
    run is watched from outside through its status file instead (:mod:`hsilib.train.watch`).
    """
    if in_notebook_frontend():
        from tqdm.notebook import tqdm as widget_bar

        return widget_bar(iterable, total=total, desc=desc, **kwargs)
    if interactive_terminal():
        kwargs.setdefault("file", sys.stdout)
        kwargs.setdefault("mininterval", 1.0)
        kwargs.setdefault("ascii", True)
        kwargs.setdefault("dynamic_ncols", False)
        kwargs.setdefault("ncols", 100)
        return tqdm(iterable, total=total, desc=desc, **kwargs)
    return OneLineProgress(iterable, total=total, desc=desc, **kwargs)


class OneLineProgress(tqdm):
    """A tqdm bar that draws nothing while it runs and prints one line when it closes:
    ``desc: done/total steps in S s (s/step); last postfix`` (a resumed bar:
    ``start->done/total``).

    What :func:`progress` gives where nobody watches the output. It takes tqdm's arguments
    (``file``: where the line goes, standard output by default) and behaves as a tqdm bar
    (iteration, ``update``, ``set_postfix``, ``close``); a disabled bar prints nothing.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self._out = kwargs.pop("file", None) or sys.stdout
        kwargs["file"] = io.StringIO()  # tqdm's own redraws go nowhere
        kwargs["mininterval"] = float("inf")
        super().__init__(*args, **kwargs)

    def summary(self) -> str:
        """The closing line, at most :data:`SUMMARY_WIDTH` characters (the postfix is cut at
        a comma to fit)."""
        unit = "step" if self.unit == "it" else self.unit
        start = int(self.initial or 0)
        done = self.n - start
        seconds = self._time() - self.start_t
        total = f"/{self.total:g}" if self.total else ""
        span = f"{start}->{self.n}{total}" if start else f"{self.n}{total}"
        rate = f"{seconds / done:.3g} s/{unit}" if done > 0 else f"no {unit} run"
        text = f"{self.desc.rstrip(': ')}: {span} {unit}s in {seconds:.1f} s ({rate})"
        post = (self.postfix or "").strip(", ")
        while post and len(text) + 2 + len(post) > SUMMARY_WIDTH:
            post = post.rsplit(",", 1)[0] if "," in post else ""
        return f"{text}; {post}" if post else text

    def close(self) -> None:
        if not self.disable:
            print(self.summary(), file=self._out, flush=True)
        super().close()


def process_pool(workers: int, initializer=None):
    """A ``ProcessPoolExecutor`` that is safe to start from a process already running threads.

    Plain ``fork`` copies torch/OpenMP thread locks in whatever state they are and can deadlock
    the workers (seen under pytest); ``forkserver`` forks from a clean single-threaded server.
    Worker functions must be importable module-level functions.
    """
    import multiprocessing as mp
    from concurrent.futures import ProcessPoolExecutor

    method = "forkserver" if "forkserver" in mp.get_all_start_methods() else "spawn"
    return ProcessPoolExecutor(workers, mp_context=mp.get_context(method),
                               initializer=initializer)

