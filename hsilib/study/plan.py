"""The plan of the classifier study (notebook 06): every configuration and what it answers.

:func:`plan_experiments` lists every configuration (name, the questions it answers, the
arguments of :func:`hsilib.train.classifier.run_experiment`) from the
:class:`hsilib.config.ClassifierConfig` and :class:`hsilib.config.ClassifierStudyConfig`, and
says which parts are skipped and why (pretrained starting points without weight files).
:func:`hsilib.study.grid.run_grid` then trains each configuration once per seed.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from ..models.classifiers import WeightFileError

#: The real-only configuration every other one is compared with.
BASELINE = "real"
#: The main hypothesis: real plus synthetic crops.
MAIN = "real+syn"


@dataclass(frozen=True)
class Experiment:
    """One configuration: ``name``, the ``groups`` (questions) it belongs to, a description."""

    name: str
    groups: tuple[str, ...]
    label: str
    kwargs: dict = field(default_factory=dict)


def plan_experiments(cfg, study, synthetic_dirs: Mapping[str, str | Path]
                     ) -> tuple[list[Experiment], list[str]]:
    """All configurations of notebook 06 and a list of plain-English notes on skipped parts.

    ``cfg`` is the :class:`~hsilib.config.ClassifierConfig` (its weight files), ``study`` the
    :class:`~hsilib.config.ClassifierStudyConfig` (mixes, learning-curve fractions);
    ``synthetic_dirs`` maps "MM"/"DN" to the exported synthetic crop folders. Weight files named
    in ``cfg`` must exist (a clear error otherwise); unset ones skip their experiments.
    """
    mm, dn = synthetic_dirs["MM"], synthetic_dirs["DN"]
    n_syn = {"MM": study.n_synthetic_mm, "DN": study.n_synthetic_dn}
    syn = dict(synthetic=dict(synthetic_dirs), n_synthetic=n_syn)
    plan = [
        Experiment(BASELINE, ("main", "conventional", "curve", "synthetic_only"),
                   "real only (baseline)", dict(extra_test={"synthetic": [mm, dn]})),
        Experiment(MAIN, ("main", "conventional", "curve"),
                   f"real + {study.n_synthetic_mm} synthetic MM + {study.n_synthetic_dn} DN",
                   syn),
        Experiment("augment", ("conventional",), "real + augmentations", dict(augment=True)),
        Experiment("focal", ("conventional",), "real, focal loss", dict(loss="focal")),
        Experiment("balanced", ("conventional",), "real, class-balanced batches",
                   dict(balanced=True)),
        Experiment("syn+augment", ("conventional",), "real + synthetic + augmentations",
                   dict(syn, augment=True)),
    ]
    for f in sorted(x for x in study.fractions if x < 1):
        pct = round(100 * f)
        plan += [Experiment(f"real_{pct}%", ("curve",), f"{pct}% of real", dict(fraction=f)),
                 Experiment(f"real+syn_{pct}%", ("curve",), f"{pct}% of real + synthetic",
                            dict(syn, fraction=f))]
    n_tstr = {"MM": study.n_synthetic_tstr, "DN": study.n_synthetic_tstr}
    plan.append(Experiment("tstr", ("synthetic_only",), "synthetic only (TSTR)",
                           dict(real_train=False, synthetic={"MM": mm, "DN": dn},
                                n_synthetic=n_tstr)))
    skipped = []
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
                            dict(syn, weights=path)),
                 Experiment(f"{key}_probe", ("pretrained",), f"{what}, linear probe",
                            dict(weights=path, freeze_backbone=True))]
    return plan, skipped
