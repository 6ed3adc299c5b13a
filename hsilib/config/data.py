"""The data section (notebook 01: stand-in, segmentation, crops, splits, normalisation) and
the generator-metrics section (:mod:`hsilib.metrics.protocol`, notebooks 02-05 and 08). Bounds
are declared beside each field (see :mod:`hsilib.config.engine`)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, ClassVar, Literal

from .bounds import MAX_BATCH, MAX_COUNT, MAX_EPOCHS, MAX_IMAGES, MAX_SIDE, MAX_WIDTH, MAX_WORKERS
from .engine import ConfigError, Deltas, Range, Section


@dataclass(frozen=True)
class DataConfig(Section):
    """Stand-in generation and preprocessing (notebook 01)."""

    # stand-in cube size relative to the camera's 272 x 512
    scale: Annotated[float, Range(gt=0, le=8)] = 1.0
    n_mm: Annotated[int, Range(0, MAX_IMAGES)] = 85  # melanoma cubes (HSIDermoscopy: 85)
    n_dn: Annotated[int, Range(0, MAX_IMAGES)] = 175  # dysplastic nevus cubes (175)
    n_other: Annotated[int, Range(0, MAX_IMAGES)] = 70  # other lesions (70)
    # unpaired RGB dermoscopy images (MILK10K/ISIC stand-in)
    n_rgb: Annotated[int, Range(0, MAX_IMAGES)] = 2000
    rgb_size: Annotated[int, Range(1, MAX_SIDE)] = 256  # side of the square RGB images
    crop_size: Annotated[int, Range(1, MAX_SIDE)] = 256  # side of the square lesion crops
    # lesion bounding box scaled about its centre before cropping
    crop_scale: Annotated[float, Range(ge=1, note="the crop holds the whole lesion box")] = 1.5
    # smaller segments are discarded (at scale 1; scales with area)
    min_lesion_px: Annotated[int, Range(0, MAX_SIDE**2)] = 400
    # train, validation, test: shares of the source images (checked to sum to 1)
    split_fractions: Annotated[tuple[float, float, float], Range(gt=0, lt=1)] = (0.70, 0.15, 0.15)
    # grouped K folds (kfold.csv); >= 3 for GANStudyConfig.replicates="folds"
    n_folds: Annotated[int, Range(2, 100)] = 5
    workers: Annotated[int, Range(1, MAX_WORKERS)] = 2  # processes for generation, preprocessing
    masks_dir: str | None = None  # user masks <stem>_cropNN_mask.png; None = automatic segmentation
    # per-band scaling fitted on the training crops: robust percentiles of the field's pixels,
    # or the study's min/max over all pixels (set by the black outside and by glints)
    normalisation: Literal["percentile", "minmax"] = "percentile"
    # low, high (percentile method)
    norm_percentiles: Annotated[tuple[float, float], Range(0, 100)] = (0.5, 99.5)
    # epochs of the context-only shortcut probe (one CNN per CV fold)
    probe_epochs: Annotated[int, Range(0, MAX_EPOCHS)] = 15

    DELTAS: ClassVar[Deltas] = {
        "quick": dict(scale=0.5, n_rgb=400, rgb_size=128, crop_size=64, probe_epochs=8),
        "smoke": dict(scale=0.25, n_mm=14, n_dn=16, n_other=4, n_rgb=16, rgb_size=64,
                      crop_size=32, n_folds=2, workers=1, probe_epochs=1),
    }

    def validate(self) -> None:
        if abs(sum(self.split_fractions) - 1) > 1e-6:
            raise ConfigError(f"DataConfig.split_fractions must be three shares in (0, 1) that "
                              f"sum to 1, got {self.split_fractions!r}")
        lo, hi = self.norm_percentiles
        if not lo < hi:
            raise ConfigError(f"DataConfig.norm_percentiles: need 0 <= low < high <= 100, got "
                              f"{self.norm_percentiles}")


@dataclass(frozen=True)
class MetricsConfig(Section):
    """Generator-quality evaluation (hsilib.metrics.protocol)."""

    # images per feature-extraction batch (streaming)
    batch_size: Annotated[int, Range(1, MAX_BATCH)] = 50
    inception_weights: str | None = None  # local FID Inception checkpoint; None -> FD_rand
    # Inception16 input side (>= 75; smaller is much faster on CPU)
    feature_size: Annotated[int, Range(75, MAX_SIDE)] = 299
    n_eval: Annotated[int, Range(1, MAX_COUNT)] = 200  # synthetic images per evaluation
    # neighbours for precision/recall and density/coverage (fewer for tiny sets)
    k: Annotated[int, Range(1, 1000)] = 3
    # pixel spectra per region and compared set, for the spectral FD
    n_pixels: Annotated[int, Range(1, MAX_COUNT)] = 20_000
    # in-field spectra per compared set for the chromophore fits
    n_pixels_physics: Annotated[int, Range(1, MAX_COUNT)] = 1000
    # resamples: per-image-term, memorisation and detectability intervals
    n_boot: Annotated[int, Range(1, MAX_COUNT)] = 1000
    # resamples for the intervals of set-level metrics (FD, KID, ...); 0: no such intervals
    n_boot_set: Annotated[int, Range(0, MAX_COUNT)] = 200
    # random equal-size subsamples that value and floor are averaged over
    n_repeats: Annotated[int, Range(1, 1000, kind="count")] = 10
    # detectability probe: training epochs per fold (0: no probe)
    probe_epochs: Annotated[int, Range(0, MAX_EPOCHS)] = 15
    probe_folds: Annotated[int, Range(2, 100, kind="count")] = 5  # detectability probe: CV folds
    probe_width: Annotated[int, Range(1, MAX_WIDTH)] = 8  # detectability probe: SmallCNN width

    DELTAS: ClassVar[Deltas] = {
        # feature_size 299 takes ~50 s on 2 cores; the probe ~4 s for 75 vs 75 crops of 64 px
        "quick": dict(feature_size=139, n_boot_set=100, n_repeats=3, probe_epochs=10,
                      probe_folds=3),
        "smoke": dict(feature_size=75, n_eval=6, n_pixels=2000, n_pixels_physics=200,
                      n_boot=50, n_boot_set=20, n_repeats=1, probe_epochs=1, probe_folds=2,
                      probe_width=2),
    }
