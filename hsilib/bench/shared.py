"""Generator steps on a shared CPU: idle vs beside a competing process, per thread policy.

OpenMP's default lets idle threads spin for a while before they sleep; beside another
CPU-bound process those spinning threads take the cores the working ones need. This measures
each family's ``quick`` training step (:data:`CASES`) under four conditions, interleaved:

- ``passive`` / ``default``: the project's thread environment
  (:func:`hsilib.runtime.thread_environment`, a passive wait policy) or OpenMP's own default
  (``HSILIB_THREAD_DEFAULTS=0``); the policy is fixed when a process imports torch, so each
  policy has its own worker process, started once;
- ``idle`` / ``shared``: alone, or beside one *competitor*, a 2-thread torch training loop (a
  small CNN, run with the same policy as the worker it competes with) that is paused
  (``SIGSTOP``) while the other conditions are timed.

The rounds visit the four conditions in turn, their order rotated each round, and report
medians of seconds per step with the load average. ``shared / idle`` says how much a step
slows beside one other job (2 would be a fair share of 2 cores); ``passive idle / default
idle`` whether the passive policy costs anything on an idle machine.
"""

from __future__ import annotations

import os
import signal
import statistics
import subprocess
import sys
import time

from .compare import load_average
from .steps import CASES

#: the cases measured, with the trainer steps per timed call
SHARED_CASES = {"fastgan_quick": 4, "cyclegan_quick": 4, "stylegan2_quick": 16}
POLICIES = ("passive", "default")

_COMPETITOR = """
import torch
torch.set_num_threads(2)
torch.manual_seed(0)
net = torch.nn.Sequential(torch.nn.Conv2d(16, 32, 3, padding=1), torch.nn.ReLU(),
                          torch.nn.Conv2d(32, 32, 3, padding=1), torch.nn.ReLU(),
                          torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten(),
                          torch.nn.Linear(32, 2))
opt = torch.optim.Adam(net.parameters())
x, y = torch.randn(32, 16, 64, 64), torch.randint(0, 2, (32,))
while True:
    loss = torch.nn.functional.cross_entropy(net(x), y)
    opt.zero_grad()
    loss.backward()
    opt.step()
"""


def policy_env(policy: str, threads: int | None = None) -> dict[str, str]:
    """This process's environment with the thread variables of ``policy``."""
    from ..runtime import THREAD_VARIABLES, thread_environment

    env = {k: v for k, v in os.environ.items()
           if k not in (*THREAD_VARIABLES, "OMP_WAIT_POLICY", "HSILIB_THREAD_DEFAULTS")}
    if policy == "passive":
        return env | thread_environment(threads)
    if policy == "default":
        return env | {"HSILIB_THREAD_DEFAULTS": "0"}
    raise ValueError(f"policy must be one of {POLICIES}, got {policy!r}")


class Process:
    """A child process: a competitor (``code``) or a timing worker (``case``)."""

    def __init__(self, policy: str, *, case: str | None = None, steps: int = 1) -> None:
        if case is None:
            args = [sys.executable, "-c", _COMPETITOR]
            env = policy_env(policy, threads=2)
        else:
            args = [sys.executable, "-m", "hsilib.bench.shared", "--serve", case, str(steps)]
            env = policy_env(policy)
        self.proc = subprocess.Popen(args, env=env, stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, text=True)
        self.running = True

    def pause(self, on: bool) -> None:
        """Stop (``on``) or continue the process."""
        if on == self.running:
            self.proc.send_signal(signal.SIGSTOP if on else signal.SIGCONT)
            self.running = not on

    def time(self) -> float:
        """One timed call of a worker: seconds per step."""
        self.proc.stdin.write("run\n")
        self.proc.stdin.flush()
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError(f"the timing worker {self.proc.args} ended early")
        return float(line)

    def close(self) -> None:
        self.pause(False)
        self.proc.kill()
        self.proc.wait()


def serve(case: str, steps: int) -> None:
    """Worker loop: build ``case``'s step, then answer each ``run`` line with seconds per
    step of ``steps`` steps."""
    import hsilib

    from .steps import project_step, timed_steps

    fn = timed_steps(project_step(hsilib, CASES[case]), steps)
    fn()  # warm-up: first-call allocations, thread start
    for line in sys.stdin:
        if line.strip() == "run":
            t0 = time.perf_counter()
            n = fn()
            print((time.perf_counter() - t0) / (n * CASES[case].steps_per_call), flush=True)


def measure(case: str, rounds: int) -> dict:
    """Seconds per step of ``case`` under the four conditions, ``rounds`` interleaved rounds
    after one warm-up round."""
    steps = max(1, SHARED_CASES.get(case, 4) // CASES[case].steps_per_call)
    workers = {p: Process(p, case=case, steps=steps) for p in POLICIES}
    rivals = {p: Process(p) for p in POLICIES}
    conditions = [(p, s) for p in POLICIES for s in ("idle", "shared")]
    times: dict[str, list[float]] = {f"{p} {s}": [] for p, s in conditions}
    load0 = load_average()
    try:
        for r in range(rounds + 1):
            k = r % len(conditions)
            for policy, state in conditions[k:] + conditions[:k]:
                for p, rival in rivals.items():
                    rival.pause(not (state == "shared" and p == policy))
                if state == "shared":
                    time.sleep(0.5)  # the competitor back at full speed
                t = workers[policy].time()
                if r:
                    times[f"{policy} {state}"].append(t)
    finally:
        for proc in (*workers.values(), *rivals.values()):
            proc.close()
    med = {k: statistics.median(v) for k, v in times.items()}
    return {"case": case, "note": CASES[case].note, "load_before": load0,
            "load_after": load_average(), "median_s": med, "times": times,
            "shared_over_idle": {p: med[f"{p} shared"] / med[f"{p} idle"] for p in POLICIES},
            "passive_over_default_idle": med["passive idle"] / med["default idle"]}


def format_row(row: dict) -> str:
    m = row["median_s"]
    return (f"{row['case']:16s} passive: idle {m['passive idle']:.3f} s, shared "
            f"{m['passive shared']:.3f} s (x{row['shared_over_idle']['passive']:.2f}); "
            f"default: idle {m['default idle']:.3f} s, shared {m['default shared']:.3f} s "
            f"(x{row['shared_over_idle']['default']:.2f}); passive/default idle "
            f"{row['passive_over_default_idle']:.2f}  "
            f"[load {row['load_before']:.2f} -> {row['load_after']:.2f}]")


if __name__ == "__main__":  # the worker: python -m hsilib.bench.shared --serve CASE STEPS
    if len(sys.argv) != 4 or sys.argv[1] != "--serve":
        raise SystemExit("usage: python -m hsilib.bench.shared --serve CASE STEPS")
    serve(sys.argv[2], int(sys.argv[3]))
