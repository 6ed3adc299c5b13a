"""Build the course book: a static site of one run's executed notebooks and the project's pages.

    python book/build.py [RUN_FOLDER] [--out DIR] [--publish-real-data]

``RUN_FOLDER`` (default ``runs/quick``) is a folder written by ``run_all.py`` under any profile;
the book shows its executed notebooks exactly as they ran (Sphinx + myst-nb, never executed
again), one page per notebook headed by the run's profile, commit and wall time from its
``manifest.json``, beside the README and every ``docs/*.md`` page (teaching guide and glossary
first when they exist). The site (default ``build/book``) opens from the file system
(``<out>/index.html``) or from ``python -m http.server -d <out>``. Nothing is fetched from the
network at build or view time: the theme's files are local and equations are typeset by a local
MathJax (Debian's ``libjs-mathjax``, or the folder named by ``MATHJAX_DIR``); the build fails if
any stylesheet or script of the built HTML points at an ``http(s)://`` address.

A run on real data (``--data``, recorded as ``data_dir`` in the manifest) shows patient images:
the build refuses it unless ``--publish-real-data`` is given or ``BOOK_PUBLISH_REAL_DATA=1`` is
set, which states that those images may be published.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat

REPO = Path(__file__).resolve().parent.parent
BOOK = Path(__file__).resolve().parent
#: Where MathJax 2 is looked for (first that holds MathJax.js): MATHJAX_DIR, then Debian's
#: libjs-mathjax.
MATHJAX_DIRS = ("/usr/share/javascript/mathjax", "/usr/share/mathjax")
#: The parts of MathJax 2 that the TeX input, the CommonHTML output and its fonts need.
MATHJAX_PARTS = ("MathJax.js", "config/TeX-AMS_CHTML.js", "jax/input/TeX", "jax/element",
                 "jax/output/CommonHTML", "extensions", "localization/en",
                 "fonts/HTML-CSS/TeX/woff")
#: docs pages that open the guide, in this order, when they exist; every other page follows.
FIRST_PAGES = ("teaching", "glossary")
PUBLISH_ENV = "BOOK_PUBLISH_REAL_DATA"


class BookError(RuntimeError):
    """The book cannot be built from this run folder (message says why)."""


def duration(seconds: float) -> str:
    """'18.5 s', '4 min 03 s', '2 h 07 min' for a wall time in seconds."""
    s = float(seconds)
    if s < 60:
        return f"{s:.1f} s"
    m, s = divmod(round(s), 60)
    if m < 60:
        return f"{m} min {s:02d} s"
    h, m = divmod(m, 60)
    return f"{h} h {m:02d} min"


def read_manifest(run: Path) -> dict:
    path = run / "manifest.json"
    if not path.is_file():
        raise BookError(f"{path} not found: give the folder of a finished run_all.py run")
    manifest = json.loads(path.read_text())
    if not manifest.get("notebooks"):
        raise BookError(f"{path} records no notebook: nothing to show")
    return manifest


def check_publishable(manifest: dict, publish_real_data: bool) -> None:
    """Refuse a run on real data unless publishing its images was explicitly allowed."""
    if manifest.get("data_dir") and not publish_real_data:
        raise BookError(
            f"this run read real data ({manifest['data_dir']}): its notebooks show patient "
            f"images. Build the book only if they may be published, with --publish-real-data "
            f"or {PUBLISH_ENV}=1")


def commit_words(manifest: dict) -> str:
    git = manifest.get("git") or {}
    sha = git.get("sha")
    if not sha:
        return "commit unknown (not a git checkout)"
    return f"commit `{sha[:10]}`" + (" with uncommitted changes" if git.get("dirty") else "")


def data_words(manifest: dict) -> str:
    return (f"real data from `{manifest['data_dir']}`" if manifest.get("data_dir")
            else "the built-in stand-in data")


def chapter_header(manifest: dict, record: dict) -> str:
    """The note that opens every chapter: which run the page shows."""
    started = (record.get("started") or "")[:16].replace("T", " ")
    lines = [
        ":::{note}",
        f"**This page shows a run** under the `{manifest['profile']}` profile, "
        f"{commit_words(manifest)}, on {data_words(manifest)}, seed {manifest.get('seed')}: "
        f"this notebook ran for **{duration(record.get('wall_s', 0))}**"
        + (f", started {started} UTC" if started else "")
        + f", status `{record.get('status')}`. The outputs below are that run's; the book does "
        "not execute anything.",
        ":::",
    ]
    return "\n".join(lines)


def prepare_notebook(src: Path, header: str) -> nbformat.NotebookNode:
    """The executed notebook with the run's note right under its title and no widget state."""
    nb = nbformat.read(src, as_version=4)
    nb.metadata.pop("widgets", None)
    for cell in nb.cells:
        for out in cell.get("outputs", []):
            out.get("data", {}).pop("application/vnd.jupyter.widget-view+json", None)
    first = nb.cells[0] if nb.cells and nb.cells[0].cell_type == "markdown" else None
    if first is not None and first.source.startswith("# "):
        title, _, rest = first.source.partition("\n")
        first.source = f"{title}\n\n{header}\n\n{rest.lstrip()}"
    else:
        nb.cells.insert(0, nbformat.v4.new_markdown_cell(header))
    return nb


def copy_mathjax(static: Path) -> None:
    candidates = [os.environ["MATHJAX_DIR"]] if os.environ.get("MATHJAX_DIR") else []
    found = next((Path(c) for c in [*candidates, *MATHJAX_DIRS]
                  if (Path(c) / "MathJax.js").is_file()), None)
    if found is None:
        raise BookError("no local MathJax 2 found (looked for MathJax.js in "
                        f"{', '.join([*candidates, *MATHJAX_DIRS])}): install Debian's "
                        "libjs-mathjax (apt-get install libjs-mathjax) or set MATHJAX_DIR")
    for part in MATHJAX_PARTS:
        src, dst = found / part, static / "mathjax" / part
        if src.is_dir():
            shutil.copytree(src, dst, symlinks=False)
        elif src.is_file():
            dst.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(src, dst)
        else:
            raise BookError(f"{found} lacks {part}: an incomplete MathJax 2")


def index_pages(manifest: dict, chapters: list[tuple[str, str, dict]], guide: list[str],
                run: Path) -> dict[str, str]:
    """The book's front page and the two sections of its navigation bar, as Markdown."""
    total = manifest.get("wall_s") or sum(r.get("wall_s", 0) for _, _, r in chapters)
    rows = "\n".join(f"| [{title}](chapters/{stem}.ipynb) | `{rec.get('status')}` | "
                     f"{duration(rec.get('wall_s', 0))} |" for stem, title, rec in chapters)
    run_table = f"""| run | |
|---|---|
| profile | `{manifest['profile']}` |
| code | {commit_words(manifest)} |
| data | {data_words(manifest)} |
| master seed | {manifest.get('seed')} |
| wall time of all chapters | {duration(total)} |
| run folder | `{run.name}` |

| chapter | status | wall time |
|---|---|---|
{rows}
"""
    index = f"""# hsi-skin-synth: the course book

Synthetic 16-band hyperspectral dermoscopy (465-630 nm) of skin lesions with generative models,
and a careful test of whether the synthetic images help a melanoma classifier. This book shows
the executed notebooks of one run of the project, as course chapters, beside the project's
guide pages (the README and the pages of `docs/`). Nothing here was executed for the book:
every number, table and figure is the run's own.

{run_table}
```{{toctree}}
:maxdepth: 2

guide
chapters
```
"""
    toc = "\n".join(guide)
    guide_page = f"""# Guide

The project's own pages: what it is and how to run it (the README), then the pages of
`docs/`.

```{{toctree}}
:maxdepth: 1

{toc}
```
"""
    toc = "\n".join(f"chapters/{stem}" for stem, _, _ in chapters)
    chapters_page = f"""# Chapters

The notebooks in the order they run, each as the run executed it.

{run_table}
```{{toctree}}
:maxdepth: 1

{toc}
```
"""
    return {"index": index, "guide": guide_page, "chapters": chapters_page}


def docs_page_text(text: str) -> str:
    """A ``docs/*.md`` page as the book stages it: its links to the README (``../README.md``,
    with or without an anchor) point at the book's copy of it, ``readme.md``."""
    return re.sub(r"\]\(\.\./README\.md(?=[#)])", "](../readme.md", text)


def notebook_title(nb: nbformat.NotebookNode, stem: str) -> str:
    first = nb.cells[0].source if nb.cells and nb.cells[0].cell_type == "markdown" else ""
    match = re.match(r"#\s+(.+)", first)
    return match.group(1).strip() if match else stem


def stage(run: Path, src: Path, manifest: dict) -> None:
    """Assemble the Sphinx source folder ``src`` from the repository and the run."""
    if src.exists():
        shutil.rmtree(src)
    (src / "chapters").mkdir(parents=True)
    for name in ("conf.py", "favicon.svg"):
        shutil.copyfile(BOOK / name, src / name)
    git = manifest.get("git") or {}
    meta = {"profile": manifest["profile"],
            "release": f"{manifest['profile']} run, {(git.get('sha') or 'unknown')[:10]}"}
    (src / "book_meta.json").write_text(json.dumps(meta))
    copy_mathjax(src / "_static")
    guide = ["readme"]
    # README: its figures and the docs pages it links to keep their relative paths
    shutil.copyfile(REPO / "README.md", src / "readme.md")
    if (REPO / "figures").is_dir():
        shutil.copytree(REPO / "figures", src / "figures")
    docs = sorted((REPO / "docs").glob("*.md"))
    if docs:
        (src / "docs").mkdir()
    order = {name: i for i, name in enumerate(FIRST_PAGES)}
    for page in sorted(docs, key=lambda p: (order.get(p.stem, len(order)), p.stem)):
        (src / "docs" / page.name).write_text(docs_page_text(page.read_text()))
        guide.append(f"docs/{page.stem}")
    chapters = []
    for stem, record in sorted(manifest["notebooks"].items()):
        executed = run / record.get("executed_notebook", f"notebooks/{stem}.ipynb")
        if not executed.is_file():
            print(f"book: {stem} has no executed notebook in {run}; left out", file=sys.stderr)
            continue
        nb = prepare_notebook(executed, chapter_header(manifest, record))
        nbformat.write(nb, src / "chapters" / f"{stem}.ipynb")
        chapters.append((stem, notebook_title(nb, stem), record))
    if not chapters:
        raise BookError(f"no executed notebook found under {run / 'notebooks'}")
    for name, text in index_pages(manifest, chapters, guide, run).items():
        (src / f"{name}.md").write_text(text)


#: <link ...> and <script ...> tags, and the address each loads.
_ASSET_TAG = re.compile(r"<(link|script)\b[^>]*>", re.I)
_ASSET_URL = re.compile(r"""\b(?:src|href)\s*=\s*["']([^"']*)["']""", re.I)


def remote_assets(site: Path) -> list[str]:
    """Every stylesheet, script, font or image address of the built HTML that leaves the
    machine (``http(s)://`` or protocol-relative ``//``), as 'page: address'."""
    found = []
    for page in sorted(site.rglob("*.html")):
        html = page.read_text(errors="replace")
        tags = [m.group(0) for m in _ASSET_TAG.finditer(html)]
        tags += re.findall(r"<(?:img|source|iframe)\b[^>]*>", html, re.I)
        for tag in tags:
            if tag.lower().startswith("<link") and not re.search(
                    r"rel\s*=\s*[\"'][^\"']*(stylesheet|preload|icon|modulepreload)", tag, re.I):
                continue  # plain hyperlinks (rel="next", "search") load nothing
            for url in _ASSET_URL.findall(tag):
                if re.match(r"(https?:)?//", url.strip(), re.I):
                    found.append(f"{page.relative_to(site)}: {url}")
        for url in re.findall(r"url\(\s*['\"]?((?:https?:)?//[^)'\"]+)", html, re.I):
            found.append(f"{page.relative_to(site)}: {url}")
    for sheet in sorted(site.rglob("*.css")):
        for url in re.findall(r"url\(\s*['\"]?((?:https?:)?//[^)'\"]+)", sheet.read_text(
                errors="replace"), re.I):
            found.append(f"{sheet.relative_to(site)}: {url}")
        for url in re.findall(r"@import\s+['\"]((?:https?:)?//[^'\"]+)", sheet.read_text(
                errors="replace"), re.I):
            found.append(f"{sheet.relative_to(site)}: {url}")
    return found


def build(run: Path, out: Path, publish_real_data: bool = False, quiet: bool = True) -> Path:
    """Build the book of ``run`` into ``out``; returns ``out / 'index.html'``."""
    run, out = Path(run).resolve(), Path(out).resolve()
    manifest = read_manifest(run)
    check_publishable(manifest, publish_real_data)
    src = out.parent / f"{out.name}-src"
    stage(run, src, manifest)
    cmd = [sys.executable, "-m", "sphinx", "-b", "html", "-j", "1", str(src), str(out)]
    proc = subprocess.run(cmd + (["-q"] if quiet else []), capture_output=quiet, text=True)
    if proc.returncode != 0:
        raise BookError(f"sphinx-build failed ({proc.returncode}):\n"
                        f"{(proc.stderr or '')[-4000:]}")
    remote = remote_assets(out)
    if remote:
        raise BookError("the built HTML loads files from the network:\n  " +
                        "\n  ".join(remote[:20]))
    return out / "index.html"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("run", nargs="?", default="runs/quick", type=Path,
                    help="run folder of run_all.py (default runs/quick)")
    ap.add_argument("--out", type=Path, default=REPO / "build" / "book",
                    help="where the site goes (default build/book)")
    ap.add_argument("--publish-real-data", action="store_true",
                    help=f"allow a run on real data (patient images); same as {PUBLISH_ENV}=1")
    ap.add_argument("--verbose", action="store_true", help="show Sphinx's output")
    args = ap.parse_args(argv)
    allow = args.publish_real_data or os.environ.get(PUBLISH_ENV) == "1"
    try:
        index = build(args.run, args.out, publish_real_data=allow, quiet=not args.verbose)
    except BookError as err:
        print(f"book: {err}", file=sys.stderr)
        return 2
    print(f"book: {index} (open it, or: python -m http.server -d {args.out})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
