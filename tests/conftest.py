"""Shared pytest setup: offline imports, one CPU thread pair, and deselected markers."""

import os

os.environ.setdefault("NO_ALBUMENTATIONS_UPDATE", "1")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HSILIB_PLAIN_PROGRESS", "1")
