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
    #: output sides the family's networks support (checked when a config is resolved)
    image_sizes: ClassVar[tuple[int, ...]] = (4, 8, 16, 32, 64, 128, 256, 512, 1024)

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
    image_sizes: ClassVar[tuple[int, ...]] = (32, 64, 128, 256)  # fastgan.SIZES

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
class StyleGAN2Config(GeneratorConfig):
    """StyleGAN2-ADA (notebook 03, second family); defaults: Karras et al. 2020's 256-px setting
    (widths 16384 / resolution up to 512, 8 mapping layers, lr 2.5e-3, betas (0, 0.99), R1 every
    16 steps, path length every 4, ADA target 0.6 adjusted every 4 steps over 500k images)."""

    family: ClassVar[str] = "stylegan2"

    betas: tuple[float, float] = (0.0, 0.99)
    lr: float = 2.5e-3
    z_dim: int = 512
    w_dim: int = 512
    mapping_layers: int = 8
    mapping_lr_mul: float = 0.01
    channel_base: int = 16384  # feature maps at resolution r: min(channel_max, channel_base // r)
    channel_max: int = 512
    style_mixing: float = 0.9  # probability of mixing two latents per generated image
    r1_gamma: float = 1.0  # weight gamma of (gamma / 2) E||grad D(real)||^2
    r1_every: int = 16  # lazy R1: every this many steps
    pl_weight: float = 2.0  # path-length regularisation; 0 = off
    pl_every: int = 4
    ada_target: float = 0.6  # target of r_t = E[sign(D(real))]
    ada_interval: int = 4  # steps between adjustments of p
    ada_kimg: float = 500.0  # thousands of real images for p to go from 0 to 1
    ada_ops: tuple[str, ...] = ("xflip", "rot90", "translate", "scale", "cutout")

    DELTAS: ClassVar[Deltas] = {
        # a step measured at 0.7-0.85 x a FastGAN quick step on the same (busy) 2-core CPU, so
        # 400 steps take about the seconds of FastGAN's 300 (notebook 03 shows both times).
        # ADA must move p within a few hundred steps, hence the small ada_kimg (p from 0 to 1 in
        # 125 steps of 8 images)
        "quick": dict(image_size=64, batch_size=8, steps=400, z_dim=64, w_dim=64,
                      mapping_layers=2, channel_base=1024, channel_max=64, r1_gamma=0.1,
                      pl_weight=0.0, ada_kimg=1.0, log_every=10, sample_every=100,
                      checkpoint_every=100),
        "smoke": dict(image_size=32, batch_size=4, steps=3, z_dim=16, w_dim=16,
                      mapping_layers=1, channel_base=128, channel_max=8, r1_every=2,
                      pl_every=2, ada_interval=1, ada_kimg=0.01, log_every=1, sample_every=2,
                      checkpoint_every=2),
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
    # StyleGAN2-ADA part: SeFa directions, traversals and inversion of validation crops
    sefa_k: int = 5  # SeFa directions shown (top eigenvectors)
    sefa_layers: tuple[int, ...] = (0, 1, 2)  # modulated convolutions whose style weights count
    traversal_sd: float = 3.0  # traversals span +- this many SDs of w along a direction
    n_traversal: int = 16  # latents per traversal point (lesion, spectrum, chromophore reads)
    n_invert: int = 16  # validation crops inverted into W and W+
    invert_steps: int = 500  # optimiser steps per inversion

    # training steps at which every generator run of notebooks 03 and 05 also keeps a snapshot
    # (checkpoints/snapshots/<name>_s<step>.pt): states along training for notebook 08
    snapshot_steps: tuple[int, ...] = (5000, 20_000, 50_000)

    DELTAS: ClassVar[Deltas] = {
        "quick": dict(n_synthetic=100, compare_steps=150, generator_seeds=(0, 1),
                      replicates="seeds", sefa_k=3, n_traversal=8, n_invert=8,
                      invert_steps=150, snapshot_steps=(100,)),
        "smoke": dict(n_synthetic=6, compare_steps=3, generator_seeds=(0, 1), replicates="seeds",
                      sefa_k=2, sefa_layers=(0,), n_traversal=2, n_invert=2, invert_steps=3,
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
# 02 SHS-GAN critic ablation, the RGB-to-hyperspectral SHS-GAN and the classic GAN families
# --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class ShsGANConfig(GeneratorConfig):
    """WGAN-GP generators of notebook 02 (:mod:`hsilib.models.shsgan`). Defaults: the study's
    first experiment (DCGAN generator, 64 x 64 x 16, batch 4, Adam lr 1e-5, gradient penalty
    10, two critic updates per generator update)."""

    family: ClassVar[str] = "shsgan"

    image_size: int = 64
    batch_size: int = 4
    steps: int = 20_000
    lr: float = 1e-5
    betas: tuple[float, float] = (0.5, 0.9)
    generator: Literal["dcgan", "3d", "rgb"] = "dcgan"  # rgb: the RGB-to-HS SHS-GAN
    critic: Literal["2d", "3d", "3d_sn", "3d_sn_fft"] = "3d_sn_fft"
    attention: bool = False  # band attention at G's output and D's input
    z_dim: int = 100
    ngf: int = 64
    ndf: int = 64  # 2-D critic width
    ndf3d: int = 16  # 3-D critic width (its maps keep all bands: 16 x wider per channel)
    gp_weight: float = 10.0
    n_critic: int = 2
    rgb_weight: float = 10.0  # RGB-consistency loss of generator="rgb"
    reflectance_min: tuple[float, ...] = ()  # training normaliser's band_min (generator="rgb")
    reflectance_max: tuple[float, ...] = ()  # and band_max
    ema_decay: float = 0.999
    sample_every: int = 1000
    checkpoint_every: int = 1000

    DELTAS: ClassVar[Deltas] = {
        # lr 1e-5 barely moves in a hundred CPU steps: quick uses lr 2e-4, and 32 px because the
        # gradient penalty's double backward through the 3-D critic costs ~0.3-0.8 s per step
        # at 64 px on 2 busy cores (the notebook says so)
        "quick": dict(image_size=32, batch_size=4, steps=100, lr=2e-4, z_dim=64, ngf=16,
                      ndf=16, ndf3d=4,
                      log_every=10, sample_every=0, checkpoint_every=0),
        "smoke": dict(image_size=32, batch_size=2, steps=2, lr=2e-4, z_dim=8, ngf=4, ndf=4,
                      ndf3d=2, log_every=1, sample_every=0, checkpoint_every=0),
    }

    def __post_init__(self) -> None:
        _check_choices(self)
        if self.n_critic < 1:
            raise ConfigError(f"ShsGANConfig.n_critic must be >= 1, got {self.n_critic}")
        if len(self.reflectance_min) != len(self.reflectance_max):
            raise ConfigError("ShsGANConfig.reflectance_min and reflectance_max must have the "
                              "same length")


@dataclass(frozen=True)
class ClassicGANConfig(GeneratorConfig):
    """DCGAN, SN-GAN and AC-GAN of notebook 02 (:mod:`hsilib.models.classic`). Defaults: the
    DCGAN paper's Adam (lr 2e-4, beta1 0.5) at the study's 64 x 64 x 16."""

    family: ClassVar[str] = "classic"

    image_size: int = 64
    batch_size: int = 16
    steps: int = 20_000
    variant: Literal["dcgan", "sngan", "acgan"] = "dcgan"
    z_dim: int = 100
    ngf: int = 64
    ndf: int = 64
    aux_weight: float = 1.0  # AC-GAN: weight of the auxiliary class loss
    sample_every: int = 1000
    checkpoint_every: int = 1000

    DELTAS: ClassVar[Deltas] = {
        "quick": dict(image_size=32, batch_size=8, steps=100, z_dim=64, ngf=16, ndf=16,
                      log_every=10,
                      sample_every=0, checkpoint_every=0),
        "smoke": dict(image_size=32, batch_size=2, steps=2, z_dim=8, ngf=4, ndf=4,
                      log_every=1, sample_every=0, checkpoint_every=0),
    }


@dataclass(frozen=True)
class AblationStudyConfig:
    """What notebook 02 runs: ``arms`` (names of :data:`hsilib.study.ablation.ARMS`), one
    generator per arm, class and seed of ``seeds`` (AC-GAN: one per seed for both classes),
    each for its section's ``steps``. Evaluation: the protocol's metrics for MM on every arm and
    for DN on the arms of ``dn_arms`` (None: all), with the ``metrics`` section changed by
    ``metrics_overrides`` (e.g. fewer repeats to fit the CPU budget); ``n_eval`` synthetic
    crops per evaluation and export; ``n_recon`` validation crops (per class) for the
    RGB-to-HS reconstruction scores; ``n_rgb``: unpaired RGB images (None: all)."""

    arms: tuple[str, ...] = ("critic_2d", "critic_3d", "critic_3d_sn", "critic_3d_sn_fft",
                             "shsgan_rgb", "dcgan", "sngan", "acgan", "g3d", "attention")
    seeds: tuple[int, ...] = (0, 1, 2)
    dn_arms: tuple[str, ...] | None = None
    metrics_overrides: tuple[tuple[str, Any], ...] = ()
    n_eval: int = 200
    n_recon: int | None = None  # None: every validation crop
    recon_pixels: int = 500  # pixels per model for the chromophore fit
    n_rgb: int | None = None

    DELTAS: ClassVar[Deltas] = {
        # ten arms x two classes in about 10 minutes on 2 cores: one seed, MM for every arm and
        # DN for the critic ladder and the RGB-to-HS arm, a lighter evaluation (one repeat, a
        # 4-epoch probe, 75 px features)
        "quick": dict(seeds=(0,), n_eval=60, n_rgb=200, recon_pixels=200,
                      dn_arms=("critic_2d", "critic_3d", "critic_3d_sn", "critic_3d_sn_fft",
                               "shsgan_rgb"),
                      metrics_overrides=(("n_repeats", 1), ("probe_epochs", 4),
                                         ("probe_folds", 2), ("feature_size", 75),
                                         ("n_boot", 300), ("n_boot_set", 50),
                                         ("n_pixels", 5000), ("n_pixels_physics", 300))),
        "smoke": dict(seeds=(0,), n_eval=6, n_recon=6, n_rgb=16, recon_pixels=50,
                      dn_arms=("critic_2d", "critic_3d_sn_fft", "shsgan_rgb")),
    }

    def __post_init__(self) -> None:
        from .study.ablation import ARMS  # noqa: PLC0415  (light: a dict of names)

        unknown = [a for a in self.arms + tuple(self.dn_arms or ()) if a not in ARMS]
        if unknown:
            raise ConfigError(f"AblationStudyConfig: unknown arms {unknown}; known: "
                              f"{', '.join(ARMS)}")
        if not self.seeds:
            raise ConfigError("AblationStudyConfig.seeds: give at least one seed")
        object.__setattr__(self, "metrics_overrides",
                           tuple(tuple(kv) for kv in self.metrics_overrides))
        bad = [k for k, _ in self.metrics_overrides
               if k not in {f.name for f in dataclasses.fields(MetricsConfig)}]
        if bad:
            raise ConfigError(f"AblationStudyConfig.metrics_overrides: unknown MetricsConfig "
                              f"keys {bad}")


# --------------------------------------------------------------------------------------------
# 04 conditional generators
# --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class CondGANConfig(FastGANConfig):
    """Conditional FastGAN (notebook 04): FastGAN whose generator and discriminator also see a
    condition. ``condition``: ``"mask"`` (the lesion mask), ``"rgb"`` (an RGB dermoscopy image)
    or ``"none"``; ``norm``: how a map enters the generator, ``"concat"`` (concatenated to the
    input features of every block) or ``"spade"`` (spatially-adaptive normalisation, Park et al.
    2019); ``n_classes`` > 0 adds the class (MM / DN) as an input of both networks.
    ``rgb_weight`` > 0 (``condition="rgb"`` only) adds the L1 distance between the sRGB
    rendering of the generated cube and the conditioning image to the generator's loss; the
    rendering needs the training normaliser's ``band_min`` / ``band_max`` (reflectance of the
    normalised range's ends), which the notebook fills in."""

    family: ClassVar[str] = "cfastgan"

    condition: Literal["none", "mask", "rgb"] = "mask"
    norm: Literal["concat", "spade"] = "concat"
    n_classes: int = 0  # 0: no class input; 2: MM / DN
    spade_hidden: int = 128  # channels of SPADE's shared map convolution (Park et al.: 128)
    rgb_weight: float = 0.0
    band_min: tuple[float, ...] = ()
    band_max: tuple[float, ...] = ()

    DELTAS: ClassVar[Deltas] = {
        # 1.0-1.4x the time of a FastGAN quick step (measured side by side on a loaded machine;
        # FastGAN's is ~0.22 s idle at 64 px, ngf 16): six such generators and a CycleGAN share
        # notebook 04's 10 minutes
        "quick": dict(image_size=64, batch_size=8, steps=150, ngf=16, ndf=16, z_dim=64,
                      spade_hidden=16, log_every=10, sample_every=0, checkpoint_every=0),
        "smoke": dict(image_size=32, batch_size=4, steps=3, ngf=4, ndf=4, z_dim=16,
                      spade_hidden=4, log_every=1, sample_every=0, checkpoint_every=0),
    }

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.n_classes < 0 or self.n_classes == 1:
            raise ConfigError(f"CondGANConfig.n_classes: 0 (no class) or >= 2, got "
                              f"{self.n_classes}")
        if len(self.band_min) != len(self.band_max):
            raise ConfigError("CondGANConfig.band_min and band_max must have the same length")
        if self.rgb_weight > 0 and self.condition != "rgb":
            raise ConfigError("CondGANConfig.rgb_weight > 0 needs condition='rgb'")


@dataclass(frozen=True)
class CycleGANConfig(GeneratorConfig):
    """CycleGAN between RGB dermoscopy images and hyperspectral cubes (notebook 04); defaults:
    Zhu et al. 2017 and the study (U-Net generators at 256 px, 70 x 70 PatchGAN discriminators,
    least-squares GAN loss, cycle weight 10, identity weight 0.5 x the cycle weight, a history
    of 50 generated images per discriminator, batch 1, Adam 2e-4 with betas (0.5, 0.999), the
    rate constant for the first half of training and decaying linearly to 0 after
    ``decay_start``). ``band_min`` / ``band_max``: the training normaliser's range, so that the
    identity term can render a cube to sRGB (see :mod:`hsilib.models.cyclegan`)."""

    family: ClassVar[str] = "cyclegan"

    batch_size: int = 1
    steps: int = 100_000
    decay_start: int = 50_000
    ngf: int = 64
    ndf: int = 64
    d_layers: int = 3  # PatchGAN stride-2 layers (3: 70 x 70 receptive field)
    cycle_weight: float = 10.0
    identity_weight: float = 0.5  # times cycle_weight
    pool_size: int = 50
    rgb_channels: int = 3
    ema_decay: float = 0.0  # CycleGAN samples the trained generators (no EMA)
    band_min: tuple[float, ...] = ()
    band_max: tuple[float, ...] = ()

    DELTAS: ClassVar[Deltas] = {
        # ~0.7x a FastGAN quick step (measured side by side on a loaded machine)
        "quick": dict(image_size=64, batch_size=4, steps=150, decay_start=75, ngf=16, ndf=16,
                      log_every=10, sample_every=0, checkpoint_every=0),
        "smoke": dict(image_size=32, batch_size=2, steps=3, decay_start=1, ngf=4, ndf=4,
                      d_layers=2, pool_size=4, log_every=1, sample_every=0, checkpoint_every=0),
    }

    def __post_init__(self) -> None:
        super().__post_init__()
        if not 0 <= self.decay_start < self.steps:
            raise ConfigError(f"CycleGANConfig.decay_start must be in [0, steps), got "
                              f"{self.decay_start} for steps={self.steps}")
        if self.image_size & (self.image_size - 1) or self.image_size < 16:
            raise ConfigError(f"CycleGANConfig.image_size must be a power of two >= 16, got "
                              f"{self.image_size}")
        if len(self.band_min) != len(self.band_max):
            raise ConfigError("CycleGANConfig.band_min and band_max must have the same length")


@dataclass(frozen=True)
class ConditionalStudyConfig:
    """What notebook 04 does with its conditional generators apart from training them.

    ``eval_repeats`` / ``eval_probe_epochs`` (None: the metrics section's values) lighten the
    metric protocol for the notebook's many evaluations; ``n_recon``: validation crops scored
    in the reconstruction tables (None: all); ``spade_rgb_weight``: the rendering-consistency
    weight of the SPADE-RGB generator (``CondGANConfig.rgb_weight``)."""

    n_synthetic: int = 200  # crops per class: exports and evaluations
    eval_repeats: int | None = None
    eval_probe_epochs: int | None = None
    n_recon: int | None = None
    spade_rgb_weight: float = 1.0
    n_show: int = 6  # conditions shown per figure

    DELTAS: ClassVar[Deltas] = {
        # each protocol evaluation is ~10-25 s on 2 cores; notebook 04 runs six
        "quick": dict(n_synthetic=60, eval_repeats=1, eval_probe_epochs=0, n_recon=40),
        "smoke": dict(n_synthetic=6, eval_repeats=1, eval_probe_epochs=0, n_recon=4, n_show=3),
    }


# --------------------------------------------------------------------------------------------
# 05 VAE
# --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class VAEConfig(GeneratorConfig):
    """Variational auto-encoder (notebook 05); defaults: the study's VAE (latent 64, KL weight
    1e-2, lr 2e-4, 256 px, batch 16)."""

    family: ClassVar[str] = "vae"
    image_sizes: ClassVar[tuple[int, ...]] = (32, 64, 128, 256)  # vae.SIZES

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
# 09 explainability
# --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class ExplainStudyConfig:
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

    seeds: tuple[int, ...] = (0, 1, 2, 3, 4)  # classifier seeds of every input variant
    attribution_seeds: int | None = None  # explain the first this many seeds (None: all)
    epochs: int | None = None  # classifier epochs of the variants (None: ClassifierConfig's)
    methods: tuple[Literal["ig", "gradcam", "ablation"], ...] = ("ig", "gradcam", "ablation")
    ig_steps: int = 64  # Integrated Gradients: points on the path from the baseline
    baseline: Literal["mean", "zero"] = "mean"  # mean: the training crops' mean spectrum
    n_per_class: int | None = None  # test crops per class explained (None: all)
    n_sanity: int = 40  # test crops of the model-randomisation check
    n_select: int = 3  # bands of the reduced variant, chosen on validation attributions
    select_method: Literal["ig", "gradcam", "ablation"] = "ig"
    n_synthetic: int = 100  # synthetic crops per generator family and class
    n_real: int | None = None  # real training crops per class in that comparison (None: all)
    families: tuple[str, ...] | None = None  # generator families compared (None: all found)
    distance_method: Literal["ig", "gradcam", "ablation"] = "ig"
    occlusion_window: int = 28  # side of the occlusion squares (px; 1/8 of a 224 px crop)
    n_show: int = 4  # test crops shown in the attribution-map figure
    n_repeats: int = 5  # subsamples that value and floor of the task-aware distance average
    n_boot: int = 2000  # cluster-bootstrap resamples (source images) for every interval
    threshold_rule: Literal["youden", "f1", "fixed"] = "youden"  # chosen on validation

    DELTAS: ClassVar[Deltas] = {
        # per-step CPU seconds measured at quick sizes (64 px, small CNN, random data) on the
        # busy 2-core machine: a classifier epoch on 200 crops 0.8 (16 bands) / 0.5 (3
        # channels), IG with 16 points 0.046 per crop, Guided Grad-CAM 0.004, ablation of 32
        # groups 0.066, occlusion 0.4, reading a crop 2-20 ms. 12 runs at notebook 06's measured
        # ~6 s per run (idle) plus ~130 s of attributions (2 seeds explained; 20 synthetic crops
        # for each of ~25 family-class sets), reading, bootstraps and figures: an estimate of
        # ~3.5 minutes on 2 idle cores (~5.4 if every run took all 40 epochs)
        "quick": dict(seeds=(0, 1, 2), attribution_seeds=2, ig_steps=16, n_sanity=16,
                      n_synthetic=20, n_real=40, occlusion_window=8, n_repeats=3, n_boot=500),
        "smoke": dict(seeds=(0, 1), attribution_seeds=1, ig_steps=4, n_per_class=4,
                      n_sanity=4, n_synthetic=4, n_real=6, occlusion_window=4, n_show=2,
                      n_repeats=2, n_boot=50),
    }

    def __post_init__(self) -> None:
        _check_choices(self)
        if not self.seeds:
            raise ConfigError("ExplainStudyConfig.seeds: give at least one seed")
        if self.attribution_seeds is not None and not 1 <= self.attribution_seeds:
            raise ConfigError(f"ExplainStudyConfig.attribution_seeds must be >= 1 (or None), "
                              f"got {self.attribution_seeds}")
        if not self.methods or len(set(self.methods)) != len(self.methods):
            raise ConfigError(f"ExplainStudyConfig.methods: give distinct methods, got "
                              f"{self.methods}")
        if not 1 <= self.n_select < 16:
            raise ConfigError(f"ExplainStudyConfig.n_select must be in [1, 15], got "
                              f"{self.n_select}")
        for name in ("n_sanity", "n_synthetic", "occlusion_window"):
            if getattr(self, name) < 1:
                raise ConfigError(f"ExplainStudyConfig.{name} must be >= 1, got "
                                  f"{getattr(self, name)}")


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
    stylegan2: StyleGAN2Config = field(default_factory=StyleGAN2Config)
    gan_study: GANStudyConfig = field(default_factory=GANStudyConfig)
    shsgan: ShsGANConfig = field(default_factory=ShsGANConfig)
    classic: ClassicGANConfig = field(default_factory=ClassicGANConfig)
    ablation_study: AblationStudyConfig = field(default_factory=AblationStudyConfig)
    cond_gan: CondGANConfig = field(default_factory=CondGANConfig)
    cyclegan: CycleGANConfig = field(default_factory=CycleGANConfig)
    conditional_study: ConditionalStudyConfig = field(default_factory=ConditionalStudyConfig)
    vae: VAEConfig = field(default_factory=VAEConfig)
    vae_study: VAEStudyConfig = field(default_factory=VAEStudyConfig)
    classifier: ClassifierConfig = field(default_factory=ClassifierConfig)
    classifier_study: ClassifierStudyConfig = field(default_factory=ClassifierStudyConfig)
    proportion_study: ProportionStudyConfig = field(default_factory=ProportionStudyConfig)
    correlation_study: CorrelationStudyConfig = field(default_factory=CorrelationStudyConfig)
    explain_study: ExplainStudyConfig = field(default_factory=ExplainStudyConfig)
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
    _check_ranges(obj)


# --------------------------------------------------------------------------------------------
# Ranges: one table of rules by field name, applied to every section (new ones included)
# --------------------------------------------------------------------------------------------
#: Integer fields that must be at least 1 (any section), with their own minimum where larger.
#: Any other integer field must be >= 0, except names containing "seed".
POSITIVE_INTS: dict[str, int] = {
    "steps": 1, "batch_size": 1, "epochs": 1, "patience": 1, "image_size": 1, "crop_size": 1,
    "rgb_size": 1, "n_bands": 1, "z_dim": 1, "ngf": 1, "ndf": 1, "latent_dim": 1,
    "base_width": 1, "k": 1, "n_eval": 1, "n_boot": 1, "n_boot_set": 1, "n_repeats": 1,
    "repeats": 1, "n_synthetic": 1, "n_interpolation": 2, "probe_folds": 2, "probe_width": 1,
    "n_pixels": 1, "n_pixels_physics": 1, "workers": 1, "feature_size": 75, "n_folds": 2,
    "sweep_steps": 1, "compare_steps": 1,
}
#: Devices: "auto", "cpu", "mps", "cuda" or "cuda:N".
DEVICE_RE = r"auto|cpu|mps|cuda(:\d+)?"


def _positive_minimum(name: str) -> int | None:
    if name in POSITIVE_INTS:
        return POSITIVE_INTS[name]
    if name.endswith(("_batch_size", "_epochs")) and not name.startswith("probe_"):
        return 1
    if name.endswith("_steps") and not name.startswith("warmup"):
        return 1
    return None


def _range_error(name: str, value: Any, obj: Any) -> str | None:
    """Why ``value`` is out of range for field ``name`` of ``obj`` (None when it is fine)."""
    import math
    import re

    if isinstance(value, bool) or value is None:
        return None
    if name == "device" or name.endswith("_device"):
        if not isinstance(value, str) or not re.fullmatch(DEVICE_RE, value):
            return "must be 'auto', 'cpu', 'mps', 'cuda' or 'cuda:N'"
        return None
    if isinstance(value, float) and not math.isfinite(value):
        return "must be a finite number"
    if isinstance(value, int):
        low = _positive_minimum(name)
        if low is not None and value < low:
            return f"must be >= {low}"
        if low is None and "seed" not in name and value < 0:
            return "must be >= 0"
        if name == "image_size" and isinstance(obj, GeneratorConfig) and \
                value not in type(obj).image_sizes:
            return (f"must be one of the sizes {type(obj).__name__} supports: "
                    f"{', '.join(map(str, type(obj).image_sizes))}")
        return None
    if isinstance(value, float):
        if (name == "lr" or name.endswith("_lr")) and value <= 0:
            return "must be > 0"
        if (name.endswith("weight") or name == "weight_decay") and value < 0:
            return "must be >= 0"
        if name.endswith("decay") and name != "weight_decay" and not 0 <= value < 1:
            return "must be in [0, 1)"
        if "fraction" in name and not 0 < value <= 1:
            return "must be in (0, 1]"
        if name == "scale" and value <= 0:
            return "must be > 0"
        if name == "crop_scale" and value < 1:
            return "must be >= 1 (the crop holds the whole lesion box)"
        return None
    if isinstance(value, tuple) and value and all(
            isinstance(v, (int, float)) and not isinstance(v, bool) for v in value):
        if not all(math.isfinite(v) for v in value):
            return "must hold finite numbers"
        if name == "betas" and not all(0 <= v < 1 for v in value):
            return "must be in [0, 1) each"
        if name == "split_fractions":
            if not all(0 < v < 1 for v in value) or abs(sum(value) - 1) > 1e-6:
                return "must be three shares in (0, 1) that sum to 1"
        elif "fraction" in name and not all(0 < v <= 1 for v in value):
            return "must be in (0, 1] each"
    return None


def _check_ranges(obj: Any) -> None:
    """Raise :class:`ConfigError` naming the section, field and value of the first field out of
    range (the rules of :func:`_range_error`, by field name, so a new section gets them)."""
    for f in dataclasses.fields(obj):
        value = getattr(obj, f.name)
        if dataclasses.is_dataclass(value):
            continue
        why = _range_error(f.name, value, obj)
        if why:
            raise ConfigError(f"{type(obj).__name__}.{f.name} {why}, got {value!r}")


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
    try:
        out = replace(obj, **changes)
        _check_ranges(out)  # also for sections without a __post_init__
    except ConfigError as exc:
        raise ConfigError(f"{where}: {exc}") from None
    return out


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
