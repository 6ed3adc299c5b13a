"""What an executed notebook may print: the checker the notebook tests run on every smoke run.

An executed notebook is a course chapter someone reads, so its outputs are held to three rules:

- **every warning is explained next to it**: a warning printed by a cell (Python's
  ``file:line: SomeWarning: message`` or any stderr text naming a ``...Warning``) must have its
  category named in that cell's source or in the markdown just above the cell (the notebook
  says what the warning means, e.g. notebook 01 on its ``SegmentationWarning``);
- **one progress line per training**: no progress bar redrawn in place (a carriage return in a
  text output, one output line per redraw under papermill), and at most one progress line per
  bar name in a cell (the summary line of :class:`hsilib.runtime.OneLineProgress`, or a tqdm bar);
- **readable lines**: no output line longer than :data:`MAX_LINE` characters (a one-line
  ``repr`` of a config, a long list printed whole).

:func:`output_problems` returns what breaks them, one string per problem, naming the cell.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Mapping
from typing import Any

#: The longest output line allowed (characters).
MAX_LINE = 200
#: A warning as Python prints it: ``path:line: Category: message``.
WARNING_RE = re.compile(r"^\S.*?:\d+: (?P<category>[A-Za-z_][\w.]*Warning): ", re.M)
#: Any warning category named in text (stderr that is not in Python's format).
CATEGORY_RE = re.compile(r"\b(?P<category>[A-Z]\w*Warning)\b")
#: The summary line of :class:`hsilib.runtime.OneLineProgress`.
SUMMARY_RE = re.compile(r"^(?P<desc>.+?): (\d+->)?\d+(/\d+)? \w+ in [\d.]+ s \(")
#: One drawing of a tqdm text bar: ``desc:  42%|###   | 42/100 [...``.
BAR_RE = re.compile(r"^(?P<desc>.*?):?\s+\d+%\|")


def _text(value: Any) -> str:
    return "".join(value) if isinstance(value, list) else str(value or "")


def _explanations(cells: list[Mapping[str, Any]], k: int) -> str:
    """Cell ``k``'s source and the markdown cells right above it (up to the previous code
    cell)."""
    parts = [_text(cells[k].get("source"))]
    j = k - 1
    while j >= 0 and cells[j].get("cell_type") != "code":
        parts.append(_text(cells[j].get("source")))
        j -= 1
    return "\n".join(parts)


def output_problems(nb: Mapping[str, Any], name: str = "", max_line: int = MAX_LINE
                    ) -> list[str]:
    """The problems of an executed notebook's outputs (``nb``: its JSON as a dict, e.g.
    ``json.load``; ``name``: how to name it in the messages); empty when it is clean."""
    if max_line < 1:
        raise ValueError(f"max_line must be >= 1, got {max_line!r}")
    cells = list(nb.get("cells", []))
    problems = []
    for k, cell in enumerate(cells):
        if cell.get("cell_type") != "code":
            continue
        where = f"{name} cell {k} ({cell.get('id', '?')})".strip()
        streams, texts = [], []
        for out in cell.get("outputs", []):
            kind = out.get("output_type")
            if kind == "stream":
                streams.append((out.get("name"), _text(out.get("text"))))
                texts.append(streams[-1][1])
            elif kind in ("display_data", "execute_result"):
                texts.append(_text(out.get("data", {}).get("text/plain")))
        # 1. warnings, each explained next to the cell
        found = Counter()
        for stream, text in streams:
            cats = [m["category"] for m in WARNING_RE.finditer(text)]
            if not cats and stream == "stderr":
                cats = [m["category"] for m in CATEGORY_RE.finditer(text)]
            found.update(c.rsplit(".", 1)[-1] for c in cats)
        if found:
            explained = _explanations(cells, k)
            for cat, n in sorted(found.items()):
                if cat not in explained:
                    problems.append(f"{where}: {n} x {cat} printed, but neither the cell nor "
                                    "the markdown above it names it")
        # 2. one progress line per training
        joined = "".join(t for _, t in streams)
        if "\r" in joined:
            problems.append(f"{where}: a progress bar redrawn in place "
                            f"({joined.count(chr(13))} carriage returns)")
        lines = [ln for text in texts for ln in re.split(r"[\r\n]", text)]
        bars = Counter()
        for ln in lines:
            m = SUMMARY_RE.match(ln) or BAR_RE.match(ln)
            if m:
                bars[m["desc"].strip()] += 1
        for desc, n in sorted(bars.items()):
            if n > 1:
                problems.append(f"{where}: {n} progress lines for {desc!r}, want one")
        # 3. readable lines
        long = [ln for ln in lines if len(ln) > max_line]
        if long:
            problems.append(f"{where}: {len(long)} output line(s) longer than {max_line} "
                            f"characters, the first: {long[0][:80]!r}...")
    return problems
