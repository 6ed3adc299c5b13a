"""tools/compare_runs.py on two tiny fake run folders: equal results pass, timing columns and
notebook wall times are listed apart, any other differing cell (or file, column, row) fails."""

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

TOOL = Path(__file__).resolve().parent.parent / "tools" / "compare_runs.py"
_spec = importlib.util.spec_from_file_location("compare_runs", TOOL)
compare_runs = importlib.util.module_from_spec(_spec)
sys.modules["compare_runs"] = compare_runs  # dataclasses resolve the module by name
_spec.loader.exec_module(compare_runs)


def _run(root: Path, *, value: float = 0.25, wall: float = 1.5, nb_wall: float = 10.0) -> Path:
    results = root / "artifacts" / "results"
    results.mkdir(parents=True)
    pd.DataFrame({"metric": ["FD_rand", "KID"], "value": [value, 0.125],
                  "wall_s": [wall, wall], "path": [str(root / "checkpoints" / "a.pt")] * 2}
                 ).to_csv(results / "03_metrics.csv", index=False)
    pd.DataFrame({"run": ["a"], "FastGAN seconds": [wall], "time ratio": [wall / 2],
                  "s per 1000 steps": [wall * 10], "steps": [3]}
                 ).to_csv(results / "03_budget.csv", index=False)
    (root / "manifest.json").write_text(json.dumps(
        {"notebooks": {"03_fastgan": {"status": "ok", "wall_s": nb_wall}}}))
    return root


def test_equal_results_pass_and_timings_are_listed_apart(tmp_path):
    a = _run(tmp_path / "a", wall=1.5, nb_wall=10.0)
    b = _run(tmp_path / "b", wall=2.5, nb_wall=12.0)
    report = compare_runs.compare(a, b)
    assert report.identical and report.files == 2
    assert report.cells == 2 * 4 + 1 * 5  # every cell of both tables, timings included
    timed = "\n".join(report.timings)
    for col in ("wall_s", "FastGAN seconds", "time ratio", "s per 1000 steps"):
        assert f"'{col}'" in timed
    assert "'steps'" not in timed  # a step count is a result
    assert "03_fastgan wall time 10.0 s vs 12.0 s" in timed
    assert compare_runs.main([str(a), str(b)]) == 0


def test_a_differing_result_cell_fails(tmp_path, capsys):
    a = _run(tmp_path / "a", value=0.25)
    b = _run(tmp_path / "b", value=0.2500001)
    report = compare_runs.compare(a, b)
    assert not report.identical
    assert report.differences == ["03_metrics.csv: row 0, column 'value': '0.25' vs '0.2500001'"]
    assert compare_runs.main([str(a), str(b)]) == 1
    assert "RESULTS DIFFER" in capsys.readouterr().out
    # a tolerance accepts it; the exit status of the command line says so
    assert compare_runs.compare(a, b, atol=1e-6).identical
    proc = subprocess.run([sys.executable, str(TOOL), str(a), str(b), "--rtol", "1e-5"],
                          capture_output=True, text=True)
    assert proc.returncode == 0 and "identical results" in proc.stdout


def test_missing_files_columns_and_rows_fail(tmp_path):
    a, b = _run(tmp_path / "a"), _run(tmp_path / "b")
    (b / "artifacts" / "results" / "03_budget.csv").unlink()
    pd.DataFrame({"x": [1]}).to_csv(b / "artifacts" / "results" / "04_new.csv", index=False)
    metrics = b / "artifacts" / "results" / "03_metrics.csv"
    pd.read_csv(metrics).iloc[:1].to_csv(metrics, index=False)
    report = compare_runs.compare(a, b)
    assert sorted(report.differences) == [
        f"03_budget.csv: only in {a}", "03_metrics.csv: 2 rows vs 1 rows",
        f"04_new.csv: only in {b}"]
    pd.read_csv(metrics).rename(columns={"value": "v"}).to_csv(metrics, index=False)
    assert any(d.startswith("03_metrics.csv: columns differ")
               for d in compare_runs.compare(a, b).differences)


def test_not_a_run_folder(tmp_path):
    with pytest.raises(FileNotFoundError, match="not a run folder"):
        compare_runs.compare(tmp_path, tmp_path)
    assert compare_runs.main([str(tmp_path), str(tmp_path)]) == 2
