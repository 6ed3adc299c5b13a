"""What each profile's design can detect, said beside the results (notebooks 06 and 07).

A profile fixes the replicate design of the classifier study: how many classifier seeds, how
many generator replicates per seed (``GANStudyConfig.generator_seeds``) or, under
cross-validation (``GANStudyConfig.replicates = "folds"``), one run per seed pooling the folds,
with every MM and DN crop of the data set as test crops. :func:`profile_designs` reads these
designs from the profiles; :func:`design_power` gives, for one comparison of this run (by
default real + synthetic against real only, AUROC), the minimal detectable change (80% power,
alpha 0.05; :mod:`hsilib.metrics.power`) that each design would have:

- **over seeds**: the per-seed differences of a design with ``R'`` replicates have SD
  ``sqrt(var_seed + var_replicate / R')``, with both components estimated from this run's
  runs (:func:`hsilib.metrics.power.replicate_components`);
- **test resampling**: the standard error of the difference over test source images measured
  on this run's test set (``se_test`` of :func:`hsilib.study.stats.paired_table`: the larger
  of the cluster-bootstrap SD and DeLong's SE; class counts and source clustering are in it);
  a design that tests on another number of source images scales it by
  ``sqrt(sources here / sources there)``, the rate at which DeLong's and the cluster
  bootstrap's variances fall with the number of independent sources per class.

The variances come from this run (a few seeds: rough), never from the observed difference, so
the table says what the design could detect, not what it found.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from .. import config
from ..metrics import power as pw
from .stats import POWER


@dataclass(frozen=True)
class Design:
    """A replicate design: ``n_seeds`` classifier seeds x ``n_replicates`` generator
    replicates per seed; ``folds``: every run pools a cross-validation (its test crops: every
    MM and DN crop of the data set)."""

    profile: str
    n_seeds: int
    n_replicates: int
    folds: bool = False

    @property
    def label(self) -> str:
        seeds = f"{self.n_seeds} classifier seed{'s' * (self.n_seeds != 1)}"
        if self.folds:
            return f"{seeds}, each run pooling the folds"
        return f"{seeds} x {self.n_replicates} generator replicate" + "s" * (self.n_replicates
                                                                            != 1)


def profile_designs(section: str = "classifier_study", *,
                    seeds_only: bool = False) -> list[Design]:
    """The design of ``section`` (``classifier_study`` or ``proportion_study``: its ``seeds``)
    with ``gan_study``'s replicates, in every profile of :data:`hsilib.config.PROFILES`;
    ``seeds_only``: the study runs generator replicates by seed under every profile, so a
    profile's cross-validation does not apply to it. A profile that runs only some folds
    (``gan_study.folds_run``) tests one fold's crops, as a fixed split does."""
    designs = []
    for profile in config.PROFILES:
        study, gan = config.resolve(profile, section), config.resolve(profile, "gan_study")
        folds = gan.replicates == "folds" and not seeds_only
        pooled = folds and gan.folds_run is None  # every fold: every crop tested once
        designs.append(Design(profile, len(study.seeds),
                              1 if folds else len(gan.generator_seeds), pooled))
    return designs


def source_counts(splits: pd.DataFrame) -> tuple[int, int]:
    """MM and DN source images of the held-out test split and of the whole data set, from
    notebook 01's ``splits.csv`` (columns ``source``, ``class``, ``split``)."""
    lesions = splits[splits["class"].isin(["MM", "DN"])]
    return (int(lesions.loc[lesions["split"] == "test", "source"].nunique()),
            int(lesions["source"].nunique()))


def run_arrays(per_seed: pd.DataFrame, baseline: str, other: str,
               metric: str) -> tuple[np.ndarray, np.ndarray]:
    """``other``'s runs as seeds x replicates (NaN where a run is missing) and
    ``baseline``'s seed means, on the seeds both ran."""
    b = per_seed[per_seed["config"] == other].pivot_table(
        index="seed", columns="generator_seed", values=metric, aggfunc="mean")
    a = per_seed[per_seed["config"] == baseline].groupby("seed")[metric].mean()
    seeds = b.index.intersection(a.index)
    return b.loc[seeds].to_numpy(float), a.loc[seeds].to_numpy(float)


def design_power(per_seed: pd.DataFrame, paired: pd.DataFrame, designs: Sequence[Design], *,
                 baseline: str, other: str, metric: str = "auroc", n_sources_split: int,
                 n_sources_all: int, folds_here: bool = False,
                 alpha: float = 0.05) -> pd.DataFrame:
    """One row per design: the minimal detectable change of ``other - baseline`` in ``metric``
    at :data:`~hsilib.study.stats.POWER` (module docstring). ``paired``: the rows of
    :func:`hsilib.study.stats.paired_table` (its ``se_test``, measured on this run's test
    set); ``n_sources_split``: the MM and DN source images of the held-out test split (the
    test set of a design on one fixed split), ``n_sources_all``: those of the whole data set
    (the test set of a cross-validated design); ``folds_here``: this run is cross-validated,
    so its ``se_test`` was measured on the whole data set."""
    row = paired[(paired["config"] == other) & (paired["metric"] == metric)]
    if row.empty:
        raise ValueError(f"paired holds no row of {other!r} in {metric!r}")
    se_here = float(row.iloc[0]["se_test"])
    var_seed, var_rep = pw.replicate_components(*run_arrays(per_seed, baseline, other, metric))
    rows = []
    for d in designs:
        sources = n_sources_all if d.folds else n_sources_split
        here = n_sources_all if folds_here else n_sources_split
        se = se_here * np.sqrt(here / sources)
        sd = float(np.sqrt(var_seed + var_rep / d.n_replicates))
        rows.append({
            "profile": d.profile, "design": d.label,
            "test set": (f"every MM and DN crop ({sources} source images)" if d.folds else
                         f"the held-out test split ({sources} source images)"),
            "sd_runs": sd, "se_test": se,
            "mdc_runs": pw.mdc(sd_runs=sd, n_seeds=d.n_seeds, alpha=alpha, target=POWER),
            "mdc_test": pw.mdc(sd_runs=None, n_seeds=d.n_seeds, se_test=se, alpha=alpha,
                               target=POWER),
            "mdc": pw.mdc(sd_runs=sd, n_seeds=d.n_seeds, se_test=se, alpha=alpha,
                          target=POWER)})
    return pd.DataFrame(rows)
