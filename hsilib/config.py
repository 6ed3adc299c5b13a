"""Run profiles: one frozen dataclass per notebook/experiment, one instance per profile.

Three profiles exist and nothing else in the project branches on their names:

- ``smoke``: seconds per notebook; exercises every code path for the tests.
- ``quick``: meaningful results on a 2-core CPU laptop (the whole study in under an hour).
- ``full``: the paper-scale run on one GPU (the settings of the original study).

Every section's class defaults are the ``full`` values; ``quick`` and ``smoke`` replace a few
fields. Use :func:`resolve` to get a section (or the whole study) with checked overrides::

    cfg = resolve("quick", "fastgan", steps=200)       # -> FastGANConfig
    study = resolve("smoke", fastgan={"steps": 2})      # -> StudyConfig

Introduced in notebook 01; every notebook resolves its section in the cell after ``parameters``.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from dataclasses import dataclass, field, replace
from typing import Any, ClassVar, Literal, Union

PROFILES = ("smoke", "quick", "full")
Deltas = dict[str, dict[str, Any]]  # profile -> {field: value}, beside each section class


# --------------------------------------------------------------------------------------------
# 01 preprocessing: stand-in data, segmentation, crops, splits, normalisation
# --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class DataConfig:
    """Stand-in generation and preprocessing (notebook 01)."""

    scale: float = 1.0  # stand-in cube size relative to the camera's 272 x 512
    n_mm: int = 85  # melanoma cubes (HSIDermoscopy: 85)
    n_dn: int = 175  # dysplastic nevus cubes (175)
    n_other: int = 70  # other lesions (70)
    n_rgb: int = 2000  # unpaired RGB dermoscopy images (MILK10K/ISIC stand-in)
    rgb_size: int = 256  # side of the square RGB images
    crop_size: int = 256  # side of the square lesion crops
    crop_scale: float = 1.5  # lesion bounding box scaled about its centre before cropping
    min_lesion_px: int = 400  # smaller segments are discarded (at scale 1; scales with area)
    split_fractions: tuple[float, float, float] = (0.70, 0.15, 0.15)
    n_folds: int = 5  # grouped K folds (kfold.csv); >= 3 for GANStudyConfig.replicates="folds"
    workers: int = 2  # processes for generation and preprocessing
    masks_dir: str | None = None  # user masks <stem>_cropNN_mask.png; None = automatic segmentation
    # per-band scaling fitted on the training crops: robust percentiles of the field's pixels,
    # or the study's min/max over all pixels (set by the black outside and by glints)
    normalisation: Literal["percentile", "minmax"] = "percentile"
    norm_percentiles: tuple[float, float] = (0.5, 99.5)  # low, high (percentile method)
    probe_epochs: int = 15  # epochs of the context-only shortcut probe (one CNN per CV fold)

    DELTAS: ClassVar[Deltas] = {
        "quick": dict(scale=0.5, n_rgb=400, rgb_size=128, crop_size=64, probe_epochs=8),
        "smoke": dict(scale=0.25, n_mm=14, n_dn=16, n_other=4, n_rgb=16, rgb_size=64,
                      crop_size=32, n_folds=2, workers=1, probe_epochs=1),
    }

    def __post_init__(self) -> None:
        _check_choices(self)
        lo, hi = self.norm_percentiles
        if not 0 <= lo < hi <= 100:
            raise ConfigError(f"DataConfig.norm_percentiles: need 0 <= low < high <= 100, got "
                              f"{self.norm_percentiles}")


# --------------------------------------------------------------------------------------------
# Generator evaluation (metrics used from notebook 03 on)
# --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class MetricsConfig:
    """Generator-quality evaluation (hsilib.metrics.protocol)."""

    batch_size: int = 50  # images per feature-extraction batch (streaming)
    inception_weights: str | None = None  # local FID Inception checkpoint; None -> FD_rand
    feature_size: int = 299  # Inception16 input side (>= 75; smaller is much faster on CPU)
    n_eval: int = 200  # synthetic images per evaluation
    k: int = 3  # neighbours for precision/recall and density/coverage (fewer for tiny sets)
    n_pixels: int = 20_000  # pixel spectra per region and compared set, for the spectral FD
    n_pixels_physics: int = 1000  # in-field spectra per compared set for the chromophore fits
    n_boot: int = 1000  # resamples: per-image-term, memorisation and detectability intervals
    n_boot_set: int = 200  # resamples for the intervals of set-level metrics (FD, KID, ...)
    n_repeats: int = 10  # random equal-size subsamples that value and floor are averaged over
    probe_epochs: int = 15  # detectability probe: training epochs per fold (0: no probe)
    probe_folds: int = 5  # detectability probe: grouped cross-validation folds
    probe_width: int = 8  # detectability probe: SmallCNN width

    DELTAS: ClassVar[Deltas] = {
        # feature_size 299 takes ~50 s on 2 cores; the probe ~4 s for 75 vs 75 crops of 64 px
        "quick": dict(feature_size=139, n_boot_set=100, n_repeats=3, probe_epochs=10,
                      probe_folds=3),
        "smoke": dict(feature_size=75, n_eval=6, n_pixels=2000, n_pixels_physics=200,
                      n_boot=50, n_boot_set=20, n_repeats=1, probe_epochs=1, probe_folds=2,
                      probe_width=2),
    }


# --------------------------------------------------------------------------------------------
# Generators: the fields every family's trainer reads, then one class per family
# --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class GeneratorConfig:
    """What :func:`hsilib.train.trainer.make_trainer` reads from any generator family's config.

    A family's config subclasses this and sets the class attribute ``family`` (its name in
    :mod:`hsilib.models.registry`).
    """

    family: ClassVar[str] = ""

    image_size: int = 256  # output side
    n_bands: int = 16  # spectral bands of the generated cubes
    batch_size: int = 16
    steps: int = 100_000
    lr: float = 2e-4
    betas: tuple[float, float] = (0.5, 0.999)
    ema_decay: float = 0.999  # EMA of the sampled networks (with a warm-up; see the trainer)
    log_every: int = 100
    sample_every: int = 5000
    checkpoint_every: int = 5000
    amp: bool = True  # bf16 autocast and channels_last where CUDA supports them

    def __post_init__(self) -> None:
        _check_choices(self)


@dataclass(frozen=True)
class FastGANConfig(GeneratorConfig):
    """FastGAN (notebook 03); defaults: Liu et al. 2021 and the study (256 px, batch 16)."""

    family: ClassVar[str] = "fastgan"

    z_dim: int = 256
    ngf: int = 64
    ndf: int = 64
    diffaug: tuple[str, ...] = ("translation", "cutout")
    lpips_weights: str | None = None  # local VGG16 / AlexNet checkpoint for 16-band LPIPS
    lpips_net: Literal["vgg", "alex"] = "vgg"  # backbone of lpips_weights: VGG16 or AlexNet
    spectral_loss_weight: float = 0.0  # SAM + SID terms (the study's future work); 0 = off

    DELTAS: ClassVar[Deltas] = {
        # ~0.45-0.6 s per step on 2 cores; two classes x two generator seeds must fit the budget
        "quick": dict(image_size=64, batch_size=8, steps=300, ngf=16, ndf=16, z_dim=64,
                      log_every=10, sample_every=100, checkpoint_every=100),
        "smoke": dict(image_size=32, batch_size=4, steps=3, ngf=4, ndf=4, z_dim=16,
                      log_every=1, sample_every=2, checkpoint_every=2),
    }


@dataclass(frozen=True)
class GANStudyConfig:
    """What notebook 03 does with its generators, apart from training them.

    ``replicates``: what a generator replicate is. ``"seeds"``: one generator per class and
    seed of ``generator_seeds``, all on the fixed training split; the classifiers of notebook 06
    train once with each, so their intervals include the spread between generator runs.
    ``"folds"``: grouped K-fold cross-validation over ``splits/kfold.csv``
    (``DataConfig.n_folds`` folds, at least 3): replicate r is fold r
    (:func:`hsilib.data.splits.fold_split`), its generators are retrained on that fold's
    training crops only (seed ``generator_seeds[0]``), and notebook 06 runs every
    configuration, real-only ones too, once per fold and classifier seed.
    ``compare_steps``: length of the two melanoma runs (without / with spectral losses) whose
    validation scores decide ``spectral_loss_weight`` for every generator."""

    n_synthetic: int = 200  # crops exported per class
    filter_top_fraction: float = 1.0  # keep this share of samples, best critic scores first
    compare_spectral_weight: float = 1.0  # spectral_loss_weight of the comparison run
    compare_steps: int = 20_000  # steps of that comparison run (and of its matched baseline)
    generator_seeds: tuple[int, ...] = (0, 1, 2)
    replicates: Literal["seeds", "folds"] = "folds"
    # training steps at which every generator run of notebooks 03 and 05 also keeps a snapshot
    # (checkpoints/snapshots/<name>_s<step>.pt): states along training for notebook 08
    snapshot_steps: tuple[int, ...] = (5000, 20_000, 50_000)

    DELTAS: ClassVar[Deltas] = {
        "quick": dict(n_synthetic=100, compare_steps=150, generator_seeds=(0, 1),
                      replicates="seeds", snapshot_steps=(100,)),
        "smoke": dict(n_synthetic=6, compare_steps=3, generator_seeds=(0, 1), replicates="seeds",
                      snapshot_steps=(1,)),
    }

    def __post_init__(self) -> None:
        _check_choices(self)
        if not self.generator_seeds:
            raise ConfigError("GANStudyConfig.generator_seeds: give at least one seed")
        if any(s < 1 for s in self.snapshot_steps):
            raise ConfigError(f"GANStudyConfig.snapshot_steps must be >= 1, got "
                              f"{self.snapshot_steps}")



# --------------------------------------------------------------------------------------------
# 05 VAE
# --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class VAEConfig(GeneratorConfig):
    """Variational auto-encoder (notebook 05); defaults: the study's VAE (latent 64, KL weight
    1e-2, lr 2e-4, 256 px, batch 16)."""

    family: ClassVar[str] = "vae"

    latent_dim: int = 64
    base_width: int = 32  # channels of the full-size feature map; doubled per halving, max x8
    kl_weight: float = 1e-2  # weight of KL(q(z|x) || N(0, I)) against the per-value MSE
    spectral_loss_weight: float = 0.0  # SAM + SID between reconstruction and input; 0 = off
    conditional: bool = False  # CVAE: the class (MM / DN) is an input of encoder and decoder
    betas: tuple[float, float] = (0.9, 0.999)

    DELTAS: ClassVar[Deltas] = {
        # ~0.05-0.1 s per step on 2 cores at 64 px: a KL sweep, two classes x two seeds and a
        # conditional VAE fit the notebook's 5 minutes
        "quick": dict(image_size=64, batch_size=8, steps=300, latent_dim=32, base_width=16,
                      log_every=10, sample_every=200, checkpoint_every=200),
        "smoke": dict(image_size=32, batch_size=4, steps=3, latent_dim=8, base_width=4,
                      log_every=1, sample_every=2, checkpoint_every=2),
    }


@dataclass(frozen=True)
class VAEStudyConfig:
    """What notebook 05 does with its VAEs apart from training them: the KL-weight sweep (on
    melanoma, measured on validation), the number of exported crops per class; the generator
    seeds are ``GANStudyConfig.generator_seeds`` (one VAE per class and seed)."""

    kl_sweep: tuple[float, ...] = (1e-3, 1e-2, 1e-1)
    sweep_steps: int = 20_000  # steps per sweep run; equal to VAEConfig.steps: one run is reused
    n_synthetic: int = 200  # crops exported per class and seed
    n_interpolation: int = 7  # images on the latent path between two validation lesions

    DELTAS: ClassVar[Deltas] = {
        "quick": dict(sweep_steps=300, n_synthetic=100),
        "smoke": dict(sweep_steps=3, n_synthetic=6, n_interpolation=3),
    }

    def __post_init__(self) -> None:
        if not self.kl_sweep or min(self.kl_sweep) <= 0:
            raise ConfigError(f"VAEStudyConfig.kl_sweep: give positive weights, got "
                              f"{self.kl_sweep}")

# --------------------------------------------------------------------------------------------
# 06 classifiers
# --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class ClassifierConfig:
    """Melanoma classifiers (notebook 06). Defaults: the study's DenseNet201 setting."""

    arch: Literal["small", "resnet50", "densenet201", "efficientnet_b6"] = "densenet201"
    image_size: int = 224
    batch_size: int = 8
    lr: float = 1e-4
    weight_decay: float = 1e-2
    epochs: int = 400
    patience: int = 100
    select_metric: Literal["loss", "sensitivity", "specificity", "precision", "f1",
                           "balanced_accuracy", "accuracy", "auroc", "auprc"] = "auroc"
    pretrained_weights: str | None = None  # local ImageNet checkpoint (3-channel)
    specialist_weights: str | None = None  # local ISIC melanoma checkpoint (3-channel)
    num_workers: int = 0
    device: str = "auto"

    DELTAS: ClassVar[Deltas] = {
        "quick": dict(arch="small", image_size=64, batch_size=32, lr=2e-3, epochs=40,
                      patience=10),
        "smoke": dict(arch="small", image_size=32, batch_size=4, lr=1e-3, epochs=2,
                      patience=1),
    }

    def __post_init__(self) -> None:
        _check_choices(self)


@dataclass(frozen=True)
class ClassifierStudyConfig:
    """What notebook 06 does with the classifiers: seeds, training mixes, thresholds, CIs.

    Configurations with synthetic crops run once per classifier seed and generator replicate
    (``GANStudyConfig.generator_seeds``); real-only ones once per classifier seed. Under
    ``GANStudyConfig.replicates = "folds"`` every configuration runs once per classifier seed
    and fold.
    """

    seeds: tuple[int, ...] = (0, 1, 2, 3, 4)  # classifier seeds
    n_synthetic_total: int = 100  # main comparison: synthetic crops, split MM:DN as real training
    n_synthetic_mm_only: int = 100  # the original study's mix: synthetic MM only (+ its control)
    n_synthetic_tstr: int | None = None  # synthetic crops per class for TSTR; None = all exported
    fractions: tuple[float, ...] = (0.25, 0.5, 1.0)  # learning curve: shares of real training data
    threshold_rule: Literal["youden", "f1", "fixed"] = "youden"  # threshold chosen on validation
    n_boot: int = 2000  # cluster-bootstrap resamples (source images) for test CIs, paired tests

    DELTAS: ClassVar[Deltas] = {
        # 3 seeds (x 2 generator replicates for synthetic mixes), three curve points, TSTR on
        # 50 crops per class: 60 runs, notebook 06 in about 5 minutes on 2 cores
        "quick": dict(seeds=(0, 1, 2), n_synthetic_tstr=50, n_boot=500),
        "smoke": dict(seeds=(0, 1), n_synthetic_total=6, n_synthetic_mm_only=4,
                      fractions=(0.5, 1.0), n_boot=50),
    }

    def __post_init__(self) -> None:
        _check_choices(self)


@dataclass(frozen=True)
class ProportionStudyConfig:
    """What notebook 07 does: how much synthetic data, from which generator, filtered or not.

    Each configuration runs once per classifier seed and generator replicate
    (``GANStudyConfig.generator_seeds``), with the classifier of ``ClassifierConfig``.
    ``amounts`` are percentages of the real training count of each class (0 is the real-only
    baseline, always run); ``mixes`` add synthetic melanoma only, nevus only, or both in the real
    class ratio. ``generators`` lists ``(family, checkpoint pattern)`` per generator family (the
    pattern is formatted with ``cls`` = mm/dn and ``replicate``); a family whose checkpoints are
    missing is skipped with a note. Filtering keeps the ``filter_fraction`` of an over-sampled
    draw the critic scores highest, against a random subset of the same draw of the same size;
    it runs at ``filter_amounts`` (None: every amount) for the mixes in ``filter_mixes``.
    """

    seeds: tuple[int, ...] = (0, 1, 2, 3, 4)  # classifier seeds
    amounts: tuple[float, ...] = (25.0, 50.0, 100.0, 200.0, 400.0)  # % of real count per class
    mixes: tuple[Literal["MM", "DN", "both"], ...] = ("MM", "DN", "both")
    generators: tuple[tuple[str, str], ...] = (("fastgan", "fastgan_{cls}_g{replicate}.pt"),
                                              ("vae", "vae_{cls}_g{replicate}.pt"))
    filter_fraction: float = 0.3  # share of the over-sampled draw kept by the critic's score
    filter_amounts: tuple[float, ...] | None = None  # amounts with filtered arms; None = all
    filter_mixes: tuple[Literal["MM", "DN", "both"], ...] = ("MM", "DN", "both")
    pool_seed: int = 7000  # sampling seed of a pool: pool_seed + generator replicate
    threshold_rule: Literal["youden", "f1", "fixed"] = "youden"  # threshold chosen on validation
    n_boot: int = 2000  # cluster-bootstrap resamples (source images) for test CIs, paired tests

    DELTAS: ClassVar[Deltas] = {
        # FastGAN only, 2 seeds x 2 generator replicates, 3 amounts x 3 mixes, filtering at 100%
        # (both classes): 52 runs, notebook 07 in about 5 minutes on 2 cores; the VAE's 44 more
        # runs would take it past its 10-minute share (measured: 10 min with the FastGAN runs
        # already done)
        "quick": dict(seeds=(0, 1), amounts=(50.0, 100.0, 200.0), filter_amounts=(100.0,),
                      filter_mixes=("both",), n_boot=500,
                      generators=(("fastgan", "fastgan_{cls}_g{replicate}.pt"),)),
        "smoke": dict(seeds=(0,), amounts=(50.0,), mixes=("MM", "both"), filter_mixes=("both",),
                      n_boot=50),
    }

    def __post_init__(self) -> None:
        _check_choices(self)
        object.__setattr__(self, "generators", tuple(tuple(g) for g in self.generators))
        if any(a < 0 for a in self.amounts):
            raise ConfigError(f"ProportionStudyConfig.amounts must be >= 0, got {self.amounts}")
        if not 0 < self.filter_fraction <= 1:
            raise ConfigError("ProportionStudyConfig.filter_fraction must be in (0, 1], got "
                              f"{self.filter_fraction}")
        if len({f for f, _ in self.generators}) != len(self.generators):
            raise ConfigError("ProportionStudyConfig.generators: family names must be unique, "
                              f"got {self.generators}")


# --------------------------------------------------------------------------------------------
# 08 metric correlation
# --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class CorrelationStudyConfig:
    """What notebook 08 does: do generator metrics predict whether synthetic data helps?

    A generator state is one single-class generator checkpoint (final or a snapshot along
    training) trained on notebook 01's training split. Each state draws ``amount`` % of its
    class's real training count (seed ``pool_seed``); those crops are scored with the metric
    protocol against the validation crops (the ``metrics`` section with the ``metric_*`` fields
    below, a lighter setting than the generator notebooks') and added to the real training set
    of a fixed, fast probe classifier (``probe_*``), trained once per seed of ``seeds``; the
    state's utility is the change of test AUROC and sensitivity against the real-only probe,
    paired by seed. Correlations across states: Spearman, Kendall and Pearson with
    ``n_boot`` bootstrap resamples of the states and ``n_perm`` permutations, Holm-corrected;
    ``study_r`` is the original study's reported bound on |r|.
    """

    seeds: tuple[int, ...] = (0, 1, 2, 3, 4)  # probe classifier seeds
    max_states: int | None = None  # at most this many states, spread over the sorted list
    amount: float = 100.0  # synthetic crops added, % of the real training count of the class
    pool_seed: int = 8000  # sampling seed of every state's synthetic crops
    probe_arch: Literal["small", "resnet50", "densenet201", "efficientnet_b6"] = "small"
    probe_image_size: int = 64
    probe_batch_size: int = 32
    probe_lr: float = 2e-3
    probe_epochs: int = 30
    probe_patience: int = 8
    metric_feature_size: int = 299  # Inception16 input side for the states' FD / KID / PRDC
    metric_repeats: int = 5  # MetricsConfig.n_repeats for the states
    metric_boot: int = 200  # MetricsConfig.n_boot and n_boot_set for the states
    metric_probe_epochs: int = 10  # detectability probe epochs (0: no detectability)
    metric_probe_folds: int = 3
    n_boot: int = 2000  # bootstrap resamples of the generator states (correlation CIs)
    n_perm: int = 9999  # permutations per correlation (p-value resolution 1 / (n_perm + 1))
    study_r: float = 0.18  # the original study's |Pearson r| bound, marked on the figures
    alpha: float = 0.05  # family-wise level of the Holm-corrected tests

    DELTAS: ClassVar[Deltas] = {
        # notebooks 03 and 05 leave ~23 states under quick; 14 of them x (light metrics, an
        # estimated ~10 s, + 2 probe runs of ~2-3 s) aim at notebook 08 in under 5 minutes on
        # 2 idle cores beyond notebooks 01, 03 and 05 (estimated, not measured: shared CPU)
        "quick": dict(seeds=(0, 1), max_states=14, probe_epochs=15, probe_patience=5,
                      metric_feature_size=75, metric_repeats=1, metric_boot=50,
                      metric_probe_epochs=2,
                      metric_probe_folds=2, n_boot=1000, n_perm=1999),
        "smoke": dict(seeds=(0, 1), max_states=8, probe_image_size=32, probe_batch_size=4,
                      probe_lr=1e-3, probe_epochs=2, probe_patience=1, metric_feature_size=75,
                      metric_repeats=1, metric_boot=20, metric_probe_epochs=1,
                      metric_probe_folds=2, n_boot=200, n_perm=199),
    }

    def __post_init__(self) -> None:
        _check_choices(self)
        if not self.seeds:
            raise ConfigError("CorrelationStudyConfig.seeds: give at least one seed")
        if self.amount <= 0:
            raise ConfigError(f"CorrelationStudyConfig.amount must be > 0, got {self.amount}")
        if self.max_states is not None and self.max_states < 3:
            raise ConfigError("CorrelationStudyConfig.max_states must be >= 3 (or None), got "
                              f"{self.max_states}")
        if self.n_perm < 1 or self.n_boot < 1:
            raise ConfigError("CorrelationStudyConfig.n_perm and n_boot must be >= 1")


# --------------------------------------------------------------------------------------------
# Benchmarks (python -m hsilib.bench)
# --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class BenchConfig:
    """Repeats and sizes for ``python -m hsilib.bench``."""

    repeats: int = 3
    warmup: int = 1

    DELTAS: ClassVar[Deltas] = {"smoke": dict(repeats=1, warmup=0)}


@dataclass(frozen=True)
class StudyConfig:
    """All sections of one profile."""

    profile: str = "full"
    save_pdf: bool = True  # figures also as PDF (publication run)
    data: DataConfig = field(default_factory=DataConfig)
    metrics: MetricsConfig = field(default_factory=MetricsConfig)
    fastgan: FastGANConfig = field(default_factory=FastGANConfig)
    gan_study: GANStudyConfig = field(default_factory=GANStudyConfig)
    vae: VAEConfig = field(default_factory=VAEConfig)
    vae_study: VAEStudyConfig = field(default_factory=VAEStudyConfig)
    classifier: ClassifierConfig = field(default_factory=ClassifierConfig)
    classifier_study: ClassifierStudyConfig = field(default_factory=ClassifierStudyConfig)
    proportion_study: ProportionStudyConfig = field(default_factory=ProportionStudyConfig)
    correlation_study: CorrelationStudyConfig = field(default_factory=CorrelationStudyConfig)
    bench: BenchConfig = field(default_factory=BenchConfig)

    DELTAS: ClassVar[Deltas] = {"quick": dict(save_pdf=False), "smoke": dict(save_pdf=False)}


def _profiles() -> dict[str, StudyConfig]:
    """Each profile: the ``full`` defaults with every class's ``DELTAS[profile]`` applied."""
    def deltas(cls: type, profile: str) -> dict[str, Any]:
        return dict(getattr(cls, "DELTAS", {}).get(profile, {}))

    return {profile: StudyConfig(
        profile=profile, **deltas(StudyConfig, profile),
        **{name: cls(**deltas(cls, profile)) for name, cls in _sections().items()})
        for profile in PROFILES}


def _check_choices(obj: Any) -> None:
    """Raise :class:`ConfigError` when a ``Literal`` field of ``obj`` holds a value outside it."""
    hints = typing.get_type_hints(type(obj))
    for f in dataclasses.fields(obj):
        hint, value = hints[f.name], getattr(obj, f.name)
        if typing.get_origin(hint) is Literal and value not in typing.get_args(hint):
            raise ConfigError(f"{type(obj).__name__}.{f.name}: {_choices_error(value, hint)}")


def _choices_error(value: Any, hint: Any) -> str:
    return f"got {value!r}, choose one of {', '.join(map(repr, typing.get_args(hint)))}"


# --------------------------------------------------------------------------------------------
# resolve: profile + checked overrides
# --------------------------------------------------------------------------------------------
class ConfigError(ValueError):
    """An unknown profile, section or key, a value of the wrong type, or one outside its choices."""


def _sections() -> dict[str, type]:
    hints = typing.get_type_hints(StudyConfig)
    return {f.name: hints[f.name] for f in dataclasses.fields(StudyConfig)
            if dataclasses.is_dataclass(hints[f.name])}


def _type_ok(value: Any, hint: Any) -> bool:
    origin = typing.get_origin(hint)
    if hint is Any:
        return True
    if origin is Literal:
        return any(value == a and type(value) is type(a) for a in typing.get_args(hint))
    if origin in (Union, types.UnionType):
        return any(_type_ok(value, h) for h in typing.get_args(hint))
    if hint is type(None):
        return value is None
    if hint is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if hint is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if origin is tuple:
        args = typing.get_args(hint)
        if not isinstance(value, (tuple, list)):
            return False
        if len(args) == 2 and args[1] is Ellipsis:
            return all(_type_ok(v, args[0]) for v in value)
        return len(value) == len(args) and all(
            _type_ok(v, a) for v, a in zip(value, args, strict=True))
    if isinstance(hint, type):
        return isinstance(value, hint)
    return True


def _override(obj: Any, overrides: dict[str, Any], where: str) -> Any:
    hints = typing.get_type_hints(type(obj))
    names = [f.name for f in dataclasses.fields(obj)]
    changes = {}
    for key, value in overrides.items():
        if key not in names:
            raise ConfigError(
                f"unknown key {key!r} for {where} ({type(obj).__name__}); "
                f"valid keys: {', '.join(names)}"
            )
        hint = hints[key]
        if dataclasses.is_dataclass(hint):
            if not isinstance(value, dict):
                raise ConfigError(f"{where}.{key} takes a dict of overrides, got {value!r}")
            value = _override(getattr(obj, key), value, f"{where}.{key}")
        elif typing.get_origin(hint) is Literal and not _type_ok(value, hint):
            raise ConfigError(f"{where}.{key}: {_choices_error(value, hint)}")
        elif not _type_ok(value, hint):
            raise ConfigError(
                f"{where}.{key} must be {getattr(hint, '__name__', hint)}, "
                f"got {type(value).__name__} {value!r}"
            )
        elif typing.get_origin(hint) is tuple or hint is float:
            value = tuple(value) if typing.get_origin(hint) is tuple else float(value)
        changes[key] = value
    return replace(obj, **changes)


def resolve(profile: str, section: str | None = None, **overrides: Any) -> Any:
    """Return the config of ``profile`` (or one ``section`` of it) with ``overrides`` applied.

    Unknown profiles, sections and keys, and values of the wrong type raise
    :class:`ConfigError` with a message that names the offending key.
    """
    table = _profiles()
    if profile not in table:
        raise ConfigError(f"unknown profile {profile!r}; choose one of {', '.join(PROFILES)}")
    study = table[profile]
    if section is None:
        return _override(study, overrides, profile)
    sections = _sections()
    if section not in sections:
        raise ConfigError(f"unknown section {section!r}; choose one of {', '.join(sections)}")
    return _override(getattr(study, section), overrides, f"{profile}.{section}")


def to_dict(cfg: Any) -> dict[str, Any]:
    """A plain, JSON-ready dict of a config (saved inside checkpoints and manifests)."""
    return dataclasses.asdict(cfg)


def from_dict(cls: type, values: dict[str, Any]) -> Any:
    """Rebuild a config saved with :func:`to_dict`, with the same checks as :func:`resolve`."""
    return _override(cls(), values, cls.__name__)
