"""Classifier sections: the melanoma classifier (notebook 06), what notebook 06 does with it
(configurations and optional arms) and how much synthetic data from which generator notebook 07
adds. Bounds are declared beside each field (see :mod:`hsilib.config.engine`)."""

from __future__ import annotations

import re
import string
from dataclasses import dataclass, replace
from typing import Annotated, Any, ClassVar, Literal

from .bounds import MAX_BATCH, MAX_COUNT, MAX_EPOCHS, MAX_PERCENT, MAX_SIDE, MAX_STEPS, MAX_WORKERS
from .engine import DEVICE, SEED, WEIGHT, ConfigError, Deltas, OneOf, Range, Section
from .studies import Classifiers, Samples, Seeds

#: the ways synthetic crops join the real training set (notebook 07)
MIXES = ("MM", "DN", "both")

#: notebook 06's optional arms (ClassifierStudyConfig.arms): name -> what it adds
CLASSIFIER_ARMS = {
    "focal+balanced": "real crops, focal loss and class-balanced batches together",
    "resnet50": "ResNet50 on real crops, and on real + synthetic crops (the main mix)",
    "curve_synthetic": "learning curve + synthetic crops of FastGANs trained on its subsample",
    "mixed": "synthetic crops in counts per class chosen by hand (`mixed`, e.g. 100 MM + 50 DN)",
    "tstr_ratio": "TSTR at the class ratios of `tstr_ratios` (nevus crops per melanoma crop)",
    "sefa": "real + training melanomas inverted into StyleGAN2-ADA, edited along SeFa",
}
#: a generator name in a study's family list (folder and configuration names)
_NAME = re.compile(r"[a-z][a-z0-9_]*")


@dataclass(frozen=True)
class ClassifierConfig(Section):
    """Melanoma classifiers (notebook 06). Defaults: the study's DenseNet201 setting."""

    arch: Classifiers = "densenet201"
    image_size: Annotated[int, Range(1, MAX_SIDE)] = 224
    batch_size: Annotated[int, Range(1, MAX_BATCH)] = 8
    lr: Annotated[float, Range(gt=0)] = 1e-4
    weight_decay: Annotated[float, WEIGHT] = 1e-2
    epochs: Annotated[int, Range(1, MAX_EPOCHS)] = 400
    patience: Annotated[int, Range(1, MAX_EPOCHS)] = 100  # epochs without a better validation
    # optimiser steps per epoch at most (None: every batch); a dry run caps it
    max_batches: Annotated[int | None, Range(1, MAX_STEPS)] = None
    # crops per class and split a trained model predicts at most, the first in each split's
    # order (None: all; only a dry run sets it: predicting every crop of the training,
    # validation and test splits at full size costs a DenseNet201 minutes per run on a CPU);
    # the training split's other crops are still listed, with a NaN probability
    max_predict: Annotated[int | None, Range(1, MAX_COUNT)] = None
    select_metric: Literal["loss", "sensitivity", "specificity", "precision", "f1",
                           "balanced_accuracy", "accuracy", "auroc", "auprc"] = "auroc"
    pretrained_weights: str | None = None  # local ImageNet checkpoint (3-channel)
    specialist_weights: str | None = None  # local ISIC melanoma checkpoint (3-channel)
    num_workers: Annotated[int, Range(0, MAX_WORKERS)] = 0
    device: Annotated[str, DEVICE] = "auto"

    #: what a dry run sets besides its caps (hsilib.config.dryrun)
    DRY_VALUES: ClassVar[dict[str, Any]] = {"max_predict": 8}

    DELTAS: ClassVar[Deltas] = {
        "lab": dict(epochs=14, patience=4),  # on top of quick (profiles.BASES)
        "quick": dict(arch="small", image_size=64, batch_size=32, lr=2e-3, epochs=40,
                      patience=10),
        "smoke": dict(arch="small", image_size=32, batch_size=4, lr=1e-3, epochs=2,
                      patience=1),
    }


@dataclass(frozen=True)
class ClassifierStudyConfig(Section):
    """What notebook 06 does with the classifiers: seeds, training mixes, thresholds, CIs.

    Configurations with synthetic crops run once per classifier seed and generator replicate
    (``GANStudyConfig.generator_seeds``); real-only ones once per classifier seed. Under
    ``GANStudyConfig.replicates = "folds"`` every configuration runs once per classifier seed
    and fold. ``arms``: the optional arms (:data:`CLASSIFIER_ARMS`). ``families``: generators
    notebook 06 draws from beside FastGAN, ``(name, checkpoint pattern with {tag} = g<k> / f<k>
    and maybe {cls}, kept share)``, a share < 1 keeping the critic's best of an over-sampled
    draw; ``syn_families`` join the main mix, ``tstr_families`` train TSTR (check 11c).
    """

    seeds: Seeds = (0, 1, 2, 3, 4)  # classifier seeds
    # main comparison: synthetic crops, split MM:DN as real training
    n_synthetic_total: Annotated[int, Range(0, MAX_COUNT)] = 100
    # the original study's mix: synthetic MM only (+ its control)
    n_synthetic_mm_only: Annotated[int, Range(0, MAX_COUNT)] = 100
    # synthetic crops per class for TSTR; None = all exported
    n_synthetic_tstr: Annotated[int | None, Range(0, MAX_COUNT)] = None
    # learning curve: shares of real training data
    fractions: Annotated[tuple[float, ...], Range(gt=0, le=1)] = (0.25, 0.5, 1.0)
    threshold_rule: Literal["youden", "f1", "fixed"] = "youden"  # threshold chosen on validation
    # cluster-bootstrap resamples (source images) for test CIs, paired tests
    n_boot: Samples = 2000
    arms: Annotated[tuple[str, ...], OneOf(*CLASSIFIER_ARMS)] = tuple(CLASSIFIER_ARMS)
    # synthetic (MM, DN) counts of the "mixed" arms (the original study's)
    mixed: Annotated[tuple[tuple[int, int], ...], Range(0, MAX_COUNT)] = (
        (100, 50), (50, 100), (66, 13))
    # TSTR class ratios besides 1:1 (nevus crops per melanoma crop; the nevus count is kept)
    tstr_ratios: Annotated[tuple[float, ...], Range(gt=1, le=100)] = (2.0,)
    families: tuple[tuple[str, str, float], ...] = (
        ("stylegan2", "stylegan2_{cls}_{tag}.pt", 0.3), ("cfastgan", "cfastgan_mask_{tag}.pt", 1.0),
        ("spade_mask", "spade_mask_{tag}.pt", 1.0), ("spade_rgb", "spade_rgb_{tag}.pt", 1.0),
        ("cyclegan", "cyclegan_{tag}.pt", 1.0), ("classcond", "classcond_{tag}.pt", 1.0),
        ("perclass", "perclass_{cls}_{tag}.pt", 1.0))
    syn_families: tuple[str, ...] = ("stylegan2", "cfastgan", "spade_mask", "spade_rgb",
                                     "cyclegan", "classcond")
    tstr_families: tuple[str, ...] = ("classcond", "perclass")
    # the SeFa arm: edits at +- this many SDs of w along each of gan_study.sefa_k directions
    sefa_alpha: Annotated[float, Range(gt=0, le=10)] = 2.0
    # ... of at most this many real training melanomas per replicate, the first in the split's
    # order (None: all of them)
    sefa_max_crops: Annotated[int | None, Range(1, MAX_COUNT)] = None

    DELTAS: ClassVar[Deltas] = {
        # 3 seeds (x 2 generator replicates), TSTR on 50 crops per class, and the optional arms
        # that fit notebook 06's 7 minutes on 2 idle cores. Estimated from per-epoch timings at
        # quick sizes on the SHARED machine (load ~11; scaled to idle by FastGAN's step there,
        # 1.31 s vs 0.25 s idle) and notebook 06's measured 6.2 s per run: focal+balanced 3 runs
        # ~19 s, TSTR 1:2 6 runs ~11 s, SPADE-RGB 3 runs ~21 s, check 11c 6 runs ~14 s, draws
        # and audit ~10 s, less the reduced curve's 12 synthetic runs (~85 s): ~6.1 minutes.
        # Full only: each hand-chosen pair ~45 s, StyleGAN2-ADA ~50 s, each other family ~21 s,
        # SeFa ~3 min (inversions), the synthetic curve ~12 min (8 FastGANs), ResNet50 10-40 min.
        # Measured idle with SPADE-RGB in the mix as well: 7.2 minutes (its training cell
        # 409 s), over the share; SPADE-RGB's three runs (~21 s) now run under full only
        "paper": dict(seeds=(0, 1, 2)),  # with one fold: docs/full_profile.md
        # lab, on top of quick: TSTR 1:2 under quick; counts within lab's 60 exported crops
        # per class (notebook 03) and 40 of each conditional generator (notebook 04)
        "lab": dict(seeds=(0, 1), arms=("focal+balanced",), n_synthetic_total=80,
                    n_synthetic_mm_only=60, n_synthetic_tstr=40),
        "quick": dict(seeds=(0, 1, 2), n_synthetic_tstr=50, n_boot=500,
                      arms=("focal+balanced", "tstr_ratio"), syn_families=()),
        # every arm but ResNet50 (a minute of CPU even at 32 px; its path is a unit test)
        "smoke": dict(seeds=(0, 1), n_synthetic_total=6, n_synthetic_mm_only=4, sefa_max_crops=4,
                      fractions=(0.5, 1.0), n_boot=50, mixed=((4, 2),),
                      arms=tuple(a for a in CLASSIFIER_ARMS if a != "resnet50")),
    }

    def __post_init__(self) -> None:
        for key in ("mixed", "families"):
            object.__setattr__(self, key, tuple(tuple(x) for x in getattr(self, key)))
        super().__post_init__()

    def validate(self) -> None:
        where = "ClassifierStudyConfig"
        for m in self.mixed:
            if len(m) != 2 or not all(isinstance(v, int) and 0 <= v <= MAX_COUNT for v in m) \
                    or not any(m):
                raise ConfigError(f"{where}.mixed: each item is (MM count, DN count), counts "
                                  f">= 0 and not both 0, got {m!r}")
        _check_names(f"{where}.families", self.families, {"cls", "tag"})
        names = [f[0] for f in self.families]
        bad = [f for f in self.families if "{tag}" not in f[1] or not 0 < f[2] <= 1]
        unknown = sorted((set(self.syn_families) | set(self.tstr_families)) - set(names))
        if bad or unknown:
            raise ConfigError(f"{where}: each of `families` is (name, pattern naming {{tag}}, "
                              f"kept share in (0, 1]), got {bad}; syn_families and "
                              f"tstr_families must name families of it, unknown {unknown}")


def _check_names(where: str, items, fields: set[str]) -> None:
    """Items ``(name, pattern, ...)``: unique plain names, patterns naming only ``fields``."""
    for name, pattern, *_ in items:
        used = {f for _, f, _, _ in string.Formatter().parse(pattern) if f is not None}
        if not _NAME.fullmatch(name):
            raise ConfigError(f"{where}: a name is lower-case letters, digits and _, got "
                              f"{name!r} in {items!r}")
        if not used <= fields:
            raise ConfigError(f"{where}: the pattern {pattern!r} may name only "
                              + " and ".join(f"{{{f}}}" for f in sorted(fields)))
    if len({item[0] for item in items}) != len(items):
        raise ConfigError(f"{where}: names must be unique, got {items}")


@dataclass(frozen=True)
class ProportionStudyConfig(Section):
    """What notebook 07 does: how much synthetic data, from which generator, filtered or not.

    Each configuration runs once per classifier seed and generator replicate
    (``GANStudyConfig.generator_seeds``), with the classifier of ``ClassifierConfig``.
    ``amounts`` are percentages of the real training count of each class (0 is the real-only
    baseline, always run); ``mixes`` add synthetic melanoma only, nevus only, or both in the real
    class ratio. ``generators`` lists ``(name, checkpoint pattern)`` per generator family (the
    pattern is formatted with ``cls`` = mm/dn, ``tag`` = ``g<seed>`` or, under cross-validation,
    ``f<fold>``, and ``replicate``; a conditional generator's one checkpoint serves both
    classes); a family whose checkpoints are missing is skipped with a note, one with fewer
    replicates runs on those it has. Filtering keeps the
    ``filter_fraction`` of an over-sampled draw the critic scores highest, against a random
    subset of the same draw of the same size; it runs at ``filter_amounts`` (None: every
    amount) for the mixes in ``filter_mixes``.
    """

    seeds: Seeds = (0, 1, 2, 3, 4)  # classifier seeds
    # % of the real count per class
    amounts: Annotated[tuple[float, ...], Range(0, MAX_PERCENT)] = (25.0, 50.0, 100.0, 200.0,
                                                                   400.0)
    mixes: Annotated[tuple[str, ...], OneOf(*MIXES)] = MIXES
    generators: tuple[tuple[str, str], ...] = (
        ("fastgan", "fastgan_{cls}_{tag}.pt"), ("vae", "vae_{cls}_{tag}.pt"),
        ("stylegan2", "stylegan2_{cls}_{tag}.pt"),
        ("cfastgan", "cfastgan_mask_{tag}.pt"), ("spade_mask", "spade_mask_{tag}.pt"),
        ("spade_rgb", "spade_rgb_{tag}.pt"), ("cyclegan", "cyclegan_{tag}.pt"),
        ("classcond", "classcond_{tag}.pt"))
    # share of the over-sampled draw kept by the critic's score
    filter_fraction: Annotated[float, Range(gt=0, le=1)] = 0.3
    # amounts with filtered arms; None = all
    filter_amounts: Annotated[tuple[float, ...] | None, Range(0, MAX_PERCENT)] = None
    filter_mixes: Annotated[tuple[str, ...], OneOf(*MIXES)] = MIXES
    pool_seed: Annotated[int, SEED] = 7000  # sampling seed of a pool: + generator replicate
    # synthetic (and duplicated) crops per class of an arm at most; None: as the amount asks
    # (a dry run caps it: at full size an arm of 400% draws and copies thousands of crops)
    max_crops: Annotated[int | None, Range(1, MAX_COUNT)] = None
    threshold_rule: Literal["youden", "f1", "fixed"] = "youden"  # threshold chosen on validation
    # cluster-bootstrap resamples (source images) for test CIs, paired tests
    n_boot: Samples = 2000

    DELTAS: ClassVar[Deltas] = {
        # FastGAN only, 2 seeds x 2 generator replicates, 3 amounts x 2 mixes (melanoma only,
        # both classes), filtering at 100% (both classes): 40 runs. With the nevus-only mix
        # (52 runs, ~9 s each) notebook 07 took 8.3 minutes, past its 8; the other families
        # and the nevus-only mix run under full
        "paper": dict(seeds=(0, 1, 2)),  # with one fold: docs/full_profile.md
        "lab": dict(seeds=(0,), amounts=(50.0, 200.0)),  # on top of quick: two amounts, a seed
        "quick": dict(seeds=(0, 1), amounts=(50.0, 100.0, 200.0), mixes=("MM", "both"),
                      filter_amounts=(100.0,),
                      filter_mixes=("both",), n_boot=500,
                      generators=(("fastgan", "fastgan_{cls}_{tag}.pt"),)),
        "smoke": dict(seeds=(0,), amounts=(50.0,), mixes=("MM", "both"), filter_mixes=("both",),
                      n_boot=50, max_crops=20, generators=(
                          ("fastgan", "fastgan_{cls}_{tag}.pt"),
                          ("vae", "vae_{cls}_{tag}.pt"),
                          ("stylegan2", "stylegan2_{cls}_{tag}.pt"),
                          ("spade_rgb", "spade_rgb_{tag}.pt"))),
    }

    def __post_init__(self) -> None:
        object.__setattr__(self, "generators", tuple(tuple(g) for g in self.generators))
        super().__post_init__()

    def validate(self) -> None:
        _check_names("ProportionStudyConfig.generators", self.generators,
                     {"cls", "tag", "replicate"})

    def dry(self) -> ProportionStudyConfig:
        """What a dry run keeps of the grid (hsilib.config.dryrun): the largest amount and
        those with filtered arms. Every amount runs the same code, and each of the grid's
        cells trains a classifier at its full size (at ``full``, 96 cells of a DenseNet201 at
        224 px: 41 of them took 13 minutes on a 2-core CPU, where one amount per family, mix
        and filter shows every path)."""
        keep = {max(self.amounts, default=0.0), *(self.filter_amounts or ())}
        return replace(self, amounts=tuple(a for a in self.amounts if a in keep))
