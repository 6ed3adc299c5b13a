"""One way to run a generator study: train, sample, evaluate, record, export, audit.

:class:`GeneratorStudy` is built once per generator notebook from what
:func:`hsilib.notebook.setup` returns. It reads notebook 01's crops, split and normaliser (or,
under cross-validation, makes each fold's table and normaliser), and owns the replicate
plumbing: the list of replicates, their names in files (``g<seed>`` / ``f<fold>``), each one's
training seed and data. Every run it trains is a :class:`GeneratorRun` (trainer, checkpoint,
wall time, loss history); :meth:`GeneratorStudy.train_family` trains one generator per class
and replicate in one call and returns a :class:`Family`, which samples, exports and evaluates
them all (the metric protocol against the validation crops, recorded in
``generator_metrics.csv``). Introduced in notebook 03; notebooks 02, 04 and 05 use it too.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from fnmatch import fnmatch
from functools import partial
from pathlib import Path
from typing import Any

import pandas as pd
import torch

from ...data.datasets import BandNormaliser
from ...labels import BINARY_CLASSES
from ...metrics.protocol import evaluate_generator, record_generator_metrics
from ...models import registry
from ...quiet import expected_warnings
from ...synth import export_synthetic, write_synthetic
from ...train.trainer import Trainer, make_trainer, trainer_options
from ...train.watch import board_folder
from ..audit import audit_generators
from .data import ReplicateData, load_replicate, replicate_tables


@contextmanager
def _quiet():
    """The warning FastGAN-based families give when no LPIPS backbone is configured: notebook
    03 explains the fallback once, so training runs stay quiet about it."""
    with expected_warnings("lpips_fallback"):
        yield


@dataclass
class GeneratorRun:
    """One trained generator: ``name`` (its checkpoint's stem), the :class:`Trainer`, the
    class it learnt (None: both), its replicate, the training seconds and the step it reached."""

    name: str
    trainer: Trainer
    checkpoint: Path
    cls: str | None
    replicate: int
    wall_s: float = 0.0
    step: int = 0

    @property
    def objective(self) -> Any:
        return self.trainer.objective

    @property
    def family(self) -> str:
        return self.trainer.objective.family

    def history(self) -> pd.DataFrame:
        """The logged losses, one row per step."""
        return self.trainer.history_frame()


class GeneratorStudy:
    """The generators of one notebook (see the module docstring).

    ``nb``: what :func:`hsilib.notebook.setup` returned (its run folder, config sections,
    device, master seed and ``save_table``). ``image_size``: side of the crops. ``seeds``:
    generator seeds; with ``folds`` the replicates are the folds of ``kfold.csv`` instead,
    each trained with ``seeds[0]``. ``metrics``: the metric protocol's settings (default: the
    profile's ``metrics`` section). ``val_range``: the range the validation crops are loaded
    in ("unit", or "symmetric" where a model reads them, as the VAE's reconstructions do).
    ``fold_files``: under cross-validation, each fold's table and normaliser as an earlier
    notebook wrote them (notebook 06 passes notebook 03's), read instead of made again.
    """

    classes = BINARY_CLASSES

    def __init__(self, nb: Any, *, image_size: int, seeds: Sequence[int], folds: bool = False,
                 metrics: Any = None, val_range: str = "unit",
                 fold_files: Mapping[int, tuple[Path, BandNormaliser]] | None = None) -> None:
        if not seeds:
            raise ValueError("GeneratorStudy: give at least one generator seed")
        self.nb, self.run, self.device, self.seed = nb, nb.run, nb.device, nb.seed
        self.image_size, self.seeds, self.folds = image_size, tuple(seeds), folds
        self.metrics = metrics if metrics is not None else nb.study.metrics
        self.snapshot_steps = tuple(nb.study.gan_study.snapshot_steps)
        self.crops_dir = self.run.require(self.run.crops / "index.csv", "01_preprocessing").parent
        self.splits_csv = self.run.require(self.run.splits / "splits.csv", "01_preprocessing")
        self.sources = pd.read_csv(self.splits_csv, dtype={"id": str, "source": str}
                                   ).set_index("id")["source"]
        base = BandNormaliser.load(self.run.require(self.run.splits / "normalisation.json",
                                                    "01_preprocessing"))
        if folds and fold_files:  # written by an earlier notebook
            self.tables = {r: Path(t) for r, (t, _) in fold_files.items()}
            self.normalisers = {r: n for r, (_, n) in fold_files.items()}
        elif folds:  # replicate r = fold r: its own table and training-split normaliser
            kfold = pd.read_csv(self.run.require(self.run.splits / "kfold.csv",
                                                 "01_preprocessing"),
                                dtype={"id": str, "source": str})
            data_cfg = nb.study.data
            self.tables, self.normalisers = replicate_tables(
                self.run.splits, self.crops_dir, kfold, method=data_cfg.normalisation,
                percentiles=data_cfg.norm_percentiles, seed=self.seed,
                max_folds=nb.study.gan_study.folds_run)
        else:  # replicate r = generator seed r, all on notebook 01's split and normaliser
            self.tables = dict.fromkeys(self.seeds, self.splits_csv)
            self.normalisers = dict.fromkeys(self.seeds, base)
        self.val_range = val_range
        self.runs: dict[str, GeneratorRun] = {}  # every run trained, by name
        self._data: dict[int, ReplicateData] = {}
        # the protocol's feature network, built on first use (see feature_extractor), and the
        # real sets' summaries it read, per replicate (evaluate_generator's ``summaries``)
        self._extractor: tuple[tuple, Any] | None = None
        self._summaries: dict[tuple, dict] = {}

    # -- replicates ------------------------------------------------------------------------
    @property
    def replicates(self) -> tuple[int, ...]:
        """Generator seeds, or fold numbers under cross-validation."""
        return tuple(self.tables)

    @property
    def first(self) -> int:
        """The first replicate (the comparison runs and single-replicate figures use it)."""
        return self.replicates[0]

    @property
    def kind(self) -> str:
        """What a replicate is, in words: ``"fold"`` or ``"generator seed"``."""
        return "fold" if self.folds else "generator seed"

    @property
    def distinct(self) -> tuple[int, ...]:
        """Replicates with data of their own: every fold, or the first seed (seeds share one
        split)."""
        return self.replicates if self.folds else self.replicates[:1]

    def tag(self, r: int) -> str:
        """Replicate ``r``'s name in files: ``f<r>`` for a fold, ``g<r>`` for a seed."""
        self._check(r)
        return f"f{r}" if self.folds else f"g{r}"

    def train_seed(self, r: int) -> int:
        """The seed replicate ``r``'s generators train with."""
        self._check(r)
        return self.seeds[0] if self.folds else r

    def split_table(self, r: int) -> Path:
        """Replicate ``r``'s train/val/test table (a CSV path)."""
        self._check(r)
        return self.tables[r]

    def normaliser(self, r: int | None = None) -> BandNormaliser:
        """Replicate ``r``'s training normaliser (default: the first replicate's)."""
        r = self.first if r is None else r
        self._check(r)
        return self.normalisers[r]

    def data(self, r: int | None = None) -> ReplicateData:
        """Training and validation crops of replicate ``r`` (seeds share one set)."""
        r = self.first if r is None else r
        self._check(r)
        key = r if self.folds else self.first
        if key not in self._data:
            self._data[key] = load_replicate(self.crops_dir, self.tables[key],
                                             self.normalisers[key], self.image_size,
                                             self.sources, val_range=self.val_range)
        return self._data[key]

    def _check(self, r: int) -> None:
        if r not in self.tables:
            raise KeyError(f"replicate {r!r} is not one of {self.replicates} "
                           f"({'folds' if self.folds else 'generator seeds'})")

    # -- value ranges ----------------------------------------------------------------------
    def to_reflectance(self, x: torch.Tensor, r: int | None = None,
                       value_range: str = "symmetric") -> torch.Tensor:
        """Images in ``value_range`` (default the generators' [-1, 1]) -> reflectance."""
        return self.normaliser(r).inverse(x, value_range=value_range, band_axis=1)

    def unit(self, reflectance: torch.Tensor, r: int | None = None) -> torch.Tensor:
        """Reflectance -> [0, 1], the range of the metric protocol."""
        return self.normaliser(r).apply(reflectance, value_range="unit", band_axis=1)

    # -- training --------------------------------------------------------------------------
    def train(self, cfg: Any, name: str, *, cls: str | None = None, replicate: int | None = None,
              data: Any = None, data_ids: Sequence[str] | None = None, sampler: Any = None,
              seed: int | None = None, steps: int | None = None, snapshots: bool = True,
              desc: str | None = None, steps_from: str | None = None,
              **options: Any) -> GeneratorRun:
        """Train a generator of config ``cfg`` (any registered family) for ``steps`` (default
        ``cfg.steps``) into ``checkpoints/<name>.pt``, with snapshots along training at
        ``gan_study.snapshot_steps`` unless ``snapshots`` is False.

        The data: class ``cls``'s training crops of ``replicate`` (default the first), or
        ``data`` (a tensor or a dict of tensors, with ``data_ids``), or a ``sampler`` (e.g. of
        unpaired RGB images; ``data_ids`` name its cubes). ``seed`` defaults to the replicate's
        training seed; ``options`` go to the :class:`Trainer` (e.g. ``lr_schedule``).
        ``steps_from``: the config field ``steps`` comes from when it is not ``cfg.steps``
        (``"gan_study.compare_steps"``), so that a dry run's plan projects the real length.
        """
        r = self.first if replicate is None else replicate
        seed = self.train_seed(r) if seed is None else seed
        if data is None and sampler is None:
            if cls is None:
                raise ValueError(f"{name}: give cls, data or a sampler to train on")
            data, data_ids = self.data(r).images(cls, "train"), self.data(r).ids(cls, "train")
        desc = desc or name
        options.setdefault("tensorboard", board_folder(cfg, self.run.root, name))
        if sampler is None:
            trainer = make_trainer(cfg, data, seed=seed, device=self.device, desc=desc,
                                   data_ids=data_ids, **options)
        else:
            trainer = Trainer(registry.build(cfg, seed=seed), sampler, device=self.device,
                              desc=desc, data_ids=data_ids, **(trainer_options(cfg) | options))
        trainer.steps_from = steps_from
        run = GeneratorRun(name, trainer, self.run.checkpoints / f"{name}.pt", cls, r)
        trainer.resume_if_interrupted(run.checkpoint)  # a rerun after a kill goes on from it
        return self._fit(run, cfg.steps if steps is None else steps, snapshots)

    def resume(self, run: GeneratorRun, name: str, steps: int,
               snapshots: bool = True) -> GeneratorRun:
        """Continue ``run`` to ``steps`` as a new run ``name`` (the trainer resumes exactly;
        its wall time adds to the earlier run's)."""
        again = replace(run, name=name, checkpoint=self.run.checkpoints / f"{name}.pt")
        # the plan counts only the steps past the earlier run's length
        again.trainer.continues_from, again.trainer.steps_from = run.trainer.steps_from, None
        again.trainer.desc = name  # its progress line and training record
        again.trainer.resume_if_interrupted(again.checkpoint)  # its own, when further along
        return self._fit(again, steps, snapshots)

    def _fit(self, run: GeneratorRun, steps: int, snapshots: bool) -> GeneratorRun:
        t0 = time.perf_counter()
        with _quiet():
            run.trainer.fit(steps, checkpoint=run.checkpoint,
                            snapshot_steps=self.snapshot_steps if snapshots else ())
        run.wall_s += time.perf_counter() - t0
        run.step = run.trainer.step
        self.runs[run.name] = run
        return run

    def train_family(self, cfg: Any, prefix: str, *, steps: int | None = None,
                     reuse: Mapping[tuple[str, int], GeneratorRun] | None = None,
                     losses: bool = True) -> Family:
        """One generator per class and replicate, ``<prefix>_<cls>_<tag>`` (e.g.
        ``fastgan_mm_g0``), each on its class's training crops with its replicate's seed.
        ``reuse`` maps ``(cls, replicate)`` to an earlier run of the same config that is
        continued instead (e.g. a comparison run). With ``losses`` each run's history is
        saved as the table ``losses_<name>``."""
        family = Family(self, prefix)
        steps = cfg.steps if steps is None else steps
        for c in self.classes:
            for r in self.replicates:
                name = family.name(c, r)
                earlier = (reuse or {}).get((c, r))
                run = (self.resume(earlier, name, steps) if earlier is not None else
                       self.train(cfg, name, cls=c, replicate=r, steps=steps))
                family[c, r] = run
                if losses:
                    self.nb.save_table(run.history(), f"losses_{name}")
        return family

    # -- samples, metrics, records, exports, audits ----------------------------------------
    def sample(self, run: GeneratorRun, n: int, *, seed: int | None = None,
               **condition: Any) -> torch.Tensor:
        """``n`` samples of ``run`` (the master seed unless ``seed``), in reflectance through
        its replicate's normaliser."""
        images = run.objective.sample(n, seed=self.seed if seed is None else seed, **condition)
        return self.to_reflectance(images, run.replicate)

    def evaluate(self, cls: str, synthetic_unit: torch.Tensor, replicate: int | None = None, *,
                 extractor: Any = None) -> pd.DataFrame:
        """The metric protocol of a synthetic set in [0, 1] of class ``cls`` against replicate
        ``replicate``'s validation crops (:func:`evaluate_set`), with :meth:`feature_extractor`
        unless ``extractor`` is given."""
        if extractor is None:  # the shared network: the real sets are summarised once
            extractor = self.feature_extractor()
            r = self.first if replicate is None or not self.folds else replicate
            summaries = self._summaries.setdefault((self._extractor[0], r), {})
        else:
            summaries = None
        return evaluate_set(self.data(replicate), cls, synthetic_unit, metrics=self.metrics,
                            seed=self.seed, device=self.device, extractor=extractor,
                            summaries=summaries)

    def feature_extractor(self) -> Any:
        """The protocol's feature network (Inception16 at the metrics section's feature size
        and weights, initialised from the master seed): built once and shared by every
        evaluation of this study. The protocol would build the same network for each call
        (its initialisation draws from a local generator only), so the numbers are the same;
        building it takes a second or two on a CPU."""
        from ...metrics.protocol import protocol_extractor

        m = self.metrics
        key = (m.feature_size, m.inception_weights, self.seed)
        if self._extractor is None or self._extractor[0] != key:
            self._extractor = (key, protocol_extractor(m, self.seed))
        return self._extractor[1]

    def record(self, table: pd.DataFrame, run: GeneratorRun, *, variant: str,
               cls: str | None = None, family: str | None = None, step: int | None = None
               ) -> pd.DataFrame:
        """Add an evaluation of ``run`` to ``generator_metrics.csv`` (under cross-validation
        the variant names the fold: ``final_f2``); seed, step and wall time come from the
        run."""
        return record_generator_metrics(
            self.run.generator_metrics, table, notebook=self.nb.number,
            family=family or run.family,
            variant=f"{variant}_{self.tag(run.replicate)}" if self.folds else variant,
            cls=cls or run.cls, seed=self.train_seed(run.replicate),
            step=run.step if step is None else step, wall_s=run.wall_s)

    def export(self, run: GeneratorRun, name: str, *, cls: str, n: int, generator: str,
               batch_size: int = 32, filter_top_fraction: float = 1.0,
               condition: dict[str, Any] | None = None) -> pd.DataFrame:
        """Export ``n`` crops of ``run`` into ``artifacts/synthetic/<name>/``
        (:func:`~hsilib.synth.export_synthetic`, its replicate's normaliser)."""
        return export_synthetic(run.checkpoint, self.run.synthetic(name), n=n, cls=cls,
                                normaliser=self.normaliser(run.replicate), seed=self.seed,
                                batch_size=batch_size, filter_top_fraction=filter_top_fraction,
                                generator_name=generator, condition=condition,
                                device=self.device)

    def write(self, images: torch.Tensor, run: GeneratorRun, name: str, *, cls: str,
              generator: str) -> pd.DataFrame:
        """Write images drawn from ``run`` (in [-1, 1]) as the synthetic set ``name``
        (:func:`~hsilib.synth.write_synthetic`, with the checkpoint's hash)."""
        return write_synthetic(images, self.run.synthetic(name), cls=cls,
                               normaliser=self.normaliser(run.replicate), generator=generator,
                               checkpoint_sha=registry.file_sha256(run.checkpoint),
                               seed=self.seed)

    def audit(self, *patterns: str, runs: Sequence[GeneratorRun] | None = None
              ) -> pd.DataFrame:
        """Check 12 (:func:`~hsilib.study.audit.audit_generators`, one row per checkpoint, sorted):
        the checkpoints of ``runs``, or those matching any of ``patterns`` (e.g.
        ``"fastgan_*.pt"``), against the split their generators trained on. Under
        cross-validation each fold's runs are audited against the fold's own table (column
        ``fold``)."""
        if not self.folds:
            paths = ([x.checkpoint for x in runs] if runs is not None else
                     [p for pat in patterns for p in self.run.checkpoints.glob(pat)])
            return audit_generators(paths, self.splits_csv)
        chosen = runs if runs is not None else [
            x for x in self.runs.values() if any(fnmatch(x.checkpoint.name, p) for p in patterns)]
        return pd.concat([audit_generators([x.checkpoint for x in chosen
                                                  if x.replicate == r], self.tables[r])
                          .assign(fold=r) for r in self.replicates], ignore_index=True)


def lighter_protocol(metrics: Any, *, repeats: int | None = None,
                     probe_epochs: int | None = None) -> Any:
    """The metric protocol ``metrics`` (a :class:`~hsilib.config.MetricsConfig`) with fewer
    random subsamples (``repeats``) and detectability-probe epochs (``probe_epochs``; 0: no
    probe); None keeps the protocol's value. Notebooks that evaluate many sets (04, 05) take
    their ``eval_repeats`` / ``eval_probe_epochs`` through it: the estimators stay the same,
    with wider intervals (fewer repeats) or no detectability (no probe)."""
    return replace(metrics, n_repeats=metrics.n_repeats if repeats is None else repeats,
                   probe_epochs=metrics.probe_epochs if probe_epochs is None else probe_epochs)


def evaluate_set(data: ReplicateData, cls: str, synthetic_unit: torch.Tensor, *, metrics: Any,
                 seed: int, device: Any = "auto", extractor: Any = None,
                 summaries: dict | None = None) -> pd.DataFrame:
    """The metric protocol (:func:`~hsilib.metrics.protocol.evaluate_generator`) of a synthetic
    set in [0, 1] of class ``cls`` against the validation crops of ``data``, its training crops
    as the real-vs-real floor, with their source images; the spectral rows on reflectance
    through ``data``'s normaliser. Lesion pixels are found by the protocol's one rule in all
    three sets (notebook 01's masks are not used: a synthetic set has none). ``summaries``:
    where the real sets' summaries are kept between calls with the same ``extractor``.
    Introduced in notebook 03, section 11."""
    return evaluate_generator(
        synthetic_unit, data.unit(cls, "train"), data.unit(cls, "val"), cfg=metrics, seed=seed,
        groups={"real_train": data.groups(cls, "train"), "real_heldout": data.groups(cls, "val")},
        to_reflectance=partial(data.normaliser.inverse, value_range="unit", band_axis=1),
        extractor=extractor, device=device, summaries=summaries)


class Family(dict):
    """The runs of :meth:`GeneratorStudy.train_family`, keyed by ``(cls, replicate)``, with
    their metric tables once :meth:`evaluate` ran."""

    def __init__(self, study: GeneratorStudy, prefix: str) -> None:
        super().__init__()
        self.study, self.prefix = study, prefix
        self.tables: dict[tuple[str, int], pd.DataFrame] = {}

    def name(self, cls: str, r: int) -> str:
        return f"{self.prefix}_{cls.lower()}_{self.study.tag(r)}"

    def label(self, key: tuple[str, int]) -> str:
        """``"MM g0"``: class and replicate, for legends and columns."""
        return f"{key[0]} {self.study.tag(key[1])}"

    def sample(self, n: int) -> dict[tuple[str, int], torch.Tensor]:
        """``n`` samples of every run, in reflectance."""
        return {k: self.study.sample(run, n) for k, run in self.items()}

    def histories(self) -> dict[str, pd.DataFrame]:
        return {self.label(k): run.history() for k, run in self.items()}

    def walls(self) -> pd.Series:
        """Training seconds per run."""
        return pd.Series({self.label(k): round(run.wall_s, 1) for k, run in self.items()},
                         name="training seconds")

    def export(self, n: int, *, batch_size: int, filter_top_fraction: float = 1.0
               ) -> dict[tuple[str, int], pd.DataFrame]:
        """Export ``n`` crops per run into ``synthetic/<run name>/`` (generator name
        ``<prefix>_<tag>``)."""
        return {(c, r): self.study.export(run, run.name, cls=c, n=n,
                                          generator=f"{self.prefix}_{self.study.tag(r)}",
                                          batch_size=batch_size,
                                          filter_top_fraction=filter_top_fraction)
                for (c, r), run in self.items()}

    def evaluate(self, fakes: Mapping[tuple[str, int], torch.Tensor], *,
                 variant: str = "final", table: str = "metrics_{cls}_{tag}",
                 family: str | None = None, extractor: Any = None
                 ) -> dict[tuple[str, int], pd.DataFrame]:
        """The metric protocol of every run's samples (reflectance, from :meth:`sample`),
        each saved as the table ``table`` (fields ``cls``, ``tag``, ``name``) and recorded as
        ``variant``; kept in :attr:`tables`. ``extractor``: the feature network (default: the
        protocol's Inception16)."""
        for (c, r), run in self.items():
            t = self.study.evaluate(c, self.study.unit(fakes[c, r], r), r, extractor=extractor)
            self.study.nb.save_table(t, table.format(cls=c.lower(), tag=self.study.tag(r),
                                                     name=run.name))
            self.study.record(t, run, variant=variant, family=family)
            self.tables[c, r] = t
        return self.tables

