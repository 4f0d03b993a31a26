"""Paths and argument types shared by the benchmark commands (no imports from bench/).

:mod:`bench.cli`, :mod:`bench.throughput` and :mod:`bench.scale` all take these from here,
so the subcommands do not import back from the command line that dispatches to them.
"""

from __future__ import annotations

import argparse
import re
from pathlib import Path

__all__ = ["parse_size", "REPO_ROOT", "DEFAULT_CORPUS", "DEFAULT_OUT"]

REPO_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_CORPUS = REPO_ROOT.parent / "shared" / "corpus"
DEFAULT_OUT = REPO_ROOT / "bench"
_SIZE_RE = re.compile(r"^(\d+)([KMG]i?B?|B)?$", re.IGNORECASE)


def parse_size(text: str) -> int:
    """``"256M"`` → 256 MiB; K, M, G are powers of 1024; a bare number is bytes."""
    match = _SIZE_RE.match(text.strip())
    if not match:
        raise argparse.ArgumentTypeError(f"not a size: {text!r} (examples: 64K, 256M, 2G)")
    unit = (match.group(2) or "B")[0].upper()
    return int(match.group(1)) * {"B": 1, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30}[unit]
