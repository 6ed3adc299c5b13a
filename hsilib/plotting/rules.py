"""The figure rules, checked by code: what a saved figure holds (its record) and what breaks a
rule in it.

:func:`record` describes a drawn figure (axes, series and their colours, labels, legends and
whether they cover data, images and their stretch, colour bars, type sizes, size in pixels);
:func:`hsilib.plotting.savefig` stores it in the PNG itself (text chunk :data:`KEY`), so any
run folder's figures can be checked afterwards: :func:`read_record`, :func:`violations`, or

    python -m hsilib.plotting.rules runs/quick/figures

The rules (:func:`violations`): within an axes no two series share a colour; no code name
(snake_case or a name of :data:`hsilib.plotting.style.CODE_WORDS`) in any text; every numeric
axis with tick labels has a label (its own or the figure's), a wavelength axis says nm; no
legend covers data points; no two titles overlap each other or another axes; at most
:data:`MAX_GRID_ROWS` rows of images; every single-band (2-D) image is read through a colour bar
of the same colour map and stretch, or carries its numbers (annotated heat maps); no text
smaller than :data:`MIN_TEXT_PX` pixels once the figure is shown :data:`SHOWN_WIDTH_PX` wide.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path
from typing import Any

from .style import CODE_WORDS

KEY = "hsilib:figure"
MAX_GRID_ROWS = 8
SHOWN_WIDTH_PX = 1280
MIN_TEXT_PX = 8.0
_NUMBER = re.compile(r"^[\u2212+-]?(\d+([.,]\d*)?|\.\d+)(e[\u2212+-]?\d+)?%?$|^\$.*\$$|^$")
_SNAKE = re.compile(r"(?<![\w$\\{])[A-Za-z0-9]+(?:_[A-Za-z0-9%]+)+(?![\w}])")
_DATA_ID = re.compile(r"^(MM|DN|Other|OT)_\d+(_crop\d+)?$")


def _hex(colour: Any) -> str:
    from matplotlib.colors import to_hex

    try:
        return to_hex(colour, keep_alpha=False)
    except (ValueError, TypeError):
        return to_hex(colour[0], keep_alpha=False) if len(colour) else "none"


def _series(ax) -> list[dict]:
    """Labelled series of ``ax`` (what a legend would list), with their colour."""
    from matplotlib.container import BarContainer, ErrorbarContainer

    out, seen = [], set()

    def add(label, colour, kind):
        if label and not str(label).startswith("_") and (label, colour) not in seen:
            seen.add((label, colour))
            out.append({"label": str(label), "colour": colour, "kind": kind})

    for c in ax.containers:
        if isinstance(c, BarContainer) and c.patches:
            add(c.get_label(), _hex(c.patches[0].get_facecolor()), "bars")
        elif isinstance(c, ErrorbarContainer) and c.lines[0] is not None:
            add(c.get_label(), _hex(c.lines[0].get_color()), "errorbar")
    for line in ax.lines:
        add(line.get_label(), _hex(line.get_color()), "line")
    for coll in ax.collections:
        fc = coll.get_facecolor()
        add(coll.get_label(), _hex(fc if len(fc) else coll.get_edgecolor()), "collection")
    return out


def _data_points(ax, renderer) -> list[tuple[float, float]]:
    """Display coordinates of the data of ``ax``: line vertices, scatter offsets, bar tops."""
    import numpy as np
    from matplotlib.container import BarContainer

    pts: list = []
    for line in ax.lines:
        if line.get_visible() and line.get_transform() == ax.transData:
            xy = np.asarray(line.get_xydata(), float)
            xy = xy[np.isfinite(xy).all(axis=1)] if xy.size else xy
            if len(xy):
                pts.extend(ax.transData.transform(xy).tolist())
    for coll in ax.collections:
        offsets = np.asarray(coll.get_offsets(), float)
        if coll.get_visible() and offsets.ndim == 2 and len(offsets) and \
                coll.get_offset_transform() == ax.transData:
            pts.extend(ax.transData.transform(offsets[np.isfinite(offsets).all(1)]).tolist())
    for c in ax.containers:
        if isinstance(c, BarContainer):
            for p in c.patches:
                b = p.get_window_extent(renderer)
                pts.extend([(b.x0, b.y1), (b.x1, b.y1), ((b.x0 + b.x1) / 2, b.y1)])
    return pts


def _ticks_numeric(labels: list[str]) -> bool | None:
    shown = [t for t in labels if t.strip()]
    if not shown:
        return None  # no tick labels shown: nothing to label
    return all(_NUMBER.match(t.strip().replace("\u2212", "-")) for t in shown)


def _image(im) -> dict:
    """An image's kind: ``single`` (one band: H x W, or grey drawn as RGB), ``mask`` (only 0
    and 1) or ``colour``; its colour map and stretch."""
    import numpy as np

    a = np.ma.getdata(im.get_array())
    kind = "colour"
    if a.ndim == 2:
        kind = "mask" if np.isin(a[np.isfinite(a)], (0, 1)).all() else "single"
    elif a.ndim == 3 and a.shape[-1] >= 3 and np.allclose(a[..., 0], a[..., 1]) and \
            np.allclose(a[..., 1], a[..., 2]):
        kind = "grey-rgb"
    return {"kind": kind, "cmap": im.get_cmap().name, "clim": [float(v) for v in im.get_clim()]}


def _box(bbox) -> list[float]:
    return [round(float(v), 1) for v in (bbox.x0, bbox.y0, bbox.x1, bbox.y1)]


def record(fig) -> dict:
    """What ``fig`` shows, as a JSON-able dict (draws the figure without rendering pixels)."""
    from matplotlib.text import Text

    fig.draw_without_rendering()
    renderer = fig.canvas.get_renderer()
    dpi = float(fig.dpi)
    tight = fig.get_tightbbox(renderer)
    colourbars = []
    axes = []
    for ax in fig.axes:
        if not ax.get_visible():
            continue
        cb = getattr(ax, "_colorbar", None)
        if cb is not None:
            colourbars.append({"cmap": cb.cmap.name, "clim": [float(cb.vmin), float(cb.vmax)]})
            continue
        images = [_image(im) for im in ax.images]
        legend = ax.get_legend()
        leg = None
        if legend is not None and legend.get_visible():
            box = legend.get_window_extent(renderer)
            covered = sum(1 for x, y in _data_points(ax, renderer)
                          if box.x0 < x < box.x1 and box.y0 < y < box.y1)
            leg = {"texts": [t.get_text() for t in legend.get_texts()], "covers": covered}
        titles = [t for t in (ax.title, ax._left_title, ax._right_title) if t.get_text()]
        spec = ax.get_subplotspec()
        axes.append({
            "title": " / ".join(t.get_text() for t in titles),
            "title_boxes": [_box(t.get_window_extent(renderer)) for t in titles],
            "box": _box(ax.get_window_extent(renderer)),
            "axis_on": bool(ax.axison),
            "row": spec.rowspan.start if spec is not None else None,
            "xlabel": ax.get_xlabel(), "ylabel": ax.get_ylabel(),
            "x_numeric": _ticks_numeric([t.get_text() for t in ax.get_xticklabels()])
            if ax.axison and ax.xaxis.get_visible() else None,
            "y_numeric": _ticks_numeric([t.get_text() for t in ax.get_yticklabels()])
            if ax.axison and ax.yaxis.get_visible() else None,
            "series": _series(ax), "legend": leg, "images": images,
            "annotations": sum(1 for t in ax.texts if t.get_visible() and t.get_text()),
        })
    ticks, shown = set(), []  # tick labels: only those drawn (an axis keeps spare ticks)
    for ax in fig.axes:
        for axis in (ax.xaxis, ax.yaxis):
            for tick in axis.majorTicks + axis.minorTicks:
                ticks.update((id(tick.label1), id(tick.label2)))
            shown += axis.get_majorticklabels() + axis.get_minorticklabels()
    texts = [t for t in fig.findobj(Text) if id(t) not in ticks] + shown
    texts = [t for t in texts if t.get_visible() and t.get_text().strip()]
    sup = {k: (getattr(fig, f"_{k}").get_text() if getattr(fig, f"_{k}", None) else "")
           for k in ("suptitle", "supxlabel", "supylabel")}
    width_px = float(tight.width) * dpi
    return {"size_in": [round(v, 2) for v in fig.get_size_inches().tolist()], "dpi": dpi,
            "width_px": round(width_px), "height_px": round(float(tight.height) * dpi),
            **sup, "axes": axes, "colourbars": colourbars,
            "texts": sorted({t.get_text() for t in texts}),
            "min_font_pt": min((float(t.get_fontsize()) for t in texts), default=None),
            "legends": [[t.get_text() for t in lg.get_texts()] for lg in fig.legends]}


def shown_px(rec: dict, points: float) -> float:
    """Height in screen pixels of ``points``-point type once the figure is shown
    :data:`SHOWN_WIDTH_PX` wide (or at its own size when narrower)."""
    scale = min(1.0, SHOWN_WIDTH_PX / max(rec["width_px"], 1))
    return points * rec["dpi"] / 72 * scale


def code_names(text: str) -> list[str]:
    """Code names left in ``text`` (math between ``$`` signs and image ids excepted)."""
    plain = re.sub(r"\$[^$]*\$", "", text)
    found = [m for m in _SNAKE.findall(plain) if not _DATA_ID.match(m)]
    found += [w for w in CODE_WORDS if re.search(rf"(?<![\w-]){w}(?![\w-])", plain)]
    return found


def _overlap(a, b, pad: float = 1.0) -> bool:
    return a[0] + pad < b[2] and b[0] + pad < a[2] and a[1] + pad < b[3] and b[1] + pad < a[3]


def violations(rec: dict) -> list[str]:
    """Every rule ``rec`` (a :func:`record`) breaks, in words; empty when it keeps them all."""
    import numpy as np

    out = []
    sup_x, sup_y = rec.get("supxlabel"), rec.get("supylabel")
    for k, ax in enumerate(rec["axes"]):
        where = f"axes {k}" + (f" ({ax['title'][:40]})" if ax["title"] else "")
        colours = [s["colour"] for s in ax["series"]]
        dup = sorted({c for c in colours if colours.count(c) > 1})
        if dup:
            names = [s["label"] for s in ax["series"] if s["colour"] in dup]
            out.append(f"{where}: series share a colour {dup}: {names}")
        for axis, label, sup in (("x", ax["xlabel"], sup_x), ("y", ax["ylabel"], sup_y)):
            if ax[f"{axis}_numeric"] and not (label or sup):
                out.append(f"{where}: numeric {axis} axis without a label")
            text = f"{label} {sup or ''}"
            if "wavelength" in text.lower() and "nm" not in text:
                out.append(f"{where}: wavelength axis without its unit (nm)")
        if ax["legend"] and ax["legend"]["covers"]:
            out.append(f"{where}: legend covers {ax['legend']['covers']} data points")
        for img in ax["images"]:
            if img["kind"] == "grey-rgb":
                out.append(f"{where}: a single-band image drawn as RGB (its own stretch): show "
                           "it as one band with a colour bar")
            if img["kind"] == "single" and not ax["annotations"] and not any(
                    cb["cmap"] == img["cmap"] and np.allclose(cb["clim"], img["clim"])
                    for cb in rec["colourbars"]):
                out.append(f"{where}: single-band image ({img['cmap']}, stretch "
                           f"{img['clim']}) without a colour bar of the same stretch")
    titles = [(k, b) for k, ax in enumerate(rec["axes"]) for b in ax["title_boxes"]]
    for i, (k, a) in enumerate(titles):
        for j, b in titles[i + 1:]:
            if _overlap(a, b):
                out.append(f"titles of axes {k} and {j} overlap")
        for j, ax in enumerate(rec["axes"]):
            if j != k and _overlap(a, ax["box"], pad=2.0):
                out.append(f"title of axes {k} overlaps axes {j}")
    rows = {ax["row"] for ax in rec["axes"] if ax["images"] and ax["row"] is not None}
    if len(rows) > MAX_GRID_ROWS:
        out.append(f"{len(rows)} rows of images (at most {MAX_GRID_ROWS} per figure)")
    for text in rec["texts"]:
        names = code_names(text)
        if names:
            out.append(f"code name(s) {names} in text {text!r}")
    if rec["min_font_pt"] is not None and shown_px(rec, rec["min_font_pt"]) < MIN_TEXT_PX:
        out.append(f"smallest text {rec['min_font_pt']:g} pt is "
                   f"{shown_px(rec, rec['min_font_pt']):.1f} px when shown {SHOWN_WIDTH_PX} px "
                   f"wide (figure {rec['width_px']} px at {rec['dpi']:g} dpi; at least "
                   f"{MIN_TEXT_PX:g} px)")
    return out


def read_record(png: str | Path) -> dict | None:
    """The record :func:`hsilib.plotting.savefig` stored in ``png``; None when it has none."""
    from PIL import Image

    with Image.open(png) as im:
        text = im.text.get(KEY) if hasattr(im, "text") else None
    return json.loads(text) if text else None


def check_folder(folder: str | Path) -> dict[str, list[str]]:
    """``{figure name: violations}`` for every PNG of ``folder`` (a figure saved without a
    record is one violation)."""
    out = {}
    for png in sorted(Path(folder).glob("*.png")):
        rec = read_record(png)
        out[png.stem] = violations(rec) if rec else ["no figure record (not saved by savefig)"]
    return out


if __name__ == "__main__":
    bad = {k: v for k, v in check_folder(sys.argv[1]).items() if v}
    for name, problems in bad.items():
        print(f"{name}:\n  " + "\n  ".join(problems))
    sys.exit(1 if bad else 0)
