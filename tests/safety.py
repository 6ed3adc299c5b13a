"""Helpers of the reliability tests: a byte-level snapshot of a folder tree.

``snapshot(root)`` maps every file and folder under ``root`` (relative path) to the SHA-256 of its
bytes (``"dir"`` for folders). Two equal snapshots mean nothing was created, deleted or changed.
"""

from __future__ import annotations

import hashlib
from pathlib import Path


def snapshot(root: str | Path) -> dict[str, str]:
    root = Path(root)
    out = {}
    for p in sorted(root.rglob("*")):
        rel = str(p.relative_to(root))
        out[rel] = "dir" if p.is_dir() else hashlib.sha256(p.read_bytes()).hexdigest()
    return out
