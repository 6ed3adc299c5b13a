"""The package's shape: imports follow the layer order, no two modules import each other, and
no file grows past 450 lines.

The layer order is written down once, in :data:`LAYERS` (lowest first). A module may import, at
module level or inside a function, only from its own part of the package or a lower one; the
imports are read from each file's syntax tree (``ast``), so an import hidden in a function
counts as much as one at the top. Imports through ``importlib`` are not seen.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "hsilib"

#: The parts of hsilib from the lowest layer to the highest; a part is a top-level module or
#: subpackage of hsilib ("__init__" is hsilib/__init__.py itself). Parts on one line share a layer.
LAYERS = (
    ("__init__", "labels", "paths", "runtime", "guard", "config", "quiet"),  # root
    ("standin",),
    ("data",),
    ("inputs",),  # what each notebook reads from earlier ones (uses data.splits)
    ("models",),
    ("metrics",),
    ("train",),
    ("synth",),
    ("study",),
    ("plotting",),
    ("bench", "notebook", "interactive"),
)
MAX_LINES = 450

#: Known exceptions that other pieces of work in progress remove. THIS SET MUST BE EMPTY: an
#: entry is ("imports", importer, imported) or ("length", file relative to hsilib/), and the
#: tests below fail on any entry that no longer applies, so that it is removed at once.
PENDING: set[tuple[str, ...]] = set()


def _module_name(path: Path) -> str:
    parts = ["hsilib", *path.relative_to(PACKAGE).with_suffix("").parts]
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


FILES = {_module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def _part(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def _layer(module: str) -> int:
    part = _part(module)
    for i, parts in enumerate(LAYERS):
        if part in parts:
            return i
    raise KeyError(f"{module}: its part {part!r} is in no layer of LAYERS")


def _imports(module: str) -> list[tuple[str, int]]:
    """(imported hsilib module, line) for every import statement of ``module``, anywhere in it;
    ``from X import y`` counts X and, when X.y is a module, X.y."""
    path = FILES[module]
    package = module.split(".") if path.name == "__init__.py" else module.split(".")[:-1]
    out = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(package[:len(package) - node.level + 1] + ([base] if base else []))
            names = [base] + [f"{base}.{a.name}" for a in node.names]
        else:
            continue
        out += [(name, node.lineno) for name in names if name in FILES and name != module]
    return out


IMPORTS = {m: _imports(m) for m in FILES}


def _upward() -> set[tuple[str, str]]:
    return {(m, t) for m, found in IMPORTS.items() for t, _ in found if _layer(t) > _layer(m)}


def _mutual() -> set[tuple[str, str]]:
    edges = {(m, t) for m, found in IMPORTS.items() for t, _ in found}
    return {(a, b) for a, b in edges if (b, a) in edges and a < b}


def _long() -> dict[str, int]:
    lengths = {str(p.relative_to(PACKAGE)): len(p.read_text().splitlines())
               for p in FILES.values()}
    return {f: n for f, n in lengths.items() if n > MAX_LINES}


def test_every_part_of_the_package_has_a_layer():
    parts = {_part(m) for m in FILES}
    placed = {p for layer in LAYERS for p in layer}
    assert parts <= placed, f"parts without a layer in LAYERS: {sorted(parts - placed)}"
    assert len(placed) == sum(len(layer) for layer in LAYERS), "a part sits in two layers"


def test_imports_never_go_up_the_layers():
    bad = [f"{FILES[m].relative_to(PACKAGE.parent)}:{line} imports {t} "
           f"(layer {_layer(m)} -> {_layer(t)})"
           for m, found in IMPORTS.items() for t, line in found
           if _layer(t) > _layer(m) and ("imports", m, t) not in PENDING]
    assert not bad, "imports up the layer order:\n" + "\n".join(sorted(set(bad)))


def test_no_two_modules_import_each_other():
    bad = [f"{a} <-> {b}" for a, b in _mutual()]
    assert not bad, "modules that import each other:\n" + "\n".join(sorted(bad))


def test_no_file_is_longer_than_the_limit():
    bad = [f"hsilib/{f}: {n} lines" for f, n in _long().items() if ("length", f) not in PENDING]
    assert not bad, f"files over {MAX_LINES} lines:\n" + "\n".join(sorted(bad))


def test_pending_exceptions_still_apply():
    # an exception that no longer applies must leave PENDING (which must end up empty)
    live = ({("imports", a, b) for a, b in _upward()}
            | {("length", f) for f in _long()})
    assert not PENDING - live, f"remove from PENDING: {sorted(PENDING - live)}"


@pytest.mark.parametrize("source, expect", [
    ("from .. import WAVELENGTHS_NM", {"hsilib"}),
    ("from ..metrics import probe", {"hsilib.metrics", "hsilib.metrics.probe"}),
    ("def f():\n    from ..models.registry import read_checkpoint", {"hsilib.models.registry"}),
    ("import hsilib.study.grid as g", {"hsilib.study.grid"}),
    ("from . import intervals", {"hsilib.metrics", "hsilib.metrics.intervals"}),
])
def test_the_walk_sees_every_kind_of_import(tmp_path, monkeypatch, source, expect):
    fake = PACKAGE / "metrics" / "_architecture_probe.py"  # resolved as hsilib.metrics.<file>
    monkeypatch.setitem(FILES, "hsilib.metrics._architecture_probe", tmp_path / fake.name)
    (tmp_path / fake.name).write_text(source + "\n")
    assert {m for m, _ in _imports("hsilib.metrics._architecture_probe")} == expect
