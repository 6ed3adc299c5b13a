"""The README and the pages of docs/ link only to what exists: every relative markdown link (and
image) names an existing file, every ``#anchor`` a heading of its target page, and every docs page
is reachable from the README."""

import re
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
PAGES = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]
#: ``[text](target)`` and ``![alt](target)``; the target up to the first space or ')'
LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)")
FENCE = re.compile(r"^(```|~~~).*?^\1[ \t]*$", flags=re.M | re.S)
CODE_SPAN = re.compile(r"`[^`\n]*`")


def slug(heading: str) -> str:
    """GitHub's anchor of a markdown heading: lower case, punctuation dropped, spaces to '-'."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def prose(text: str) -> str:
    """The text without fenced code blocks and code spans (a link inside code is not a link)."""
    return CODE_SPAN.sub("", FENCE.sub("", text))


def anchors(page: Path) -> set[str]:
    """The anchors of every heading of ``page``, a repeated heading numbered as GitHub does."""
    seen: dict[str, int] = {}
    out = set()
    for heading in re.findall(r"^#{1,6} (.+)$", FENCE.sub("", page.read_text()), flags=re.M):
        base = slug(heading)
        n = seen.get(base, 0)
        out.add(base if n == 0 else f"{base}-{n}")
        seen[base] = n + 1
    return out


def links(page: Path) -> list[str]:
    return [t for t in LINK.findall(prose(page.read_text()))
            if not re.match(r"[a-z][a-z0-9+.-]*:", t, flags=re.I)]  # http:, mailto:, ...


def test_slug_and_anchors_follow_github(tmp_path):
    page = tmp_path / "p.md"
    page.write_text("# The `full` profile: cost\n## Results\n## Results\n"
                    "```bash\n# not a heading\n```\n")
    assert anchors(page) == {"the-full-profile-cost", "results", "results-1"}
    assert slug("Threads on a shared machine") == "threads-on-a-shared-machine"


def test_links_skip_code_and_external_addresses(tmp_path):
    page = tmp_path / "p.md"
    page.write_text("[a](docs/a.md) ![f](figures/x.png) [w](https://example.org/) "
                    "`[c](in/code.md)`\n```\n[d](in/fence.md)\n```\n[e](#here)\n")
    assert links(page) == ["docs/a.md", "figures/x.png", "#here"]


@pytest.mark.parametrize("page", PAGES, ids=[p.name for p in PAGES])
def test_every_relative_link_resolves(page):
    found = links(page)
    for target in found:
        path, _, anchor = target.partition("#")
        dest = (page.parent / path).resolve() if path else page
        assert dest.exists(), f"{page.name} links {target}: {dest} does not exist"
        if anchor and dest.suffix == ".md":
            assert anchor in anchors(dest), \
                f"{page.name} links {target}: {dest.name} has no heading with anchor #{anchor}"


def test_readme_links_every_docs_page():
    linked = {(REPO / t.partition("#")[0]).resolve() for t in links(REPO / "README.md")}
    missing = [p.name for p in PAGES[1:] if p.resolve() not in linked]
    assert not missing, f"README.md links no docs page named {missing}"
