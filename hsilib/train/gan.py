"""One GAN trainer for every generative model of the project (FastGAN first; introduced in
notebook 03).

Three layers stay apart: the *networks* (``G``, ``D``), the *objective* (an object with
``d_loss(real)`` and ``g_loss(real)`` returning ``(loss, logs)``, e.g.
:class:`hsilib.models.losses.FastGANObjective`) and this *trainer*, which owns the optimisers,
the generator's exponential moving average (EMA), mixed precision, checkpoints and logs::

    sampler = TensorSampler(images, batch_size=8, seed=0)     # images in [-1, 1]
    trainer = GANTrainer(G, D, objective, sampler, cfg_dict=config.to_dict(cfg), lr=2e-4)
    trainer.fit(steps=1500, checkpoint=run.checkpoints / "fastgan_mm.pt")

Resume is exact on the CPU: a checkpoint holds the networks, EMA, optimisers, the step, the loss
history and the random states of Python, NumPy and torch; batches come from
:class:`TensorSampler`, which derives each step's batch from ``(seed, step)`` alone.

Hooks for later models: ``n_critic`` discriminator updates per generator update (WGAN-GP
ablations; put :func:`hsilib.models.losses.gradient_penalty` in the objective's ``d_loss``),
and any objective with the two methods (conditional GANs, CycleGAN and VAE objectives can hold
several networks inside ``G``/``D`` containers such as ``nn.ModuleDict``).
"""

from __future__ import annotations

import copy
import random
from collections.abc import Callable
from contextlib import nullcontext
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from torch import nn

from ..paths import atomic_path
from ..runtime import progress


# --------------------------------------------------------------------------------------------
# Data: a deterministic per-step sampler
# --------------------------------------------------------------------------------------------
def flip_rotate(batch: torch.Tensor, rng: np.random.Generator) -> torch.Tensor:
    """Random horizontal/vertical flips and 90-degree rotations per image (lesions have no
    orientation). Pure pixel permutations: spectra are never changed or mixed."""
    out = []
    for img in batch:
        if rng.random() < 0.5:
            img = img.flip(-1)
        if rng.random() < 0.5:
            img = img.flip(-2)
        out.append(torch.rot90(img, int(rng.integers(4)), dims=(-2, -1)))
    return torch.stack(out)


class TensorSampler:
    """Batches drawn from an in-memory N x C x H x W tensor, a pure function of ``(seed, step)``.

    Because no iterator state exists, resuming at step t gives the batch an uninterrupted run
    would have seen. ``augment(batch, rng)`` (default :func:`flip_rotate`; None for none) runs
    with the same per-step NumPy generator.
    """

    def __init__(self, images: torch.Tensor, batch_size: int, seed: int = 0,
                 augment: Callable | None = flip_rotate) -> None:
        if images.dim() != 4 or len(images) == 0:
            raise ValueError(f"images must be a non-empty N x C x H x W tensor, got "
                             f"{tuple(images.shape)}")
        self.images, self.batch_size, self.seed, self.augment = images, batch_size, seed, augment

    def batch(self, step: int, k: int = 0) -> torch.Tensor:
        """The ``k``-th batch of step ``step`` (k > 0 for extra critic updates)."""
        rng = np.random.default_rng([self.seed, step, k])
        idx = rng.choice(len(self.images), self.batch_size,
                         replace=len(self.images) < self.batch_size)
        batch = self.images[torch.as_tensor(idx)]
        return self.augment(batch, rng) if self.augment else batch


# --------------------------------------------------------------------------------------------
# Random states
# --------------------------------------------------------------------------------------------
def rng_state() -> dict[str, Any]:
    """Python, NumPy and torch (CPU and CUDA) random states."""
    state = {"python": random.getstate(), "numpy": np.random.get_state(),  # noqa: NPY002
             "torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    random.setstate(state["python"])
    np.random.set_state(state["numpy"])  # noqa: NPY002 (legacy global state, as seeded)
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


# --------------------------------------------------------------------------------------------
# Trainer
# --------------------------------------------------------------------------------------------
class GANTrainer:
    """Alternating D / G updates with Adam, generator EMA, bf16 autocast on CUDA, checkpoints.

    Arguments: the networks and objective (see module docstring); ``sampler`` with
    ``batch(step, k)``; ``cfg_dict`` the resolved config (saved in every checkpoint so it can be
    rebuilt alone); ``lr``/``lr_d``/``betas`` of the two Adam optimisers; ``ema_decay``;
    ``n_critic``; ``amp`` (bf16 autocast + channels_last, used only on CUDA); the intervals
    ``log_every`` (progress bar), ``sample_every`` (``on_sample(step, images)`` with EMA samples
    of fixed latents), ``eval_every`` (``on_eval(step, G_ema) -> dict``, kept in ``evals``) and
    ``checkpoint_every``.
    """

    def __init__(self, G: nn.Module, D: nn.Module, objective: Any, sampler: Any, *,
                 cfg_dict: dict[str, Any], lr: float = 2e-4, lr_d: float | None = None,
                 betas: tuple[float, float] = (0.5, 0.999), ema_decay: float = 0.999,
                 n_critic: int = 1, amp: bool = True, device: Any = "cpu",
                 log_every: int = 100, sample_every: int = 0, checkpoint_every: int = 0,
                 eval_every: int = 0, n_samples: int = 16,
                 on_sample: Callable[[int, torch.Tensor], None] | None = None,
                 on_eval: Callable[[int, nn.Module], dict] | None = None,
                 desc: str = "GAN") -> None:
        self.device = torch.device(device)
        self.cuda = self.device.type == "cuda"
        self.amp = amp and self.cuda  # bf16 autocast only where it pays off and is supported
        fmt = torch.channels_last if self.amp else torch.contiguous_format
        self.G = G.to(self.device, memory_format=fmt)
        self.D = D.to(self.device, memory_format=fmt)
        self.G_ema = copy.deepcopy(self.G).eval().requires_grad_(False)
        self.objective, self.sampler, self.cfg_dict = objective, sampler, cfg_dict
        self.opt_g = torch.optim.Adam(self.G.parameters(), lr=lr, betas=betas)
        self.opt_d = torch.optim.Adam(self.D.parameters(), lr=lr_d or lr, betas=betas)
        self.ema_decay, self.n_critic = ema_decay, n_critic
        self.log_every, self.sample_every = log_every, sample_every
        self.checkpoint_every, self.eval_every = checkpoint_every, eval_every
        self.on_sample, self.on_eval, self.desc = on_sample, on_eval, desc
        z_dim = getattr(objective, "z_dim", None)
        gen = torch.Generator().manual_seed(12345)  # fixed latents for sample grids
        self.fixed_z = (torch.randn(n_samples, z_dim, generator=gen).to(self.device)
                        if z_dim else None)
        self.step = 0
        self.history: list[dict[str, float]] = []
        self.evals: list[dict[str, float]] = []

    # -- one step ---------------------------------------------------------------------------
    def _autocast(self):
        return torch.autocast("cuda", dtype=torch.bfloat16) if self.amp else nullcontext()

    def _batch(self, k: int) -> torch.Tensor:
        real = self.sampler.batch(self.step, k).to(self.device, non_blocking=True)
        return real.contiguous(memory_format=torch.channels_last) if self.amp else real

    def ema_decay_at(self, step: int) -> float:
        """EMA decay after ``step`` updates: ``min(ema_decay, (1 + step) / (10 + step))``.

        The warm-up (as in TensorFlow's ExponentialMovingAverage with ``num_updates``) keeps a
        short run's average from staying near the random initial weights; from a few thousand
        steps on it is the configured decay (0.999 in FastGAN).
        """
        return min(self.ema_decay, (1 + step) / (10 + step))

    @torch.no_grad()
    def update_ema(self) -> None:
        decay = self.ema_decay_at(self.step + 1)
        for p_ema, p in zip(self.G_ema.parameters(), self.G.parameters(), strict=True):
            p_ema.lerp_(p, 1.0 - decay)
        for b_ema, b in zip(self.G_ema.buffers(), self.G.buffers(), strict=True):
            b_ema.copy_(b)  # BN running statistics and spectral-norm vectors follow G

    def train_step(self) -> dict[str, float]:
        """One generator update after ``n_critic`` discriminator updates; returns the logs."""
        self.G.train()
        self.D.train()
        logs: dict[str, float] = {"step": self.step + 1}
        self.D.requires_grad_(True)
        for k in range(self.n_critic):
            real = self._batch(k)
            self.opt_d.zero_grad(set_to_none=True)
            with self._autocast():
                loss_d, logs_d = self.objective.d_loss(real)
            loss_d.backward()
            self.opt_d.step()
        logs.update(logs_d)
        self.D.requires_grad_(False)  # no D gradients during the G update
        self.opt_g.zero_grad(set_to_none=True)
        with self._autocast():
            loss_g, logs_g = self.objective.g_loss(real)
        loss_g.backward()
        self.opt_g.step()
        self.D.requires_grad_(True)
        self.update_ema()
        logs.update(logs_g)
        bad = [k for k, v in logs.items() if not np.isfinite(v)]
        if bad:
            raise FloatingPointError(f"non-finite losses {bad} at step {self.step + 1}")
        self.step += 1
        self.history.append(logs)
        return logs

    # -- the loop ---------------------------------------------------------------------------
    def fit(self, steps: int, checkpoint: str | Path | None = None) -> pd.DataFrame:
        """Train until ``self.step == steps`` (resumes from the current step); returns history.

        Writes ``checkpoint`` every ``checkpoint_every`` steps and at the end.
        """
        if self.step >= steps:  # nothing left to do (e.g. a snapshot step equal to the end)
            if checkpoint:
                self.save(checkpoint)
            return self.history_frame()
        bar = progress(total=steps, desc=self.desc, initial=self.step)
        try:
            while self.step < steps:
                logs = self.train_step()
                bar.update(1)
                if self.log_every and self.step % self.log_every == 0:
                    bar.set_postfix({k: f"{v:.3f}" for k, v in logs.items()
                                     if k in ("d_loss", "g_loss", "d_rec")}, refresh=False)
                if self.sample_every and self.step % self.sample_every == 0 and self.on_sample:
                    self.on_sample(self.step, self.sample())
                if self.eval_every and self.step % self.eval_every == 0 and self.on_eval:
                    self.evals.append({"step": self.step, **self.on_eval(self.step, self.G_ema)})
                if checkpoint and self.checkpoint_every and self.step % self.checkpoint_every == 0:
                    self.save(checkpoint)
        finally:
            bar.close()
        if checkpoint:
            self.save(checkpoint)
        return self.history_frame()

    @torch.no_grad()
    def sample(self, z: torch.Tensor | None = None) -> torch.Tensor:
        """EMA-generator images (float32, CPU) for latents ``z`` (default: the fixed ones)."""
        z = self.fixed_z if z is None else z.to(self.device)
        with self._autocast():
            out = self.objective.sample(self.G_ema, z)
        return out.float().cpu()

    def history_frame(self) -> pd.DataFrame:
        """The per-step losses as a table (one row per step)."""
        return pd.DataFrame(self.history)

    # -- checkpoints ------------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        return {
            "config": self.cfg_dict, "step": self.step,
            "G": self.G.state_dict(), "D": self.D.state_dict(), "G_ema": self.G_ema.state_dict(),
            "opt_g": self.opt_g.state_dict(), "opt_d": self.opt_d.state_dict(),
            "rng": rng_state(), "history": list(self.history), "evals": list(self.evals),
        }

    def save(self, path: str | Path) -> Path:
        """Write a checkpoint atomically (a crash mid-write leaves the previous one intact)."""
        path = Path(path)
        with atomic_path(path) as tmp:
            torch.save(self.state_dict(), tmp)
        return path

    def load(self, path: str | Path) -> GANTrainer:
        """Restore everything from ``save``: the next step continues exactly where it stopped."""
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"checkpoint {path} does not exist")
        ckpt = torch.load(path, map_location=self.device, weights_only=False)
        self.G.load_state_dict(ckpt["G"])
        self.D.load_state_dict(ckpt["D"])
        self.G_ema.load_state_dict(ckpt["G_ema"])
        self.opt_g.load_state_dict(ckpt["opt_g"])
        self.opt_d.load_state_dict(ckpt["opt_d"])
        self.step, self.history = ckpt["step"], list(ckpt["history"])
        self.evals = list(ckpt.get("evals", []))
        rng = ckpt["rng"]
        rng["torch"] = rng["torch"].cpu()
        set_rng_state(rng)
        return self


# --------------------------------------------------------------------------------------------
# FastGAN: the trio (networks, objective, trainer) from one config
# --------------------------------------------------------------------------------------------
def fastgan_trainer(cfg: Any, images: torch.Tensor, *, seed: int = 0, device: Any = "cpu",
                    spectral_weight: float | None = None, desc: str = "FastGAN",
                    **kwargs: Any) -> GANTrainer:
    """A :class:`GANTrainer` for FastGAN on ``images`` (N x B x S x S in [-1, 1]).

    ``cfg`` is a :class:`~hsilib.config.FastGANConfig`; ``spectral_weight`` overrides its
    ``spectral_loss_weight`` (the value saved in the checkpoint's config is the one used).
    Networks are initialised from ``seed``; extra keyword arguments go to :class:`GANTrainer`.
    """
    from dataclasses import replace

    from .. import config
    from ..models import fastgan, losses

    if spectral_weight is not None:
        cfg = replace(cfg, spectral_loss_weight=float(spectral_weight))
    if tuple(images.shape[1:]) != (cfg.n_bands, cfg.image_size, cfg.image_size):
        raise ValueError(f"images are {tuple(images.shape[1:])}, the config asks for "
                         f"{(cfg.n_bands, cfg.image_size, cfg.image_size)}")
    torch.manual_seed(seed)
    G, D = fastgan.build(cfg)
    recon = losses.reconstruction_loss(cfg.n_bands, cfg.lpips_weights, cfg.lpips_net)
    obj = losses.FastGANObjective(G, D, z_dim=cfg.z_dim, recon=recon.to(device),
                                  diffaug=cfg.diffaug, spectral_weight=cfg.spectral_loss_weight)
    return GANTrainer(G, D, obj, TensorSampler(images, cfg.batch_size, seed=seed),
                      cfg_dict=config.to_dict(cfg), lr=cfg.lr, betas=cfg.betas,
                      ema_decay=cfg.ema_decay, amp=cfg.amp, device=device,
                      log_every=cfg.log_every, sample_every=cfg.sample_every,
                      checkpoint_every=cfg.checkpoint_every, desc=desc, **kwargs)
