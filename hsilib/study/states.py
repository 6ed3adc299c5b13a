"""Each generator state's synthetic crops and metric table (notebook 08, section 1).

A state is one generator checkpoint or snapshot (:func:`hsilib.study.correlation.discover_states`).
:func:`lighter_metrics` is the metric protocol at the ``correlation_study.metric_*`` settings,
the same for every state so that the values compare; :func:`score_states` draws each state's
crops into a folder of its own (drawn again only when the checkpoint changed) and scores them
against the validation crops of the state's class at the state's image size, the training
crops as the real-vs-real floor.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pandas as pd

from ..data.datasets import load_crops
from .generators.data import ReplicateData, load_replicate
from .generators.study import evaluate_set
from .proportion import amount_counts, export_pool, pool_is_current


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
