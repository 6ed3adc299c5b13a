"""The test-split guard: only the notebooks that evaluate classifiers may read the test split.

Generator choices (spectral losses, filtering, checkpoints, families) must rest on validation
crops, and the test split must stay untouched until the final classifier evaluation. A
notebook declares itself with :func:`hsilib.notebook.setup`, which calls :func:`enter`; from
then on :func:`check_split` (called by every loader of a split,
:class:`hsilib.data.datasets.CropDataset`) refuses ``"test"`` unless the notebook is one of
:data:`TEST_READERS`. Outside a notebook (scripts, tests) nothing is refused.

:func:`hsilib.study.audit.audit_generators` checks afterwards, from the checkpoints alone, that
every generator was trained on training crops only, and raises :class:`LeakageError` if not.

Introduced in notebook 03.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    pass

#: Notebooks that score (and explain) classifiers on the test split, once, at the end.
TEST_READERS = frozenset({"06", "07", "08", "09"})

_active: str | None = None


class TestSplitError(PermissionError):
    """A notebook that may not read the test split asked for it."""

    __test__ = False  # not a pytest test class despite its name


def enter(notebook: str | None) -> None:
    """Declare the notebook that runs in this process (None: no notebook, nothing refused)."""
    global _active
    _active = notebook


def active() -> str | None:
    """The notebook declared with :func:`enter`, or None."""
    return _active


def check_split(split: str | None, where: str = "") -> None:
    """Raise :class:`TestSplitError` if the active notebook may not read ``split``."""
    if split == "test" and _active is not None and _active not in TEST_READERS:
        raise TestSplitError(
            f"notebook {_active} may not read the test split{f' ({where})' if where else ''}: "
            "generators are trained on training crops and judged on validation crops only; "
            f"the test split is read by the classifier notebooks {', '.join(sorted(TEST_READERS))}")


class LeakageError(AssertionError):
    """A crop outside the training split reached something that learns from training data."""
