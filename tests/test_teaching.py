"""The course material stays whole: every notebook opens with its objectives and ends with
exercises whose values run, and every notebook, glossary entry, solution and run_all.py flag the
course pages name exists."""

import importlib
import re
import shlex
import sys
from pathlib import Path

import nbformat
import pytest

REPO = Path(__file__).resolve().parent.parent
NOTEBOOKS = sorted((REPO / "notebooks").glob("[0-9][0-9]_*.ipynb"))
TEACHING = REPO / "docs" / "teaching.md"
GLOSSARY = REPO / "docs" / "glossary.md"
CODE_SPAN = re.compile(r"`([^`]*--set [^`]*)`")
SOLUTION = re.compile(r"solutions\.(\w+)\.(\w+)")


def slug(heading: str) -> str:
    """GitHub's anchor of a markdown heading: lower case, punctuation dropped, spaces to '-'."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def cells(path: Path) -> list:
    return nbformat.read(path, as_version=4).cells


def section(text: str, title: str) -> str:
    """The text under ``### title`` up to the next heading."""
    m = re.search(rf"^### {title}\n(.*?)(?=^#|\Z)", text, flags=re.M | re.S)
    assert m, f"no '### {title}' section"
    return m.group(1)


def settings(text: str) -> list[str]:
    """The ``--set`` arguments of every code span, as a shell would pass them (quotes removed)."""
    out = []
    for span in CODE_SPAN.findall(text):
        words = shlex.split(span)
        out += [words[i + 1] for i, w in enumerate(words[:-1]) if w == "--set"]
    return out


def numbered(text: str) -> list[str]:
    return re.findall(r"^\d+\. ", text, flags=re.M)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_opens_with_objectives_and_closes_with_exercises(path):
    cs = cells(path)
    head = cs[1]
    assert head.cell_type == "markdown" and head.source.startswith("## Learning objectives"), \
        f"{path.name}: the cell after the title is not the learning objectives"
    objectives = head.source.split("## Prerequisites")[0]
    assert 3 <= len(re.findall(r"^- ", objectives, flags=re.M)) <= 5, path.name
    assert "## Prerequisites" in head.source
    tail = cs[-1]
    assert tail.cell_type == "markdown" and tail.source.startswith("## Try this"), path.name
    wrote = [i for i, c in enumerate(cs) if c.cell_type == "markdown"
             and "What this notebook wrote" in c.source.splitlines()[0]]
    assert wrote and wrote[-1] < len(cs) - 1, f"{path.name}: 'Try this' must follow what it wrote"
    assert len(numbered(section(tail.source, "Exercises"))) >= 3, path.name
    assert 3 <= len(numbered(section(tail.source, "Questions"))) <= 4, path.name


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_every_exercise_value_is_accepted_by_the_notebook(path):
    """Each ``--set NN.key=value`` of an exercise names this notebook and passes the same
    checks as run_all.py's (a renamed config key breaks this test, not a student's lab)."""
    sys.path.insert(0, str(REPO))
    import run_all
    from hsilib.notebook import resolve_overrides

    exercises = section(cells(path)[-1].source, "Exercises")
    items = re.split(r"^\d+\. ", exercises, flags=re.M)[1:]
    assert all(settings(item) for item in items), f"{path.name}: an exercise changes no value"
    for item in settings(exercises):
        nn = item.split(".")[0]
        assert nn == path.name[:2], f"{path.name}: an exercise sets notebook {nn}"
        values = run_all.parse_overrides([item], {nn})[nn]
        resolve_overrides(nn, values)  # raises ConfigError naming the key


def test_every_named_solution_exists():
    named = set()
    for path in NOTEBOOKS:
        named |= set(SOLUTION.findall(cells(path)[-1].source))
    assert named
    sys.path.insert(0, str(REPO))
    for module, func in sorted(named):
        mod = importlib.import_module(f"solutions.{module}")
        assert callable(getattr(mod, func, None)), f"solutions.{module}.{func} does not exist"


def test_teaching_page_links_exist():
    text = TEACHING.read_text()
    anchors = {slug(h) for h in re.findall(r"^#{2,3} (.+)$", GLOSSARY.read_text(), flags=re.M)}
    links = re.findall(r"\]\(([^)#]+)(?:#([^)]+))?\)", text)
    notebooks = {Path(t).name for t, _ in links if t.endswith(".ipynb")}
    assert notebooks == {p.name for p in NOTEBOOKS}, "teaching.md must link every notebook"
    for target, anchor in links:
        assert (TEACHING.parent / target).resolve().exists(), f"teaching.md links {target}"
        if target == "glossary.md" and anchor:
            assert anchor in anchors, f"teaching.md links glossary entry #{anchor}, not there"
    for target, _ in re.findall(r"\]\(([^)#]+)(?:#([^)]+))?\)", GLOSSARY.read_text()):
        assert (GLOSSARY.parent / target).resolve().exists(), f"glossary.md links {target}"


def test_teaching_commands_use_existing_flags_and_notebooks():
    source = (REPO / "run_all.py").read_text()
    flags = set(re.findall(r'add_argument\("(--[\w-]+)"', source))
    numbers = {p.name[:2] for p in NOTEBOOKS}
    commands = re.findall(r"python run_all\.py[^`\n]*", TEACHING.read_text())
    for path in NOTEBOOKS:
        commands += re.findall(r"python run_all\.py[^`\n]*", cells(path)[-1].source)
    assert len(commands) > 9
    for command in commands:
        for flag in re.findall(r"(--[\w-]+)", command):
            assert flag in flags, f"{command!r}: run_all.py has no {flag}"
        only = re.search(r"--only ((?:\d\d ?)+)", command)
        if only:
            assert set(only.group(1).split()) <= numbers, command


def test_every_notebook_has_a_chapter_with_objectives_and_a_prepare_command():
    text = TEACHING.read_text()
    for path in NOTEBOOKS:
        m = re.search(rf"^### \[{path.name[:2]} .*?(?=^##)", text, flags=re.M | re.S)
        assert m, f"teaching.md has no chapter for {path.name}"
        chapter = m.group(0)
        assert len(re.findall(r"^- ", chapter, flags=re.M)) >= 3, path.name
        assert "Prerequisites" in chapter and "Prepare" in chapter, path.name


def test_slug_matches_github_anchors():
    assert slug("Floor (real-vs-real)") == "floor-real-vs-real"
    assert slug("TSTR, TRTS, TRTR") == "tstr-trts-trtr"
    assert slug("FD_rand") == "fd_rand"
