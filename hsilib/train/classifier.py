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

Melanoma is the positive class: ``label`` 1 = MM, ``p_mm`` = predicted probability of melanoma.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F

from .. import config as config_mod
from ..data.crop_folder import read_index
from ..data.datasets import Crops, load_crops
from ..metrics import classification as cm
from ..models.classifiers import build_classifier, set_train_mode
from ..runtime import device as pick_device
from ..runtime import progress, seed_everything

#: One row per crop, configuration, run and split. ``generator_seed`` is the generator
#: replicate whose synthetic crops the run used (-1: none); ``fold`` the cross-validation fold
#: whose train/val/test table the run used (-1: the fixed split); ``split`` is ``train`` (the run's
#: training crops, synthetic and duplicated ones included), ``val``, ``test`` or ``test_<key>``
#: (extra test sets); ``is_duplicate`` marks the added copies of the oversampling control.
PRED_COLUMNS = ["config", "seed", "generator_seed", "fold", "split", "id", "source", "label",
                "p_mm", "is_synthetic", "is_duplicate"]


# --------------------------------------------------------------------------------------------
# 1. Data: crops as one tensor per split
# --------------------------------------------------------------------------------------------
def stratified_fraction(labels: torch.Tensor, fraction: float, seed: int) -> np.ndarray:
    """Indices of a seeded, class-stratified subsample: ``fraction`` of each class (>= 1)."""
    if not 0 < fraction <= 1:
        raise ValueError(f"fraction must be in (0, 1], got {fraction}")
    rng = np.random.default_rng(seed)
    y = labels.numpy()
    keep = [rng.choice(np.flatnonzero(y == c), max(1, round(fraction * (y == c).sum())),
                       replace=False) for c in np.unique(y)]
    return np.sort(np.concatenate(keep))


def synthetic_counts(real_labels: torch.Tensor | np.ndarray, total: int) -> dict[str, int]:
    """``total`` synthetic crops split MM:DN in the class ratio of the real training labels
    (melanoma count rounded half to even, nevus the rest), so adding them keeps the prior."""
    y = np.asarray(real_labels)
    if y.size == 0:
        raise ValueError("no real training crops to take the class ratio from")
    n_mm = int(round(total * float((y == 1).mean())))
    return {"MM": n_mm, "DN": int(total) - n_mm}


def training_set(real: Crops | None, synthetic: Mapping[str, Crops] | None,
                 n_synthetic: Mapping[str, int | None] | None, fraction: float, seed: int, *,
                 n_synthetic_total: int | None = None, duplicate_mm: int = 0) -> Crops:
    """The training crops of one run: a ``fraction`` of the real TRAINING split plus synthetic.

    ``synthetic`` maps a class ("MM"/"DN") to its synthetic crops; ``n_synthetic`` says how many
    of each to add (drawn without replacement with ``seed``; None = all of them), or
    ``n_synthetic_total`` how many in all, split in the real training class ratio
    (:func:`synthetic_counts`). ``duplicate_mm`` appends that many copies of real melanoma
    training crops (a seeded permutation, repeated if needed: every crop is copied at most
    once more than any other), which moves the class prior without any new image. Only the
    training set is ever mixed: validation and test stay real, so selection and evaluation
    never see a synthetic image. Copies keep their crop's id (see :func:`composition`).
    """
    if n_synthetic is not None and n_synthetic_total is not None:
        raise ValueError("give n_synthetic (per class) or n_synthetic_total, not both")
    parts = []
    if real is not None:
        real = real if fraction == 1 else real.subset(
            stratified_fraction(real.labels, fraction, seed))
        parts.append(real)
    if n_synthetic_total is not None:
        if real is None:
            raise ValueError("n_synthetic_total needs real training crops (their class ratio)")
        n_synthetic = synthetic_counts(real.labels, n_synthetic_total)
    rng = np.random.default_rng(10_000 + seed)
    for cls, n in (n_synthetic or {}).items():
        pool = (synthetic or {}).get(cls)
        n = len(pool) if n is None and pool is not None else n
        if not n:
            continue
        if pool is None or len(pool) < n:
            have = 0 if pool is None else len(pool)
            raise ValueError(f"asked for {n} synthetic {cls} crops, only {have} available")
        parts.append(pool.subset(np.sort(rng.choice(len(pool), n, replace=False))))
    if duplicate_mm:
        mm = np.flatnonzero(real.labels.numpy() == 1) if real is not None else np.array([])
        if mm.size == 0:
            raise ValueError("duplicate_mm needs real melanoma training crops")
        order = np.random.default_rng(20_000 + seed).permutation(mm)
        parts.append(real.subset(np.resize(order, duplicate_mm)))
    if not parts:
        raise ValueError("empty training set: no real crops and no synthetic crops")
    return Crops.cat(parts)


def crop_sources(folder: str | Path) -> dict[str, str]:
    """``{crop id: source image}`` of a crop folder, from its ``index.csv``."""
    index = read_index(folder)
    return dict(zip(index["id"].astype(str), index["source"].astype(str), strict=True))


def check_source_leakage(train_sources: Iterable[str],
                         held_out: Mapping[str, Iterable[str]]) -> None:
    """Raise ValueError when a training crop shares its source image with a held-out split.

    ``held_out`` maps a split name ("val", "test") to its crops' sources. Crops of one source
    image are near-copies of each other: one in training and one in test would score
    memorisation as generalisation.
    """
    train = set(train_sources)
    for split, sources in held_out.items():
        shared = sorted(train & set(sources))
        if shared:
            more = f" and {len(shared) - 5} more" if len(shared) > 5 else ""
            raise ValueError(f"source leakage: the training set shares {len(shared)} source "
                             f"image(s) with the {split} split: {shared[:5]}{more}")


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
    start, done = 0, False
    if checkpoint is not None and Path(checkpoint).is_file():
        state = _read_loop_state(checkpoint, run_key)
        model.load_state_dict(state["model"])
        opt.load_state_dict(state["optimizer"])
        g.set_state(state["generator"])
        _set_loop_rng(state["rng"], transform if augment else None)
        best, stale, rows = state["best"], state["stale"], list(state["rows"])
        best_state, start, done = state["best_state"], state["epoch"] + 1, state["done"]
    for epoch in progress(range(start, cfg.epochs), total=cfg.epochs, initial=start,
                          desc=desc or cfg.arch):
        if done:
            break
        n = len(train)
        order = (torch.multinomial(class_w[train.labels], n, replacement=True, generator=g)
                 if balanced else torch.randperm(n, generator=g))
        set_train_mode(model)
        losses = []
        for i in range(0, n, cfg.batch_size):
            idx = order[i:i + cfg.batch_size]
            if len(idx) < 2 and n >= 2:
                continue  # a batch of one breaks batch norm; drop the ragged end
            x = train.images[idx]
            x = augment_batch(x, transform) if augment else x
            batch_loss = criterion(model(x.to(dev)), train.labels[idx].to(dev))
            opt.zero_grad(set_to_none=True)
            batch_loss.backward()
            opt.step()
            losses.append(batch_loss.item())
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
                "rng": _loop_rng(transform if augment else None)})
        if done:
            break
    model.load_state_dict(best_state)
    history = pd.DataFrame(rows)
    history["selected"] = history["val_score"] == best
    return model, history


# --------------------------------------------------------------------------------------------
# 3. Experiments over seeds, saved predictions, metrics recomputed from them
# --------------------------------------------------------------------------------------------
def _prediction_rows(name: str, seed: int, generator_seed: int, fold: int, split: str,
                     crops: Crops, sources: Sequence[str], p: np.ndarray) -> pd.DataFrame:
    return pd.DataFrame({"config": name, "seed": seed, "generator_seed": generator_seed,
                         "fold": fold, "split": split, "id": list(crops.ids),
                         "source": list(sources),
                         "label": crops.labels.numpy(), "p_mm": p,
                         "is_synthetic": crops.is_synthetic.numpy(),
                         "is_duplicate": pd.Series(crops.ids).duplicated().to_numpy()
                         if split == "train" else False})


def run_experiment(name: str, cfg, crops_dir: str | Path, splits_csv: str | Path, normaliser, *,
                   seeds: Sequence[int], generator_seed: int = -1, fold: int = -1,
                   synthetic: Mapping[str, str | Path] | None = None,
                   n_synthetic: Mapping[str, int | None] | None = None,
                   n_synthetic_total: int | None = None, duplicate_mm: int = 0,
                   fraction: float = 1.0, real_train: bool = True,
                   extra_test: Mapping[str, str | Path | Sequence[str | Path]] | None = None,
                   augment: bool = False, loss: str = "ce", balanced: bool = False,
                   weights: str | None = None, freeze_backbone: bool = False,
                   device: str = "auto", checkpoint_dir: str | Path | None = None,
                   checkpoint_prefix: str = "", cache: dict | None = None) -> pd.DataFrame:
    """Train configuration ``name`` once per seed; return its predictions (``PRED_COLUMNS``).

    Training data (:func:`training_set`): ``fraction`` of the real training split (none when
    ``real_train`` is False: train-synthetic-test-real) plus synthetic crops from the folders
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
    resolved config. ``cache``: a dict the caller owns and passes to every call on the same
    crops and normaliser (notebook 06 does), so each folder and split is read once per run.
    """
    cache = {} if cache is None else cache

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
    (val, val_src), (test, test_src) = load(crops_dir, "val"), load(crops_dir, "test")
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
                             duplicate_mm=duplicate_mm)
        train_src = [source_of[i] for i in train.ids]
        check_source_leakage(train_src, {"val": val_src, "test": test_src})
        model, history = train_classifier(
            cfg, train, val, seed, augment=augment, loss=loss, balanced=balanced,
            weights=weights, freeze_backbone=freeze_backbone, device=device,
            desc=f"{name} seed {seed}" + (f" generator {generator_seed}" if generator_seed >= 0
                                          else "") + (f" fold {fold}" if fold >= 0 else ""))
        scored = {"train": (train, train_src), "val": (val, val_src), "test": (test, test_src),
                  **{f"test_{k}": v for k, v in extra.items()}}
        for split, (crops, src) in scored.items():
            frames.append(_prediction_rows(name, seed, generator_seed, fold, split, crops, src,
                                           predict(model, crops.images, device=dev)))
        if checkpoint_dir is not None:
            path = Path(checkpoint_dir) / f"{checkpoint_prefix}{name}_seed{seed}{tag}.pt"
            _save_checkpoint(path, model, cfg, name, seed, history, len(train))
    return pd.concat(frames, ignore_index=True)[PRED_COLUMNS]


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
    from ..paths import atomic_path

    with atomic_path(path) as tmp:
        preds.to_csv(tmp, index=False, float_format="%.17g")
    return Path(path)
