"""Rates measured on this machine, kept between runs: :class:`RateBook` and :class:`RateMeter`.

``create`` says up front how long the neural model will take (:mod:`nzarc.forecast`), at the
rate the same settings reached here last time. :class:`RateMeter` measures that rate while a
create runs (a progress sink: the raw bytes of each model call, from the first call's start
to :meth:`RateMeter.stop`), and :class:`RateBook` keeps the newest rate per settings key in a
small JSON file (``rates.json`` under ``$NZARC_HOME``).

Contract. The book is only ever an estimate: a missing, unreadable or malformed file reads as
empty and is replaced on the next :meth:`RateBook.record`; a write that fails is ignored. It
holds at most :data:`MAX_KEYS` keys (the oldest are dropped) and is replaced atomically
(written to a temporary file, then renamed).
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import json
import os
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from nzarc.events import ProgressEvent, ProgressSink

__all__ = ["Rate", "RateBook", "RateMeter", "MAX_KEYS", "MIN_SECONDS"]

MAX_KEYS = 64
#: A run shorter than this measures start-up more than speed; it is not recorded.
MIN_SECONDS = 2.0
_MAX_FILE = 1 << 20


@dataclass(frozen=True)
class Rate:
    """A measured rate: ``bytes_per_s`` over ``nbytes`` raw bytes, on ``measured`` (ISO date)."""

    bytes_per_s: float
    nbytes: int
    measured: str


class RateBook:
    """The rates of one machine, in the JSON file ``path``."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)

    @classmethod
    def in_home(cls, home: str | Path) -> RateBook:
        """The book of the nzarc home ``home`` (``$NZARC_HOME``)."""
        return cls(Path(home) / "rates.json")

    def _load(self) -> dict[str, dict[str, object]]:
        try:
            with open(self.path, "rb") as f:
                raw = f.read(_MAX_FILE + 1)
            if len(raw) > _MAX_FILE:
                return {}
            data = json.loads(raw)
        except (OSError, ValueError):
            return {}
        return {k: v for k, v in data.items() if isinstance(v, dict)} if isinstance(data, dict) else {}

    def get(self, key: str) -> Rate | None:
        """The newest rate recorded for ``key``, or None."""
        entry = self._load().get(key)
        if entry is None:
            return None
        rate, nbytes, when = entry.get("bytes_per_s"), entry.get("bytes"), entry.get("measured")
        if not isinstance(rate, (int, float)) or not isinstance(nbytes, int) or not isinstance(when, str):
            return None
        if not 0 < rate < float("inf") or nbytes <= 0:
            return None
        return Rate(float(rate), nbytes, when)

    def record(self, key: str, nbytes: int, seconds: float, today: _dt.date | None = None) -> Rate | None:
        """Keep ``nbytes / seconds`` as the rate of ``key`` (nothing for a run shorter than
        :data:`MIN_SECONDS` or without bytes); return the rate, None when it is not kept
        (a failed write is ignored: the rate is returned but not kept)."""
        if nbytes <= 0 or not seconds >= MIN_SECONDS:
            return None
        rate = Rate(nbytes / seconds, nbytes, (today or _dt.date.today()).isoformat())
        data = self._load()
        data.pop(key, None)
        data[key] = {"bytes_per_s": rate.bytes_per_s, "bytes": rate.nbytes, "measured": rate.measured}
        while len(data) > MAX_KEYS:
            data.pop(next(iter(data)))
        with contextlib.suppress(OSError):
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=self.path.parent, prefix=".rates.", suffix=".tmp")
            try:
                with os.fdopen(fd, "w", encoding="utf-8") as f:
                    json.dump(data, f, indent=1, sort_keys=False)
                os.replace(tmp, self.path)
            except OSError:
                with contextlib.suppress(OSError):
                    os.unlink(tmp)
                raise
        return rate


class RateMeter:
    """A progress sink that measures model throughput: the raw bytes of ``encode-bytes``
    (or, with ``op="decode"``, ``decode-bytes``) events, timed from the first to
    :meth:`stop`. Events go on to ``then`` (when given). Thread-safe."""

    def __init__(
        self, then: ProgressSink | None = None, op: str = "encode", clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._then = then
        self._kind = f"{op}-bytes"
        self._clock = clock
        self._lock = threading.Lock()
        self.nbytes = 0
        self._start: float | None = None
        self._stop: float | None = None

    def __call__(self, event: ProgressEvent) -> None:
        if event.kind == self._kind:
            with self._lock:
                if self._start is None:
                    self._start = self._clock()
                self.nbytes += event.tokens
        if self._then is not None:
            self._then(event)

    def stop(self) -> float:
        """Stop the clock (once); the seconds since the first event (0.0 without one)."""
        with self._lock:
            if self._stop is None:
                self._stop = self._clock()
            return 0.0 if self._start is None else self._stop - self._start
