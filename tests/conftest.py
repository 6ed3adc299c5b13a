"""Shared pytest setup: offline imports, the project's thread environment, deselected markers,
and the tiny segmented fake stand-in that the notebook-01 tests share."""

import os

import pytest

os.environ.setdefault("NO_ALBUMENTATIONS_UPDATE", "1")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HSILIB_PLAIN_PROGRESS", "1")

# before any test module imports torch: idle OpenMP threads sleep instead of spinning (the
# suite shares the cores with the notebook kernels it starts), one thread per physical core
from hsilib.runtime import apply_thread_defaults  # noqa: E402

apply_thread_defaults()


def pytest_collection_modifyitems(config, items):
    """`gpu` tests, when selected on purpose, still skip cleanly on a machine without CUDA."""
    import pytest

    if not any("gpu" in item.keywords for item in items):
        return
    import torch

    if torch.cuda.is_available():
        return
    skip = pytest.mark.skip(reason="needs a CUDA device")
    for item in items:
        if "gpu" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(autouse=True)
def _no_notebook_declared():
    """Each test starts outside any notebook: a test that calls ``setup("03", ...)`` must not
    make the test-split guard refuse the test split in the tests that follow."""
    from hsilib import guard

    guard.enter(None)
    yield
    guard.enter(None)


@pytest.fixture(scope="session")
def fake_crops(tmp_path_factory):
    """(root, dataset, crop index) of a 2 MM + 2 DN + 1 Other fake stand-in, cropped at 16 px."""
    from fakedata import make_fake_standin

    from hsilib.data.hsi_dermoscopy import HSIDermoscopy
    from hsilib.data.preprocess import make_crops

    root = make_fake_standin(tmp_path_factory.mktemp("fake"), n=(2, 2, 1), seed=4, hair=False)
    ds = HSIDermoscopy(root / "hsidermoscopy")
    index = make_crops(ds, root / "crops", size=16, min_area=100, progress=False)
    return root, ds, index


@pytest.fixture(scope="session")
def smoke_run(tmp_path_factory):
    """(run folder, finished process) of one `smoke` run of every notebook, shared by the
    notebook tests and the README-table tests (once per session)."""
    import subprocess
    import sys
    from pathlib import Path

    repo = Path(__file__).resolve().parent.parent
    out = tmp_path_factory.mktemp("smoke_run")
    proc = subprocess.run([sys.executable, str(repo / "run_all.py"), "--profile", "smoke",
                           "--out", str(out)], cwd=repo, capture_output=True, text=True)
    return out, proc
