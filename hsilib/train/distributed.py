"""Data-parallel training of any generator family on several processes (``torchrun``).

One node with four GPUs, FastGAN on the melanoma training crops of a run folder::

    torchrun --standalone --nproc_per_node 4 -m hsilib.train.distributed \\
        --run runs/full --family fastgan --cls MM --seed 0 --out runs/full/checkpoints/ddp_mm.pt

Each process (rank) holds a full copy of the objective and draws its own share of every batch:
the global batch of ``cfg.batch_size`` images is split evenly over the ranks, rank ``r`` taking
the sampler's batch number ``step * world_size + r``. Before every optimiser step the gradients
are averaged over the ranks (one all-reduce per optimiser step, NCCL on GPUs, gloo on CPUs), so
all copies stay identical and an update equals the single-process update on the concatenated
batch (exactly so for families whose losses are batch means with no batch statistics and no
noise; with batch norm or per-rank noise it is the usual data-parallel approximation).

Why not :class:`torch.nn.parallel.DistributedDataParallel`: a GAN step calls the critic several
times before one backward (real, fake, augmented), takes gradients of gradients for its
penalties (R1, WGAN-GP), and leaves parts of a network unused in some steps (FastGAN's
decoders); DDP's bucketed hooks support none of these without per-family workarounds. Averaging
at the optimiser is the same arithmetic, family-agnostic, at the cost of not overlapping
communication with the backward pass.

Per-rank seeding: the weights are initialised from ``seed`` on every rank and broadcast from
rank 0; after that, rank ``r > 0`` reseeds torch with ``seed + 7919 * r`` so its noise (latents,
augmentations) differs from the other ranks'. Rank 0 alone writes checkpoints and logs; a
checkpoint holds every rank's random state, so a resumed run continues exactly (on CPU).
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist

from .. import config
from ..data.samplers import TensorSampler
from ..models import registry
from ..models.objective import Objective
from .trainer import Trainer, check_images, set_rng_state, trainer_options

SEED_STRIDE = 7919  # rank r > 0 reseeds torch with seed + SEED_STRIDE * r


def init(backend: str = "auto") -> tuple[int, int]:
    """Join the process group that ``torchrun`` describes in the environment; returns
    ``(rank, world_size)``, ``(0, 1)`` when not launched by ``torchrun``. ``backend``:
    ``"auto"`` (NCCL with CUDA, else gloo), ``"nccl"`` or ``"gloo"``."""
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    if int(os.environ.get("WORLD_SIZE", "1")) <= 1:
        return 0, 1
    if backend == "auto":
        backend = "nccl" if torch.cuda.is_available() else "gloo"
    if backend == "nccl":
        torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", "0")))
    dist.init_process_group(backend)
    return dist.get_rank(), dist.get_world_size()


def local_device() -> torch.device:
    """This rank's device: ``cuda:LOCAL_RANK`` when CUDA is available, else the CPU."""
    if torch.cuda.is_available():
        return torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
    return torch.device("cpu")


class RankSampler:
    """Rank ``rank``'s share of a :class:`TensorSampler`: batch ``step * world_size + rank``."""

    def __init__(self, inner: TensorSampler, rank: int, world_size: int):
        self.inner, self.rank, self.world_size = inner, rank, world_size

    def batch(self, step: int, k: int = 0) -> dict[str, torch.Tensor]:
        return self.inner.batch(step * self.world_size + self.rank, k)

    def __len__(self) -> int:
        return len(self.inner)

    @property
    def seed(self) -> int:
        return self.inner.seed

    @seed.setter
    def seed(self, value: int) -> None:
        self.inner.seed = value


class AveragedOptimizer:
    """An optimiser whose ``step`` first averages its gradients over all ranks (one flat
    all-reduce); everything else (``param_groups``, state dicts, ``zero_grad``) is the wrapped
    optimiser's."""

    def __init__(self, optimizer: torch.optim.Optimizer, world_size: int):
        self.optimizer, self.world_size = optimizer, world_size

    def __getattr__(self, name: str) -> Any:
        return getattr(self.optimizer, name)

    def step(self, closure: Any = None) -> Any:
        grads = [p.grad for g in self.optimizer.param_groups for p in g["params"]
                 if p.grad is not None]
        if grads and self.world_size > 1:
            flat = torch.cat([g.reshape(-1) for g in grads])
            dist.all_reduce(flat)
            flat /= self.world_size
            offset = 0
            for g in grads:
                g.copy_(flat[offset:offset + g.numel()].view_as(g))
                offset += g.numel()
        return self.optimizer.step(closure)


def _broadcast_objective(objective: Objective) -> None:
    for module in (objective.nets, objective.ema):
        for t in [*module.parameters(), *module.buffers()]:
            dist.broadcast(t.data, src=0)


class DistributedTrainer(Trainer):
    """A :class:`Trainer` for one rank of a data-parallel run (see the module docstring).

    ``sampler`` yields this rank's share already (a :class:`RankSampler`); ``seed`` is the run's
    seed, used to give each rank its own noise."""

    def __init__(self, objective: Objective, sampler: RankSampler, *, seed: int,
                 **kwargs: Any) -> None:
        self.rank, self.world_size = sampler.rank, sampler.world_size
        super().__init__(objective, sampler, **kwargs)
        if self.world_size > 1:
            _broadcast_objective(self.objective)
        self.optimizers = {k: AveragedOptimizer(o, self.world_size)
                           for k, o in self.optimizers.items()}
        self.show_progress = self.rank == 0
        if self.rank > 0:
            torch.manual_seed(seed + SEED_STRIDE * self.rank)

    def train_step(self) -> dict[str, float]:
        logs = super().train_step()
        if self.world_size > 1:  # the logged losses: means over the ranks
            keys = [k for k in logs if k not in ("step", "lr_factor")]
            values = torch.tensor([float(logs[k]) for k in keys], dtype=torch.float64)
            dist.all_reduce(values)
            logs.update({k: float(v) / self.world_size for k, v in zip(keys, values,
                                                                        strict=True)})
            self.history[-1] = logs
        return logs

    def _gathered_rng(self) -> list[Any]:
        from .trainer import rng_state

        state = rng_state()
        if self.world_size == 1:
            return [state]
        out: list[Any] = [None] * self.world_size
        dist.all_gather_object(out, state)
        return out

    def state_dict(self) -> dict[str, Any]:
        """Called by rank 0 alone inside :meth:`save`, which gathered the random states."""
        state = super().state_dict()
        state["rng_per_rank"] = getattr(self, "_rng_cache", None) or self._gathered_rng()
        state["world_size"] = self.world_size
        return state

    def save(self, path: str | Path) -> Path:
        """Every rank calls this (the random states are gathered); rank 0 writes."""
        state_rng = self._gathered_rng()
        if self.rank == 0:
            self._rng_cache = state_rng
            try:
                super().save(path)
            finally:
                del self._rng_cache
        if self.world_size > 1:
            dist.barrier()
        return Path(path)

    def load(self, path: str | Path) -> DistributedTrainer:
        super().load(path)
        ckpt = registry.read_checkpoint(path, "cpu")
        saved = ckpt.get("world_size", 1)
        if saved != self.world_size:
            raise ValueError(f"{path} was written by a run on {saved} processes; resume it on "
                             f"{saved} (this run has {self.world_size})")
        set_rng_state(ckpt["rng_per_rank"][self.rank])
        return self


def make_distributed_trainer(cfg: config.GeneratorConfig,
                             data: Mapping[str, torch.Tensor] | torch.Tensor, *, seed: int = 0,
                             **kwargs: Any) -> DistributedTrainer:
    """:func:`hsilib.train.trainer.make_trainer` for one rank of a ``torchrun`` launch: the
    global batch ``cfg.batch_size`` is split over the ranks (it must divide evenly). Launched
    without ``torchrun`` it is a one-process run identical to ``make_trainer``."""
    rank, world = init()
    if cfg.batch_size % world:
        raise ValueError(f"batch_size {cfg.batch_size} does not split evenly over {world} "
                         "processes")
    check_images(cfg, data)
    objective = registry.build(cfg, seed=seed)
    sampler = RankSampler(TensorSampler(data, cfg.batch_size // world, seed=seed), rank, world)
    options = trainer_options(cfg) | {"device": local_device()}
    return DistributedTrainer(objective, sampler, seed=seed, **(options | kwargs))


def main(argv: list[str] | None = None) -> int:
    """Train one generator on a run folder's training crops (see the module docstring)."""
    from ..data.datasets import load_crops
    from ..data.normaliser import BandNormaliser
    from ..paths import run_paths

    ap = argparse.ArgumentParser(description="Data-parallel generator training (torchrun).")
    ap.add_argument("--run", required=True, help="run folder with crops/ and splits/ (notebook 01)")
    ap.add_argument("--profile", default="full", choices=config.PROFILES)
    ap.add_argument("--family", default="fastgan", help="generator family, e.g. fastgan, vae")
    ap.add_argument("--cls", default="MM", choices=("MM", "DN"))
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--steps", type=int, default=None, help="default: the profile's steps")
    ap.add_argument("--out", required=True, help="checkpoint file (resumed if it exists)")
    args = ap.parse_args(argv)
    cfg = config.resolve(args.profile, args.family)
    if args.steps is not None and args.steps < 1:
        raise SystemExit(f"error: --steps must be >= 1, got {args.steps}")
    run = run_paths(args.run, args.profile)
    norm = run.splits / "normalisation.json"
    if not norm.is_file():
        raise SystemExit(f"error: {norm} not found: run notebook 01 on {args.run} first")
    crops = load_crops(run.crops, BandNormaliser.load(norm), cfg.image_size, "train",
                       run.splits / "splits.csv", classes=(args.cls,), value_range="symmetric")
    trainer = make_distributed_trainer(cfg, {"image": crops.images}, seed=args.seed,
                                       data_ids=crops.ids)
    out = Path(args.out)
    if out.is_file():
        trainer.load(out)
    trainer.fit(args.steps, checkpoint=out)  # None: the config's steps
    if trainer.rank == 0:
        print(f"{out}: step {trainer.step} on {trainer.world_size} processes")
    if dist.is_initialized():
        dist.destroy_process_group()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
