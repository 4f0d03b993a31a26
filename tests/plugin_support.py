"""Fake installed plugin distributions for tests: a module and its ``.dist-info``."""

from __future__ import annotations

import textwrap
from pathlib import Path


def make_dist(root: Path, dist: str, entry_point: str, module: str, source: str) -> None:
    """A fake installed distribution: a module plus ``<dist>.dist-info`` with one entry point."""
    (root / f"{module}.py").write_text(textwrap.dedent(source))
    info = root / f"{dist.replace('-', '_')}-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text(f"[nzarc]\n{entry_point} = {module}\n")
