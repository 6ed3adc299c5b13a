"""The classifier notebooks' inputs and grid cells (hsilib.study.classifier_inputs): replicates
by seed or fold, the passthrough export of real training crops (check 11a), the stamped input
files, and a cell trained on its replicate's table and normaliser."""

import numpy as np
import pandas as pd
import pytest
import torch
from fakedata import write_fake_run

from hsilib.data.datasets import BandNormaliser, load_crops, read_index
from hsilib.data.splits import fold_files, fold_split
from hsilib.paths import MissingInputError, run_paths
from hsilib.study import classifier_inputs as cells
from hsilib.study.classifier_inputs import ClassifierCells, ClassifierInputs


@pytest.fixture
def run(tmp_path):
    write_fake_run(tmp_path, n_per_class=12)
    return run_paths(tmp_path).make()


def _write_folds(run):
    kfold = pd.read_csv(run.splits / "kfold.csv")
    for r in range(kfold["fold"].nunique()):
        table_csv, norm_json = fold_files(run.splits, r)
        fold_split(kfold, r).to_csv(table_csv, index=False)
        BandNormaliser.load(run.splits / "normalisation.json").save(norm_json)


def test_seed_replicates_and_stamped_files(run):
    inputs = ClassifierInputs(run, seeds=(0, 1))
    assert inputs.replicates == (0, 1) and inputs.kind == "generator replicates"
    assert [inputs.tag(r) for r in inputs.replicates] == ["g0", "g1"]
    with pytest.raises(MissingInputError, match="03_fastgan"):
        inputs.synthetic_dirs()
    for r in (0, 1):
        for c in ("mm", "dn"):
            folder = run.synthetic(f"fastgan_{c}_g{r}")
            folder.mkdir(parents=True)
            (folder / "index.csv").touch()
    dirs = inputs.synthetic_dirs()
    assert dirs[1]["DN"] == run.synthetic("fastgan_dn_g1")
    stamped = inputs.stamped(dirs)
    assert stamped[:3] == [run.crops / "index.csv", run.splits / "splits.csv",
                           run.splits / "normalisation.json"]
    assert stamped[3:] == [run.synthetic(f"fastgan_{c}_g{r}") / "index.csv"
                           for r in (0, 1) for c in ("mm", "dn")]
    assert inputs.stamped([run.synthetic("a"), {"x": run.synthetic("b")}])[3:] == [
        run.synthetic("a") / "index.csv", run.synthetic("b") / "index.csv"]


def test_passthrough_writes_the_real_training_crops(run):
    inputs = ClassifierInputs(run, seeds=(0,))
    dirs, counts = inputs.write_passthrough(8)
    splits = pd.read_csv(run.splits / "splits.csv")
    train = splits[splits.split == "train"]
    assert counts == {c: int((train["class"] == c).sum()) for c in ("MM", "DN")}
    index = read_index(dirs["MM"])
    real = load_crops(run.crops, inputs.normaliser, 8, "train", run.splits / "splits.csv",
                      classes=("MM",), value_range="symmetric")
    assert index.is_synthetic.all() and (index.generator == "passthrough").all()
    sources = dict(zip(splits.id, splits.source, strict=True))
    assert list(index.source) == [sources[i] for i in real.ids]  # the source images are kept
    back = load_crops(dirs["MM"], inputs.normaliser, 8, value_range="symmetric")
    torch.testing.assert_close(back.images, real.images, atol=1e-5, rtol=0)


def test_fold_replicates_and_cells_use_each_folds_table(run, monkeypatch):
    _write_folds(run)
    inputs = ClassifierInputs(run, folds=True, seeds=(0,))
    assert inputs.replicates == (0, 1, 2) and inputs.tag(2) == "f2" and inputs.kind == "folds"
    assert inputs.stamped()[3:] == [p for r in range(3) for p in fold_files(run.splits, r)]
    dirs, counts = inputs.write_passthrough(8)
    assert set(dirs) == {0, 1, 2} and set(counts) == {f"{c} f{r}" for r in range(3)
                                                       for c in ("MM", "DN")}
    calls = []

    def fake_run_experiment(name, cfg, crops_dir, table, norm, **kwargs):
        calls.append((name, table, norm, kwargs))
        return pd.DataFrame({"config": [name]})

    monkeypatch.setattr(cells.tc, "run_experiment", fake_run_experiment)

    class Experiment:
        name = "real"

        def arguments(self, replicate):
            return {} if replicate is None else {"fold": replicate, "fraction": 0.5}

    cell = inputs.cells("cfg", device="cpu", checkpoint_dir=run.checkpoints, prefix="06_")
    assert isinstance(cell, ClassifierCells)
    cell(Experiment(), 3, 1)
    cell(Experiment(), 4, None)
    (name, table, norm, kwargs), (_, table2, norm2, kwargs2) = calls
    assert table == fold_files(run.splits, 1)[0] and norm is inputs.fold_normalisers[1]
    assert kwargs["fold"] == 1 and kwargs["fraction"] == 0.5 and kwargs["seeds"] == [3]
    assert kwargs["checkpoint_prefix"] == "06_" and kwargs["checkpoint_dir"] == run.checkpoints
    assert table2 == inputs.splits_csv and norm2 is inputs.normaliser
    assert kwargs["cache"] is cell.cache[1] and kwargs2["cache"] is cell.cache[-1]
    assert np.array_equal(inputs.fold_normalisers[0].band_min, inputs.normaliser.band_min)


def test_only_the_first_folds_run_when_the_config_says_so(run):
    _write_folds(run)
    inputs = ClassifierInputs(run, folds=True, seeds=(0,), max_folds=1)  # gan_study.folds_run
    assert inputs.replicates == (0,) and set(inputs.fold_tables) == {0}
    assert ClassifierInputs(run, folds=True, seeds=(0,), max_folds=9).replicates == (0, 1, 2)
