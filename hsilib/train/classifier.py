"""Training melanoma classifiers on real and synthetic crops; saved predictions (notebook 06).

Three layers, read top to bottom:

1. data: :func:`hsilib.data.datasets.load_crops` turns a crop folder (one split) into one
   in-memory tensor of normalised images at the training size (a few MB at 64 px: every epoch
   then costs only the network), and :func:`training_set` builds one run's training crops: a
   share of the real training split, plus synthetic crops by count per class or by a total
   split in the real training class ratio (:func:`synthetic_counts`), plus seeded duplicates
   of real melanoma crops (the oversampling control);
2. objective and loop: :func:`focal_loss`, :func:`augment_batch` (the data module's
   ``train_transforms``, applied to the cached images) and :func:`train_classifier`
   (AdamW; early stopping and checkpoint selection on the VALIDATION split only);
3. experiment: :func:`run_experiment` trains one configuration over several seeds (for one
   generator replicate of the synthetic crops) and returns per-crop predictions
   (:data:`PRED_COLUMNS`) of the selected checkpoints on its training crops, validation and
   test; the notebook appends them to a predictions table (notebook 06:
   ``results/06_predictions.csv``) and every table is recomputed from that file with
   :func:`test_metrics` (threshold chosen on validation, then applied to test) and
   :func:`composition` (what each training set held).

Every crop carries its ``source`` (the source image, from the crop folder's ``index.csv``; a
synthetic crop is its own source). Before training, :func:`check_source_leakage` refuses a
training set that shares a source image with validation or test.

This module holds layers 2 and 3; the training sets are :mod:`hsilib.train.training_set` and
the saved predictions with the numbers computed from them :mod:`hsilib.train.predictions`,
both re-exported here.

Melanoma is the positive class: ``label`` 1 = MM, ``p_mm`` = predicted probability of melanoma.
"""

from __future__ import annotations

import copy
import os
import time
from collections.abc import Mapping, Sequence
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F

from .. import config as config_mod
from ..data.datasets import Crops, load_crops
from ..metrics import classification as cm
from ..models.classifiers import build_classifier, set_train_mode
from ..runtime import device as pick_device
from ..runtime import progress, seed_everything
from . import watch
from .predictions import (  # noqa: F401 (re-exported: the notebooks import them here)
    PRED_COLUMNS,
    composition,
    ensemble,
    fold_thresholds,
    folds_of,
    prediction_rows,
    save_predictions,
    test_metrics,
)
from .trainer import RESUME_ENV
from .training_set import (  # noqa: F401 (re-exported: the notebooks import them here)
    check_source_leakage,
    crop_sources,
    fraction_ids,
    stratified_fraction,
    synthetic_counts,
    training_set,
)


# --------------------------------------------------------------------------------------------
# 2. Objective, augmentation and the training loop
# --------------------------------------------------------------------------------------------
def focal_loss(logits: torch.Tensor, target: torch.Tensor, gamma: float = 2.0) -> torch.Tensor:
    """Focal loss (Lin et al., ICCV 2017): cross-entropy down-weighted by (1 - p_true)^gamma,
    so that easy, confidently right images stop dominating the gradient."""
    logp = F.log_softmax(logits, dim=1).gather(1, target[:, None]).squeeze(1)
    return (-(1 - logp.exp()) ** gamma * logp).mean()


def augment_batch(x: torch.Tensor, transform) -> torch.Tensor:
    """Apply an albumentations pipeline (:func:`hsilib.data.datasets.train_transforms`: affine,
    random crop, flips; geometry only, no channel-mixing op) to each image of a batch
    N x B x S x S. The pipeline carries its own seeded generator, so runs reproduce."""
    out = [transform(image=np.ascontiguousarray(img.permute(1, 2, 0).numpy()))["image"]
           for img in x]
    return torch.from_numpy(np.stack(out).transpose(0, 3, 1, 2).copy())


@torch.no_grad()
def predict(model: torch.nn.Module, images: torch.Tensor, batch_size: int = 64,
            device: torch.device | str = "cpu") -> np.ndarray:
    """Probability of melanoma (softmax of logit 1) for every image."""
    model.eval()
    out = [F.softmax(model(images[i:i + batch_size].to(device)), dim=1)[:, 1].cpu()
           for i in range(0, len(images), batch_size)]
    return torch.cat(out).double().numpy()


def selection_score(y: np.ndarray, p: np.ndarray, metric: str) -> float:
    """Validation score used for early stopping and checkpoint selection (higher is better).

    ``auroc``/``auprc`` use the probabilities; ``loss`` is minus the cross-entropy; any other
    metric of :data:`hsilib.metrics.classification.METRICS` is taken at the validation Youden
    threshold.
    """
    if metric in cm.RANKING_METRICS:
        return cm.scores(y, p)[metric]
    if metric == "loss":
        q = np.clip(np.where(y == 1, p, 1 - p), 1e-7, 1)
        return float(np.log(q).mean())
    if metric in cm.METRICS:
        return cm.scores(y, p, cm.choose_threshold(y, p))[metric]
    raise ValueError(f"select_metric must be 'loss' or one of {cm.METRICS}, got {metric!r}")


def train_classifier(cfg, train: Crops, val: Crops, seed: int, *, augment: bool = False,
                     loss: str = "ce", balanced: bool = False, weights: str | None = None,
                     freeze_backbone: bool = False, device: str = "auto",
                     desc: str = "", checkpoint: str | Path | None = None
                     ) -> tuple[torch.nn.Module, pd.DataFrame]:
    """Train one classifier; return the checkpoint with the best validation score and a history.

    ``cfg`` is a :class:`hsilib.config.ClassifierConfig` (arch, lr, batch size, epochs, patience,
    select_metric). ``balanced`` draws each epoch's batches with probability inversely
    proportional to class frequency (what torch's ``WeightedRandomSampler`` does, drawn here from
    the seeded generator); ``loss`` is ``"ce"`` or ``"focal"``. Training stops when the
    validation score has not improved for ``cfg.patience`` epochs.

    ``checkpoint``: a file written (atomically) after every epoch with everything the loop
    holds (weights, optimiser, best state, history and every random state, the augmentation's
    included). When it exists at the start, training resumes after its last epoch, and on the
    CPU the result equals that of an uninterrupted run exactly. It must come from a run with the
    same config, seed, options and training crops, else a ValueError names it.
    """
    if loss not in ("ce", "focal"):
        raise ValueError(f"loss must be 'ce' or 'focal', got {loss!r}")
    dev = pick_device(device)
    seed_everything(seed)
    g = torch.Generator().manual_seed(seed)
    if augment:
        from ..data.datasets import train_transforms

        transform = train_transforms(train.images.shape[-1], seed=seed)
    model = build_classifier(cfg.arch, train.images.shape[1], 2, weights, freeze_backbone).to(dev)
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=cfg.lr,
                            weight_decay=cfg.weight_decay)
    criterion = focal_loss if loss == "focal" else F.cross_entropy
    y_val = val.labels.numpy()
    class_w = 1.0 / torch.bincount(train.labels, minlength=2).clamp(min=1).double()
    best, best_state, stale, rows = -np.inf, None, 0, []
    run_key = {"config": config_mod.to_dict(cfg), "seed": seed, "augment": augment,
               "loss": loss, "balanced": balanced, "weights": None if weights is None
               else str(weights), "freeze_backbone": freeze_backbone,
               "train_ids": [str(i) for i in train.ids]}
    start, done, earlier = 0, False, {"batches": 0, "seconds": 0.0}
    if checkpoint is not None and Path(checkpoint).is_file():
        state = _read_loop_state(checkpoint, run_key)
        model.load_state_dict(state["model"])
        opt.load_state_dict(state["optimizer"])
        g.set_state(state["generator"])
        _set_loop_rng(state["rng"], transform if augment else None)
        best, stale, rows = state["best"], state["stale"], list(state["rows"])
        best_state, start, done = state["best_state"], state["epoch"] + 1, state["done"]
        earlier = dict(earlier, **(state.get("timing") or {}))  # written before it was kept
    t0, batches = time.perf_counter(), 0
    for epoch in progress(range(start, cfg.epochs), total=cfg.epochs, initial=start,
                          desc=desc or cfg.arch, unit="epoch"):
        if done:
            break
        watch.status(training=desc or cfg.arch, epoch=epoch, of=cfg.epochs)
        n = len(train)
        order = (torch.multinomial(class_w[train.labels], n, replacement=True, generator=g)
                 if balanced else torch.randperm(n, generator=g))
        set_train_mode(model)
        losses = []
        for i in range(0, n, cfg.batch_size):
            idx = order[i:i + cfg.batch_size]
            if len(idx) < 2 and n >= 2:
                continue  # a batch of one breaks batch norm; drop the ragged end
            if cfg.max_batches is not None and len(losses) >= cfg.max_batches:
                break  # a capped epoch (a dry run): the first max_batches batches
            x = train.images[idx]
            x = augment_batch(x, transform) if augment else x
            batch_loss = criterion(model(x.to(dev)), train.labels[idx].to(dev))
            opt.zero_grad(set_to_none=True)
            batch_loss.backward()
            opt.step()
            losses.append(batch_loss.item())
            batches += 1
        score = selection_score(y_val, predict(model, val.images, device=dev), cfg.select_metric)
        rows.append({"epoch": epoch, "train_loss": float(np.mean(losses)) if losses else np.nan,
                     "val_score": score})
        if score > best + 1e-9 or best_state is None:
            best, stale = score, 0
            best_state = copy.deepcopy({k: v.detach().cpu() for k, v in model.state_dict().items()})
        else:
            stale += 1
            done = stale >= cfg.patience
        if checkpoint is not None:
            _write_loop_state(checkpoint, {
                **run_key, "epoch": epoch, "done": done, "best": float(best), "stale": stale,
                "rows": rows, "best_state": best_state, "model": model.state_dict(),
                "optimizer": opt.state_dict(), "generator": g.get_state(),
                "rng": _loop_rng(transform if augment else None),
                "timing": {"batches": earlier["batches"] + batches,
                           "seconds": earlier["seconds"] + time.perf_counter() - t0}})
        if done:
            break
    model.load_state_dict(best_state)
    timing = dict(done=batches, seconds=time.perf_counter() - t0, epochs=len(rows) - start,
                  timing="wall seconds of this run's epochs")
    if not batches and earlier["batches"]:  # finished in an earlier run (resumed)
        timing = dict(done=earlier["batches"], seconds=earlier["seconds"], epochs=len(rows),
                      timing="seconds from the checkpoint (trained earlier)")
    # disk: the kept checkpoint holds the selected weights alone (the loop state, removed when
    # the run ends, also holds the optimiser's moments and a second copy of the weights)
    kept_mb = sum(t.numel() * t.element_size() for t in best_state.values()) / 2**20
    watch.record("classifier", desc or cfg.arch, units="batches", checkpoint_mb=round(kept_mb, 3),
                 arch=cfg.arch, cfg_epochs=cfg.epochs, batch_size=cfg.batch_size,
                 n_train=len(train), n_val=len(val), **timing)
    history = pd.DataFrame(rows)
    history["selected"] = history["val_score"] == best
    return model, history


# --------------------------------------------------------------------------------------------
# 3. Experiments over seeds, saved predictions, metrics recomputed from them
# --------------------------------------------------------------------------------------------
def run_experiment(name: str, cfg, crops_dir: str | Path, splits_csv: str | Path, normaliser, *,
                   seeds: Sequence[int], generator_seed: int = -1, fold: int = -1,
                   synthetic: Mapping[str, str | Path] | None = None,
                   n_synthetic: Mapping[str, int | None] | None = None,
                   n_synthetic_total: int | None = None, duplicate_mm: int = 0,
                   fraction: float = 1.0, subsample_seed: int | None = None,
                   real_train: bool = True, arch: str | None = None,
                   extra_test: Mapping[str, str | Path | Sequence[str | Path]] | None = None,
                   augment: bool = False, loss: str = "ce", balanced: bool = False,
                   weights: str | None = None, freeze_backbone: bool = False,
                   device: str = "auto", checkpoint_dir: str | Path | None = None,
                   checkpoint_prefix: str = "", cache: dict | None = None) -> pd.DataFrame:
    """Train configuration ``name`` once per seed; return its predictions (``PRED_COLUMNS``).

    Training data (:func:`training_set`): ``fraction`` of the real training split (drawn with
    ``subsample_seed``, default each classifier seed; none when ``real_train`` is False:
    train-synthetic-test-real) plus synthetic crops from the folders
    ``synthetic[cls]`` (``n_synthetic`` per class, or ``n_synthetic_total`` in the real class
    ratio) plus ``duplicate_mm`` copies of real melanoma crops. ``generator_seed`` names the
    generator replicate the synthetic folders come from (recorded in every row; -1: none),
    ``fold`` the cross-validation fold whose table ``splits_csv`` is (recorded likewise; -1: the
    fixed split). Validation (model selection) and test are always the real splits; a training
    set sharing a source image with either is refused (:func:`check_source_leakage`). The selected
    checkpoint predicts its training crops (``train``), ``val`` and ``test``, and every folder
    (or list of folders) of ``extra_test`` (e.g. synthetic crops for
    train-real-test-synthetic) as split ``test_<key>``. Checkpoints go to
    ``checkpoint_dir/<checkpoint_prefix><name>_seed<k>[_g<generator_seed>][_f<fold>].pt`` with the
    resolved config; while a run trains, its loop state (every epoch) sits in
    ``checkpoint_dir/loops/`` under the same name and is removed when it ends, so that a run
    killed meanwhile goes on from its last epoch when its notebook resumes
    (``HSILIB_RESUME``; any other start removes a leftover state). ``arch``: another
    architecture than ``cfg.arch`` (e.g. the ResNet50 arm of
    notebook 06), everything else of ``cfg`` kept. ``cache``: a dict the caller owns and passes
    to every call on the same crops and normaliser (notebook 06 does), so each folder and split
    is read once per run.
    """
    cache = {} if cache is None else cache
    cfg = cfg if arch is None else replace(cfg, arch=arch)

    def load(folder, split=None) -> tuple[Crops, list[str]]:  # a list of folders: concatenated
        if isinstance(folder, (list, tuple)):
            parts = [load(f) for f in folder]
            return Crops.cat([c for c, _ in parts]), sum((s for _, s in parts), [])
        key = (str(Path(folder).resolve()), split, int(cfg.image_size))
        if key not in cache:
            crops = load_crops(folder, normaliser, cfg.image_size, split,
                               splits_csv if split else None)
            source_of = crop_sources(folder)
            cache[key] = (crops, [source_of[i] for i in crops.ids])
        return cache[key]

    real = load(crops_dir, "train") if real_train else None
    (val, val_src), (test, test_src) = (first_per_class(*load(crops_dir, s), cfg.max_predict)
                                        for s in ("val", "test"))
    pools = {c: load(f) for c, f in (synthetic or {}).items()}
    extra = {k: load(f) for k, f in (extra_test or {}).items()}
    source_of = {i: s for crops, src in [*([real] if real else []), *pools.values()]
                 for i, s in zip(crops.ids, src, strict=True)}
    dev = pick_device(device)
    tag = f"_g{generator_seed}" if generator_seed >= 0 else ""
    tag += f"_f{fold}" if fold >= 0 else ""
    frames = []
    for seed in seeds:
        train = training_set(real[0] if real else None, {c: p for c, (p, _) in pools.items()},
                             n_synthetic, fraction, seed, n_synthetic_total=n_synthetic_total,
                             duplicate_mm=duplicate_mm, subsample_seed=subsample_seed)
        train_src = [source_of[i] for i in train.ids]
        check_source_leakage(train_src, {"val": val_src, "test": test_src})
        loop = None
        if checkpoint_dir is not None:  # the loop state an interrupted run resumes from
            loop = Path(checkpoint_dir) / "loops" / f"{checkpoint_prefix}{name}_seed{seed}{tag}.pt"
            if not os.environ.get(RESUME_ENV):
                loop.unlink(missing_ok=True)
            loop.parent.mkdir(parents=True, exist_ok=True)
        model, history = train_classifier(
            cfg, train, val, seed, augment=augment, loss=loss, balanced=balanced,
            weights=weights, freeze_backbone=freeze_backbone, device=device, checkpoint=loop,
            desc=f"{name} seed {seed}" + (f" generator {generator_seed}" if generator_seed >= 0
                                          else "") + (f" fold {fold}" if fold >= 0 else ""))
        scored = {"train": (train, train_src), "val": (val, val_src), "test": (test, test_src),
                  **{f"test_{k}": v for k, v in extra.items()}}
        for split, (crops, src) in scored.items():
            if split == "train":  # every training crop listed: the record of what it learnt
                frames.append(prediction_rows(name, seed, generator_seed, fold, split, crops, src,
                                               _predict_first(model, crops, cfg.max_predict,
                                                              dev)))
                continue
            crops, src = first_per_class(crops, src, cfg.max_predict)
            frames.append(prediction_rows(name, seed, generator_seed, fold, split, crops, src,
                                           predict(model, crops.images, device=dev)))
        if checkpoint_dir is not None:
            path = Path(checkpoint_dir) / f"{checkpoint_prefix}{name}_seed{seed}{tag}.pt"
            _save_checkpoint(path, model, cfg, name, seed, history, len(train))
        if loop is not None:
            loop.unlink(missing_ok=True)
            try:
                loop.parent.rmdir()  # only when empty: no run left unfinished
            except OSError:
                pass  # another cell's run is still training
    return pd.concat(frames, ignore_index=True)[PRED_COLUMNS]


def first_per_class(crops: Crops, sources: Sequence[str], n: int | None
                    ) -> tuple[Crops, list[str]]:
    """The first ``n`` crops of each class of ``crops`` (in their order), with their
    ``sources``; all of them when ``n`` is None (``ClassifierConfig.max_predict``: validation
    and test crops beyond it are not predicted, training crops are listed with a NaN
    probability, so that the record of what a run trained on stays whole)."""
    if n is None or not len(crops):
        return crops, list(sources)
    keep = _first_rows(crops.labels, n)
    return crops.subset(keep), [sources[i] for i in keep.tolist()]


def _first_rows(labels: torch.Tensor, n: int) -> np.ndarray:
    """Sorted positions of the first ``n`` labels of each class."""
    labels = labels.numpy()
    return np.sort(np.concatenate([np.flatnonzero(labels == c)[:n] for c in np.unique(labels)]))


def _predict_first(model: torch.nn.Module, crops: Crops, n: int | None, device) -> np.ndarray:
    """:func:`predict` on the first ``n`` crops of each class (all when None), NaN for the
    others."""
    if n is None:
        return predict(model, crops.images, device=device)
    p = np.full(len(crops), np.nan)
    if len(crops):
        rows = _first_rows(crops.labels, n)
        p[rows] = predict(model, crops.images[rows], device=device)
    return p


def _loop_rng(transform) -> dict:
    """Every random state the loop draws from: Python, NumPy, torch (via the trainer's
    :func:`~hsilib.train.trainer.rng_state`) and, with augmentation, each albumentations
    transform's own generators; plain ints, lists and tensors only (weights_only=True)."""
    from .trainer import rng_state

    state = {"global": rng_state(), "transforms": []}
    if transform is not None:
        for t in [transform, *transform.transforms]:
            version, mt, gauss = t.py_random.getstate()
            state["transforms"].append({"numpy": t.random_generator.bit_generator.state,
                                        "python": [version, list(mt), gauss]})
    return state


def _set_loop_rng(state: dict, transform) -> None:
    from .trainer import set_rng_state

    set_rng_state(state["global"])
    if transform is not None:
        for t, s in zip([transform, *transform.transforms], state["transforms"], strict=True):
            t.random_generator.bit_generator.state = s["numpy"]
            version, mt, gauss = s["python"]
            t.py_random.setstate((version, tuple(mt), gauss))


def _write_loop_state(path: str | Path, state: dict) -> None:
    from ..paths import atomic_path

    Path(path).parent.mkdir(parents=True, exist_ok=True)  # grid cells share the folder
    with atomic_path(path) as tmp:
        torch.save(state, tmp)


def _read_loop_state(path: str | Path, run_key: dict) -> dict:
    from ..models.checkpoint import CheckpointError, safe_load

    state = safe_load(path, "cpu", "classifier training checkpoint")
    if not isinstance(state, dict) or "epoch" not in state:
        raise CheckpointError(f"{path} is not a classifier training checkpoint")
    differ = sorted(k for k in run_key if state.get(k) != run_key[k])
    if differ:
        raise ValueError(f"{path} comes from another training run (differs in {differ}); it "
                         "cannot resume this one: remove it or pass another checkpoint path")
    return state


def _save_checkpoint(path: Path, model, cfg, name: str, seed: int, history: pd.DataFrame,
                     n_train: int) -> None:
    from ..paths import atomic_path

    with atomic_path(path) as tmp:
        torch.save({"state_dict": model.state_dict(), "config": config_mod.to_dict(cfg),
                    "name": name, "seed": seed, "n_train": n_train,
                    "history": history.to_dict("list")}, tmp)
