"""Profiles: :class:`StudyConfig` holds every section, :data:`PROFILES` names the profiles,
:func:`resolve` returns one profile (or one section of it) with checked overrides.

A profile is the ``full`` defaults of every section with that section's ``DELTAS[profile]``
applied; adding one is a :data:`PROFILES` entry plus ``DELTAS`` entries where it differs. A
profile named in :data:`BASES` starts from another profile's deltas instead (``lab`` is
``quick`` made smaller, so it needs only the entries where it differs from ``quick``)."""

from __future__ import annotations

import dataclasses
import typing
from dataclasses import dataclass, field
from typing import Any, ClassVar

from .classifiers import ClassifierConfig, ClassifierStudyConfig, ProportionStudyConfig
from .correlation import CorrelationStudyConfig
from .data import DataConfig, MetricsConfig
from .engine import ConfigError, Deltas, Section, override
from .explain import ExplainStudyConfig
from .generators import (
    ClassicGANConfig,
    CondGANConfig,
    CycleGANConfig,
    FastGANConfig,
    ShsGANConfig,
    StyleGAN2Config,
    VAEConfig,
)
from .studies import (
    AblationStudyConfig,
    BenchConfig,
    ConditionalStudyConfig,
    GANStudyConfig,
    VAEStudyConfig,
)

#: the profiles, smallest first (nothing else in the project names them); ``lab``: every
#: notebook within 5 minutes on a 2-core laptop, for teaching (docs/teaching.md); ``paper``:
#: ``full`` with one cross-validation fold of five and three classifier seeds
#: (docs/full_profile.md)
PROFILES = ("smoke", "lab", "quick", "paper", "full")
#: profiles built on another profile's deltas: ``lab`` (teaching, docs/teaching.md) is
#: ``quick`` with fewer and shorter runs
BASES = {"lab": "quick"}


@dataclass(frozen=True)
class StudyConfig(Section):
    """All sections of one profile."""

    profile: str = "full"  # one of PROFILES
    save_pdf: bool = True  # figures also as PDF (every profile; False: PNG only)
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

    DELTAS: ClassVar[Deltas] = {}

    def validate(self) -> None:
        if self.profile not in PROFILES:
            raise ConfigError(f"StudyConfig.profile: unknown profile {self.profile!r}; choose "
                              f"one of {', '.join(PROFILES)}")


def sections() -> dict[str, type]:
    """Section name (a field of :class:`StudyConfig`) -> its class."""
    hints = typing.get_type_hints(StudyConfig)
    return {f.name: hints[f.name] for f in dataclasses.fields(StudyConfig)
            if dataclasses.is_dataclass(hints[f.name])}


def _profiles() -> dict[str, StudyConfig]:
    """Each profile: the ``full`` defaults with every class's ``DELTAS[profile]`` applied."""
    def deltas(cls: type, profile: str) -> dict[str, Any]:
        base = deltas(cls, BASES[profile]) if profile in BASES else {}
        return {**base, **cls.DELTAS.get(profile, {})}

    return {profile: StudyConfig(
        profile=profile, **deltas(StudyConfig, profile),
        **{name: cls(**deltas(cls, profile)) for name, cls in sections().items()})
        for profile in PROFILES}


def resolve(profile: str, section: str | None = None, **overrides: Any) -> Any:
    """Return the config of ``profile`` (or one ``section`` of it) with ``overrides`` applied.

    Unknown profiles, sections and keys, values of the wrong type and values outside their
    declared bounds raise :class:`ConfigError` with a message that names the offending key.
    """
    table = _profiles()
    if profile not in table:
        raise ConfigError(f"unknown profile {profile!r}; choose one of {', '.join(PROFILES)}")
    study = table[profile]
    if section is None:
        return override(study, overrides, profile)
    known = sections()
    if section not in known:
        raise ConfigError(f"unknown section {section!r}; choose one of {', '.join(known)}")
    return override(getattr(study, section), overrides, f"{profile}.{section}")
