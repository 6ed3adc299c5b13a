"""The plan of the classifier study (notebook 06): every configuration and what it answers.

:func:`plan_experiments` lists every configuration (name, the questions it answers, the
arguments of :func:`hsilib.train.classifier.run_experiment`) from the
:class:`hsilib.config.ClassifierConfig` and :class:`hsilib.config.ClassifierStudyConfig`, and
says which parts are skipped and why (pretrained starting points without weight files, checks
without their inputs). A configuration that trains on synthetic crops runs once per generator
replicate (:attr:`Experiment.replicates`: the generator seeds whose exports it reads, one
folder per class and seed); :func:`hsilib.study.grid.run_grid` then trains each configuration
once per classifier seed and replicate.

Under cross-validation (``folds=True``, for ``GANStudyConfig.replicates = "folds"``) the
replicates are the folds: replicate r trains on fold r's training crops (with the synthetic
crops of the generators trained on them), selects on its validation fold and predicts its test
fold, and EVERY configuration, real-only ones included, runs once per fold (each fold has its
own test crops); the runs record the fold, not a generator seed.

The synthetic crops of the main comparison (:data:`MAIN`) enter BOTH classes in the class ratio
of the real training split, so the class prior stays that of the real data and "looks
synthetic" does not predict a class. The original study's mix (synthetic melanoma only,
:data:`MM_ONLY`) keeps its own name, beside a control (:data:`OVERSAMPLED`) that duplicates
real melanoma crops up to the same class prior: the two differ only in where the extra
melanoma crops come from.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from ..models.classifiers import WeightFileError

#: The real-only configuration every other one is compared with.
BASELINE = "real"
#: The main hypothesis: real plus synthetic crops of both classes in the real class ratio.
MAIN = "real+syn"
#: The original study's mix: real plus synthetic melanoma only.
MM_ONLY = "real+synMM"
#: Its control: real melanoma crops duplicated up to the same class prior.
OVERSAMPLED = "real+dupMM"
#: Train on synthetic crops, test on real (per generator replicate).
TSTR = "tstr"
#: Label sanity of the export path: train on REAL training crops written by it, test real.
PASSTHROUGH = "tstr_passthrough"


@dataclass(frozen=True)
class Experiment:
    """One configuration: ``name``, the ``groups`` (questions) it belongs to, a description,
    the arguments of :func:`~hsilib.train.classifier.run_experiment` shared by every run
    (``kwargs``) and those of each generator replicate (``per_replicate``: its synthetic
    folders; empty for a configuration on real data only). With ``by_fold`` the replicates are
    cross-validation folds: the replicate is passed as ``fold``, not ``generator_seed``."""

    name: str
    groups: tuple[str, ...]
    label: str
    kwargs: dict = field(default_factory=dict)
    per_replicate: dict[int, dict] = field(default_factory=dict)
    by_fold: bool = False

    @property
    def replicate_tag(self) -> str:
        """Prefix of a replicate in file names: ``f`` (fold) or ``g`` (generator seed)."""
        return "f" if self.by_fold else "g"

    @property
    def replicates(self) -> tuple[int, ...]:
        """Generator replicates this configuration runs over (none: real data only)."""
        return tuple(self.per_replicate)

    def arguments(self, replicate: int | None) -> dict[str, Any]:
        """Keyword arguments of ``run_experiment`` for one replicate (None: no replicates)."""
        if replicate is None:
            if self.per_replicate:
                raise ValueError(f"{self.name!r} runs per generator replicate "
                                 f"{list(self.replicates)}; name one")
            return dict(self.kwargs)
        if replicate not in self.per_replicate:
            raise ValueError(f"{self.name!r} has no generator replicate {replicate}; it has "
                             f"{list(self.replicates)}")
        key = "fold" if self.by_fold else "generator_seed"
        return {**self.kwargs, **self.per_replicate[replicate], key: replicate}

    def spec(self, replicate: int | None) -> dict[str, Any]:
        """What one run of this configuration depends on (hashed by the grid)."""
        return {"name": self.name, "groups": self.groups, "label": self.label,
                "arguments": self.arguments(replicate)}


def plan_experiments(cfg, study, synthetic_dirs: Mapping[int, Mapping[str, str | Path]],
                     passthrough_dirs: Mapping | None = None, folds: bool = False
                     ) -> tuple[list[Experiment], list[str]]:
    """All configurations of notebook 06 and a list of plain-English notes on skipped parts.

    ``cfg`` is the :class:`~hsilib.config.ClassifierConfig` (its weight files), ``study`` the
    :class:`~hsilib.config.ClassifierStudyConfig` (mixes, learning-curve fractions);
    ``synthetic_dirs`` maps each generator replicate (seed) to its exported folders
    ``{"MM": ..., "DN": ...}``; ``passthrough_dirs`` (the same per class) holds the real
    training crops written through the export path (:func:`hsilib.synth.write_synthetic`),
    for the label-sanity check. Weight files named in ``cfg`` must exist (a clear error
    otherwise); unset ones skip their experiments.

    ``folds``: the keys of ``synthetic_dirs`` are cross-validation folds (the exports of the
    generators trained on each fold's training crops) and ``passthrough_dirs`` maps each fold
    to its folders (that fold's training crops); every configuration then runs once per fold
    (module docstring), and the baseline is scored on its own fold's exports only (split
    ``test_synthetic``).
    """
    if not synthetic_dirs:
        raise ValueError("synthetic_dirs is empty: give at least one generator replicate")
    reps = tuple(synthetic_dirs)
    both = {g: dict(synthetic=dict(d)) for g, d in synthetic_dirs.items()}
    mm_only = {g: dict(synthetic={"MM": d["MM"]}) for g, d in synthetic_dirs.items()}
    total = dict(n_synthetic_total=study.n_synthetic_total)
    n_mm = study.n_synthetic_mm_only
    trts = {f"synthetic_g{g}": [d["MM"], d["DN"]] for g, d in synthetic_dirs.items()}
    trts_args, trts_per = (({}, {g: dict(extra_test={"synthetic": [d["MM"], d["DN"]]})
                             for g, d in synthetic_dirs.items()}) if folds
                           else (dict(extra_test=trts), {}))
    plan = [
        Experiment(BASELINE, ("main", "confound", "conventional", "curve", "synthetic_only"),
                   "real only (baseline)", trts_args, trts_per),
        Experiment(MAIN, ("main", "conventional", "curve"),
                   f"real + {study.n_synthetic_total} synthetic, MM:DN as in real training",
                   total, both),
        Experiment(MM_ONLY, ("confound",),
                   f"real + {n_mm} synthetic MM only (the original study's mix)",
                   dict(n_synthetic={"MM": n_mm}), mm_only),
        Experiment(OVERSAMPLED, ("confound",),
                   f"real + {n_mm} duplicated real MM (same class prior as {MM_ONLY})",
                   dict(duplicate_mm=n_mm)),
        Experiment("augment", ("conventional",), "real + augmentations", dict(augment=True)),
        Experiment("focal", ("conventional",), "real, focal loss", dict(loss="focal")),
        Experiment("balanced", ("conventional",), "real, class-balanced batches",
                   dict(balanced=True)),
        Experiment("syn+augment", ("conventional",), f"as {MAIN}, + augmentations",
                   dict(total, augment=True), both),
    ]
    for f in sorted(x for x in study.fractions if x < 1):
        pct = round(100 * f)
        plan += [Experiment(f"{BASELINE}_{pct}%", ("curve",), f"{pct}% of real",
                            dict(fraction=f)),
                 Experiment(f"{MAIN}_{pct}%", ("curve",),
                            f"{pct}% of real + {study.n_synthetic_total} synthetic (real ratio)",
                            dict(total, fraction=f), both)]
    n_tstr = {"MM": study.n_synthetic_tstr, "DN": study.n_synthetic_tstr}
    skipped = []
    tstr_runs = {}
    for i, g in enumerate(reps):
        run = dict(both[g])
        if len(reps) > 1:  # held out: the next replicate's export, never seen in training
            other = synthetic_dirs[reps[(i + 1) % len(reps)]]
            run["extra_test"] = {"heldout": [other["MM"], other["DN"]]}
        tstr_runs[g] = run
    if len(reps) == 1:
        skipped.append("TSTR on held-out synthetic crops skipped: it needs a second generator "
                       "replicate (GANStudyConfig.generator_seeds)")
    plan.append(Experiment(TSTR, ("synthetic_only",), "synthetic only (TSTR)",
                           dict(real_train=False, n_synthetic=n_tstr), tstr_runs))
    if passthrough_dirs is None:
        skipped.append("label sanity of the export path skipped: no pass-through folders")
    elif folds:
        if set(passthrough_dirs) != set(reps):
            raise ValueError(f"passthrough_dirs must map every fold {list(reps)} to its folders, "
                             f"got keys {list(passthrough_dirs)}")
        plan.append(Experiment(PASSTHROUGH, ("synthetic_only",),
                               "real training crops through the export path, then TSTR",
                               dict(real_train=False, n_synthetic={"MM": None, "DN": None}),
                               {r: dict(synthetic=dict(d)) for r, d in passthrough_dirs.items()}))
    else:
        plan.append(Experiment(PASSTHROUGH, ("synthetic_only",),
                               "real training crops through the export path, then TSTR",
                               dict(real_train=False, synthetic=dict(passthrough_dirs),
                                    n_synthetic={"MM": None, "DN": None})))
    for key, what, attr in (("imagenet", "generalist ImageNet", "pretrained_weights"),
                            ("isic", "specialist ISIC melanoma", "specialist_weights")):
        path = getattr(cfg, attr)
        if path is None:
            skipped.append(f"{what} starting point skipped: ClassifierConfig.{attr} is not set "
                           "(nothing is downloaded; point it at a local 3-channel checkpoint)")
            continue
        if not Path(path).expanduser().is_file():
            raise WeightFileError(f"ClassifierConfig.{attr} = {path!r}: no such file")
        plan += [Experiment(key, ("pretrained",), f"{what}, fine-tuned", dict(weights=path)),
                 Experiment(f"{key}+syn", ("pretrained",), f"{what} + synthetic",
                            dict(total, weights=path), both),
                 Experiment(f"{key}_probe", ("pretrained",), f"{what}, linear probe",
                            dict(weights=path, freeze_backbone=True))]
    if folds:  # every configuration once per fold: each fold has its own test crops
        plan = [replace(e, by_fold=True, per_replicate=e.per_replicate or {r: {} for r in reps})
                for e in plan]
    return plan, skipped
