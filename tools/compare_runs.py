"""Compare the results of two run folders, cell by cell.

Usage::

    python tools/compare_runs.py RUN_A RUN_B [--rtol 0] [--atol 0] [--timing REGEX]

Both folders are written by ``run_all.py``. Every ``artifacts/results/*.csv`` of either run is
read as text and compared with its namesake in the other: the same columns, the same number of
rows, and every cell equal. Cells are compared exactly by default; ``--rtol`` / ``--atol``
allow a numeric tolerance (``|a - b| <= atol + rtol * |b|``) for cells that parse as numbers.
Each run folder's own path inside a cell (notebook 08 records checkpoint paths) is replaced by
``<run>`` first, so two folders of the same run compare equal.

Columns that hold training or wall-clock times (their name matches ``--timing``, by default
``wall``, ``second``, ``time``, ``s per`` / ``s_per`` or a trailing unit ``_s`` / `` s``) are
not results: a machine shared with other jobs makes them differ from run to run. They are
listed in a separate section, never counted as differences. The per-notebook wall times of the
two ``manifest.json`` files are listed the same way.

Exit status: 0 when every result cell is equal, 1 when any differs (or a file, column or row
is missing on one side), 2 when a folder is not a run folder.
"""

from __future__ import annotations

import argparse
import json
import math
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

#: Column names that hold times (matched case-insensitively anywhere in the name).
TIMING = r"wall|second|time|s[ _]per|(^|[ _])s$"
RESULTS = Path("artifacts") / "results"
MAX_SHOWN = 5  # differing cells listed per file


@dataclass
class Report:
    """What :func:`compare` found: result differences (failures) and timing differences."""

    files: int = 0
    cells: int = 0
    differences: list[str] = field(default_factory=list)
    timings: list[str] = field(default_factory=list)

    @property
    def identical(self) -> bool:
        return not self.differences


def _read(path: Path, root: Path) -> pd.DataFrame:
    """A result table as text, the run folder's own path replaced by ``<run>``."""
    try:
        table = pd.read_csv(path, dtype=str, keep_default_na=False)
    except pd.errors.EmptyDataError:  # a table written without rows or columns
        return pd.DataFrame()
    return table.apply(lambda col: col.str.replace(str(root.resolve()), "<run>", regex=False))


def _number(text: str) -> float | None:
    try:
        return float(text)
    except ValueError:
        return None


def _equal(a: str, b: str, rtol: float, atol: float) -> bool:
    if a == b:
        return True
    if rtol == 0 and atol == 0:
        return False
    x, y = _number(a), _number(b)
    if x is None or y is None:
        return False
    if math.isnan(x) or math.isnan(y):
        return math.isnan(x) and math.isnan(y)
    return abs(x - y) <= atol + rtol * abs(y)


def compare_table(name: str, a: pd.DataFrame, b: pd.DataFrame, report: Report, *,
                  rtol: float = 0.0, atol: float = 0.0, timing: str = TIMING) -> None:
    """Add the differences of one result table (``a``: first run, ``b``: second) to ``report``."""
    if list(a.columns) != list(b.columns):
        report.differences.append(f"{name}: columns differ: {list(a.columns)} vs "
                                  f"{list(b.columns)}")
        return
    if len(a) != len(b):
        report.differences.append(f"{name}: {len(a)} rows vs {len(b)} rows")
        return
    pattern = re.compile(timing, re.IGNORECASE)
    shown = 0
    for col in a.columns:
        same = [_equal(x, y, rtol, atol) for x, y in zip(a[col], b[col], strict=True)]
        report.cells += len(same)
        rows = [i for i, s in enumerate(same) if not s]
        if not rows:
            continue
        if pattern.search(col):
            report.timings.append(f"{name}: column {col!r} differs in {len(rows)} of {len(a)} "
                                  f"rows (first: {a[col].iloc[rows[0]]} vs "
                                  f"{b[col].iloc[rows[0]]})")
            continue
        for i in rows:
            if shown < MAX_SHOWN:
                report.differences.append(f"{name}: row {i}, column {col!r}: "
                                          f"{a[col].iloc[i]!r} vs {b[col].iloc[i]!r}")
            shown += 1
    if shown > MAX_SHOWN:
        report.differences.append(f"{name}: ... {shown - MAX_SHOWN} more differing cells")


def _manifest_times(root: Path) -> dict[str, float | None]:
    path = root / "manifest.json"
    if not path.is_file():
        return {}
    notebooks = json.loads(path.read_text()).get("notebooks", {})
    return {name: rec.get("wall_s") for name, rec in notebooks.items()}


def compare(run_a: str | Path, run_b: str | Path, *, rtol: float = 0.0, atol: float = 0.0,
            timing: str = TIMING) -> Report:
    """Compare every result table and the notebook wall times of two run folders."""
    run_a, run_b = Path(run_a), Path(run_b)
    for root in (run_a, run_b):
        if not (root / RESULTS).is_dir():
            raise FileNotFoundError(f"{root} is not a run folder: it has no {RESULTS}/")
    report = Report()
    names_a = {p.name for p in (run_a / RESULTS).glob("*.csv")}
    names_b = {p.name for p in (run_b / RESULTS).glob("*.csv")}
    for name in sorted(names_a ^ names_b):
        side = run_a if name in names_a else run_b
        report.differences.append(f"{name}: only in {side}")
    for name in sorted(names_a & names_b):
        report.files += 1
        compare_table(name, _read(run_a / RESULTS / name, run_a),
                      _read(run_b / RESULTS / name, run_b), report, rtol=rtol, atol=atol,
                      timing=timing)
    times_a, times_b = _manifest_times(run_a), _manifest_times(run_b)
    for name in sorted(set(times_a) | set(times_b)):
        report.timings.append(f"manifest: {name} wall time {times_a.get(name)} s vs "
                              f"{times_b.get(name)} s")
    return report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("run_a", type=Path, help="first run folder")
    parser.add_argument("run_b", type=Path, help="second run folder")
    parser.add_argument("--rtol", type=float, default=0.0, help="relative tolerance (default 0)")
    parser.add_argument("--atol", type=float, default=0.0, help="absolute tolerance (default 0)")
    parser.add_argument("--timing", default=TIMING,
                        help=f"regular expression of timing column names (default {TIMING!r})")
    args = parser.parse_args(argv)
    try:
        report = compare(args.run_a, args.run_b, rtol=args.rtol, atol=args.atol,
                         timing=args.timing)
    except FileNotFoundError as err:
        print(err, file=sys.stderr)
        return 2
    print(f"{report.files} result tables, {report.cells} cells compared")
    print(f"\nTimings (not results; they differ between runs on a shared machine): "
          f"{len(report.timings)}")
    for line in report.timings:
        print(f"  {line}")
    print(f"\nResult differences: {len(report.differences)}")
    for line in report.differences:
        print(f"  {line}")
    print("\nidentical results" if report.identical else "\nRESULTS DIFFER")
    return 0 if report.identical else 1


if __name__ == "__main__":
    sys.exit(main())
