"""Benchmarks: data (registered with hsilib.bench.register)."""

from __future__ import annotations
