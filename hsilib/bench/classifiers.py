"""Benchmarks: classifiers (registered with hsilib.bench.register)."""

from __future__ import annotations
