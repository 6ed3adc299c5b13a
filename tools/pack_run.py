#!/usr/bin/env python
"""Pack a prepared run folder into one ``.tar.gz`` a lecturer can hand out (``make lab-folder``).

    python tools/pack_run.py                      # runs/lab -> runs/lab.tar.gz
    python tools/pack_run.py runs/quick --out /tmp/quick-lab.tar.gz

The archive holds the run folder under its own name (``lab/manifest.json``, ``lab/artifacts/...``),
so that unpacking it anywhere gives a run folder to pass to the notebooks (``RUN_DIR``) or to
``run_all.py --out``. Left out: caches (``__pycache__``, ``.ipynb_checkpoints``, ``.pytest_cache``,
``.cache``, ``*.pyc``), the temporary folders and files of interrupted writes (``*.tmp-*``,
``*.old-*``, :func:`hsilib.paths.atomic_path`'s ``.*.tmp*`` files) and ``run_all.py``'s lock.

Refused, before anything is written: a folder that is not a run folder (no ``manifest.json``),
a folder that a running ``run_all.py`` holds (its lock names a live process), and an archive
path that already exists (it is never overwritten). The archive is written beside its final
name and renamed into place only when complete.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import socket
import sys
import tarfile
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from hsilib.paths import LOCK_FILE, TEMP_MARKER, process_alive  # noqa: E402

#: Folder and file names that are caches, never part of a run.
CACHE_NAMES = frozenset({"__pycache__", ".ipynb_checkpoints", ".pytest_cache", ".cache",
                         ".ruff_cache"})
#: Names of the temporary folders and files that interrupted writes leave (hsilib.paths).
TEMPORARY = re.compile(r"\.tmp-|^\..+\.old-|^\..+\.p\d+-[0-9a-f]{6}\..+\.tmp")


class PackError(ValueError):
    """The run folder cannot be packed (not a run folder, in use, or the archive exists)."""


def excluded(name: str) -> bool:
    """Whether a file or folder called ``name`` stays out of the archive."""
    return (name in CACHE_NAMES or name.endswith(".pyc") or name in (LOCK_FILE, TEMP_MARKER)
            or TEMPORARY.search(name) is not None)


def default_archive(run: Path) -> Path:
    """``<run>.tar.gz`` beside the run folder."""
    return run.parent / f"{run.name}.tar.gz"


def check_run(run: Path) -> None:
    """Raise :class:`PackError` unless ``run`` is a run folder that no live run_all.py holds."""
    if not run.is_dir():
        raise PackError(f"{run} is not a folder: give a prepared run folder (default runs/lab)")
    if not (run / "manifest.json").is_file():
        raise PackError(f"{run} is not a run folder (no manifest.json): prepare it with "
                        f"python run_all.py --out {run} ... first")
    lock = run / LOCK_FILE
    if lock.is_file():
        try:
            holder = json.loads(lock.read_text())
            pid, host = int(holder["pid"]), str(holder["host"])
        except (OSError, ValueError, KeyError, TypeError):
            return  # a half-written lock: its writer died before it finished
        if host != socket.gethostname() or process_alive(pid):
            raise PackError(f"{run} is in use by run_all.py (process {pid} on {host}): pack it "
                            f"once that run has ended (or delete {lock} if it is gone)")


def members(run: Path) -> list[Path]:
    """Every file and folder of ``run`` that goes into the archive, sorted (paths relative to
    ``run``); an excluded folder is left out with everything inside it."""
    out = []
    for folder, dirs, files in os.walk(run):
        dirs[:] = sorted(d for d in dirs if not excluded(d))
        rel = Path(folder).relative_to(run)
        out += [rel / d for d in dirs]
        out += [rel / f for f in sorted(files) if not excluded(f)]
    return sorted(out)


def pack(run: str | os.PathLike, archive: str | os.PathLike | None = None) -> Path:
    """Write ``archive`` (default ``<run>.tar.gz`` beside ``run``) from run folder ``run``
    (module docstring) and return its path. Raises :class:`PackError` naming the folder or the
    archive when either is refused."""
    run = Path(run).expanduser().resolve()
    check_run(run)
    archive = Path(archive).expanduser().resolve() if archive else default_archive(run)
    if archive.exists() or archive.is_symlink():
        raise PackError(f"archive {archive} already exists and is never overwritten: move it "
                        "away or name another with --out")
    if run == archive.parent or run in archive.parents:
        raise PackError(f"archive {archive} lies inside the run folder {run}: write it elsewhere")
    if not archive.parent.is_dir():
        raise PackError(f"archive {archive}: its folder {archive.parent} does not exist")
    fd, tmp = tempfile.mkstemp(dir=archive.parent, prefix=f".{archive.name}.", suffix=".part")
    os.close(fd)
    tmp = Path(tmp)
    try:
        with tarfile.open(tmp, "w:gz") as tar:
            tar.add(run, arcname=run.name, recursive=False)
            for rel in members(run):
                tar.add(run / rel, arcname=f"{run.name}/{rel.as_posix()}", recursive=False)
        os.chmod(tmp, 0o644)
        try:
            os.link(tmp, archive)  # fails if the archive appeared meanwhile: never overwritten
        except FileExistsError:
            raise
        except OSError:  # a file system without hard links: check, then rename
            if archive.exists():
                raise FileExistsError(archive) from None
            os.replace(tmp, archive)
    except FileExistsError:
        raise PackError(f"archive {archive} appeared while packing; it is never overwritten") \
            from None
    finally:
        tmp.unlink(missing_ok=True)
    return archive


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("run", nargs="?", default=str(REPO / "runs" / "lab"),
                    help="the run folder to pack (default runs/lab)")
    ap.add_argument("--out", default=None,
                    help="the archive to write (default <run folder>.tar.gz beside it)")
    args = ap.parse_args(argv)
    try:
        archive = pack(args.run, args.out)
    except PackError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    with tarfile.open(archive) as tar:
        n = sum(1 for m in tar.getmembers() if m.isfile())
    print(f"packed {n} files of {Path(args.run).resolve()} into {archive} "
          f"({archive.stat().st_size / 2**20:.1f} MiB)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
