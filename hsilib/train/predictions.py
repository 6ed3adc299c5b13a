"""Saved predictions of the classifier runs, and every number computed from them.

A run's predictions are rows of :data:`PRED_COLUMNS` (one per crop, configuration, run and
split). Test numbers come only from them: :func:`test_metrics` scores each run on test at the
threshold chosen on its validation predictions (:func:`fold_thresholds`, per fold under
cross-validation), :func:`composition` says what each training set held, :func:`ensemble`
averages runs per crop, and :func:`save_predictions` writes them with round-trip precision.

Introduced in notebook 06.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from ..data.datasets import Crops
from ..metrics import classification as cm
from ..paths import atomic_path

#: One row per crop, configuration, run and split. ``generator_seed`` is the generator
#: replicate whose synthetic crops the run used (-1: none); ``fold`` the cross-validation fold
#: whose train/val/test table the run used (-1: the fixed split); ``split`` is ``train`` (the run's
#: training crops, synthetic and duplicated ones included), ``val``, ``test`` or ``test_<key>``
#: (extra test sets); ``is_duplicate`` marks the added copies of the oversampling control.
PRED_COLUMNS = ["config", "seed", "generator_seed", "fold", "split", "id", "source", "label",
                "p_mm", "is_synthetic", "is_duplicate"]


def prediction_rows(name: str, seed: int, generator_seed: int, fold: int, split: str,
                    crops: Crops, sources: Sequence[str], p: np.ndarray) -> pd.DataFrame:
    """The :data:`PRED_COLUMNS` rows of one run's predictions ``p`` on the ``crops`` of one
    split (in the training split, repeated ids are the oversampling control's copies)."""
    return pd.DataFrame({"config": name, "seed": seed, "generator_seed": generator_seed,
                         "fold": fold, "split": split, "id": list(crops.ids),
                         "source": list(sources),
                         "label": crops.labels.numpy(), "p_mm": p,
                         "is_synthetic": crops.is_synthetic.numpy(),
                         "is_duplicate": pd.Series(crops.ids).duplicated().to_numpy()
                         if split == "train" else False})


def composition(preds: pd.DataFrame, by: Sequence[str] = ("config",)) -> pd.DataFrame:
    """What the training sets held, from the ``train`` rows of saved predictions: crops per
    class that are real, synthetic or duplicated copies, their total and the melanoma share,
    per group of ``by`` (averaged over the runs of a group, which differ only when a share of
    the real data or a count is rounded differently)."""
    train = preds[preds["split"] == "train"]
    train = train.assign(fold=folds_of(train))  # each fold's run has its own training set
    kind = np.where(train["is_synthetic"], "synthetic",
                    np.where(train["is_duplicate"], "duplicated", "real"))
    cls = np.where(train["label"] == 1, "MM", "DN")
    run = ["config", "seed", "generator_seed", "fold"]
    counts = (train.assign(column=[f"{c} {k}" for c, k in zip(cls, kind, strict=True)])
              .groupby([*run, "column"]).size().unstack(fill_value=0))
    columns = [f"{c} {k}" for c in ("MM", "DN") for k in ("real", "synthetic", "duplicated")]
    counts = counts.reindex(columns=columns, fill_value=0)
    counts["total"] = counts.sum(axis=1)
    counts["MM share"] = counts[columns[:3]].sum(axis=1) / counts["total"]
    table = counts.reset_index().groupby(list(by), sort=False)[[*columns, "total",
                                                                 "MM share"]].mean()
    table.columns.name = None
    return table



def folds_of(rows: pd.DataFrame) -> pd.Series:
    """The ``fold`` column of predictions (-1 for rows stored before it existed)."""
    return rows["fold"] if "fold" in rows.columns else pd.Series(-1, index=rows.index)


def fold_thresholds(run: pd.DataFrame, scored: pd.DataFrame, rule: str = "youden") -> np.ndarray:
    """The decision threshold of every row of ``scored`` (a subset of ``run``, the predictions
    of one run): chosen on the ``val`` rows of ``run`` of the same fold. Under a fixed split
    (fold -1) that is one threshold for the whole run; under cross-validation each fold's test
    crops are called with the threshold of that fold's own validation crops."""
    folds, chosen = folds_of(run), {}
    for f in pd.unique(folds_of(scored)):
        v = run[(run["split"] == "val") & (folds == f)]
        chosen[f] = cm.choose_threshold(v["label"], v["p_mm"], rule)
    return folds_of(scored).map(chosen).to_numpy(float)


def test_metrics(preds: pd.DataFrame, rule: str = "youden", test_split: str = "test",
                 by: Sequence[str] = ("config", "seed", "generator_seed")) -> pd.DataFrame:
    """Per run (config, seed, generator replicate): threshold chosen on the ``val`` predictions,
    metrics on ``test_split``.

    Under cross-validation (``fold`` >= 0) a run pools its folds' out-of-fold test predictions
    (every crop scored once), each fold at the threshold of its own validation fold
    (:func:`fold_thresholds`); ``threshold`` is then the mean of the folds' thresholds and the
    extra column ``folds`` counts them. Put ``"fold"`` into ``by`` for per-fold scores.

    This is the ONLY place test numbers come from, and it reads nothing but saved predictions,
    so every table of notebook 06 can be recomputed from ``06_predictions.csv``.
    """
    cv = bool((folds_of(preds) >= 0).any())
    rows = []
    for key, g in preds.groupby(list(by), sort=False):
        t = g[g["split"] == test_split]
        if t.empty:
            continue
        thr = fold_thresholds(g, t, rule)
        one = folds_of(t).nunique() == 1  # a fixed split, or a single fold: its threshold
        row = {**dict(zip(by, key, strict=True)),
               "threshold": float(thr[0]) if one else float(np.mean(thr)), "n_test": len(t)}
        if cv:
            row["folds"] = folds_of(t).nunique()
        rows.append({**row, **cm.scores(t["label"], t["p_mm"], thr)})
    return pd.DataFrame(rows)


test_metrics.__test__ = False  # not a pytest test despite its name


def ensemble(preds: pd.DataFrame) -> pd.DataFrame:
    """Mean probability over runs (seeds, generator replicates, folds) per (config, split, crop):
    one prediction per crop, for ROC curves of a configuration."""
    keys = ["config", "split", "id", "source", "label"]
    out = preds.groupby(keys, sort=False, as_index=False)["p_mm"].mean()
    out["seed"] = -1
    return out


def save_predictions(preds: pd.DataFrame, path: str | Path) -> Path:
    """Write predictions atomically with round-trip float precision (``%.17g``), so the metrics
    recomputed from the file equal the ones computed in memory, bit for bit."""
    with atomic_path(path) as tmp:
        preds.to_csv(tmp, index=False, float_format="%.17g")
    return Path(path)
