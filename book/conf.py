"""Sphinx configuration of the course book (`make book`).

`book/build.py` copies this file into a staging folder beside the pages it assembles from a run
folder (the README, every `docs/*.md` page, every executed notebook) and writes `book_meta.json`
there; Sphinx reads both from that folder. Nothing is fetched from the network, at build time or
when a reader opens the site: the theme ships its own files, MathJax comes from a local copy
(`_static/mathjax`, copied by `build.py`), and notebooks are never executed again.
"""

import json
from pathlib import Path

_meta = json.loads((Path(__file__).parent / "book_meta.json").read_text())

project = "hsi-skin-synth"
author = "the hsi-skin-synth authors"
copyright = "the hsi-skin-synth authors"
release = _meta["release"]
version = release

extensions = ["myst_nb"]
# Markdown pages and executed notebooks; the generated index is Markdown too.
source_suffix = {".md": "myst-nb", ".ipynb": "myst-nb"}
exclude_patterns = ["_build", "book_meta.json", "**.ipynb_checkpoints"]
root_doc = "index"

# The notebooks are shown exactly as the run executed them.
nb_execution_mode = "off"
# No widget JavaScript (its default loads require.js and the widget manager from a CDN).
nb_ipywidgets_js = {}
nb_merge_streams = True
myst_enable_extensions = ["dollarmath", "amsmath", "colon_fence", "deflist"]
myst_heading_anchors = 3
# Links from the README and docs pages to files that are not pages of the book (notebooks'
# sources, hsilib modules) are left as text; they are not errors of the book.
suppress_warnings = ["myst.xref_missing", "myst.header", "misc.highlighting_failure",
                     "mystnb.unknown_mime_type", "toc.not_included"]

# MathJax 2 from the local copy under _static/mathjax (Debian's libjs-mathjax), CommonHTML
# output with the fonts it ships; nothing from a CDN.
# myst's own MathJax settings are written for MathJax 3; the ones below replace them.
myst_update_mathjax = False
mathjax_path = "mathjax/MathJax.js?config=TeX-AMS_CHTML"
mathjax2_config = {
    # myst marks each page 'tex2jax_ignore' (no '$' in outputs is taken for math) and the
    # equations 'math', which MathJax processes even inside an ignored element
    "tex2jax": {"inlineMath": [["\\(", "\\)"]], "displayMath": [["\\[", "\\]"]],
                "processRefs": False, "processEnvironments": False,
                "ignoreClass": "tex2jax_ignore|mathjax_ignore",
                "processClass": "math|tex2jax_process|mathjax_process"},
    "CommonHTML": {"linebreaks": {"automatic": True}},
    "showMathMenu": False,
    "messageStyle": "none",
}

html_theme = "pydata_sphinx_theme"
html_title = f"hsi-skin-synth: {_meta['profile']} run"
html_static_path = ["_static"]
html_favicon = "favicon.svg"  # without one, browsers ask the server for /favicon.ico
# light unless the reader picks dark (an unset mode makes the theme log an error)
html_context = {"default_mode": "light"}
html_last_updated_fmt = None
html_copy_source = False
html_show_sourcelink = False
html_theme_options = {
    "navbar_align": "left",
    "show_toc_level": 2,
    "navigation_with_keys": False,
    "show_prev_next": True,
    "header_links_before_dropdown": 8,
    "icon_links": [],
    "footer_start": ["copyright"],
    "footer_end": [],
    "secondary_sidebar_items": ["page-toc"],
    "navbar_end": ["theme-switcher", "navbar-icon-links"],
}
html_sidebars = {"**": ["sidebar-nav-bs"]}
