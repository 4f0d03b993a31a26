"""The worker threads of the chunk pipeline: how many, the pool they run in, and how the
submitting thread waits for them without missing a signal.

:func:`tune_process_allocator` belongs here too: it sizes glibc's heap for the chunk-sized
buffers those workers allocate.
"""

from __future__ import annotations

import os
from concurrent.futures import Executor, Future, ThreadPoolExecutor
from typing import Any

from nzarc.errors import UsageError
from nzarc.signals import CancelToken

__all__ = [
    "CancellingExecutor",
    "default_jobs",
    "make_executor",
    "cancel_token",
    "tune_process_allocator",
    "wait_result",
]


def default_jobs(jobs: int | None) -> int:
    """``jobs``, or one per CPU when it is None; UsageError when it is below 1."""
    if jobs is None:
        return max(1, os.cpu_count() or 1)
    if jobs < 1:
        raise UsageError("jobs must be at least 1")
    return jobs


#: glibc ``mallopt`` parameters (malloc.h) and the values :func:`tune_process_allocator` sets.
_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3
_MMAP_THRESHOLD = 32 << 20  # glibc's largest allowed value on 64-bit systems
_TRIM_THRESHOLD = 256 << 20


def tune_process_allocator() -> bool:
    """Let glibc's malloc reuse chunk-sized buffers instead of returning them to the kernel.

    Encoding and decoding allocate and free a few buffers of about ``chunk_size`` per chunk;
    by default glibc maps and unmaps (or trims) such blocks, so every chunk's memory is
    faulted in afresh (about 40 % of ``nzarc create``'s system time on 1 MiB chunks).
    Raising the mmap and trim thresholds keeps them in the heap; peak memory is unchanged,
    but freed memory is returned to the system only when the process exits. Meant for the
    ``nzarc`` command, which owns its process: the library never calls it. Does nothing
    (returns False) off glibc or when the user set ``MALLOC_*_`` / ``GLIBC_TUNABLES``.
    """
    if any(k.startswith("MALLOC_") or k == "GLIBC_TUNABLES" for k in os.environ):
        return False
    try:
        if not os.confstr("CS_GNU_LIBC_VERSION"):
            return False
        import ctypes

        libc = ctypes.CDLL(None)
        mallopt = libc.mallopt
    except (AttributeError, OSError, ValueError):
        return False
    mallopt.argtypes = (ctypes.c_int, ctypes.c_int)
    mallopt.restype = ctypes.c_int
    ok = mallopt(_M_MMAP_THRESHOLD, _MMAP_THRESHOLD) == 1
    return mallopt(_M_TRIM_THRESHOLD, _TRIM_THRESHOLD) == 1 and ok


#: Seconds between checks while the main thread waits for a worker (it sees signals meanwhile).
_WAIT_POLL = 0.2


class CancellingExecutor(ThreadPoolExecutor):
    """A thread pool with a :class:`~nzarc.signals.CancelToken`: ``shutdown(cancel_futures=True)``
    (an aborted archive) sets it, so that cancellable codec work already running stops at its
    next check instead of running to the end of its chunks."""

    def __init__(self, max_workers: int) -> None:
        super().__init__(max_workers=max_workers, thread_name_prefix="nzarc")
        self.cancel = CancelToken()

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        if cancel_futures:
            self.cancel.set()
        super().shutdown(wait=wait, cancel_futures=cancel_futures)


def make_executor(jobs: int) -> CancellingExecutor:
    """A pool of ``jobs`` worker threads with its own cancel token."""
    return CancellingExecutor(jobs)


def cancel_token(executor: Executor, cancel: CancelToken | None) -> CancelToken:
    """``cancel``, else ``executor``'s own token (see :func:`make_executor`), else a fresh one."""
    if cancel is not None:
        return cancel
    token = getattr(executor, "cancel", None)
    return token if isinstance(token, CancelToken) else CancelToken()


def wait_result(fut: Future[Any], cancel: CancelToken) -> Any:
    """``fut.result()``, waited for in short steps; when the waiting thread is interrupted
    (KeyboardInterrupt, a termination signal), ``cancel`` is set before the exception goes on,
    so that the worker stops too."""
    try:
        while True:
            try:
                return fut.result(timeout=_WAIT_POLL)
            except TimeoutError:
                if fut.done():  # a worker's own TimeoutError
                    raise
    except Exception:
        raise
    except BaseException:
        cancel.set()
        raise
