"""Synthetic crops of any generator family for the classifier notebooks (06 and 07).

A family is named in a config by a checkpoint pattern (``ClassifierStudyConfig.families``,
``ProportionStudyConfig.generators``); :func:`find_checkpoints` finds its checkpoints per class
and replicate (one checkpoint may serve both classes: a conditional generator). What a
checkpoint needs in order to draw crops of ONE class depends on how it was trained, which its
saved config says (:func:`condition_for`):

- an unconditional generator of one class (FastGAN, StyleGAN2-ADA, a VAE): nothing;
- a class-conditional one (the class-conditional FastGAN, AC-GAN, the conditional VAE): the
  class;
- a mask-conditioned one (conditional FastGAN, SPADE with a mask): the lesion masks of the
  class's TRAINING crops, taken in turn, and the class when it has one;
- an RGB-conditioned one (SPADE with an RGB map, CycleGAN's RGB -> 16 bands): the RGB
  dermoscopy images of the class from the unpaired RGB folder (``standin/rgb/``, or the RGB data
  set beside the real cubes), which are no image of the hyperspectral data set; CycleGAN
  translates each image deterministically, so it makes at most as many distinct crops as there
  are RGB images of the class (:class:`Conditions` counts them).

Validation and test crops never condition a draw. :func:`draw_families` writes one crop folder
per family, class and replicate with :func:`hsilib.synth.export_synthetic` (critic filtering
when the family's kept share is below 1) and tabulates what was drawn. Introduced in notebook
06; notebook 07 draws its pools through :meth:`Conditions.__call__` too.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from ..data.datasets import BandNormaliser, load_crops
from ..data.rgb_folder import load_rgb_folder
from ..labels import BINARY_CLASSES, LABELS
from ..models import registry
from ..synth import export_synthetic
from .generators.conditional import cycled


def find_checkpoints(checkpoint_dir: str | Path, pattern: str, tags: Mapping[int, str]
                     ) -> tuple[dict[tuple[str, int], Path], list[str]]:
    """``{(cls, replicate): checkpoint}`` of a family for every class and replicate whose
    file exists (``pattern`` formatted with ``cls`` = mm/dn, ``tag`` = ``tags[replicate]`` and
    ``replicate``), and the names of the missing files."""
    found, missing = {}, []
    for r, tag in tags.items():
        for c in BINARY_CLASSES:
            path = Path(checkpoint_dir) / pattern.format(cls=c.lower(), tag=tag, replicate=r)
            if path.is_file():
                found[c, r] = path
            else:
                missing.append(path.name)
    return found, sorted(set(missing))


class Conditions:
    """What a checkpoint needs to draw crops of one class (module docstring), for the
    replicates of a classifier notebook. ``tables``: each replicate's split table (the masks
    come from its TRAINING crops), ``normalisers`` likewise; ``rgb_folder``: the unpaired RGB
    images (None: RGB-conditioned families cannot draw). Masks and RGB images are read once per
    replicate, class and side."""

    def __init__(self, crops_dir: str | Path, tables: Mapping[int, str | Path],
                 normalisers: Mapping[int, BandNormaliser], rgb_folder: str | Path | None):
        self.crops_dir, self.tables, self.normalisers = Path(crops_dir), tables, normalisers
        self.rgb_folder = None if rgb_folder is None else Path(rgb_folder)
        self._masks: dict[tuple[int, str, int], torch.Tensor] = {}
        self._rgb: dict[tuple[str, int], torch.Tensor] = {}

    def masks(self, replicate: int, cls: str, size: int) -> torch.Tensor:
        """Lesion masks of the class's training crops of ``replicate`` at ``size`` px."""
        key = (replicate, cls, size)
        if key not in self._masks:
            self._masks[key] = load_crops(self.crops_dir, self.normalisers[replicate], size,
                                          "train", self.tables[replicate], classes=(cls,)).masks
        return self._masks[key]

    def rgb(self, cls: str, size: int) -> torch.Tensor:
        """The RGB images of class ``cls`` (N x 3 x size x size in [0, 1])."""
        if self.rgb_folder is None:
            raise FileNotFoundError("an RGB-conditioned generator needs the unpaired RGB images "
                                    "(rgb_folder), none was given")
        if (cls, size) not in self._rgb:
            images, table = load_rgb_folder(self.rgb_folder, size=size)
            keep = np.flatnonzero(table["class"].to_numpy() == cls)
            if not len(keep):
                raise ValueError(f"{self.rgb_folder}: no RGB image of class {cls}")
            x = torch.from_numpy(images[keep]).permute(0, 3, 1, 2).float() / 255
            self._rgb[cls, size] = x
        return self._rgb[cls, size]

    def __call__(self, ckpt: Mapping[str, Any], cls: str, n: int, replicate: int
                 ) -> dict[str, Any]:
        """The keyword conditions of ``sample(n, ...)`` and ``score`` for class ``cls`` of a
        checkpoint dict (its ``family`` and saved ``config``)."""
        family, cfg = ckpt["family"], ckpt["config"]
        size = int(cfg.get("image_size", 0))
        if family == "cyclegan":
            return {"rgb": self.rgb(cls, size)}
        if family == "cfastgan":
            out: dict[str, Any] = {}
            if cfg["condition"] == "mask":
                out["mask"] = cycled(self.masks(replicate, cls, size), n)
            elif cfg["condition"] == "rgb":
                out["rgb"] = cycled(self.rgb(cls, size), n)
            if cfg.get("n_classes"):
                out["label"] = LABELS[cls]
            return out
        if (family == "classic" and cfg.get("variant") == "acgan") or (
                family == "vae" and cfg.get("conditional")):
            return {"cls": cls}
        return {}

    def distinct(self, ckpt: Mapping[str, Any], cls: str, n: int) -> int:
        """How many distinct crops ``n`` draws can hold: ``n``, or, for CycleGAN's
        deterministic translation, the number of RGB images of the class."""
        if ckpt["family"] == "cyclegan":
            return min(n, len(self.rgb(cls, int(ckpt["config"]["image_size"]))))
        return n


def draw_families(families: Sequence[tuple[str, str, float]], conditions: Conditions,
                  checkpoint_dir: str | Path, out_dir: Any, tags: Mapping[int, str], *, n: int,
                  seed: int, device: Any = "auto", prefix: str = "06"
                  ) -> tuple[dict[str, dict[int, dict[str, Path]]], pd.DataFrame, list[str]]:
    """Draw ``n`` crops per class and replicate from each family ``(name, checkpoint pattern,
    kept share)`` into ``out_dir(f"{prefix}_{name}_{cls}_{tag}")`` (a callable: the run's
    ``synthetic``), with the class's conditions and, for a kept share < 1, the critic's best of
    ``ceil(n / share)`` draws; a replicate whose checkpoints are missing is left out, a family
    with none is skipped with a note. A folder that already holds this draw of the same
    checkpoint is kept. Returns the folders (name -> replicate -> class), one table row per
    folder (family, class, replicate, checkpoint, crops, drawn, kept share, distinct crops)
    and the notes."""
    dirs: dict[str, dict[int, dict[str, Path]]] = {}
    rows, notes = [], []
    for name, pattern, share in families:
        found, missing = find_checkpoints(checkpoint_dir, pattern, tags)
        complete = {r for r in tags if all((c, r) in found for c in BINARY_CLASSES)}
        if missing:
            notes.append(f"{name}: no {', '.join(missing)}" + ("; skipped" if not complete
                                                                 else ""))
        for r in sorted(complete):
            for c in BINARY_CLASSES:
                ckpt = registry.read_checkpoint(found[c, r], "cpu")
                n_draw = math.ceil(n / share) if share < 1 else n
                folder = Path(out_dir(f"{prefix}_{name}_{c.lower()}_{tags[r]}"))
                if not export_is_current(folder, found[c, r], n=n, seed=seed,
                                         filter_top_fraction=share):
                    export_synthetic(found[c, r], folder, n=n, cls=c,
                                     normaliser=conditions.normalisers[r], seed=seed,
                                     batch_size=int(ckpt["config"].get("batch_size", 32)),
                                     filter_top_fraction=share,
                                     generator_name=f"{name}_{tags[r]}",
                                     condition=conditions(ckpt, c, n_draw, r), device=device)
                dirs.setdefault(name, {}).setdefault(r, {})[c] = folder
                rows.append({"family": name, "class": c, "replicate": tags[r],
                             "checkpoint": found[c, r].name, "crops": n, "drawn": n_draw,
                             "kept share": share,
                             "distinct crops": conditions.distinct(ckpt, c, n)})
    return dirs, pd.DataFrame(rows), notes


def export_is_current(folder: str | Path, checkpoint: str | Path, **fields: Any) -> bool:
    """True when ``folder``'s ``export.json`` records ``fields`` (e.g. ``n``, ``seed``) and the
    hash of ``checkpoint`` as it is now: the folder need not be drawn again, and the cells
    trained on it stay valid."""
    try:
        meta = json.loads((Path(folder) / "export.json").read_text())
    except (OSError, ValueError):
        return False
    return (all(meta.get(k) == v for k, v in fields.items())
            and meta.get("checkpoint_sha") == registry.file_sha256(checkpoint))
