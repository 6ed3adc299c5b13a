"""What a generative model is to the trainer: an :class:`Objective`.

An objective owns everything that differs between generator families: its networks (any
number, in ``nets``), its optimisers (any number: a VAE has one, a GAN two, a CycleGAN four),
its step schedule (critic updates per generator update, penalties) and how it samples. The
trainer (:class:`hsilib.train.trainer.Trainer`) owns everything they share: data, the
exponential moving average (EMA) of the networks named in ``ema_nets``, learning-rate
schedules, mixed precision, checkpoints, exact resume and logs.

A new family is one file with a config class, an ``Objective`` subclass and one call to
:func:`hsilib.models.registry.register`. A subclass implements:

- ``configure_optimizers() -> {name: optimiser}``;
- ``train_step(step: Step) -> {log name: float}``: draw batches with ``step.batch(k)`` (a dict
  with ``image`` and, as present, ``label``, ``mask``, ``rgb``), compute losses inside
  ``step.autocast()`` and apply them with ``step.update(name, loss)``;
- ``sample(n, *, seed, batch_size=None, ema=True, **condition) -> images`` in [-1, 1], CPU
  float32, a function of the weights, ``seed`` and ``batch_size`` only;
- optionally ``score(images, **condition)``: higher = more real-looking (for filtering).

Introduced in notebook 03 (FastGAN, :class:`hsilib.models.fastgan.FastGANObjective`).
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
from typing import Any, ClassVar

import torch
from torch import nn


@dataclass
class Step:
    """What :meth:`Objective.train_step` gets from the trainer for one update.

    ``index`` counts completed updates before this one; ``batch(k)`` is the k-th batch of this
    step (k > 0 for extra critic updates), already on the device; ``update(name, loss)`` zeroes
    the gradients of optimiser ``name``, back-propagates ``loss`` and steps the optimiser.
    """

    index: int
    batch: Callable[[int], dict[str, torch.Tensor]]
    optimizers: Mapping[str, torch.optim.Optimizer]
    autocast: Callable[[], Any]

    def update(self, name: str, loss: torch.Tensor) -> None:
        opt = self.optimizers[name]
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()


def mean_logs(logs: list[dict[str, float]]) -> dict[str, float]:
    """Average of several log dicts (e.g. of ``n_critic`` critic updates), key by key."""
    keys = dict.fromkeys(k for d in logs for k in d)
    return {k: sum(d[k] for d in logs if k in d) / sum(k in d for d in logs) for k in keys}


@contextmanager
def seeded(seed: int, device: Any) -> Iterator[torch.Generator]:
    """A CPU generator seeded with ``seed`` and, inside a forked random state, torch's global
    generators seeded too (noise injections and dropout draw from those): whatever runs inside
    depends on ``seed`` alone, and the caller's random state is left as it was."""
    devices = [device] if torch.device(device).type == "cuda" else []
    with torch.random.fork_rng(devices=devices):
        torch.manual_seed(seed)
        yield torch.Generator().manual_seed(seed)


class Objective:
    """Base class of every generator family (see the module docstring)."""

    family: ClassVar[str] = ""
    ema_nets: ClassVar[tuple[str, ...]] = ()  # networks whose EMA copy is sampled from

    def __init__(self, cfg: Any, nets: Mapping[str, nn.Module]) -> None:
        missing = [n for n in self.ema_nets if n not in nets]
        if missing:
            raise ValueError(f"{type(self).__name__}: ema_nets {missing} are not in nets "
                             f"{list(nets)}")
        self.cfg = cfg
        self.nets = nn.ModuleDict(nets)
        self.ema = nn.ModuleDict({n: copy.deepcopy(nets[n]).eval().requires_grad_(False)
                                  for n in self.ema_nets})
        self.device = torch.device("cpu")
        self.amp = False

    # -- to implement -------------------------------------------------------------------------
    def configure_optimizers(self) -> dict[str, torch.optim.Optimizer]:
        raise NotImplementedError

    def train_step(self, step: Step) -> dict[str, float]:
        raise NotImplementedError

    def sample(self, n: int, *, seed: int, batch_size: int | None = None, ema: bool = True,
               **condition: Any) -> torch.Tensor:
        raise NotImplementedError

    def score(self, images: torch.Tensor, **condition: Any) -> torch.Tensor:
        raise NotImplementedError(f"the {self.family!r} family has no critic to score samples "
                                  "with (filter_top_fraction must be 1)")

    # -- shared -------------------------------------------------------------------------------
    def net(self, name: str, ema: bool = True) -> nn.Module:
        """Network ``name``: its EMA copy when ``ema`` and one is kept, else the trained one."""
        return self.ema[name] if ema and name in self.ema else self.nets[name]

    def to(self, device: Any, *, amp: bool = False) -> Objective:
        """Move every network to ``device``; ``amp`` (CUDA only): bf16 autocast, channels_last."""
        self.device = torch.device(device)
        self.amp = amp and self.device.type == "cuda"
        fmt = torch.channels_last if self.amp else torch.contiguous_format
        self.nets.to(self.device, memory_format=fmt)
        self.ema.to(self.device, memory_format=fmt)
        return self

    def autocast(self):
        """bf16 autocast on CUDA when ``amp``; a no-op otherwise."""
        return torch.autocast("cuda", dtype=torch.bfloat16) if self.amp else nullcontext()

    def train(self, mode: bool = True) -> Objective:
        self.nets.train(mode)
        return self

    @torch.no_grad()
    def update_ema(self, decay: float) -> None:
        """``ema <- decay * ema + (1 - decay) * net``; buffers (BN statistics, spectral-norm
        vectors) are copied."""
        for name, avg in self.ema.items():
            net = self.nets[name]
            for p_avg, p in zip(avg.parameters(), net.parameters(), strict=True):
                p_avg.lerp_(p, 1.0 - decay)
            for b_avg, b in zip(avg.buffers(), net.buffers(), strict=True):
                b_avg.copy_(b)

    def state_dict(self) -> dict[str, Any]:
        return {"nets": self.nets.state_dict(), "ema": self.ema.state_dict()}

    def load_state_dict(self, state: Mapping[str, Any], source: Any = "state dict") -> None:
        """Load networks and EMA; every key and shape is checked first (``source`` names the
        file in the error), so a state that does not fit leaves the weights untouched."""
        from .checkpoint import CheckpointError, check_state_dict

        if not isinstance(state, Mapping) or not {"nets", "ema"} <= set(state):
            raise CheckpointError(f"{source}: the objective state needs 'nets' and 'ema'")
        check_state_dict(self.nets, state["nets"], f"{source} (networks)")
        check_state_dict(self.ema, state["ema"], f"{source} (EMA networks)")
        self.nets.load_state_dict(state["nets"])
        self.ema.load_state_dict(state["ema"])
