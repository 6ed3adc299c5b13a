"""One trainer for every generative model of the project (FastGAN first; notebook 03).

Three layers stay apart: the *networks*, the *objective* (an
:class:`~hsilib.models.objective.Objective`: networks, optimisers, losses, step schedule,
sampling) and this *trainer*, which owns what every family shares: the data, the exponential
moving average (EMA) of the sampled networks, learning-rate schedules, mixed precision,
checkpoints, exact resume and logs::

    trainer = make_trainer(cfg, {"image": images}, seed=0, device="auto")   # any family
    trainer.fit(checkpoint=run.checkpoints / "fastgan_mm.pt")               # cfg.steps steps
    images = trainer.objective.sample(16, seed=0)

Batches are dicts: ``image`` (N x C x H x W in [-1, 1]) and, as present, ``label``, ``mask``,
``rgb``. Resume is exact on the CPU: a checkpoint holds the objective (networks and EMA), the
optimisers, the step, the logs and the random states of Python, NumPy and torch, and the
sampler (:mod:`hsilib.data.samplers`) derives each step's batch from ``(seed, step, k)``
alone. Checkpoints record the family and the resolved config and load with
``weights_only=True`` (:func:`hsilib.models.registry.load`).
"""

from __future__ import annotations

import copy
import os
import random
import time
import warnings
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from .. import config
from ..data.samplers import TensorSampler, augmentation
from ..models import registry
from ..models.checkpoint import CheckpointError, check_resume_state
from ..models.objective import Objective, Step
from ..paths import atomic_path
from ..runtime import device as pick_device
from ..runtime import progress
from . import watch

CHECKPOINT_FORMAT = 2


# --------------------------------------------------------------------------------------------
# Random states (as plain lists and tensors, so checkpoints load with weights_only=True)
# --------------------------------------------------------------------------------------------
def rng_state() -> dict[str, Any]:
    """Python, NumPy and torch (CPU and CUDA) random states."""
    version, mt, gauss = random.getstate()
    _, keys, pos, has_gauss, cached = np.random.get_state()  # noqa: NPY002
    state = {"python": [version, list(mt), gauss],
             "numpy": [torch.from_numpy(keys.astype(np.int64)), pos, has_gauss, cached],
             "torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: Mapping[str, Any]) -> None:
    version, mt, gauss = state["python"]
    random.setstate((version, tuple(mt), gauss))
    keys, pos, has_gauss, cached = state["numpy"]
    np.random.set_state(("MT19937", keys.cpu().numpy().astype(np.uint32), pos,  # noqa: NPY002
                         has_gauss, cached))
    torch.set_rng_state(state["torch"].cpu())
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all([s.cpu() for s in state["cuda"]])


def constant_lr(step: int) -> float:
    """The default learning-rate schedule: the optimisers' own rate at every step."""
    return 1.0


def linear_decay(total: int, start: int) -> Callable[[int], float]:
    """A schedule constant up to ``start`` steps, then falling linearly to 0 at ``total``
    (CycleGAN's schedule); returns ``step -> factor`` for :class:`Trainer`'s ``lr_schedule``."""
    if not 0 <= start < total:
        raise ValueError(f"linear_decay needs 0 <= start < total, got start={start}, "
                         f"total={total}")

    def factor(step: int) -> float:
        return 1.0 if step < start else max(0.0, (total - step) / (total - start))

    return factor


# --------------------------------------------------------------------------------------------
# Trainer
# --------------------------------------------------------------------------------------------
class Trainer:
    """Runs an :class:`~hsilib.models.objective.Objective` on batches from ``sampler``.

    Arguments: ``sampler`` with ``batch(step, k)`` (e.g.
    :class:`~hsilib.data.samplers.TensorSampler`); ``ema_decay`` of the objective's
    ``ema_nets``; ``lr_schedule(step) -> factor`` multiplying every optimiser's initial rate (a
    pure function of the step, so resume needs no state); ``amp`` (bf16 autocast +
    channels_last, used only on CUDA); the intervals ``log_every`` (progress bar: every logged
    key), ``sample_every`` (``on_sample(step, images)`` with EMA samples of a fixed seed),
    ``eval_every`` (``on_eval(step, objective) -> dict``, kept in ``evals``) and
    ``checkpoint_every``. ``data_ids``: the ids of the training images, kept in every
    checkpoint so that :func:`hsilib.study.audit.audit_generators` can show that no validation
    or test crop trained the generator.
    """

    def __init__(self, objective: Objective, sampler: Any, *, ema_decay: float = 0.999,
                 lr_schedule: Callable[[int], float] = constant_lr, amp: bool = True,
                 device: Any = "cpu", log_every: int = 100, sample_every: int = 0,
                 checkpoint_every: int = 0, eval_every: int = 0, n_samples: int = 16,
                 sample_seed: int = 12345,
                 on_sample: Callable[[int, torch.Tensor], None] | None = None,
                 on_eval: Callable[[int, Objective], dict] | None = None,
                 desc: str | None = None, data_ids: Sequence[str] | None = None,
                 tensorboard: str | Path | None = None) -> None:
        self.data_ids = None if data_ids is None else [str(i) for i in data_ids]
        if self.data_ids is not None and hasattr(sampler, "__len__") and len(
                self.data_ids) != len(sampler):
            raise ValueError(f"data_ids has {len(self.data_ids)} ids for {len(sampler)} images")
        self.device = torch.device(pick_device(device))
        self.objective = objective.to(self.device, amp=amp)
        self.sampler, self.lr_schedule = sampler, lr_schedule
        self.optimizers = objective.configure_optimizers()
        for opt in self.optimizers.values():
            for group in opt.param_groups:
                group.setdefault("initial_lr", group["lr"])
        self.ema_decay = ema_decay
        self.log_every, self.sample_every = log_every, sample_every
        self.checkpoint_every, self.eval_every = checkpoint_every, eval_every
        self.n_samples, self.sample_seed = n_samples, sample_seed
        self.on_sample, self.on_eval = on_sample, on_eval
        self.desc = desc or objective.family
        self.step = 0
        self.show_progress = True  # False: no progress bar (e.g. ranks > 0 of a parallel run)
        self.history: list[dict[str, float]] = []
        self.evals: list[dict[str, float]] = []
        # seconds spent in train_step over the steps trained so far, in every session (kept
        # in the checkpoint, so that a finished training loaded again still reports its speed)
        self.timed_steps, self.train_seconds = 0, 0.0
        self._unrecorded_load = False  # loaded from a checkpoint and not yet recorded
        # for the dry run's plan (hsilib.notebook.planned_units): the config field a training
        # length other than ``cfg.steps`` comes from (e.g. "gan_study.compare_steps"), and the
        # field of an earlier run this one continues
        self.steps_from: str | None = None
        self.continues_from: str | None = None
        self.tensorboard = None if tensorboard is None else Path(tensorboard)
        self._writer: Any = None

    # -- one step ---------------------------------------------------------------------------
    def _batch(self, k: int) -> dict[str, torch.Tensor]:
        batch = self.sampler.batch(self.step, k)
        out = {}
        for name, v in batch.items():
            v = v.to(self.device, non_blocking=True)
            if self.objective.amp and v.dim() == 4:
                v = v.contiguous(memory_format=torch.channels_last)
            out[name] = v
        return out

    def ema_decay_at(self, step: int) -> float:
        """EMA decay after ``step`` updates: ``min(ema_decay, (1 + step) / (10 + step))``.

        The warm-up (as in TensorFlow's ExponentialMovingAverage with ``num_updates``) keeps a
        short run's average from staying near the random initial weights; from a few thousand
        steps on it is the configured decay (0.999 in FastGAN).
        """
        return min(self.ema_decay, (1 + step) / (10 + step))

    def train_step(self) -> dict[str, float]:
        """One update of the objective (its own schedule of optimiser steps); returns the logs."""
        factor = self.lr_schedule(self.step)
        for opt in self.optimizers.values():
            for group in opt.param_groups:
                group["lr"] = group["initial_lr"] * factor
        self.objective.train(True)
        t0 = time.perf_counter()
        logs = self.objective.train_step(Step(self.step, self._batch, self.optimizers,
                                              self.objective.autocast))
        self.objective.update_ema(self.ema_decay_at(self.step + 1))
        bad = [k for k, v in logs.items() if not np.isfinite(v)]
        if bad:
            raise FloatingPointError(f"{self.desc}: non-finite losses {bad} at step "
                                     f"{self.step + 1}")
        self.step += 1
        self.timed_steps += 1
        self.train_seconds += time.perf_counter() - t0
        logs = {"step": self.step, **logs}
        if factor != 1.0:
            logs["lr_factor"] = factor
        self.history.append(logs)
        return logs

    # -- the loop ---------------------------------------------------------------------------
    def fit(self, steps: int | None = None, checkpoint: str | Path | None = None,
            snapshot_steps: Sequence[int] = ()) -> pd.DataFrame:
        """Train until ``self.step == steps`` (default: the config's ``steps``; resumes from the
        current step); returns the history.

        Writes ``checkpoint`` every ``checkpoint_every`` steps and at the end; at each step of
        ``snapshot_steps`` reached on the way it also keeps a copy that is never overwritten,
        :func:`snapshot_path` (states along training, read by notebook 08).
        """
        steps = self.objective.cfg.steps if steps is None else steps
        if steps < 0:
            raise ValueError(f"steps must be >= 0, got {steps}")
        snapshots = {int(s) for s in snapshot_steps}
        if self.step >= steps:  # nothing left to do (e.g. a snapshot step equal to the end)
            if checkpoint:
                self.save(checkpoint)
            if self._unrecorded_load and self.timed_steps:  # trained in an earlier run
                self._record(self.timed_steps, self.train_seconds, checkpoint, steps,
                             timing="train_step seconds from the checkpoint (trained earlier)")
            return self.history_frame()
        bar = progress(total=steps, desc=self.desc, initial=self.step, unit="step",
                       disable=not self.show_progress)
        start, t0 = self.step, time.perf_counter()
        watch.status(force=True, training=self.desc, step=self.step, of=steps)
        try:
            while self.step < steps:
                logs = self.train_step()
                bar.update(1)
                watch.status(training=self.desc, step=self.step, of=steps)
                if self.log_every and self.step % self.log_every == 0:
                    bar.set_postfix({k: f"{v:.3g}" for k, v in logs.items() if k != "step"},
                                    refresh=False)
                    self._board(logs)
                if self.sample_every and self.step % self.sample_every == 0 and (
                        self.on_sample or self.tensorboard):
                    images = self.sample()
                    self._board(images=images)
                    if self.on_sample:
                        self.on_sample(self.step, images)
                if self.eval_every and self.step % self.eval_every == 0 and self.on_eval:
                    self.evals.append({"step": self.step,
                                       **self.on_eval(self.step, self.objective)})
                if checkpoint and self.checkpoint_every and self.step % self.checkpoint_every == 0:
                    self.save(checkpoint)
                if checkpoint and self.step in snapshots:
                    self.save(snapshot_path(checkpoint, self.step))
        finally:
            bar.close()
            if self._writer is not None:
                self._writer.flush()
        if checkpoint:
            self.save(checkpoint)
        self._record(self.step - start, time.perf_counter() - t0, checkpoint, steps,
                     timing="wall seconds of this run's steps")
        return self.history_frame()

    def _record(self, done: int, seconds: float, checkpoint: str | Path | None, steps: int,
                timing: str) -> None:
        """The training record of :mod:`hsilib.train.watch` (``timing``: how ``seconds``
        was measured)."""
        watch.record("generator", self.desc, units="steps", done=done, seconds=seconds,
                     checkpoint=checkpoint, family=self.objective.family,
                     section=type(self.objective.cfg).__name__,
                     cfg_steps=int(self.objective.cfg.steps), target=int(steps),
                     batch_size=int(getattr(self.objective.cfg, "batch_size", 0)),
                     timing=timing, steps_from=self.steps_from,
                     continues_from=self.continues_from)
        self._unrecorded_load = False

    def _board(self, logs: Mapping[str, float] | None = None,
               images: torch.Tensor | None = None) -> None:
        """TensorBoard logs when :attr:`tensorboard` names a folder
        (:func:`hsilib.train.watch.write_board`); the writer is made on first use."""
        if self.tensorboard is not None and self._writer is None:
            self._writer = watch.summary_writer(self.tensorboard)
            self.tensorboard = None if self._writer is None else self.tensorboard
        if self._writer is not None:
            watch.write_board(self._writer, self.desc, self.step, logs, images)

    def sample(self, n: int | None = None) -> torch.Tensor:
        """EMA samples (float32, CPU) of the trainer's fixed sample seed: the same latents at
        every call, so grids over training show one set of images evolving."""
        return self.objective.sample(n or self.n_samples, seed=self.sample_seed)

    def history_frame(self) -> pd.DataFrame:
        """The per-step logs as a table (one row per step)."""
        return pd.DataFrame(self.history)

    # -- checkpoints ------------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        return {
            "format": CHECKPOINT_FORMAT, "family": self.objective.family,
            "config": config.to_dict(self.objective.cfg), "step": self.step,
            "objective": self.objective.state_dict(),
            "optimizers": {k: opt.state_dict() for k, opt in self.optimizers.items()},
            "rng": rng_state(), "data_seed": getattr(self.sampler, "seed", None),
            "history": list(self.history), "evals": list(self.evals),
            "data_ids": self.data_ids,
            "timing": {"steps": self.timed_steps, "seconds": self.train_seconds},
        }

    def save(self, path: str | Path) -> Path:
        """Write a checkpoint atomically: a crash mid-write, a full disk or a file-size limit
        leaves the previous one intact (the last two raise OSError naming the file and why)."""
        path = Path(path)
        with atomic_path(path) as tmp:
            torch.save(self.state_dict(), tmp)
        return path

    def load(self, path: str | Path, *, other_data: bool = False) -> Trainer:
        """Restore everything from ``save``: the next step continues exactly where it stopped.

        The checkpoint must hold the same family and config as this trainer's objective, and
        have been trained on the same images (its ``data_ids`` equal this trainer's), so that
        the audit of training inputs (:func:`hsilib.study.audit.audit_generators`) stays true.
        ``other_data=True`` continues on this trainer's images anyway; the checkpoints it
        writes then list the images of both runs (or none, when either run's are unknown). The
        sampler takes the checkpoint's data seed, so the batches are the ones the interrupted
        run would have drawn. Everything is checked before anything is restored: a checkpoint
        that does not fit (no optimiser state, say) raises
        :class:`~hsilib.models.checkpoint.CheckpointError` naming the file and leaves the
        trainer as it was.
        """
        ckpt = registry.read_checkpoint(path, self.device)
        mine = config.to_dict(self.objective.cfg)
        if ckpt["family"] != self.objective.family or ckpt["config"] != mine:
            diff = sorted(k for k in set(mine) | set(ckpt["config"])
                          if mine.get(k) != ckpt["config"].get(k))
            raise ValueError(f"{path} was trained as family {ckpt['family']!r} with another "
                             f"config (differs in {diff or 'family'}); it cannot resume this "
                             f"{self.objective.family!r} run")
        theirs = ckpt.get("data_ids")
        theirs = None if theirs is None else [str(i) for i in theirs]
        if theirs != self.data_ids and not other_data:
            raise ValueError(
                f"{path} was trained on other images than this trainer's "
                f"({_describe_ids(theirs)} vs {_describe_ids(self.data_ids)}): resuming would "
                "make the record of its training images untrue. Give the trainer the same "
                "data_ids, or pass other_data=True to continue on these images (the record "
                "then lists both)")
        check_resume_state(ckpt, self.optimizers, path)
        saved = copy.deepcopy((self.objective.state_dict(),
                               {k: o.state_dict() for k, o in self.optimizers.items()},
                               rng_state()))
        try:
            self.objective.load_state_dict(ckpt["objective"], source=path)
            for name, opt in self.optimizers.items():
                opt.load_state_dict(ckpt["optimizers"][name])
            set_rng_state(ckpt["rng"])
        except Exception as err:  # put everything back: never a half-loaded trainer
            self.objective.load_state_dict(saved[0])
            for name, opt in self.optimizers.items():
                opt.load_state_dict(saved[1][name])
            set_rng_state(saved[2])
            raise CheckpointError(f"{path}: could not be restored ({type(err).__name__}: "
                                  f"{err}); the trainer is left as it was") from err
        self.step, self.history = int(ckpt["step"]), list(ckpt["history"])
        self.evals = list(ckpt["evals"])
        timing = ckpt.get("timing")  # absent from checkpoints written before it was kept
        timing = timing if isinstance(timing, Mapping) else {}
        self.timed_steps = int(timing.get("steps", 0))
        self.train_seconds = float(timing.get("seconds", 0.0))
        self._unrecorded_load = True
        if ckpt["data_seed"] is not None:
            self.sampler.seed = ckpt["data_seed"]
        if theirs != self.data_ids:  # other_data: the record covers both runs' images
            both = None if theirs is None or self.data_ids is None else theirs + self.data_ids
            self.data_ids = None if both is None else list(dict.fromkeys(both))
        return self


    def resume_if_interrupted(self, checkpoint: str | Path) -> bool:
        """Continue from ``checkpoint`` when this process resumes an interrupted run
        (``run_all.py`` sets ``HSILIB_RESUME`` for a notebook whose last run was killed) and
        the file exists and fits this run (same family, config and images); True when it
        did. A finished training then ends at once, an unfinished one goes on from its last
        checkpoint; a checkpoint that does not fit is left alone (a warning says so) and the
        training starts afresh, as it does without an interruption."""
        path = Path(checkpoint)
        if not os.environ.get(RESUME_ENV) or not path.is_file():
            return False
        try:
            self.load(path)
        except (ValueError, CheckpointError) as err:
            warnings.warn(f"{self.desc}: not resumed from {path} ({err}); training from the "
                          "start", stacklevel=2)
            return False
        return True


#: Set (to any non-empty value) by run_all.py when a notebook resumes an interrupted run.
RESUME_ENV = "HSILIB_RESUME"


def _describe_ids(ids: list[str] | None) -> str:
    return "no record" if ids is None else f"{len(ids)} ids, e.g. {ids[:3]}"


def snapshot_path(checkpoint: str | Path, step: int) -> Path:
    """Where :meth:`Trainer.fit` keeps the state of ``checkpoint`` at ``step``:
    ``<folder>/snapshots/<stem>_s<step, 6 digits>.pt``, e.g.
    ``checkpoints/snapshots/fastgan_mm_g0_s000150.pt``."""
    checkpoint = Path(checkpoint)
    return checkpoint.parent / "snapshots" / f"{checkpoint.stem}_s{int(step):06d}.pt"


def make_trainer(cfg: config.GeneratorConfig, data: Mapping[str, torch.Tensor] | torch.Tensor,
                 *, seed: int = 0, device: Any = "auto", **kwargs: Any) -> Trainer:
    """A :class:`Trainer` for any registered family on ``data`` (see
    :class:`~hsilib.data.samplers.TensorSampler`).

    The objective comes from :func:`hsilib.models.registry.build` (initial weights from
    ``seed``); the batch size, training augmentation (``train_augment``), EMA decay, AMP and
    intervals from ``cfg``; extra keyword
    arguments go to :class:`Trainer`.
    """
    check_images(cfg, data)
    objective = registry.build(cfg, seed=seed)
    sampler = TensorSampler(data, cfg.batch_size, seed=seed,
                            augment=augmentation(cfg.train_augment))
    return Trainer(objective, sampler, device=device, **(trainer_options(cfg) | kwargs))


def check_images(cfg: config.GeneratorConfig,
                 data: Mapping[str, torch.Tensor] | torch.Tensor) -> None:
    """Raise ValueError unless the images are N x n_bands x image_size x image_size."""
    image = data if isinstance(data, torch.Tensor) else data["image"]
    want = (cfg.n_bands, cfg.image_size, cfg.image_size)
    if tuple(image.shape[1:]) != want:
        raise ValueError(f"images are {tuple(image.shape[1:])}, the {cfg.family} config asks "
                         f"for {want} (n_bands, image_size, image_size)")


def trainer_options(cfg: config.GeneratorConfig) -> dict[str, Any]:
    """The :class:`Trainer` arguments a generator config sets (EMA, AMP, intervals)."""
    return dict(ema_decay=cfg.ema_decay, amp=cfg.amp, log_every=cfg.log_every,
                sample_every=cfg.sample_every, checkpoint_every=cfg.checkpoint_every)

