"""Each state's metric table (notebook 08): the protocol of notebook 03 and the task-aware
distance, per class, at one setting for every state so that the values compare.

:class:`StateScorer` scores a state's crops of each class of ``correlation_study.metric_classes``
against the validation crops of that class, with the training crops as the real-vs-real floor
(:func:`hsilib.study.generators.study.evaluate_set`, at the lighter setting of
:func:`hsilib.study.states.lighter_metrics`), under the split table the state belongs to
(notebook 01's, or its fold's with that fold's normaliser). With the real-only probes of that
table it adds the **task-aware distance** (:func:`hsilib.metrics.attribution.relevance_distance`):
how far the relevance spectra the probe finds in the state's crops lie from those it finds in
real validation crops of the class, beside the same distance for real training crops.

:func:`distances` turns the long tables into one number per state and metric: the distance to
the floor, ``|value - floor|`` averaged over the scored classes. A valid metric moves away from
its floor as a generator gets worse, in whichever direction (precision can rise when diversity
collapses), so the distance, not the signed gap, is what the calibration reads.

Introduced in notebook 08.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from ..data.datasets import BandNormaliser, load_crops
from ..metrics import attribution as at
from ..runtime import progress
from ..train.training_set import crop_sources
from .generators.data import ReplicateData, load_replicate
from .generators.study import evaluate_set
from .states import lighter_metrics

#: Name of the task-aware distance's row in a state's table.
RELEVANCE = "relevance_distance"
#: Kinds of protocol rows without a floor interval (:meth:`StateScorer.floor_table`).
NO_FLOOR_INTERVAL = ("memorisation", "detectability")


class StateScorer:
    """Metric tables of states under the split tables of ``inputs``
    (:class:`~hsilib.study.classifier_inputs.ClassifierInputs`; fold -1: notebook 01's split).

    ``size``: the crops' side (notebook 01's); ``metrics``: the lighter ``metrics`` section;
    ``classes``: the classes scored; ``probe_size``: the probe's input side (the task-aware
    distance reads crops as the probe does); ``method`` and ``steps``: its attribution.
    """

    def __init__(self, inputs: Any, *, size: int, metrics: Any, classes: Sequence[str],
                 seed: int, probe_size: int, method: str = "ig", steps: int = 32,
                 n_boot: int = 200, device: Any = "cpu") -> None:
        self.inputs, self.size, self.metrics = inputs, int(size), metrics
        self.classes, self.seed, self.device = tuple(classes), int(seed), device
        self.probe_size, self.method, self.steps, self.n_boot = probe_size, method, steps, n_boot
        self.sources = pd.Series(crop_sources(inputs.crops_dir))
        self._data: dict[tuple[int, int], ReplicateData] = {}
        self._real: dict[tuple[int, str], tuple[np.ndarray, np.ndarray, np.ndarray]] = {}
        # the protocol's feature network, built once, and the real sets' summaries it read,
        # per fold: every state is compared with the same real crops
        self._extractor: Any = None
        self._summaries: dict[int, dict] = {}

    def protocol(self, fold: int) -> dict[str, Any]:
        """The feature network and the kept real-set summaries of ``fold``, for
        :func:`~hsilib.study.generators.study.evaluate_set` (the numbers are those of a call without
        them: the network is built from the same seed)."""
        if self._extractor is None:
            from ..metrics.protocol import protocol_extractor

            self._extractor = protocol_extractor(self.metrics, self.seed)
        return {"extractor": self._extractor, "summaries": self._summaries.setdefault(fold, {})}

    def table(self, fold: int) -> tuple[Path, BandNormaliser]:
        """The split table and normaliser of ``fold`` (-1: notebook 01's)."""
        if fold < 0:
            return self.inputs.splits_csv, self.inputs.normaliser
        return self.inputs.fold_tables[fold], self.inputs.fold_normalisers[fold]

    def data(self, fold: int, size: int | None = None) -> ReplicateData:
        """Training and validation crops of both classes in [0, 1] under ``fold``'s table."""
        key = (fold, size or self.size)
        if key not in self._data:
            table, norm = self.table(fold)
            self._data[key] = load_replicate(self.inputs.crops_dir, table, norm, key[1],
                                             self.sources, train_range="unit",
                                             val_range="unit")
        return self._data[key]

    def metric_table(self, folders: Mapping[str, str | Path], fold: int = -1) -> pd.DataFrame:
        """The protocol's table of the state's crops (``folders`` by class) for every scored
        class, with a ``class`` column."""
        norm, data, out = self.table(fold)[1], self.data(fold), []
        for cls in self.classes:
            synthetic = load_crops(folders[cls], norm, self.size).images
            out.append(evaluate_set(data, cls, synthetic, metrics=self.metrics, seed=self.seed,
                                    device=self.device, **self.protocol(fold))
                       .assign(**{"class": cls}))
        return pd.concat(out, ignore_index=True)

    def floor_table(self, fold: int = -1) -> pd.DataFrame:
        """The protocol run on the real training crops themselves for every scored class: its
        intervals are the floor's, what the real-vs-real comparison reaches under resampling
        (:func:`hsilib.study.correlation_calibration.floor_check`).
        Memorisation and detectability have no such interval (a copy is not a sample) and
        are left out."""
        data, out = self.data(fold), []
        for cls in self.classes:
            t = evaluate_set(data, cls, data.unit(cls, "train"), metrics=self.metrics,
                             seed=self.seed, device=self.device, **self.protocol(fold))
            out.append(t[~t["kind"].isin(NO_FLOOR_INTERVAL)].assign(**{"class": cls}))
        return pd.concat(out, ignore_index=True)

    def score(self, states: Mapping[str, tuple[Mapping[str, Path], int, str]],
              probes: Mapping[int, Sequence[Any]] | None = None) -> pd.DataFrame:
        """The metric table (and, with the real-only ``probes`` of each fold, the task-aware
        distance) of every state of ``states`` (name -> (folders by class, fold, label)), one
        long table with ``state`` and ``class`` columns."""
        out = []
        bar = progress(total=len(states), desc="state metrics", unit="state")
        for name, (folders, fold, _) in states.items():
            bar.set_postfix_str(name, refresh=False)  # the state being scored (a live bar)
            parts = [self.metric_table(folders, fold)]
            if probes is not None:
                parts.append(self.relevance_table(folders, probes[fold], fold))
            out.append(pd.concat(parts, ignore_index=True).assign(state=name))
            bar.update(1)
        bar.set_postfix_str("", refresh=False)
        bar.close()
        return pd.concat(out, ignore_index=True)

    def _spectra(self, models: Sequence[torch.nn.Module], images: torch.Tensor, cls: str,
                 masks=None) -> np.ndarray:
        label = torch.full((len(images),), 1 if cls == "MM" else 0)
        return at.crop_spectra(models, images, label, masks=masks, method=self.method,
                               n_steps=self.steps, device=self.device)

    def relevance_table(self, folders: Mapping[str, str | Path], models: Sequence[Any],
                        fold: int = -1) -> pd.DataFrame:
        """The task-aware distance of the state's crops for every scored class (the real
        crops' spectra are computed once per table and class): rows in the protocol's columns
        with ``class`` and the interval of value minus floor (``excess_low``,
        ``excess_high``), which places the floor for :mod:`hsilib.study.correlation_calibration`
        (a distance between means leans upwards under resampling, so the value's own interval
        may miss the floor of a perfect set)."""
        norm, data, rows = self.table(fold)[1], self.data(fold, self.probe_size), []
        for cls in self.classes:
            if (fold, cls) not in self._real:
                train, held = data.crops(cls, "train"), data.crops(cls, "val")
                self._real[fold, cls] = (self._spectra(models, train.images, cls, train.masks),
                                         self._spectra(models, held.images, cls, held.masks),
                                         data.groups(cls, "val"))
            train, held, groups = self._real[fold, cls]
            syn = self._spectra(models, load_crops(folders[cls], norm, self.probe_size).images,
                                cls)
            row = at.relevance_distance(syn, train, held, heldout_groups=groups,
                                        n_boot=self.n_boot, seed=self.seed, name=RELEVANCE)
            rows.append({**row, "class": cls})
        return pd.DataFrame(rows)


def state_metrics(metrics: Any, cfg: Any) -> Any:
    """The ``metrics`` section at notebook 08's lighter setting: :func:`lighter_metrics` and
    ``correlation_study.metric_pixels_physics`` (when set)."""
    out = lighter_metrics(metrics, cfg)
    if cfg.metric_pixels_physics is not None:
        out = replace(out, n_pixels_physics=cfg.metric_pixels_physics)
    return out


def distances(long: pd.DataFrame, states: Sequence[str] | None = None) -> pd.DataFrame:
    """One row per state, one column per metric: ``|value - floor|`` averaged over the scored
    classes (the value itself where the floor is undefined); ``long`` has the columns
    ``state``, ``class``, ``metric``, ``value``, ``floor``."""
    floor = long["floor"].astype(float)
    d = long.assign(distance=(long["value"].astype(float)
                              - floor.where(np.isfinite(floor), 0.0)).abs())
    wide = d.pivot_table(index="state", columns="metric", values="distance", aggfunc="mean",
                         sort=False)
    wide.columns.name = None
    return wide if states is None else wide.reindex(list(states))
