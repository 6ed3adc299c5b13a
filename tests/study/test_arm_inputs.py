"""Notebook 06's own arm inputs: the reduced learning-curve arms' generators learn from exactly
the real crops their arm keeps (and the audit, which reads the checkpoints and the saved
predictions, shows it, and refuses the old design whose generators saw the whole split); the
SeFa edits of inverted training melanomas keep their sources."""

import json
import warnings
from dataclasses import replace

import numpy as np
import pandas as pd
import pytest
from fakedata import write_fake_run

from hsilib import config
from hsilib.data.datasets import BandNormaliser, load_crops
from hsilib.guard import LeakageError
from hsilib.models import registry
from hsilib.notebook import setup
from hsilib.study import arm_inputs as A
from hsilib.study.generators import GeneratorStudy
from hsilib.study.grid import run_grid
from hsilib.study.plan import MAIN, plan_experiments
from hsilib.train import classifier as tc
from hsilib.train.training_set import fraction_ids

SIZE = 32


@pytest.fixture(scope="module")
def curve(tmp_path_factory):
    root = tmp_path_factory.mktemp("run06c")
    write_fake_run(root, n_per_class=16)
    nb = setup("06", "smoke", seed=0, run_dir=root, check_inputs=False)  # 03 trained below
    study = GeneratorStudy(nb, image_size=SIZE, seeds=(0, 1))
    art = root / "artifacts"
    norm = BandNormaliser.load(art / "splits" / "normalisation.json")
    splits = art / "splits" / "splits.csv"
    gcfg = replace(config.resolve("smoke", "fastgan"), steps=2)
    full, templates = {}, {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # no LPIPS backbone
        for r in study.replicates:  # the full-data generators (as notebook 03 trains them)
            for c in study.classes:
                run = study.train(gcfg, f"fastgan_{c.lower()}_g{r}", cls=c, replicate=r,
                                  snapshots=False)
                templates[c, r] = run.checkpoint
                full.setdefault(r, {})[c] = study.run.synthetic(run.name)
                study.export(run, run.name, cls=c, n=6, generator="fastgan", batch_size=4)
        real_train = {r: load_crops(art / "crops", norm, 16, "train", splits) for r in (0, 1)}
        dirs, table = A.curve_generators(study, real_train, (0.5, 1.0), templates, n_export=6)
    return dict(root=root, nb=nb, study=study, norm=norm, splits=splits, full=full,
                templates=templates, real_train=real_train, dirs=dirs, table=table)


def test_each_reduced_arm_generator_learns_from_exactly_its_arms_crops(curve):
    study, dirs = curve["study"], curve["dirs"]
    assert set(dirs) == {0.5} and set(dirs[0.5]) == {0, 1}
    for r in (0, 1):
        keep = set(fraction_ids(curve["real_train"][r], 0.5, seed=r))  # the arm's subsample
        for c in ("MM", "DN"):
            path = study.run.checkpoints / f"06_curve_50pct_{c.lower()}_g{r}.pt"
            ckpt = registry.read_checkpoint(path)
            ids = set(ckpt["data_ids"])
            assert ids == {i for i in keep if i.startswith(c)}  # that class's share, all of it
            template = registry.read_checkpoint(curve["templates"][c, r])
            assert ckpt["config"] == template["config"] and ckpt["step"] == 2
            index = pd.read_csv(dirs[0.5][r][c] / "index.csv")
            assert len(index) == 6 and set(index["class"]) == {c}
    # two replicates: two subsamples (each replicate's generators saw their own)
    assert set(fraction_ids(curve["real_train"][0], 0.5, 0)) != set(
        fraction_ids(curve["real_train"][1], 0.5, 1))
    rows = curve["table"]
    assert list(rows["training crops"] * 2) == list(rows["of the class's training crops"])


def test_a_rerun_keeps_the_trained_generators(curve):
    path = curve["study"].run.checkpoints / "06_curve_50pct_mm_g0.pt"
    folder = curve["dirs"][0.5][0]["MM"]
    before = path.stat().st_mtime_ns, (folder / "index.csv").stat().st_mtime_ns
    _, table = A.curve_generators(curve["study"], curve["real_train"], (0.5,),
                                  curve["templates"], n_export=6)
    assert (path.stat().st_mtime_ns, (folder / "index.csv").stat().st_mtime_ns) == before
    assert (table["training seconds"] == 0).all()


def _train_grid(curve, plan, name):
    cfg = replace(config.resolve("smoke", "classifier"), image_size=16, epochs=1, patience=1)
    cache = {}

    def cell(experiment, seed, replicate):
        return tc.run_experiment(experiment.name, cfg, curve["root"] / "artifacts" / "crops",
                                 curve["splits"], curve["norm"], seeds=[seed], device="cpu",
                                 cache=cache, **experiment.arguments(replicate))

    keep = [e for e in plan if e.name.startswith((f"{MAIN}_50%", "real_50%", "tstr"))
            and e.name != "tstr_passthrough"]
    return keep, run_grid(keep, cell, seeds=(0, 1), out_dir=curve["root"] / name)


def test_the_audit_shows_every_arms_generators_inside_its_crops_and_refuses_a_leak(curve):
    study = replace(config.resolve("smoke", "classifier_study"), n_synthetic_tstr=6,
                    arms=("curve_synthetic",), syn_families=(), tstr_families=())
    cfg = config.resolve("smoke", "classifier")
    plan, _ = plan_experiments(cfg, study, curve["full"], curve_dirs=curve["dirs"])
    plan, preds = _train_grid(curve, plan, "cells")
    audit = A.audit_arm_inputs(plan, preds, curve["study"].run.checkpoints,
                               {None: curve["splits"]})
    arm = audit[audit.config == f"{MAIN}_50%"]
    assert len(arm) == 4 and arm.subset.all()  # 2 replicates x 2 classes
    assert set(arm.checkpoint) == {f"06_curve_50pct_{c}_g{r}.pt" for c in ("mm", "dn")
                                   for r in (0, 1)}
    assert (arm.in_reference == arm.n_ids).all()
    assert set(audit[audit.config == "tstr"].reference) == {"training split"}
    A.require_subsets(audit)
    # the old design: the 50% arm with generators of the whole training split
    leaky, _ = plan_experiments(cfg, study, curve["full"], curve_dirs={0.5: curve["full"]})
    leaky, preds = _train_grid(curve, leaky, "leaky")
    audit = A.audit_arm_inputs(leaky, preds, curve["study"].run.checkpoints,
                               {None: curve["splits"]})
    bad = audit[~audit.subset]
    assert set(bad.config) == {f"{MAIN}_50%"} and (bad.in_reference < bad.n_ids).all()
    with pytest.raises(LeakageError, match="real\\+syn_50%"):
        A.require_subsets(audit)


def test_a_folder_drawn_from_another_version_of_its_checkpoint_is_refused(curve, tmp_path):
    folder = curve["full"][0]["MM"]
    meta = json.loads((folder / "export.json").read_text())
    copy = tmp_path / "copy"
    copy.mkdir()
    (copy / "export.json").write_text(json.dumps({**meta, "checkpoint_sha": "0" * 12}))
    with pytest.raises(ValueError, match="another version"):
        A._checkpoint_of(copy, curve["study"].run.checkpoints)


def test_sefa_edits_of_inverted_training_melanomas(curve, tmp_path):
    cfg = replace(config.resolve("smoke", "stylegan2"), image_size=SIZE)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        run = curve["study"].train(cfg, "stylegan2_mm_g0", cls="MM", snapshots=False, steps=1)
    art = curve["root"] / "artifacts"
    targets = load_crops(art / "crops", curve["norm"], SIZE, "train", curve["splits"],
                         classes=("MM",), value_range="symmetric")
    source_of = tc.crop_sources(art / "crops")
    sources = [source_of[i] for i in targets.ids]
    dirs, table = A.sefa_edit_sets({0: run.checkpoint}, {0: "g0"}, {0: targets}, {0: sources},
                                   {0: curve["norm"]}, lambda n: tmp_path / n, k=2, layers=(0,),
                                   alpha=0.001, steps=2, seed=0, device="cpu")
    index = pd.read_csv(dirs[0] / "index.csv")
    n = len(targets)
    assert len(index) == 4 * n and set(index["class"]) == {"MM"} and index.is_synthetic.all()
    assert list(index.source) == sources * 4  # every edit keeps its crop's source image
    meta = json.loads((dirs[0] / "export.json").read_text())
    assert meta["directions"] == 2 and meta["checkpoint_sha"] == registry.file_sha256(
        run.checkpoint)
    assert table["edits"].iloc[0] == 4 * n and table["inverted crops"].iloc[0] == n
    # a small move along a direction, both ways, averages to the inverted crop's rendering
    edits = load_crops(dirs[0], curve["norm"], SIZE, value_range="symmetric").images
    G = registry.load(run.checkpoint)[0].net("G")
    recon = A.sg2_edit.project(G, targets.images, steps=2, space="w+", seed=0)["images"]
    A.write_synthetic(recon.clamp(-1, 1), tmp_path / "recon", cls="MM", normaliser=curve["norm"],
                      generator="recon")  # the same round trip through reflectance
    recon = load_crops(tmp_path / "recon", curve["norm"], SIZE, value_range="symmetric").images
    for j in range(2):
        minus, plus = edits[2 * j * n:(2 * j + 1) * n], edits[(2 * j + 1) * n:(2 * j + 2) * n]
        off = ((minus + plus) / 2 - recon).abs().max()
        move = (plus - minus).abs().max()
        assert move > 1e-4 and off < 0.25 * move  # second order vs first order
    assert np.isfinite(table["final inversion MSE ([-1, 1])"]).all()
    stamp = (dirs[0] / "index.csv").stat().st_mtime_ns  # a rerun keeps edits of one setting
    _, again = A.sefa_edit_sets({0: run.checkpoint}, {0: "g0"}, {0: targets}, {0: sources},
                                {0: curve["norm"]}, lambda n: tmp_path / n, k=2, layers=(0,),
                                alpha=0.001, steps=2, seed=0, device="cpu")
    assert (dirs[0] / "index.csv").stat().st_mtime_ns == stamp
    pd.testing.assert_frame_equal(again, table)
    # max_crops: the first crops only (another setting: the edits are made again)
    fewer, small = A.sefa_edit_sets({0: run.checkpoint}, {0: "g0"}, {0: targets}, {0: sources},
                                    {0: curve["norm"]}, lambda n: tmp_path / n, k=2,
                                    layers=(0,), alpha=0.001, steps=2, seed=0, max_crops=2,
                                    device="cpu")
    index = pd.read_csv(fewer[0] / "index.csv")
    assert len(index) == 8 and list(index.source) == sources[:2] * 4
    assert small["inverted crops"].iloc[0] == 2
