"""The identity of a model file: :func:`file_sha256`, its SHA-256 (the name it is stored and
pinned under). Cheap to import (hashlib only), so the model store can use it without loading
the runtime."""

from __future__ import annotations

import hashlib
from pathlib import Path

__all__ = ["file_sha256"]


def file_sha256(path: str | Path) -> str:
    """Lowercase hex SHA-256 of a file, read in 1 MiB pieces."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while True:
            b = f.read(1 << 20)
            if not b:
                break
            h.update(b)
    return h.hexdigest()
