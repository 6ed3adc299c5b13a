"""The test-split guard: only the notebooks that evaluate classifiers may read the test split.

Generator choices (spectral losses, filtering, checkpoints, families) must rest on validation
crops, and the test split must stay untouched until the final classifier evaluation. A
notebook declares itself with :func:`hsilib.notebook.setup`, which calls :func:`enter`; from
then on every route to the test crops is closed unless the notebook is one of
:data:`TEST_READERS`:

- :func:`check_split` (every loader of a split: :class:`hsilib.data.datasets.CropDataset`,
  hence :func:`~hsilib.data.datasets.load_crops`, and the audit tables that take a split)
  refuses ``"test"``;
- :func:`check_all_crops` (a :class:`~hsilib.data.datasets.CropDataset` of real crops with no
  split, e.g. ``load_crops(split=None)``) refuses reading every crop, test crops included,
  except in the notebooks of :data:`ALL_CROPS_READERS` (notebook 01, whose data checks of
  framing and separability need every crop before any split is used);
- :func:`check_fit` refuses fitting or choosing anything (a normaliser, a training filter) on
  the test split in every notebook, the classifier notebooks included.

Outside a notebook (scripts, tests) nothing is refused.

:func:`hsilib.study.audit.audit_generators` checks afterwards, from the checkpoints alone, that
every generator was trained on training crops only, and raises :class:`LeakageError` if not.

Introduced in notebook 03.
"""

from __future__ import annotations

#: Notebooks that score (and explain) classifiers on the test split, once, at the end.
TEST_READERS = frozenset({"06", "07", "08", "09"})
#: Notebooks whose data checks need every crop, whatever its split (notebook 01: framing and
#: separability, before the splits are used).
ALL_CROPS_READERS = frozenset({"01"})

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


def check_all_crops(where: str = "") -> None:
    """Raise :class:`TestSplitError` if the active notebook may not read every crop at once
    (test crops among them): pass a split instead."""
    if _active is not None and _active not in TEST_READERS | ALL_CROPS_READERS:
        place = f" ({where})" if where else ""
        raise TestSplitError(
            f"notebook {_active} may not read every real crop at once{place}: that includes "
            "the test split; pass split='train' or 'val' with the splits table")


def check_fit(split: str | None, where: str = "") -> None:
    """Raise :class:`TestSplitError` if anything is to be fitted or chosen on the test split
    inside any notebook (the classifier notebooks only score on it)."""
    if split == "test" and _active is not None:
        raise TestSplitError(
            f"notebook {_active}: nothing is fitted or chosen on the test split"
            f"{f' ({where})' if where else ''}; fit on 'train', choose on 'val'")


class LeakageError(AssertionError):
    """A crop outside the training split reached something that learns from training data."""
