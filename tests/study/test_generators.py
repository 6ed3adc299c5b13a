"""The generator-study layer (hsilib.study.generators): replicate data, replicates by seed and
by fold, training that resumes exactly, records, audits, and the tables read off metric
tables."""

from dataclasses import replace

import numpy as np
import pandas as pd
import pytest
import torch
from fakedata import write_fake_run

from hsilib import config
from hsilib.data.datasets import BandNormaliser, fit_train_normaliser, load_crops
from hsilib.data.splits import fold_split
from hsilib.metrics.protocol import read_generator_metrics
from hsilib.notebook import setup
from hsilib.study.generators import GeneratorStudy, convert
from hsilib.study.generators import tables as gt
from hsilib.train.trainer import snapshot_path

SIZE = 8


@pytest.fixture(scope="module")
def fake_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("run")
    index, splits = write_fake_run(root, n_per_class=12)
    return root, index, splits


def _study(root, size=SIZE, **kwargs):
    nb = setup("03", "smoke", seed=0, run_dir=root)
    return GeneratorStudy(nb, image_size=size, **kwargs)


def _tiny_fastgan():
    return config.resolve("smoke", "fastgan")


def test_convert_between_ranges():
    x = torch.tensor([0.0, 0.25, 1.0])
    assert torch.equal(convert(x, "unit", "symmetric"), torch.tensor([-1.0, -0.5, 1.0]))
    assert torch.equal(convert(torch.tensor([-1.0, 0.0, 1.0]), "symmetric", "unit"),
                       torch.tensor([0.0, 0.5, 1.0]))
    assert convert(x, "unit", "unit") is x
    with pytest.raises(ValueError, match="value range"):
        convert(x, "unit", "reflectance")


def test_replicate_data_is_the_per_class_loading(fake_run):
    root, _, splits = fake_run
    study = _study(root, seeds=(0, 1))
    data = study.data()
    norm = BandNormaliser.load(root / "artifacts" / "splits" / "normalisation.json")
    for cls in ("MM", "DN"):
        alone = load_crops(root / "artifacts" / "crops", norm, SIZE, "train",
                           root / "artifacts" / "splits" / "splits.csv", classes=(cls,),
                           value_range="symmetric")
        assert torch.equal(data.images(cls, "train"), alone.images)  # bit for bit
        assert data.ids(cls, "train") == alone.ids
        assert torch.equal(data.masks(cls, "train"), alone.masks)
        assert torch.equal(data.unit(cls, "train"), (alone.images + 1) / 2)
        source = splits.set_index("id").source
        assert list(data.groups(cls, "val")) == list(source[list(data.ids(cls, "val"))])
    counts = splits[splits.split != "test"].groupby(["class", "split"]).size()
    summary = data.summary()
    assert summary["MM"]["train crops"] == counts["MM", "train"]
    assert summary["DN"]["validation crops"] == counts["DN", "val"]
    both = data.stacked("train")
    assert both.ids == data.ids("MM", "train") + data.ids("DN", "train")
    with pytest.raises(ValueError, match="never reads the test split"):
        data.crops("MM", "test")


def test_seeds_share_notebook_01s_split(fake_run):
    root, _, _ = fake_run
    study = _study(root, seeds=(3, 5))
    assert study.replicates == (3, 5) and study.first == 3 and study.distinct == (3,)
    assert [study.tag(r) for r in study.replicates] == ["g3", "g5"]
    assert [study.train_seed(r) for r in study.replicates] == [3, 5]
    assert study.kind == "generator seed" and study.data(5) is study.data(3)
    with pytest.raises(KeyError, match="not one of"):
        study.tag(4)


def test_folds_have_their_own_tables_and_normalisers(fake_run, tmp_path):
    root, index, _ = fake_run
    run = tmp_path / "folds"
    write_fake_run(run, n_per_class=12)
    study = _study(run, seeds=(7,), folds=True)
    assert study.replicates == (0, 1, 2) and [study.tag(r) for r in study.replicates] == [
        "f0", "f1", "f2"]
    assert {study.train_seed(r) for r in study.replicates} == {7}
    kfold = pd.read_csv(run / "artifacts" / "splits" / "kfold.csv", dtype={"id": str})
    for r in study.replicates:
        table = pd.read_csv(run / "artifacts" / "splits" / f"fold{r}.csv", dtype={"id": str})
        pd.testing.assert_frame_equal(table, fold_split(kfold, r), check_dtype=False)
        fitted = fit_train_normaliser(run / "artifacts" / "crops", table,
                                      method=study.nb.study.data.normalisation,
                                      percentiles=study.nb.study.data.norm_percentiles)
        np.testing.assert_array_equal(study.normaliser(r).band_min, fitted.band_min)
        saved = BandNormaliser.load(run / "artifacts" / "splits" / f"normalisation_fold{r}.json")
        np.testing.assert_array_equal(saved.band_max, fitted.band_max)
        val_ids = set(table.id[table.split == "val"])
        assert set(study.data(r).ids(None, "val")) == val_ids & set(index.id)


def test_training_resumes_exactly_keeps_snapshots_and_records(fake_run, tmp_path):
    root, _, _ = fake_run
    run_dir = tmp_path / "train"
    write_fake_run(run_dir, n_per_class=12)
    study = _study(run_dir, 32, seeds=(0,))
    cfg = replace(_tiny_fastgan(), steps=3)
    straight = study.train(cfg, "straight", cls="MM")
    short = study.train(cfg, "short", cls="MM", steps=2, snapshots=False,
                        steps_from="gan_study.compare_steps")
    longer = study.resume(short, "longer", 3)
    # the dry run's plan: the comparison's length field, and what the continuation continues
    from hsilib.train import watch

    by_name = {r["name"]: r for r in watch.RECORDS}
    assert by_name["short"]["steps_from"] == "gan_study.compare_steps"
    assert by_name["longer"]["continues_from"] == "gan_study.compare_steps"
    assert by_name["longer"]["steps_from"] is None and by_name["longer"]["done"] == 1
    assert short.step == 2 and longer.step == 3 and longer.wall_s > short.wall_s
    assert [h["g_loss"] for h in longer.trainer.history] == [
        h["g_loss"] for h in straight.trainer.history]
    assert snapshot_path(straight.checkpoint, 1).is_file()  # gan_study.snapshot_steps (1,)
    assert not snapshot_path(short.checkpoint, 1).exists()
    assert set(study.runs) == {"straight", "short", "longer"}
    table = pd.DataFrame({"metric": ["m1", "m2"], "value": [0.5, 2.0], "floor": [0.1, 0.2]})
    study.record(table, longer, variant="final")
    recorded = read_generator_metrics(study.run.generator_metrics)
    assert list(recorded.value) == [0.5, 2.0] and set(recorded.variant) == {"final"}
    assert set(recorded.step) == {3} and set(recorded.family) == {"fastgan"}
    assert recorded.wall_s.iloc[0] == pytest.approx(longer.wall_s)
    audit = study.audit("s*.pt")  # straight, short: sorted by name
    assert list(audit.checkpoint) == ["short.pt", "straight.pt"]


def test_record_names_the_fold_under_cross_validation(fake_run, tmp_path):
    run_dir = tmp_path / "cv"
    write_fake_run(run_dir, n_per_class=12)
    study = _study(run_dir, 32, seeds=(4,), folds=True)
    run = study.train(replace(_tiny_fastgan(), steps=1), "fastgan_mm_f1",
                      cls="MM", replicate=1)
    study.record(pd.DataFrame({"metric": ["m"], "value": [1.0]}), run, variant="final")
    row = read_generator_metrics(study.run.generator_metrics).iloc[0]
    assert row.variant == "final_f1" and row.seed == 4 and row["class"] == "MM"
    audit = study.audit("fastgan_*.pt")
    assert list(audit.fold) == [1] and audit.train.iloc[0] == len(study.data(1).ids("MM",
                                                                                  "train"))


def _metric_table(fd, det, ratio, ci=0.1, floor=0.05):
    return pd.DataFrame({"metric": ["FD_rand", "NN_train_dist_ratio", "detectability_AUROC"],
                         "value": [fd, ratio, det], "floor": [floor, 1.0, 0.5],
                         "ci_low": [fd - ci, ratio - ci, det - ci],
                         "ci_high": [fd + ci, ratio + ci, det + ci]})


def test_checks_fd_pairs_and_family_pairs_by_value():
    first = {("MM", 0): _metric_table(1.0, 0.9, 1.1), ("DN", 0): _metric_table(0.3, 0.55, 0.7)}
    second = {("MM", 0): _metric_table(1.15, 0.8, 1.0), ("DN", 0): _metric_table(2.0, 1.0, 1.4)}
    checks = gt.checks_table(first, "fold")
    assert list(checks.columns) == ["class", "fold", "metric", "value", "ci_low", "ci_high",
                                    "floor"]
    assert checks.set_index(["class", "metric"]).loc[("DN", "detectability_AUROC"), "value"] \
        == 0.55
    pairs = gt.fd_pairs(first, second, tag=lambda r: f"g{r}")
    assert list(pairs.replicate) == ["g0", "g0"]
    assert list(pairs["intervals overlap"]) == [True, False]  # 1.0 vs 1.15 +- 0.1; 0.3 vs 2.0
    assert list(pairs["StyleGAN2 value"]) == [1.15, 2.0] and list(pairs.floor) == [0.05, 0.05]
    assert list(gt.family_pairs(first, second, tag=str)) == [
        "MM 0 FastGAN", "MM 0 StyleGAN2-ADA", "DN 0 FastGAN", "DN 0 StyleGAN2-ADA"]


def test_budget_table_uses_the_rounded_seconds():
    class Run:
        def __init__(self, step, wall_s):
            self.step, self.wall_s = step, wall_s

    table = gt.budget_table({("MM", 1): Run(300, 70.04)}, {("MM", 1): Run(400, 62.96)},
                            tag=lambda r: f"g{r}")
    row = table.iloc[0]
    assert (row["FastGAN seconds"], row["StyleGAN2 seconds"]) == (70.0, 63.0)
    assert row["time ratio"] == 0.9 and row["StyleGAN2 steps"] == 400 and row.replicate == "g1"


def test_family_means_of_recorded_final_rows():
    rows = [("03", "fastgan", "final", "MM", 0, "FD_rand", 1.0, 0.1),
            ("03", "fastgan", "final", "MM", 1, "FD_rand", 3.0, 0.3),
            ("3", "fastgan", "final_f2", "MM", 0, "FD_rand", 5.0, 0.2),  # a fold, unpadded
            ("03", "fastgan", "default", "MM", 0, "FD_rand", 99.0, 9.0),  # a comparison run
            ("05", "vae", "final", "MM", 0, "FD_rand", 4.0, 0.1),
            ("04", "fastgan", "final", "MM", 0, "FD_rand", 99.0, 9.0)]  # another notebook
    recorded = pd.DataFrame(rows, columns=["notebook", "family", "variant", "class", "seed",
                                           "metric", "value", "floor"])
    means = gt.family_means(recorded, ["03", "05"], ["FD_rand"])
    assert means.loc[("FD_rand", "MM"), "fastgan"] == 3.0 and means.loc[("FD_rand", "MM"),
                                                                        "vae"] == 4.0
    assert means.loc[("FD_rand", "MM"), "floor"] == pytest.approx(0.175)
