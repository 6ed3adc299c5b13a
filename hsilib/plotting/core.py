"""Saving figures: one call, one stem, the run's figures folder, written atomically.

Introduced in notebook 01.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

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
