"""Every notebook: committed clean, one `parameters` cell, and runs end to end under `smoke`.

The harness executes all notebooks in order, through run_all.py and papermill, on one shared
temporary run folder (later notebooks read what earlier ones wrote), once per test session.
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


@pytest.fixture(scope="session")
def smoke_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("smoke_run")
    proc = subprocess.run([sys.executable, str(REPO / "run_all.py"), "--profile", "smoke",
                           "--out", str(out)], cwd=REPO, capture_output=True, text=True)
    return out, proc


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
