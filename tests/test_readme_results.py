"""tools/readme_results.py: README result blocks rendered from a run folder's CSVs."""

import importlib.util
import json
import shutil
from pathlib import Path

import pandas as pd
import pytest

REPO = Path(__file__).resolve().parent.parent
_spec = importlib.util.spec_from_file_location("readme_results",
                                               REPO / "tools" / "readme_results.py")
rr = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(rr)

HEAD = "# Title\n\nText before, kept byte for byte.  \r\n\n"
TAIL = "\nText after | with a pipe.\n"


def readme_with(names, path: Path) -> Path:
    body = "".join(f"<!-- results:{n} -->\nold text\n<!-- /results:{n} -->\nbetween\n"
                   for n in names)
    path.write_text(HEAD + body + TAIL, newline="")
    return path


@pytest.fixture
def tiny_run(tmp_path):
    """A run folder with a manifest and two small result CSVs."""
    run = tmp_path / "run"
    results = run / "artifacts" / "results"
    results.mkdir(parents=True)
    (run / "manifest.json").write_text(json.dumps({
        "profile": "quick", "seed": 0, "git": {"sha": "abcdef0123", "dirty": False},
        "environment": {"device": "cpu"},
        "notebooks": {"01_preprocessing": {"status": "ok", "wall_s": 90.0}}}))
    pd.DataFrame({"name": ["framing"], "value": [0.01], "passed": [True],
                  "sentence": ["MM 1% | DN 0%: PASS."]}).to_csv(results / "01_checks.csv",
                                                              index=False)
    pd.DataFrame({"dice": [0.8, 1.0]}).to_csv(results / "01_segmentation_dice.csv", index=False)
    return run


def test_md_table_by_hand():
    frame = pd.DataFrame({"a": [1.0, float("nan")], "b|c": ["x|y", "z"]})
    assert rr.md_table(frame) == ("| a | b|c |\n"
                                  "|---|---|\n"
                                  "| 1 | x\\|y |\n"
                                  "|  | z |")


def test_interval_cells():
    assert rr.ci(0.12345, 0.1, 0.2) == "0.123 [0.1, 0.2]"
    assert rr.ci(0.5, float("nan"), float("nan")) == "0.5"
    assert rr.bracket(0.25, 0.75) == "[0.25, 0.75]" and rr.bracket(float("nan"), 1) == ""


def test_write_then_check_then_edit(tiny_run, tmp_path):
    readme = readme_with(["run", "01_checks"], tmp_path / "README.md")
    assert rr.main([str(tiny_run), "--readme", str(readme), "--check"]) == 1
    assert rr.main([str(tiny_run), "--readme", str(readme)]) == 0
    text = readme.read_bytes().decode()
    assert text.startswith(HEAD) and text.endswith(TAIL)  # outside the markers: untouched
    assert "between\n" in text and "old text" not in text
    assert "| 01_preprocessing | ok | 1.5 |" in text and "commit abcdef0" in text
    assert "MM 1% \\| DN 0%: PASS." in text and "Dice mean 0.9, median 0.9 over 2" in text
    assert rr.main([str(tiny_run), "--readme", str(readme), "--check"]) == 0
    readme.write_text(text.replace("| 01_preprocessing | ok | 1.5 |",
                                   "| 01_preprocessing | ok | 1.6 |"), newline="")
    assert rr.main([str(tiny_run), "--readme", str(readme), "--check"]) == 1
    assert "1.6" in readme.read_text()  # --check wrote nothing


def test_missing_csv_names_file_and_profiles(tiny_run, tmp_path):
    text = rr.render("08_calibration", rr.Run(tiny_run))
    assert "`08_calibration.csv` is not in this run" in text and "notebook 08" in text
    pd.DataFrame({"metric": ["FD_rand"]}).to_csv(
        tiny_run / "artifacts" / "results" / "08_correlations.csv", index=False)
    text = rr.render("08_within", rr.Run(tiny_run))
    assert "lacks the column(s) population" in text


def test_full_only_csv_line(tiny_run):
    # a block whose file only a profile's arm writes: the line names the profiles, no crash
    run = rr.Run(tiny_run)
    with pytest.raises(rr.Missing, match=r"`06_power\*\.csv`.* under full"):
        run.glob("06_power*.csv", "full")
    assert rr.render("06_paired", run).startswith("_`06_paired.csv` is not in this run")


def test_unknown_marker_is_an_error(tiny_run, tmp_path, capsys):
    readme = readme_with(["run", "no_such_block"], tmp_path / "README.md")
    before = readme.read_bytes()
    assert rr.main([str(tiny_run), "--readme", str(readme)]) == 2
    assert "'no_such_block'" in capsys.readouterr().err
    assert readme.read_bytes() == before
    with pytest.raises(KeyError, match="no_such_block"):
        rr.render("no_such_block", rr.Run(tiny_run))


def test_not_a_run_folder(tmp_path, capsys):
    readme = readme_with(["run"], tmp_path / "README.md")
    assert rr.main([str(tmp_path / "nowhere"), "--readme", str(readme)]) == 2
    assert "manifest.json" in capsys.readouterr().err


@pytest.mark.notebooks
def test_every_block_renders_from_the_smoke_run(smoke_run, tmp_path):
    out, _ = smoke_run
    run = rr.Run(out)
    for name in rr.BLOCKS:
        text = rr.render(name, run)
        assert text.endswith("\n") and text.strip(), name
        if not text.startswith("_`"):  # a table, with its line saying what brackets cover
            assert "|---|" in text and text.rstrip().splitlines()[-1].startswith("_"), name
    # the committed README: every marker is a known block, and a write round-trips
    readme = tmp_path / "README.md"
    shutil.copy(REPO / "README.md", readme)
    assert rr.main([str(out), "--readme", str(readme)]) == 0
    assert rr.main([str(out), "--readme", str(readme), "--check"]) == 0
    outside = rr.BLOCK.sub("", (REPO / "README.md").read_text())
    assert rr.BLOCK.sub("", readme.read_text()) == outside


def test_reconstruction_rows_per_input_and_over_seeds():
    rows = [{"model": m, "input": i, "rmse": r, "rmse_lo": r - 0.01, "rmse_hi": r + 0.01,
             "sam_deg": 5.0, "sam_deg_lo": 4.0, "sam_deg_hi": 6.0, "n_images": 8}
            for i in ("CIE rendering", "camera") for m, r in
            (("linear", 0.03), ("shsgan_rgb_g0", 0.10), ("shsgan_rgb_g1", 0.12),
             ("shsgan_rgb_g2", 0.14))]
    text = rr._reconstruction(pd.DataFrame(rows), seeds_of="shsgan_rgb")
    # mean 0.12, sd 0.02, n 3: t(0.975, 2) = 4.303 -> half width 0.0497
    for inp in ("CIE rendering", "camera"):
        assert f"| shsgan_rgb, over 3 seeds | {inp} | 0.12 [0.0703, 0.17] |" in text
        assert f"| linear | {inp} | 0.03 [0.02, 0.04] | 5 [4, 6] |" in text
    one = rr._reconstruction(pd.DataFrame(rows[:2]), seeds_of="shsgan_rgb")
    assert "| shsgan_rgb, over 1 seed | CIE rendering | 0.1 (one seed: no verdict) |" in one
    assert "Student-t over the arm's generator seeds" in text


def test_the_run_block_names_each_notebooks_commit_when_they_differ(tiny_run):
    manifest = json.loads((tiny_run / "manifest.json").read_text())
    rec = manifest["notebooks"]["01_preprocessing"]
    assert "| commit |" not in rr.block_run(rr.Run(tiny_run))  # older folders: none recorded
    manifest["notebooks"] = {
        "01_preprocessing": dict(rec, git={"sha": "1111111aaa", "dirty": False}),
        "05_vae": dict(rec, wall_s=210.0, git={"sha": "2222222bbb", "dirty": True})}
    (tiny_run / "manifest.json").write_text(json.dumps(manifest))
    text = rr.block_run(rr.Run(tiny_run))
    assert "commit of the last invocation abcdef0 (per notebook in the table)" in text
    assert "| 01_preprocessing | ok | 1.5 | 1111111 |" in text
    assert "| 05_vae | ok | 3.5 | 2222222 (uncommitted changes) |" in text
