"""What the classifier notebooks (06-08) train on, and one classifier run per grid cell.

:class:`ClassifierInputs` reads notebook 01's crops, split and normaliser and, under
cross-validation (``gan_study.replicates = "folds"``), each fold's table and normaliser that
notebook 03 wrote; it names the replicates (generator seeds ``g<k>`` or folds ``f<k>``), finds a
generator family's exported sets per replicate, writes the real training crops through the
export path (check 11a, :meth:`~ClassifierInputs.write_passthrough`) and lists the input files
whose stamps a grid's context records. :meth:`~ClassifierInputs.cells` returns the function
:func:`hsilib.study.grid.run_grid` calls for each (configuration, classifier seed, replicate):
a :class:`ClassifierCells`, which trains one run with
:func:`hsilib.train.classifier.run_experiment` on the replicate's table and normaliser.
Introduced in notebook 06; notebooks 07 and 08 use it too.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from ..data.datasets import BandNormaliser, load_crops
from ..data.splits import fold_files
from ..labels import BINARY_CLASSES
from ..synth import write_synthetic
from ..train import classifier as tc


def _folders(x: Any) -> Iterator[Path]:
    """The folders in ``x``: a folder, or a mapping or sequence of them, nested, in order."""
    if isinstance(x, Mapping):
        x = x.values()
    if isinstance(x, (str, Path)):
        yield Path(x)
        return
    for item in x:
        yield from _folders(item)


class ClassifierCells:
    """``run_cell(experiment, seed, replicate)`` for :func:`~hsilib.study.grid.run_grid`: one
    configuration, one classifier seed, one replicate (a generator seed, a fold, or None for
    real data only on the fixed split). A fold's run trains on that fold's table with its
    normaliser (``folds``: ``{fold: (table, normaliser)}``); every other run on ``splits``
    and ``normaliser``. Crops read once are kept per fold in :attr:`cache`."""

    def __init__(self, cfg: Any, crops_dir: Path, splits: Path, normaliser: BandNormaliser, *,
                 device: Any, checkpoint_dir: Path | None = None, prefix: str = "",
                 folds: Mapping[int, tuple[Path, BandNormaliser]] | None = None) -> None:
        self.cfg, self.crops_dir, self.splits, self.normaliser = cfg, crops_dir, splits, normaliser
        self.device, self.checkpoint_dir, self.prefix = device, checkpoint_dir, prefix
        self.folds = dict(folds or {})
        self.cache: dict[int, dict] = {}

    def __call__(self, experiment: Any, seed: int, replicate: int | None) -> pd.DataFrame:
        args = experiment.arguments(replicate)
        fold = args.get("fold", -1)
        table, norm = self.folds[fold] if fold >= 0 else (self.splits, self.normaliser)
        return tc.run_experiment(experiment.name, self.cfg, self.crops_dir, table, norm,
                                 seeds=[seed], device=self.device,
                                 checkpoint_dir=self.checkpoint_dir,
                                 checkpoint_prefix=self.prefix,
                                 cache=self.cache.setdefault(fold, {}), **args)


class ClassifierInputs:
    """The inputs of a classifier notebook in run folder ``run`` (see the module docstring).

    ``folds``: cross-validation (replicates = the folds of ``kfold.csv``, each with the table
    and normaliser notebook 03 wrote; ``max_folds``: only the first this many,
    ``GANStudyConfig.folds_run``), else the replicates are ``seeds``.
    """

    def __init__(self, run: Any, *, folds: bool = False, seeds: Sequence[int] = (),
                 max_folds: int | None = None) -> None:
        self.run, self.folds = run, folds
        self.crops_dir = run.require(run.crops / "index.csv", "01_preprocessing").parent
        self.splits_csv = run.require(run.splits / "splits.csv", "01_preprocessing")
        self.normaliser = BandNormaliser.load(run.require(run.splits / "normalisation.json",
                                                          "01_preprocessing"))
        self.fold_tables: dict[int, Path] = {}
        self.fold_normalisers: dict[int, BandNormaliser] = {}
        if folds:  # each fold's table and the normaliser fitted on its training crops
            kfold = pd.read_csv(run.require(run.splits / "kfold.csv", "01_preprocessing"))
            k = kfold["fold"].nunique()
            self.replicates = tuple(range(min(k, max_folds or k)))
            for r in self.replicates:
                table, norm = fold_files(run.splits, r)
                self.fold_tables[r] = run.require(table, "03_fastgan")
                self.fold_normalisers[r] = BandNormaliser.load(run.require(norm, "03_fastgan"))
        else:
            self.replicates = tuple(seeds)

    def tag(self, r: int) -> str:
        """Replicate ``r``'s name in files: ``f<r>`` or ``g<r>``."""
        return f"f{r}" if self.folds else f"g{r}"

    @property
    def kind(self) -> str:
        """``"folds"`` or ``"generator replicates"``."""
        return "folds" if self.folds else "generator replicates"

    def synthetic_dirs(self, family: str = "fastgan", made_by: str = "03_fastgan"
                       ) -> dict[int, dict[str, Path]]:
        """Every replicate's exported sets ``<family>_<cls>_<tag>/`` per class; a missing one
        names the notebook ``made_by`` that writes it."""
        return {r: {c: self.run.require(self.run.synthetic(f"{family}_{c.lower()}_{self.tag(r)}")
                                        / "index.csv", made_by).parent
                    for c in BINARY_CLASSES} for r in self.replicates}

    def _passthrough(self, table: Path, norm: BandNormaliser, size: int, suffix: str
                     ) -> dict[str, Path]:
        sources = tc.crop_sources(self.crops_dir)
        dirs = {}
        for c in BINARY_CLASSES:
            real = load_crops(self.crops_dir, norm, size, "train", table, classes=(c,),
                              value_range="symmetric")
            dirs[c] = self.run.synthetic(f"passthrough_{c.lower()}{suffix}")
            write_synthetic(real.images, dirs[c], cls=c, normaliser=norm, generator="passthrough",
                            sources=[sources[i] for i in real.ids])
        return dirs

    def write_passthrough(self, size: int) -> tuple[dict, dict[str, int]]:
        """Check 11a's input: the real TRAINING crops of each class (at ``size`` px, in [-1, 1])
        written by :func:`~hsilib.synth.write_synthetic`, the path of every generator's
        exports, each keeping its source image; one folder per class
        (``passthrough_<cls>/``), per fold under cross-validation (``passthrough_<cls>_f<r>/``,
        the fold's normaliser). Returns the folders (by fold under cross-validation) and the
        crop counts."""
        if self.folds:
            dirs = {r: self._passthrough(self.fold_tables[r], self.fold_normalisers[r], size,
                                         f"_f{r}") for r in self.replicates}
            counts = {f"{c} f{r}": len(pd.read_csv(d / "index.csv"))
                      for r, per_class in dirs.items() for c, d in per_class.items()}
            return dirs, counts
        dirs = self._passthrough(self.splits_csv, self.normaliser, size, "")
        return dirs, {c: len(pd.read_csv(d / "index.csv")) for c, d in dirs.items()}

    def stamped(self, synthetic: Any = ()) -> list[Path]:
        """The files a grid's results depend on: crops index, split, normaliser, the index of
        every synthetic folder in ``synthetic`` (folders, or mappings of them, nested as
        :meth:`synthetic_dirs` returns them) and, under cross-validation, each fold's table and
        normaliser."""
        files = [self.crops_dir / "index.csv", self.splits_csv,
                 self.run.splits / "normalisation.json",
                 *(d / "index.csv" for d in _folders(synthetic))]
        if self.folds:
            files += [p for r in self.replicates for p in fold_files(self.run.splits, r)]
        return files

    def cells(self, cfg: Any, *, device: Any, checkpoint_dir: Path | None = None,
              prefix: str = "") -> ClassifierCells:
        """The grid's cell function for classifier config ``cfg`` (checkpoints
        ``<checkpoint_dir>/<prefix><config>_seed<k>...pt`` when ``checkpoint_dir`` is given)."""
        folds = {r: (self.fold_tables[r], self.fold_normalisers[r]) for r in self.fold_tables}
        return ClassifierCells(cfg, self.crops_dir, self.splits_csv, self.normaliser,
                               device=device, checkpoint_dir=checkpoint_dir, prefix=prefix,
                               folds=folds)
