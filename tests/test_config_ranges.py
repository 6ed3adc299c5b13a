"""Config values are checked for range and choice when a config is resolved, in every section."""

from dataclasses import dataclass

import pytest

from hsilib import config


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


def test_a_new_section_gets_the_generic_rules():
    @dataclass(frozen=True)
    class NewGANConfig(config.GeneratorConfig):
        family = "newgan"
        warmup_steps: int = 0
        d_steps: int = 1

    assert config.from_dict(NewGANConfig, {"warmup_steps": 0}).warmup_steps == 0
    with pytest.raises(config.ConfigError, match=r"NewGANConfig\.d_steps must be >= 1"):
        config.from_dict(NewGANConfig, {"d_steps": 0})
    with pytest.raises(config.ConfigError, match=r"NewGANConfig\.image_size must be one of"):
        config.from_dict(NewGANConfig, {"image_size": 100})
    with pytest.raises(config.ConfigError, match=r"NewGANConfig\.steps must be >= 1"):
        NewGANConfig(steps=-1)  # construction checks too (GeneratorConfig.__post_init__)
