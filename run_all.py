#!/usr/bin/env python
"""Execute the study's notebooks headlessly, in order, with papermill.

    python run_all.py                       # every notebook, default profile, stand-in data
    python run_all.py --profile smoke       # seconds per notebook (what the tests run)
    python run_all.py --only 01 03          # just these notebooks
    python run_all.py --from 03             # notebook 03 and everything after it
    python run_all.py --upto 05             # notebook 05 and the notebooks it reads from (01 03 05)
    python run_all.py --data ~/HSIDermoscopy --profile full --out runs/real
    python run_all.py --set 03.lpips_weights=/w/vgg16.pth --set 06.classifier_study.seeds=[0,1,2]
    python run_all.py --set 03.gan_study.n_synthetic=50    # another section the notebook reads
    python run_all.py --executor ray                     # grid cells as Ray tasks (this machine)
    python run_all.py --executor ray --cluster auto      # ... on a running Ray cluster

Each executed notebook is saved under ``<run>/notebooks/``; ``<run>/manifest.json`` records the
git SHA, package versions, device, and for every notebook its status, parameters, wall time and
the files it wrote. A notebook whose outputs are newer than its inputs (the notebook itself,
the hsilib code, the outputs of the notebooks before it and the data folder) is skipped unless
``--force``. The run stops at the first failure and prints the failing cell and the error.

Everything that can be checked before the first notebook is (arguments, ``--set`` values,
paths, the data set's size, ``--out``), and nothing is created when a check fails. While it
runs, the run folder holds a lock (``.run_all.lock``) naming this process: a second run_all.py
on the same ``--out`` is refused, and the lock of a run that has ended is replaced.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import socket
import subprocess
import sys
import time
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path

REPO = Path(__file__).resolve().parent
#: Code whose change makes every notebook stale.
CODE = [REPO / "hsilib"]
NOTEBOOK_RE = re.compile(r"^(\d\d)_[\w-]+\.ipynb$")
PACKAGES = ("hsilib", "torch", "torchvision", "numpy", "scipy", "pandas", "scikit-learn", "timm",
            "lpips", "torchmetrics", "albumentations", "colour-science", "spectral", "papermill")


# ---------------------------------------------------------------------------------------------
# What to run
# ---------------------------------------------------------------------------------------------
def find_notebooks(folder: Path) -> list[Path]:
    """``NN_name.ipynb`` files of ``folder`` in numeric order."""
    return sorted(p for p in folder.glob("*.ipynb") if NOTEBOOK_RE.match(p.name))


def select(notebooks: list[Path], only: list[str] | None, start: str | None) -> list[Path]:
    known = {p.name[:2] for p in notebooks}
    for n in (only or []) + ([start] if start else []):
        if n.zfill(2) not in known:
            raise SystemExit(f"error: no notebook numbered {n!r}; found {', '.join(sorted(known))}")
    chosen = [p for p in notebooks if not only or p.name[:2] in {n.zfill(2) for n in only}]
    return [p for p in chosen if not start or p.name[:2] >= start.zfill(2)]


def select_upto(notebooks: list[Path], upto: str, profile: str,
                overrides: dict[str, dict] | None = None, dry_run: bool = False) -> list[Path]:
    """Notebook ``upto`` and every notebook it reads from (:func:`hsilib.inputs.upstream`, the
    inputs declared in :data:`hsilib.inputs.INPUTS` under ``profile`` with each notebook's
    ``overrides``, capped when ``dry_run``), in run order, from ``notebooks``."""
    from hsilib.config import ConfigError
    from hsilib.inputs import upstream
    from hsilib.notebook import resolve_study

    by_number = {p.name[:2]: p for p in notebooks}
    target = upto.zfill(2)
    if target not in by_number:
        raise SystemExit(f"error: --upto {upto}: no notebook numbered {upto!r}; found "
                         f"{', '.join(sorted(by_number))}")
    try:
        needed = upstream(target, lambda nn: resolve_study(nn, profile, overrides.get(nn) if
                                                           overrides else None, dry_run)[1])
    except (ValueError, ConfigError) as exc:
        raise SystemExit(f"error: --upto {upto}: {exc}") from None
    absent = [nn for nn in needed if nn not in by_number]
    if absent:
        raise SystemExit(f"error: --upto {upto}: notebook {target} reads from notebooks "
                         f"{', '.join(absent)}, which are not in the notebooks folder")
    return [by_number[nn] for nn in needed]


def parse_overrides(items: list[str] | None, known: set[str]) -> dict[str, dict]:
    """``["03.steps=200", "06.epochs=5"]`` -> ``{"03": {"steps": 200}, "06": {"epochs": 5}}``.

    Values are read as JSON when they parse (numbers, lists, true/false/null), else as strings.
    The notebook receives them as its ``OVERRIDES`` parameter; its config section checks them.
    """
    out: dict[str, dict] = {}
    for item in items or []:
        target, eq, raw = item.partition("=")
        nn, dot, key = target.partition(".")
        if not (eq and dot and key and nn.isdigit()):
            raise SystemExit(f"error: --set {item!r} must look like NN.key=value "
                             "(e.g. 03.steps=200)")
        if nn.zfill(2) not in known:
            raise SystemExit(f"error: --set {item!r}: no notebook numbered {nn!r}")
        try:
            value = json.loads(raw)
        except ValueError:
            value = raw
        out.setdefault(nn.zfill(2), {})[key] = value
    return out


def check_overrides(overrides: dict[str, dict]) -> None:
    """Check every ``--set`` against the notebooks' config sections before anything runs."""
    from hsilib.config import ConfigError
    from hsilib.notebook import resolve_overrides

    for nn, values in overrides.items():
        try:
            resolve_overrides(nn, values)
        except ConfigError as exc:
            raise SystemExit(f"error: --set: {exc}") from None


def default_profile() -> str:
    import torch

    return "full" if torch.cuda.is_available() else "quick"


# ---------------------------------------------------------------------------------------------
# Checks before anything is written
# ---------------------------------------------------------------------------------------------
#: Largest master seed: every random generator the project seeds accepts 0 .. 2**32 - 1.
MAX_SEED = 2**32 - 1


def check_plain_arguments(args: argparse.Namespace) -> None:
    """The arguments that need nothing but themselves: --only, --from and --upto together,
    --seed, --data ""."""
    if args.only and args.start:
        raise SystemExit("error: --only and --from exclude each other: --only 03 05 runs just "
                         "those, --from 03 runs 03 and everything after it")
    if args.upto and (args.only or args.start):
        other = "--only" if args.only else "--from"
        raise SystemExit(f"error: --upto and {other} exclude each other: --upto 05 runs 05 and "
                         "the notebooks it reads from (those up to date are skipped anyway), "
                         "--only 03 05 runs just those, --from 03 runs 03 and everything after "
                         "it")
    if not 0 <= args.seed <= MAX_SEED:
        raise SystemExit(f"error: --seed must be in 0..{MAX_SEED} (what every random generator "
                         f"the notebooks seed accepts), got {args.seed}")
    if args.data is not None and not args.data.strip():
        raise SystemExit('error: --data "" names no folder (an unset variable?); leave --data '
                         "out to use the built-in stand-in")


def check_paths_in_overrides(overrides: dict[str, dict]) -> None:
    """Every ``--set`` value of a ``*_weights`` key must be an existing file, of a ``*_dir`` key
    an existing folder (and ``HSILIB_FID_WEIGHTS``, when set, a file): a misspelt path fails
    now, not when a notebook first opens it."""
    items = [(f"--set {nn}.{key}", key.rpartition(".")[2], value)
             for nn, values in overrides.items() for key, value in values.items()]
    if os.environ.get("HSILIB_FID_WEIGHTS"):
        items.append(("HSILIB_FID_WEIGHTS", "fid_weights", os.environ["HSILIB_FID_WEIGHTS"]))
    for where, name, value in items:
        if value is None or not (name.endswith("_weights") or name.endswith("_dir")):
            continue
        path = Path(str(value)).expanduser()
        if name.endswith("_weights") and not path.is_file():
            raise SystemExit(f"error: {where}: {path} is not a file (weights must be a local "
                             "file; nothing is downloaded)")
        if name.endswith("_dir") and not path.is_dir():
            raise SystemExit(f"error: {where}: {path} is not a folder")


def check_data_size(profile: str, overrides: dict[str, dict], data_dir: str | None,
                    runs_01: bool) -> None:
    """The data set (``--data``, or the stand-in notebook 01 would generate) must hold enough
    melanoma and nevus images for notebook 01's split (one image per class in each of train,
    validation and test) and its grouped K-fold cross-validation (one per class and fold)."""
    from hsilib import config
    from hsilib.data.hsi_dermoscopy import HSIDermoscopy, SkippedFilesWarning, SubtypeWarning
    from hsilib.notebook import resolve_overrides

    data = config.resolve(profile, "data", **resolve_overrides("01", overrides.get("01"))
                          .get("data", {}))
    need = max(3, data.n_folds)
    if data_dir is not None:
        import warnings

        with warnings.catch_warnings():  # notebook 01 reports these itself
            warnings.simplefilter("ignore", (SubtypeWarning, SkippedFilesWarning))
            try:
                counts = HSIDermoscopy(data_dir).index["class"].value_counts()
            except (OSError, ValueError) as err:
                raise SystemExit(f"error: --data: {err}") from None
        have, source = {c: int(counts.get(c, 0)) for c in ("MM", "DN")}, f"--data {data_dir}"
    elif runs_01:
        have, source = {"MM": data.n_mm, "DN": data.n_dn}, "the stand-in (01.n_mm, 01.n_dn)"
    else:
        return
    short = {c: n for c, n in have.items() if n < need}
    if short:
        raise SystemExit(f"error: {source} has {have['MM']} MM and {have['DN']} DN images; "
                         f"notebook 01 needs at least {need} of each (one per class in train, "
                         f"validation and test, and in each of the {data.n_folds} "
                         "cross-validation folds)")


def check_out(run_root: Path, notebooks_dir: Path, data_dir: str | None,
              overrides: dict[str, dict]) -> None:
    """--out may not be (or contain) the repository, nor overlap its code, its notebooks, the
    data set or a masks folder (the run's own ``artifacts/masks`` excepted: the folder of
    edited masks), and must be writable; all before anything is created."""
    def overlap(a: Path, b: Path) -> bool:
        return a == b or a in b.parents or b in a.parents

    if run_root == REPO or run_root in REPO.parents:
        raise SystemExit(f"error: --out {run_root} is or contains the repository {REPO}: the "
                         "executed notebooks would overwrite the notebooks; choose a folder "
                         "such as runs/<name>")
    guarded = [(REPO / d, "the repository's") for d in ("hsilib", "tests", "docs")]
    guarded.append((notebooks_dir.resolve(), "the notebooks'"))
    if data_dir is not None:
        guarded.append((Path(data_dir), "the data set's (--data)"))
    for nn, values in overrides.items():
        masks = values.get("masks_dir") or values.get("data.masks_dir")
        own = run_root / "artifacts" / "masks"
        if masks and Path(str(masks)).expanduser().resolve() != own:
            guarded.append((Path(str(masks)).expanduser().resolve(), f"the masks ({nn}.masks_dir)"))
    for folder, what in guarded:
        if overlap(run_root, folder):
            raise SystemExit(f"error: --out {run_root} overlaps {what} folder {folder}: a run "
                             "writes and replaces folders in --out; choose another folder")
    existing = next(p for p in (run_root, *run_root.parents) if p.exists())
    if not os.access(existing, os.W_OK | os.X_OK):
        raise SystemExit(f"error: --out {run_root}: {existing} is not writable")


_HELD: list[Path] = []  # locks this process holds (released by main)


def acquire_lock(lock: Path) -> None:
    """Take the run folder's lock (its :data:`~hsilib.paths.LOCK_FILE`, holding this process's
    id, host and start time); refuse while another live ``run_all.py`` holds it; replace a lock
    whose process has ended (with a message)."""
    from hsilib.paths import process_alive

    me = {"pid": os.getpid(), "host": socket.gethostname(),
          "started": datetime.now(timezone.utc).isoformat(timespec="seconds")}
    for _ in range(3):
        try:
            fd = os.open(lock, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            try:
                holder = json.loads(lock.read_text())
                pid, host = int(holder["pid"]), str(holder["host"])
            except (OSError, ValueError, KeyError, TypeError):
                holder, pid, host = {}, -1, socket.gethostname()  # half-written: its writer died
            if host != socket.gethostname() or (pid >= 0 and process_alive(pid)):
                raise SystemExit(
                    f"error: --out {lock.parent} is in use by another run_all.py (process {pid} "
                    f"on {host}, started {holder.get('started', '?')}); wait for it to end or "
                    f"choose another --out. If that run is gone, delete {lock}") from None
            print(f"replacing the stale lock {lock}: process {pid} on {host} has ended",
                  flush=True)
            lock.unlink(missing_ok=True)
            continue
        _HELD.append(lock)
        with os.fdopen(fd, "w") as f:
            json.dump(me, f)
        return
    raise SystemExit(f"error: could not take the lock {lock}; another run_all.py is starting")


def release_lock(lock: Path) -> None:
    """Remove the lock if this process holds it."""
    try:
        if json.loads(lock.read_text()).get("pid") == os.getpid():
            lock.unlink()
    except (OSError, ValueError, AttributeError):
        pass


# ---------------------------------------------------------------------------------------------
# Freshness: outputs newer than every input
# ---------------------------------------------------------------------------------------------
def _files(root: Path) -> dict[str, float]:
    if not root.exists():
        return {}
    return {str(p): p.stat().st_mtime for p in root.rglob("*") if p.is_file()}


def _run_files(run: Path) -> dict[str, float]:
    """Files a notebook may have written: everything under the run folder but its own records."""
    skip = (f"{run / 'notebooks'}{os.sep}", f"{run / 'bench'}{os.sep}", str(run / "manifest.json"),
            f"{run}{os.sep}.manifest.json", f"{run}{os.sep}.run_all.lock",
            str(run / STATUS_FILE), f"{run}{os.sep}.{STATUS_FILE}")
    return {p: t for p, t in _files(run).items() if not p.startswith(skip)}


def is_fresh(entry: dict | None, params: dict, inputs: list[Path], run: Path) -> bool:
    """True when ``entry`` (this notebook's manifest record) is still valid."""
    if not entry or entry.get("status") != "ok" or entry.get("parameters") != params:
        return False
    outputs = [run / o for o in entry.get("outputs", [])]
    if not outputs or not all(o.exists() for o in outputs):
        return False
    newest_input = 0.0
    for p in inputs:
        if p.is_dir():
            newest_input = max([newest_input, *_files(p).values()])
        elif p.exists():
            newest_input = max(newest_input, p.stat().st_mtime)
    return min(o.stat().st_mtime for o in outputs) > newest_input


# ---------------------------------------------------------------------------------------------
# Manifest
# ---------------------------------------------------------------------------------------------
def git_state() -> dict:
    def git(*args):
        r = subprocess.run(["git", *args], cwd=REPO, capture_output=True, text=True)
        return r.stdout.strip() if r.returncode == 0 else None

    status = git("status", "--porcelain", "--untracked-files=no")
    return {"sha": git("rev-parse", "HEAD"), "dirty": bool(status) if status is not None else None}


def environment() -> dict:
    import torch

    versions = {}
    for name in PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    cuda = torch.cuda.get_device_name(0) if torch.cuda.is_available() else None
    return {"python": platform.python_version(), "platform": platform.platform(),
            "packages": versions, "device": "cuda" if cuda else "cpu", "cuda_device": cuda,
            "cpu_count": os.cpu_count()}


def read_manifest(path: Path) -> dict:
    """The run's manifest (``{}`` when there is none yet); a corrupt one is an error naming it."""
    if not path.exists():
        return {}
    try:
        manifest = json.loads(path.read_text())
    except (OSError, ValueError) as err:
        raise SystemExit(f"error: {path} is not a readable manifest ({type(err).__name__}: "
                         f"{err}); move it away to start the run record afresh (every "
                         "notebook then reruns)") from None
    if not isinstance(manifest, dict) or not isinstance(manifest.get("notebooks", {}), dict):
        raise SystemExit(f"error: {path} is not a manifest of run_all.py (expected a JSON "
                         "object with a 'notebooks' object); move it away to start afresh")
    return manifest


def write_json(path: Path, obj: dict) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(obj, indent=2, default=str))
    os.replace(tmp, path)


# ---------------------------------------------------------------------------------------------
# Dry run: the plan
# ---------------------------------------------------------------------------------------------
#: The run's status file (hsilib.train.watch): notebook, cell, training and step.
STATUS_FILE = "status.json"
#: The section whose classifier seeds each classifier notebook trains over.
CLASSIFIER_SEEDS = {"06": "classifier_study", "07": "proportion_study",
                    "08": "correlation_study", "09": "explain_study"}
PLAN_NOTES = (
    "A dry run's projection. seconds_per_unit: measured here, over a capped training (the "
    "first step carries the warm-up, so it errs high); projected_hours = planned_units x "
    "seconds_per_unit, one row per training the dry run ran; a dry run keeps one replicate "
    "of each kind (one seed, one fold), so total_hours = projected_hours x replicates, the "
    "runs of that training the profile makes (an estimate: a replicate's training set may "
    "differ in size). Classifier "
    "units are batches; their seconds include each epoch's validation. 'notebook' rows: the "
    "notebook's whole wall time in the dry run (data, evaluation at capped counts: a lower "
    "bound of the real run's). Memory is this machine's peak resident memory (CPU RAM); it "
    "says little about GPU memory, which a CPU run does not measure (peak_cuda_mb appears "
    "only on a CUDA device). projected_disk_mb: the checkpoint size per training.")


def write_plan(root: Path, manifest: dict) -> Path:
    """Join the notebooks' ``plan_<NN>.csv`` into ``artifacts/results/plan.csv`` with the
    projected hours and disk of each training (:data:`PLAN_NOTES` says how; it is written
    beside it as ``plan_notes.txt``)."""
    import pandas as pd

    from hsilib import config

    results = root / "artifacts" / "results"
    frames = [pd.read_csv(p) for p in sorted(results.glob("[0-9][0-9]_plan.csv"))]
    plan = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(
        columns=["kind", "name", "notebook"])
    study = config.resolve(manifest["profile"])

    gan = study.gan_study
    folds = gan.replicates == "folds"
    per_gen = (gan.folds_run or study.data.n_folds) if folds else len(gan.generator_seeds)

    def replicates(row) -> int:  # runs of this training the profile makes; the dry run made 1
        nb = f"{int(row['notebook']):02d}"
        if row["kind"] == "classifier":
            seeds = len(getattr(study, CLASSIFIER_SEEDS[nb]).seeds) if nb in CLASSIFIER_SEEDS else 1
            return seeds * (per_gen if nb in ("06", "07") or (nb == "08" and folds) else 1)
        if row["kind"] != "generator" or nb == "04":  # notebook 04 trains once
            return 1
        if nb == "02":
            return len(study.ablation_study.seeds)
        return len(gan.generator_seeds) if nb == "05" else per_gen

    for column in ("planned_units", "seconds_per_unit", "checkpoint_mb", "seconds"):
        if column not in plan:  # e.g. after notebook 01 alone, which trains nothing
            plan[column] = float("nan")
    if len(plan):
        trained = plan["kind"] != "notebook"
        plan.loc[trained, "projected_hours"] = (
            plan.loc[trained, "planned_units"] * plan.loc[trained, "seconds_per_unit"] / 3600
        ).round(3)
        plan.loc[~trained, "projected_hours"] = (plan.loc[~trained, "seconds"] / 3600).round(3)
        plan.loc[trained, "projected_disk_mb"] = plan.loc[trained, "checkpoint_mb"]
        plan["replicates"] = plan.apply(replicates, axis=1)
        plan["total_hours"] = (plan["projected_hours"] * plan["replicates"]).round(3)
        plan["total_disk_mb"] = (plan["projected_disk_mb"].fillna(0) * plan["replicates"]).round(1)
    out = results / "plan.csv"
    plan.to_csv(out, index=False)
    if len(plan):  # per notebook: trainings of the real run, CPU hours, disk, the dry run's time
        trained = plan[plan["kind"] != "notebook"]
        summary = trained.groupby("notebook").agg(
            trainings=("replicates", "sum"), cpu_hours=("total_hours", "sum"),
            checkpoints_gb=("total_disk_mb", lambda mb: mb.sum() / 1024)).round(2)
        summary["dry_run_s"] = plan[plan["kind"] == "notebook"].set_index("notebook")["seconds"]
        summary.reset_index().to_csv(results / "plan_summary.csv", index=False)
    (results / "plan_notes.txt").write_text(PLAN_NOTES + "\n")
    return out


# ---------------------------------------------------------------------------------------------
# Execution
# ---------------------------------------------------------------------------------------------
def kernel_environment() -> dict[str, str]:
    """Thread variables of the notebook kernels: a passive OpenMP wait policy and one thread
    per physical core (:func:`hsilib.runtime.thread_environment`), set before the kernel
    imports torch; a variable already in this process's environment is passed on as it is."""
    from hsilib.runtime import thread_defaults_enabled, thread_environment

    if not thread_defaults_enabled():
        return {}
    return {k: os.environ.get(k, v) for k, v in thread_environment().items()}


def execute(nb: Path, out: Path, params: dict, env: dict | None = None) -> None:
    import papermill as pm

    env_keep = dict(os.environ)
    os.environ.update(NO_ALBUMENTATIONS_UPDATE="1", HF_HUB_OFFLINE="1", HSILIB_PLAIN_PROGRESS="1",
                      PYTHONUNBUFFERED="1", **kernel_environment(), **(env or {}))
    try:
        pm.execute_notebook(str(nb), str(out), parameters=params, kernel_name="python3",
                            cwd=str(nb.parent), progress_bar=False, log_output=False,
                            # the kernel's own log (e.g. ipykernel 7's warning about a local
                            # TCP connection) is noise here; cell errors still surface
                            extra_arguments=["--IPKernelApp.log_level=ERROR"])
    finally:
        os.environ.clear()
        os.environ.update(env_keep)


def failure_report(exc: Exception, executed: Path) -> str:
    """The failing cell's source and the error, read from the executed notebook."""
    lines = [f"{type(exc).__name__}: {getattr(exc, 'ename', '')} {getattr(exc, 'evalue', exc)}"]
    try:
        nb = json.loads(executed.read_text())
        for i, cell in enumerate(nb["cells"]):
            errs = [o for o in cell.get("outputs", []) if o.get("output_type") == "error"]
            if errs:
                src = "".join(cell["source"])
                tb = re.sub(r"\x1b\[[0-9;]*m", "", "\n".join(errs[0].get("traceback", [])))
                lines = [f"failing cell {i}:", src, "", "error:", tb[-3000:]]
                break
    except (OSError, ValueError, KeyError):
        pass
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Run the notebooks (see the module docstring); the run folder's lock is released however
    the run ends."""
    try:
        return _main(argv)
    finally:
        while _HELD:
            release_lock(_HELD.pop())


def _main(argv: list[str] | None = None) -> int:
    from hsilib.config import PROFILES

    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--profile", choices=PROFILES, default=None,
                    help="default: full when CUDA is available, else quick")
    ap.add_argument("--only", nargs="+", metavar="NN", help="run only these notebook numbers")
    ap.add_argument("--from", dest="start", metavar="NN", help="start at this notebook number")
    ap.add_argument("--upto", metavar="NN",
                    help="run notebook NN and the notebooks it reads from, in order (e.g. "
                         "--upto 05: 01 03 05; the inputs each notebook declares in "
                         "hsilib/inputs.py under this profile); those up to date are skipped")
    ap.add_argument("--data", default=None,
                    help="a real HSIDermoscopy folder (MMCube/, DNCube/, OtherCube/); "
                         "default: the built-in stand-in")
    ap.add_argument("--out", default=None, help="run folder (default runs/<profile>)")
    ap.add_argument("--seed", type=int, default=0,
                    help=f"master seed passed to every notebook (0..{MAX_SEED})")
    ap.add_argument("--force", action="store_true", help="run notebooks even if up to date")
    ap.add_argument("--set", dest="overrides", action="append", metavar="NN.KEY=VALUE",
                    help="override a config key of notebook NN (its OVERRIDES parameter): "
                         "KEY of its own section or SECTION.KEY; checked before anything "
                         "runs; repeatable, e.g. --set 03.steps=2000")
    ap.add_argument("--executor", choices=("local", "ray"), default="local",
                    help="where the cells of experiment grids (notebooks 06-08) run: one after "
                         "another in the notebook (local), or as Ray tasks (ray)")
    ap.add_argument("--cluster", default=None, metavar="ADDRESS",
                    help="with --executor ray: a running Ray cluster (default RAY_ADDRESS, "
                         "else Ray started on this machine)")
    ap.add_argument("--dry-run", action="store_true",
                    help="every notebook at the profile's real shapes with every step, epoch "
                         "and count capped (hsilib.config.dryrun); writes "
                         "artifacts/results/plan.csv, the projected time and disk of the "
                         "real run (default --out: runs/<profile>-dry)")
    ap.add_argument("--notebooks", default=str(REPO / "notebooks"), help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    check_plain_arguments(args)
    if args.cluster and args.executor != "ray":
        raise SystemExit("error: --cluster needs --executor ray")
    if args.executor == "ray":
        try:
            import ray  # noqa: F401
        except ImportError:
            raise SystemExit("error: --executor ray needs Ray: pip install -e '.[cluster]'") \
                from None
    executor_env = {"HSILIB_EXECUTOR": args.executor}
    if args.cluster:
        executor_env["HSILIB_RAY_ADDRESS"] = args.cluster

    profile = args.profile or default_profile()
    print(f"profile: {profile}" + ("" if args.profile else " (default for this machine)"),
          flush=True)
    data_dir = None
    if args.data:
        data = Path(args.data).expanduser().resolve()
        if not data.is_dir():
            raise SystemExit(f"error: --data {data} is not a folder")
        data_dir = str(data)

    sys.path.insert(0, str(REPO))
    from hsilib.paths import run_paths

    # everything is checked before the run folder is created or touched
    run = run_paths(args.out or (f"runs/{profile}-dry" if args.dry_run else None), profile)
    for folder in (run.root, *run.root.parents):
        if folder.exists() and not folder.is_dir():
            raise SystemExit(f"error: --out {run.root}: {folder} is a file, not a folder")
    found = find_notebooks(Path(args.notebooks))
    notebooks = select(found, args.only, args.start)
    if not notebooks:
        raise SystemExit(f"error: no NN_*.ipynb notebooks in {args.notebooks}")
    overrides = parse_overrides(args.overrides, {p.name[:2] for p in found})
    check_overrides(overrides)
    if args.upto:
        notebooks = select_upto(found, args.upto, profile, overrides, args.dry_run)
        print(f"--upto {args.upto}: notebooks {' '.join(p.name[:2] for p in notebooks)}",
              flush=True)
    check_paths_in_overrides(overrides)
    check_out(run.root, Path(args.notebooks), data_dir, overrides)
    check_data_size(profile, overrides, data_dir, any(p.name[:2] == "01" for p in notebooks))
    manifest = read_manifest(run.manifest)
    try:
        run.root.mkdir(parents=True, exist_ok=True)
        acquire_lock(run.lock)  # released by main() however this run ends
        run.make()
    except OSError as err:
        raise SystemExit(f"error: --out {run.root}: cannot write there ({err.strerror or err})") \
            from None
    print(f"run folder: {run.root}", flush=True)

    manifest.update(profile=profile, run_dir=str(run.root), data_dir=data_dir, seed=args.seed,
                    updated=datetime.now(timezone.utc).isoformat(timespec="seconds"),
                    executor=args.executor, cluster=args.cluster,
                    git=git_state(), environment=environment())
    records = manifest.setdefault("notebooks", {})
    earlier_outputs: list[Path] = []
    total = time.perf_counter()

    for i, nb in enumerate(notebooks, 1):
        name = nb.stem
        params = {"PROFILE": profile, "SEED": args.seed, "DATA_DIR": data_dir,
                  "RUN_DIR": str(run.root)}
        if args.dry_run:
            params["DRY_RUN"] = True
        if name[:2] in overrides:
            params["OVERRIDES"] = overrides[name[:2]]
        inputs = [nb, *CODE, *earlier_outputs] + ([Path(data_dir)] if data_dir else [])
        # outputs of notebooks before this one (also those not selected this time) are inputs
        for prev, rec in records.items():
            if prev[:2] < name[:2]:
                inputs += [run.root / o for o in rec.get("outputs", [])]
        head = f"[{i}/{len(notebooks)}] {name:28s}"
        if not args.force and is_fresh(records.get(name), params, inputs, run.root):
            print(f"{head} skipped (outputs newer than inputs; --force to rerun)", flush=True)
            records[name]["status_last_run"] = "skipped"
            continue
        print(f"{head} running ...", flush=True)
        executed = run.notebooks / nb.name
        before = _run_files(run.root)
        # recorded as running until it ends: a run killed meanwhile leaves no "ok" record, so
        # the next run reruns this notebook from the start instead of trusting partial outputs
        old = records.get(name) or {}
        # a notebook whose last run was killed (still "running") resumes inside: its finished
        # trainings and grid cells are kept, an unfinished training goes on from its last
        # checkpoint (HSILIB_RESUME); any other rerun starts its trainings afresh
        resume = old.get("status") == "running" and old.get("parameters") == params
        records[name] = {"status": "running", "status_last_run": "running",
                         "parameters": params, "outputs": old.get("outputs", [])}
        write_json(run.manifest, manifest)
        t0 = time.perf_counter()
        started = datetime.now(timezone.utc).isoformat(timespec="seconds")
        code = git_state()  # what this notebook's kernel imports (edits during a run count)
        write_json(run.root / STATUS_FILE, {"notebook": name, "started": started,
                                            "resumed": resume, "pid": os.getpid()})
        env = {**executor_env, "HSILIB_STATUS_FILE": str(run.root / STATUS_FILE),
               **({"HSILIB_RESUME": "1"} if resume else {})}
        if resume:
            print(f"{head} resuming inside the notebook (its last run was interrupted)",
                  flush=True)
        try:
            execute(nb, executed, params, env)
            status, error = "ok", None
        except Exception as exc:  # papermill raises its own error types; report any
            status, error = "failed", failure_report(exc, executed)
        wall = time.perf_counter() - t0
        after = _run_files(run.root)
        outputs = sorted(os.path.relpath(p, run.root) for p, t in after.items()
                         if before.get(p) != t)
        records[name] = {"status": status, "status_last_run": status, "started": started,
                         "wall_s": round(wall, 1), "parameters": params, "outputs": outputs,
                         "executed_notebook": os.path.relpath(executed, run.root),
                         # the code this notebook ran (a run folder can mix invocations)
                         "git": code}
        if error:
            records[name]["error"] = error
        write_json(run.manifest, manifest)
        print(f"{head} {status} in {wall:.1f} s ({len(outputs)} files written)", flush=True)
        if args.dry_run and status == "ok":  # the plan so far: a stopped dry run keeps it
            write_plan(run.root, manifest)
        if error:
            print(f"\n{name} failed; executed notebook: {executed}\n{error}", file=sys.stderr)
            return 1
        earlier_outputs += [run.root / o for o in outputs]

    manifest["wall_s"] = round(time.perf_counter() - total, 1)
    write_json(run.manifest, manifest)
    write_json(run.root / STATUS_FILE, {"notebook": None, "finished": True,
                                        "wall_s": manifest["wall_s"]})
    if args.dry_run:
        plan = write_plan(run.root, manifest)
        print(f"dry run: plan of the {profile} profile in {plan}", flush=True)
    print(f"done in {manifest['wall_s']:.1f} s; manifest: {run.manifest}", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
