"""Every notebook stays a course chapter: its code cells call ``hsilib`` instead of growing it.

Over the source of every notebook (the syntax tree of each code cell): a function or class is
defined only in a cell tagged ``teaching`` (a step written out by hand; a name bound to a
``lambda`` counts as a function), and no code cell has more than :data:`MAX_LINES` lines. Logic
that needs either belongs in ``hsilib``, where it is tested.
"""

import ast
from pathlib import Path

import nbformat
import pytest
from IPython.core.inputtransformer2 import TransformerManager

REPO = Path(__file__).resolve().parent.parent
NOTEBOOKS = sorted((REPO / "notebooks").glob("[0-9][0-9]_*.ipynb"))
MAX_LINES = 30
TEACHING = "teaching"


def code_cells(nb) -> list[tuple[int, str, bool]]:
    """``(cell number, source, tagged teaching)`` of every code cell."""
    return [(i, cell.source, TEACHING in cell.metadata.get("tags", []))
            for i, cell in enumerate(nb.cells) if cell.cell_type == "code"]


def definitions(source: str) -> list[str]:
    """Names of the functions and classes a cell defines (IPython magics allowed)."""
    tree = ast.parse(TransformerManager().transform_cell(source))
    names = []
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            names.append(node.name)
        elif isinstance(node, ast.Assign | ast.AnnAssign) and isinstance(node.value, ast.Lambda):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            names += [ast.unparse(t) for t in targets]
    return names


def violations(nb) -> list[str]:
    """What breaks the two rules, one line each."""
    found = []
    for i, source, teaching in code_cells(nb):
        names = definitions(source)
        if names and not teaching:
            found.append(f"cell {i} defines {names} outside a cell tagged {TEACHING!r}: move "
                         "the logic into hsilib")
        n_lines = len(source.splitlines())
        if n_lines > MAX_LINES:
            found.append(f"cell {i} has {n_lines} lines (at most {MAX_LINES}): split it or move "
                         "the logic into hsilib")
    return found


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_defines_nothing_outside_teaching_cells_and_keeps_cells_short(path):
    problems = violations(nbformat.read(path, as_version=4))
    assert not problems, f"{path.name}:\n" + "\n".join(problems)


def _notebook(*cells):
    nb = nbformat.v4.new_notebook()
    for source, tags in cells:
        cell = nbformat.v4.new_code_cell(source)
        cell.metadata["tags"] = tags
        nb.cells.append(cell)
    return nb


def test_the_rules_catch_definitions_and_long_cells():
    nb = _notebook(
        ("def step(x):\n    return x + 1", []),                    # 0: a function
        ("class Net:\n    pass", ["parameters"]),                  # 1: a class, wrong tag
        ("def by_hand(x):\n    return 2 * x", [TEACHING]),          # 2: allowed
        ("f = lambda x: x\nt.assign(y=lambda r: r.x)", []),         # 3: a named lambda only
        ("%matplotlib inline\nx = 1", []),                          # 4: a magic, no definition
        ("\n".join(f"x{k} = {k}" for k in range(MAX_LINES)), []),   # 5: exactly the limit
        ("\n".join(f"x{k} = {k}" for k in range(MAX_LINES + 1)), [TEACHING]),  # 6: too long
    )
    problems = violations(nb)
    assert [p.split(" ", 2)[:2] for p in problems] == [
        ["cell", "0"], ["cell", "1"], ["cell", "3"], ["cell", "6"]]
    assert "['step']" in problems[0] and "['Net']" in problems[1] and "['f']" in problems[2]
    assert f"{MAX_LINES + 1} lines" in problems[3]
