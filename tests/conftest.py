"""Shared pytest setup: offline imports, one CPU thread pair, and deselected markers."""

import os

os.environ.setdefault("NO_ALBUMENTATIONS_UPDATE", "1")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HSILIB_PLAIN_PROGRESS", "1")


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
