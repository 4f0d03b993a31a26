"""Helpers of the cluster tests (imported as a plain module)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
SRC = REPO / "src"


def worker_env(home: Path) -> dict[str, str]:
    """What a worker process needs: this tree's nzarc and the model store ``home``."""
    path = os.pathsep.join([str(SRC), os.environ.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    return {"NZARC_HOME": str(home), "PYTHONPATH": path, "OMP_NUM_THREADS": "1"}


def run_cli(home: Path, *args: str | Path, env: dict[str, str] | None = None,
            timeout: float = 300) -> subprocess.CompletedProcess[str]:
    """``python -m nzarc ARGS`` from this tree, with ``home`` as NZARC_HOME."""
    full = {k: v for k, v in os.environ.items() if not k.startswith("NZARC_")}
    full.update(worker_env(home))
    full.update(env or {})
    return subprocess.run(
        [sys.executable, "-m", "nzarc", *map(str, args)], env=full, capture_output=True,
        text=True, timeout=timeout, stdin=subprocess.DEVNULL, start_new_session=True,
    )
