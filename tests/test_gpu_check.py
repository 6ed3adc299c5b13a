"""make gpu-check (hsilib.bench.gpu_check) up to the device calls: every family at the smoke
sizes on the CPU, finite losses, the fp32 comparison (equal on the CPU, where no bf16 runs),
peak memory, one table and the JSON report; the CUDA-only parts are reported as skipped."""

import json

import pytest
import torch

from hsilib.bench import gpu_check


def test_cpu_side_checks_every_family_and_writes_the_report(tmp_path, capsys):
    out = tmp_path / "gpu_check.json"
    assert gpu_check.main(["--device", "cpu", "--tiny", "--steps", "2", "--out", str(out)]) == 0
    report = json.loads(out.read_text())
    rows = {r["name"]: r for r in report["rows"]}
    families = [label for label, _, _ in gpu_check.FAMILIES]
    assert set(families) | {"classifier_small"} <= set(rows)
    for name in [*families, "classifier_small"]:
        row = rows[name]
        assert row["status"] == "ok", row
        assert row["bf16_vs_fp32"] == 0.0  # the CPU runs fp32 both times
        assert row["seconds_per_step"] > 0 and row["peak_mb"] > 0
    for name in ("grid_fractional_gpu", "pytest_gpu", "notebook_03_quick"):
        assert rows[name]["status"] == "skipped: no CUDA device"
    table = capsys.readouterr().out
    assert table.splitlines()[0].startswith("check") and "fastgan" in table


def test_a_family_that_breaks_is_reported_and_fails_the_check(tmp_path, monkeypatch):
    def broken(*args, **kwargs):
        raise FloatingPointError("fastgan: non-finite losses ['loss_d'] at step 1")

    monkeypatch.setattr(gpu_check, "_trainer", broken)
    row = gpu_check.check_family("fastgan", "fastgan", {"lpips_weights": None},
                                 profile="smoke", steps=2, device="cpu")
    assert row["status"].startswith("failed: FloatingPointError: fastgan: non-finite")
    monkeypatch.setattr(gpu_check, "FAMILIES", (("fastgan", "fastgan", {}),))
    assert gpu_check.main(["--device", "cpu", "--tiny", "--skip-slow", "--out",
                           str(tmp_path / "r.json")]) == 1


def test_bad_arguments_fail_early():
    with pytest.raises(SystemExit, match="--steps must be >= 2"):
        gpu_check.main(["--device", "cpu", "--steps", "1"])
    if not torch.cuda.is_available():
        with pytest.raises(SystemExit, match="--device cpu"):
            gpu_check.main([])
