"""Each generator state's crops and metrics (hsilib.study.states): the lighter protocol, a
state's draw kept while its checkpoint is unchanged, and its table equal to the protocol run on
the same crops."""

from dataclasses import replace

import pandas as pd
from fakedata import write_fake_run

from hsilib import config
from hsilib.data.datasets import load_crops, read_index
from hsilib.notebook import setup
from hsilib.study.generators import GeneratorStudy
from hsilib.study.generators.data import load_replicate
from hsilib.study.generators.study import evaluate_set
from hsilib.study.proportion import pool_is_current
from hsilib.study.states import lighter_metrics, score_states


def test_lighter_metrics_take_the_correlation_settings():
    study = config.resolve("quick")
    light = lighter_metrics(study.metrics, study.correlation_study)
    c = study.correlation_study
    assert (light.feature_size, light.n_repeats, light.n_boot, light.n_boot_set,
            light.probe_epochs, light.probe_folds) == (
        c.metric_feature_size, c.metric_repeats, c.metric_boot, c.metric_boot,
        c.metric_probe_epochs, c.metric_probe_folds)
    assert light.k == study.metrics.k and light.n_pixels == study.metrics.n_pixels


def test_a_state_is_drawn_once_and_scored_by_the_protocol(tmp_path):
    _, splits = write_fake_run(tmp_path, n_per_class=12)
    nb = setup("08", "smoke", seed=0, run_dir=tmp_path)
    study = GeneratorStudy(nb, image_size=32, seeds=(0,))
    run = study.train(replace(config.resolve("smoke", "fastgan"), steps=1), "fastgan_mm_g0",
                      cls="MM")
    states = pd.DataFrame([{"state": "fastgan_mm_g0", "path": str(run.checkpoint),
                            "class": "MM", "image_size": 32}])
    metrics = replace(nb.study.metrics, probe_epochs=0)
    real_counts = splits[splits.split == "train"]["class"].value_counts().to_dict()
    sources = splits.astype({"id": str, "source": str}).set_index("id")["source"]
    kwargs = dict(crops_dir=nb.run.crops, splits_csv=nb.run.splits / "splits.csv",
                  normaliser=study.normaliser(), sources=sources, real_counts=real_counts,
                  amount=50, pool_seed=3, metrics=metrics, seed=0, device="cpu")
    folders, tables = score_states(states, nb.run, **kwargs)
    folder = folders["fastgan_mm_g0"]
    assert folder == nb.run.synthetic("08_fastgan_mm_g0")
    assert len(read_index(folder)) == round(real_counts["MM"] / 2 + 1e-9)
    assert pool_is_current(folder, run.checkpoint, len(read_index(folder)), 3)  # kept on rerun
    data = load_replicate(nb.run.crops, nb.run.splits / "splits.csv", study.normaliser(), 32,
                          sources, train_range="unit", val_range="unit")
    synthetic = load_crops(folder, study.normaliser(), 32).images
    pd.testing.assert_frame_equal(tables["fastgan_mm_g0"], evaluate_set(
        data, "MM", synthetic, metrics=metrics, seed=0, device="cpu"))


def test_a_studys_shared_feature_network_gives_the_protocols_own_numbers(tmp_path):
    # GeneratorStudy.evaluate builds the feature network once; evaluate_set alone builds it
    # per call from the same seed: the tables must be the same, call after call
    write_fake_run(tmp_path, n_per_class=12)
    nb = setup("08", "smoke", seed=0, run_dir=tmp_path)
    study = GeneratorStudy(nb, image_size=32, seeds=(0,),
                           metrics=replace(nb.study.metrics, probe_epochs=0))
    synthetic = study.data().unit("MM", "train").flip(-1)
    first = study.evaluate("MM", synthetic)
    assert study.feature_extractor() is study.feature_extractor()
    assert len(study._summaries[study._extractor[0], study.first]) == 2  # the real sets, kept
    pd.testing.assert_frame_equal(study.evaluate("MM", synthetic), first)
    pd.testing.assert_frame_equal(study.evaluate("MM", synthetic.flip(-2)), evaluate_set(
        study.data(), "MM", synthetic.flip(-2), metrics=study.metrics, seed=study.seed,
        device="cpu"))
    pd.testing.assert_frame_equal(first, evaluate_set(
        study.data(), "MM", synthetic, metrics=study.metrics, seed=study.seed, device="cpu"))
