"""What a generative model is to the trainer: an :class:`Objective`.

An objective owns everything that differs between generator families: its networks (any
number, in ``nets``), its optimisers (any number: a VAE has one, a GAN two, a CycleGAN three),
its step schedule (critic updates per generator update, penalties) and how one batch is
generated and scored. The trainer (:class:`hsilib.train.trainer.Trainer`) owns everything
they share in training: data, the exponential moving average (EMA) of the networks named in
``ema_nets``, learning-rate schedules, mixed precision, checkpoints, exact resume and logs.
This base class owns the loops they share outside training: :meth:`Objective.sample` and
:meth:`Objective.score` (seeding, no-grad, eval mode, autocast, batching, per-batch slices of
the conditions, CPU float32 results), and :meth:`Objective.map_batches`, the same loop for any
other per-image function (translating, classifying, reconstructing).

A new family is one file with a config class, an ``Objective`` subclass and one call to
:func:`hsilib.models.registry.register`. A subclass declares and implements:

- ``optimizer_nets = {optimiser name: (network names, ...)}``: one Adam per entry over those
  networks, with the config's ``lr`` and ``betas`` unless ``optimizer_options(name)`` says
  otherwise;
- ``train_step(step: Step) -> {log name: float}``: draw batches with ``step.batch(k)`` (a dict
  with ``image`` and, as present, ``label``, ``mask``, ``rgb``), compute losses inside
  ``step.autocast()`` and apply them with ``step.update(name, loss)``;
- ``sample_batch(G, n, gen, **inputs) -> images``: one batch of ``n`` images in [-1, 1] from
  the generator network ``G`` (``sampled_net``, its EMA copy by default), drawing latents from
  the CPU generator ``gen``;
- as needed, ``condition(n, **condition) -> inputs`` (check keyword conditions such as a mask,
  an RGB image or a class for ``n`` images; every tensor it returns has one row per image and
  is sliced per batch), ``sample_inputs(n, gen, **condition)`` (what is drawn once for all
  ``n`` samples, e.g. every latent in one draw) and ``score_batch(images, **inputs)`` (higher
  = more real-looking, for filtering).

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
    sampled_net: ClassVar[str] = "G"  # the network :meth:`sample` draws from
    #: optimiser name -> the networks it trains (one Adam each, see configure_optimizers)
    optimizer_nets: ClassVar[Mapping[str, tuple[str, ...]]] = {}

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

    # -- optimisers ---------------------------------------------------------------------------
    def optimizer_options(self, name: str) -> dict[str, Any]:
        """Keyword arguments of optimiser ``name``'s Adam: the config's ``lr`` and ``betas``
        (a family overrides this where one optimiser differs)."""
        return {"lr": self.cfg.lr, "betas": self.cfg.betas}

    def configure_optimizers(self) -> dict[str, torch.optim.Optimizer]:
        """One Adam per entry of ``optimizer_nets``, over the parameters of its networks in
        the declared order, with :meth:`optimizer_options`."""
        if not self.optimizer_nets:
            raise NotImplementedError(f"{type(self).__name__} declares no optimizer_nets "
                                      "(optimiser name -> the networks it trains)")
        out = {}
        for name, nets in self.optimizer_nets.items():
            unknown = [n for n in nets if n not in self.nets]
            if unknown:
                raise ValueError(f"{type(self).__name__}.optimizer_nets[{name!r}] names "
                                 f"{unknown}, not among the networks {list(self.nets)}")
            params = [p for n in nets for p in self.nets[n].parameters()]
            out[name] = torch.optim.Adam(params, **self.optimizer_options(name))
        return out

    # -- to implement -------------------------------------------------------------------------
    def train_step(self, step: Step) -> dict[str, float]:
        raise NotImplementedError

    def condition(self, n: int, **condition: Any) -> dict[str, Any]:
        """The inputs that keyword conditions give :meth:`sample_batch` and
        :meth:`score_batch` for ``n`` images, checked: tensors with one row per image (sliced
        per batch), other values passed whole. An unconditional family takes none."""
        if condition:
            raise TypeError(f"the {self.family!r} family is unconditional; got conditions "
                            f"{sorted(condition)}")
        return {}

    def sample_inputs(self, n: int, gen: torch.Generator, **condition: Any) -> dict[str, Any]:
        """What ``n`` samples need that is drawn or checked once for all of them (default:
        :meth:`condition`); ``gen`` is the seeded CPU generator of :meth:`sample`."""
        return self.condition(n, **condition)

    def sample_batch(self, G: nn.Module, n: int, gen: torch.Generator,
                     **inputs: Any) -> torch.Tensor:
        """One batch of ``n`` images in [-1, 1] from generator ``G``, latents drawn from
        ``gen``, with this batch's rows of :meth:`sample_inputs`."""
        raise NotImplementedError(f"{type(self).__name__} implements no sample_batch")

    def score_batch(self, images: torch.Tensor, **inputs: Any) -> torch.Tensor:
        """One score per image of a batch on this objective's device (higher = more
        real-looking), with this batch's rows of :meth:`condition`."""
        raise NotImplementedError(f"{type(self).__name__} implements no score_batch")

    # -- the shared loops ---------------------------------------------------------------------
    @contextmanager
    def inference(self) -> Iterator[None]:
        """No gradients, every network in eval mode (each module's mode restored on exit) and
        :meth:`autocast`."""
        modes = [(m, m.training) for m in self.nets.modules()]
        self.nets.eval()
        try:
            with torch.no_grad(), self.autocast():
                yield
        finally:
            for m, mode in modes:
                m.training = mode

    def _batches(self, n: int, batch_size: int | None, inputs: Mapping[str, Any]
                 ) -> Iterator[tuple[int, dict[str, Any]]]:
        """``(rows in the batch, inputs of those rows on the device)`` for batches of
        ``batch_size`` (default: the config's) over ``n`` rows."""
        size = batch_size or self.cfg.batch_size
        if n < 1 or size < 1:
            raise ValueError(f"need n >= 1 images in batches of >= 1, got n={n}, "
                             f"batch_size={size}")
        bad = [k for k, v in inputs.items() if isinstance(v, torch.Tensor) and len(v) != n]
        if bad:
            raise ValueError(f"inputs {bad} do not have one row for each of the {n} images")
        for s in range(0, n, size):
            yield min(size, n - s), {k: v[s:s + size].to(self.device)
                                     if isinstance(v, torch.Tensor) else v
                                     for k, v in inputs.items()}

    @staticmethod
    def _gather(outs: list[Any]) -> Any:
        """Per-batch outputs (tensors or tuples of tensors) as CPU float32, concatenated."""
        if isinstance(outs[0], tuple):
            return tuple(torch.cat([o[i].float().cpu() for o in outs])
                         for i in range(len(outs[0])))
        return torch.cat([o.float().cpu() for o in outs])

    def map_batches(self, fn: Callable[..., Any], n: int, batch_size: int | None = None,
                    **inputs: Any) -> Any:
        """``fn(**rows)`` for batches of ``batch_size`` rows (default: the config's) of the
        ``n``-row tensors in ``inputs`` (moved to the device; other values passed whole), under
        :meth:`inference`; the outputs (a tensor or a tuple of tensors per batch) as CPU
        float32, concatenated."""
        with self.inference():
            return self._gather([fn(**rows) for _, rows in self._batches(n, batch_size, inputs)])

    def sample(self, n: int, *, seed: int, batch_size: int | None = None, ema: bool = True,
               **condition: Any) -> torch.Tensor:
        """``n`` images in [-1, 1] (CPU float32) from ``sampled_net`` (its EMA copy when
        ``ema`` and one is kept), in batches of ``batch_size`` (default: the config's), for the
        keyword ``condition`` (see :meth:`condition`). Latents come from a CPU generator
        seeded with ``seed`` and any other random draw from torch's forked, seeded global
        generators (:func:`seeded`): the images are a function of the weights, ``seed`` and
        ``batch_size`` alone, and the caller's random state is left as it was."""
        G = self.net(self.sampled_net, ema)
        with seeded(seed, self.device) as gen, self.inference():
            inputs = self.sample_inputs(n, gen, **condition)
            return self._gather([self.sample_batch(G, m, gen, **rows)
                                 for m, rows in self._batches(n, batch_size, inputs)])

    def score(self, images: torch.Tensor, *, batch_size: int | None = None,
              **condition: Any) -> torch.Tensor:
        """One score per image (CPU float32; higher = more real-looking, for filtering), in
        batches of ``batch_size`` (default: the config's), for the keyword ``condition``."""
        if type(self).score_batch is Objective.score_batch:
            raise NotImplementedError(f"the {self.family!r} family has no critic to score "
                                      "samples with (filter_top_fraction must be 1)")
        inputs = self.condition(len(images), **condition)
        return self.map_batches(self.score_batch, len(images), batch_size, images=images,
                                **inputs)

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
