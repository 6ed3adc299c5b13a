"""Every notebook: committed clean, one `parameters` cell, and runs end to end under `smoke`.

The harness executes all notebooks in order, through run_all.py and papermill, on one shared
temporary run folder (later notebooks read what earlier ones wrote), once per test session; a
second, shorter run takes the cross-validation path of the `full` profile (check 10).
"""

import json
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

REPO = Path(__file__).resolve().parent.parent
NOTEBOOKS = sorted((REPO / "notebooks").glob("[0-9][0-9]_*.ipynb"))
REQUIRED_PARAMETERS = ("PROFILE", "SEED", "DATA_DIR", "RUN_DIR")


def tracked(path: Path) -> bool:
    r = subprocess.run(["git", "ls-files", "--error-unmatch", str(path)], cwd=REPO,
                       capture_output=True)
    return r.returncode == 0


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_is_clean_and_has_one_parameters_cell(path):
    nb = nbformat.read(path, as_version=4)
    code = [c for c in nb.cells if c.cell_type == "code"]
    if tracked(path):
        assert all(not c.outputs and c.execution_count is None for c in code), \
            f"{path.name} is committed with outputs: run nbstripout"
    tagged = [c for c in nb.cells if "parameters" in c.metadata.get("tags", [])]
    assert len(tagged) == 1, f"{path.name}: {len(tagged)} cells tagged 'parameters', want 1"
    # literals only, and the contract's names
    namespace: dict = {}
    exec(compile(tagged[0].source, path.name, "exec"), {"__builtins__": {}}, namespace)
    for name in REQUIRED_PARAMETERS:
        assert name in namespace, f"{path.name}: parameters cell lacks {name}"
    assert namespace["PROFILE"] == "quick", "notebooks default to the quick profile"
    # papermill must parse every line (a comment holding '=' breaks its parser)
    from papermill.inspection import inspect_notebook

    assert set(inspect_notebook(str(path))) == set(namespace), \
        f"{path.name}: papermill cannot parse every line of the parameters cell"
    assert nb.cells[0].cell_type == "markdown" and nb.cells[0].source.startswith("# ")
    assert nb.metadata["kernelspec"]["name"] == "python3"


@pytest.mark.notebooks
@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_runs_under_smoke(path, smoke_run):
    out, proc = smoke_run
    manifest = json.loads((out / "manifest.json").read_text())
    record = manifest["notebooks"].get(path.stem)
    assert record is not None, f"{path.stem} did not run:\n{proc.stdout}\n{proc.stderr[-4000:]}"
    assert record["status"] == "ok", record.get("error", proc.stderr[-4000:])
    assert record["outputs"], f"{path.stem} wrote nothing under the run folder"
    assert (out / record["executed_notebook"]).exists()


@pytest.mark.notebooks
@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_executed_notebook_output_is_clean(path, smoke_run):
    """No unexplained warning, one progress line per training, no unreadably long line
    (tests/notebook_output.py says what each rule accepts)."""
    from notebook_output import output_problems

    out, _ = smoke_run
    record = json.loads((out / "manifest.json").read_text())["notebooks"].get(path.stem)
    if record is None or record.get("status") != "ok":
        pytest.skip(f"{path.stem} did not run (test_notebook_runs_under_smoke says why)")
    executed = json.loads((out / record["executed_notebook"]).read_text())
    problems = output_problems(executed, path.stem)
    assert not problems, "\n".join(problems)


#: The `full` profile's cross-validation (check 10) on smoke data: 3 folds (smoke has 2, too few
#: for train, validation and test folds), fold replicates for every notebook that reads
#: `gan_study` (04 and 05 train on notebook 01's split under every profile, so their generators
#: are left out of 06-08's folds), one classifier seed and no learning-curve points so that it
#: stays short; notebook 08 takes the folds' generators as states of their folds.
FOLDS_RUN = ["--set", "01.n_folds=3",
             *(arg for nn in ("03", "04", "05", "06", "07", "08")
               for arg in ("--set", f"{nn}.gan_study.replicates=folds")),
             "--set", "06.classifier_study.seeds=[0]",
             "--set", "06.classifier_study.fractions=[1.0]"]
#: Notebooks with no cross-validation mode at all (notebook 02's ablation trains on notebook 01's
#: split with its own seeds and reads no `gan_study`): the folds run would only repeat its smoke
#: run.
NO_FOLDS = {"02"}
FOLDS_NOTEBOOKS = [p for p in NOTEBOOKS if p.name[:2] not in NO_FOLDS]


@pytest.mark.notebooks
def test_cross_validation_runs_under_smoke(tmp_path):
    import pandas as pd

    proc = subprocess.run([sys.executable, str(REPO / "run_all.py"), "--profile", "smoke",
                           "--out", str(tmp_path), *FOLDS_RUN,
                           "--only", *(p.name[:2] for p in FOLDS_NOTEBOOKS)], cwd=REPO,
                          capture_output=True, text=True)
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    for path in FOLDS_NOTEBOOKS:
        record = manifest["notebooks"].get(path.stem)
        assert record is not None and record["status"] == "ok", \
            (record or {}).get("error", proc.stdout + proc.stderr[-4000:])
    results = tmp_path / "artifacts" / "results"
    # notebook 03: both generators of every fold audited against that fold's own table
    audit = pd.read_csv(results / "03_audit_generator_inputs.csv")
    assert sorted(set(audit["fold"])) == [0, 1, 2]
    assert (audit[["val", "test", "unknown"]] == 0).all().all() and (audit["train"] > 0).all()
    for r in range(3):
        assert (tmp_path / "artifacts" / "splits" / f"fold{r}.csv").is_file()
        for cls in ("mm", "dn"):
            assert (tmp_path / "artifacts" / "synthetic" / f"fastgan_{cls}_f{r}" /
                    "index.csv").is_file()
    # notebook 06: every configuration in every fold; pooled, every MM/DN crop tested once
    preds = pd.read_csv(results / "06_predictions.csv")
    kfold = pd.read_csv(tmp_path / "artifacts" / "splits" / "kfold.csv")
    crops = set(kfold.loc[kfold["class"].isin(["MM", "DN"]), "id"])
    test = preds[preds["split"] == "test"]
    for config, rows in test.groupby("config"):
        assert sorted(set(rows["fold"])) == [0, 1, 2], config
        assert sorted(rows["id"]) == sorted(crops), config
        fold_of = kfold.set_index("id")["fold"]
        assert (rows["fold"].to_numpy() == fold_of[rows["id"]].to_numpy()).all(), config
    # notebook 07: the grid in every fold on that fold's generators, pooled out of fold; the
    # generators trained on notebook 01's split (VAE, notebook 04's) left out
    preds7 = pd.read_csv(results / "07_predictions.csv")
    test7 = preds7[preds7["split"] == "test"]
    assert {"real", "fastgan_MM_50%", "fastgan_both_50%_top", "real+dupMM_50%"} <= set(
        test7["config"])
    assert not any(c.startswith(("vae_", "spade_rgb_")) for c in test7["config"])
    for config, rows in test7.groupby("config"):
        assert sorted(set(rows["fold"])) == [0, 1, 2], config
        assert sorted(rows["id"]) == sorted(crops), config
    pools = sorted((tmp_path / "artifacts" / "synthetic").glob("07_*_pool"))
    assert {p.name for p in pools} >= {f"07_fastgan_{c}_f{r}_pool" for c in ("mm", "dn")
                                       for r in range(3)}
    for pool in pools:  # each fold's pool drawn from the generator trained inside that fold
        fold = pool.name.rsplit("_", 2)[1]
        meta = json.loads((pool / "pool.json").read_text())
        assert fold.startswith("f") and Path(meta["checkpoint"]).stem.endswith(f"_{fold}"), pool
    # notebook 08: each fold's generator pair is a state of its fold, probed inside that fold
    pairs = pd.read_csv(results / "08_pairs.csv")
    folded = pairs[pairs["fold"] >= 0]
    assert len(folded) and set(folded["fold"]) <= {0, 1, 2}
    preds = pd.read_csv(results / "08_predictions.csv")
    for state, fold in zip(folded["state"], folded["fold"], strict=True):
        assert set(preds.loc[preds["config"] == state, "fold"]) == {fold}, state
        test = preds[(preds["config"] == state) & (preds["split"] == "test")]
        assert (fold_of[test["id"]].to_numpy() == fold).all(), state  # its fold's test crops
    assert set(preds.loc[preds["config"] == "real_folds", "fold"]) == set(folded["fold"])
    utility = pd.read_csv(results / "08_utility.csv")
    assert set(folded["state"]) <= set(utility["state"])
