import json

from hsilib import bench
from hsilib.bench.__main__ import main, run_one


def test_registry_rejects_duplicates_and_lists_core():
    registry = bench.load_all()
    assert "core.seed_and_matmul" in registry
    try:
        bench.register("core.seed_and_matmul", group="core")(lambda cfg: None)
    except ValueError as e:
        assert "twice" in str(e)
    else:
        raise AssertionError("duplicate registration accepted")


def test_run_one_reports_median_items_and_memory():
    row = run_one("core.seed_and_matmul", "smoke")
    assert row["repeats"] == 1 and row["items"] == 20
    assert row["items_per_s"] == row["items"] / row["median_s"]
    assert row["peak_rss_mb"] > 10


def test_main_writes_json_under_the_run_folder(tmp_path, capsys):
    assert main(["--profile", "smoke", "--only", "core.*", "--out", str(tmp_path)]) == 0
    printed = capsys.readouterr().out
    assert "core.seed_and_matmul" in printed and "peak MB" in printed
    (report,) = (tmp_path / "bench").glob("bench-*.json")
    data = json.loads(report.read_text())
    assert data["profile"] == "smoke"
    assert [r["name"] for r in data["results"]] == ["core.seed_and_matmul"]
