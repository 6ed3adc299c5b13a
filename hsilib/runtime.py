"""Devices, seeds and progress bars: the small pieces every notebook and trainer calls.

Introduced in notebook 01.
"""

from __future__ import annotations

import os
import random
import sys
from collections.abc import Iterable
from typing import Any

import numpy as np


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


def progress(iterable: Iterable | None = None, total: int | None = None, desc: str = "",
             **kwargs: Any):
    """A tqdm progress bar that suits where it runs.

    JupyterLab gets the widget bar; papermill logs, terminals and CI get plain text lines at a
    modest rate (a line every few seconds) so executed notebooks stay readable.
    """
    if in_notebook_frontend():
        from tqdm.notebook import tqdm
    else:
        from tqdm import tqdm

        kwargs.setdefault("file", sys.stdout)
        kwargs.setdefault("mininterval", 5.0)
        kwargs.setdefault("ascii", True)
        kwargs.setdefault("dynamic_ncols", False)
        kwargs.setdefault("ncols", 100)
    return tqdm(iterable, total=total, desc=desc, **kwargs)


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
