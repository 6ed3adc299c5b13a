"""What every figure module shares: saving a figure (one call, one stem, the run's figures
folder, written atomically) and smoothing a noisy curve such as a training loss for display.

Introduced in notebook 01 (saving) and notebook 02 (smoothed loss curves).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from ..paths import atomic_path


def savefig(fig: Any, name: str, figures_dir: str | Path, pdf: bool = False,
            dpi: int = 150) -> list[Path]:
    """Save ``fig`` as ``<figures_dir>/<name>.png`` (and ``.pdf`` when ``pdf``), atomically.

    ``pdf`` is the profile's ``save_pdf`` (true under ``full``). Returns the written paths.
    """
    if not name or "/" in name or name.endswith((".png", ".pdf")):
        raise ValueError(f"name must be a bare file stem like '01_spectra', got {name!r}")
    out = []
    for ext in ("png", "pdf") if pdf else ("png",):
        target = Path(figures_dir) / f"{name}.{ext}"
        with atomic_path(target) as tmp:
            fig.savefig(tmp, format=ext, dpi=dpi, bbox_inches="tight")
        out.append(target)
    return out


def smoothing_window(n: int, points: int = 50) -> int:
    """A running-mean window for a curve of ``n`` values that leaves about ``points``
    independent stretches: ``max(1, n // points)``."""
    if points < 1:
        raise ValueError(f"points must be >= 1, got {points}")
    return max(1, int(n) // points)


def running_mean(values, window: int | None = None, points: int = 50) -> np.ndarray:
    """Trailing running mean of ``values`` over ``window`` values (``min_periods=1``: the first
    values average what there is), for display only; ``window`` None: :func:`smoothing_window`
    of the curve's length and ``points``. Every smoothed curve of the notebooks uses it."""
    import pandas as pd

    values = pd.Series(np.asarray(values, float))
    window = smoothing_window(len(values), points) if window is None else int(window)
    if window < 1:
        raise ValueError(f"window must be >= 1, got {window}")
    return values.rolling(window, min_periods=1).mean().to_numpy()
