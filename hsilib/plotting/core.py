"""What every figure module shares: saving a figure (one call, one stem, the run's figures
folder, written atomically, code names in words, its record for the figure rules) and
smoothing a noisy curve such as a training loss for display.

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

    ``pdf`` is the profile's ``save_pdf``. Before saving, every text of the figure (titles,
    labels, legends, category ticks) passes through :func:`hsilib.plotting.style.words`, so
    code names reach the reader in words, and the PNG carries the figure's record
    (:func:`hsilib.plotting.rules.record`, text chunk ``hsilib:figure``) that the figure rules
    are checked on. Returns the written paths.
    """
    if not name or "/" in name or name.endswith((".png", ".pdf")):
        raise ValueError(f"name must be a bare file stem like '01_spectra', got {name!r}")
    import json

    from .rules import KEY, record

    in_words(fig)
    fig.set_dpi(dpi)
    described = json.dumps(record(fig), separators=(",", ":"))
    out = []
    for ext in ("png", "pdf") if pdf else ("png",):
        target = Path(figures_dir) / f"{name}.{ext}"
        meta = {KEY: described} if ext == "png" else None
        with atomic_path(target) as tmp:
            fig.savefig(tmp, format=ext, dpi=dpi, bbox_inches="tight", metadata=meta)
        out.append(target)
    return out


def in_words(fig: Any) -> None:
    """Every text of ``fig`` (and its category tick labels) through
    :func:`hsilib.plotting.style.words`."""
    from matplotlib.text import Text
    from matplotlib.ticker import FixedFormatter, FuncFormatter

    from .style import words

    for text in fig.findobj(Text):
        new = words(text.get_text())
        if new != text.get_text():
            text.set_text(new)
    for ax in fig.axes:
        for axis in (ax.xaxis, ax.yaxis):
            fmt = axis.get_major_formatter()  # tick labels given as text, not numbers
            if not getattr(fmt, "in_words", False) and (isinstance(
                    fmt, FixedFormatter | FuncFormatter) or type(fmt).__name__ ==
                    "StrCategoryFormatter"):
                wrapped = FuncFormatter(lambda x, pos=None, f=fmt: words(str(f(x, pos))))
                wrapped.in_words = True
                axis.set_major_formatter(wrapped)


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
