"""Do the classifier's cues match the physics, and do synthetic lesions keep them (notebook 09)?

1. **Ground truth** (the stand-in only): :func:`truth_chromophores` reads each crop's lesion
   from the stand-in's truth maps (melanin in epidermis and dermis, oxy- and
   deoxy-haemoglobin), :func:`absorption_spectra` gives where each absorbs (the optics model's
   extinction spectra, :mod:`hsilib.standin.optics`), and :func:`chromophore_agreement` puts a
   number with an interval on how well a relevance spectrum follows the absorption of the
   chromophores that separate the classes.
2. **Synthetic crops**: :func:`synthetic_families` finds every generator family's exports,
   :func:`family_distances` scores each with the task-aware metric
   (:func:`hsilib.metrics.attribution.relevance_distance`) against real crops of its class,
   and :func:`cue_conclusions` says which families keep the cue.

Melanoma is the positive class in every number.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from torch import nn

from ..data.datasets import Crops, load_crops
from ..metrics import attribution as at
from ..metrics.classification import cluster_weights
from .correlation_stats import correlation_rows
from .explain import STANDIN_NOTE, per_crop, pick_crops

#: Lesion-mean truth per crop (volume fractions) and the absorber each one is.
CHROMOPHORES = {"f_mel_epi": "melanin", "f_mel_derm": "melanin", "oxy_hb": "oxy-haemoglobin",
                "deoxy_hb": "deoxy-haemoglobin"}
#: Absorption features marked on the figures (nm): the haemoglobin peaks in the camera's range.
ABSORPTION_PEAKS_NM = {"HbO2": (542.0, 576.0), "Hb": (555.0,)}


# --------------------------------------------------------------------------------------------
# 1. Ground truth: chromophores per crop, their absorption, agreement with relevance
# --------------------------------------------------------------------------------------------
def truth_sources_exist(truth_dir: str | Path, sources: Sequence[str]) -> bool:
    """True when ``truth_dir`` (the stand-in's ``truth/``) holds maps of every source image:
    the run uses the stand-in; on real data there is no truth."""
    root = Path(truth_dir)
    return root.is_dir() and all((root / f"{s}.npz").is_file() for s in set(sources))


def truth_chromophores(index: pd.DataFrame, truth_dir: str | Path) -> pd.DataFrame:
    """The true chromophores of each crop's lesion, mean over the lesion's pixels in the
    stand-in's truth maps: ``id`` and the columns of :data:`CHROMOPHORES` (volume fractions;
    haemoglobin = blood volume x saturation, or x (1 - saturation)). The crop's lesion is the
    true lesion with the most pixels inside its box (segmentation numbers lesions in its own
    order). ``index``: crop rows with ``id``, ``source`` and the box ``y0, x0, y1, x1`` (the crop
    folder's ``index.csv``)."""
    rows = []
    for source, group in index.groupby("source", sort=False):
        path = Path(truth_dir) / f"{source}.npz"
        if not path.is_file():
            raise FileNotFoundError(f"{path}: no truth maps for the crops of source {source} "
                                    "(truth exists for the generated stand-in only)")
        with np.load(path) as z:
            labels, maps = z["labels"], {k: z[k] for k in ("f_mel_epi", "f_mel_derm", "blood",
                                                           "sat")}
        for _, r in group.iterrows():
            inside = labels[int(r["y0"]):int(r["y1"]), int(r["x0"]):int(r["x1"])].ravel()
            counts = np.bincount(inside, minlength=2)[1:]
            m = labels == (int(np.argmax(counts)) + 1 if counts.any() else -1)
            blood, sat = maps["blood"][m], maps["sat"][m]
            rows.append({"id": r["id"], "f_mel_epi": maps["f_mel_epi"][m].mean(),
                         "f_mel_derm": maps["f_mel_derm"][m].mean(),
                         "oxy_hb": (blood * sat).mean(), "deoxy_hb": (blood * (1 - sat)).mean()}
                        if m.any() else {"id": r["id"], **dict.fromkeys(CHROMOPHORES, np.nan)})
    return pd.DataFrame(rows, columns=["id", *CHROMOPHORES])


def absorption_spectra(wavelengths_nm: Sequence[float]) -> pd.DataFrame:
    """Absorption coefficient (cm^-1) of eumelanin and of whole blood, fully oxygenated and
    fully deoxygenated, at ``wavelengths_nm``: the optics model the stand-in is drawn with."""
    from ..standin.optics import mua_blood, mua_melanin

    oxy, deoxy = mua_blood(wavelengths_nm)
    return pd.DataFrame({"wavelength_nm": np.asarray(wavelengths_nm, float),
                         "melanin": mua_melanin(wavelengths_nm), "oxy-haemoglobin": oxy,
                         "deoxy-haemoglobin": deoxy})


def _weighted_d(x: np.ndarray, y: np.ndarray, w: np.ndarray) -> np.ndarray:
    """Standardised mean difference MM - DN (pooled SD) of each column of ``x`` (N x K) under
    each row of weights ``w`` (R x N): R x K."""
    out = []
    for cls in (1, 0):
        wc = w * (y == cls)
        total = wc.sum(1, keepdims=True)
        mean = wc @ x / total
        out.append((mean, wc @ x**2 / total - mean**2))
    (m1, v1), (m0, v0) = out
    pooled = (v1 + v0) / 2
    scale = np.maximum(np.abs(m1) + np.abs(m0), 1e-30)
    with np.errstate(invalid="ignore", divide="ignore"):  # no spread (e.g. a map that is 0)
        return np.where(pooled > 1e-12 * scale**2, (m1 - m0) / np.sqrt(pooled), np.nan)


def chromophore_agreement(relevance: np.ndarray, chromophores: pd.DataFrame, labels,
                          sources, wavelengths_nm: Sequence[float], *, n_boot: int = 1000,
                          seed: int = 0) -> tuple[pd.DataFrame, np.ndarray]:
    """How well a relevance spectrum follows the absorption of the chromophores that separate
    the classes.

    ``relevance``: per crop and band (N x B, e.g. the lesion's absolute-attribution shares);
    ``chromophores``: the crops' truth (:func:`truth_chromophores`, same order). Each
    chromophore k separates the classes by Cohen's ``d_k`` (MM minus DN, pooled SD); the
    expected relevance is ``E(lambda) = sum_k |d_k| mu_k(lambda) / max mu_k`` (its absorption
    spectrum, :func:`absorption_spectra`, scaled to 1 in the camera's range). Agreement is
    Spearman's rho between the mean relevance and E over the bands; per chromophore, rho with
    its own absorption spectrum. Intervals: 95% cluster bootstrap over ``sources`` (stratified
    by class; relevance and ``d`` recomputed together). Returns the table (``what, d, d_lo,
    d_hi, rho, rho_lo, rho_hi, verdict``) and E (B,).
    """
    r = np.asarray(relevance, float)
    x = chromophores[list(CHROMOPHORES)].to_numpy(float)
    y = np.asarray(labels).astype(int)
    ok = np.isfinite(x).all(1)
    r, x, y, src = r[ok], x[ok], y[ok], np.asarray(sources)[ok]
    if not {0, 1} <= set(y):
        raise ValueError("chromophore_agreement needs crops of both classes")
    spectra = absorption_spectra(wavelengths_nm)
    ext = np.stack([spectra[CHROMOPHORES[k]].to_numpy() for k in CHROMOPHORES])
    ext = ext / ext.max(1, keepdims=True)
    w = np.vstack([np.ones(len(y)), cluster_weights(src, y, n_boot, seed)])
    mean_rel = w @ r / w.sum(1, keepdims=True)
    d = _weighted_d(x, y, w)
    expected = np.nan_to_num(np.abs(d)) @ ext  # a chromophore without spread separates nothing
    rho_all = correlation_rows(mean_rel, expected)
    rows = [_agreement_row("all (weighted by |d|)", np.full(len(w), np.nan), rho_all)]
    for j, k in enumerate(CHROMOPHORES):
        rho_k = correlation_rows(mean_rel, np.broadcast_to(ext[j], mean_rel.shape))
        rows.append(_agreement_row(k, d[:, j], rho_k))
    return pd.DataFrame(rows), expected[0]


def agreement_table(frame: pd.DataFrame, chromophores: pd.DataFrame,
                    sources: Mapping[str, str], wavelengths_nm: Sequence[float], *,
                    n_boot: int = 1000, seed: int = 0) -> tuple[pd.DataFrame, dict]:
    """:func:`chromophore_agreement` for every method of ``frame``
    (:func:`hsilib.study.explain.explain_crops`), on the lesion's absolute-attribution shares,
    each crop's mean over seeds. Returns the table (with a ``method`` column) and, per method,
    (mean relevance, lo, hi, expected relevance) for the figure."""
    crop = per_crop(frame, "magnitude")
    lesion = crop[crop["region"] == "lesion"]
    truth = chromophores.set_index("id")
    tables, curves = [], {}
    for method, g in lesion.groupby("method", sort=False):
        wide = g.pivot_table(index="id", columns="wavelength_nm", values="magnitude")
        labels = g.groupby("id")["label"].first().loc[wide.index]
        src = [sources[i] for i in wide.index]
        table, expected = chromophore_agreement(wide.to_numpy(), truth.loc[wide.index],
                                                labels, src, wavelengths_nm, n_boot=n_boot,
                                                seed=seed)
        tables.append(table.assign(method=method))
        mean, lo, hi = at.mean_with_interval(wide.to_numpy(), src, labels, n_boot=n_boot,
                                             seed=seed)
        curves[method] = (mean, lo, hi, expected)
    return pd.concat(tables, ignore_index=True), curves


def _agreement_row(what: str, d: np.ndarray, rho: np.ndarray) -> dict[str, Any]:
    """Point value (first entry) and 95% percentile interval (the rest) of ``d`` and ``rho``."""
    def ci(v):
        rest = v[1:][np.isfinite(v[1:])]
        return np.quantile(rest, [0.025, 0.975]) if rest.size else (np.nan, np.nan)

    (d_lo, d_hi), (r_lo, r_hi) = ci(d), ci(rho)
    verdict = ("no detectable agreement" if not r_lo > 0 and not r_hi < 0 else
               "agrees" if r_lo > 0 else "disagrees")
    return {"what": what, "d": d[0], "d_lo": d_lo, "d_hi": d_hi, "rho": rho[0], "rho_lo": r_lo,
            "rho_hi": r_hi, "verdict": verdict}


# --------------------------------------------------------------------------------------------
# 2. Synthetic crops of every generator family
# --------------------------------------------------------------------------------------------
#: ``<family>_<mm|dn>_<g|f><replicate>``: a generator family's export (notebooks 02-05);
#: folders that start with a notebook number hold another notebook's draws from those families.
EXPORT_RE = re.compile(r"^(?P<family>[a-z]\w*?)_(?P<cls>mm|dn)_(?P<rep>[gf]\d+)$")


def synthetic_families(root: str | Path, families: Sequence[str] | None = None) -> pd.DataFrame:
    """Every generator family's exported folders under ``root`` (``artifacts/synthetic``):
    ``family, class, replicate, folder``; the real crops written through the export path
    (``passthrough``) are not a family. ``families`` keeps only those."""
    rows = []
    for d in sorted(Path(root).iterdir()) if Path(root).is_dir() else []:
        m = EXPORT_RE.match(d.name)
        if m and m["family"] != "passthrough" and (d / "index.csv").is_file():
            rows.append({"family": m["family"], "class": m["cls"].upper(),
                         "replicate": m["rep"], "folder": d})
    table = pd.DataFrame(rows, columns=["family", "class", "replicate", "folder"])
    if families is not None:
        unknown = sorted(set(families) - set(table["family"]))
        if unknown:
            raise ValueError(f"explain_study.families: no exports of {unknown} under {root}; "
                             f"found {sorted(set(table['family']))}")
        table = table[table["family"].isin(families)]
    return table.reset_index(drop=True)


def family_crops(folders: Sequence[str | Path], normaliser: Any, size: int, n: int,
                 seed: int = 0) -> Crops:
    """At most ``n`` crops drawn (seeded) from the pooled ``folders`` of one family and class,
    read as the classifier reads crops."""
    crops = Crops.cat([load_crops(f, normaliser, size) for f in folders])
    if len(crops) <= n:
        return crops
    return crops.subset(np.sort(np.random.default_rng(seed).choice(len(crops), n, replace=False)))


def family_distances(models: Sequence[nn.Module], families: pd.DataFrame,
                     real: Mapping[str, tuple[Crops, Crops, Sequence[str]]], normaliser: Any,
                     size: int, study: Any, *, baseline=None,
                     device: Any = "cpu") -> tuple[pd.DataFrame, dict]:
    """The task-aware distance of every family and class of ``families``
    (:func:`synthetic_families`). ``real`` maps a class (``"MM"``, ``"DN"``) to (real training
    crops, validation crops, the validation crops' sources). ``study``: the
    :class:`~hsilib.config.ExplainStudyConfig` (``n_synthetic``, ``n_real``,
    ``distance_method``, ``ig_steps``, ``n_repeats``, ``n_boot``). Returns the table (one row per
    family and class, :data:`hsilib.metrics.protocol.COLUMNS` plus ``family``, ``class``,
    ``verdict``) and the mean signed relevance spectra ``{(name, class): 2 x B}`` of every set
    (name ``"real"`` for the validation crops)."""
    kw = dict(method=study.distance_method, baseline=baseline, n_steps=study.ig_steps,
              device=device)
    rows, spectra = [], {}
    for cls, group in families.groupby("class", sort=True):
        train, held, held_sources = real[cls]
        label = 1 if cls == "MM" else 0
        train = pick_crops(train, study.n_real)
        ref = {k: at.crop_spectra(models, c.images, torch.full((len(c),), label), masks=c.masks,
                                  **kw) for k, c in (("train", train), ("held", held))}
        spectra[("real", cls)] = ref["held"].mean(0)
        for family, g in group.groupby("family", sort=True):
            syn = family_crops(g["folder"].tolist(), normaliser, size, study.n_synthetic)
            s = at.crop_spectra(models, syn.images, torch.full((len(syn),), label), **kw)
            spectra[(family, cls)] = s.mean(0)
            row = at.relevance_distance(s, ref["train"], ref["held"],
                                        heldout_groups=held_sources, n_repeats=study.n_repeats,
                                        n_boot=study.n_boot,
                                        name=f"relevance_distance_{study.distance_method}")
            rows.append({"family": family, "class": cls, **row, "verdict": cue_verdict(row)})
    return pd.DataFrame(rows), spectra


def cue_verdict(row: Mapping[str, float]) -> str:
    """``"keeps the cue"`` when the interval of value minus floor
    (:func:`hsilib.metrics.attribution.relevance_distance`) reaches down to 0: the synthetic
    crops are not distinguishable from real ones at these sample sizes; else
    ``"loses the cue"``."""
    return "keeps the cue" if row["excess_low"] <= 0 else "loses the cue"




def cue_conclusions(table: pd.DataFrame, standin: bool = True) -> str:
    """Markdown bullets: which families keep the melanoma (and nevus) cue, from
    :func:`family_distances`."""
    lines = []
    for cls in ("MM", "DN"):
        t = table[table["class"] == cls]
        if t.empty:
            continue
        keep = t.loc[t["verdict"] == "keeps the cue", "family"].tolist()
        lose = t.loc[t["verdict"] != "keeps the cue", "family"].tolist()
        best = t.loc[t["value"].idxmin()]
        what = "melanoma" if cls == "MM" else "nevus"
        lines.append(f"- **{what} cue** ({len(t)} families; floor {t['floor'].mean():.3f}): "
                     f"kept by {', '.join(keep) or 'none'}; lost by {', '.join(lose) or 'none'}"
                     f". Closest: {best['family']} ({best['value']:.3f} [{best['ci_low']:.3f}, "
                     f"{best['ci_high']:.3f}]).")
    lines.append("- \"Kept\" means the interval of the distance minus the real-vs-real floor "
                 "covers 0 at these sample sizes (absence of evidence of a difference), not that "
                 "the synthetic crops carry the cue as strongly as real ones; intervals cover "
                 "crop sampling, not generator or classifier retraining.")
    if standin:
        lines.append(f"- **Caveat**: {STANDIN_NOTE}")
    return "\n".join(lines)
