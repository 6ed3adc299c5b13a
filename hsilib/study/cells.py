"""What a grid is made of: :class:`Cell`, one unit of work (an experiment, a seed, a
replicate), and :class:`CellFailure`, what an executor returns for a cell that raised.

Both are plain dataclasses, so they pickle to remote workers. :mod:`hsilib.study.grid` runs the
cells and stores their results; :mod:`hsilib.study.ray_executor` is one place to run them.
Introduced in notebook 06.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Cell:
    """One unit of a grid: ``experiment`` (anything with a ``name``) run with ``seed`` and,
    when the experiment has replicates, ``replicate`` (else None)."""

    experiment: Any
    seed: int
    replicate: int | None
    fingerprint: str

    @property
    def name(self) -> str:
        """Folder name of the cell, e.g. ``real_seed1`` or ``real+syn_seed1_g0`` (as the
        checkpoints are named); the experiment's ``replicate_tag`` (default ``g``) prefixes
        the replicate, e.g. ``real_seed1_f2`` for fold 2."""
        tag = getattr(self.experiment, "replicate_tag", "g")
        tail = "" if self.replicate is None else f"_{tag}{self.replicate}"
        return f"{self.experiment.name}_seed{self.seed}{tail}"


@dataclass(frozen=True)
class CellFailure:
    """What an executor with ``map_unordered`` returns for a cell that raised."""

    error: str  # "ExceptionType: message"
    traceback: str
