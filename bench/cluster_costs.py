"""Client-side and scheduler costs of the cluster path, for the cost model of
spec/DISTRIBUTED.md: measured by :mod:`bench.cluster_scaling` in the same run.

* :func:`seal_rate`: MB/s of nzarc's own payload sealing (``nzarc.crypto.suites.make_aead``,
  ChaCha20-Poly1305) over ``size`` bytes in default-size segments.
* :func:`write_rate`: MB/s of writing ``size`` bytes to a file in ``directory`` (64 KiB
  writes, fsync included).
* :func:`store_create_rate`: MB/s of ``nzarc.create`` with the store codec, encrypted to an
  X25519 recipient: the client's whole pipeline (read, chunk, seal, write) without coding.
* :func:`task_overhead`: the scheduler round trip of a trivial task (sequential submit and
  result) and the task rate of a burst of trivial tasks, on a running cluster.
"""

from __future__ import annotations

import operator
import os
import time
from pathlib import Path
from typing import Any

__all__ = ["seal_rate", "store_create_rate", "task_overhead", "write_rate"]

_MB = 1_000_000


def seal_rate(size: int) -> dict[str, float]:
    """Seal ``size`` bytes in DEFAULT_SEGMENT pieces; MB/s (1 MB = 10^6 bytes)."""
    from nzarc.crypto.suites import make_aead
    from nzarc.format.layout import DEFAULT_SEGMENT, SUITE_CHACHA

    aead = make_aead(SUITE_CHACHA, os.urandom(32))
    segment = os.urandom(DEFAULT_SEGMENT)
    count = max(1, size // DEFAULT_SEGMENT)
    t0 = time.perf_counter()
    for i in range(count):
        aead.seal(i.to_bytes(12, "big"), segment)
    elapsed = time.perf_counter() - t0
    total = count * DEFAULT_SEGMENT
    return {"bytes": total, "seconds": round(elapsed, 4), "mb_s": round(total / elapsed / _MB, 1)}


def write_rate(size: int, directory: Path) -> dict[str, float]:
    """Write ``size`` bytes to a new file under ``directory`` (fsync included); MB/s."""
    block = os.urandom(1 << 16)
    count = max(1, size // len(block))
    path = directory / "write-rate.bin"
    t0 = time.perf_counter()
    with path.open("wb") as fh:
        for _ in range(count):
            fh.write(block)
        fh.flush()
        os.fsync(fh.fileno())
    elapsed = time.perf_counter() - t0
    path.unlink()
    total = count * len(block)
    return {"bytes": total, "seconds": round(elapsed, 4), "mb_s": round(total / elapsed / _MB, 1)}


def store_create_rate(size: int, directory: Path) -> dict[str, float]:
    """``nzarc.create`` of ``size`` random bytes, store codec, X25519-encrypted; MB/s."""
    import nzarc
    from nzarc.api import generate_identity

    src = directory / "store-input.bin"
    src.write_bytes(os.urandom(size))
    _, public = generate_identity()
    out = directory / "store.nzarc"
    t0 = time.perf_counter()
    nzarc.create(out, [src], recipients=[public], codec="store")
    elapsed = time.perf_counter() - t0
    src.unlink()
    out.unlink()
    return {"bytes": size, "seconds": round(elapsed, 4), "mb_s": round(size / elapsed / _MB, 1)}


def task_overhead(address: str, sequential: int, burst: int) -> dict[str, float]:
    """Trivial tasks on the cluster at ``address``: mean round trip of ``sequential``
    submit-then-result calls (ms) and the rate of ``burst`` tasks submitted at once (tasks/s)."""
    import distributed

    with distributed.Client(address, timeout=60, set_as_default=False) as client:
        client.submit(operator.pos, -1, pure=False).result()  # warm the connection and the function
        t0 = time.perf_counter()
        for i in range(sequential):
            client.submit(operator.pos, i, pure=False).result()
        round_trip = (time.perf_counter() - t0) / sequential
        t0 = time.perf_counter()
        futures: list[Any] = client.map(operator.pos, range(burst), pure=False)
        client.gather(futures)
        burst_s = time.perf_counter() - t0
    return {
        "sequential_tasks": sequential,
        "round_trip_ms": round(round_trip * 1000, 2),
        "burst_tasks": burst,
        "burst_seconds": round(burst_s, 3),
        "burst_tasks_per_s": round(burst / burst_s, 1),
    }
