"""Config values are checked against the bounds and choices declared beside each field, when a
config is resolved and when it is built, in every section."""

import dataclasses
import json
import subprocess
import sys
import typing
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated

import pytest

from hsilib import config

REPO = Path(__file__).resolve().parent.parent


@pytest.mark.parametrize("section, key, value, message", [
    ("fastgan", "steps", -5, r"FastGANConfig\.steps must be >= 1, got -5"),
    ("fastgan", "steps", 0, r"steps must be >= 1"),
    ("fastgan", "batch_size", 0, r"batch_size must be >= 1"),
    ("fastgan", "image_size", 48, r"image_size must be one of .*32, 64, 128, 256, got 48"),
    ("fastgan", "image_size", 512, r"image_size must be one of"),
    ("fastgan", "lr", -1e-3, r"lr must be > 0"),
    ("fastgan", "ema_decay", 1.5, r"ema_decay must be in \[0, 1\)"),
    ("fastgan", "betas", (0.5, 1.2), r"betas must be in \[0, 1\) each"),
    ("fastgan", "spectral_loss_weight", -1.0, r"spectral_loss_weight must be >= 0"),
    ("fastgan", "checkpoint_every", -1, r"checkpoint_every must be >= 0"),
    ("vae", "steps", -1, r"VAEConfig\.steps must be >= 1"),
    ("vae", "kl_weight", float("nan"), r"kl_weight must be a finite number"),
    ("classifier", "batch_size", -8, r"ClassifierConfig\.batch_size must be >= 1, got -8"),
    ("classifier", "epochs", 0, r"epochs must be >= 1"),
    ("classifier", "device", "gpu", r"device must be 'auto', 'cpu', 'mps', 'cuda' or 'cuda:N'"),
    ("classifier", "device", "cuda:x", r"device must be"),
    ("classifier", "arch", "vgg16", r"arch: got 'vgg16', choose one of"),
    ("classifier", "select_metric", "auc", r"select_metric: got 'auc'"),
    ("classifier_study", "threshold_rule", "best", r"threshold_rule: got 'best'"),
    ("fastgan", "lpips_net", "resnet", r"lpips_net: got 'resnet'"),
    ("data", "split_fractions", (0.5, 0.5, 0.5), r"split_fractions must be three shares"),
    ("data", "crop_scale", 0.5, r"crop_scale must be >= 1"),
    ("data", "n_folds", 1, r"n_folds must be >= 2"),
    ("metrics", "feature_size", 32, r"feature_size must be >= 75"),
    ("metrics", "n_boot", -1, r"n_boot must be >= 1"),
    ("gan_study", "filter_top_fraction", 0.0, r"filter_top_fraction must be in \(0, 1\]"),
    ("classifier_study", "fractions", (0.5, 1.5), r"fractions must be in \(0, 1\] each"),
    ("bench", "repeats", 0, r"BenchConfig\.repeats must be >= 1"),
    # upper bounds: an absurd size never reaches the allocator, a count never loops for ever
    ("fastgan", "batch_size", 2_000_000, r"FastGANConfig\.batch_size must be <= 65536, "
                                         r"got 2000000"),
    ("classifier", "batch_size", 2_000_000, r"ClassifierConfig\.batch_size must be <= 65536"),
    ("metrics", "batch_size", 2_000_000, r"MetricsConfig\.batch_size must be <= 65536"),
    ("fastgan", "steps", 10**9, r"steps must be <= 10000000, got 1000000000"),
    ("classifier", "epochs", 10**7, r"epochs must be <= 100000"),
    ("classifier", "image_size", 100_000, r"image_size must be <= 4096"),
    ("data", "crop_size", 100_000, r"crop_size must be <= 4096"),
    ("data", "workers", 10_000, r"workers must be <= 256"),
    ("data", "scale", 100.0, r"scale must be in \(0, 8\]"),
    ("metrics", "n_eval", 10**9, r"n_eval must be <= 10000000"),
    ("classifier", "num_workers", 10_000, r"num_workers must be <= 256"),
    ("vae_study", "n_synthetic", 10**9, r"n_synthetic must be <= 10000000"),
    ("stylegan2", "r1_every", 0, r"r1_every must be >= 1"),  # step % r1_every
    ("cyclegan", "image_size", 8, r"CycleGANConfig\.image_size must be one of the sizes "
                                  r"CycleGANConfig supports: 16, 32"),
    ("correlation_study", "alpha", 1.0, r"alpha must be in \(0, 1\)"),
    ("shsgan", "reflectance_min", (0.1, float("inf")), r"reflectance_min must hold finite"),
])
def test_out_of_range_values_fail_at_resolve_naming_section_and_key(section, key, value,
                                                                     message):
    for profile in config.PROFILES:
        with pytest.raises(config.ConfigError, match=rf"{profile}\.{section}.*{message}"):
            config.resolve(profile, section, **{key: value})
    with pytest.raises(config.ConfigError, match=message):  # the same through the whole study
        config.resolve("smoke", **{section: {key: value}})


def test_values_in_range_still_resolve():
    assert config.resolve("smoke", "classifier", device="cuda:1").device == "cuda:1"
    assert config.resolve("smoke", "fastgan", image_size=64, steps=1).steps == 1
    assert config.resolve("smoke", "metrics", probe_epochs=0).probe_epochs == 0  # 0 = no probe
    assert config.resolve("smoke", "data", n_other=0).n_other == 0
    assert config.resolve("smoke", "fastgan", batch_size=65_536).batch_size == 65_536
    assert config.resolve("smoke", "fastgan", steps=10_000_000).steps == 10_000_000
    assert config.resolve("smoke", "fastgan", diffaug=[]).diffaug == ()  # no augmentation


# -- every field declares what it accepts -----------------------------------------------------
def _classes():
    """Every section class of the project, the study and the generator base included."""
    return [config.StudyConfig, config.GeneratorConfig, *config.sections().values()]


def _numeric(hint) -> bool:
    item = typing.get_args(hint)[0] if typing.get_origin(hint) is tuple else hint
    return item in (int, float)


def _fields(kind):
    for cls in _classes():
        for name, (hint, markers) in config.declared(cls).items():
            if kind(hint):
                yield cls, name, markers


def test_every_numeric_field_of_every_section_declares_its_bounds():
    found = list(_fields(_numeric))
    assert len(found) > 150  # the walk reaches every section
    missing = [f"{cls.__name__}.{name}" for cls, name, markers in found
               if not any(isinstance(m, config.Range) for m in markers)]
    assert not missing, f"numeric fields without a declared Range: {missing}"
    for cls, name, markers in found:
        for r in (m for m in markers if isinstance(m, config.Range)):
            assert r.ge is not None or r.gt is not None, f"{cls.__name__}.{name}: no lower bound"


@pytest.mark.parametrize("name", ["batch_size", "image_size", "crop_size", "rgb_size", "steps",
                                  "epochs", "n_synthetic", "n_eval", "n_boot", "workers",
                                  "num_workers", "probe_batch_size", "probe_epochs"])
def test_sizes_counts_steps_and_workers_are_capped(name):
    found = [(cls, markers) for cls, n, markers in _fields(lambda h: h is int) if n == name]
    assert found, name
    for cls, markers in found:
        caps = [m.le for m in markers if isinstance(m, config.Range) and m.le is not None]
        assert caps and caps[0] <= config.MAX_COUNT, f"{cls.__name__}.{name} has no upper bound"


def test_every_name_field_declares_its_choices():
    """A string (or tuple of strings) is a Literal, has OneOf or a device marker, or is one of
    the free-form fields below: file paths, the study's profile (checked by StudyConfig),
    notebook 09's generator families (export folders found in the run folder, checked there by
    :func:`hsilib.study.cues.synthetic_families`) and notebook 06's family names (the names of
    its own ``families`` field, checked by ClassifierStudyConfig.validate)."""
    free = {"lpips_weights", "inception_weights", "masks_dir", "pretrained_weights",
            "specialist_weights", "profile", "families", "syn_families", "tstr_families"}
    names = list(_fields(lambda h: h is str or (typing.get_origin(h) is tuple
                                                and typing.get_args(h)[:1] == (str,))))
    assert {n for _, n, _ in names} >= {"diffaug", "ada_ops", "arms", "dn_arms", "mixes",
                                        "filter_mixes", "device"}
    bare = [f"{cls.__name__}.{n}" for cls, n, markers in names if n not in free and not any(
        isinstance(m, config.OneOf) or m is config.DEVICE for m in markers)]
    assert not bare, f"name fields without their allowed names: {bare}"


def test_every_seed_field_takes_what_every_rng_takes():
    seeds = [(cls, n) for cls, n, markers in _fields(_numeric) if config.SEED in markers]
    assert {n for _, n in seeds} == {"generator_seeds", "seeds", "pool_seed", "oracle_seed"}
    for cls, name in seeds:
        section = next(s for s, c in config.sections().items() if c is cls)
        many = typing.get_origin(config.declared(cls)[name][0]) is tuple
        wrap = (lambda v: (v,)) if many else (lambda v: v)  # noqa: E731
        for ok in (0, 2**32 - 1):
            assert config.resolve("smoke", section, **{name: wrap(ok)})
        for bad, why in ((2**32, r"must be <= 4294967295"), (-1, r"must be >= 0")):
            with pytest.raises(config.ConfigError, match=rf"{cls.__name__}\.{name} {why}"):
                config.resolve("smoke", section, **{name: wrap(bad)})
        if many:
            with pytest.raises(config.ConfigError, match=rf"{name} must hold at least one"):
                config.resolve("smoke", section, **{name: ()})


# -- tuples of names refuse an unknown item ---------------------------------------------------
@pytest.mark.parametrize("section, key, value, message", [
    ("fastgan", "diffaug", ("translation", "bogus"),
     r"FastGANConfig\.diffaug: unknown diffaug \['bogus'\], got \('translation', 'bogus'\); "
     r"choose from 'translation', 'cutout'"),
    ("cond_gan", "diffaug", ["color"], r"CondGANConfig\.diffaug: unknown diffaug \['color'\]"),
    ("stylegan2", "ada_ops", ("xflip", "hue"), r"ada_ops: unknown ada_ops \['hue'\]"),
    ("ablation_study", "arms", ("critic_2d", "nope"), r"unknown arms \['nope'\]"),
    ("ablation_study", "dn_arms", ("vae",), r"unknown dn_arms \['vae'\]"),
    ("proportion_study", "mixes", ("MM", "mm"), r"unknown mixes \['mm'\].*'MM', 'DN', 'both'"),
    ("proportion_study", "filter_mixes", ("all",), r"unknown filter_mixes \['all'\]"),
    ("proportion_study", "generators", (("Fast GAN", "g_{cls}.pt"),),
     r"generators: a name is lower-case letters, digits and _, got 'Fast GAN'"),
    ("proportion_study", "generators", (("vae", "a_{cls}.pt"), ("vae", "b_{cls}.pt")),
     r"generators: names must be unique"),
    ("classifier_study", "families", (("vae", "vae_{cls}.pt", 1.0),),
     r"each of `families` is \(name, pattern naming \{tag\}"),
    ("classifier_study", "families", (("vae", "vae_{cls}_{tag}.pt", 0.0),),
     r"kept share in \(0, 1\]"),
    ("classifier_study", "families", (("vae", "vae_{class}_{tag}.pt", 1.0),),
     r"pattern 'vae_\{class\}_\{tag\}\.pt' may name only \{cls\} and \{tag\}"),
    ("classifier_study", "syn_families", ("nope",), r"unknown \['nope'\]"),
    ("classifier_study", "mixed", ((0, 0),), r"mixed: each item is \(MM count, DN count\)"),
    ("classifier_study", "arms", ("focal", "resnet50"), r"unknown arms \['focal'\]"),
    ("proportion_study", "generators", (("vae", "vae_{class}.pt"),),
     r"pattern 'vae_\{class\}\.pt' may name only \{cls\} and \{replicate\}"),
    ("ablation_study", "metrics_overrides", (("n_repeats", 0),),
     r"AblationStudyConfig\.metrics_overrides: MetricsConfig\.n_repeats must be >= 1"),
    ("ablation_study", "metrics_overrides", (("repeats", 1),),
     r"unknown key 'repeats' for AblationStudyConfig\.metrics_overrides"),
])
def test_tuple_of_names_refuses_an_unknown_item(section, key, value, message):
    with pytest.raises(config.ConfigError, match=rf"quick\.{section}: .*{message}"):
        config.resolve("quick", section, **{key: value})


def test_name_lists_match_what_the_code_implements():
    from hsilib.models import ada, diffaug, registry

    assert config.DIFFAUG_POLICIES == diffaug.POLICIES
    assert config.ADA_OPS == ada.OPS
    assert set(config.generator_families()) >= set(registry._BUILTIN)


def test_set_on_the_command_line_is_checked_against_allowed_items(tmp_path, capsys):
    sys.path.insert(0, str(REPO))
    import run_all

    out = tmp_path / "run"
    with pytest.raises(SystemExit, match=r"--set: notebook 03 OVERRIDES: .*"
                                         r"FastGANConfig\.diffaug: unknown diffaug \['bogus'\]"):
        run_all.main(["--out", str(out), "--profile", "smoke", "--set", '03.diffaug=["bogus"]'])
    assert not out.exists() and not list(tmp_path.iterdir())  # nothing was created


# -- a new section declares its own bounds and keeps its base's ------------------------------
def test_a_new_section_declares_its_bounds_and_inherits_the_base_ones():
    @dataclass(frozen=True)
    class NewGANConfig(config.GeneratorConfig):
        family = "newgan"
        steps: int = 10  # a new default: GeneratorConfig's bounds still apply
        warmup_steps: Annotated[int, config.Range(0, config.MAX_STEPS)] = 0
        d_steps: Annotated[int, config.Range(1, 100)] = 1

    assert config.from_dict(NewGANConfig, {"warmup_steps": 0}).warmup_steps == 0
    with pytest.raises(config.ConfigError, match=r"NewGANConfig\.d_steps must be >= 1"):
        config.from_dict(NewGANConfig, {"d_steps": 0})
    with pytest.raises(config.ConfigError, match=r"NewGANConfig\.d_steps must be <= 100"):
        NewGANConfig(d_steps=101)
    with pytest.raises(config.ConfigError, match=r"NewGANConfig\.image_size must be one of"):
        config.from_dict(NewGANConfig, {"image_size": 100})
    with pytest.raises(config.ConfigError, match=r"NewGANConfig\.steps must be >= 1"):
        NewGANConfig(steps=-1)  # construction checks too (Section.__post_init__)
    assert "newgan" in config.generator_families()


def test_construction_and_replace_check_bounds():
    cfg = config.resolve("smoke", "fastgan")
    with pytest.raises(config.ConfigError, match=r"FastGANConfig\.batch_size must be >= 1"):
        dataclasses.replace(cfg, batch_size=0)
    with pytest.raises(config.ConfigError, match=r"ProportionStudyConfig\.seeds must hold"):
        config.ProportionStudyConfig(seeds=())


# -- the package stands alone; a new profile is a PROFILES entry plus DELTAS -------------------
def test_config_imports_nothing_above_it():
    code = ("import json, sys, hsilib.config; "
            "print(json.dumps(sorted(m for m in sys.modules if m.startswith('hsilib'))))")
    loaded = json.loads(subprocess.run([sys.executable, "-c", code], capture_output=True,
                                       text=True, check=True).stdout)
    # hsilib/__init__ applies the thread defaults (hsilib.runtime, the root layer, no torch)
    root = {"hsilib", "hsilib.runtime"}
    assert loaded and all(m in root or m.startswith("hsilib.config") for m in loaded), loaded


def test_a_new_profile_is_a_profiles_entry_plus_deltas(monkeypatch, tmp_path):
    from hsilib.notebook import resolve_overrides

    demo = ("smoke", "demo", "quick", "full")  # a profile that exists nowhere yet
    monkeypatch.setattr(config, "PROFILES", demo)
    monkeypatch.setattr(config.profiles, "PROFILES", demo)
    monkeypatch.setitem(config.FastGANConfig.DELTAS, "demo", dict(steps=30, image_size=64))
    study = config.resolve("demo")
    assert study.profile == "demo" and study.fastgan.steps == 30
    assert study.fastgan.image_size == 64 and study.data == config.DataConfig()
    assert resolve_overrides("03", {"steps": 5}) == {"fastgan": {"steps": 5}}
    sys.path.insert(0, str(REPO))
    import run_all

    with pytest.raises(SystemExit, match="no notebook numbered '99'"):  # --profile demo parsed
        run_all.main(["--out", str(tmp_path / "run"), "--profile", "demo", "--only", "99"])
