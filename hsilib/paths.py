"""The run layout: the one place that says where every output of a run lives.

A run folder (default ``runs/<profile>/`` at the repository root) holds::

    runs/<profile>/
        manifest.json         what ran, with which code, parameters and outcome (run_all.py)
        notebooks/            executed copies of the notebooks
        artifacts/            data passed between notebooks (the only channel between them)
            standin/          the generated stand-in data set (HSIDermoscopy layout + truth + RGB)
            crops/            lesion crops and their index table (notebook 01)
            splits/           train/val/test and K-fold CSVs, normalisation JSON (notebook 01);
                              per-fold tables and normalisers (notebook 03, cross-validation)
            synthetic/<name>/ exported synthetic crops (notebooks 03-05)
            results/          tables and predictions (later notebooks), among them
                              generator_metrics.csv: every generator evaluation (03-05, 02)
        figures/              every figure as PNG and PDF
        checkpoints/          model weights with their resolved config
        bench/                benchmark JSON (python -m hsilib.bench)

Notebooks read what earlier notebooks wrote with :meth:`RunPaths.require`, which fails with a
message that names the missing file, the notebook that makes it and the ``run_all.py`` command
that runs it (:func:`run_all_command`); :mod:`hsilib.inputs` declares all of a notebook's
inputs, checked before the notebook starts.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shlex
import shutil
import socket
import tempfile
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

#: The repository root (the folder that holds ``hsilib/``).
REPO_ROOT = Path(__file__).resolve().parent.parent
#: Default parent of run folders.
RUNS_ROOT = REPO_ROOT / "runs"


#: File that marks a folder as written by this project (:func:`atomic_dir`): only such folders
#: (or empty ones) are ever replaced.
OUTPUT_MARKER = ".hsilib-output"
#: File inside every temporary folder of :func:`atomic_dir` while it is being written: the
#: process id and host that made it. A later write of the same target removes such a folder
#: once that process has ended (an interrupted run); nothing else is ever removed.
TEMP_MARKER = ".hsilib-temp"
#: Lock file of a run folder while ``run_all.py`` runs in it (process id, host, start time).
LOCK_FILE = ".run_all.lock"


class MissingInputError(FileNotFoundError):
    """A notebook's input is missing: the notebook that writes it has not run."""


class OutputFolderError(ValueError):
    """An output folder would replace data the project did not write (an input folder, or a
    folder without the project's marker)."""


@dataclass(frozen=True)
class RunPaths:
    """Folders of one run. Build with :func:`run_paths`; nothing is created until asked.
    ``profile``: the profile the run folder is used with (None: the one its manifest records),
    named in the command of :meth:`require`'s message."""

    root: Path
    profile: str | None = field(default=None, compare=False)

    @property
    def manifest(self) -> Path:
        return self.root / "manifest.json"

    @property
    def notebooks(self) -> Path:
        return self.root / "notebooks"

    @property
    def artifacts(self) -> Path:
        return self.root / "artifacts"

    @property
    def figures(self) -> Path:
        return self.root / "figures"

    @property
    def checkpoints(self) -> Path:
        return self.root / "checkpoints"

    @property
    def bench(self) -> Path:
        return self.root / "bench"

    @property
    def lock(self) -> Path:
        """The lock file ``run_all.py`` holds while it runs in this folder (:data:`LOCK_FILE`)."""
        return self.root / LOCK_FILE

    # Named artifacts shared by several notebooks ------------------------------------------
    @property
    def standin(self) -> Path:
        """Generated stand-in data: ``hsidermoscopy/`` (real layout), ``truth/``, ``rgb/``."""
        return self.artifacts / "standin"

    @property
    def crops(self) -> Path:
        return self.artifacts / "crops"

    @property
    def masks(self) -> Path:
        """Editable copies of the lesion masks (never inside a folder that a rerun replaces)."""
        return self.artifacts / "masks"

    @property
    def splits(self) -> Path:
        return self.artifacts / "splits"

    @property
    def results(self) -> Path:
        return self.artifacts / "results"

    @property
    def generator_metrics(self) -> Path:
        """The one table of generator evaluations every generator notebook appends to."""
        return self.results / "generator_metrics.csv"

    def synthetic(self, name: str) -> Path:
        """Folder of one exported synthetic set, e.g. ``synthetic("fastgan_mm")``."""
        return self.artifacts / "synthetic" / name

    def make(self) -> RunPaths:
        """Create the standard folders (idempotent) and return self."""
        for p in (self.notebooks, self.artifacts, self.figures, self.checkpoints):
            p.mkdir(parents=True, exist_ok=True)
        return self

    def require(self, path: str | os.PathLike, made_by: str) -> Path:
        """Return ``path`` (relative to the run folder or absolute) if it exists, else fail early.

        ``made_by`` names the notebook that writes it (``"03_fastgan"``), so the message says
        what to run first and the command that runs it (and what it needs) in this run folder.
        """
        p = Path(path)
        p = p if p.is_absolute() else self.root / p
        if not p.exists():
            profile = self.profile or manifest_field(self.root, "profile")
            command = run_all_command(self.root, profile, upto=made_by[:2],
                                      data_dir=manifest_field(self.root, "data_dir"))
            raise MissingInputError(
                f"{p} is missing: run notebook {made_by} first for this run folder: {command}")
        return p


def run_paths(run_dir: str | os.PathLike | None = None, profile: str | None = None) -> RunPaths:
    """The run folder ``run_dir``, or ``runs/<profile>/`` (``runs/quick/`` when ``profile`` is
    None too) when it is None; ``profile`` is remembered for :meth:`RunPaths.require`."""
    root = Path(run_dir) if run_dir else RUNS_ROOT / (profile or "quick")
    return RunPaths(root.expanduser().resolve(), profile)


def manifest_field(root: str | os.PathLike, key: str) -> str | None:
    """Field ``key`` of the run folder's ``manifest.json`` as text (None when the manifest, or
    the field, is missing or unreadable)."""
    try:
        value = json.loads((Path(root) / "manifest.json").read_text()).get(key)
    except (OSError, ValueError, AttributeError):
        return None
    return None if value is None else str(value)


def run_all_command(root: str | os.PathLike, profile: str | None, *, upto: str | None = None,
                    only: Iterable[str] = (), seed: int = 0, dry_run: bool = False,
                    data_dir: str | os.PathLike | None = None) -> str:
    """The ``run_all.py`` command line that runs notebooks in run folder ``root`` under
    ``profile``: ``python run_all.py --profile P --out ROOT --upto NN`` (or ``--only NN ...``),
    with ``--seed``, ``--data`` and ``--dry-run`` when they differ from the defaults. The
    messages of missing inputs name it (:meth:`RunPaths.require`,
    :func:`hsilib.inputs.check_inputs`)."""
    parts = ["python", "run_all.py"]
    if profile:
        parts += ["--profile", str(profile)]
    parts += ["--out", shlex.quote(str(root))]
    if upto is not None:
        parts += ["--upto", upto]
    only = list(only)
    if only:
        parts += ["--only", *only]
    if data_dir is not None:
        parts += ["--data", shlex.quote(str(data_dir))]
    if seed:
        parts += ["--seed", str(seed)]
    if dry_run:
        parts.append("--dry-run")
    return " ".join(parts)


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _host_id() -> str:
    """Six hex digits naming this host (in temporary file names)."""
    return hashlib.sha256(socket.gethostname().encode()).hexdigest()[:6]


def process_alive(pid: int) -> bool:
    """Whether process ``pid`` runs on this host (this process counts as running)."""
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OSError):
        return True  # it exists (owned by someone else), or we cannot tell: keep its files
    return True


def _remove(path: Path, pid: int) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)
    print(f"removed {path}: a temporary copy left by an interrupted run (process {pid} has "
          "ended)", flush=True)


def remove_stale_temporaries(target: str | os.PathLike) -> list[Path]:
    """Remove what interrupted writes of ``target`` left beside it, and only that.

    A temporary folder of :func:`atomic_dir` (``.<name>.tmp-*`` or ``.<name>.old-*``) is
    removed when it holds :data:`TEMP_MARKER` naming a process of this host that has ended; a
    temporary file of :func:`atomic_path` when its name carries this host and the id of a
    process that has ended. Anything else, however it is named, is left alone. Returns the
    removed paths (each is also printed)."""
    target = Path(target)
    parent = target.parent
    if not parent.is_dir():
        return []
    host, removed = _host_id(), []
    folder = re.compile(rf"^\.{re.escape(target.name)}\.(tmp|old)-\w+$")
    file = re.compile(rf"^\.{re.escape(target.name)}\.p(\d+)-([0-9a-f]{{6}})\.\w+\.tmp"
                      rf"{re.escape(target.suffix)}$")
    for entry in os.scandir(parent):
        path = Path(entry.path)
        if folder.match(entry.name) and entry.is_dir(follow_symlinks=False):
            try:
                owner = json.loads((path / TEMP_MARKER).read_text())
                pid, same_host = int(owner["pid"]), owner["host"] == socket.gethostname()
            except (OSError, ValueError, KeyError, TypeError):
                continue  # no marker of ours: not provably ours
        elif (m := file.match(entry.name)) and entry.is_file(follow_symlinks=False):
            pid, same_host = int(m.group(1)), m.group(2) == host
        else:
            continue
        if same_host and not process_alive(pid):
            _remove(path, pid)
            removed.append(path)
    return removed


@contextmanager
def atomic_path(target: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside ``target``; rename it onto ``target`` only on success.

    An interrupted write leaves no half-written ``target`` behind::

        with atomic_path(out / "index.csv") as tmp:
            table.to_csv(tmp)

    The temporary file's name carries this process's id, so that a later write of ``target``
    removes it if the process was killed (:func:`remove_stale_temporaries`). A write that fails
    for lack of space, quota or a file-size limit raises OSError naming ``target``; the old
    ``target`` is kept.
    """
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_temporaries(target)
    fd, tmp = tempfile.mkstemp(dir=target.parent,
                               prefix=f".{target.name}.p{os.getpid()}-{_host_id()}.",
                               suffix=f".tmp{target.suffix}")  # keep the suffix: savers check it
    os.close(fd)
    tmp = Path(tmp)
    try:
        try:
            yield tmp
        except (OSError, RuntimeError) as err:
            why = _out_of_room(err, tmp)
            if why:
                raise OSError(f"{target}: could not be written, {why}; the previous "
                              f"{target.name} (if any) is kept") from err
            raise
        if tmp.is_file():  # mkstemp makes 0600 files: give the result the usual permissions
            os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, target)
    finally:
        if tmp.exists():
            tmp.unlink()


def _out_of_room(err: BaseException, tmp: Path) -> str | None:
    """Why a write into ``tmp`` failed when the disk, a quota or a file-size limit stopped it
    (torch's savers hide the OS error in a RuntimeError, so the limits are looked at too);
    None for any other failure."""
    import errno
    import resource

    reasons = {errno.ENOSPC: "no space is left on the device",
               errno.EFBIG: "the file-size limit was reached",
               getattr(errno, "EDQUOT", -1): "the disk quota was reached"}
    seen: BaseException | None = err
    while seen is not None:
        if isinstance(seen, OSError) and seen.errno in reasons:
            return reasons[seen.errno]
        seen = seen.__cause__ or seen.__context__
    size = tmp.stat().st_size if tmp.is_file() else 0
    limit = resource.getrlimit(resource.RLIMIT_FSIZE)[0]
    if limit != resource.RLIM_INFINITY and size >= limit - 65536:
        return f"the file-size limit of {limit} bytes was reached (ulimit -f)"
    free = shutil.disk_usage(tmp.parent).free
    if free < 1 << 20:
        return f"the device is full ({free} bytes free)"
    return None


def _overlap(a: Path, b: Path) -> bool:
    """True when folders ``a`` and ``b`` are the same or one lies inside the other."""
    return a == b or a in b.parents or b in a.parents


def check_output_dir(target: str | os.PathLike,
                     inputs: Iterable[str | os.PathLike | None] = ()) -> Path:
    """Raise :class:`OutputFolderError` unless ``target`` may be replaced whole.

    Refused: a ``target`` that equals, contains or lies inside any of ``inputs`` (None entries
    are skipped); an existing ``target`` that is not a folder; an existing non-empty folder
    without the project's :data:`OUTPUT_MARKER` (something the project did not write).
    Returns the resolved ``target``.
    """
    out = Path(target).expanduser().resolve()
    for inp in inputs:
        if inp is None:
            continue
        src = Path(inp).expanduser().resolve()
        if _overlap(out, src):
            raise OutputFolderError(
                f"output folder {out} overlaps the input folder {src} (same folder, or one "
                "inside the other): writing it would replace the input. Choose another output "
                "folder.")
    if out.exists() or out.is_symlink():
        if not out.is_dir() or out.is_symlink():
            raise OutputFolderError(f"output folder {out} exists and is not a folder")
        if not (out / OUTPUT_MARKER).is_file() and any(out.iterdir()):
            raise OutputFolderError(
                f"output folder {out} exists and was not written by this project (no "
                f"{OUTPUT_MARKER} file): it is never replaced. Move it away or choose another "
                "output folder.")
    return out


def _temp_dir(target: Path, kind: str) -> Path:
    """A new folder ``.<name>.<kind>-*`` beside ``target`` holding :data:`TEMP_MARKER`."""
    folder = Path(tempfile.mkdtemp(dir=target.parent, prefix=f".{target.name}.{kind}-"))
    (folder / TEMP_MARKER).write_text(json.dumps({"pid": os.getpid(),
                                                  "host": socket.gethostname()}))
    return folder


@contextmanager
def atomic_dir(target: str | os.PathLike,
               inputs: Iterable[str | os.PathLike | None] = ()) -> Iterator[Path]:
    """Yield a temporary folder beside ``target``; on success it replaces ``target`` whole.

    Before anything is written, :func:`check_output_dir` refuses a ``target`` that overlaps one
    of ``inputs`` or that holds files the project did not write; the new folder gets the
    :data:`OUTPUT_MARKER` that allows the next run to replace it. An existing ``target`` is
    removed only once the new folder is complete; an exception leaves the old one untouched
    and no temporary folder behind. A temporary folder that a killed process left beside
    ``target`` is removed first (:func:`remove_stale_temporaries`).
    """
    target = check_output_dir(target, inputs)
    target.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_temporaries(target)
    tmp = _temp_dir(target, "tmp")
    try:
        yield tmp
        os.chmod(tmp, 0o777 & ~_umask())  # mkdtemp makes 0700 folders
        (tmp / OUTPUT_MARKER).write_text("written by hsilib; a rerun may replace this folder\n")
        (tmp / TEMP_MARKER).unlink()
        if target.exists():
            check_output_dir(target)  # still ours (nothing changed it meanwhile)
            old = _temp_dir(target, "old")
            os.replace(target, old / "x")  # move aside first: the swap is two renames
            try:
                os.replace(tmp, target)
            except BaseException:
                os.replace(old / "x", target)  # put the old folder back
                raise
            finally:
                shutil.rmtree(old)  # the replaced folder (or nothing, once put back)
        else:
            os.replace(tmp, target)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp)
