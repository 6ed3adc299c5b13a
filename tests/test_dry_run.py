"""The dry run (hsilib.config.dryrun): every step, epoch and count capped by its declaration,
shapes untouched; the training records and status file (hsilib.train.watch); the plan that
run_all.py --dry-run writes from them."""

import dataclasses
import importlib.util
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated

import pandas as pd
import pytest

from hsilib import config
from hsilib.config.bounds import MAX_EPOCHS, MAX_IMAGES, MAX_STEPS
from hsilib.config.dryrun import DRY_EPOCHS, DRY_STEPS, dry_run
from hsilib.config.engine import (
    NON_EMPTY,
    SEED,
    Range,
    Section,
    declared,
)
from hsilib.notebook import planned_units
from hsilib.train import watch

REPO = Path(__file__).resolve().parent.parent


def _fields(study):
    """(section, field, value, markers) of every field of every section."""
    for name, cls in config.sections().items():
        section = getattr(study, name)
        for field, (_, markers) in declared(cls).items():
            yield name, field, getattr(section, field), markers


@pytest.mark.parametrize("profile", config.PROFILES)
def test_every_step_epoch_count_and_seed_list_is_capped_and_shapes_stay(profile):
    study = config.resolve(profile)
    dry, smoke = dry_run(study), config.resolve("smoke")
    for (name, field, value, markers), (*_, capped, _) in zip(_fields(study), _fields(dry),
                                                              strict=True):
        bound = next((m for m in markers if isinstance(m, Range)), None)
        values = capped if isinstance(capped, tuple) else (capped,)
        where = f"{profile}.{name}.{field}"
        if (name, field) in (("proportion_study", "amounts"), ("correlation_study", "levels")):
            assert set(capped) <= set(value), where  # its own cut (below)
        elif field in getattr(type(getattr(study, name)), "DRY_KEEP", ()):
            assert capped == value, where  # an interval whose event happens at step 0
        elif field in getattr(type(getattr(study, name)), "DRY_VALUES", {}):
            assert value is None and capped is not None, where  # a limit of dry runs only
        elif SEED in markers and NON_EMPTY in markers:
            assert capped == value[:1], where  # one replicate of each kind
        elif bound is not None and bound.kind == "replicates":
            assert capped == 1, where  # e.g. the first fold alone
        elif bound is not None and bound.kind == "steps":
            assert all(v <= DRY_STEPS for v in values if v is not None), where
            assert value != 0 or capped == 0, where  # a part turned off stays off
        elif bound is not None and bound.kind == "epochs":
            assert all(v <= DRY_EPOCHS for v in values if v is not None), where
        elif bound is not None and bound.kind == "count":
            limit = getattr(getattr(smoke, name), field)
            if isinstance(limit, int) and not isinstance(value, tuple):
                assert capped <= max(value if value is not None else limit, 0) and (
                    capped <= limit or capped == value), where
        else:
            assert capped == value, where  # shapes, widths, sizes, rates, names: as they were
    # the shapes that make a full run what it is
    assert dry.classifier.arch == study.classifier.arch
    assert dry.classifier.image_size == study.classifier.image_size
    assert dry.data.crop_size == study.data.crop_size and dry.data.n_mm == study.data.n_mm
    assert dry.fastgan.ngf == study.fastgan.ngf
    assert dry.fastgan.batch_size == study.fastgan.batch_size
    # notebook 07's grid: the largest amount and the filtered ones (every family, mix, filter)
    prop = study.proportion_study
    assert set(dry.proportion_study.amounts) == (
        {max(prop.amounts)} | set(prop.filter_amounts or ())) & set(prop.amounts)
    assert (dry.proportion_study.mixes, dry.proportion_study.generators) == (
        prop.mixes, prop.generators)
    # notebook 08's ladder: every corruption kind at its strongest level
    corr = study.correlation_study
    assert dry.correlation_study.levels == (max(corr.levels),)
    assert dry.correlation_study.corruptions == corr.corruptions
    assert dry.gan_study.replicates == study.gan_study.replicates  # the fold machinery


def test_full_dry_run_values():
    dry = dry_run(config.resolve("full"))
    assert dry.fastgan.steps == DRY_STEPS and dry.fastgan.checkpoint_every == DRY_STEPS - 1
    assert dry.cyclegan.decay_start < dry.cyclegan.steps  # positions stay inside training
    assert dry.classifier.epochs == 1 and dry.classifier.max_batches == DRY_STEPS
    assert dry.classifier.max_predict == 8 and config.resolve("full").classifier.max_predict is None
    # StyleGAN2's lazy regularisers fire at step 0: their intervals stay, so that the second
    # dry step is a plain one
    assert (dry.stylegan2.r1_every, dry.stylegan2.pl_every) == (16, 4)
    assert dry.stylegan2.ada_interval == DRY_STEPS - 1  # ADA adjusts after its interval
    # integration points are a count: the smoke profile's
    assert dry.explain_study.ig_steps == config.resolve("smoke").explain_study.ig_steps < 64
    assert dry.classifier_study.seeds == (0,) and dry.gan_study.generator_seeds == (0,)
    assert dry.metrics.n_boot == config.resolve("smoke", "metrics").n_boot
    assert dry.gan_study.snapshot_steps == (DRY_STEPS,)
    assert dry.gan_study.folds_run == 1 and dry.data.n_folds == 5  # folds made, the first runs


def test_a_new_field_is_capped_by_its_declaration_alone():
    @dataclass(frozen=True)
    class Later(Section):
        steps: Annotated[int, Range(1, MAX_STEPS)] = 50_000
        warmup: Annotated[int, Range(0, MAX_STEPS)] = 1000  # a position inside training
        rounds: Annotated[int, Range(1, MAX_EPOCHS)] = 40
        cubes: Annotated[int, Range(0, MAX_IMAGES)] = 100_000  # data: not a loop
        width: int = 512

    later = dry_run(Later(), smoke=Later())
    assert (later.steps, later.warmup, later.rounds) == (DRY_STEPS, DRY_STEPS - 1, DRY_EPOCHS)
    assert (later.cubes, later.width) == (100_000, 512)
    # the same number as an upper bound, another kind: typing's cache must keep them apart
    assert Range(0, MAX_EPOCHS) != Range(0, MAX_IMAGES) and MAX_EPOCHS == MAX_IMAGES


def test_records_and_the_plan_projection(tmp_path, monkeypatch):
    monkeypatch.setattr(watch, "RECORDS", [])
    ckpt = tmp_path / "g.pt"
    ckpt.write_bytes(b"x" * 2**20)
    full = config.resolve("full")
    gen = watch.record("generator", "fastgan_mm_f0", units="steps", done=3, seconds=1.5,
                       checkpoint=ckpt, section="FastGANConfig", cfg_steps=3, target=3,
                       batch_size=8)
    assert gen["seconds_per_unit"] == 0.5 and gen["checkpoint_mb"] == 1.0
    assert gen["peak_rss_mb"] > 0
    assert planned_units(gen, full) == {"planned_units": 100_000,
                                        "planned_from": "fastgan.steps"}
    compare = dict(gen, target=2)  # a run of another length: scaled, and said to be
    assert planned_units(compare, full)["planned_units"] == round(2 * 100_000 / 3)
    assert planned_units(compare, full)["planned_from"].startswith("estimate")
    # a length from a named field plans that field; a run continuing it plans the rest
    named = dict(compare, steps_from="gan_study.compare_steps")
    assert planned_units(named, full) == {"planned_units": 20_000,
                                          "planned_from": "gan_study.compare_steps"}
    rest = dict(gen, continues_from="gan_study.compare_steps", steps_from=float("nan"))
    assert planned_units(rest, full) == {
        "planned_units": 80_000, "planned_from": "fastgan.steps - gan_study.compare_steps"}
    # the dry run keeps the comparison shorter than the run that continues it
    dry = dry_run(full)
    assert dry.gan_study.compare_steps == DRY_STEPS - 1 < dry.fastgan.steps
    clf = watch.record("classifier", "06_real_seed0_f0", units="batches", done=2, seconds=4.0,
                       arch="densenet201", epochs=1, cfg_epochs=1, batch_size=8, n_train=161,
                       n_val=30)
    assert planned_units(clf, full)["planned_units"] == 400 * 21  # epochs x ceil(161 / 8)

    spec = importlib.util.spec_from_file_location("run_all", REPO / "run_all.py")
    run_all = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(run_all)
    results = tmp_path / "run" / "artifacts" / "results"
    results.mkdir(parents=True)
    rows = [dict(gen, notebook=3, **planned_units(gen, full)),
            dict(clf, notebook=6, **planned_units(clf, full)),
            {"kind": "notebook", "name": "06", "notebook": 6, "seconds": 36.0}]
    pd.DataFrame(rows).to_csv(results / "03_plan.csv", index=False)
    plan = pd.read_csv(run_all.write_plan(tmp_path / "run", {"profile": "full"}))
    by = plan.set_index("name")
    assert by.loc["fastgan_mm_f0", "projected_hours"] == pytest.approx(100_000 * 0.5 / 3600,
                                                                       abs=1e-3)
    assert by.loc["fastgan_mm_f0", "replicates"] == 5  # one fold of five ran
    assert by.loc["06_real_seed0_f0", "replicates"] == 25  # 5 classifier seeds x 5 folds
    assert by.loc["06_real_seed0_f0", "total_hours"] == pytest.approx(
        25 * 8400 * 2.0 / 3600, abs=1e-2)
    assert by.loc["06", "projected_hours"] == pytest.approx(0.01)
    assert "GPU memory" in (results / "plan_notes.txt").read_text()
    summary = pd.read_csv(results / "plan_summary.csv").set_index("notebook")
    assert summary.loc[6, "trainings"] == 25 and summary.loc[6, "dry_run_s"] == 36.0
    assert summary.loc[3, "checkpoints_gb"] == pytest.approx(5 / 1024, abs=0.01)


def test_plan_after_a_notebook_that_trains_nothing(tmp_path):
    # after notebook 01 alone the plan has one 'notebook' row and no training columns
    spec = importlib.util.spec_from_file_location("run_all", REPO / "run_all.py")
    run_all = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(run_all)
    results = tmp_path / "run" / "artifacts" / "results"
    results.mkdir(parents=True)
    pd.DataFrame([{"kind": "notebook", "name": "01", "notebook": 1, "seconds": 360.0}]).to_csv(
        results / "01_plan.csv", index=False)
    plan = pd.read_csv(run_all.write_plan(tmp_path / "run", {"profile": "full"}))
    assert plan.loc[0, "projected_hours"] == pytest.approx(0.1)
    assert plan.loc[0, "replicates"] == 1


def test_status_file_says_what_runs(tmp_path, monkeypatch):
    path = tmp_path / "status.json"
    path.write_text(json.dumps({"notebook": "03_fastgan"}))
    monkeypatch.setenv("HSILIB_STATUS_FILE", str(path))
    watch.status(force=True, training="fastgan_mm_f0", step=7, of=100)
    status = json.loads(path.read_text())
    assert status["notebook"] == "03_fastgan"  # what run_all.py wrote stays
    assert (status["training"], status["step"], status["of"]) == ("fastgan_mm_f0", 7, 100)
    watch.status(training="fastgan_mm_f0", step=8, of=100)  # within the interval: skipped
    assert json.loads(path.read_text())["step"] == 7
    monkeypatch.delenv("HSILIB_STATUS_FILE")
    watch.status(force=True, step=9)  # no status file: nothing, no error
    assert json.loads(path.read_text())["step"] == 7


def test_a_capped_section_is_still_checked():
    dry = dry_run(config.resolve("full", "cyclegan"))
    assert dataclasses.replace(dry) == dry  # builds (and checks) without error


class _Writer:
    """Stands in for TensorBoard's SummaryWriter: keeps what is written."""

    def __init__(self):
        self.scalars, self.images = [], []

    def add_scalar(self, tag, value, step):
        self.scalars.append((tag, step))

    def add_image(self, tag, image, step):
        self.images.append((tag, tuple(image.shape), step))

    def flush(self):
        pass


def test_tensorboard_scalars_and_sample_grids_only_when_asked(tmp_path, monkeypatch):
    import warnings

    import torch

    from hsilib.train.trainer import make_trainer

    made = []

    def writer(folder):
        made.append(folder)
        return _Writer()

    monkeypatch.setattr(watch, "summary_writer", writer)
    cfg = config.resolve("smoke", "fastgan", ngf=4, ndf=4, z_dim=16, sample_every=2)
    assert cfg.tensorboard is False  # off by default
    images = torch.rand(8, 16, 32, 32, generator=torch.Generator().manual_seed(3)) * 2 - 1
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # no LPIPS weights: the documented fallback
        quiet = make_trainer(cfg, images, seed=0, device="cpu", log_every=1)
        quiet.fit(2)
        assert made == []  # no folder asked for: no writer, no import
        assert watch.board_folder(cfg, tmp_path, "fastgan_mm_g0") is None
        on = dataclasses.replace(cfg, tensorboard=True)
        folder = watch.board_folder(on, tmp_path, "fastgan_mm_g0")
        assert folder == tmp_path / "tensorboard" / "fastgan_mm_g0"
        t = make_trainer(on, images, seed=0, device="cpu", log_every=1, tensorboard=folder)
        t.fit(4)
    assert made == [folder]
    w = t._writer
    tags = {tag for tag, _ in w.scalars}
    assert len(tags) > 1 and all(tag.startswith("fastgan/") for tag in tags)  # each loss
    assert sorted({s for _, s in w.scalars}) == [1, 2, 3, 4]  # every logged step
    assert [(tag, step) for tag, _, step in w.images] == [("fastgan/samples", 2),
                                                          ("fastgan/samples", 4)]
    assert w.images[0][1][0] == 3  # a false-colour grid
