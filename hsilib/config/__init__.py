"""Run profiles: one frozen dataclass per notebook/experiment, one instance per profile.

Four profiles exist and nothing else in the project branches on their names:

- ``smoke``: seconds per notebook; exercises every code path for the tests.
- ``quick``: meaningful results on a 2-core CPU laptop (the whole study in under an hour).
- ``paper``: ``full``'s models and sizes, one cross-validation fold of five and three
  classifier seeds: the study's own scale, cut to fit one GPU (``docs/full_profile.md``).
- ``full``: the paper-scale run on one GPU (the settings of the original study).

Every section's class defaults are the ``full`` values; ``quick`` and ``smoke`` replace a few
fields. Use :func:`resolve` to get a section (or the whole study) with checked overrides::

    cfg = resolve("quick", "fastgan", steps=200)       # -> FastGANConfig
    study = resolve("smoke", fastgan={"steps": 2})      # -> StudyConfig
    print(cfg)                                          # one "field = value" per line

Every field declares its bounds or choices beside it (:mod:`hsilib.config.engine` explains
how); a value outside them raises :class:`ConfigError` naming the section, field and value.
The package: :mod:`~hsilib.config.engine` (checks, overrides, printing),
:mod:`~hsilib.config.data` (data and metrics sections), :mod:`~hsilib.config.generators`
(every generator family), :mod:`~hsilib.config.studies` (what the notebooks do with them, the
benchmarks), :mod:`~hsilib.config.classifiers` (the classifier, notebooks 06 and 07) and
:mod:`~hsilib.config.profiles` (:class:`StudyConfig`,
:data:`PROFILES`, :func:`resolve`).

Introduced in notebook 01; every notebook resolves its section in the cell after ``parameters``.
"""

from .bounds import (
    MAX_BATCH,
    MAX_COUNT,
    MAX_EPOCHS,
    MAX_IMAGES,
    MAX_PERCENT,
    MAX_SIDE,
    MAX_STEPS,
    MAX_WIDTH,
    MAX_WORKERS,
)
from .classifiers import (
    CLASSIFIER_ARMS,
    MIXES,
    ClassifierConfig,
    ClassifierStudyConfig,
    ProportionStudyConfig,
)
from .correlation import ORACLE_CORRUPTIONS, CorrelationStudyConfig
from .data import DataConfig, MetricsConfig
from .engine import (
    DEVICE,
    DEVICE_RE,
    NON_EMPTY,
    REFLECTANCE,
    SEED,
    SUPPORTED_SIZE,
    WEIGHT,
    ConfigError,
    Deltas,
    OneOf,
    Range,
    Section,
    check,
    declared,
    from_dict,
    override,
    to_dict,
    type_ok,
)
from .explain import ExplainStudyConfig
from .generators import (
    ADA_OPS,
    DIFFAUG_POLICIES,
    ClassicGANConfig,
    CondGANConfig,
    CycleGANConfig,
    FastGANConfig,
    GeneratorConfig,
    ShsGANConfig,
    StyleGAN2Config,
    VAEConfig,
    generator_families,
)
from .profiles import PROFILES, StudyConfig, resolve, sections
from .studies import (
    ARMS,
    AblationStudyConfig,
    BenchConfig,
    ConditionalStudyConfig,
    GANStudyConfig,
    VAEStudyConfig,
)

__all__ = [
    "ADA_OPS", "ARMS", "CLASSIFIER_ARMS", "DEVICE", "DEVICE_RE", "DIFFAUG_POLICIES",
    "MAX_BATCH", "MAX_COUNT",
    "MAX_EPOCHS", "MAX_IMAGES", "MAX_PERCENT", "MAX_SIDE", "MAX_STEPS", "MAX_WIDTH",
    "MAX_WORKERS", "MIXES", "NON_EMPTY", "ORACLE_CORRUPTIONS", "PROFILES", "REFLECTANCE",
    "SEED", "SUPPORTED_SIZE",
    "WEIGHT", "AblationStudyConfig", "BenchConfig", "ClassicGANConfig", "ClassifierConfig",
    "ClassifierStudyConfig", "CondGANConfig", "ConditionalStudyConfig", "ConfigError",
    "CorrelationStudyConfig", "CycleGANConfig", "DataConfig", "Deltas", "ExplainStudyConfig",
    "FastGANConfig",
    "GANStudyConfig", "GeneratorConfig", "MetricsConfig", "OneOf", "ProportionStudyConfig",
    "Range", "Section", "ShsGANConfig", "StudyConfig", "StyleGAN2Config", "VAEConfig",
    "VAEStudyConfig", "check", "declared", "from_dict", "generator_families", "override",
    "resolve", "sections", "to_dict", "type_ok",
]
