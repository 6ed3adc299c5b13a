"""``python -m hsilib.bench [--profile P] [--only NAME ...] [--out DIR]``: run benchmarks.

Prints one row per benchmark (median seconds of the repeats, items/s, peak memory) and writes
``bench/bench-<timestamp>.json`` under the run folder (``runs/<profile>/`` by default).

Two comparisons of the generator training steps (:mod:`hsilib.bench.compare`,
:mod:`hsilib.bench.shared`), each timing its contenders interleaved in turns:

- ``--against REV``: per case (``--only 'fastgan_*'`` selects cases), this checkout's step
  against git revision REV's and against the published implementation's loop; writes
  ``bench/steps-<timestamp>.json``;
- ``--shared``: each family's quick step idle and beside a competing 2-thread process, under
  the project's thread policy and OpenMP's default; writes ``bench/shared-<timestamp>.json``.
"""

from __future__ import annotations

import argparse
import fnmatch
import json
import platform
import resource
import statistics
import subprocess
import sys
import time
from datetime import datetime, timezone

from .. import config
from ..paths import atomic_path, run_paths
from . import load_all
from .compare import compare_case, format_row, load_revision, worker_env


def _peak_rss_mb() -> float:
    # ru_maxrss is KiB on Linux, bytes on macOS
    r = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return r / 1024**2 if sys.platform == "darwin" else r / 1024


def run_one(name: str, profile: str) -> dict:
    """Run benchmark ``name`` in this process and return its measurements."""
    bench = load_all()[name]
    cfg = config.resolve(profile, "bench")
    fn = bench.setup(cfg)
    for _ in range(cfg.warmup):
        fn()
    times, items = [], None
    for _ in range(bench.repeats or cfg.repeats):
        t0 = time.perf_counter()
        items = fn()
        times.append(time.perf_counter() - t0)
    med = statistics.median(times)
    return {
        "name": name, "group": bench.group, "note": bench.note, "unit": bench.unit,
        "repeats": len(times), "median_s": med, "min_s": min(times),
        "items": items, "items_per_s": (items / med) if items else None,
        "peak_rss_mb": _peak_rss_mb(),
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m hsilib.bench", description=__doc__)
    ap.add_argument("--profile", default="quick", choices=config.PROFILES)
    ap.add_argument("--only", nargs="*", default=None,
                    help="names or glob patterns, e.g. 'data.*' (default: all)")
    ap.add_argument("--out", default=None, help="run folder (default runs/<profile>)")
    ap.add_argument("--list", action="store_true", help="list the benchmarks and exit")
    ap.add_argument("--against", default=None, metavar="REV",
                    help="compare the generator steps with git revision REV and with the "
                         "published loops (interleaved); --only selects cases")
    ap.add_argument("--shared", action="store_true",
                    help="time each family's quick step idle and beside a competing process")
    ap.add_argument("--repeats", type=int, default=5,
                    help="timed rounds of --against and --shared (default 5)")
    ap.add_argument("--worker", default=None, help=argparse.SUPPRESS)
    ap.add_argument("--compare-worker", default=None, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)

    if args.worker:  # child process: one benchmark, JSON on the last line
        print(json.dumps(run_one(args.worker, args.profile)))
        return 0
    if args.compare_worker:  # child process: one step comparison, JSON on the last line
        print(json.dumps(compare_case(args.compare_worker, args.against, args.repeats)))
        return 0
    if args.against or args.shared:
        return comparisons(args, ap)

    registry = load_all()
    names = sorted(registry)
    if args.only:
        names = [n for n in names if any(fnmatch.fnmatch(n, p) for p in args.only)]
        if not names:
            ap.error(f"no benchmark matches {args.only}; see --list")
    if args.list:
        for n in names:
            print(f"{n:40s} {registry[n].note}")
        return 0

    print(f"{'benchmark':40s} {'median s':>9s} {'items/s':>10s} {'peak MB':>9s}  note")
    rows, failed = [], 0
    for n in names:
        proc = subprocess.run(
            [sys.executable, "-m", "hsilib.bench", "--worker", n, "--profile", args.profile],
            capture_output=True, text=True, env=worker_env(),
        )
        if proc.returncode != 0:
            failed += 1
            err = (proc.stderr.strip().splitlines() or ["?"])[-1]
            print(f"{n:40s} FAILED: {err}")
            rows.append({"name": n, "error": proc.stderr[-2000:]})
            continue
        row = json.loads(proc.stdout.strip().splitlines()[-1])
        rows.append(row)
        ips = f"{row['items_per_s']:10.2f}" if row["items_per_s"] else f"{'':>10s}"
        print(f"{n:40s} {row['median_s']:9.3f} {ips} {row['peak_rss_mb']:9.0f}  {row['note']}")

    write_report(args, "bench", rows)
    return 1 if failed else 0


def write_report(args: argparse.Namespace, kind: str, rows: list[dict], **extra) -> None:
    """``bench/<kind>-<timestamp>.json`` under the run folder, with the machine's details."""
    import torch

    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    out = run_paths(args.out, args.profile).bench / f"{kind}-{stamp}.json"
    report = {
        "profile": args.profile, "created": stamp, "python": platform.python_version(),
        "torch": torch.__version__, "cpu_threads": torch.get_num_threads(),
        "cuda": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
        "machine": platform.platform(), **extra, "results": rows,
    }
    with atomic_path(out) as tmp:
        tmp.write_text(json.dumps(report, indent=2))
    print(f"wrote {out}")


def comparisons(args: argparse.Namespace, ap: argparse.ArgumentParser) -> int:
    """``--against`` and ``--shared``: each case in its own worker process(es)."""
    from . import shared
    from .steps import CASES

    def chosen(names):
        if not args.only:
            return list(names)
        out = [n for n in names if any(fnmatch.fnmatch(n, p) for p in args.only)]
        if not out:
            ap.error(f"no case matches {args.only}; cases: {', '.join(names)}")
        return out

    failed = 0
    if args.against:
        load_revision(args.against)  # a bad revision fails here, before any timing
        rows = []
        for name in chosen(CASES):
            proc = subprocess.run(
                [sys.executable, "-m", "hsilib.bench", "--compare-worker", name, "--against",
                 args.against, "--repeats", str(args.repeats)],
                capture_output=True, text=True, env=worker_env())
            if proc.returncode != 0:
                failed += 1
                print(f"{name:18s} FAILED: {(proc.stderr.strip().splitlines() or ['?'])[-1]}")
                rows.append({"case": name, "error": proc.stderr[-2000:]})
                continue
            rows.append(json.loads(proc.stdout.strip().splitlines()[-1]))
            print(format_row(rows[-1]), flush=True)
        write_report(args, "steps", rows, against=args.against)
    if args.shared:
        rows = []
        for name in chosen(shared.SHARED_CASES):
            rows.append(shared.measure(name, args.repeats))
            print(shared.format_row(rows[-1]), flush=True)
        write_report(args, "shared", rows)
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
