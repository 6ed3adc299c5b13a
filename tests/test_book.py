"""The course book (`make book`): built from the smoke run of the test session (never executing a
notebook again), offline, refusing real-data runs unless told, and checked in a real browser.

The browser checks open the index (from the file system and over HTTP) and two chapters with
equations in headless Chromium: no console error, every image loads, equations typeset. A
screenshot of each page is written to the test's temporary folder, `<tmp>/screenshots/*.png`
(pytest prints the folder; `--basetemp DIR` puts it at `DIR/test_book_in_a_browser0/`).
"""

import functools
import importlib.util
import json
import threading
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent


def _load(name):
    spec = importlib.util.spec_from_file_location(f"book_{name}", REPO / "book" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


build = _load("build")
browser = _load("browser")


def _fake_run(tmp_path, data_dir=None):
    run = tmp_path / "run"
    (run / "notebooks").mkdir(parents=True)
    manifest = {"profile": "smoke", "data_dir": data_dir, "seed": 0, "wall_s": 3.0,
                "git": {"sha": "0123456789abcdef", "dirty": True},
                "notebooks": {"01_x": {"status": "ok", "wall_s": 75.0,
                                       "started": "2026-01-02T03:04:05+00:00",
                                       "executed_notebook": "notebooks/01_x.ipynb"}}}
    (run / "manifest.json").write_text(json.dumps(manifest))
    return run, manifest


def test_duration_words():
    assert build.duration(18.54) == "18.5 s"
    assert build.duration(75) == "1 min 15 s"
    assert build.duration(2 * 3600 + 7 * 60 + 20) == "2 h 07 min"


def test_real_data_run_is_refused_unless_publishing_is_allowed(tmp_path, monkeypatch, capsys):
    run, manifest = _fake_run(tmp_path, data_dir="/data/hsidermoscopy")
    monkeypatch.delenv(build.PUBLISH_ENV, raising=False)
    assert build.main([str(run), "--out", str(tmp_path / "site")]) == 2
    err = capsys.readouterr().err
    assert "patient images" in err and "BOOK_PUBLISH_REAL_DATA=1" in err
    assert "--publish-real-data" in err and not (tmp_path / "site").exists()
    with pytest.raises(build.BookError, match="real data"):
        build.check_publishable(manifest, publish_real_data=False)
    build.check_publishable(manifest, publish_real_data=True)  # allowed explicitly
    build.check_publishable({**manifest, "data_dir": None}, publish_real_data=False)


def test_missing_manifest_is_named(tmp_path):
    with pytest.raises(build.BookError, match="manifest.json not found"):
        build.read_manifest(tmp_path)


def test_chapter_header_says_profile_commit_and_wall_time(tmp_path):
    _, manifest = _fake_run(tmp_path)
    note = build.chapter_header(manifest, manifest["notebooks"]["01_x"])
    assert "`smoke` profile" in note and "`0123456789`" in note
    assert "uncommitted changes" in note and "1 min 15 s" in note
    assert "2026-01-02 03:04 UTC" in note and "stand-in" in note


def test_docs_pages_link_the_book_s_copy_of_the_readme():
    text = ("[Results](../README.md#results), [the README](../README.md), "
            "[a page](scaling.md), `../README.md` in code, [x](../README.mdx)")
    assert build.docs_page_text(text) == (
        "[Results](../readme.md#results), [the README](../readme.md), "
        "[a page](scaling.md), `../README.md` in code, [x](../README.mdx)")
    for page in (REPO / "docs").glob("*.md"):
        assert "](../README.md" not in build.docs_page_text(page.read_text()), page.name


def test_remote_assets_finds_network_stylesheets_scripts_and_fonts(tmp_path):
    (tmp_path / "a.html").write_text(
        '<link rel="stylesheet" href="https://cdn.example.org/x.css">'
        '<script src="//cdn.example.org/x.js"></script>'
        '<script src="_static/local.js"></script>'
        '<link rel="next" href="https://example.org/next.html">'  # a hyperlink: loads nothing
        '<a href="https://example.org/">a link</a>'
        '<img src="http://example.org/i.png">')
    (tmp_path / "s.css").write_text(
        "@font-face { src: url('https://fonts.example.org/f.woff2'); }"
        "@import 'https://cdn.example.org/more.css';")
    found = build.remote_assets(tmp_path)
    assert sorted(found) == sorted([
        "a.html: https://cdn.example.org/x.css", "a.html: //cdn.example.org/x.js",
        "a.html: http://example.org/i.png", "s.css: https://fonts.example.org/f.woff2",
        "s.css: https://cdn.example.org/more.css"])


# --- the book of the session's smoke run --------------------------------------------------


@pytest.fixture(scope="module")
def book_site(smoke_run, tmp_path_factory):
    out, _ = smoke_run
    site = tmp_path_factory.mktemp("book") / "site"
    index = build.build(out, site)
    manifest = json.loads((out / "manifest.json").read_text())
    return site, index, manifest


@pytest.mark.notebooks
def test_book_has_every_chapter_and_docs_page_and_loads_nothing_remote(book_site):
    site, index, manifest = book_site
    assert index == site / "index.html" and index.is_file()
    sha = manifest["git"]["sha"][:10] if manifest.get("git", {}).get("sha") else "unknown"
    for stem in manifest["notebooks"]:
        page = site / "chapters" / f"{stem}.html"
        assert page.is_file(), f"no page for notebook {stem}"
        html = page.read_text()
        assert f"<code class=\"docutils literal notranslate\"><span class=\"pre\">" \
               f"{manifest['profile']}</span></code>" in html, f"{stem}: profile not in header"
        assert sha in html, f"{stem}: the run's commit is not in its header"
    for doc in (REPO / "docs").glob("*.md"):
        assert (site / "docs" / f"{doc.stem}.html").is_file(), f"docs/{doc.name} not in book"
    assert (site / "readme.html").is_file()
    assert build.remote_assets(site) == []
    # equations reach the page as MathJax input, and MathJax is the local copy
    chapter = (site / "chapters" / "02_shsgan_ablations.html").read_text()
    assert 'class="math notranslate nohighlight"' in chapter
    assert "_static/mathjax/MathJax.js" in chapter
    assert (site / "_static" / "mathjax" / "MathJax.js").is_file()


def _chapters_with_math(site, n=2):
    pages = sorted((site / "chapters").glob("*.html"))
    with_math = [p for p in pages if 'class="math notranslate' in p.read_text()]
    assert len(with_math) >= n, "fewer than two chapters hold equations"
    return with_math[:n]


@pytest.fixture()
def http_site(book_site):
    site = book_site[0]
    handler = functools.partial(_QuietHandler, directory=str(site))
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


class _QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


@pytest.mark.notebooks
def test_book_in_a_browser(book_site, http_site, tmp_path):
    if browser.find_browser() is None:
        pytest.skip(f"no Chromium or Chrome installed (looked for {', '.join(browser.BROWSERS)}"
                    "; apt-get install chromium)")
    site = book_site[0]
    shots = tmp_path / "screenshots"
    shots.mkdir()
    pages = [("index-file", site.joinpath("index.html").as_uri()),
             ("index-http", f"{http_site}/index.html")]
    pages += [(p.stem, f"{http_site}/chapters/{p.name}") for p in _chapters_with_math(site)]
    with browser.Browser() as chromium:
        for name, url in pages:
            page = chromium.visit(url, screenshot=shots / f"{name}.png")
            assert page["errors"] == [], f"{url}: {page['errors']}"
            assert page["nav"] > 0, f"{url}: no navigation bar"
            broken = [i["src"] for i in page["images"] if i["width"] <= 0]
            assert not broken, f"{url}: images that did not load: {broken}"
            if name.startswith("index"):
                continue
            assert page["images"], f"{url}: a chapter without a figure"
            assert page["math_source"] > 0
            assert page["math_typeset"] >= page["math_source"], \
                f"{url}: {page['math_typeset']} of {page['math_source']} equations typeset"
            assert (shots / f"{name}.png").stat().st_size > 10_000
    print(f"screenshots: {shots}")


def test_make_figures_copies_exactly_the_readme_s_images():
    import re

    make = (REPO / "Makefile").read_text()
    listed = re.search(r"README_FIGURES := (.*?)\n(?!\s)", make, re.S).group(1)
    listed = listed.replace("\\", " ").split()
    shown = re.findall(r"!\[.*\]\(figures/([^)]+)\.png\)", (REPO / "README.md").read_text())
    assert sorted(listed) == sorted(shown), "Makefile README_FIGURES differs from the README"
    for name in shown:
        assert (REPO / "figures" / f"{name}.png").is_file(), f"figures/{name}.png missing"
