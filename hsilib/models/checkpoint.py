"""Reading weight files safely: never run a file's code, name the file in every error.

Every checkpoint and weight file of the project is read through :func:`safe_load`:
``torch.load(weights_only=True)`` (only tensors and plain containers; a pickle that would build
any other object, and so could run code, is refused before anything runs) or safetensors, with
errors that name the file. :func:`check_state_dict` compares a state dict with a module (keys
and every tensor's shape) before anything is copied, so a file of the wrong shape fails without
touching the module's weights.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from torch import nn


class CheckpointError(ValueError):
    """A checkpoint or weight file is unreadable, unsafe, or does not fit the model."""


def safe_load(path: str | os.PathLike, map_location: Any = "cpu", what: str = "checkpoint"
              ) -> Any:
    """The content of ``path`` (torch ``.pt``/``.pth`` or ``.safetensors``), read without running
    code. A missing file raises FileNotFoundError, anything else :class:`CheckpointError`
    (unreadable, unsafe, or a floating-point tensor with NaN/inf anywhere in it); both name the
    file (``what`` says what it is meant to be)."""
    import pickle

    path = Path(path).expanduser()
    if not path.is_file():
        raise FileNotFoundError(f"{what} {path} does not exist")
    if path.suffix == ".safetensors":
        from safetensors.torch import load_file

        try:
            content = load_file(str(path), device=str(map_location))
        except Exception as err:
            raise CheckpointError(f"{what} {path}: unreadable safetensors file "
                                  f"({type(err).__name__}: {err})") from err
        _refuse_non_finite(content, path, what)
        return content
    try:
        content = torch.load(path, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as err:
        text = str(err)
        found = re.search(r"Unsupported global: GLOBAL (\S+)", text)
        if found:
            reason = f"it asks for {found.group(1)}"
            raise CheckpointError(
                f"{what} {path}: refused, it holds objects other than tensors and plain "
                "containers (loaded with weights_only=True: such a file could run code; "
                f"{reason})") from err
        raise CheckpointError(f"{what} {path}: corrupt or not a torch file (the unpickler "
                              "stopped on unexpected bytes)") from err
    except Exception as err:  # truncated zip, not a torch file, ...
        raise CheckpointError(f"{what} {path}: corrupt, truncated or not a torch file "
                              f"({type(err).__name__}: {err})") from err
    _refuse_non_finite(content, path, what)
    return content


def _refuse_non_finite(content: Any, path: Path, what: str) -> None:
    """Raise :class:`CheckpointError` naming the file and the first entry whose floating-point
    tensor holds NaN or inf: such weights would only give NaN samples or scores later."""
    stack: list[tuple[str, Any]] = [("", content)]
    while stack:
        key, value = stack.pop()
        if isinstance(value, torch.Tensor):
            if value.is_floating_point() and not torch.isfinite(value).all():
                n = int((~torch.isfinite(value)).sum())
                raise CheckpointError(f"{what} {path}: {n} NaN/inf values in {key or 'the file'} "
                                      "(weights of a diverged run?); refused")
        elif isinstance(value, Mapping):
            stack += [(f"{key}.{k}" if key else str(k), v) for k, v in value.items()]
        elif isinstance(value, (list, tuple)):
            stack += [(f"{key}[{i}]", v) for i, v in enumerate(value)]


def check_state_dict(module: nn.Module, state: Mapping[str, Any], source: Any) -> None:
    """Raise :class:`CheckpointError` naming ``source`` unless ``state`` has exactly the keys of
    ``module.state_dict()`` with tensors of the same shapes. Nothing is loaded."""
    if not isinstance(state, Mapping):
        raise CheckpointError(f"{source}: expected a state dict, got {type(state).__name__}")
    own = module.state_dict()
    missing = sorted(set(own) - set(state))
    unexpected = sorted(set(state) - set(own))
    shapes = [f"{k}: file {tuple(state[k].shape)} vs model {tuple(own[k].shape)}"
              for k in own if k in state and isinstance(state[k], torch.Tensor)
              and tuple(state[k].shape) != tuple(own[k].shape)]
    if missing or unexpected or shapes:
        parts = [f"missing {missing[:5]}" if missing else "",
                 f"unexpected {unexpected[:5]}" if unexpected else "",
                 f"shape mismatch {shapes[:5]}" if shapes else ""]
        raise CheckpointError(f"{source} does not fit the {type(module).__name__}: "
                              + "; ".join(p for p in parts if p) + " (nothing was loaded)")


#: What a resumable checkpoint holds besides the objective.
RESUME_KEYS = ("step", "optimizers", "rng", "data_seed", "history", "evals")


def check_resume_state(ckpt: Mapping[str, Any], optimizers: Mapping[str, Any],
                        path: str | Path) -> None:
    """Raise :class:`CheckpointError` naming ``path`` unless ``ckpt`` holds everything a resume
    restores, with one state per optimiser whose parameter groups fit."""
    missing = [k for k in RESUME_KEYS if k not in ckpt]
    states = ckpt.get("optimizers")
    if not missing and not isinstance(states, Mapping):
        missing = ["optimizers"]
    if missing:
        raise CheckpointError(f"{path}: no {', '.join(missing)} in the checkpoint (weights "
                              "only?); it can be sampled from (registry.load) but not "
                              "resumed")
    absent = sorted(set(optimizers) - set(states))
    if absent:
        raise CheckpointError(f"{path}: no optimiser state for {absent} (it has "
                              f"{sorted(states)}); it cannot resume this run")
    for name, opt in optimizers.items():
        groups = states[name].get("param_groups") if isinstance(states[name], Mapping) else None
        own = [len(g["params"]) for g in opt.param_groups]
        theirs = ([len(g.get("params", ())) for g in groups] if isinstance(groups, list)
                  else None)
        if theirs != own:
            raise CheckpointError(f"{path}: the state of optimiser {name!r} does not fit "
                                  f"(parameter groups {theirs} vs {own})")
