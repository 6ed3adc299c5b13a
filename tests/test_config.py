import dataclasses
import json

import pytest

from hsilib import config


def test_every_profile_resolves_and_is_frozen():
    for name in config.PROFILES:
        study = config.resolve(name)
        assert study.profile == name
        with pytest.raises(dataclasses.FrozenInstanceError):
            study.fastgan.steps = 1  # type: ignore[misc]


def test_full_profile_holds_the_study_settings():
    full = config.resolve("full")
    assert (full.fastgan.image_size, full.fastgan.batch_size, full.fastgan.z_dim) == (256, 16, 256)
    assert full.fastgan.lr == 2e-4 and full.fastgan.betas == (0.5, 0.999)
    assert (full.classifier.arch, full.classifier.image_size, full.classifier.lr) == (
        "densenet201", 224, 1e-4)
    assert (full.data.n_mm, full.data.n_dn, full.data.n_other) == (85, 175, 70)
    assert len(full.classifier.seeds) >= 5
    assert full.save_pdf and not config.resolve("quick").save_pdf


def test_profiles_shrink_from_full_to_smoke():
    smoke, quick, full = (config.resolve(p) for p in ("smoke", "quick", "full"))
    assert smoke.fastgan.steps < quick.fastgan.steps < full.fastgan.steps
    assert smoke.data.crop_size <= quick.data.crop_size <= full.data.crop_size
    assert len(quick.classifier.seeds) >= 3


def test_section_overrides_are_applied_and_coerced():
    cfg = config.resolve("quick", "fastgan", steps=7, lr=1, betas=[0.0, 0.9])
    assert cfg.steps == 7
    assert cfg.lr == 1.0 and isinstance(cfg.lr, float)
    assert cfg.betas == (0.0, 0.9)
    assert config.resolve("quick").fastgan.steps != 7  # the profile table is untouched


def test_nested_overrides_on_the_whole_study():
    study = config.resolve("smoke", fastgan={"steps": 2}, save_pdf=True)
    assert study.fastgan.steps == 2 and study.save_pdf is True


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        (dict(stepz=3), "unknown key 'stepz'"),
        (dict(steps="3"), "steps must be int"),
        (dict(steps=True), "steps must be int"),
        (dict(betas=(0.5,)), "betas must be"),
        (dict(lpips_weights=3), "lpips_weights must be"),
    ],
)
def test_bad_overrides_name_the_key(kwargs, message):
    with pytest.raises(config.ConfigError, match=message):
        config.resolve("quick", "fastgan", **kwargs)


def test_unknown_profile_and_section():
    with pytest.raises(config.ConfigError, match="unknown profile 'fast'"):
        config.resolve("fast")
    with pytest.raises(config.ConfigError, match="unknown section 'gan'"):
        config.resolve("quick", "gan")
    with pytest.raises(config.ConfigError, match="takes a dict"):
        config.resolve("quick", fastgan=3)


def test_optional_fields_accept_none_and_str():
    assert config.resolve("quick", "fastgan", lpips_weights="/x.pth").lpips_weights == "/x.pth"
    assert config.resolve("quick", "fastgan", lpips_weights=None).lpips_weights is None


def test_round_trip_through_json():
    cfg = config.resolve("quick", "fastgan", steps=11)
    back = config.from_dict(config.FastGANConfig, json.loads(json.dumps(config.to_dict(cfg))))
    assert back == cfg
