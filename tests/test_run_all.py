"""run_all.py on two tiny fixture notebooks in a temporary folder."""

import json
import os
import sys
import time
from pathlib import Path

import nbformat
import pytest

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
import run_all  # noqa: E402
from hsilib.notebook import SECTIONS  # noqa: E402

PARAMS = 'PROFILE = "quick"\nSEED = 0\nDATA_DIR = None\nRUN_DIR = None\nOVERRIDES = {}'


def make_notebook(path: Path, body: str) -> None:
    nb = nbformat.v4.new_notebook()
    params = nbformat.v4.new_code_cell(PARAMS)
    params.metadata["tags"] = ["parameters"]
    nb.cells = [nbformat.v4.new_markdown_cell("# fixture"), params, nbformat.v4.new_code_cell(body)]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3",
                                 "language": "python"}
    nbformat.write(nb, path)


@pytest.fixture()
def fixture(tmp_path, monkeypatch):
    code = tmp_path / "code"
    code.mkdir()
    (code / "lib.py").write_text("x = 1\n")
    monkeypatch.setattr(run_all, "CODE", [code])  # the repo's hsilib changes under our feet
    nbs = tmp_path / "notebooks"
    nbs.mkdir()
    # 01 writes a file; 02 reads it, so 02 only works after 01 (order is checked by content)
    make_notebook(nbs / "01_first.ipynb",
                  "from pathlib import Path\n"
                  "out = Path(RUN_DIR) / 'artifacts' / 'first.txt'\n"
                  "out.write_text(f'{PROFILE}-{SEED}')")
    make_notebook(nbs / "02_second.ipynb",
                  "from pathlib import Path\n"
                  "a = Path(RUN_DIR) / 'artifacts'\n"
                  "(a / 'second.txt').write_text((a / 'first.txt').read_text() + '+second')")
    (nbs / "notes.ipynb").write_text("{}")  # not NN_*: ignored
    return nbs, tmp_path / "run"


def run(nbs, out, *extra):
    return run_all.main(["--notebooks", str(nbs), "--out", str(out), "--profile", "smoke",
                         "--seed", "3", *extra])


def test_runs_in_order_and_writes_the_manifest(fixture, capsys):
    nbs, out = fixture
    assert run(nbs, out) == 0
    assert (out / "artifacts" / "second.txt").read_text() == "smoke-3+second"
    printed = capsys.readouterr().out
    assert "profile: smoke" in printed
    assert printed.index("01_first") < printed.index("02_second")
    assert "[2/2] 02_second" in printed and " ok in " in printed

    m = json.loads((out / "manifest.json").read_text())
    assert m["profile"] == "smoke" and m["seed"] == 3
    assert set(m["notebooks"]) == {"01_first", "02_second"}
    first = m["notebooks"]["01_first"]
    assert first["status"] == "ok" and first["wall_s"] >= 0
    assert first["git"]["sha"] == m["git"]["sha"]  # each notebook's own code, recorded
    assert first["outputs"] == ["artifacts/first.txt"]
    assert first["parameters"] == {"PROFILE": "smoke", "SEED": 3, "DATA_DIR": None,
                                   "RUN_DIR": str(out.resolve())}
    assert m["notebooks"]["02_second"]["outputs"] == ["artifacts/second.txt"]
    assert m["environment"]["packages"]["torch"].startswith("2.14.1")
    assert m["environment"]["device"] in ("cpu", "cuda")
    assert "sha" in m["git"]
    executed = nbformat.read(out / "notebooks" / "02_second.ipynb", as_version=4)
    assert any("injected-parameters" in c.metadata.get("tags", []) for c in executed.cells)


def test_skips_fresh_notebooks_and_force_reruns(fixture, capsys):
    nbs, out = fixture
    assert run(nbs, out) == 0
    capsys.readouterr()
    assert run(nbs, out) == 0
    assert capsys.readouterr().out.count("skipped") == 2

    # an input of 02 changed (01's notebook): 01 reruns, and so does 02 (its input is newer)
    time.sleep(0.05)
    os.utime(nbs / "01_first.ipynb")
    assert run(nbs, out) == 0
    printed = capsys.readouterr().out
    assert "skipped" not in printed and printed.count(" ok in ") == 2

    # a code change makes every notebook stale
    time.sleep(0.05)
    os.utime(run_all.CODE[0] / "lib.py")
    assert run(nbs, out, "--only", "02") == 0
    assert " ok in " in capsys.readouterr().out

    assert run(nbs, out, "--force", "--only", "02") == 0
    printed = capsys.readouterr().out
    assert "01_first" not in printed and "02_second" in printed and "skipped" not in printed


def test_changed_parameters_rerun(fixture, capsys):
    nbs, out = fixture
    assert run(nbs, out) == 0
    capsys.readouterr()
    assert run_all.main(["--notebooks", str(nbs), "--out", str(out), "--profile", "smoke",
                         "--seed", "4"]) == 0
    assert "skipped" not in capsys.readouterr().out
    assert (out / "artifacts" / "second.txt").read_text() == "smoke-4+second"


def test_stops_at_first_failure_and_reports_the_cell(fixture, capsys):
    nbs, out = fixture
    make_notebook(nbs / "01_first.ipynb", "x = 1\nraise ValueError('bad cube in MM_0001.mat')")
    assert run(nbs, out) == 1
    captured = capsys.readouterr()
    assert "raise ValueError('bad cube in MM_0001.mat')" in captured.err  # the cell source
    assert "ValueError" in captured.err and "bad cube in MM_0001.mat" in captured.err
    assert "02_second" not in captured.out  # stopped
    m = json.loads((out / "manifest.json").read_text())
    assert m["notebooks"]["01_first"]["status"] == "failed"
    assert "02_second" not in m["notebooks"]


def test_only_and_from_select_notebooks(fixture):
    nbs, _ = fixture
    found = run_all.find_notebooks(nbs)
    assert [p.name for p in found] == ["01_first.ipynb", "02_second.ipynb"]
    assert [p.name for p in run_all.select(found, ["2"], None)] == ["02_second.ipynb"]
    assert [p.name for p in run_all.select(found, None, "02")] == ["02_second.ipynb"]
    with pytest.raises(SystemExit, match="no notebook numbered '07'"):
        run_all.select(found, ["07"], None)


@pytest.mark.parametrize("upto, profile, overrides, expected", [
    ("01", "smoke", None, ["01"]),
    ("5", "smoke", None, ["01", "03", "05"]),  # 05 compares its VAE with 03's FastGAN
    ("04", "quick", None, ["01", "02", "04"]),  # 02's SHS-GAN rows join 04's table
    ("06", "quick", None, ["01", "03", "04", "06"]),  # 02 only adds rows to 04's own table
    ("07", "quick", None, ["01", "03", "07"]),  # quick: FastGAN's proportions only
    ("07", "smoke", None, ["01", "03", "04", "05", "07"]),  # + VAE, StyleGAN2, SPADE-RGB
    ("07", "smoke", {"07": {"generators": [["vae", "vae_{cls}_{tag}.pt"]]}},
     ["01", "03", "05", "07"]),  # the VAE needs 03's FastGAN (its section 10)
    ("08", "quick", None, ["01", "02", "03", "04", "05", "08"]),  # every generator is a state
])
def test_upto_selects_the_notebook_and_those_it_reads_from(upto, profile, overrides, expected):
    found = run_all.find_notebooks(REPO / "notebooks")
    chosen = run_all.select_upto(found, upto, profile, overrides)
    assert [p.name[:2] for p in chosen] == expected
    assert chosen == sorted(chosen) and all(p.parent == REPO / "notebooks" for p in chosen)


def test_upto_runs_the_selection_in_order(fixture, monkeypatch, capsys):
    nbs, out = fixture
    ran = []
    monkeypatch.setattr(run_all, "execute", lambda nb, executed, params, env=None:
                        ran.append((nb.name, params["PROFILE"], params["RUN_DIR"])))
    assert run(nbs, out, "--upto", "2") == 0
    assert ran == [("01_first.ipynb", "smoke", str(out.resolve())),
                   ("02_second.ipynb", "smoke", str(out.resolve()))]
    assert "--upto 2: notebooks 01 02" in capsys.readouterr().out
    ran.clear()
    assert run(nbs, out, "--upto", "01", "--force") == 0
    assert ran == [("01_first.ipynb", "smoke", str(out.resolve()))]


def test_set_passes_overrides_to_one_notebook(fixture, monkeypatch):
    nbs, out = fixture
    monkeypatch.setitem(SECTIONS, "02", ("fastgan", "metrics"))  # what 02 reads, for the check
    make_notebook(nbs / "02_second.ipynb",
                  "from pathlib import Path\n"
                  "(Path(RUN_DIR) / 'artifacts' / 'o.txt').write_text(repr(OVERRIDES))")
    assert run(nbs, out, "--set", "02.steps=5", "--set", "2.metrics.k=2",
               "--set", "02.betas=[0.5,0.9]") == 0
    assert (out / "artifacts" / "o.txt").read_text() == (
        "{'steps': 5, 'metrics.k': 2, 'betas': [0.5, 0.9]}")
    m = json.loads((out / "manifest.json").read_text())
    assert "OVERRIDES" not in m["notebooks"]["01_first"]["parameters"]
    assert m["notebooks"]["02_second"]["parameters"]["OVERRIDES"]["steps"] == 5
    with pytest.raises(SystemExit, match="NN.key=value"):
        run_all.parse_overrides(["steps=5"], {"02"})
    with pytest.raises(SystemExit, match="no notebook numbered '07'"):
        run_all.parse_overrides(["07.steps=5"], {"02"})


@pytest.mark.parametrize(("item", "message"), [
    ("02.stepz=5", "unknown key 'stepz'"),
    ("02.steps=five", "steps must be int"),
    ("02.classifier.epochs=3", "does not read config section 'classifier'"),
    ("02.lpips_net=resnet", "lpips_net: got 'resnet'"),
])
def test_bad_set_fails_before_the_first_notebook(fixture, monkeypatch, item, message):
    nbs, out = fixture
    monkeypatch.setitem(SECTIONS, "02", ("fastgan", "metrics"))
    with pytest.raises(SystemExit, match=message):
        run(nbs, out, "--set", item)
    assert not (out / "artifacts" / "first.txt").exists()  # notebook 01 never ran


def test_bad_data_folder_is_named(fixture, tmp_path):
    nbs, out = fixture
    with pytest.raises(SystemExit, match="nowhere"):
        run(nbs, out, "--data", str(tmp_path / "nowhere"))


def test_executor_reaches_the_notebooks_and_the_manifest(fixture):
    nbs, out = fixture
    make_notebook(nbs / "02_second.ipynb",
                  "import os\nfrom pathlib import Path\n"
                  "env = os.environ\n"
                  "(Path(RUN_DIR) / 'artifacts' / 'ex.txt').write_text("
                  "env['HSILIB_EXECUTOR'] + ' ' + env.get('HSILIB_RAY_ADDRESS', '-'))")
    pytest.importorskip("ray")
    assert run(nbs, out, "--executor", "ray", "--cluster", "10.0.0.1:6379") == 0
    assert (out / "artifacts" / "ex.txt").read_text() == "ray 10.0.0.1:6379"
    m = json.loads((out / "manifest.json").read_text())
    assert m["executor"] == "ray" and m["cluster"] == "10.0.0.1:6379"
    assert "HSILIB_EXECUTOR" not in os.environ  # the runner's own environment is restored
    with pytest.raises(SystemExit, match="--cluster needs --executor ray"):
        run(nbs, out, "--cluster", "auto")


def test_kernels_start_with_the_thread_environment(fixture, monkeypatch):
    """A kernel imports torch with a passive OpenMP wait policy and one thread per core, even
    when the runner's own environment has neither; the runner's environment is restored."""
    from hsilib.runtime import THREAD_VARIABLES, physical_cores

    nbs, out = fixture
    for k in ("OMP_WAIT_POLICY", *THREAD_VARIABLES):
        monkeypatch.delenv(k, raising=False)
    make_notebook(nbs / "02_second.ipynb",
                  "import os\nimport torch\nfrom pathlib import Path\n"
                  "(Path(RUN_DIR) / 'artifacts' / 'threads.txt').write_text("
                  "os.environ['OMP_WAIT_POLICY'] + ' ' + str(torch.get_num_threads()))")
    assert run(nbs, out) == 0
    assert (out / "artifacts" / "threads.txt").read_text() == f"PASSIVE {physical_cores()}"
    assert "OMP_WAIT_POLICY" not in os.environ


# -- argument errors leave nothing behind; a killed run reruns only what did not finish --------
def _tree(root):
    return sorted(str(p.relative_to(root)) for p in root.rglob("*"))


@pytest.mark.parametrize("extra, message", [
    (("--set", "02.stepz=5"), "unknown key 'stepz'"),
    (("--set", "02.steps=-3"), r"steps must be >= 1, got -3"),
    (("--set", "02.batch_size=0"), r"batch_size must be >= 1"),
    (("--set", "steps=5"), "NN.key=value"),
    (("--only", "07"), "no notebook numbered '07'"),
    (("--from", "9"), "no notebook numbered '9'"),
    (("--upto", "02", "--only", "01"), "--upto and --only exclude each other"),
    (("--upto", "02", "--from", "01"), "--upto and --from exclude each other"),
    (("--upto", "07"), "--upto 07: no notebook numbered '07'"),
])
def test_argument_errors_create_no_run_folder(fixture, monkeypatch, extra, message):
    nbs, out = fixture
    monkeypatch.setitem(SECTIONS, "02", ("fastgan", "metrics"))
    before = _tree(out.parent)
    with pytest.raises(SystemExit, match=message):
        run(nbs, out, *extra)
    assert not out.exists() and _tree(out.parent) == before


def test_out_pointing_at_a_file_is_named(fixture):
    nbs, out = fixture
    out.write_text("a file")
    with pytest.raises(SystemExit, match=rf"--out {out}: {out} is a file"):
        run(nbs, out)
    with pytest.raises(SystemExit, match=rf"{out} is a file"):
        run(nbs, out / "sub")
    assert out.read_text() == "a file"


@pytest.mark.parametrize("content", ["{not json", "[1, 2]", '{"notebooks": 3}'])
def test_a_corrupt_manifest_is_named_and_left_alone(fixture, content):
    nbs, out = fixture
    out.mkdir()
    (out / "manifest.json").write_text(content)
    before = _tree(out)
    with pytest.raises(SystemExit, match=rf"{out / 'manifest.json'} is not a"):
        run(nbs, out)
    assert _tree(out) == before and (out / "manifest.json").read_text() == content


def test_a_killed_run_reruns_the_interrupted_notebook_only(fixture, monkeypatch, capsys):
    nbs, out = fixture
    assert run(nbs, out) == 0
    time.sleep(0.05)  # notebook 02 changes: it is stale and reruns
    make_notebook(nbs / "02_second.ipynb",
                  "from pathlib import Path\n"
                  "a = Path(RUN_DIR) / 'artifacts'\n"
                  "(a / 'second.txt').write_text((a / 'first.txt').read_text() + '+v2')")
    real = run_all.execute

    def killed(nb, executed, params, env=None):  # 02 starts writing, then the process is killed
        (Path(params["RUN_DIR"]) / "artifacts" / "second.txt").write_text("half")
        raise KeyboardInterrupt

    monkeypatch.setattr(run_all, "execute", killed)
    capsys.readouterr()
    with pytest.raises(KeyboardInterrupt):
        run(nbs, out)
    assert "01_first" in capsys.readouterr().out  # 01 was skipped (fresh)
    m = json.loads((out / "manifest.json").read_text())
    assert m["notebooks"]["01_first"]["status"] == "ok"
    assert m["notebooks"]["02_second"]["status"] == "running"  # not "ok": not complete
    monkeypatch.setattr(run_all, "execute", real)
    first = (out / "artifacts" / "first.txt").stat().st_mtime_ns
    assert run(nbs, out) == 0
    printed = capsys.readouterr().out
    assert "01_first" in printed and "skipped" in printed.split("02_second")[0]
    assert (out / "artifacts" / "first.txt").stat().st_mtime_ns == first  # 01 not rerun
    assert (out / "artifacts" / "second.txt").read_text() == "smoke-3+v2"  # 02 from the start
    assert json.loads((out / "manifest.json").read_text())["notebooks"]["02_second"][
        "status"] == "ok"
