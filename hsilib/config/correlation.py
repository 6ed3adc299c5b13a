"""Notebook 08's section: do generator metrics predict whether synthetic data helps? Its oracle
ladder, the generator states of the run, the probe classifier that measures their utility and
the correlations. Bounds are declared beside each field (see :mod:`hsilib.config.engine`)."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Annotated, ClassVar, Literal

from .bounds import MAX_BATCH, MAX_COUNT, MAX_EPOCHS, MAX_SIDE
from .engine import NON_EMPTY, SEED, ConfigError, Deltas, OneOf, Range, Section
from .studies import Classifiers, Samples, Seeds

#: The oracle ladder's corruption kinds (:mod:`hsilib.study.oracle` says what each one does).
ORACLE_CORRUPTIONS = ("melanin", "blood", "scattering", "blur", "noise", "spectral_smoothing",
                      "misregistration", "diversity", "exaggeration", "label_noise",
                      "fingerprint")


@dataclass(frozen=True)
class CorrelationStudyConfig(Section):
    """What notebook 08 does: do generator metrics predict whether synthetic data helps?

    **States.** On the stand-in data (``oracle``) an oracle generator draws fresh lesions of
    both classes (seed stream ``oracle_seed``), and each kind of ``corruptions`` spoils them at
    every strength of ``levels`` (in (0, 1]; :mod:`hsilib.study.oracle`): one state per rung,
    plus the clean oracle. The run's generators enter as pairs of a melanoma and a nevus
    generator of the same kind, seed, fold and step (at most ``max_states`` pairs, spread over
    families and training stages). Every state adds ``amount`` % of each class's real training
    count (both classes, so the real class ratio; seed ``pool_seed``).

    **Metrics.** The metric protocol against the validation crops of each class of
    ``metric_classes`` (the ``metrics`` section with the ``metric_*`` fields below, lighter than
    the generator notebooks'), and the task-aware relevance distance of the real-only probe
    (``relevance_method``, ``relevance_steps`` integration points for IG).

    **Utility.** A fixed, fast probe classifier (``probe_*``) trained once per seed of
    ``seeds`` on the real training split with a state's crops added, against the real-only
    probe and the real + duplicated-real probe (same amount, drawn from the real training
    crops), paired by seed: the change of test AUROC, of test sensitivity at specificity
    ``sens_specificity``, of the Brier score and of the expected calibration error
    (``calibration_bins`` equal-width bins).

    **Correlations.** Spearman and Pearson with ``n_boot`` bootstrap resamples of whole groups
    (training runs, corruption kinds) and ``n_perm`` permutations that respect the groups,
    Holm-corrected at ``alpha``; ``study_r`` is the original study's reported bound on |r|.
    """

    seeds: Seeds = (0, 1, 2, 3, 4)  # probe classifier seeds
    # at most this many pairs of the run's generators, spread over the sorted list
    max_states: Annotated[int | None, Range(1, MAX_COUNT)] = None
    # synthetic crops added per class, % of its real training count (at most all of them: the
    # duplicated-real control draws that many real crops without replacement)
    amount: Annotated[float, Range(gt=0, le=100)] = 100.0
    # ... and at most this many per class (None: as the amount asks; a dry run caps it: at
    # full size the oracle ladder renders every rung's crops from the simulator)
    max_crops: Annotated[int | None, Range(2, MAX_COUNT)] = None
    pool_seed: Annotated[int, SEED] = 8000  # sampling seed of every generator state's crops
    oracle: bool = True  # the oracle ladder (stand-in data only)
    oracle_seed: Annotated[int, SEED] = 1  # seed stream of the oracle's fresh lesions
    corruptions: Annotated[tuple[str, ...], OneOf(*ORACLE_CORRUPTIONS),
                           NON_EMPTY] = ORACLE_CORRUPTIONS
    # corruption strengths of the ladder's rungs
    levels: Annotated[tuple[float, ...], Range(gt=0, le=1), NON_EMPTY] = (0.25, 0.5, 0.75, 1.0)
    probe_arch: Classifiers = "small"
    probe_image_size: Annotated[int, Range(1, MAX_SIDE)] = 64
    probe_batch_size: Annotated[int, Range(1, MAX_BATCH)] = 32
    probe_lr: Annotated[float, Range(gt=0)] = 2e-3
    probe_epochs: Annotated[int, Range(1, MAX_EPOCHS)] = 30
    probe_patience: Annotated[int, Range(1, MAX_EPOCHS)] = 8
    sens_specificity: Annotated[float, Range(gt=0, lt=1)] = 0.8  # utility: sensitivity here
    calibration_bins: Annotated[int, Range(2, 1000)] = 10  # bins of the calibration error
    # classes whose metric tables are computed (a state's gap: their mean)
    metric_classes: Annotated[tuple[str, ...], OneOf("MM", "DN"), NON_EMPTY] = ("MM", "DN")
    # Inception16 input side for the states' FD / KID / PRDC
    metric_feature_size: Annotated[int, Range(75, MAX_SIDE)] = 299
    # MetricsConfig.n_repeats for the states
    metric_repeats: Annotated[int, Range(1, 1000, kind="count")] = 5
    metric_boot: Samples = 200  # MetricsConfig.n_boot and n_boot_set for the states
    # MetricsConfig.n_pixels_physics for the states (None: the metrics section's)
    metric_pixels_physics: Annotated[int | None, Range(1, MAX_COUNT)] = None
    # detectability probe epochs (0: no detectability)
    metric_probe_epochs: Annotated[int, Range(0, MAX_EPOCHS)] = 10
    metric_probe_folds: Annotated[int, Range(2, 100, kind="count")] = 3
    relevance_method: Literal["ig", "ablation"] = "ig"  # the task-aware distance's attribution
    relevance_steps: Annotated[int, Range(1, 1000, kind="count")] = 32  # IG's integration points
    n_boot: Samples = 2000  # bootstrap resamples of the groups (correlation CIs)
    # permutations per correlation (p-value resolution 1 / (n_perm + 1))
    n_perm: Samples = 9999
    # the original study's |Pearson r| bound, marked on the figures
    study_r: Annotated[float, Range(0, 1)] = 0.18
    alpha: Annotated[float, Range(gt=0, lt=1)] = 0.05  # family-wise level of the Holm tests

    DELTAS: ClassVar[Deltas] = {
        # Sized from per-state costs measured as CPU seconds on the shared 2-core machine (an
        # upper bound of the wall time on 2 idle cores): the ladder (19 rungs x 110 crops)
        # ~60 s on one core, drawn by 2 workers; per state the melanoma metric table ~4 s, a
        # probe run at 32 px ~3 s, the task-aware distance ~1 s: 19 rungs + 5 pairs + 2
        # controls in ~5 minutes. Spectral smoothing stands for the spectral kinds here.
        # lab, on top of quick: one classifier seed per state, and seven of the ten kinds
        # (two physical, two of the image, one spectral, diversity, a label and a shortcut
        # cue), both strengths kept for the monotonicity table
        "lab": dict(seeds=(0,), corruptions=("melanin", "blood", "blur", "spectral_smoothing",
                                             "diversity", "label_noise", "fingerprint")),
        "quick": dict(seeds=(0, 1), max_states=5, amount=50.0,
                      corruptions=tuple(k for k in ORACLE_CORRUPTIONS
                                        if k != "misregistration"),
                      levels=(0.5, 1.0), probe_image_size=32, probe_epochs=8,
                      probe_patience=3, metric_classes=("MM",), metric_feature_size=75,
                      metric_repeats=1, metric_boot=50, metric_pixels_physics=300,
                      metric_probe_epochs=2, metric_probe_folds=2, relevance_steps=8,
                      n_boot=1000, n_perm=1999),
        "smoke": dict(seeds=(0, 1), max_states=4, amount=50.0, max_crops=20, levels=(1.0,),
                      probe_image_size=32, probe_batch_size=4, probe_lr=1e-3, probe_epochs=2,
                      probe_patience=1, metric_feature_size=75, metric_repeats=1,
                      metric_boot=20, metric_pixels_physics=100, metric_probe_epochs=1,
                      metric_probe_folds=2, relevance_steps=4, n_boot=200, n_perm=199),
    }

    def dry(self) -> CorrelationStudyConfig:
        """What a dry run keeps of the oracle ladder (hsilib.config.dryrun): every corruption
        kind at its strongest level. Each level of a kind runs the same code, and each rung's
        state is scored by the protocol at the crops' full size (at ``full``, about 50 s per
        state on a 2-core CPU for 45 rungs)."""
        return replace(self, levels=(max(self.levels),))

    def validate(self) -> None:
        for name in ("corruptions", "levels", "metric_classes"):
            value = getattr(self, name)
            if len(set(value)) != len(value):
                raise ConfigError(f"CorrelationStudyConfig.{name}: no repeated items, got "
                                  f"{value!r}")
