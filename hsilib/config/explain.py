"""Notebook 09's section: attributions of the melanoma classifiers, 16 bands vs RGB, and
whether synthetic lesions keep the cues. Bounds are declared beside each field (see
:mod:`hsilib.config.engine`)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, ClassVar, Literal

from .bounds import MAX_COUNT, MAX_EPOCHS, MAX_SIDE
from .engine import NON_EMPTY, ConfigError, Deltas, Range, Section
from .studies import Samples, Seeds

Method = Literal["ig", "gradcam", "ablation"]


@dataclass(frozen=True)
class ExplainStudyConfig(Section):
    """What notebook 09 does: attributions of the melanoma classifiers, 16 bands vs RGB, and
    whether synthetic lesions keep the cues.

    Four input variants of the same crops (16 bands, their CIE sRGB rendering, the band-mean
    grey image and ``n_select`` bands chosen greedily on VALIDATION attributions) each train the
    classifier of ``ClassifierConfig`` (``epochs`` replaces its epochs when set) once per seed of
    ``seeds``, on notebook 01's split, with notebook 06's protocol (threshold by
    ``threshold_rule`` on validation, test touched once, ``n_boot`` cluster-bootstrap resamples
    over test source images). The 16-band classifiers of the first ``attribution_seeds`` seeds
    (None: all) are explained by ``methods`` (captum: IG with ``ig_steps`` points from the
    ``baseline`` image, Guided Grad-CAM / Grad-CAM, band x region ablation; occlusion maps with
    ``occlusion_window`` px squares) on ``n_per_class`` test crops per class (None: all);
    ``n_sanity`` of them also after randomising the weights. The synthetic part compares, per
    generator family and class, ``n_synthetic`` synthetic crops with at most ``n_real`` real
    training crops and every validation crop of the class (``distance_method``; value and floor
    averaged over ``n_repeats`` subsamples); ``families`` restricts it (None: every family
    found under ``artifacts/synthetic/``).
    """

    seeds: Seeds = (0, 1, 2, 3, 4)  # classifier seeds of every input variant
    # explain the first this many seeds (None: all)
    attribution_seeds: Annotated[int | None, Range(1, 1000)] = None
    # classifier epochs of the variants (None: ClassifierConfig's)
    epochs: Annotated[int | None, Range(1, MAX_EPOCHS)] = None
    methods: Annotated[tuple[Method, ...], NON_EMPTY] = ("ig", "gradcam", "ablation")
    # IG: points on the path from the baseline (a count: a dry run takes the smoke profile's)
    ig_steps: Annotated[int, Range(1, 10_000, kind="count")] = 64
    baseline: Literal["mean", "zero"] = "mean"  # mean: the training crops' mean spectrum
    n_per_class: Annotated[int | None, Range(1, MAX_COUNT)] = None  # test crops per class
    n_sanity: Annotated[int, Range(1, MAX_COUNT)] = 40  # crops of the randomisation check
    # bands of the reduced variant, chosen on validation attributions
    n_select: Annotated[int, Range(1, 15)] = 3
    select_method: Method = "ig"
    n_synthetic: Annotated[int, Range(1, MAX_COUNT)] = 100  # per generator family and class
    # real training crops per class in that comparison (None: all)
    n_real: Annotated[int | None, Range(1, MAX_COUNT)] = None
    families: tuple[str, ...] | None = None  # generator families compared (None: all found)
    distance_method: Method = "ig"
    # side of the occlusion squares (px; 1/8 of a 224 px crop)
    occlusion_window: Annotated[int, Range(1, MAX_SIDE)] = 28
    n_show: Annotated[int, Range(1, 100)] = 4  # test crops shown in the attribution-map figure
    # subsamples that value and floor of the task-aware distance average
    n_repeats: Annotated[int, Range(1, 1000, kind="count")] = 5
    n_boot: Samples = 2000  # cluster-bootstrap resamples (source images) for every interval
    threshold_rule: Literal["youden", "f1", "fixed"] = "youden"  # chosen on validation

    DELTAS: ClassVar[Deltas] = {
        # per-step CPU seconds measured at quick sizes (64 px, small CNN, random data) on the
        # busy 2-core machine: a classifier epoch on 200 crops 0.8 (16 bands) / 0.5 (3
        # channels), IG with 16 points 0.046 per crop, Guided Grad-CAM 0.004, ablation of 32
        # groups 0.066, occlusion 0.4, reading a crop 2-20 ms. 12 runs at notebook 06's measured
        # ~6 s per run (idle) plus ~130 s of attributions (2 seeds explained; 20 synthetic crops
        # for each of ~25 family-class sets), reading, bootstraps and figures: an estimate of
        # ~3.5 minutes on 2 idle cores (~5.4 if every run took all 40 epochs)
        "lab": dict(seeds=(0, 1), attribution_seeds=1),  # on top of quick
        "quick": dict(seeds=(0, 1, 2), attribution_seeds=2, ig_steps=16, n_sanity=16,
                      n_synthetic=20, n_real=40, occlusion_window=8, n_repeats=3, n_boot=500),
        "smoke": dict(seeds=(0, 1), attribution_seeds=1, ig_steps=4, n_per_class=4,
                      n_sanity=4, n_synthetic=4, n_real=6, occlusion_window=4, n_show=2,
                      n_repeats=2, n_boot=50),
    }

    def validate(self) -> None:
        if len(set(self.methods)) != len(self.methods):
            raise ConfigError(f"ExplainStudyConfig.methods: give distinct methods, got "
                              f"{self.methods}")
