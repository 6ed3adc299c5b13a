"""Generator families by name: build an objective from a config, load one from a checkpoint.

Every generator config has a ``family`` (a class attribute, e.g. ``FastGANConfig.family ==
"fastgan"``). :func:`build` picks the family's objective from it; :func:`load` reads the family
and the resolved config a checkpoint records and rebuilds the same objective, with
``torch.load(weights_only=True)``. The families shipped with the project are imported on first
use (nothing heavy at import); another family registers itself with :func:`register`::

    register("vae", VAEConfig, VAEObjective)
    objective = build(config.resolve("quick", "vae"), seed=0)
    objective, ckpt = load("runs/quick/checkpoints/vae_mm.pt")
"""

from __future__ import annotations

import hashlib
import importlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from .. import config
from .checkpoint import CheckpointError, safe_load
from .objective import Objective

__all__ = ["CheckpointError", "build", "family", "load", "read_checkpoint", "register"]

# family -> module whose import registers it (the project's own families)
_BUILTIN = {"fastgan": "hsilib.models.fastgan", "vae": "hsilib.models.vae",
            "cfastgan": "hsilib.models.conditional", "cyclegan": "hsilib.models.cyclegan",
            "shsgan": "hsilib.models.shsgan", "classic": "hsilib.models.classic",
            "stylegan2": "hsilib.models.stylegan2"}


@dataclass(frozen=True)
class Family:
    name: str
    config_class: type
    build: Callable[..., Objective]  # build(cfg) -> objective (random init from torch's RNG)


_FAMILIES: dict[str, Family] = {}


def register(name: str, config_class: type, build: Callable[..., Objective]) -> Family:
    """Make family ``name`` buildable and loadable; ``config_class.family`` must be ``name``."""
    if getattr(config_class, "family", None) != name:
        raise ValueError(f"{config_class.__name__}.family must be {name!r} to register it")
    family = Family(name, config_class, build)
    _FAMILIES[name] = family
    return family


def family(name: str) -> Family:
    """The registered family ``name`` (importing the project's own on first use)."""
    if name not in _FAMILIES and name in _BUILTIN:
        importlib.import_module(_BUILTIN[name])
    if name not in _FAMILIES:
        known = sorted(set(_FAMILIES) | set(_BUILTIN))
        raise KeyError(f"unknown generator family {name!r}; registered: {', '.join(known)}")
    return _FAMILIES[name]


def build(cfg: Any, *, seed: int | None = None) -> Objective:
    """A fresh objective for ``cfg`` (its family from ``cfg.family``).

    With ``seed``, torch's global generator is seeded first: the initial weights, and every
    random draw of a training run that follows, depend on it.
    """
    if not getattr(cfg, "family", ""):
        raise TypeError(f"{type(cfg).__name__} names no generator family (a GeneratorConfig "
                        "subclass sets the class attribute 'family')")
    fam = family(cfg.family)
    if not isinstance(cfg, fam.config_class):
        raise TypeError(f"family {fam.name!r} takes a {fam.config_class.__name__}, got "
                        f"{type(cfg).__name__}")
    if seed is not None:
        torch.manual_seed(seed)
    return fam.build(cfg)


def read_checkpoint(path: str | Path, device: Any = "cpu") -> dict[str, Any]:
    """The dict a :class:`~hsilib.train.trainer.Trainer` saved, loaded with weights_only=True."""
    path = Path(path)
    ckpt = safe_load(path, device, "checkpoint")
    if not isinstance(ckpt, dict) or not {"family", "config", "objective"} <= set(ckpt):
        raise CheckpointError(f"{path} is not a generator checkpoint of this project (it needs "
                         "'family', 'config' and 'objective' entries)")
    return ckpt


def load(path: str | Path, device: Any = "cpu") -> tuple[Objective, dict[str, Any]]:
    """Rebuild the objective saved in checkpoint ``path`` (networks in eval mode) and return it
    with the checkpoint dict (``family``, ``config``, ``step``, ``history``, ...)."""
    ckpt = read_checkpoint(path, device)
    fam = family(ckpt["family"])
    try:
        cfg = config.from_dict(fam.config_class, ckpt["config"])
    except (TypeError, ValueError) as err:
        raise CheckpointError(f"{path}: its config does not fit {fam.config_class.__name__} "
                              f"({err})") from err
    objective = fam.build(cfg)
    objective.load_state_dict(ckpt["objective"], source=path)
    return objective.to(device).train(False), ckpt


def file_sha256(path: str | Path, n_hex: int = 12) -> str:
    """First ``n_hex`` hex digits of a file's SHA-256 (identifies a checkpoint)."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()[:n_hex]
