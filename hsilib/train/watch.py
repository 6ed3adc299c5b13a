"""What a long run says about itself while it runs: training records and a status file.

Every generator training (:meth:`hsilib.train.trainer.Trainer.fit`) and every classifier
training (:func:`hsilib.train.classifier.train_classifier`) adds one record to
:data:`RECORDS` when it ends: what trained, how many steps (or epochs and batches) it ran, its
seconds, the seconds per step, the peak memory of this process (resident set size; on a GPU
also the peak CUDA memory) and the size of its checkpoint. :func:`hsilib.notebook.Notebook.outputs`
writes them (``artifacts/results/plan_<NN>.csv``) and ``run_all.py --dry-run`` turns them into
the run's projection, ``artifacts/results/plan.csv``.

When the environment names a status file (``HSILIB_STATUS_FILE``, set by ``run_all.py`` to
``<run>/status.json``), :func:`status` rewrites it (atomically, at most once every
:data:`STATUS_EVERY_S` seconds unless forced) with the notebook, the training and its step, so
that a run can be watched from outside (``cat runs/full/status.json``) while the notebook's own
output stays one progress line per training.

With ``tensorboard = True`` in a generator's config (off by default), its trainer also writes
TensorBoard scalars and sample grids (:func:`write_board`) under ``<run>/tensorboard/<name>/``;
the package is the optional extra ``watch`` and is imported only then.
"""

from __future__ import annotations

import json
import os
import resource
import sys
import time
import warnings
from collections.abc import Mapping
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import torch

#: One dict per finished training of this process (module docstring).
RECORDS: list[dict[str, Any]] = []
#: The status file is rewritten at most this often (seconds), except when forced.
STATUS_EVERY_S = 5.0
_last_status = 0.0


def peak_memory_mb() -> dict[str, float]:
    """Peak resident memory of this process and, on CUDA, peak allocated GPU memory (MB)."""
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    rss_mb = rss / 2**20 if sys.platform == "darwin" else rss / 1024  # bytes on macOS, kB else
    out = {"peak_rss_mb": round(rss_mb, 1)}
    if torch.cuda.is_available():
        out["peak_cuda_mb"] = round(torch.cuda.max_memory_allocated() / 2**20, 1)
    return out


def record(kind: str, name: str, *, units: str, done: int, seconds: float,
           checkpoint: str | Path | None = None, **extra: Any) -> dict[str, Any]:
    """Add the record of one finished training (``kind``: ``generator`` or ``classifier``;
    ``done`` ``units`` (steps, batches) in ``seconds``); ``extra`` adds columns (e.g. the
    config section it trained with). Returns the record."""
    size = Path(checkpoint).stat().st_size if checkpoint and Path(checkpoint).is_file() else 0
    row = {"kind": kind, "name": name, "units": units, "done": int(done),
           "seconds": round(float(seconds), 4),
           "seconds_per_unit": round(float(seconds) / done, 5) if done else None,
           "checkpoint_mb": round(size / 2**20, 3), **peak_memory_mb(), **extra}
    RECORDS.append(row)
    return row


def status(force: bool = False, **fields: Any) -> None:
    """Rewrite the status file named by ``HSILIB_STATUS_FILE`` (nothing when unset) with
    ``fields`` (e.g. ``training``, ``step``, ``of``) beside what run_all.py put there (the
    notebook), at most every :data:`STATUS_EVERY_S` seconds unless ``force``."""
    global _last_status
    path = os.environ.get("HSILIB_STATUS_FILE")
    now = time.monotonic()
    if not path or (not force and now - _last_status < STATUS_EVERY_S):
        return
    _last_status = now
    path = Path(path)
    try:
        current = json.loads(path.read_text()) if path.is_file() else {}
    except (OSError, ValueError):
        current = {}
    current.update(fields, updated=datetime.now(timezone.utc).isoformat(timespec="seconds"))
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        tmp.write_text(json.dumps(current, indent=1, default=str))
        os.replace(tmp, path)
    except OSError:
        pass  # watching must never stop a run


def follow_cells() -> None:
    """In a notebook kernel with a status file: put the number of each cell that starts into
    the status file (``cell``: IPython's execution count, the executed notebook's ``In [n]``).
    Nothing outside IPython or without ``HSILIB_STATUS_FILE``."""
    if not os.environ.get("HSILIB_STATUS_FILE"):
        return
    try:
        from IPython import get_ipython
    except ImportError:
        return
    shell = get_ipython()
    if shell is None:
        return

    def started(info: Any) -> None:
        status(force=True, cell=shell.execution_count, training=None, step=None, of=None)

    shell.events.register("pre_run_cell", started)


# -- TensorBoard (optional: the extra "watch") -------------------------------------------------
def summary_writer(folder: str | Path) -> Any:
    """A TensorBoard ``SummaryWriter`` logging into ``folder``, or None (with a warning) when
    the ``tensorboard`` package is missing (the optional extra ``watch``). Imported here only:
    a run without TensorBoard never imports it."""
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError:
        warnings.warn("tensorboard is not installed (pip install -e '.[watch]'); training "
                      "goes on without TensorBoard logs", stacklevel=3)
        return None
    return SummaryWriter(log_dir=str(folder))


def board_folder(cfg: Any, root: str | Path, name: str) -> Path | None:
    """Where a training named ``name`` of run folder ``root`` writes TensorBoard logs:
    ``<root>/tensorboard/<name>/`` when its generator config says ``tensorboard``, else None."""
    return Path(root) / "tensorboard" / name if getattr(cfg, "tensorboard", False) else None


def write_board(writer: Any, desc: str, step: int, logs: Mapping[str, float] | None = None,
                images: torch.Tensor | None = None) -> None:
    """The logged losses as scalars ``<desc>/<key>`` and a grid of samples (N x bands x H x
    W in [-1, 1]) as false-colour images (bands 1, middle and last as R, G, B)."""
    for key, value in (logs or {}).items():
        if key != "step":
            writer.add_scalar(f"{desc}/{key}", value, step)
    if images is not None and images.dim() == 4:
        from torchvision.utils import make_grid

        bands = images.shape[1]
        rgb = images[:, [0, bands // 2, bands - 1]] if bands >= 3 else images[:, :1]
        writer.add_image(f"{desc}/samples",
                         make_grid(((rgb.float() + 1) / 2).clamp(0, 1), nrow=4), step)
