"""How every notebook opens and closes: one call after ``parameters``, one table at the end.

::

    nb = setup("03", PROFILE, seed=SEED, run_dir=RUN_DIR, overrides=OVERRIDES)
    cfg = nb.cfg                                  # the notebook's own config section
    gan_study = nb.study.gan_study                # another section: named as the section
    nb.savefig(fig, "samples_mm")                 # figures/03_samples_mm.png and .pdf
    nb.save_table(table, "metrics_mm")            # artifacts/results/03_metrics_mm.csv
    ...
    nb.outputs()                                  # the closing section: what this run wrote

:data:`SECTIONS` says which config sections each notebook reads; its first one is the
notebook's own. ``OVERRIDES`` keys are ``key`` (own section) or ``section.key``; they are
checked by :func:`resolve_overrides`, which ``run_all.py`` also calls before the first
notebook runs, so a typo fails in a second, not an hour into a run.
"""

from __future__ import annotations

import os
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from . import config
from .paths import RunPaths, run_paths
from .runtime import device as pick_device
from .runtime import seed_everything

#: Config sections read by each notebook; the first is its own (bare OVERRIDES keys go there).
SECTIONS: dict[str, tuple[str, ...]] = {
    "01": ("data",),
    "02": ("ablation_study", "shsgan", "classic", "metrics"),
    "03": ("fastgan", "gan_study", "metrics", "stylegan2"),
    "04": ("cond_gan", "cyclegan", "conditional_study", "gan_study", "metrics"),
    "05": ("vae", "vae_study", "gan_study", "metrics"),
    "06": ("classifier", "classifier_study", "gan_study"),
    "07": ("proportion_study", "classifier", "gan_study"),
    "08": ("correlation_study", "metrics", "gan_study"),
    "09": ("explain_study", "classifier"),
}


def resolve_overrides(notebook: str, overrides: Mapping[str, Any] | None) -> dict[str, dict]:
    """``{"steps": 200, "metrics.k": 5}`` for notebook ``03`` -> ``{"fastgan": {"steps": 200},
    "metrics": {"k": 5}}``, with the keys and values checked against every profile's config.

    Raises :class:`hsilib.config.ConfigError` naming the notebook and the offending key.
    """
    if notebook not in SECTIONS:
        raise config.ConfigError(f"notebook {notebook!r} has no config sections; known: "
                                 f"{', '.join(SECTIONS)}")
    sections = SECTIONS[notebook]
    out: dict[str, dict] = {}
    for key, value in (overrides or {}).items():
        section, dot, name = key.rpartition(".")
        section = section if dot else sections[0]
        if section not in sections:
            raise config.ConfigError(f"notebook {notebook} does not read config section "
                                     f"{section!r} (override {key!r}); it reads "
                                     f"{', '.join(sections)}")
        out.setdefault(section, {})[name] = value
    for profile in config.PROFILES:
        for section, values in out.items():
            try:
                config.resolve(profile, section, **values)
            except config.ConfigError as exc:
                raise config.ConfigError(f"notebook {notebook} OVERRIDES: {exc}") from None
    return out


@dataclass
class Notebook:
    """What :func:`setup` returns: configs, run folder, device, and the two ways to save."""

    number: str
    study: config.StudyConfig  # every section of the profile, overrides applied
    cfg: Any  # the notebook's own section
    run: RunPaths
    device: Any
    seed: int
    started: float = field(default_factory=time.time)
    #: a dry run (:mod:`hsilib.config.dryrun`): ``study`` is capped, ``planned`` is not
    dry_run: bool = False
    planned: config.StudyConfig | None = None

    def savefig(self, fig: Any, name: str) -> list[Path]:
        """Save ``fig`` as ``figures/<NN>_<name>.png`` and ``.pdf`` (PNG only when the profile's
        ``save_pdf`` is off); returns the written paths."""
        from .plotting import savefig

        return savefig(fig, f"{self.number}_{name}", self.run.figures, pdf=self.study.save_pdf)

    def save_table(self, table: pd.DataFrame, name: str) -> Path:
        """Write ``table`` to ``artifacts/results/<NN>_<name>.csv`` (atomically, no index)."""
        from .data.splits import save_csv

        return save_csv(table, self.run.results / f"{self.number}_{name}.csv")

    def outputs(self, max_per_folder: int = 8) -> pd.DataFrame:
        """The notebook's closing section: every file of the run folder written since
        :func:`setup` (executed notebook copies left out), with its size in kB. A folder that
        holds more than ``max_per_folder`` new files, or more than ``max_per_folder`` sub-folders
        with new files (one per grid cell, say), is one row ``folder/`` with their count."""
        new: dict[Path, list[Path]] = {}  # folder (relative) -> its new files
        for folder, _, files in os.walk(self.run.root):
            rel = Path(folder).relative_to(self.run.root)
            if rel.parts[:1] == ("notebooks",):
                continue
            fresh = [Path(folder) / f for f in files  # run_all.py's lock and status: no output
                     if (Path(folder) / f).stat().st_mtime >= self.started - 1
                     and Path(folder) / f not in (self.run.lock, self.run.root / "status.json")]
            if fresh:
                new[rel] = fresh
        children: dict[Path, set[Path]] = {}
        for rel in new:
            for parent, child in zip(rel.parents, (rel, *rel.parents), strict=False):
                children.setdefault(parent, set()).add(child)
        crowded = {d for d in set(new) | set(children) if d != Path(".") and (
            len(new.get(d, [])) > max_per_folder or len(children.get(d, ())) > max_per_folder)}
        groups: dict[str, list[Path]] = {}
        for rel, fresh in new.items():
            outer = next((d for d in reversed((rel, *rel.parents)) if d in crowded), None)
            for p in fresh:
                key = f"{outer}/" if outer is not None else str(p.relative_to(self.run.root))
                groups.setdefault(key, []).append(p)
        rows = [{"path": key, "files": len(paths),
                 "kB": round(sum(p.stat().st_size for p in paths) / 1024, 1)}
                for key, paths in groups.items()]
        table = pd.DataFrame(rows, columns=["path", "files", "kB"]).sort_values("path")
        if self.dry_run:
            self.save_plan()
            print(DRY_RUN_NOTE)
        return table.reset_index(drop=True)

    def save_plan(self) -> Path:
        """A dry run's measurements: every training this notebook ran
        (:data:`hsilib.train.watch.RECORDS`) with the steps or epochs the undried profile plans
        for it, written to ``artifacts/results/plan_<NN>.csv`` (``run_all.py --dry-run`` joins
        the notebooks' files into ``plan.csv``)."""
        from .train import watch

        rows = [dict(r, notebook=self.number, **planned_units(r, self.planned or self.study))
                for r in watch.RECORDS]
        rows.append({"kind": "notebook", "name": self.number, "notebook": self.number,
                     "seconds": round(time.time() - self.started, 1), **watch.peak_memory_mb()})
        return self.save_table(pd.DataFrame(rows), "plan")


#: What a dry run's notebook says at its end.
DRY_RUN_NOTE = ("DRY RUN: every loop was cut to a couple of steps, epochs and samples; every "
                "number, table, figure and conclusion above means nothing. The run measured "
                "seconds per step and memory (artifacts/results/plan_*.csv) only.")


def planned_units(record: Mapping[str, Any], planned: config.StudyConfig) -> dict[str, Any]:
    """The steps (generators) or epochs x batches (classifiers) the undried profile
    ``planned`` gives the training of ``record`` (:mod:`hsilib.train.watch`):
    ``planned_units`` in the record's units and how they were found. A generator trained for
    its section's ``steps`` plans that section's ``steps`` (less the length of the earlier run
    it continues, ``continues_from``); one whose length comes from another field
    (``steps_from``, e.g. ``gan_study.compare_steps``) plans that field's value; any other
    length (an inversion, say) is scaled as the section's steps are, an estimate that says
    so."""
    if record.get("kind") == "generator":
        names = {cls.__name__: name for name, cls in config.sections().items()}
        section = names.get(str(record.get("section")))
        if section is None:
            return {"planned_units": None, "planned_from": "unknown section"}
        full = int(getattr(planned, section).steps)

        def field(name: str) -> int:  # "gan_study.compare_steps" in the undried profile
            part, _, key = name.rpartition(".")
            return int(getattr(getattr(planned, part), key))

        if isinstance(record.get("steps_from"), str):
            return {"planned_units": field(record["steps_from"]),
                    "planned_from": record["steps_from"]}
        if record.get("target") == record.get("cfg_steps"):
            earlier = record.get("continues_from")
            if isinstance(earlier, str):  # continues an earlier run: the steps past it
                return {"planned_units": full - field(earlier),
                        "planned_from": f"{section}.steps - {earlier}"}
            return {"planned_units": full, "planned_from": f"{section}.steps"}
        scale = full / max(int(record.get("cfg_steps") or 1), 1)
        return {"planned_units": int(round(int(record.get("target") or 0) * scale)),
                "planned_from": f"estimate: target x {section}.steps ratio"}
    if record.get("kind") == "classifier":
        cfg = planned.classifier
        per_epoch = -(-int(record.get("n_train") or 0) // max(int(record["batch_size"]), 1))
        return {"planned_units": int(cfg.epochs) * per_epoch,
                "planned_from": f"classifier.epochs x {per_epoch} batches (no early stop)"}
    return {"planned_units": None, "planned_from": ""}


def resolve_study(notebook: str, profile: str, overrides: Mapping[str, Any] | None = None,
                  dry_run: bool = False) -> tuple[config.StudyConfig, config.StudyConfig]:
    """(planned, used) config of notebook ``notebook`` under ``profile`` with its
    ``overrides``: ``used`` is ``planned`` capped when ``dry_run``
    (:func:`hsilib.config.dryrun.dry_run`). What :func:`setup` runs the notebook with, and what
    ``run_all.py --upto`` reads the notebook's inputs from."""
    from .config.dryrun import dry_run as capped

    planned = config.resolve(profile, **resolve_overrides(notebook, overrides))
    return planned, (capped(planned) if dry_run else planned)


def setup(notebook: str, profile: str, *, seed: int = 0, run_dir: str | os.PathLike | None = None,
          overrides: Mapping[str, Any] | None = None, device: str = "auto",
          dry_run: bool = False, check_inputs: bool = True) -> Notebook:
    """Resolve notebook ``notebook``'s config under ``profile`` with ``overrides``, check that
    the run folder holds everything the notebook reads from earlier notebooks, create the run
    folder, seed Python/NumPy/torch with ``seed`` and pick the device. It also declares the
    notebook to :mod:`hsilib.guard`, so a generator notebook cannot read the test split.
    ``dry_run``: every step, epoch and count of the profile capped
    (:func:`hsilib.config.dryrun.dry_run`); the notebook's last cell then writes what its
    trainings measured (:meth:`Notebook.save_plan`).

    The inputs are those :data:`hsilib.inputs.INPUTS` declares for ``notebook`` under the
    resolved config (a dry run's too); when any is missing,
    :class:`~hsilib.paths.MissingInputError` lists them all with the ``run_all.py`` command that
    makes them, before anything is created or trained. ``check_inputs=False`` skips the check,
    for code that wants a notebook's config and folders without its inputs (tests of parts).
    """
    from . import guard
    from .inputs import check_inputs as check

    planned, study = resolve_study(notebook, profile, overrides, dry_run)
    run = run_paths(run_dir, profile)
    if check_inputs:
        check(notebook, study, run, profile=profile, seed=seed, dry_run=dry_run)
    guard.enter(notebook)  # from here on, the test split is refused unless this notebook may
    seed_everything(seed)
    if dry_run:
        print(DRY_RUN_NOTE.replace("above means", "below will mean"))
    from .train import watch

    watch.follow_cells()  # run_all.py's status.json: which cell runs
    return Notebook(number=notebook, study=study, cfg=getattr(study, SECTIONS[notebook][0]),
                    run=run.make(), device=pick_device(device),
                    seed=seed, dry_run=dry_run, planned=planned)
