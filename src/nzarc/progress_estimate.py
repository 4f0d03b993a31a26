"""The estimates behind the progress line: bytes done under model work, and a smoothed rate.

Both are pure bookkeeping (no clock, no output): :class:`nzarc.progress.Progress` feeds
them and draws what they say. Neither is thread-safe on its own; the caller holds a lock.
"""

from __future__ import annotations

import math

__all__ = ["ModelBytes", "RateEstimator"]


class RateEstimator:
    """A smoothed rate of a growing counter (bytes, tokens), for an ETA that does not swing.

    The estimator is fed samples ``(time, count)`` with :meth:`update`:

    * Warm-up: until ``warmup`` seconds after ``start`` and the first progress, the rate
      is the plain average since the start, ``count / elapsed``. The first sample after
      the warm-up seeds the moving average with that average.
    * After the warm-up: an exponentially weighted moving average of the rate with time
      constant ``tau`` seconds. A sample ``dt`` seconds after the previous one moves the
      average the fraction ``1 - exp(-dt / tau)`` of the way towards the rate seen over
      those ``dt`` seconds. Samples less than ``min_dt`` seconds after the previous one
      are not folded in yet (their progress counts in the next one), so a burst of
      reports in one instant is never taken for a huge rate.
    * A spike is clipped: the rate seen over one sample counts as at most ``spike`` times
      the average (a burst of small members, a chunk written all at once).

    Hence a burst of ``d`` seconds moves the average up by at most about
    ``(spike - 1) * d / tau`` of itself, however fast it ran, and a stall of ``d`` seconds
    lowers it by at most ``d / tau`` of itself: the ETA drifts, it does not jump. A rate
    that really changes is still followed: within a few ``tau`` when it falls, and by up
    to a factor ``spike`` every ``tau`` or so when it rises.
    """

    def __init__(self, start: float, *, tau: float = 30.0, warmup: float = 5.0, min_dt: float = 1.0,
                 spike: float = 3.0) -> None:
        self.start = start
        self.tau = tau
        self.warmup = warmup
        self.min_dt = min_dt
        self.spike = spike
        self._rate: float | None = None  # the moving average, once seeded
        self._last_t = start
        self._last_count = 0.0
        self._avg = 0.0  # the plain average during the warm-up

    def update(self, now: float, count: float) -> None:
        """Fold in the sample: ``count`` (cumulative) at time ``now``."""
        elapsed = now - self.start
        if elapsed <= 0:
            return
        if self._rate is None:
            self._avg = count / elapsed
            if elapsed >= self.warmup and count > 0:
                self._rate = self._avg
                self._last_t, self._last_count = now, count
            return
        dt = now - self._last_t
        if dt < self.min_dt:
            return
        seen = max(0.0, count - self._last_count) / dt
        if self._rate > 0:
            seen = min(seen, self.spike * self._rate)
        self._rate += (1.0 - math.exp(-dt / self.tau)) * (seen - self._rate)
        self._last_t, self._last_count = now, count

    @property
    def rate(self) -> float:
        """Units per second (0.0 before any progress)."""
        return self._avg if self._rate is None else self._rate

    def eta(self, remaining: float) -> float | None:
        """Seconds to do ``remaining`` more units at the current rate; None when unknown."""
        rate = self.rate
        if rate <= 0 or remaining <= 0:
            return None
        return remaining / rate


class ModelBytes:
    """Raw bytes credited to model work as its tokens finish.

    Fed the model-work reports of a codec context's progress sink, with the id of
    the thread that made them (one codec call runs on one thread, and reports
    ``<direction>-bytes``, then ``<direction>-planned``, then its finished tokens).
    ``direction`` is ``"encode"`` (creating) or ``"decode"`` (extracting); the other
    direction's work (the round trip of ``--verify``) is not credited as bytes.

    :meth:`in_flight` is the number of bytes the model has (partly) done and the caller
    has not yet been told were written: each running call's raw bytes times the fraction
    of its tokens finished, plus the raw bytes of finished calls not yet matched by
    :meth:`written`. Bytes shown are then ``written + in_flight``, which stays the same
    when a finished call's chunks are written.
    """

    def __init__(self, direction: str = "encode") -> None:
        self.direction = direction
        self._calls: dict[int, list[int]] = {}  # thread id -> [raw bytes, tokens planned, tokens done]
        self._pending = 0  # raw bytes of finished calls not yet written

    def report(self, kind: str, n: int, thread: int) -> None:
        """One hook report (``kind``, ``n``) made on ``thread``; other kinds are ignored."""
        if kind == f"{self.direction}-bytes":
            self._calls[thread] = [n, 0, 0]  # a new call (one left unfinished was abandoned)
            return
        call = self._calls.get(thread)
        if call is None:
            return
        if kind == f"{self.direction}-planned":
            call[1] += n
        elif kind == self.direction:
            call[2] += n
            if call[2] >= call[1]:
                self._pending += call[0]
                del self._calls[thread]

    def written(self, nbytes: int) -> None:
        """The caller wrote ``nbytes`` more bytes (of any chunk, model or not)."""
        self._pending -= min(self._pending, max(0, nbytes))

    def in_flight(self) -> float:
        """Bytes done by the model and not yet written (see the class docstring)."""
        running = sum(raw * min(1.0, done / planned) for raw, planned, done in self._calls.values() if planned)
        return self._pending + running
