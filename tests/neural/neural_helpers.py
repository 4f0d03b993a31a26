"""Helpers shared by the neural runtime tests (imported as a plain module)."""

from __future__ import annotations

import os
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
CORPUS = REPO.parent / "shared" / "corpus"


def installed_real_model() -> str | None:
    """SHA-256 of the installed SmolLM2 model in $NZARC_HOME, or None."""
    from nzarc.neural.store import ModelStore

    try:
        store = ModelStore.default()
        for entry in store.list():
            if entry.name == "smollm2-135m":
                return entry.sha256
    except Exception:
        return None
    return None


def env_without_threads() -> dict[str, str]:
    env = dict(os.environ)
    for k in (
        "ONEDNN_MAX_CPU_ISA",
        "ATEN_CPU_CAPABILITY",
        "NZARC_MATMUL",
        "NZARC_KERNELS",
        "OMP_NUM_THREADS",
        "NUMBA_NUM_THREADS",
    ):
        env.pop(k, None)
    return env
