"""Helpers of the cluster tests (imported as a plain module)."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
SRC = REPO / "src"


def worker_env(home: Path) -> dict[str, str]:
    """What a worker process needs: this tree's nzarc and the model store ``home``."""
    path = os.pathsep.join([str(SRC), os.environ.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    return {"NZARC_HOME": str(home), "PYTHONPATH": path, "OMP_NUM_THREADS": "1"}


@contextlib.contextmanager
def two_workers(home: Path) -> Iterator[Any]:
    """A real LocalCluster on 127.0.0.1 of two single-threaded worker processes whose model
    store is ``home`` (its nannies restart a killed one)."""
    import distributed

    with distributed.LocalCluster(
        processes=True, n_workers=2, threads_per_worker=1, host="127.0.0.1",
        dashboard_address=None, env=worker_env(home),
    ) as cluster:
        yield cluster


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
