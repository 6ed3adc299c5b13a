"""Study sections: what notebooks 02-08 do with their generators and classifiers, the
classifier itself, and the benchmarks. Bounds are declared beside each field (see
:mod:`hsilib.config.engine`)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any, ClassVar, Literal

from .bounds import MAX_COUNT, MAX_EPOCHS, MAX_IMAGES, MAX_STEPS, MAX_WIDTH
from .data import MetricsConfig
from .engine import NON_EMPTY, SEED, WEIGHT, Deltas, OneOf, Range, Section, override

Seeds = Annotated[tuple[int, ...], SEED, NON_EMPTY]  # seeds of repeated runs: at least one
Samples = Annotated[int, Range(1, MAX_COUNT)]  # samples drawn, resamples, permutations
Classifiers = Literal["small", "resnet50", "densenet201", "efficientnet_b6"]
#: notebook 02's arms: arm -> (config section, changed fields, one-line description)
ARMS: dict[str, tuple[str, dict[str, Any], str]] = {
    "critic_2d": ("shsgan", {"generator": "dcgan", "critic": "2d"},
                  "DCGAN G, 2-D critic, WGAN-GP"),
    "critic_3d": ("shsgan", {"generator": "dcgan", "critic": "3d"},
                  "DCGAN G, 3-D critic, WGAN-GP"),
    "critic_3d_sn": ("shsgan", {"generator": "dcgan", "critic": "3d_sn"},
                     "DCGAN G, 3-D critic + spectral norm, WGAN-GP"),
    "critic_3d_sn_fft": ("shsgan", {"generator": "dcgan", "critic": "3d_sn_fft"},
                         "DCGAN G, 3-D + SN + FFT critic, WGAN-GP"),
    "shsgan_rgb": ("shsgan", {"generator": "rgb", "critic": "3d_sn_fft"},
                   "RGB-to-HS SHS-GAN: U-Net G from RGB, 3-D + SN + FFT critic, RGB consistency"),
    "dcgan": ("classic", {"variant": "dcgan"}, "DCGAN, non-saturating loss"),
    "sngan": ("classic", {"variant": "sngan"}, "SN-GAN, spectral norm + hinge"),
    "acgan": ("classic", {"variant": "acgan"}, "AC-GAN, one G for MM and DN, auxiliary head"),
    "g3d": ("shsgan", {"generator": "3d", "critic": "3d_sn_fft"},
            "3-D convolutional G, 3-D + SN + FFT critic"),
    "attention": ("shsgan", {"generator": "dcgan", "critic": "3d_sn_fft", "attention": True},
                  "DCGAN G + band attention, band attention + 3-D + SN + FFT critic"),
}


# --------------------------------------------------------------------------------------------
# 02-05 generator studies
# --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class GANStudyConfig(Section):
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

    n_synthetic: Samples = 200  # crops exported per class
    # keep this share of samples, best critic scores first
    filter_top_fraction: Annotated[float, Range(gt=0, le=1)] = 1.0
    # spectral_loss_weight of the comparison run
    compare_spectral_weight: Annotated[float, WEIGHT] = 1.0
    # steps of that comparison run (and of its matched baseline)
    compare_steps: Annotated[int, Range(1, MAX_STEPS)] = 20_000
    generator_seeds: Seeds = (0, 1, 2)
    replicates: Literal["seeds", "folds"] = "folds"
    # under "folds": run only the first this many folds (None: every fold; a dry run runs one)
    folds_run: Annotated[int | None, Range(1, 100, kind="replicates")] = None
    # StyleGAN2-ADA part: SeFa directions, traversals and inversion of validation crops
    sefa_k: Annotated[int, Range(0, MAX_WIDTH)] = 5  # SeFa directions shown (top eigenvectors)
    # modulated convolutions whose style weights count
    sefa_layers: Annotated[tuple[int, ...], Range(0, 1000)] = (0, 1, 2)
    # traversals span +- this many SDs of w along a direction
    traversal_sd: Annotated[float, Range(gt=0)] = 3.0
    # latents per traversal point (lesion, spectrum, chromophore reads)
    n_traversal: Annotated[int, Range(0, MAX_COUNT)] = 16
    n_invert: Annotated[int, Range(0, MAX_COUNT)] = 16  # validation crops inverted into W, W+
    invert_steps: Annotated[int, Range(1, MAX_STEPS)] = 500  # optimiser steps per inversion

    # training steps at which every generator run of notebooks 03 and 05 also keeps a snapshot
    # (checkpoints/snapshots/<name>_s<step>.pt): states along training for notebook 08
    snapshot_steps: Annotated[tuple[int, ...], Range(1, MAX_STEPS)] = (5000, 20_000, 50_000)
    #: a dry run cuts these as positions inside a training (hsilib.config.dryrun): the
    #: comparison run is the first part of the first melanoma generator's run, which continues
    #: from it, so it must stay shorter than the cut ``fastgan.steps``
    DRY_INSIDE: ClassVar[tuple[str, ...]] = ("compare_steps",)

    DELTAS: ClassVar[Deltas] = {
        # the study's scale on one GPU: the first fold of five (docs/full_profile.md)
        "paper": dict(folds_run=1),
        # lab (on top of quick): one generator replicate, and the spectral-loss comparison
        # (whose melanoma run is also the first state every FastGAN curve starts from) at 50
        # steps, far enough from the end for training to show
        "lab": dict(generator_seeds=(0,), compare_steps=50, n_synthetic=60, n_traversal=4,
                    n_invert=4, invert_steps=50),
        "quick": dict(n_synthetic=100, compare_steps=100, generator_seeds=(0, 1),
                      replicates="seeds", sefa_k=3, n_traversal=8, n_invert=8,
                      invert_steps=150, snapshot_steps=(100,)),
        "smoke": dict(n_synthetic=6, compare_steps=3, generator_seeds=(0, 1), replicates="seeds",
                      sefa_k=2, sefa_layers=(0,), n_traversal=2, n_invert=2, invert_steps=3,
                      snapshot_steps=(1,)),
    }


@dataclass(frozen=True)
class AblationStudyConfig(Section):
    """What notebook 02 runs: ``arms`` (names of :data:`ARMS`), one generator per arm, class
    and seed of ``seeds`` (AC-GAN: one per seed for both classes), each for its section's
    ``steps``; the conclusions compare arms by intervals over these training seeds (an arm
    with one seed gets no verdict). Arms of :data:`ARMS` left out of ``arms`` are listed in
    the notebook as run under ``full`` only. Evaluation: the protocol's metrics for MM on
    every arm and for DN on the arms of ``dn_arms`` (None: all), with the ``metrics`` section
    changed by ``metrics_overrides`` (e.g. fewer repeats to fit the CPU budget); ``n_eval``
    synthetic crops per evaluation and export; ``n_recon`` validation crops (per class) for
    the RGB-to-HS reconstruction scores; ``n_rgb``: unpaired RGB images (None: all)."""

    arms: Annotated[tuple[str, ...], OneOf(*ARMS)] = tuple(ARMS)
    seeds: Seeds = (0, 1, 2)
    dn_arms: Annotated[tuple[str, ...] | None, OneOf(*ARMS)] = None
    # (MetricsConfig key, value) pairs, checked as MetricsConfig checks them
    metrics_overrides: tuple[tuple[str, Any], ...] = ()
    n_eval: Samples = 200
    n_recon: Annotated[int | None, Range(0, MAX_COUNT)] = None  # None: every validation crop
    recon_pixels: Annotated[int, Range(0, MAX_COUNT)] = 500  # pixels per model (chromophores)
    n_rgb: Annotated[int | None, Range(0, MAX_IMAGES)] = None

    DELTAS: ClassVar[Deltas] = {
        # three training seeds per arm (the conclusions read intervals over seeds) within 4
        # minutes on 2 idle cores: the critic ladder and the RGB-to-HS arm for MM, the ladder's
        # two ends (2-D critic, the study's SHS critic) for DN, 21 runs of 70 steps, a lighter
        # evaluation (one repeat, a 4-epoch probe, 75 px features). Measured idle with 27 runs
        # of 100 steps: 356 s (training 270 s, evaluation 65 s); the classic GANs, the 3-D
        # generator, band attention and the DN middle rungs run under full
        # lab (on top of quick): the ladder's two ends and the RGB-to-HS arm, two seeds
        "lab": dict(arms=("critic_2d", "critic_3d_sn_fft", "shsgan_rgb"), seeds=(0, 1)),
        "quick": dict(arms=("critic_2d", "critic_3d", "critic_3d_sn", "critic_3d_sn_fft",
                            "shsgan_rgb"),
                      seeds=(0, 1, 2), n_eval=60, n_rgb=200, recon_pixels=200,
                      dn_arms=("critic_2d", "critic_3d_sn_fft"),
                      metrics_overrides=(("n_repeats", 1), ("probe_epochs", 4),
                                         ("probe_folds", 2), ("feature_size", 75),
                                         ("n_boot", 300), ("n_boot_set", 50),
                                         ("n_pixels", 5000), ("n_pixels_physics", 300))),
        "smoke": dict(seeds=(0, 1), n_eval=6, n_recon=6, n_rgb=16, recon_pixels=50,
                      dn_arms=("critic_2d", "critic_3d_sn_fft", "shsgan_rgb")),
    }

    def __post_init__(self) -> None:
        object.__setattr__(self, "metrics_overrides",
                           tuple(tuple(kv) for kv in self.metrics_overrides))
        super().__post_init__()

    def validate(self) -> None:
        override(MetricsConfig(), dict(self.metrics_overrides),
                 "AblationStudyConfig.metrics_overrides")


@dataclass(frozen=True)
class ConditionalStudyConfig(Section):
    """What notebook 04 does with its conditional generators apart from training them.

    ``eval_repeats`` / ``eval_probe_epochs`` (None: the metrics section's values) lighten the
    metric protocol for the notebook's many evaluations; ``n_recon``: validation crops scored
    in the reconstruction tables (None: all), ``recon_pixels`` pixels per crop in their
    chromophore fits; ``spade_rgb_weight``: the rendering-consistency
    weight of the SPADE-RGB generator (``CondGANConfig.rgb_weight``)."""

    n_synthetic: Samples = 200  # crops per class: exports and evaluations
    eval_repeats: Annotated[int | None, Range(1, 1000, kind="count")] = None
    eval_probe_epochs: Annotated[int | None, Range(0, MAX_EPOCHS)] = None
    n_recon: Annotated[int | None, Range(0, MAX_COUNT)] = None
    recon_pixels: Annotated[int, Range(1, MAX_COUNT)] = 500
    spade_rgb_weight: Annotated[float, WEIGHT] = 1.0
    n_show: Annotated[int, Range(0, 1000)] = 6  # conditions shown per figure

    DELTAS: ClassVar[Deltas] = {
        # each protocol evaluation is ~10-25 s on 2 cores; notebook 04 runs six
        "lab": dict(n_synthetic=40, n_recon=20),  # on top of quick
        "quick": dict(n_synthetic=60, eval_repeats=1, eval_probe_epochs=0, n_recon=40),
        "smoke": dict(n_synthetic=6, eval_repeats=1, eval_probe_epochs=0, n_recon=4, n_show=3,
                      recon_pixels=50),
    }


@dataclass(frozen=True)
class VAEStudyConfig(Section):
    """What notebook 05 does with its VAEs apart from training them: the KL-weight sweep (on
    melanoma, measured on validation), the number of exported crops per class; the generator
    seeds are ``GANStudyConfig.generator_seeds`` (one VAE per class and seed).
    ``eval_repeats`` / ``eval_probe_epochs`` (None: the metrics section's values) lighten the
    metric protocol of its evaluations, as in :class:`ConditionalStudyConfig`."""

    kl_sweep: Annotated[tuple[float, ...], Range(gt=0), NON_EMPTY] = (1e-3, 1e-2, 1e-1)
    # steps per sweep run; equal to VAEConfig.steps: one run is reused
    sweep_steps: Annotated[int, Range(1, MAX_STEPS)] = 20_000
    n_synthetic: Samples = 200  # crops exported per class and seed
    # images on the latent path between two validation lesions
    n_interpolation: Annotated[int, Range(2, 1000)] = 7
    eval_repeats: Annotated[int | None, Range(1, 1000, kind="count")] = None
    eval_probe_epochs: Annotated[int | None, Range(0, MAX_EPOCHS)] = None

    DELTAS: ClassVar[Deltas] = {
        # one subsample per metric instead of the protocol's three (the probe is kept, so
        # detectability compares with notebook 03's): the evaluation of eight VAE sets took
        # 106 s of notebook 05's 4.4 minutes at three, over its 3.5-minute share
        "lab": dict(sweep_steps=40, n_synthetic=40),  # on top of quick; = vae.steps
        "quick": dict(sweep_steps=80, n_synthetic=60, eval_repeats=1),  # = vae.steps
        "smoke": dict(sweep_steps=3, n_synthetic=6, n_interpolation=3),
    }


# --------------------------------------------------------------------------------------------
# Benchmarks (python -m hsilib.bench)
# --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class BenchConfig(Section):
    """Repeats and sizes for ``python -m hsilib.bench``."""

    repeats: Annotated[int, Range(1, 1000)] = 3
    warmup: Annotated[int, Range(0, 1000)] = 1

    DELTAS: ClassVar[Deltas] = {"smoke": dict(repeats=1, warmup=0)}
