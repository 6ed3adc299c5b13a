import dataclasses
import json
import typing
from pathlib import Path

import pytest

from hsilib import config
from hsilib.metrics.classification import METRICS
from hsilib.models.classifiers import ARCHS


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
    assert len(full.classifier_study.seeds) >= 5
    assert all(config.resolve(p).save_pdf for p in config.PROFILES)  # PNG + PDF everywhere


def test_profiles_shrink_from_full_to_smoke():
    smoke, quick, full = (config.resolve(p) for p in ("smoke", "quick", "full"))
    assert smoke.fastgan.steps < quick.fastgan.steps < full.fastgan.steps
    assert smoke.data.crop_size <= quick.data.crop_size <= full.data.crop_size
    assert len(quick.classifier_study.seeds) >= 2  # x generator replicates for synthetic mixes


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


def test_profiles_equal_the_snapshot():
    snapshot = json.loads((Path(__file__).parent / "config_snapshot.json").read_text())
    assert set(snapshot) == set(config.PROFILES)
    for name in config.PROFILES:
        assert json.loads(json.dumps(config.to_dict(config.resolve(name)))) == snapshot[name]


def test_literal_choices_match_what_the_code_builds():
    hints = typing.get_type_hints(config.ClassifierConfig)
    assert typing.get_args(hints["arch"]) == ARCHS
    assert set(typing.get_args(hints["select_metric"])) == {"loss", *METRICS}
    assert typing.get_args(typing.get_type_hints(config.ClassifierStudyConfig)[
        "threshold_rule"]) == ("youden", "f1", "fixed")
    assert typing.get_args(typing.get_type_hints(config.FastGANConfig)["lpips_net"]) == (
        "vgg", "alex")


@pytest.mark.parametrize(
    ("section", "kwargs", "message"),
    [
        ("classifier", dict(arch="nope"),
         r"quick\.classifier\.arch: got 'nope', choose one of 'small', 'resnet50', "
         r"'densenet201', 'efficientnet_b6'"),
        ("classifier_study", dict(threshold_rule="max"),
         r"threshold_rule: got 'max'.*'youden', 'f1'"),
        ("classifier", dict(select_metric="loss2"), r"select_metric: got 'loss2'"),
        ("fastgan", dict(lpips_net="squeeze"), r"lpips_net: got 'squeeze', choose one of "
                                               r"'vgg', 'alex'"),
        ("fastgan", dict(lpips_net=1), r"lpips_net: got 1"),
    ],
)
def test_bad_choices_name_section_key_value_and_choices(section, kwargs, message):
    with pytest.raises(config.ConfigError, match=message):
        config.resolve("quick", section, **kwargs)


def test_valid_choices_pass():
    cfg = config.resolve("quick", "classifier", arch="resnet50", select_metric="loss")
    assert (cfg.arch, cfg.select_metric) == ("resnet50", "loss")
    assert config.resolve("quick", "classifier_study", threshold_rule="f1").threshold_rule == "f1"
    assert config.resolve("smoke", fastgan={"lpips_net": "alex"}).fastgan.lpips_net == "alex"


def test_construction_checks_choices():
    with pytest.raises(config.ConfigError, match=r"ClassifierConfig\.arch: got 'vgg'"):
        config.ClassifierConfig(arch="vgg")
    with pytest.raises(config.ConfigError, match=r"FastGANConfig\.lpips_net: got 'VGG'"):
        config.FastGANConfig(lpips_net="VGG")
    with pytest.raises(config.ConfigError, match="arch: got 'x'"):
        config.from_dict(config.ClassifierConfig, {"arch": "x"})


def test_each_section_holds_its_profile_deltas():
    from hsilib.config.profiles import BASES

    for name, cls in config.sections().items():
        for profile, deltas in cls.DELTAS.items():
            assert profile in config.PROFILES
            assert set(deltas) <= {f.name for f in dataclasses.fields(cls)}, (name, profile)
            base = cls.DELTAS.get(BASES[profile], {}) if profile in BASES else {}
            assert getattr(config.resolve(profile), name) == cls(**{**base, **deltas})
        assert getattr(config.resolve("full"), name) == cls()  # full = the class defaults
    # a profile built on another: its base's deltas, then its own (lab = quick made smaller)
    lab, quick = config.resolve("lab"), config.resolve("quick")
    assert BASES == {"lab": "quick"} and lab.data == quick.data
    assert (lab.fastgan.steps, lab.gan_study.generator_seeds) == (quick.fastgan.steps, (0,))


def test_generator_configs_name_their_family():
    assert config.FastGANConfig.family == "fastgan"
    assert "family" not in config.to_dict(config.FastGANConfig())  # a class fact, not a knob
    assert issubclass(config.FastGANConfig, config.GeneratorConfig)


def test_print_shows_one_field_per_line_grouped_as_declared():
    assert str(config.resolve("smoke", "bench")) == "BenchConfig\n  repeats = 1\n  warmup = 0"
    cfg = config.resolve("smoke", "fastgan", lpips_weights="/w/vgg16.pth", diffaug=["cutout"])
    assert str(cfg) == "\n".join([
        "FastGANConfig",
        "  [GeneratorConfig]",
        "  image_size = 32", "  n_bands = 16", "  batch_size = 4", "  steps = 3",
        "  lr = 0.0002", "  betas = (0.5, 0.999)", "  ema_decay = 0.999", "  log_every = 1",
        "  sample_every = 2", "  checkpoint_every = 2", "  amp = True", "  tensorboard = False",
        "  train_augment = 'flip_rotate'",
        "  [FastGANConfig]",
        "  z_dim = 16", "  ngf = 4", "  ndf = 4", "  diffaug = ('cutout',)",
        "  lpips_weights = '/w/vgg16.pth'", "  lpips_net = 'vgg'",
        "  spectral_loss_weight = 0.0",
    ])
    assert f"{cfg}" == str(cfg)  # what the notebooks' f-strings print
    assert repr(cfg).startswith("FastGANConfig(image_size=32, n_bands=16,")  # dataclass repr
    assert "\n" not in repr(cfg)
    cond = str(config.resolve("smoke", "cond_gan")).splitlines()
    assert [ln for ln in cond if ln.startswith("  [")] == [
        "  [GeneratorConfig]", "  [FastGANConfig]", "  [CondGANConfig]"]
    assert cond[cond.index("  [CondGANConfig]") + 1] == "  condition = 'mask'"


def test_print_wraps_long_values_and_ipython_shows_the_print():
    from IPython.lib.pretty import pretty

    study = config.resolve("quick", "classifier_study")
    lines = str(study).splitlines()
    assert max(map(len, lines)) <= config.engine.PRINT_WIDTH
    start = next(i for i, ln in enumerate(lines) if ln.startswith("  families = (("))
    cont = lines[start + 1]
    assert cont.startswith(" " * len("  families = (")) and cont.strip().startswith("(")
    # the wrapped text is still the value
    end = next(i for i in range(start + 1, len(lines)) if not lines[i].startswith("    "))
    text = " ".join(ln.strip() for ln in lines[start:end]).split(" = ", 1)[1]
    assert eval(text) == study.families  # noqa: S307 (a repr the test just printed)
    # a section left as a cell's last expression: IPython shows the print, repr() is unchanged
    data = config.resolve("quick", "data")
    assert pretty(data) == str(data) and repr(data).startswith("DataConfig(scale=")


def test_print_of_the_study_nests_every_section():
    text = str(config.resolve("smoke"))
    assert text.startswith("StudyConfig\n  profile = 'smoke'\n  save_pdf = True\n"
                           "  DataConfig\n    scale = 0.25\n    n_mm = 14\n")
    assert text.endswith("\n  BenchConfig\n    repeats = 1\n    warmup = 0")
    for name, cls in config.sections().items():
        assert f"\n  {cls.__name__}\n" in text, name


def test_name_lists_of_the_config_match_the_code():
    from hsilib.study.ablation import ARMS

    assert ARMS is config.ARMS  # one table: the ablation study reads the config's
    hints = typing.get_type_hints(config.CorrelationStudyConfig)
    assert typing.get_args(hints["probe_arch"]) == ARCHS


def test_lists_become_tuples_also_in_optional_fields():
    cfg = config.resolve("smoke", "proportion_study", filter_amounts=[100.0], mixes=["MM"])
    assert cfg.filter_amounts == (100.0,) and cfg.mixes == ("MM",)
    assert config.resolve("smoke", "ablation_study", dn_arms=["dcgan"]).dn_arms == ("dcgan",)
    hash(cfg)  # a frozen section holds no list
