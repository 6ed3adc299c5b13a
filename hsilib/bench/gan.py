"""Benchmarks: gan (registered with hsilib.bench.register)."""

from __future__ import annotations
