"""``make gpu-check``: what to run the first day a CUDA device is present, before any long run.

    python -m hsilib.bench.gpu_check                   # on the GPU, about 5-8 minutes
    python -m hsilib.bench.gpu_check --device cpu --tiny --skip-slow   # the CPU side (tests)

It prints one table and writes ``gpu_check.json`` (``--out``):

1. **Every family at ``full`` widths and batch** (FastGAN, StyleGAN2-ADA, SHS-GAN, the classic
   GANs, the conditional FastGAN, CycleGAN, the VAE, and the DenseNet201 classifier at its input
   size): ``--steps`` training steps with the trainer's mixed precision (bf16 autocast and
   channels_last on CUDA); every loss must be finite. The first step is repeated in fp32 from
   the same weights and batch; bf16 carries 8 bits of mantissa, so the first-step losses must
   agree within :data:`TOLERANCE` (relative to ``max(1, |fp32 loss|)``). Seconds per step and
   peak memory (CUDA: peak allocated; CPU: the process's peak resident memory) per family.
2. **The fractional-GPU grid benchmark**: the classifier grid of :mod:`hsilib.bench.grid` run
   as Ray tasks with a quarter of the GPU each (skipped without Ray or CUDA).
3. **The GPU tests**: ``pytest -m gpu``.
4. **Notebook 03 under ``quick`` on the GPU** (with notebook 01 before it), through
   ``run_all.py`` into a temporary run folder.

Parts 2-4 need CUDA (or ``--skip-slow`` leaves them out); with ``--device cpu`` they are
reported as skipped, so that the CPU side (part 1 with ``--tiny``: the ``smoke`` sizes) runs in
the default test suite.
"""

from __future__ import annotations

import argparse
import json
import math
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import torch

from .. import config
from ..data.samplers import TensorSampler, UnpairedSampler
from ..models import registry
from ..quiet import expected_warnings
from ..train.trainer import Trainer
from ..train.watch import peak_memory_mb

REPO = Path(__file__).resolve().parents[2]
#: Largest first-step difference between bf16 and fp32 losses, relative to max(1, |fp32|).
TOLERANCE = 0.1
#: (label, config section, overrides) of every family checked.
FAMILIES = (("fastgan", "fastgan", {"lpips_weights": None}), ("stylegan2", "stylegan2", {}),
            ("shsgan", "shsgan", {}), ("classic", "classic", {}),
            ("cfastgan_mask", "cond_gan", {"lpips_weights": None}),
            ("cyclegan", "cyclegan", {"band_min": (0.0,) * 16, "band_max": (1.0,) * 16}),
            ("vae", "vae", {}))


def _trainer(cfg: Any, amp: bool, device: str, seed: int = 0) -> Trainer:
    g = torch.Generator().manual_seed(seed)
    side, n = cfg.image_size, max(2 * cfg.batch_size, 4)
    image = torch.rand(n, cfg.n_bands, side, side, generator=g) * 2 - 1
    if cfg.family == "cyclegan":
        rgb = torch.rand(n, cfg.rgb_channels, side, side, generator=g)
        sampler = UnpairedSampler(image, rgb, cfg.batch_size, seed=seed, augment=None)
    else:
        data = {"image": image}
        if getattr(cfg, "condition", "none") == "mask":
            data["mask"] = (torch.rand(n, 1, side, side, generator=g) > 0.5).float()
        if getattr(cfg, "n_classes", 0) or getattr(cfg, "variant", "") == "acgan":
            data["label"] = torch.arange(n) % 2
        sampler = TensorSampler(data, cfg.batch_size, seed=seed, augment=None)
    with expected_warnings("lpips_fallback"):  # no LPIPS backbone offline: the fallback
        return Trainer(registry.build(cfg, seed=seed), sampler, amp=amp, device=device,
                       log_every=0, ema_decay=cfg.ema_decay)


def _reset_peak(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()


def _peak(device: str) -> float:
    mem = peak_memory_mb()
    return mem.get("peak_cuda_mb", 0.0) if device.startswith("cuda") else mem["peak_rss_mb"]


def check_family(label: str, section: str, overrides: dict, *, profile: str, steps: int,
                 device: str) -> dict[str, Any]:
    """Part 1 for one family (module docstring): one row of the table."""
    cfg = config.resolve(profile, section, **overrides)
    row: dict[str, Any] = {"part": "family", "name": label, "image_size": cfg.image_size,
                           "batch_size": cfg.batch_size}
    with expected_warnings("lpips_fallback"):  # no LPIPS backbone offline: the fallback
        return _steps(cfg, row, steps, device)


def _steps(cfg: Any, row: dict[str, Any], steps: int, device: str) -> dict[str, Any]:
    try:
        _reset_peak(device)
        mixed = _trainer(cfg, amp=True, device=device)
        first = mixed.train_step()  # raises FloatingPointError on a non-finite loss
        t0 = time.perf_counter()
        for _ in range(steps - 1):
            mixed.train_step()
        if device.startswith("cuda"):
            torch.cuda.synchronize()
        per_step = (time.perf_counter() - t0) / max(steps - 1, 1)
        exact = _trainer(cfg, amp=False, device=device).train_step()
        diff = max(abs(first[k] - exact[k]) / max(1.0, abs(exact[k]))
                   for k in exact if k != "step" and k in first)
        row.update(status="ok" if diff <= TOLERANCE else "bf16 differs", steps=steps,
                   seconds_per_step=round(per_step, 4), bf16_vs_fp32=round(diff, 5),
                   peak_mb=round(_peak(device), 1))
    except Exception as err:  # report every family, then fail at the end
        row.update(status=f"failed: {type(err).__name__}: {err}"[:300])
    return row


def check_classifier(*, profile: str, steps: int, device: str) -> dict[str, Any]:
    """Part 1 for the classifier: ``steps`` AdamW steps at its architecture and input size
    (bf16 autocast on CUDA), finite losses, fp32 first-step comparison, peak memory."""
    from ..models.classifiers import build_classifier

    cfg = config.resolve(profile, "classifier")
    row: dict[str, Any] = {"part": "family", "name": f"classifier_{cfg.arch}",
                           "image_size": cfg.image_size, "batch_size": cfg.batch_size}

    def run(amp: bool, n: int) -> tuple[list[float], float]:
        torch.manual_seed(0)
        model = build_classifier(cfg.arch, 16, 2).to(device)
        opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr)
        g = torch.Generator().manual_seed(0)
        x = torch.rand(cfg.batch_size, 16, cfg.image_size, cfg.image_size, generator=g)
        y = torch.arange(cfg.batch_size) % 2
        x, y = x.to(device), y.to(device)
        if amp and device.startswith("cuda"):
            x, model = x.contiguous(memory_format=torch.channels_last), model.to(
                memory_format=torch.channels_last)
        losses, t0 = [], time.perf_counter()
        for _ in range(n):
            with torch.autocast("cuda", torch.bfloat16,
                                enabled=amp and device.startswith("cuda")):
                loss = torch.nn.functional.cross_entropy(model(x), y)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            losses.append(float(loss.detach()))
        return losses, (time.perf_counter() - t0) / n

    try:
        _reset_peak(device)
        mixed, per_step = run(True, steps)
        exact, _ = run(False, 1)
        if not all(math.isfinite(v) for v in mixed):
            raise FloatingPointError(f"non-finite classifier losses {mixed}")
        diff = abs(mixed[0] - exact[0]) / max(1.0, abs(exact[0]))
        row.update(status="ok" if diff <= TOLERANCE else "bf16 differs", steps=steps,
                   seconds_per_step=round(per_step, 4), bf16_vs_fp32=round(diff, 5),
                   peak_mb=round(_peak(device), 1))
    except Exception as err:
        row.update(status=f"failed: {type(err).__name__}: {err}"[:300])
    return row


def _command(name: str, cmd: list[str], timeout: int) -> dict[str, Any]:
    t0 = time.perf_counter()
    try:
        r = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=timeout)
        status = "ok" if r.returncode == 0 else f"failed (exit {r.returncode}): " + (
            r.stdout + r.stderr)[-300:]
    except subprocess.TimeoutExpired:
        status = f"failed: over {timeout} s"
    return {"part": "command", "name": name, "status": status,
            "seconds": round(time.perf_counter() - t0, 1)}


def slow_parts(device: str) -> list[dict[str, Any]]:
    """Parts 2-4 (module docstring), each a row; skipped rows without CUDA."""
    if not (device.startswith("cuda") and torch.cuda.is_available()):
        return [{"part": "command", "name": n, "status": "skipped: no CUDA device"}
                for n in ("grid_fractional_gpu", "pytest_gpu", "notebook_03_quick")]
    rows = []
    code = ("from hsilib.bench.grid import _grid; from hsilib.study.ray_executor import "
            "RayExecutor; import time; run = _grid(lambda: RayExecutor(num_gpus=0.25), 8, "
            "'cuda'); t = time.perf_counter(); run(); print(time.perf_counter() - t)")
    rows.append(_command("grid_fractional_gpu", [sys.executable, "-c", code], 180))
    rows.append(_command("pytest_gpu", [sys.executable, "-m", "pytest", "-q", "-m", "gpu"], 180))
    with tempfile.TemporaryDirectory() as tmp:
        rows.append(_command("notebook_03_quick", [
            sys.executable, str(REPO / "run_all.py"), "--profile", "quick", "--only", "01", "03",
            "--out", str(Path(tmp) / "run")], 420))
    return rows


def format_table(rows: list[dict[str, Any]]) -> str:
    """The printed table: one line per family or command."""
    lines = [f"{'check':24s} {'status':14s} {'s/step':>8s} {'bf16 vs fp32':>12s} "
             f"{'peak MB':>9s} {'seconds':>8s}"]
    for r in rows:
        status = r["status"] if len(r["status"]) <= 14 else r["status"][:11] + "..."
        lines.append(f"{r['name']:24s} {status:14s} {r.get('seconds_per_step', ''):>8} "
                     f"{r.get('bf16_vs_fp32', ''):>12} {r.get('peak_mb', ''):>9} "
                     f"{r.get('seconds', ''):>8}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--device", default="cuda", help="cuda (default) or cpu")
    ap.add_argument("--steps", type=int, default=3, help="training steps per family (>= 2)")
    ap.add_argument("--tiny", action="store_true", help="the smoke profile's sizes (CPU tests)")
    ap.add_argument("--skip-slow", action="store_true", help="leave out parts 2-4")
    ap.add_argument("--out", default="gpu_check.json", help="the JSON report")
    args = ap.parse_args(argv)
    if args.steps < 2:
        raise SystemExit("error: --steps must be >= 2 (the first step is not timed)")
    if args.device.startswith("cuda") and not torch.cuda.is_available():
        raise SystemExit("error: no CUDA device here; run with --device cpu for the CPU side")
    profile = "smoke" if args.tiny else "full"
    rows = [check_family(*f, profile=profile, steps=args.steps, device=args.device)
            for f in FAMILIES]
    rows.append(check_classifier(profile=profile, steps=args.steps, device=args.device))
    if not args.skip_slow:
        rows += slow_parts(args.device)
    print(format_table(rows))
    report = {"device": args.device, "profile": profile, "tolerance": TOLERANCE,
              "cuda_device": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
              "rows": rows}
    Path(args.out).write_text(json.dumps(report, indent=1))
    print(f"report: {args.out}")
    return 0 if all(r["status"] == "ok" or r["status"].startswith("skipped")
                    for r in rows) else 1


if __name__ == "__main__":
    raise SystemExit(main())
