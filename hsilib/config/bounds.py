"""Caps on the values a config field may take: generous, far above every profile's value, low
enough to stop a typo early (``steps=10**12``) with a message that names the field. Each field
declares its bound beside it, e.g. ``steps: Annotated[int, Range(1, MAX_STEPS)]``; the check
itself lives in :mod:`hsilib.config.engine`."""

from __future__ import annotations


class Cap(int):
    """An upper bound that also says what a field counts (``kind``): a field declared with
    ``Range(..., MAX_STEPS)`` counts steps, whatever the number, so that a transformation of a
    whole config (the dry run of :mod:`hsilib.config.dryrun`) finds its fields by their
    declaration (:attr:`hsilib.config.engine.Range.kind`)."""

    kind: str

    def __new__(cls, value: int, kind: str) -> Cap:
        self = super().__new__(cls, value)
        self.kind = kind
        return self


MAX_SIDE = 4096  # image, crop and feature sides in pixels
MAX_BATCH = 65_536  # images per batch
MAX_STEPS = Cap(10_000_000, "steps")  # optimiser steps (and step intervals)
MAX_EPOCHS = Cap(100_000, "epochs")  # training epochs, early-stopping patience
MAX_COUNT = Cap(10_000_000, "count")  # samples, pixels, bootstrap resamples, permutations
MAX_IMAGES = 100_000  # cubes or images to generate
MAX_WIDTH = 65_536  # channels and latent dimensions
MAX_WORKERS = 256  # worker processes
MAX_PERCENT = 10_000.0  # synthetic amounts in % of the real count (100 x the real data)
