"""Small seeded images for the metric tests: uniform noise and stand-in-like smooth spectra."""

from __future__ import annotations

import numpy as np
import pytest
import torch


def smooth_spectra_images(n: int, size: int = 32, seed: int = 0) -> torch.Tensor:
    """``n x 16 x size x size`` positive, smooth spectra (a skin-like red rise with a melanin-like
    blue drop) varying smoothly in space: a stand-in for reflectance cubes in [0, 1]."""
    rng = np.random.default_rng(seed)
    wl = np.linspace(0.0, 1.0, 16)
    yy, xx = np.mgrid[0:size, 0:size] / size
    out = np.empty((n, 16, size, size), np.float32)
    for i in range(n):
        mel = 0.2 + 0.6 * rng.random() * np.exp(-((xx - rng.random()) ** 2 + (yy - rng.random())
                                                  ** 2) / 0.1)
        base = 0.25 + 0.3 * wl[:, None, None] ** 2
        cube = base * np.exp(-mel[None] * (1.2 - wl[:, None, None]))
        out[i] = cube + 0.01 * rng.standard_normal(cube.shape)
    return torch.from_numpy(np.clip(out, 1e-3, 1.0))


@pytest.fixture
def random_pair():
    g = torch.Generator().manual_seed(0)
    return (torch.rand(4, 16, 32, 32, generator=g), torch.rand(4, 16, 32, 32, generator=g))


@pytest.fixture
def smooth_pair():
    return smooth_spectra_images(4, seed=1), smooth_spectra_images(4, seed=2)


@pytest.fixture(scope="session")
def smooth_images():
    """The :func:`smooth_spectra_images` factory, for tests that build their own sets."""
    return smooth_spectra_images
