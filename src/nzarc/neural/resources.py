"""What the neural runtime needs from the process, checked before it is loaded.

Loading torch, numba/llvmlite and a model under a low address-space limit (``ulimit -v``)
does not fail cleanly: libgomp (torch's OpenMP) ends the process when it cannot start a
thread, leaving no chance to remove a half-written archive, and llvmlite reports a missing
``libllvmlite.so``. So before the runtime is loaded, :func:`check_runtime_memory` compares the
soft ``RLIMIT_AS``/``RLIMIT_DATA`` limits with the runtime's need and raises
:class:`~nzarc.errors.ResourceError` (one line naming memory and the limit); and
:func:`memory_failure` turns a failed load (ImportError, OSError, MemoryError) into that error
when a limit is set, or when the failure is itself a MemoryError.

The need: :data:`RUNTIME_BASE` (torch, numba/llvmlite and the fused kernels with their
threads: about 0.85 GB of address space once imported, 1.5-1.7 GB at the peak of a small
create or extract with SmolLM2-135M) plus twice the model file (mapped, and its working
copies). Larger inputs need more (decoding batches are held to ``NZARC_NEURAL_MEMORY``).
"""

from __future__ import annotations

import os
from pathlib import Path

from nzarc.errors import ResourceError

__all__ = ["RUNTIME_BASE", "address_limit", "runtime_need", "check_runtime_memory", "memory_failure"]

#: Address space the runtime needs besides the model (measured, with headroom).
RUNTIME_BASE = 2 << 30
_HINT = "raise the limit (ulimit -v){}; only the neural codec needs this much (create -c zstd does not)"


def address_limit() -> int | None:
    """The lower of the soft RLIMIT_AS and RLIMIT_DATA in bytes; None when neither is set
    (or on a system without them)."""
    try:
        import resource
    except ImportError:  # not a POSIX system
        return None
    limits = []
    for name in ("RLIMIT_AS", "RLIMIT_DATA"):
        which = getattr(resource, name, None)
        if which is None:
            continue
        try:
            soft, _ = resource.getrlimit(which)
        except (OSError, ValueError):
            continue
        if soft != resource.RLIM_INFINITY and soft >= 0:
            limits.append(int(soft))
    return min(limits) if limits else None


def runtime_need(model_bytes: int) -> int:
    """Bytes of address space to load the runtime and a model file of ``model_bytes``."""
    return RUNTIME_BASE + 2 * max(0, model_bytes)


def _mib(n: int) -> str:
    return f"{n / (1 << 20):.0f} MiB"


def check_runtime_memory(model_path: str | Path | None = None) -> None:
    """Raise ResourceError when the process's memory limit is below :func:`runtime_need`
    for the model at ``model_path`` (its size; 0 when unknown). Does nothing without a limit."""
    limit = address_limit()
    if limit is None:
        return
    size = 0
    if model_path is not None:
        try:
            size = os.stat(model_path).st_size
        except OSError:
            size = 0
    need = runtime_need(size)
    if limit < need:
        raise ResourceError(
            f"not enough memory for the neural codec: it needs about {_mib(need)} of address "
            f"space, the process limit is {_mib(limit)}",
            hint=_HINT.format(f" to at least {_mib(need)}"),
        )


def memory_failure(what: str, exc: BaseException) -> ResourceError | None:
    """For ``exc`` raised while loading ``what`` (torch, the fused kernels, a model): the
    ResourceError naming memory to raise instead when ``exc`` is a MemoryError or the
    process runs under a memory limit (where a failed load is almost always the limit);
    None when it is not a memory problem (the caller reports it as before)."""
    limit = address_limit()
    if not isinstance(exc, MemoryError) and limit is None:
        return None
    where = f" (the process limit is {_mib(limit)})" if limit is not None else ""
    return ResourceError(
        f"not enough memory to load {what}{where}: {type(exc).__name__}", hint=_HINT.format("")
    )
