"""Generator sections: :class:`GeneratorConfig`, the fields every family's trainer reads, and
one class per family (notebooks 02-05). Bounds are declared beside each field (see
:mod:`hsilib.config.engine`); a family that only changes an inherited default writes the bare
type and keeps :class:`GeneratorConfig`'s bounds."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, ClassVar, Literal

from .bounds import MAX_BATCH, MAX_SIDE, MAX_STEPS, MAX_WIDTH
from .engine import REFLECTANCE, SUPPORTED_SIZE, WEIGHT, ConfigError, Deltas, OneOf, Range, Section

#: DiffAugment policies of FastGAN (:data:`hsilib.models.diffaug.POLICIES`)
DIFFAUG_POLICIES = ("translation", "cutout")
#: StyleGAN2-ADA's spectrum-safe augmentations (:data:`hsilib.models.ada.OPS`)
ADA_OPS = ("xflip", "rot90", "translate", "scale", "cutout")

Width = Annotated[int, Range(1, MAX_WIDTH)]  # channels, latent and style dimensions


@dataclass(frozen=True)
class GeneratorConfig(Section):
    """What :func:`hsilib.train.trainer.make_trainer` reads from any generator family's config.

    A family's config subclasses this and sets the class attribute ``family`` (its name in
    :mod:`hsilib.models.registry`).
    """

    family: ClassVar[str] = ""
    #: output sides the family's networks support (checked when a config is resolved)
    image_sizes: ClassVar[tuple[int, ...]] = (4, 8, 16, 32, 64, 128, 256, 512, 1024)

    image_size: Annotated[int, Range(1, MAX_SIDE), SUPPORTED_SIZE] = 256  # output side
    n_bands: Annotated[int, Range(1, 1024)] = 16  # spectral bands of the generated cubes
    batch_size: Annotated[int, Range(1, MAX_BATCH)] = 16
    steps: Annotated[int, Range(1, MAX_STEPS)] = 100_000
    lr: Annotated[float, Range(gt=0)] = 2e-4
    betas: Annotated[tuple[float, float], Range(0, lt=1)] = (0.5, 0.999)
    # EMA of the sampled networks (with a warm-up; see the trainer); 0 = no EMA
    ema_decay: Annotated[float, Range(0, lt=1)] = 0.999
    # intervals in steps; 0 = never
    log_every: Annotated[int, Range(0, MAX_STEPS)] = 100
    sample_every: Annotated[int, Range(0, MAX_STEPS)] = 5000
    checkpoint_every: Annotated[int, Range(0, MAX_STEPS)] = 5000
    amp: bool = True  # bf16 autocast and channels_last where CUDA supports them
    # TensorBoard scalars (every log_every) and sample grids (every sample_every) under
    # <run>/tensorboard/<name>/; needs the optional extra: pip install -e ".[watch]"
    tensorboard: bool = False
    # training batches' augmentation (hsilib.data.samplers.AUGMENTATIONS): random flips and
    # 90-degree turns, or those plus the study's shift-scale-rotate and random crop (geometric
    # only; off by default: not shown to help on validation)
    train_augment: Literal["flip_rotate", "affine_crop"] = "flip_rotate"


def generator_families() -> list[str]:
    """The ``family`` of every generator config class defined so far (a family registered
    later defines its class before it is used)."""
    out, todo = [], [GeneratorConfig]
    while todo:
        cls = todo.pop()
        todo += cls.__subclasses__()
        if cls.family and cls.family not in out:
            out.append(cls.family)
    return sorted(out)


@dataclass(frozen=True)
class FastGANConfig(GeneratorConfig):
    """FastGAN (notebook 03); defaults: Liu et al. 2021 and the study (256 px, batch 16)."""

    family: ClassVar[str] = "fastgan"
    image_sizes: ClassVar[tuple[int, ...]] = (32, 64, 128, 256)  # hsilib.models.layers.SIZES

    z_dim: Width = 256
    ngf: Width = 64
    ndf: Width = 64
    diffaug: Annotated[tuple[str, ...], OneOf(*DIFFAUG_POLICIES)] = ("translation", "cutout")
    lpips_weights: str | None = None  # local VGG16 / AlexNet checkpoint for 16-band LPIPS
    lpips_net: Literal["vgg", "alex"] = "vgg"  # backbone of lpips_weights: VGG16 or AlexNet
    # SAM + SID terms (the study's future work); 0 = off
    spectral_loss_weight: Annotated[float, WEIGHT] = 0.0

    DELTAS: ClassVar[Deltas] = {
        # ~0.24 s per step on 2 idle cores; two classes x two generator seeds, a spectral-loss
        # comparison and StyleGAN2-ADA share notebook 03's 12 minutes (at 300 steps it took 19)
        "quick": dict(image_size=64, batch_size=8, steps=200, ngf=16, ndf=16, z_dim=64,
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
    z_dim: Width = 512
    w_dim: Width = 512
    mapping_layers: Annotated[int, Range(1, 64)] = 8
    mapping_lr_mul: Annotated[float, Range(gt=0)] = 0.01
    # feature maps at resolution r: min(channel_max, channel_base // r)
    channel_base: Annotated[int, Range(1, 2**20)] = 16384
    channel_max: Width = 512
    # probability of mixing two latents per generated image
    style_mixing: Annotated[float, Range(0, 1)] = 0.9
    r1_gamma: Annotated[float, WEIGHT] = 1.0  # weight gamma of (gamma / 2) E||grad D(real)||^2
    r1_every: Annotated[int, Range(1, MAX_STEPS)] = 16  # lazy R1: every this many steps
    pl_weight: Annotated[float, WEIGHT] = 2.0  # path-length regularisation; 0 = off
    pl_every: Annotated[int, Range(1, MAX_STEPS)] = 4
    ada_target: Annotated[float, Range(0, 1)] = 0.6  # target of r_t = E[sign(D(real))]
    ada_interval: Annotated[int, Range(1, MAX_STEPS)] = 4  # steps between adjustments of p
    # thousands of real images for p to go from 0 to 1
    ada_kimg: Annotated[float, Range(gt=0)] = 500.0
    ada_ops: Annotated[tuple[str, ...], OneOf(*ADA_OPS)] = ADA_OPS

    #: a dry run leaves the lazy regularisers' intervals as they are: both happen at step 0
    #: (hsilib.config.dryrun)
    DRY_KEEP: ClassVar[tuple[str, ...]] = ("r1_every", "pl_every")

    DELTAS: ClassVar[Deltas] = {
        # 150 steps to fit notebook 03's 12 minutes beside FastGAN's 200: on the idle 2-core
        # CPU they took 0.65-0.73 x FastGAN's training seconds (41 s against 60-63 s; notebook
        # 03's budget table shows both times and its conclusion the ratio). ADA must move p
        # within a hundred steps, hence the small ada_kimg (p from 0 to 1 in 125 steps of 8)
        # lab (on top of quick): a short run that shows the mechanics; part II of notebook 03
        # is worth reading under quick or full
        "lab": dict(steps=40),
        "quick": dict(image_size=64, batch_size=8, steps=150, z_dim=64, w_dim=64,
                      mapping_layers=2, channel_base=1024, channel_max=64, r1_gamma=0.1,
                      pl_weight=0.0, ada_kimg=1.0, log_every=10, sample_every=100,
                      checkpoint_every=100),
        "smoke": dict(image_size=32, batch_size=4, steps=3, z_dim=16, w_dim=16,
                      mapping_layers=1, channel_base=128, channel_max=8, r1_every=2,
                      pl_every=2, ada_interval=1, ada_kimg=0.01, log_every=1, sample_every=2,
                      checkpoint_every=2),
    }


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
    z_dim: Width = 100
    ngf: Width = 64
    ndf: Width = 64  # 2-D critic width
    ndf3d: Width = 16  # 3-D critic width (its maps keep all bands: 16 x wider per channel)
    gp_weight: Annotated[float, WEIGHT] = 10.0
    n_critic: Annotated[int, Range(1, 100)] = 2  # critic updates per generator update
    rgb_weight: Annotated[float, WEIGHT] = 10.0  # RGB-consistency loss of generator="rgb"
    # the training normaliser's band_min and band_max (generator="rgb")
    reflectance_min: Annotated[tuple[float, ...], REFLECTANCE] = ()
    reflectance_max: Annotated[tuple[float, ...], REFLECTANCE] = ()
    ema_decay: float = 0.999
    sample_every: int = 1000
    checkpoint_every: int = 1000

    DELTAS: ClassVar[Deltas] = {
        # lr 1e-5 barely moves in 70 CPU steps: quick uses lr 2e-4, and 32 px because the
        # gradient penalty's double backward through the 3-D critic costs ~0.3-0.8 s per step
        # at 64 px on 2 busy cores (the notebook says so)
        "lab": dict(steps=50),  # on top of quick
        "quick": dict(image_size=32, batch_size=4, steps=70, lr=2e-4, z_dim=64, ngf=16,
                      ndf=16, ndf3d=4,
                      log_every=10, sample_every=0, checkpoint_every=0),
        "smoke": dict(image_size=32, batch_size=2, steps=2, lr=2e-4, z_dim=8, ngf=4, ndf=4,
                      ndf3d=2, log_every=1, sample_every=0, checkpoint_every=0),
    }

    def validate(self) -> None:
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
    z_dim: Width = 100
    ngf: Width = 64
    ndf: Width = 64
    aux_weight: Annotated[float, WEIGHT] = 1.0  # AC-GAN: weight of the auxiliary class loss
    sample_every: int = 1000
    checkpoint_every: int = 1000

    DELTAS: ClassVar[Deltas] = {
        "quick": dict(image_size=32, batch_size=8, steps=100, z_dim=64, ngf=16, ndf=16,
                      log_every=10,
                      sample_every=0, checkpoint_every=0),
        "smoke": dict(image_size=32, batch_size=2, steps=2, z_dim=8, ngf=4, ndf=4,
                      log_every=1, sample_every=0, checkpoint_every=0),
    }


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
    n_classes: Annotated[int, Range(0, 1000)] = 0  # 0: no class input; 2: MM / DN
    # channels of SPADE's shared map convolution (Park et al.: 128)
    spade_hidden: Width = 128
    rgb_weight: Annotated[float, WEIGHT] = 0.0
    band_min: Annotated[tuple[float, ...], REFLECTANCE] = ()
    band_max: Annotated[tuple[float, ...], REFLECTANCE] = ()

    DELTAS: ClassVar[Deltas] = {
        # 1.0-1.4x the time of a FastGAN quick step (measured side by side on a loaded machine;
        # FastGAN's is ~0.22 s idle at 64 px, ngf 16): six such generators and a CycleGAN share
        # notebook 04's 5 minutes (measured: seven 150-step trainings took 336 s of its 387 s,
        # so quick runs 100)
        # lab, on top of quick: 40 steps (its 60 left notebook 04 at ~3 minutes of a 20-minute
        # lab run that took 22)
        "lab": dict(steps=40),
        "quick": dict(image_size=64, batch_size=8, steps=100, ngf=16, ndf=16, z_dim=64,
                      spade_hidden=16, log_every=10, sample_every=0, checkpoint_every=0),
        "smoke": dict(image_size=32, batch_size=4, steps=3, ngf=4, ndf=4, z_dim=16,
                      spade_hidden=4, log_every=1, sample_every=0, checkpoint_every=0),
    }

    def validate(self) -> None:
        super().validate()
        if self.n_classes == 1:
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
    #: the U-Net halves the side down to 1 x 1: powers of two from 16
    image_sizes: ClassVar[tuple[int, ...]] = (16, 32, 64, 128, 256, 512, 1024)

    batch_size: int = 1
    steps: int = 100_000
    # the learning rate decays linearly to 0 from this step on
    decay_start: Annotated[int, Range(0, MAX_STEPS)] = 50_000
    ngf: Width = 64
    ndf: Width = 64
    d_layers: Annotated[int, Range(1, 16)] = 3  # PatchGAN stride-2 layers (3: 70 x 70 field)
    cycle_weight: Annotated[float, WEIGHT] = 10.0
    identity_weight: Annotated[float, WEIGHT] = 0.5  # times cycle_weight
    pool_size: Annotated[int, Range(0, 10_000)] = 50  # generated images kept per history
    rgb_channels: Annotated[int, Range(1, 16)] = 3
    ema_decay: float = 0.0  # CycleGAN samples the trained generators (no EMA)
    band_min: Annotated[tuple[float, ...], REFLECTANCE] = ()
    band_max: Annotated[tuple[float, ...], REFLECTANCE] = ()

    DELTAS: ClassVar[Deltas] = {
        # ~0.7x a FastGAN quick step (measured side by side on a loaded machine)
        "lab": dict(steps=40, decay_start=20),  # on top of quick, like the conditional GANs
        "quick": dict(image_size=64, batch_size=4, steps=100, decay_start=50, ngf=16, ndf=16,
                      log_every=10, sample_every=0, checkpoint_every=0),
        "smoke": dict(image_size=32, batch_size=2, steps=3, decay_start=1, ngf=4, ndf=4,
                      d_layers=2, pool_size=4, log_every=1, sample_every=0, checkpoint_every=0),
    }

    def validate(self) -> None:
        if self.decay_start >= self.steps:
            raise ConfigError(f"CycleGANConfig.decay_start must be in [0, steps), got "
                              f"{self.decay_start} for steps={self.steps}")
        if len(self.band_min) != len(self.band_max):
            raise ConfigError("CycleGANConfig.band_min and band_max must have the same length")


# --------------------------------------------------------------------------------------------
# 05 VAE
# --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class VAEConfig(GeneratorConfig):
    """Variational auto-encoder (notebook 05); defaults: the study's VAE (latent 64, per-value
    MSE with KL weight 1e-2, lr 2e-4, 256 px, batch 16). Notebook 05 sets beside it the
    Gaussian likelihood with a learned variance and KL weight 1."""

    family: ClassVar[str] = "vae"
    image_sizes: ClassVar[tuple[int, ...]] = (32, 64, 128, 256)  # hsilib.models.layers.SIZES

    latent_dim: Width = 64
    # channels of the full-size feature map; doubled per halving, at most x8
    base_width: Width = 32
    # reconstruction term: "mse", the study's per-value mean squared error; "gaussian", the
    # Gaussian negative log-likelihood summed over every value (hsilib.models.vae)
    likelihood: Literal["mse", "gaussian"] = "mse"
    # weight of KL(q(z|x) || N(0, I)) against the reconstruction term (1: the ELBO itself
    # with likelihood="gaussian")
    kl_weight: Annotated[float, WEIGHT] = 1e-2
    # likelihood="gaussian": each band's standard deviation in the [-1, 1] range at the
    # start, learned with the networks unless learn_sigma is False
    sigma_init: Annotated[float, Range(gt=0, le=10)] = 0.1
    learn_sigma: bool = True
    # learning-rate multiplier of the learned log sigma (lr x this per Adam step)
    sigma_lr_mul: Annotated[float, Range(gt=0, le=10_000)] = 100.0
    # SAM + SID between reconstruction and input; 0 = off
    spectral_loss_weight: Annotated[float, WEIGHT] = 0.0
    conditional: bool = False  # CVAE: the class (MM / DN) is an input of encoder and decoder
    betas: tuple[float, float] = (0.9, 0.999)

    DELTAS: ClassVar[Deltas] = {
        # ~0.08 s per step on 2 cores at 64 px; notebook 05 trains eleven (a KL sweep, two
        # likelihoods x two classes x two seeds, a conditional VAE): at 300 steps they took
        # 265 s of its 422 s; at 120 the notebook still took 4.1 minutes idle and at 100 3.7
        # (training 106 s of it, the protocol's eight evaluations 80 s), so quick runs 80 to
        # fit its 3.5 minutes
        "lab": dict(steps=40),  # on top of quick
        "quick": dict(image_size=64, batch_size=8, steps=80, latent_dim=32, base_width=16,
                      log_every=10, sample_every=60, checkpoint_every=60),
        "smoke": dict(image_size=32, batch_size=4, steps=3, latent_dim=8, base_width=4,
                      log_every=1, sample_every=2, checkpoint_every=2),
    }
