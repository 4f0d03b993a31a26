"""Background threads that keep the order of their work and bound what waits for them.

:class:`HashPool` and :class:`OrderedHasher` compute SHA-256 digests on one
hashing thread (hashlib releases the GIL on large inputs), so the thread that
reads or writes archive data is not held up by hashing; at most a fixed
number of pieces wait to be hashed.

:class:`OrderedWorker` lets a producer (the thread decrypting and decoding an
archive) hand slow blocking work (file system calls) to a second thread
without losing the order of that work or buffering without bound:

* calls run one at a time, in the order they were submitted;
* the payload waiting in the queue, as declared by each call's ``nbytes``
  and counted until that call has returned, stays within ``max_bytes``; a
  larger call is admitted only when nothing else is queued, so the bound is
  ``max(max_bytes, largest single call)``. :meth:`OrderedWorker.submit`
  blocks the producer until there is room;
* the first call that raises stops the work: every later call is dropped,
  and the exception is raised again on the producer's thread by the next
  :meth:`~OrderedWorker.submit` or by :meth:`~OrderedWorker.join`.
"""

from __future__ import annotations

import hashlib
import threading
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

__all__ = ["OrderedWorker", "HashPool", "OrderedHasher", "ASYNC_HASH_MIN"]

#: Pieces at least this long are hashed on the hashing thread; shorter ones inline.
ASYNC_HASH_MIN = 1 << 16


class HashPool:
    """One hashing thread (so updates stay in order) with at most ``limit`` pieces queued:
    the submitting thread waits rather than buffer without bound."""

    def __init__(self, limit: int) -> None:
        self._pool = ThreadPoolExecutor(1, thread_name_prefix="nzarc-hash")
        self._slots = threading.BoundedSemaphore(limit)

    def submit(self, fn: Callable[..., Any], *args: Any) -> Future[Any]:
        self._slots.acquire()
        try:
            fut = self._pool.submit(fn, *args)
        except BaseException:
            self._slots.release()
            raise
        fut.add_done_callback(lambda _f: self._slots.release())
        return fut

    def shutdown(self) -> None:
        self._pool.shutdown()


class OrderedHasher:
    """One SHA-256, fed in order. With a ``pool``, large pieces are hashed on its thread
    while the caller goes on (small ones inline until the first large one); without
    one, everything is hashed inline. The pieces must not change until hashed."""

    __slots__ = ("_h", "_pool", "_async")

    def __init__(self, pool: HashPool | None) -> None:
        self._h = hashlib.sha256()
        self._pool = pool
        self._async = False

    def update(self, piece: bytes) -> None:
        if self._pool is not None and (self._async or len(piece) >= ASYNC_HASH_MIN):
            self._async = True
            self._pool.submit(self._h.update, piece)
        else:
            self._h.update(piece)

    def digest(self) -> bytes:
        """The digest of every piece given so far (waits for the hashing thread)."""
        if self._async:
            assert self._pool is not None
            return self._pool.submit(self._h.digest).result()
        return self._h.digest()


class OrderedWorker:
    """Runs ``fn(*args)`` calls on one thread, in submission order (see the module docstring).

    Use :meth:`join` after the last call to wait for all of them and raise a failure,
    or :meth:`finish` on an error path (it waits as well, but returns the failure);
    both stop the thread.
    """

    def __init__(self, max_bytes: int, *, name: str = "nzarc-worker") -> None:
        if max_bytes < 1:
            raise ValueError("max_bytes must be at least 1")
        self._max = max_bytes
        self._cond = threading.Condition()
        self._ops: deque[tuple[Callable[..., Any], tuple[Any, ...], int]] = deque()
        self._queued = 0  # declared bytes of calls queued or running
        self._error: BaseException | None = None
        self._closing = False
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    def submit(self, fn: Callable[..., Any], *args: Any, nbytes: int = 0) -> None:
        """Queue ``fn(*args)``; wait while the queue holds too many bytes.

        Raises the exception of an earlier failed call, if any (the call is not queued).
        """
        with self._cond:
            while self._error is None and self._queued and self._queued + nbytes > self._max:
                self._cond.wait()
            if self._error is not None:
                raise self._error
            if self._closing:
                raise RuntimeError("the worker was stopped")
            self._ops.append((fn, args, nbytes))
            self._queued += nbytes
            self._cond.notify_all()

    def join(self) -> None:
        """Wait until every queued call has run and stop the thread; raise the first
        failure of a call, if any."""
        error = self.finish()
        if error is not None:
            raise error

    def finish(self) -> BaseException | None:
        """Wait until every queued call has run (or been dropped after a failure) and stop
        the thread; return the first failure of a call, if any, without raising it."""
        with self._cond:
            self._closing = True
            self._cond.notify_all()
        self._thread.join()
        return self._error

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._ops and not self._closing:
                    self._cond.wait()
                if not self._ops:
                    return
                fn, args, nbytes = self._ops.popleft()
                skip = self._error is not None
            try:
                if not skip:
                    fn(*args)
            except BaseException as exc:  # handed to the producer; nothing runs after it
                with self._cond:
                    self._error = exc
            finally:
                del fn, args  # the payload is released before it stops being counted
                with self._cond:
                    self._queued -= nbytes
                    self._cond.notify_all()
