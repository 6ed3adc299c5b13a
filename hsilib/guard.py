"""The test-split guard: only the notebooks that evaluate classifiers may read the test split.

Generator choices (spectral losses, filtering, checkpoints, families) must rest on validation
crops, and the test split must stay untouched until the final classifier evaluation. A
notebook declares itself with :func:`hsilib.notebook.setup`, which calls :func:`enter`; from
then on :func:`check_split` (called by every loader of a split,
:class:`hsilib.data.datasets.CropDataset`) refuses ``"test"`` unless the notebook is one of
:data:`TEST_READERS`. Outside a notebook (scripts, tests) nothing is refused.

:func:`audit_generators` checks afterwards, from the checkpoints alone, that every generator
was trained on training crops only (the trainer stores the ids of its images).

Introduced in notebook 03.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import pandas as pd

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


def audit_generators(checkpoints, splits) -> pd.DataFrame:
    """Which split every training image of every generator checkpoint came from.

    ``checkpoints``: checkpoint paths (e.g. ``run.checkpoints.glob("fastgan_*.pt")``), each
    written by a trainer given ``data_ids`` (one without them cannot be audited and is an
    error too). ``splits``: the
    ``splits.csv`` table or its path. Returns one row per checkpoint: ``checkpoint``, ``n_ids``
    and the number of its ids in each split (``train``, ``val``, ``test``; ``unknown`` for ids
    in no split). Raises :class:`LeakageError` naming the checkpoint if any id, or any other
    crop of the same source image, lies outside the training split.
    """
    from pathlib import Path

    import pandas as pd  # noqa: F811 (the runtime import; the one above is for annotations)

    from .models.registry import read_checkpoint

    if not isinstance(splits, pd.DataFrame):
        splits = pd.read_csv(splits, dtype={"id": str, "source": str})
    split_of = splits.set_index("id")["split"]
    source_of = splits.set_index("id")["source"]
    held_sources = set(splits.source[splits.split != "train"])
    rows = []
    for path in sorted(Path(p) for p in checkpoints):
        ids = read_checkpoint(path, "cpu").get("data_ids") or []
        known = [i for i in ids if i in split_of.index]
        counts = pd.Series([split_of[i] for i in known], dtype=object).value_counts()
        row = {"checkpoint": path.name, "n_ids": len(ids),
               **{s: int(counts.get(s, 0)) for s in ("train", "val", "test")},
               "unknown": len(ids) - len(known)}
        leaked = {source_of[i] for i in known} & held_sources
        if not ids:
            raise LeakageError(f"{path}: holds no data_ids, so what it was trained on cannot be "
                               "audited (pass data_ids= to the trainer)")
        if row["val"] or row["test"] or row["unknown"] or leaked:
            raise LeakageError(f"{path}: trained on {row['val']} validation, {row['test']} test "
                               f"and {row['unknown']} unknown crops; source images outside the "
                               f"training split: {sorted(leaked)[:5]}")
        rows.append(row)
    return pd.DataFrame(rows, columns=["checkpoint", "n_ids", "train", "val", "test", "unknown"])
