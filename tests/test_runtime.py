import random

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


def test_progress_is_plain_text_outside_a_notebook(capsys):
    bar = runtime.progress(range(3), desc="x")
    assert type(bar).__module__.startswith("tqdm") and "notebook" not in type(bar).__module__
    assert list(bar) == [0, 1, 2]


def test_plain_progress_when_asked(monkeypatch):
    monkeypatch.setenv("HSILIB_PLAIN_PROGRESS", "1")
    assert runtime.in_notebook_frontend() is False


def _square(x):
    return x * x


def test_process_pool_works_after_torch_threads_ran():
    torch.ones(256, 256) @ torch.ones(256, 256)  # the parent has live intra-op threads
    with runtime.process_pool(2) as pool:
        assert list(pool.map(_square, range(5))) == [0, 1, 4, 9, 16]
