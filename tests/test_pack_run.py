"""tools/pack_run.py (make lab-folder): what goes into the archive, and what it refuses."""

import json
import os
import socket
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tools"))
import pack_run  # noqa: E402


def _run_folder(root: Path) -> Path:
    """A run folder with the usual parts, plus a cache, temporaries and a stale lock."""
    files = {
        "manifest.json": json.dumps({"profile": "smoke"}),
        "notebooks/05_vae.ipynb": "{}",
        "artifacts/crops/index.csv": "id\n1\n",
        "artifacts/synthetic/fastgan_mm_g0/index.csv": "id\n",
        "artifacts/synthetic/fastgan_mm_g0/.hsilib-output": "written by hsilib\n",
        "checkpoints/fastgan_mm_g0.pt": "weights",
        "figures/01_cubes.png": "png",
        # left out: caches, temporaries of interrupted writes, run_all.py's lock
        "notebooks/.ipynb_checkpoints/05_vae-checkpoint.ipynb": "{}",
        "artifacts/__pycache__/x.cpython-312.pyc": "",
        "artifacts/synthetic/.fastgan_dn_g0.tmp-k2j3/index.csv": "id\n",
        "artifacts/synthetic/.fastgan_dn_g0.tmp-k2j3/.hsilib-temp": "{}",
        "artifacts/synthetic/.vae_mm_g0.old-x8/x/index.csv": "id\n",
        "checkpoints/.fastgan_mm_g0.pt.p4242-abcdef.xyz.tmp.pt": "half",
    }
    for rel, text in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text)
    (root / ".run_all.lock").write_text(json.dumps(
        {"pid": 2**22 + 12345, "host": socket.gethostname(), "started": "?"}))  # ended
    return root


def test_the_archive_holds_the_run_folder_without_caches_or_temporaries(tmp_path):
    run = _run_folder(tmp_path / "lab")
    archive = pack_run.pack(run)
    assert archive == tmp_path / "lab.tar.gz"
    with tarfile.open(archive) as tar:
        names = sorted(m.name for m in tar.getmembers() if m.isfile())
        assert tar.extractfile("lab/artifacts/crops/index.csv").read() == b"id\n1\n"
    assert names == ["lab/artifacts/crops/index.csv",
                     "lab/artifacts/synthetic/fastgan_mm_g0/.hsilib-output",
                     "lab/artifacts/synthetic/fastgan_mm_g0/index.csv",
                     "lab/checkpoints/fastgan_mm_g0.pt", "lab/figures/01_cubes.png",
                     "lab/manifest.json", "lab/notebooks/05_vae.ipynb"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["lab", "lab.tar.gz"]  # no .part left
    assert (run / "artifacts" / "__pycache__").is_dir()  # the run folder itself is untouched


def test_an_existing_archive_is_never_overwritten(tmp_path):
    run = _run_folder(tmp_path / "lab")
    out = tmp_path / "given.tar.gz"
    out.write_bytes(b"an earlier archive")
    with pytest.raises(pack_run.PackError, match=f"archive {out} already exists"):
        pack_run.pack(run, out)
    assert out.read_bytes() == b"an earlier archive"
    assert pack_run.pack(run, tmp_path / "other.tar.gz").is_file()


def test_a_folder_without_manifest_or_held_by_a_live_run_is_refused(tmp_path):
    plain = tmp_path / "plain"
    (plain / "artifacts").mkdir(parents=True)
    with pytest.raises(pack_run.PackError, match=r"not a run folder \(no manifest.json\)"):
        pack_run.pack(plain)
    with pytest.raises(pack_run.PackError, match="is not a folder"):
        pack_run.pack(tmp_path / "absent")
    run = _run_folder(tmp_path / "busy")
    (run / ".run_all.lock").write_text(json.dumps(
        {"pid": os.getpid(), "host": socket.gethostname(), "started": "now"}))
    with pytest.raises(pack_run.PackError, match=f"in use by run_all.py \\(process {os.getpid()}"):
        pack_run.pack(run)
    with pytest.raises(pack_run.PackError, match="lies inside the run folder"):
        pack_run.pack(_run_folder(tmp_path / "lab"), tmp_path / "lab" / "lab.tar.gz")
    assert not any(tmp_path.glob("*.tar.gz"))


def test_the_command_line_reports_and_refuses(tmp_path):
    run = _run_folder(tmp_path / "lab")
    tool = [sys.executable, str(REPO / "tools" / "pack_run.py")]
    done = subprocess.run([*tool, str(run)], capture_output=True, text=True)
    assert done.returncode == 0 and f"packed 7 files of {run}" in done.stdout
    again = subprocess.run([*tool, str(run)], capture_output=True, text=True)
    assert again.returncode == 2
    assert f"error: archive {tmp_path / 'lab.tar.gz'} already exists" in again.stderr
