"""The dry run: a profile at its real shapes with every loop cut to a couple of iterations.

``run_all.py --profile full --dry-run`` runs every notebook with :func:`dry_run` applied to the
resolved profile. Shapes stay as they are (crop and image sizes, widths, batch sizes, the
classifier's architecture and input size, every family, arm and mix, the fold
machinery); what makes a run long is cut, and the cut follows each field's declaration, not a
list of names, so a field added later is cut by how it is declared:

- a field bounded above by :data:`~hsilib.config.bounds.MAX_STEPS` (optimiser steps; its
  :attr:`~hsilib.config.engine.Range.kind` is ``steps``) runs at most :data:`DRY_STEPS`
  steps; in a section that trains (it has a ``steps`` field) every other step field
  (intervals such as ``checkpoint_every``, positions such as ``decay_start`` or snapshot
  steps) at most ``DRY_STEPS - 1``, so that what happens along training still happens inside
  it (a tuple keeps its distinct capped values; ``None``, "no limit", is capped too); so is
  a field a section lists in its ``DRY_INSIDE`` (the length of a run that another continues,
  such as ``gan_study.compare_steps``);
- a field bounded by :data:`~hsilib.config.bounds.MAX_EPOCHS` (epochs, patience, probe epochs)
  at most :data:`DRY_EPOCHS`;
- a count bounded by :data:`~hsilib.config.bounds.MAX_COUNT` (samples drawn, pixels,
  bootstrap resamples, permutations, evaluation crops), or declared a count with a smaller
  bound (``Range(1, 1000, kind="count")``: repeats, a probe's folds, integration points), at
  most the ``smoke`` profile's value of the same field: the smallest value the test suite
  shows to carry every code path (a k-NN metric needs more than k samples, an interval more
  than one resample);
- a seed list (declared ``SEED`` and ``NON_EMPTY``) keeps its first seed, and a number of
  replicates (:attr:`~hsilib.config.engine.Range.kind` ``replicates``, e.g. the folds a
  cross-validation runs) becomes 1: one replicate of each kind (the folds are still made, and
  the first of them runs).

A section's ``DRY_VALUES`` sets fields that only a dry run limits (the classifier's
``max_predict``: the crops per class and split its trained models predict), and its
``DRY_KEEP`` names step fields left as they are: intervals whose event already happens at the
first step (StyleGAN2's lazy regularisers, at every step a multiple of theirs), so that the
dry run's two steps are one regularised step and one plain step, as training mixes them,
rather than two regularised ones. A section with a ``dry`` method makes its own last cut
(notebook 07's grid keeps its largest amount and those with filtered arms, notebook 08's
oracle ladder every corruption kind at its strongest level).

Zero stays zero (0 turns a part off, and a dry run must not turn parts on), and every capped
value respects the field's lower bound. A dry run's numbers (scores, intervals, verdicts) mean
nothing; it measures seconds per step and memory (the training records of :mod:`hsilib.train.watch`)
and proves that every code path runs at the profile's shapes.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from .engine import NON_EMPTY, SEED, Range, Section, declared

#: Steps a dry run trains: two, so that a training's second step (past the first one's warm-up)
#: is measured, and along-training events placed at step 1 still happen inside it. A full-width
#: StyleGAN2-ADA step at 256 px takes minutes on a 2-core CPU, so every further step would cost
#: the dry run minutes and buy nothing it measures.
DRY_STEPS = 2
#: Epochs a dry run trains.
DRY_EPOCHS = 1


def _bound(markers: tuple[Any, ...]) -> Range | None:
    return next((m for m in markers if isinstance(m, Range)), None)


def _numbers(value: Any) -> list[int]:
    """The integers of a value, of a tuple of them or of a tuple of tuples (none: [])."""
    if isinstance(value, tuple):
        return [n for item in value for n in _numbers(item)]
    return [value] if isinstance(value, int) and not isinstance(value, bool) else []


def _cap_number(value: Any, cap: int, low: float | None) -> Any:
    if value is None:
        return cap
    if isinstance(value, tuple):  # a pair of counts, say
        return tuple(_cap_number(v, cap, low) for v in value)
    if isinstance(value, bool) or not isinstance(value, int) or value == 0:
        return value
    capped = min(value, cap)
    return max(capped, int(low)) if low is not None else capped


def capped(value: Any, markers: tuple[Any, ...], smoke: Any, *, inside: bool = False) -> Any:
    """``value`` of a field declared with ``markers`` as a dry run runs it (module
    docstring); ``smoke`` is the field's value under the ``smoke`` profile; ``inside``: a step
    field of a training section other than ``steps`` itself."""
    if SEED in markers and NON_EMPTY in markers and isinstance(value, tuple):
        return value[:1]
    bound = _bound(markers)
    if bound is not None and bound.kind == "replicates":
        return 1
    if bound is None or bound.kind not in ("steps", "epochs", "count"):
        return value
    low = bound.ge if bound.ge is not None else (bound.gt + 1 if bound.gt is not None else None)
    if bound.kind == "count":
        smallest = _numbers(smoke)
        if not smallest:
            return value  # no smoke value to go by (None: "all"): unchanged
        cap = max(smallest)  # a tuple of counts: each at most the smoke tuple's largest
    elif bound.kind == "steps":
        cap = DRY_STEPS - 1 if inside else DRY_STEPS
    else:
        cap = DRY_EPOCHS
    if isinstance(value, tuple):
        return tuple(dict.fromkeys(_cap_number(v, cap, low) for v in value))
    return _cap_number(value, cap, low)


def dry_run(cfg: Section, smoke: Section | None = None) -> Section:
    """``cfg`` (a resolved profile, or one section of it) as a dry run runs it: every step,
    epoch and count field capped and every seed list cut to its first seed (module
    docstring). ``smoke``: the same section under the ``smoke`` profile (default: resolved
    here). Nested sections are capped alike; the result is checked like any section."""
    if smoke is None:
        from .profiles import resolve, sections

        names = {cls: name for name, cls in sections().items()}
        study = resolve("smoke")
        smoke = study if type(cfg) is type(study) else getattr(study, names[type(cfg)])
    changes = {}
    fields = declared(type(cfg))
    keep = getattr(type(cfg), "DRY_KEEP", ())
    for name, (_, markers) in fields.items():
        value = getattr(cfg, name)
        if name in keep:
            continue
        if isinstance(value, Section):
            changes[name] = dry_run(value, getattr(smoke, name))
        else:
            changes[name] = capped(value, markers, getattr(smoke, name),
                                   inside=("steps" in fields and name != "steps")
                                   or name in getattr(type(cfg), "DRY_INSIDE", ()))
    changes.update(getattr(type(cfg), "DRY_VALUES", {}))
    out = dataclasses.replace(cfg, **changes)
    return out.dry() if hasattr(out, "dry") else out
