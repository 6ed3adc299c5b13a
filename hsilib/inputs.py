"""What each notebook reads from the notebooks before it: one table, checked before it starts.

The notebooks pass data to each other only through the run folder (:mod:`hsilib.paths`).
:data:`INPUTS` declares, per notebook, every file or folder of the run folder it reads from an
earlier notebook, with the notebook that writes it. :func:`hsilib.notebook.setup` checks the
declaration before a notebook does anything (:func:`check_inputs`), so a notebook whose inputs
are missing stops in its first cell with the full list and the command that makes them, not
half an hour into a training; ``run_all.py --upto NN`` runs exactly the notebooks that notebook
``NN`` reads from (:func:`upstream`).

An entry of :data:`INPUTS` is one of

- an :class:`Input`: files that must all exist (``optional=True``: read when present, never
  required, e.g. notebook 02's SHS-GAN rows that notebook 04 adds to its table when 02 ran);
- an :class:`AnyOf`: at least one of several inputs (notebook 07 needs the checkpoints of at
  least one generator family of ``proportion_study.generators``);
- a function of the resolved config returning such entries (one per generator family a
  section names, say).

Paths are relative to the run folder and may be glob patterns. Inputs whose names depend on
the profile (generator seeds ``g<k>`` or folds ``f<k>``, optional arms, the families a section
names) are functions of the resolved config, the same config the notebook runs with (a dry
run's capped one included). A declared input's ``when`` turns it off under configs that do not
read it (the fold tables under ``replicates = "seeds"``).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .data.splits import fold_files
from .labels import BINARY_CLASSES
from .paths import MissingInputError, RunPaths, manifest_field, run_all_command

#: Every notebook by number: its name (the file stem; ``made_by`` of :meth:`RunPaths.require`).
NOTEBOOKS: dict[str, str] = {
    "01": "01_preprocessing",
    "02": "02_shsgan_ablations",
    "03": "03_fastgan",
    "04": "04_conditional",
    "05": "05_vae",
    "06": "06_classifiers",
    "07": "07_proportions",
    "08": "08_metric_correlation",
    "09": "09_explainability",
}

#: The notebook that trains (and exports) each generator family, by family name; notebook 02's
#: arms are ``shsgan_<arm>`` (:func:`family_maker`).
FAMILY_MAKERS: dict[str, str] = {
    "fastgan": "03", "stylegan2": "03",
    "cfastgan": "04", "spade_mask": "04", "spade_rgb": "04", "cyclegan": "04",
    "classcond": "04", "perclass": "04",
    "vae": "05", "vae_gauss": "05", "cvae": "05",
}
#: Under cross-validation only notebook 03 trains a generator inside each fold; notebooks 02,
#: 04 and 05 train on notebook 01's split (``g<seed>`` names) whatever the profile.
FOLD_MAKERS = frozenset({"03"})

_REL = RunPaths(Path(""))  # the run layout relative to the run folder


def _rel(path: Path) -> str:
    return path.as_posix()


Study = Any  # a resolved hsilib.config.StudyConfig
Condition = Callable[[Study], bool]
PathsSpec = Sequence[str] | Callable[[Study], Sequence[str]]


@dataclass(frozen=True)
class Input:
    """Files of the run folder that notebook ``made_by`` (``"01"``) writes: ``paths`` (relative,
    glob patterns allowed; or a function of the resolved config that returns them), all needed
    when ``when`` (default: always) holds for the config. ``optional``: read when present, not
    needed (it still makes ``made_by`` a notebook to run first for :func:`upstream`)."""

    made_by: str
    what: str
    paths: PathsSpec
    when: Condition | None = None
    optional: bool = False

    def resolve(self, study: Study) -> tuple[str, ...]:
        """The paths under ``study``; none when ``when`` does not hold."""
        if self.when is not None and not self.when(study):
            return ()
        return tuple(self.paths(study) if callable(self.paths) else self.paths)

    def missing(self, root: Path, study: Study) -> tuple[str, ...]:
        """The paths of :meth:`resolve` that ``root`` lacks."""
        return tuple(p for p in self.resolve(study) if not exists(root, p))


@dataclass(frozen=True)
class AnyOf:
    """At least one of ``options`` must be complete (each option's paths all present)."""

    what: str
    options: Callable[[Study], Sequence[Input]] | Sequence[Input]
    when: Condition | None = None

    def resolve(self, study: Study) -> tuple[Input, ...]:
        if self.when is not None and not self.when(study):
            return ()
        options = self.options(study) if callable(self.options) else self.options
        return tuple(o for o in options if o.resolve(study))


Entry = Input | AnyOf | Callable[[Study], Iterable[Input | AnyOf]]


@dataclass(frozen=True)
class Missing:
    """What :func:`missing_inputs` reports: the missing ``paths`` of one declared input, or,
    for an :class:`AnyOf` (``options`` set), each option's missing paths."""

    what: str
    made_by: str
    paths: tuple[str, ...] = ()
    options: tuple[Missing, ...] = ()

    def lines(self) -> list[str]:
        """The message's lines of this missing input: what, which notebook, the paths."""
        if not self.options:
            return [f"  {self.what} (notebook {NOTEBOOKS.get(self.made_by, self.made_by)}):",
                    *(f"    {p}" for p in self.paths)]
        out = [f"  at least one of these, {self.what}:"]
        for o in self.options:
            out.append(f"    {' + '.join(o.paths)}  ({o.what}; notebook "
                       f"{NOTEBOOKS.get(o.made_by, o.made_by)})")
        return out


def exists(root: Path, pattern: str) -> bool:
    """Whether ``root / pattern`` exists (a glob pattern: whether anything matches it)."""
    if any(ch in pattern for ch in "*?["):
        return next(iter(Path(root).glob(pattern)), None) is not None
    return (Path(root) / pattern).exists()


# ---------------------------------------------------------------------------------------------
# The pieces of the table
# ---------------------------------------------------------------------------------------------
def folds(study: Study) -> bool:
    """Whether the generator replicates are folds (``gan_study.replicates == "folds"``)."""
    return study.gan_study.replicates == "folds"


def replicate_tags(study: Study) -> list[str]:
    """The replicates' names in files as notebook 03 writes them: ``f<k>`` for the folds it
    runs (the first ``gan_study.folds_run`` of ``data.n_folds``), else ``g<seed>`` for every
    generator seed."""
    gan = study.gan_study
    if folds(study):
        n = study.data.n_folds
        return [f"f{r}" for r in range(min(n, gan.folds_run or n))]
    return [f"g{s}" for s in gan.generator_seeds]


def _checkpoints(pattern: str, tags: Sequence[str]) -> list[str]:
    """Checkpoint names of ``pattern`` (``{cls}``, ``{tag}``, ``{replicate}``) for each tag and,
    when it names the class, each class."""
    names = []
    for tag in tags:
        for c in BINARY_CLASSES:
            name = pattern.format(cls=c.lower(), tag=tag, replicate=int(tag[1:]))
            if name not in names:
                names.append(name)
    return [_rel(_REL.checkpoints / n) for n in names]


def family_maker(family: str) -> str | None:
    """The notebook that trains generator family ``family`` (None: not one of the project's)."""
    if family.startswith("shsgan"):
        return "02"
    return FAMILY_MAKERS.get(family)


def _families_of(maker: str) -> list[str]:
    """The family names (or, for notebook 02, the prefix of its arms) that ``maker`` trains."""
    return ["shsgan"] if maker == "02" else sorted(f for f, m in FAMILY_MAKERS.items()
                                                  if m == maker)


def _exports(family: str) -> list[str]:
    """Glob patterns of a family's exported sets ``<family>_<mm|dn>_<g|f><k>/index.csv``
    (``family`` may be a pattern itself: ``shsgan*`` for notebook 02's arms)."""
    return [_rel(_REL.synthetic(f"{family}_{c.lower()}_[gf][0-9]*") / "index.csv")
            for c in BINARY_CLASSES]


CROPS = Input("01", "notebook 01's crops, split and normaliser",
              (_rel(_REL.crops / "index.csv"), _rel(_REL.splits / "splits.csv"),
               _rel(_REL.splits / "normalisation.json")))
RGB = Input("01", "the unpaired RGB images", (_rel(_REL.standin / "rgb"),))
KFOLD = Input("01", "the K-fold table (gan_study.replicates = folds)",
              (_rel(_REL.splits / "kfold.csv"),), when=folds)
FOLD_FILES = Input(
    "03", "each fold's split table and normaliser (gan_study.replicates = folds)",
    lambda s: [_rel(p) for r in range(len(replicate_tags(s)))
               for p in fold_files(_REL.splits, r)], when=folds)
FASTGAN_FIRST = Input(
    "03", "FastGAN generators of the first replicate, compared with the VAE",
    lambda s: _checkpoints("fastgan_{cls}_{tag}.pt", replicate_tags(s)[:1]))
FASTGAN_EXPORTS = Input(
    "03", "exported FastGAN crops of every replicate",
    lambda s: [_rel(_REL.synthetic(f"fastgan_{c.lower()}_{t}") / "index.csv")
               for t in replicate_tags(s) for c in BINARY_CLASSES])
CURVE_TEMPLATES = Input(
    "03", "FastGAN generators, the templates of the synthetic learning curve",
    lambda s: _checkpoints("fastgan_{cls}_{tag}.pt", replicate_tags(s)),
    when=lambda s: "curve_synthetic" in s.classifier_study.arms)
SEFA = Input("03", "StyleGAN2-ADA generators of the SeFa arm (skipped when absent)",
             lambda s: _checkpoints("stylegan2_{cls}_{tag}.pt", replicate_tags(s)),
             when=lambda s: "sefa" in s.classifier_study.arms, optional=True)
SHSGAN_ROWS = Input("02", "notebook 02's SHS-GAN rows of the RGB-to-HS table (added when present)",
                    (_rel(_REL.results / "02_rgb_to_hs.csv"),), optional=True)


def classifier_families(study: Study) -> list[Input]:
    """Notebook 06's extra generator families (``classifier_study.families`` that
    ``syn_families`` or ``tstr_families`` use): each drawn when its checkpoints exist, skipped
    with a note otherwise."""
    cs = study.classifier_study
    wanted = set(cs.syn_families) | set(cs.tstr_families)
    return [Input(maker, f"{name} generators (drawn when present)",
                  _checkpoints(pattern, replicate_tags(study)), optional=True)
            for name, pattern, _ in cs.families
            if name in wanted and (maker := family_maker(name)) is not None]


def proportion_families(study: Study) -> list[Input]:
    """Each replicate's checkpoints of each family of ``proportion_study.generators`` that can
    run under this config (under cross-validation, only families trained inside a fold)."""
    out = []
    for name, pattern in study.proportion_study.generators:
        maker = family_maker(name)
        if maker is None or (folds(study) and ("{tag}" not in pattern
                                              or maker not in FOLD_MAKERS)):
            continue
        for tag in replicate_tags(study) if "{tag}" in pattern else replicate_tags(study)[:1]:
            out.append(Input(maker, f"{name} generators, {tag}", _checkpoints(pattern, [tag])))
    return out


#: Notebook 08's states: every generator checkpoint of the generator notebooks.
GENERATOR_CHECKPOINTS = tuple(
    Input(maker, f"notebook {maker}'s generators",
          tuple(_rel(_REL.checkpoints / f"{f}_*.pt") for f in _families_of(maker)))
    for maker in ("02", "03", "04", "05"))


def correlation_states(study: Study) -> list[Input | AnyOf]:
    """The run's generators are states of notebook 08 when present; without the oracle ladder
    (``correlation_study.oracle`` off) they are all it has, so at least one is needed."""
    optional = [Input(i.made_by, i.what, i.paths, optional=True) for i in GENERATOR_CHECKPOINTS]
    if study.correlation_study.oracle:
        return optional
    return [AnyOf("generators of the run (correlation_study.oracle is off)",
                  GENERATOR_CHECKPOINTS)]


def explained_families(study: Study) -> list[Input]:
    """Notebook 09's synthetic families: each of ``explain_study.families`` must have exports;
    with none named, every exported family present is compared."""
    named = study.explain_study.families
    if named is None:
        return [Input(maker, f"notebook {maker}'s exported sets (compared when present)",
                      tuple(p for f in _families_of(maker) for p in _exports(f + "*")),
                      optional=True)
                for maker in ("02", "03", "04", "05")]
    return [Input(family_maker(f), f"exported {f} crops (explain_study.families)", _exports(f))
            for f in named if family_maker(f) is not None]


#: Per notebook: what it reads from the notebooks before it (module docstring).
INPUTS: dict[str, tuple[Entry, ...]] = {
    "01": (),
    "02": (CROPS, RGB),
    "03": (CROPS, KFOLD),
    "04": (CROPS, RGB, SHSGAN_ROWS),
    "05": (CROPS, FASTGAN_FIRST),
    "06": (CROPS, KFOLD, FOLD_FILES, FASTGAN_EXPORTS, CURVE_TEMPLATES, SEFA,
           classifier_families),
    "07": (CROPS, KFOLD, FOLD_FILES,
           lambda s: [AnyOf("checkpoints of a family of proportion_study.generators",
                            proportion_families(s))]),
    "08": (CROPS, KFOLD, FOLD_FILES, correlation_states),
    "09": (CROPS, explained_families),
}


# ---------------------------------------------------------------------------------------------
# Checking and the dependency graph
# ---------------------------------------------------------------------------------------------
def _known(notebook: str) -> str:
    if notebook not in INPUTS:
        raise ValueError(f"notebook {notebook!r}: no declared inputs; known notebooks: "
                         f"{', '.join(INPUTS)}")
    return notebook


def declared(notebook: str, study: Study) -> list[Input | AnyOf]:
    """Notebook ``notebook``'s declared inputs under the resolved config ``study``, the
    functions of :data:`INPUTS` expanded and inputs turned off by ``when`` left out."""
    out: list[Input | AnyOf] = []
    for entry in INPUTS[_known(notebook)]:
        for item in (entry(study) if callable(entry) else (entry,)):
            if isinstance(item, Input) and item.resolve(study):
                out.append(item)
            elif isinstance(item, AnyOf) and item.resolve(study):
                out.append(item)
    return out


def producers(notebook: str, study: Study, *, optional: bool = True) -> set[str]:
    """The notebooks whose outputs ``notebook`` reads under ``study``: every maker of a
    required input, of any option of an :class:`AnyOf` and (``optional``) of an optional
    input."""
    out = set()
    for item in declared(notebook, study):
        if isinstance(item, AnyOf):
            out |= {o.made_by for o in item.resolve(study)}
        elif optional or not item.optional:
            out.add(item.made_by)
    return out


def missing_inputs(notebook: str, study: Study, root: str | os.PathLike) -> list[Missing]:
    """Every declared input of ``notebook`` that the run folder ``root`` lacks (optional ones
    are never missing)."""
    root, out = Path(root), []
    for item in declared(notebook, study):
        if isinstance(item, AnyOf):
            options = item.resolve(study)
            lacking = [Missing(o.what, o.made_by, o.missing(root, study)) for o in options]
            if all(m.paths for m in lacking):
                out.append(Missing(item.what, options[0].made_by, options=tuple(lacking)))
        elif not item.optional and (gone := item.missing(root, study)):
            out.append(Missing(item.what, item.made_by, gone))
    return out


def check_inputs(notebook: str, study: Study, run: RunPaths, *, profile: str, seed: int = 0,
                 dry_run: bool = False) -> None:
    """Raise :class:`~hsilib.paths.MissingInputError` listing every declared input of
    ``notebook`` that the run folder lacks, with the ``run_all.py`` command (this profile, this
    run folder) that makes them; nothing when all are there."""
    missing = missing_inputs(notebook, study, run.root)
    if not missing:
        return
    kw = dict(seed=seed, dry_run=dry_run, data_dir=manifest_field(run.root, "data_dir"))
    makers = sorted({m.made_by for m in missing})
    lines = [f"notebook {NOTEBOOKS.get(notebook, notebook)} cannot start: the run folder "
             f"{run.root} lacks what earlier notebooks write:"]
    for m in missing:
        lines += m.lines()
    lines += ["Run the notebooks it reads from first (those up to date are skipped), and this "
              "one after them:",
              f"  {run_all_command(run.root, profile, upto=notebook, **kw)}",
              "or only the notebooks that write the missing files:",
              f"  {run_all_command(run.root, profile, only=makers, **kw)}"]
    raise MissingInputError("\n".join(lines))


def upstream(target: str, study_of: Callable[[str], Study]) -> list[str]:
    """Notebook ``target`` and the notebooks it reads from, in run order: the notebooks
    ``run_all.py --upto`` runs. Every notebook ``target`` reads from counts, optional inputs
    included (so that ``target`` gives what it gives in a run of every notebook), and, behind
    them, the notebooks that those need (required inputs, and the options of an
    :class:`AnyOf`); what the notebooks before ``target`` read only when present does not
    change what they write for ``target`` and is not run for it. ``study_of(NN)``: notebook
    ``NN``'s resolved config (its own overrides applied), which decides its profile-dependent
    inputs."""
    seen = {_known(target)}
    todo = sorted(producers(target, study_of(target)))
    while todo:
        nn = todo.pop()
        if nn in seen:
            continue
        seen.add(_known(nn))
        todo += sorted(producers(nn, study_of(nn), optional=False) - seen)
    return sorted(seen)
