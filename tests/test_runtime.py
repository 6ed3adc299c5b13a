import os
import random
import subprocess
import sys

import numpy as np
import pytest
import torch

from hsilib import runtime


def test_seed_everything_reproduces_python_numpy_torch():
    def draw():
        legacy = np.random.rand()  # noqa: NPY002 (the legacy global state is what is seeded)
        return random.random(), legacy, torch.rand(1).item()

    rng = runtime.seed_everything(123)
    a, g1 = draw(), rng.random()
    rng = runtime.seed_everything(123)
    b, g2 = draw(), rng.random()
    assert a == b and g1 == g2
    runtime.seed_everything(124)
    assert draw() != a


def test_seed_rejects_bad_values():
    with pytest.raises(ValueError, match="seed"):
        runtime.seed_everything(-1)
    with pytest.raises(ValueError, match="seed"):
        runtime.seed_everything(1.5)  # type: ignore[arg-type]


def test_device_auto_falls_back_to_cpu_without_cuda(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: False)
    assert runtime.device("auto").type == "cpu"
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert runtime.device("auto").type == "cuda"
    assert runtime.device("cpu").type == "cpu"


def test_progress_is_one_summary_line_outside_a_notebook_and_a_terminal(capsys):
    bar = runtime.progress(range(3), desc="x", unit="cube")
    assert isinstance(bar, runtime.OneLineProgress)  # pytest's stdout is no terminal
    assert list(bar) == [0, 1, 2]
    out = capsys.readouterr().out
    assert out.startswith("x: 3/3 cubes in ") and out.count("\n") == 1 and "\r" not in out


def test_plain_progress_when_asked(monkeypatch):
    monkeypatch.setenv("HSILIB_PLAIN_PROGRESS", "1")
    assert runtime.in_notebook_frontend() is False


def _square(x):
    return x * x


def test_process_pool_works_after_torch_threads_ran():
    torch.ones(256, 256) @ torch.ones(256, 256)  # the parent has live intra-op threads
    with runtime.process_pool(2) as pool:
        assert list(pool.map(_square, range(5))) == [0, 1, 4, 9, 16]


# -- the thread environment ------------------------------------------------------------------
def test_thread_environment_is_passive_with_one_thread_per_core():
    env = runtime.thread_environment()
    n = runtime.physical_cores()
    assert 1 <= n <= (os.cpu_count() or 1)
    assert env == {"OMP_WAIT_POLICY": "PASSIVE", "OMP_NUM_THREADS": str(n),
                   "MKL_NUM_THREADS": str(n), "OPENBLAS_NUM_THREADS": str(n)}
    assert runtime.thread_environment(3)["OMP_NUM_THREADS"] == "3"
    with pytest.raises(ValueError, match="threads"):
        runtime.thread_environment(0)
    args = runtime.kernel_env_args().split()
    assert args[:3] == ["--env", "OMP_WAIT_POLICY", "PASSIVE"] and len(args) == 12


def test_defaults_fill_only_what_is_unset_and_can_be_turned_off(monkeypatch):
    for k in ("OMP_WAIT_POLICY", *runtime.THREAD_VARIABLES, "HSILIB_THREAD_DEFAULTS"):
        monkeypatch.delenv(k, raising=False)
    monkeypatch.setenv("OMP_NUM_THREADS", "1")  # the user's choice wins
    added = runtime.apply_thread_defaults()
    assert added["OMP_WAIT_POLICY"] == "PASSIVE" and "OMP_NUM_THREADS" not in added
    assert os.environ["OMP_NUM_THREADS"] == "1"
    monkeypatch.delenv("OMP_WAIT_POLICY")
    monkeypatch.setenv("HSILIB_THREAD_DEFAULTS", "0")
    assert runtime.apply_thread_defaults() == {} and "OMP_WAIT_POLICY" not in os.environ


def _child(code, **env):
    base = {k: v for k, v in os.environ.items()
            if k not in ("OMP_WAIT_POLICY", *runtime.THREAD_VARIABLES, "HSILIB_THREAD_DEFAULTS")}
    out = subprocess.run([sys.executable, "-c", code], env=base | env, capture_output=True,
                         text=True, check=True)
    return out.stdout.split()


def test_importing_hsilib_first_gives_torch_the_passive_policy():
    # OpenMP reads the policy when torch is imported: importing hsilib before must set it
    code = ("import os, hsilib, torch; "
            "print(os.environ.get('OMP_WAIT_POLICY'), torch.get_num_threads())")
    policy, threads = _child(code)
    assert policy == "PASSIVE" and int(threads) == runtime.physical_cores()
    policy, _ = _child(code, HSILIB_THREAD_DEFAULTS="0")
    assert policy == "None"
