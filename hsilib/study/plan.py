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

The optional arms (``ClassifierStudyConfig.arms``, :data:`hsilib.config.CLASSIFIER_ARMS`;
:func:`arm_table` lists which profile runs which) add: focal loss with balanced batches,
ResNet50, hand-chosen synthetic counts per class, TSTR at other class ratios, the SeFa edits of
real training melanomas, the main mix with other generator families (``syn_families``) and
TSTR with them (``tstr_families``: one class-conditional generator for both classes against
one generator per class, check 11c), and the synthetic half of the learning curve. A reduced
arm's synthetic crops must come from generators trained on that arm's own subsample (else the
real crops the arm leaves out leak back in through them): the curve's subsample is then drawn
once per replicate (``subsample_seed`` = the replicate, the one its generators saw), and its
real-only arms run per replicate too, so that each pair differs only in the synthetic crops.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import pandas as pd

from .. import config as config_mod
from ..models.classifiers import WeightFileError
from .grid import CELL_FILE

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


Folders = Mapping[int, Mapping[str, "str | Path"]]  # replicate -> class -> crop folder


def plan_experiments(cfg, study, synthetic_dirs: Folders, passthrough_dirs: Mapping | None = None,
                     folds: bool = False, *, families: Mapping[str, Folders] | None = None,
                     curve_dirs: Mapping[float, Folders] | None = None,
                     sefa_dirs: Mapping[int, str | Path] | None = None
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

    Inputs of the optional arms (each runs only when ``study.arms`` or its family list asks
    for it, and is skipped with a note when its input is missing): ``families`` maps a family
    name to its synthetic folders per replicate and class; ``curve_dirs`` maps a fraction < 1
    to the folders of the generators trained on that fraction's subsample; ``sefa_dirs`` maps a
    replicate to its folder of SeFa-edited training melanomas. Under cross-validation an arm
    whose folders miss a fold is skipped (every configuration must run in every fold).
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
    arms, skipped = set(study.arms), []
    if "focal+balanced" in arms:
        plan.append(Experiment("focal+balanced", ("conventional",),
                               "real, focal loss + class-balanced batches",
                               dict(loss="focal", balanced=True)))
    plan += _curve(study, total, curve_dirs if "curve_synthetic" in arms else None, reps,
                   folds, skipped)
    n_tstr = {"MM": study.n_synthetic_tstr, "DN": study.n_synthetic_tstr}
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
    plan += _optional_arms(study, synthetic_dirs, both, total, families or {}, sefa_dirs,
                           reps if folds else None, skipped)
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


def _curve(study, total: dict, curve_dirs: Mapping[float, Folders] | None,
           reps: tuple[int, ...], folds: bool, skipped: list[str]) -> list[Experiment]:
    """The reduced arms of the learning curve (module docstring): real only at each fraction
    < 1 and, where generators were trained on the fraction's subsample (``curve_dirs``), real +
    their synthetic crops, both on the subsample of each replicate."""
    out = []
    for f in sorted(x for x in study.fractions if x < 1):
        pct = round(100 * f)
        dirs = (curve_dirs or {}).get(f)
        if dirs and folds and set(dirs) != set(reps):
            skipped.append(f"learning curve at {pct}%: its generators miss folds "
                           f"{sorted(set(reps) - set(dirs))}; real only")
            dirs = None
        if not dirs:
            out.append(Experiment(f"{BASELINE}_{pct}%", ("curve",), f"{pct}% of real",
                                  dict(fraction=f)))
            skipped.append(f"learning curve at {pct}%: real only (synthetic crops there need "
                           "generators trained on the subsample: the curve_synthetic arm)")
            continue
        out += [Experiment(f"{BASELINE}_{pct}%", ("curve",),
                           f"{pct}% of real (subsample r for replicate r)", dict(fraction=f),
                           {r: dict(subsample_seed=r) for r in dirs}),
                Experiment(f"{MAIN}_{pct}%", ("curve",),
                           f"{pct}% of real + {study.n_synthetic_total} synthetic (real ratio) "
                           "from generators trained on that subsample",
                           dict(total, fraction=f),
                           {r: dict(synthetic=dict(d), subsample_seed=r)
                            for r, d in dirs.items()})]
    return out


def _count(folder: str | Path) -> int:
    """Crops in a crop folder (rows of its ``index.csv``)."""
    return len(pd.read_csv(Path(folder) / "index.csv"))


def _optional_arms(study, synthetic_dirs: Folders, both: dict, total: dict,
                   families: Mapping[str, Folders], sefa_dirs: Mapping | None,
                   folds: tuple[int, ...] | None, skipped: list[str]) -> list[Experiment]:
    """The optional arms of ``study`` (module docstring) with the inputs they need."""
    arms, out, n_tstr = set(study.arms), [], study.n_synthetic_tstr

    def complete(name: str, dirs: Mapping) -> bool:
        if folds is not None and set(dirs) != set(folds):
            skipped.append(f"{name}: skipped, its synthetic crops miss folds "
                           f"{sorted(set(folds) - set(dirs))}")
            return False
        return True

    if "resnet50" in arms:
        out += [Experiment("resnet50", ("architecture",), "ResNet50, real only",
                           dict(arch="resnet50")),
                Experiment("resnet50+syn", ("architecture",),
                           f"ResNet50, real + {study.n_synthetic_total} synthetic (real ratio)",
                           dict(total, arch="resnet50"), both)]
    for m, d in study.mixed if "mixed" in arms else ():
        counts = {c: n for c, n in (("MM", m), ("DN", d)) if n}
        out.append(Experiment(f"real+{m}MM+{d}DN", ("proportion",),
                              f"real + {m} synthetic MM + {d} synthetic DN",
                              dict(n_synthetic=counts),
                              {g: dict(synthetic={c: dirs[c] for c in counts})
                               for g, dirs in synthetic_dirs.items()}))
    for ratio in study.tstr_ratios if "tstr_ratio" in arms else ():
        n_dn = n_tstr or min(_count(d[c]) for d in synthetic_dirs.values() for c in ("MM", "DN"))
        n = {"MM": max(1, round(n_dn / ratio)), "DN": n_dn}
        out.append(Experiment(f"{TSTR}_1to{ratio:g}", ("synthetic_only",),
                              f"synthetic only (TSTR), {n['MM']} MM : {n['DN']} DN",
                              dict(real_train=False, n_synthetic=n), both))
    for name in study.syn_families:
        if name not in families:
            skipped.append(f"{MAIN}_{name}: skipped, no synthetic sets of {name!r}")
        elif complete(f"{MAIN}_{name}", families[name]):
            out.append(Experiment(f"{MAIN}_{name}", ("families",),
                                  f"real + {study.n_synthetic_total} synthetic from {name} "
                                  "(real ratio)", total,
                                  {r: dict(synthetic=dict(d)) for r, d in families[name].items()}))
    for name in study.tstr_families:
        if name not in families:
            skipped.append(f"{TSTR}_{name}: skipped, no synthetic sets of {name!r}")
        elif complete(f"{TSTR}_{name}", families[name]):
            out.append(Experiment(f"{TSTR}_{name}", ("synthetic_only", "fingerprint"),
                                  f"synthetic only (TSTR) from {name}",
                                  dict(real_train=False, n_synthetic={"MM": n_tstr, "DN": n_tstr}),
                                  {r: dict(synthetic=dict(d)) for r, d in families[name].items()}))
    if "sefa" in arms:
        n_mm = study.n_synthetic_mm_only
        if not sefa_dirs:
            skipped.append("real+sefaMM: skipped, no SeFa-edited melanomas")
        elif complete("real+sefaMM", sefa_dirs):
            out.append(Experiment("real+sefaMM", ("confound", "sefa"),
                                  f"real + {n_mm} SeFa edits of inverted real training MM",
                                  dict(n_synthetic={"MM": n_mm}),
                                  {r: dict(synthetic={"MM": d}) for r, d in sefa_dirs.items()}))
    return out


def arm_table() -> pd.DataFrame:
    """Notebook 06's optional arms and family arms, one row each: what it adds and, per
    profile, whether that profile's ``classifier_study`` runs it (from the config alone)."""
    studies = {p: config_mod.resolve(p, "classifier_study") for p in config_mod.PROFILES}
    rows = [(name, what, {p: name in s.arms for p, s in studies.items()})
            for name, what in config_mod.CLASSIFIER_ARMS.items()]
    for key, prefix, what in (("syn_families", MAIN, "real + synthetic (main mix) from"),
                              ("tstr_families", TSTR, "synthetic only (TSTR) from")):
        names = dict.fromkeys(n for s in studies.values() for n in getattr(s, key))
        rows += [(f"{prefix}_{n}", f"{what} {n}",
                  {p: n in getattr(s, key) for p, s in studies.items()}) for n in names]
    return pd.DataFrame([{"arm": a, "what": w, **{p: "runs" if on else "-"
                                                   for p, on in runs.items()}}
                         for a, w, runs in rows])


def measured_seconds(cells_dir: str | Path, plan: list[Experiment]) -> pd.Series:
    """Training seconds of every configuration of ``plan`` in this run: the sum over its
    stored cells (``cell.json`` of :func:`hsilib.study.grid.run_grid`), as measured when each
    cell ran (a cell stored by an earlier run keeps that run's time)."""
    seconds = dict.fromkeys((e.name for e in plan), 0.0)
    for path in Path(cells_dir).glob(f"*/{CELL_FILE}"):
        cell = json.loads(path.read_text())
        if cell.get("name") in seconds:
            seconds[cell["name"]] += float(cell.get("seconds", 0.0))
    return pd.Series(seconds, name="seconds")
