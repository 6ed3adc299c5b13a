"""The declared inputs of every notebook: agreement with the code, the check before a notebook
starts, its message, and the dependency graph of run_all.py --upto."""

import ast
import importlib
import inspect
import json
import re
from pathlib import Path

import pytest
from fakedata import write_fake_run

from hsilib import config, inputs
from hsilib.notebook import SECTIONS, resolve_study, setup
from hsilib.paths import MissingInputError, run_paths

REPO = Path(__file__).resolve().parent.parent
NOTEBOOK_DIR = REPO / "notebooks"


def _study(nn, profile="smoke", dry_run=False, **overrides):
    return resolve_study(nn, profile, overrides or None, dry_run)[1]


def _code(notebook: Path) -> str:
    cells = json.loads(notebook.read_text())["cells"]
    return "\n".join("".join(c["source"]) for c in cells if c["cell_type"] == "code")


def _required_makers(source: str) -> set[str]:
    """The notebooks named by ``require(..., "NN_name")`` calls in ``source``."""
    found = set()
    for node in ast.walk(ast.parse(source)):
        if (isinstance(node, ast.Call) and getattr(node.func, "attr", None) == "require"
                and len(node.args) == 2 and isinstance(node.args[1], ast.Constant)):
            found.add(node.args[1].value)
    return found


def _imported_sources(code: str) -> list[str]:
    """The source of every hsilib module (or of the module defining every hsilib name) that
    a notebook imports with ``from hsilib... import ...``."""
    out = []
    for node in ast.walk(ast.parse(code)):
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("hsilib"):
            module = importlib.import_module(node.module)
            for alias in node.names:
                obj = getattr(module, alias.name, None)
                if obj is None:  # a submodule not imported by its package
                    obj = importlib.import_module(f"{node.module}.{alias.name}")
                target = obj if inspect.ismodule(obj) else inspect.getmodule(obj) or module
                out.append(inspect.getsource(target))
    return out


def test_the_table_names_every_notebook_by_its_file():
    on_disk = {p.stem[:2]: p.stem for p in NOTEBOOK_DIR.glob("[0-9][0-9]_*.ipynb")}
    assert inputs.NOTEBOOKS == on_disk
    assert set(inputs.INPUTS) == set(on_disk) == set(SECTIONS)
    assert inputs.INPUTS["01"] == ()  # notebook 01 reads nothing from earlier notebooks


@pytest.mark.parametrize("nn", sorted(inputs.NOTEBOOKS))
def test_declared_makers_cover_every_require_of_the_notebook_and_its_hsilib_code(nn):
    notebook = NOTEBOOK_DIR / f"{inputs.NOTEBOOKS[nn]}.ipynb"
    code = _code(notebook)
    named = _required_makers(code)
    for source in _imported_sources(code):
        named |= _required_makers(source)
    assert named <= set(inputs.NOTEBOOKS.values())  # every maker named is a notebook
    assert all(m[:2] < nn for m in named)  # and an earlier one
    declared = set().union(*(inputs.producers(nn, _study(nn, p)) for p in config.PROFILES))
    assert {m[:2] for m in named} <= declared, f"notebook {nn}: declared {sorted(declared)}"
    assert all(m < nn for m in declared)


def test_the_dependency_graph_follows_the_profile():
    def upto(nn, profile):
        return inputs.upstream(nn, lambda k: _study(k, profile))

    assert upto("01", "smoke") == ["01"]
    assert upto("03", "smoke") == ["01", "03"]
    assert upto("04", "smoke") == ["01", "02", "04"]  # notebook 02's SHS-GAN rows when present
    assert upto("05", "smoke") == ["01", "03", "05"]
    assert upto("06", "quick") == ["01", "03", "04", "06"]  # spade_rgb and TSTR families: 04
    assert upto("07", "quick") == ["01", "03", "07"]  # quick: FastGAN only
    assert upto("07", "smoke") == ["01", "03", "04", "05", "07"]  # + VAE, StyleGAN2, SPADE-RGB
    assert upto("09", "quick") == ["01", "02", "03", "04", "05", "09"]
    with pytest.raises(ValueError, match="notebook '10': no declared inputs"):
        upto("10", "smoke")


def test_inputs_follow_the_replicates_of_the_profile():
    def paths(nn, study):
        return {p for i in inputs.declared(nn, study) if isinstance(i, inputs.Input)
                and not i.optional for p in i.resolve(study)}

    seeds = paths("06", _study("06", "smoke"))  # generator seeds 0 and 1
    assert {"artifacts/synthetic/fastgan_mm_g1/index.csv", "checkpoints/fastgan_dn_g0.pt"} <= seeds
    assert not any("fold" in p or "_f0" in p for p in seeds)
    full = _study("06", "full")  # cross-validation: every fold's table, normaliser and exports
    folds = paths("06", full)
    n = full.data.n_folds
    assert {f"artifacts/splits/fold{r}.csv" for r in range(n)} <= folds
    assert {f"artifacts/splits/normalisation_fold{r}.json" for r in range(n)} <= folds
    assert "artifacts/splits/kfold.csv" in folds and f"checkpoints/fastgan_mm_f{n - 1}.pt" in folds
    dry = paths("06", _study("06", "full", dry_run=True))  # a dry run runs the first fold
    assert "artifacts/splits/fold0.csv" in dry and "artifacts/splits/fold1.csv" not in dry
    # an optional arm turned off drops what only it reads
    no_curve = paths("06", _study("06", "smoke", **{"classifier_study.arms": ["tstr_ratio"]}))
    assert "checkpoints/fastgan_mm_g0.pt" not in no_curve
    assert paths("05", _study("05", "full")) >= {"checkpoints/fastgan_mm_f0.pt",
                                                  "checkpoints/fastgan_dn_f0.pt"}


def test_setup_lists_every_missing_input_with_the_command_before_creating_anything(tmp_path):
    root = tmp_path / "run"
    write_fake_run(root, n_per_class=6)
    with pytest.raises(MissingInputError) as err:
        setup("05", "smoke", seed=0, run_dir=root, device="cpu")
    message = str(err.value)
    assert "notebook 05_vae cannot start" in message
    assert "checkpoints/fastgan_mm_g0.pt" in message and "checkpoints/fastgan_dn_g0.pt" in message
    assert "notebook 03_fastgan" in message and "crops/index.csv" not in message  # 01's are there
    assert f"python run_all.py --profile smoke --out {root.resolve()} --upto 05\n" in message
    assert message.endswith(f"python run_all.py --profile smoke --out {root.resolve()} --only 03")
    assert not (root / "notebooks").exists() and not (root / "checkpoints").exists()

    (root / "checkpoints").mkdir()
    for c in ("mm", "dn"):
        (root / "checkpoints" / f"fastgan_{c}_g0.pt").write_bytes(b"x")
    nb = setup("05", "smoke", seed=0, run_dir=root, device="cpu")
    assert nb.run.root == root.resolve() and nb.run.profile == "smoke"


def test_an_empty_folder_lists_notebook_01s_files_too_and_01_needs_nothing(tmp_path):
    with pytest.raises(MissingInputError) as err:
        setup("06", "quick", seed=2, run_dir=tmp_path / "r", device="cpu")
    message = str(err.value)
    for path in ("artifacts/crops/index.csv", "artifacts/splits/splits.csv",
                 "artifacts/splits/normalisation.json",
                 "artifacts/synthetic/fastgan_dn_g1/index.csv"):
        assert f"\n    {path}\n" in message
    out = (tmp_path / "r").resolve()
    assert f"python run_all.py --profile quick --out {out} --upto 06 --seed 2" in message
    assert "--only 01 03 --seed 2" in message
    nb = setup("01", "smoke", run_dir=tmp_path / "first", device="cpu")
    assert nb.run.crops.parent.is_dir()


def test_a_dry_run_checks_its_own_capped_inputs(tmp_path):
    write_fake_run(tmp_path, n_per_class=6)
    with pytest.raises(MissingInputError, match=r"(?s)fastgan_mm_g0/index.csv.*--upto 06 "
                                                r"--dry-run"):
        setup("06", "smoke", run_dir=tmp_path, device="cpu", dry_run=True)
    for c in ("mm", "dn"):  # the dry run keeps the first generator seed only
        (tmp_path / "artifacts" / "synthetic" / f"fastgan_{c}_g0").mkdir(parents=True)
        (tmp_path / "artifacts" / "synthetic" / f"fastgan_{c}_g0" / "index.csv").write_text("id\n")
        (tmp_path / "checkpoints").mkdir(exist_ok=True)
        (tmp_path / "checkpoints" / f"fastgan_{c}_g0.pt").write_bytes(b"x")
    assert setup("06", "smoke", run_dir=tmp_path, device="cpu", dry_run=True).dry_run
    with pytest.raises(MissingInputError, match="fastgan_mm_g1"):  # not so the real run
        setup("06", "smoke", run_dir=tmp_path, device="cpu")


def test_at_least_one_generator_family_satisfies_notebook_07(tmp_path):
    write_fake_run(tmp_path, n_per_class=6)
    study = _study("07", "smoke")
    missing = inputs.missing_inputs("07", study, tmp_path)
    assert len(missing) == 1 and missing[0].options
    assert "at least one of these" in "\n".join(missing[0].lines())
    assert {o.made_by for o in missing[0].options} == {"03", "04", "05"}
    (tmp_path / "checkpoints").mkdir()
    (tmp_path / "checkpoints" / "vae_mm_g1.pt").write_bytes(b"x")
    assert inputs.missing_inputs("07", study, tmp_path)  # one class is not a generator pair
    (tmp_path / "checkpoints" / "vae_dn_g1.pt").write_bytes(b"x")
    assert inputs.missing_inputs("07", study, tmp_path) == []


def test_named_explained_families_need_their_exports(tmp_path):
    write_fake_run(tmp_path, n_per_class=6)
    assert inputs.missing_inputs("09", _study("09", "smoke"), tmp_path) == []  # all found
    study = _study("09", "smoke", families=["vae"])
    (missing,) = inputs.missing_inputs("09", study, tmp_path)
    assert missing.made_by == "05" and missing.paths == (
        "artifacts/synthetic/vae_mm_[gf][0-9]*/index.csv",
        "artifacts/synthetic/vae_dn_[gf][0-9]*/index.csv")
    for name in ("vae_gauss_mm_g0", "vae_gauss_dn_g0"):  # another family is not the one named
        (tmp_path / "artifacts" / "synthetic" / name).mkdir(parents=True)
        (tmp_path / "artifacts" / "synthetic" / name / "index.csv").write_text("id\n")
    assert inputs.missing_inputs("09", study, tmp_path)
    for name in ("vae_mm_f0", "vae_dn_g2"):
        (tmp_path / "artifacts" / "synthetic" / name).mkdir(parents=True)
        (tmp_path / "artifacts" / "synthetic" / name / "index.csv").write_text("id\n")
    assert inputs.missing_inputs("09", study, tmp_path) == []


def test_require_names_the_same_command(tmp_path):
    run = run_paths(tmp_path / "r", "smoke")
    with pytest.raises(MissingInputError) as err:
        run.require(run.checkpoints / "fastgan_mm_g0.pt", "03_fastgan")
    assert re.search(r"fastgan_mm_g0\.pt is missing: run notebook 03_fastgan first", str(err.value))
    assert str(err.value).endswith(
        f"python run_all.py --profile smoke --out {run.root} --upto 03")
    # without a profile of its own, the run folder's manifest says which (and the data set)
    plain = run_paths(tmp_path / "m")
    plain.root.mkdir()
    plain.manifest.write_text(json.dumps({"profile": "quick", "data_dir": "/data/hsi"}))
    with pytest.raises(MissingInputError, match=re.escape(
            f"python run_all.py --profile quick --out {plain.root} --upto 01 --data /data/hsi")):
        plain.require("artifacts/crops/index.csv", "01_preprocessing")
