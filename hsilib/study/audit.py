"""Audits of the study's inputs: nothing but the lesion may tell the classes apart, and no
validation or test crop may reach a generator.

Checks on the crops for cues a classifier could learn instead of the lesion (notebook 01;
checks 1 and 2 of ``docs/protocol.md``). Each returns a :class:`CheckResult`: the measured
value, pass or fail against a stated limit, and a sentence that says both. They read only the
crop folder, the splits and (for the separability) the stand-in's truth, so they run on the real
data set as on the stand-in.

- **Framing** (:func:`edge_share_check`): melanomas are larger than nevi, so their 1.5x crop box
  reaches the edge of the dermoscope's circular field more often; the black outside (or, after
  the crop pipeline's fill, the filled skin) is then a class cue. The share of crops whose box
  reached past the field's edge must be about equal for MM and DN.
- **Context only** (:func:`context_only_probe`): a small CNN, cross-validated by source image,
  tells MM from DN on the crops with the lesion's bounding box blanked out. Whatever it finds
  there is a cue outside the lesion; its AUROC must stay near chance.
- **Separability** (:func:`separability_check`): the stand-in's MM-vs-DN AUROC from lesion
  spectra and shape must lie in a realistic band (neither trivial nor hopeless).
- **Normalisation** (:func:`lesion_range_table`): how much of the networks' [-1, 1] input range
  the lesion pixels of the training crops occupy under each normaliser.

The audit of the generators' training inputs (notebooks 02-05; check 12):
:func:`audit_generators` shows from the checkpoints alone that every generator was trained on
training crops only (the trainer stores the ids of its images). The test-split guard that
refuses the test split while a generator notebook runs is :mod:`hsilib.guard`.

Introduced in notebook 01 (the crop checks) and notebook 03 (the generator audit).
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from .. import WAVELENGTHS_NM, guard
from ..data.crop_folder import load_crop, read_index
from ..data.datasets import load_crops
from ..guard import LeakageError
from ..labels import BINARY_CLASSES
from ..metrics.probe import grouped_cv_auroc
from ..models.registry import read_checkpoint

#: Largest allowed gap between the MM and DN shares of crops touching the field's edge.
MAX_EDGE_GAP = 0.05
#: Largest allowed AUROC of the context-only probe.
MAX_CONTEXT_AUROC = 0.60
#: Realistic band of the stand-in's spectral/shape separability AUROC.
SEPARABILITY_BAND = (0.65, 0.90)


@dataclass(frozen=True)
class CheckResult:
    """One check: its name, the measured value, pass/fail (None: does not apply) and a
    sentence that states the value, the limit and the verdict."""

    name: str
    value: float
    passed: bool | None
    sentence: str

    def __str__(self) -> str:
        return self.sentence


def _verdict(passed: bool) -> str:
    return "PASS" if passed else "FAIL"


# --------------------------------------------------------------------------------------------
# Framing
# --------------------------------------------------------------------------------------------
def edge_share(index: pd.DataFrame, classes: Sequence[str] = BINARY_CLASSES) -> pd.DataFrame:
    """Per class: crops, crops whose box reached past the field's edge (``touches_field_edge``),
    their share, and the mean share of filled pixels (``field_fill``) over all crops."""
    for col in ("class", "touches_field_edge", "field_fill"):
        if col not in index.columns:
            raise ValueError(f"edge_share: the crop index has no {col!r} column (read it with "
                             f"hsilib.data.crop_folder.read_index)")
    table = index[index["class"].isin(classes)]
    touching = table.touches_field_edge.astype(bool)
    out = pd.DataFrame({"crops": table.groupby("class").size(),
                        "touching": touching.groupby(table["class"]).sum().astype(int),
                        "mean_fill": table.groupby("class").field_fill.mean()})
    out["share"] = out.touching / out.crops
    return out.reindex([c for c in classes if c in out.index])[
        ["crops", "touching", "share", "mean_fill"]]


def edge_share_check(index: pd.DataFrame, max_gap: float = MAX_EDGE_GAP) -> CheckResult:
    """Passes when the MM and DN shares of crops touching the field's edge differ by less than
    ``max_gap`` (absolute, as a fraction)."""
    table = edge_share(index, ("MM", "DN"))
    if set(table.index) != {"MM", "DN"}:
        raise ValueError(f"edge_share_check: the index needs MM and DN crops, has "
                         f"{sorted(table.index)}")
    mm, dn = float(table.share["MM"]), float(table.share["DN"])
    gap = abs(mm - dn)
    passed = gap < max_gap
    return CheckResult("framing", gap, passed, (
        f"Crops whose box reaches past the field's edge: MM {mm:.1%} "
        f"({table.touching['MM']}/{table.crops['MM']}), DN {dn:.1%} "
        f"({table.touching['DN']}/{table.crops['DN']}); the gap of {100 * gap:.1f} percentage "
        f"points is {'under' if passed else 'not under'} the limit of {100 * max_gap:.0f}: "
        f"{_verdict(passed)}."))


# --------------------------------------------------------------------------------------------
# Context only
# --------------------------------------------------------------------------------------------
def hide_lesion(images: torch.Tensor, masks: torch.Tensor, grow_px: int = 3) -> torch.Tensor:
    """Copy of ``images`` (N x B x H x W) with each crop's lesion bounding box (from ``masks``,
    N x H x W), grown by ``grow_px`` on every side, set to zero: the lesion and its outline are
    gone, the skin around it stays."""
    if masks.ndim != 3 or masks.shape[0] != images.shape[0] or masks.shape[1:] != \
            images.shape[2:]:
        raise ValueError(f"hide_lesion: masks must be N x H x W matching images "
                         f"{tuple(images.shape)}, got {tuple(masks.shape)}")
    out = images.clone()
    h, w = masks.shape[1:]
    for i, m in enumerate(masks):
        ys, xs = torch.nonzero(m > 0.5, as_tuple=True)
        if len(ys) == 0:
            raise ValueError(f"hide_lesion: crop {i} has an empty mask")
        y0, y1 = max(0, int(ys.min()) - grow_px), min(h, int(ys.max()) + 1 + grow_px)
        x0, x1 = max(0, int(xs.min()) - grow_px), min(w, int(xs.max()) + 1 + grow_px)
        out[i, :, y0:y1, x0:x1] = 0
    return out


def context_only_probe(crops_dir: str | os.PathLike, splits_csv: str | os.PathLike,
                       normaliser: Any, size: int, *, epochs: int,
                       splits_used: Sequence[str] = ("train", "val"), grow_px: int = 3,
                       max_auroc: float = MAX_CONTEXT_AUROC, n_splits: int = 5,
                       batch_size: int = 32, lr: float = 2e-3, width: int = 8,
                       n_boot: int = 1000, seed: int = 0,
                       device: str = "auto") -> tuple[Any, CheckResult]:
    """Grouped-CV AUROC of MM vs DN from the context of the crops alone.

    The MM and DN crops of ``splits_used`` in ``splits_csv`` (training and validation: the test
    split is never looked at) are loaded at ``size`` through ``normaliser`` ([0, 1]), their
    lesions hidden by :func:`hide_lesion`, and :func:`hsilib.metrics.probe.grouped_cv_auroc`
    trains one small CNN per fold (grouped by source image). Passes when the AUROC is at most
    ``max_auroc``. Returns (:class:`~hsilib.metrics.probe.ProbeResult`, :class:`CheckResult`).
    """
    if "test" in splits_used:
        raise ValueError("context_only_probe: splits_used must not include the test split")
    crops = load_crops(crops_dir, normaliser, size, list(splits_used), splits_csv,
                       classes=("MM", "DN"), value_range="unit")
    source = read_index(crops_dir).set_index("id").source
    groups = source.loc[list(crops.ids)].to_numpy()
    images = hide_lesion(crops.images, crops.masks, grow_px)
    result = grouped_cv_auroc(images, crops.labels.numpy(), groups, n_splits=n_splits,
                              epochs=epochs, batch_size=batch_size, lr=lr, width=width,
                              n_boot=n_boot, seed=seed, device=device)
    passed = result.auroc <= max_auroc
    return result, CheckResult("context_only", result.auroc, passed, (
        f"Lesion hidden, context only: {result.describe('MM vs DN')}. The AUROC is "
        f"{'at most' if passed else 'above'} the limit of {max_auroc:.2f}: {_verdict(passed)}."))


# --------------------------------------------------------------------------------------------
# Separability
# --------------------------------------------------------------------------------------------
def separability_check(auroc: float | None, standin: bool = True,
                       band: tuple[float, float] = SEPARABILITY_BAND) -> CheckResult:
    """Passes when the stand-in's spectral/shape separability AUROC
    (:func:`hsilib.standin.checks.separability_auroc`) lies inside ``band``. On real data
    (``standin`` False) the band, a property of a realistic stand-in, does not apply: the AUROC
    is reported with ``passed`` None (also when there is none to report, ``auroc`` None)."""
    if auroc is None:
        return CheckResult("separability", float("nan"), None,
                           "Separability: no lesion masks to measure it with.")
    if not standin:
        return CheckResult("separability", float(auroc), None, (
            f"MM vs DN from lesion spectra and shape (automatic masks): AUROC {auroc:.3f}; the "
            f"realism band {band[0]:.2f}-{band[1]:.2f} is for the stand-in and does not apply "
            f"to real data."))
    passed = band[0] <= auroc <= band[1]
    return CheckResult("separability", float(auroc), passed, (
        f"MM vs DN from lesion spectra and shape: AUROC {auroc:.3f}, "
        f"{'inside' if passed else 'outside'} the realistic band {band[0]:.2f}-{band[1]:.2f}: "
        f"{_verdict(passed)}."))


# --------------------------------------------------------------------------------------------
# Normalisation
# --------------------------------------------------------------------------------------------
def lesion_range_table(crops_dir: str | os.PathLike, splits: pd.DataFrame,
                       normalisers: Mapping[str, Any], split: str = "train",
                       quantiles: tuple[float, float] = (0.01, 0.99),
                       max_pixels: int = 2048, seed: int = 0) -> pd.DataFrame:
    """Where the lesion pixels of the ``split`` crops land in [-1, 1] under each normaliser.

    Lesion pixels (each crop's own mask; at most ``max_pixels`` per crop, drawn with ``seed``)
    are scaled to [-1, 1] by every normaliser of ``normalisers`` ({name: fitted
    :class:`~hsilib.data.normaliser.BandNormaliser`}). One row per normaliser and band: the
    ``quantiles`` of the scaled lesion values (``lesion_lo``, ``lesion_hi``), their median, and
    ``share``, the part of [-1, 1] the interval between them covers. Real crops only.
    """
    index = read_index(crops_dir)
    guard.check_split(split, f"lesion_range_table of {crops_dir}")
    ids = set(splits.id[splits.split == split])
    chosen = index[index.id.isin(ids) & ~index.is_synthetic]
    if chosen.empty:
        raise ValueError(f"{crops_dir}: no real crops in split {split!r}")
    rng = np.random.default_rng(seed)
    pixels = []
    for path in chosen.path:
        cube, mask = load_crop(path)
        values = cube[mask > 0]
        if len(values) > max_pixels:
            values = values[rng.choice(len(values), max_pixels, replace=False)]
        pixels.append(values)
    pixels = np.concatenate(pixels)
    rows = []
    for name, norm in normalisers.items():
        scaled = norm.apply(pixels, "symmetric")
        lo, med, hi = np.quantile(scaled, [quantiles[0], 0.5, quantiles[1]], axis=0)
        for b, nm in enumerate(norm.wavelengths_nm.astype(int)):
            share = max(0.0, min(hi[b], 1.0) - max(lo[b], -1.0)) / 2
            rows.append({"normalisation": name, "wavelength_nm": int(nm),
                         "lesion_lo": float(lo[b]), "lesion_median": float(med[b]),
                         "lesion_hi": float(hi[b]), "share": float(share)})
    return pd.DataFrame(rows)


def normalisation_check(table: pd.DataFrame, configured: str) -> CheckResult:
    """Passes when the ``configured`` normaliser gives the lesion pixels at least as large a
    mean share of [-1, 1] as every other normaliser of ``table``
    (:func:`lesion_range_table`)."""
    shares = table.groupby("normalisation").share.mean()
    if configured not in shares.index:
        raise ValueError(f"normalisation_check: {configured!r} is not in the table "
                         f"({sorted(shares.index)})")
    passed = bool(shares[configured] >= shares.max())
    listing = ", ".join(f"{name} {share:.0%}" for name, share in shares.items())
    return CheckResult("normalisation", float(shares[configured]), passed, (
        f"Lesion pixels of the training crops cover on average (over bands) this share of "
        f"[-1, 1]: {listing}. The configured normaliser ({configured}) "
        f"{'uses the range best' if passed else 'leaves lesions a smaller share than another'}: "
        f"{_verdict(passed)}."))


def normaliser_ranges(normalisers: Mapping[str, Any]) -> pd.DataFrame:
    """Per-band fitted range (the reflectance mapped to -1 and to 1) of each normaliser."""
    table = pd.DataFrame({"wavelength_nm": np.asarray(WAVELENGTHS_NM, int)})
    for name, norm in normalisers.items():
        table[f"{name}_low"] = norm.band_min
        table[f"{name}_high"] = norm.band_max
    return table


# --------------------------------------------------------------------------------------------
# Generators' training inputs
# --------------------------------------------------------------------------------------------
def audit_generators(checkpoints, splits) -> pd.DataFrame:
    """Which split every training image of every generator checkpoint came from.

    ``checkpoints``: checkpoint paths (e.g. ``run.checkpoints.glob("fastgan_*.pt")``), each
    written by a trainer given ``data_ids`` (one without them cannot be audited and is an
    error too). ``splits``: the ``splits.csv`` table or its path. Returns one row per
    checkpoint: ``checkpoint``, ``n_ids`` and the number of its ids in each split (``train``,
    ``val``, ``test``; ``unknown`` for ids in no split). Raises
    :class:`hsilib.guard.LeakageError` naming the checkpoint if any id, or any other crop of
    the same source image, lies outside the training split.
    """
    if not isinstance(splits, pd.DataFrame):
        splits = pd.read_csv(splits, dtype={"id": str, "source": str})
    split_of = splits.set_index("id")["split"]
    source_of = splits.set_index("id")["source"]
    held_sources = set(splits.source[splits.split != "train"])
    rows = []
    for path in sorted(Path(p) for p in checkpoints):
        ids = read_checkpoint(path, "cpu").get("data_ids") or []
        known = [i for i in ids if i in split_of.index]
        counts = pd.Series([split_of[i] for i in known], dtype=object).value_counts()
        row = {"checkpoint": path.name, "n_ids": len(ids),
               **{s: int(counts.get(s, 0)) for s in ("train", "val", "test")},
               "unknown": len(ids) - len(known)}
        leaked = {source_of[i] for i in known} & held_sources
        if not ids:
            raise LeakageError(f"{path}: holds no data_ids, so what it was trained on cannot be "
                               "audited (pass data_ids= to the trainer)")
        if row["val"] or row["test"] or row["unknown"] or leaked:
            raise LeakageError(f"{path}: trained on {row['val']} validation, {row['test']} test "
                               f"and {row['unknown']} unknown crops; source images outside the "
                               f"training split: {sorted(leaked)[:5]}")
        rows.append(row)
    return pd.DataFrame(rows, columns=["checkpoint", "n_ids", "train", "val", "test", "unknown"])


__all__ = ["CheckResult", "MAX_EDGE_GAP", "MAX_CONTEXT_AUROC", "SEPARABILITY_BAND",
           "edge_share", "edge_share_check", "hide_lesion", "context_only_probe",
           "separability_check", "lesion_range_table", "normalisation_check",
           "normaliser_ranges", "audit_generators"]
