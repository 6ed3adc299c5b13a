"""Generator states: every single-class generator checkpoint of a run (notebook 08).

A **generator state** is one single-class generator checkpoint: a final generator of notebooks
02-05, a short comparison or sweep run, or a snapshot kept along training
(:func:`hsilib.train.trainer.snapshot_path`). :func:`discover_states` finds them in a run's
checkpoint folder from the checkpoints alone (family, step, generator seed, and the class from
the ids of the crops it trained on), so a new family is picked up without code here;
:func:`spread_subset` keeps a subset spread over families and training stages.

Each state's synthetic crops and metric table (notebook 08, section 1):
:func:`lighter_metrics` is the metric protocol at the ``correlation_study.metric_*`` settings,
the same for every state so that the values compare; :func:`score_states` draws each state's
crops into a folder of its own (drawn again only when the checkpoint changed) and scores them
against the validation crops of the state's class at the state's image size, the training
crops as the real-vs-real floor.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from .. import guard
from ..data.datasets import load_crops
from ..models.registry import read_checkpoint
from .generators.data import ReplicateData, load_replicate
from .generators.study import evaluate_set
from .proportion import amount_counts, export_pool, pool_is_current

STATE_COLUMNS = ["state", "path", "family", "class", "seed", "step", "steps", "progress",
                 "snapshot", "image_size", "key"]


def discover_states(checkpoint_dir: str | Path, splits: pd.DataFrame | str | Path,
                    train_split: str = "train") -> tuple[pd.DataFrame, list[str]]:
    """Every single-class generator checkpoint in ``checkpoint_dir`` and its ``snapshots/``.

    A checkpoint qualifies when :func:`hsilib.models.registry.read_checkpoint` reads it (other
    files are ignored; the classifier notebooks' weights, named ``NN_*.pt``, are not even
    opened, since under ``full`` they are many and large) and every crop id it trained on lies
    in the ``train_split`` of ``splits`` (notebook 01's split, the one whose test crops score the
    probe classifier) and in one class. Two files of the same run at the same step (a run saved
    under two names) count once. A snapshot counts only as a state of its run's final
    checkpoint (``<name>.pt`` beside ``snapshots/<name>_s<step>.pt``), when that exists: same
    config, training crops and data seed, and a step no later than the final one; otherwise
    it is left behind by an earlier run of that name (say a longer one, before the profile
    was changed) and is left out with a note. Returns one row per state
    (:data:`STATE_COLUMNS`; ``progress`` = step / the config's planned steps; ``seed`` = the
    run's data and initial-weight seed) and a list of notes on the checkpoints left out and
    why.
    """
    guard.check_fit(train_split, "discover_states: the split generators were trained on")
    if not isinstance(splits, pd.DataFrame):
        splits = pd.read_csv(splits, dtype={"id": str, "source": str})
    split_of = splits.set_index("id")["split"]
    class_of = splits.set_index("id")["class"]
    folder = Path(checkpoint_dir)
    if not folder.is_dir():
        raise FileNotFoundError(f"checkpoint folder {folder} does not exist")
    paths = sorted(folder.glob("*.pt")) + sorted((folder / "snapshots").glob("*.pt"))
    rows, notes, seen, finals = [], [], {}, {}
    for path in paths:
        if re.match(r"\d\d_", path.name):  # a classifier notebook's weights (06_, 07_, ...)
            continue
        try:
            ckpt = read_checkpoint(path, "cpu")
        except Exception:  # noqa: BLE001 (not a generator checkpoint of this project)
            continue
        ids = [str(i) for i in (ckpt.get("data_ids") or [])]
        if not ids:
            notes.append(f"{path.name}: no data_ids, so its training crops are unknown")
            continue
        outside = [i for i in ids if split_of.get(i) != train_split]
        if outside:
            notes.append(f"{path.name}: {len(outside)} of its training crops are not in the "
                         f"'{train_split}' split of notebook 01 (e.g. a cross-validation fold's "
                         "generator); left out so no test crop reaches the probe classifier")
            continue
        classes = sorted({class_of[i] for i in ids})
        if len(classes) != 1:
            notes.append(f"{path.name}: trained on classes {classes} (a conditional model); "
                         "only single-class generators are states here")
            continue
        cfg = ckpt["config"]
        if path.parent.name == "snapshots":
            stale = _stale_snapshot(path, ckpt, ids, finals)
            if stale:
                notes.append(stale)
                continue
        if cfg.get("generator") == "rgb":  # notebook 02's RGB-to-HS SHS-GAN
            notes.append(f"{path.name}: translates RGB images, so it draws nothing without "
                         "them; only generators that sample on their own are states here")
            continue
        key = hashlib.sha256(json.dumps(
            [ckpt["family"], cfg, int(ckpt["step"]), ckpt.get("data_seed"), sorted(ids)],
            sort_keys=True, default=str).encode()).hexdigest()[:16]
        if key in seen:
            notes.append(f"{path.name}: the same run and step as {seen[key]}; counted once")
            continue
        seen[key] = path.name
        steps = int(cfg.get("steps", ckpt["step"]) or ckpt["step"])
        rows.append({"state": path.stem, "path": str(path), "family": ckpt["family"],
                     "class": classes[0], "seed": int(ckpt.get("data_seed") or 0),
                     "step": int(ckpt["step"]), "steps": steps,
                     "progress": int(ckpt["step"]) / max(steps, 1),
                     "snapshot": path.parent.name == "snapshots",
                     "image_size": int(cfg.get("image_size", 0)), "key": key})
    return pd.DataFrame(rows, columns=STATE_COLUMNS), notes


def _stale_snapshot(path: Path, ckpt: dict, ids: list[str], finals: dict) -> str | None:
    """Why the snapshot ``path`` is not a state of its run's final checkpoint (None: it is,
    or there is no final checkpoint to compare with); ``finals`` caches what was read."""
    name = re.sub(r"_s\d+$", "", path.stem)
    final_path = path.parent.parent / f"{name}.pt"
    if not final_path.is_file():
        return None
    if final_path not in finals:
        try:
            final = read_checkpoint(final_path, "cpu")
            finals[final_path] = (final["config"], sorted(str(i) for i in
                                                          final.get("data_ids") or []),
                                  final.get("data_seed"), int(final["step"]))
        except Exception:  # noqa: BLE001 (unreadable: nothing to compare with)
            finals[final_path] = None
    if finals[final_path] is None:
        return None
    cfg, final_ids, seed, step = finals[final_path]
    if (cfg, final_ids, seed) != (ckpt["config"], sorted(ids), ckpt.get("data_seed")) \
            or int(ckpt["step"]) > step:
        return (f"{path.name}: left behind by an earlier run of {name} (another config, "
                "training crops or length than its checkpoint now); not a state of it")
    return None


def spread_subset(states: pd.DataFrame, max_states: int | None) -> pd.DataFrame:
    """At most ``max_states`` rows of ``states`` (all when None or fewer), chosen evenly
    spaced along the table sorted by family, class, seed and step, so that every family and
    training stage stays represented; the rows keep their order."""
    if max_states is None or len(states) <= max_states:
        return states
    order = states.sort_values(["family", "class", "seed", "step", "state"]).index
    keep = order[np.unique(np.linspace(0, len(order) - 1, max_states).round().astype(int))]
    return states.loc[states.index.isin(keep)]


def lighter_metrics(metrics: Any, cfg: Any) -> Any:
    """The ``metrics`` section at the lighter settings of ``correlation_study`` (``cfg``):
    feature size, repeats, bootstrap resamples and the detectability probe."""
    return replace(metrics, feature_size=cfg.metric_feature_size, n_repeats=cfg.metric_repeats,
                   n_boot=cfg.metric_boot, n_boot_set=cfg.metric_boot,
                   probe_epochs=cfg.metric_probe_epochs, probe_folds=cfg.metric_probe_folds)


def score_states(states: pd.DataFrame, run: Any, *, crops_dir: Any, splits_csv: Any,
                 normaliser: Any, sources: pd.Series, real_counts: dict[str, int],
                 amount: float, pool_seed: int, metrics: Any, seed: int, device: Any = "auto"
                 ) -> tuple[dict[str, Any], dict[str, pd.DataFrame]]:
    """For every state (rows of ``states``: ``state``, ``path``, ``class``, ``image_size``):
    ``amount`` % of its class's real training count drawn with ``pool_seed`` into
    ``synthetic/08_<state>/`` (kept while the checkpoint is unchanged), read back through
    ``normaliser`` and scored with the metric protocol (``metrics``, ``seed``). Returns the
    folders and the metric tables, by state."""
    folders, tables, real = {}, {}, {}
    for st in states.to_dict("records"):
        name, path, cls, size = st["state"], st["path"], st["class"], int(st["image_size"])
        n = amount_counts({cls: real_counts[cls]}, amount)[cls]
        folder = run.synthetic(f"08_{name}")
        if not pool_is_current(folder, path, n, pool_seed):
            export_pool(path, folder, n=n, cls=cls, normaliser=normaliser, seed=pool_seed,
                        generator=name, device=device)
        folders[name] = folder
        synthetic = load_crops(folder, normaliser, size).images
        if size not in real:  # training and validation crops in [0, 1] at this size
            real[size] = load_replicate(crops_dir, splits_csv, normaliser, size, sources,
                                        train_range="unit", val_range="unit")
        data: ReplicateData = real[size]
        tables[name] = evaluate_set(data, cls, synthetic, metrics=metrics, seed=seed,
                                        device=device)
    return folders, tables
