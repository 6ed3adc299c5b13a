"""Inputs that notebook 06 makes for its own arms, and the audit of every arm's generators.

- **Generators of the reduced learning-curve arms** (:func:`curve_generators`). An arm that
  trains on 25% of the real training crops must not add synthetic crops of a generator that
  saw the other 75%: those lesions would leak back in. For each fraction, replicate and class
  the generator is trained here, through the generator-study layer, on exactly the real crops
  the arm keeps (:func:`hsilib.train.training_set.fraction_ids` with the replicate as the
  subsample seed), with the config of the replicate's full-data generator of notebook 03 (read
  from its checkpoint: same family, size, steps and losses), then exported as notebook 03 does.
- **SeFa edits of real training melanomas** (:func:`sefa_edit_sets`), the related
  closed-form-factorisation study's augmentation: each real training melanoma is inverted into
  the W+ space of the replicate's StyleGAN2-ADA melanoma generator (optimisation,
  :func:`hsilib.models.stylegan2_edit.project`) and moved by +-``alpha`` SDs of w along each of
  its top SeFa directions; every edit keeps the source image of the crop it came from, so the
  leakage guard of the classifiers still sees it.
- **Audit** (:func:`audit_arm_inputs`, check 12): for every configuration and replicate, the
  ids of the crops each of its generators trained on (from the checkpoint) must lie among the
  real crops that configuration trains on (read from its saved predictions), or, for an arm
  without real crops (TSTR), in the replicate's training split.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import pandas as pd
import torch

from .. import config
from ..data.datasets import BandNormaliser, Crops
from ..guard import LeakageError
from ..models import registry
from ..models import stylegan2_edit as sg2_edit
from ..paths import atomic_path
from ..synth import export_synthetic, write_synthetic
from ..train.training_set import fraction_ids
from .family_sets import export_is_current
from .generators.study import GeneratorStudy

EXPORT_FILE = "export.json"


def curve_generators(study: GeneratorStudy, real_train: Mapping[int, Crops],
                     fractions: Sequence[float], templates: Mapping[tuple[str, int], Path], *,
                     n_export: int, prefix: str = "06_curve"
                     ) -> tuple[dict[float, dict[int, dict[str, Path]]], pd.DataFrame]:
    """Train and export one generator per fraction < 1, replicate and class (module
    docstring). ``real_train``: each replicate's real training crops as the classifier loads
    them (their order fixes the subsample); ``templates``: the full-data checkpoint per
    ``(cls, replicate)`` whose family and config the reduced generator takes. Checkpoints
    ``<prefix>_<pct>pct_<cls>_<tag>.pt``, exports of ``n_export`` crops in folders of the same
    name; a checkpoint of the same config, crops and steps is reused. Returns the folders
    (fraction -> replicate -> class) and one row per generator."""
    dirs: dict[float, dict[int, dict[str, Path]]] = {}
    rows = []
    for f in sorted(x for x in fractions if x < 1):
        for r in study.replicates:
            keep = set(fraction_ids(real_train[r], f, seed=r))
            for c in study.classes:
                crops = study.data(r).crops(c, "train")
                pos = [i for i, i_d in enumerate(crops.ids) if i_d in keep]
                ids = [crops.ids[i] for i in pos]
                ckpt = registry.read_checkpoint(templates[c, r], "cpu")
                cfg = config.from_dict(registry.family(ckpt["family"]).config_class,
                                       ckpt["config"])
                name = f"{prefix}_{round(100 * f)}pct_{c.lower()}_{study.tag(r)}"
                path = study.run.checkpoints / f"{name}.pt"
                wall = 0.0
                if not _trained(path, ckpt["config"], ids, cfg.steps):
                    run = study.train(cfg, name, replicate=r, data=crops.images[pos],
                                      data_ids=ids, snapshots=False)
                    wall = run.wall_s
                folder = study.run.synthetic(name)
                if not export_is_current(folder, path, n=n_export, seed=study.seed):
                    export_synthetic(path, folder, n=n_export, cls=c,
                                     normaliser=study.normaliser(r), seed=study.seed,
                                     batch_size=cfg.batch_size, generator_name=name,
                                     device=study.device)
                dirs.setdefault(f, {}).setdefault(r, {})[c] = folder
                rows.append({"fraction": f, "class": c, "replicate": study.tag(r),
                             "checkpoint": path.name, "training crops": len(ids),
                             "of the class's training crops": len(crops),
                             "steps": cfg.steps, "training seconds": round(wall, 1)})
    return dirs, pd.DataFrame(rows)


def _trained(path: Path, cfg: dict, ids: list[str], steps: int) -> bool:
    if not path.is_file():
        return False
    ckpt = registry.read_checkpoint(path, "cpu")
    return ckpt["config"] == cfg and list(ckpt["data_ids"] or []) == ids and ckpt["step"] == steps


def _read_export(folder: Path) -> dict | None:
    """A synthetic folder's ``export.json`` (None when it has none)."""
    path = folder / EXPORT_FILE
    return json.loads(path.read_text()) if path.is_file() else None


def sefa_edit_sets(checkpoints: Mapping[int, Path], tags: Mapping[int, str],
                   targets: Mapping[int, Crops],
                   sources: Mapping[int, Sequence[str]],
                   normalisers: Mapping[int, BandNormaliser], out_dir: Callable[[str], Path], *,
                   k: int, layers: Sequence[int], alpha: float, steps: int, seed: int,
                   max_crops: int | None = None, device: Any = "cpu", chunk: int = 16
                   ) -> tuple[dict[int, Path], pd.DataFrame]:
    """Per replicate ``r`` (named ``tags[r]``), the real training melanomas ``targets[r]``
    (in [-1, 1] at the generator's side, with their ``sources``; the first ``max_crops`` of
    them, or all when None) inverted into W+ of
    ``checkpoints[r]`` (a StyleGAN2-ADA melanoma generator; ``steps`` optimiser steps,
    ``chunk`` crops at a time) and
    edited along its top ``k`` SeFa directions of the style weights of ``layers``, by -alpha and
    +alpha SDs of w along each: ``2 k`` edits per crop, written as synthetic melanoma crops
    (``06_sefa_mm_<tag>/``, each with its crop's source image and the generator's hash,
    ``export.json`` naming the checkpoint). Returns the folders and one row per replicate."""
    dirs, rows = {}, []
    for r, path in checkpoints.items():
        folder = Path(out_dir(f"06_sefa_mm_{tags[r]}"))
        done = _read_export(folder)
        x, crop_sources = targets[r].images[:max_crops], list(sources[r])[:max_crops]
        setting = {"checkpoint_sha": registry.file_sha256(path), "directions": k,
                   "layers": list(layers), "alpha_sd": alpha, "invert_steps": steps,
                   "n": 2 * k * len(x), "seed": seed}
        if done and all(done.get(key) == v for key, v in setting.items()):
            dirs[r] = folder  # a rerun keeps the edits of the same setting
            rows.append(done["row"])
            continue
        objective, ckpt = registry.load(path, device)
        G = objective.net("G")  # the EMA generator
        directions, eigenvalues = sg2_edit.sefa_directions(G, k=k, layers=tuple(layers))
        sd = sg2_edit.w_spread(G, directions, seed=seed)
        ws, losses = [], []
        for i in range(0, len(x), chunk):
            inv = sg2_edit.project(G, x[i:i + chunk], steps=steps, space="w+", seed=seed)
            ws.append(inv["ws"])
            losses.append(inv["loss"][-1] * len(x[i:i + chunk]))
        ws = torch.cat(ws)
        edits, edit_sources = [], []
        for j in range(k):
            moved = sg2_edit.traverse(G, ws, directions[j],
                                      [-alpha * float(sd[j]), alpha * float(sd[j])])
            edits += [moved[0], moved[1]]
            edit_sources += crop_sources * 2
        write_synthetic(torch.cat(edits).clamp(-1, 1), folder, cls="MM",
                        normaliser=normalisers[r], generator=f"sefa_{tags[r]}",
                        checkpoint_sha=setting["checkpoint_sha"], seed=seed,
                        sources=edit_sources)
        row = {"replicate": tags[r], "checkpoint": Path(path).name, "inverted crops": len(x),
               "final inversion MSE ([-1, 1])": sum(losses) / len(x), "directions": k,
               "alpha (SD of w)": alpha, "edits": len(edit_sources)}
        with atomic_path(folder / EXPORT_FILE) as tmp:
            tmp.write_text(json.dumps({
                "checkpoint": str(path), "family": ckpt["family"], "class": "MM",
                "method": "SeFa edits of inverted real training crops (W+)", **setting,
                "eigenvalues": [float(v) for v in eigenvalues], "row": row}, indent=1))
        dirs[r] = folder
        rows.append(row)
    return dirs, pd.DataFrame(rows)


def audit_arm_inputs(plan: Sequence[Any], preds: pd.DataFrame, checkpoint_dir: str | Path,
                     split_tables: Mapping[int | None, str | Path | pd.DataFrame]
                     ) -> pd.DataFrame:
    """One row per configuration, replicate and synthetic folder it trains on whose
    ``export.json`` names a generator checkpoint (module docstring): ``n_ids`` the crops that
    generator trained on, ``in_reference`` how many of them the reference holds (the real
    crops every run of that configuration and replicate trained on, from the ``train`` rows of
    ``preds``; for an arm without real crops, the training split of ``split_tables[replicate]``
    (``None``: the fixed split)), ``subset`` whether all. A folder drawn from another version of
    its checkpoint (hash differs) raises ValueError."""
    rows, ids_of = [], {}
    train = preds[(preds["split"] == "train") & ~preds["is_synthetic"] & ~preds["is_duplicate"]]
    for e in plan:
        for r in e.replicates or (None,):
            args = e.arguments(r)
            folders = list((args.get("synthetic") or {}).values())
            if not folders:
                continue
            mine = train[train["config"] == e.name]
            if r is not None:
                mine = mine[mine["fold" if e.by_fold else "generator_seed"] == r]
            if len(mine):
                ref = set.intersection(*(set(g["id"]) for _, g in mine.groupby("seed")))
                what = "real crops of the configuration's runs"
            else:
                table = split_tables[r if e.by_fold else None]
                table = table if isinstance(table, pd.DataFrame) else pd.read_csv(
                    table, dtype={"id": str})
                ref, what = set(table.loc[table["split"] == "train", "id"]), "training split"
            for folder in folders:
                path = _checkpoint_of(Path(folder), Path(checkpoint_dir))
                if path is None:
                    continue
                if path not in ids_of:
                    ids_of[path] = set(registry.read_checkpoint(path, "cpu").get("data_ids")
                                       or [])
                ids = ids_of[path]
                rows.append({"config": e.name, "replicate": r, "folder": Path(folder).name,
                             "checkpoint": path.name, "n_ids": len(ids),
                             "in_reference": len(ids & ref), "reference": what,
                             "subset": bool(ids) and ids <= ref})
    return pd.DataFrame(rows, columns=["config", "replicate", "folder", "checkpoint", "n_ids",
                                       "in_reference", "reference", "subset"])


def require_subsets(audit: pd.DataFrame) -> None:
    """Raise :class:`~hsilib.guard.LeakageError` naming every row of
    :func:`audit_arm_inputs` whose generator learnt from crops its configuration leaves out."""
    bad = audit[~audit["subset"]]
    if len(bad):
        raise LeakageError("generators trained on crops their configuration leaves out: "
                           + "; ".join(f"{r.config} (replicate {r.replicate}) <- {r.checkpoint}: "
                                       f"{r.n_ids - r.in_reference} of {r.n_ids} crops outside "
                                       f"the {r.reference}" for r in bad.itertuples()))


def _checkpoint_of(folder: Path, checkpoint_dir: Path) -> Path | None:
    """The generator checkpoint a synthetic folder was drawn from (``export.json``, resolved in
    ``checkpoint_dir`` by name; None for a folder without one, e.g. real crops passed through
    the export path), checked against the hash it recorded."""
    meta = _read_export(folder)
    if meta is None:
        return None
    path = checkpoint_dir / Path(meta["checkpoint"]).name
    if registry.file_sha256(path) != meta["checkpoint_sha"]:
        raise ValueError(f"{folder} was drawn from another version of {path.name} (hash "
                         f"{meta['checkpoint_sha']}, the file now {registry.file_sha256(path)}): "
                         "draw it again")
    return path


__all__ = ["EXPORT_FILE", "audit_arm_inputs", "curve_generators", "require_subsets",
           "sefa_edit_sets"]
