"""STREAM segments (spec/FORMAT.md §5): seal a plaintext stream, open it sequentially or from a segment."""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Executor, Future
from typing import Protocol

from nzarc.errors import FormatError, IntegrityError, LimitExceeded
from nzarc.format.layout import LAST_FLAG, NONCE_COUNTER_LEN, NOT_LAST_FLAG, TAG_LEN

__all__ = [
    "SegmentAead",
    "MAX_SEGMENTS",
    "BATCH_SEGMENTS",
    "nonce",
    "SegmentWriter",
    "iter_segments",
    "segment_count",
    "PlainStream",
]


class SegmentAead(Protocol):
    """Seals/opens one segment; must be safe to call from several threads at once.

    Implemented by :mod:`nzarc.crypto.suites`; defined here, where STREAM consumes it, so
    that the format layer needs no cryptography."""

    def seal(self, nonce: bytes, plaintext: bytes | memoryview) -> bytes: ...

    def open(self, nonce: bytes, ciphertext: bytes | memoryview) -> bytes: ...


#: Segments per archive: the counter must fit its 11 bytes (never reached in practice).
MAX_SEGMENTS = 1 << (8 * NONCE_COUNTER_LEN)


def nonce(counter: int, last: bool) -> bytes:
    """11-byte big-endian counter || last flag; LimitExceeded once the counter would wrap."""
    if not 0 <= counter < MAX_SEGMENTS:
        raise LimitExceeded(f"segment counter {counter} does not fit the 11-byte nonce counter")
    return counter.to_bytes(NONCE_COUNTER_LEN, "big") + (LAST_FLAG if last else NOT_LAST_FLAG)


#: Segments sealed or opened per executor task (64 KiB segments: about 1 MiB per task).
BATCH_SEGMENTS = 16


def _seal_batch(aead: SegmentAead, counter: int, blob: bytes, seg: int) -> bytes:
    """Seal the full, non-last segments of ``blob`` (a multiple of ``seg`` bytes) from ``counter``."""
    view = memoryview(blob)
    sealed = []
    for pos in range(0, len(blob), seg):
        sealed.append(aead.seal(nonce(counter, False), view[pos : pos + seg]))
        counter += 1
    return b"".join(sealed)


class SegmentWriter:
    """Cuts written plaintext into segments and writes each sealed segment through ``write``.

    A segment is sealed only once more plaintext follows it, so ``close`` seals the last
    (1..seg bytes, last flag set). Without an executor, segments are sealed as soon as they
    are complete; memory is one segment plus the caller's pending write. With an
    ``executor``, full segments are sealed there in batches of :data:`BATCH_SEGMENTS`, at
    most ``window`` batches in flight, and written through ``write`` in order on the
    calling thread; the bytes written are the same either way.
    """

    def __init__(
        self,
        write: Callable[[bytes], object],
        aead: SegmentAead,
        segment_size: int,
        *,
        executor: Executor | None = None,
        window: int = 4,
    ) -> None:
        self._write = write
        self._aead = aead
        self._seg = segment_size
        self._buf = bytearray()
        self._counter = 0
        self._executor = executor
        self._window = max(1, window)
        self._inflight: deque[Future[bytes]] = deque()
        self.plaintext_len = 0
        self.ciphertext_len = 0

    def write(self, data: bytes | bytearray | memoryview) -> None:
        self.plaintext_len += len(data)
        self._buf += data
        seg = self._seg
        if self._executor is not None:
            if len(self._buf) > BATCH_SEGMENTS * seg:
                self._submit_full()
            return
        if len(self._buf) <= seg:
            return
        view = memoryview(self._buf)
        pos = 0
        try:
            while len(self._buf) - pos > seg:
                self._emit(bytes(view[pos : pos + seg]), last=False)
                pos += seg
        finally:
            view.release()
        del self._buf[:pos]

    def _submit_full(self) -> None:
        """Hand every full segment but the last byte's to the executor, in batches."""
        assert self._executor is not None
        seg = self._seg
        n = (len(self._buf) - 1) // seg  # always keep 1..seg bytes for a later segment
        if n <= 0:
            return
        step = BATCH_SEGMENTS * seg
        with memoryview(self._buf) as view:
            blobs = [bytes(view[p : min(p + step, n * seg)]) for p in range(0, n * seg, step)]
        del self._buf[: n * seg]
        for blob in blobs:
            self._inflight.append(
                self._executor.submit(_seal_batch, self._aead, self._counter, blob, seg)
            )
            self._counter += len(blob) // seg
            self._drain(self._window)

    def _drain(self, keep: int) -> None:
        """Write finished batches in order; block until at most ``keep`` are in flight."""
        q = self._inflight
        while q and (len(q) > keep or q[0].done()):
            self._out(q.popleft().result())

    def _out(self, sealed: bytes) -> None:
        self.ciphertext_len += len(sealed)
        self._write(sealed)

    def _emit(self, plaintext: bytes, last: bool) -> None:
        sealed = self._aead.seal(nonce(self._counter, last), plaintext)
        self._counter += 1
        self._out(sealed)

    def close(self) -> None:
        if not self._buf:
            raise ValueError("the plaintext stream must not be empty")
        if self._executor is not None:
            self._submit_full()
            self._drain(0)
        self._emit(bytes(self._buf), last=True)
        self._buf = bytearray()


def segment_count(payload_len: int, segment_size: int) -> int:
    """Number of segments of a payload of ``payload_len`` ciphertext bytes; IntegrityError if impossible."""
    full = segment_size + TAG_LEN
    if payload_len < TAG_LEN + 1:
        raise IntegrityError("archive truncated: the payload is missing")
    n = -(-payload_len // full)
    last = payload_len - (n - 1) * full
    if last < TAG_LEN + 1:
        raise IntegrityError("archive truncated or extended: the last segment is too short")
    return n


def iter_segments(
    read: Callable[[int], bytes],
    aead: SegmentAead,
    segment_size: int,
    *,
    first: int = 0,
    total: int | None = None,
    executor: Executor | None = None,
    window: int = 4,
) -> Iterator[bytes]:
    """Yield verified plaintext segments read through ``read(n)``.

    With ``total`` (a seekable source whose length is known) segment ``total - 1`` is the last.
    Otherwise a segment is last iff the input ends right after it (one byte of lookahead).
    Any failure raises IntegrityError before the segment's plaintext is yielded, and after
    every earlier segment's. With an ``executor``, segments are read ahead and opened there
    in batches of :data:`BATCH_SEGMENTS`, at most ``window`` batches in flight.
    """
    raw = _raw_segments(read, segment_size, first, total)
    if executor is None:
        for counter, last, buf in raw:
            yield aead.open(nonce(counter, last), buf)
        return
    yield from _opened_ahead(raw, aead, executor, max(1, window))


def _raw_segments(
    read: Callable[[int], bytes], segment_size: int, first: int, total: int | None
) -> Iterator[tuple[int, bool, bytes]]:
    """(counter, last, sealed bytes) per segment; IntegrityError on a truncated payload."""
    full = segment_size + TAG_LEN
    counter = first
    carry = b""
    while True:
        buf = carry + read_exact(read, full - len(carry))
        if total is not None:
            last = counter == total - 1
        elif len(buf) < full:
            last = True
        else:
            carry = read(1)
            last = not carry
        if not buf:
            raise IntegrityError("archive truncated: a payload segment is missing")
        if last and len(buf) < TAG_LEN + 1:
            raise IntegrityError("archive truncated inside the last payload segment")
        if not last and len(buf) < full:
            raise IntegrityError("archive truncated inside a payload segment")
        yield counter, last, buf
        if last:
            return
        counter += 1


def _open_batch(
    aead: SegmentAead, batch: list[tuple[int, bool, bytes]]
) -> tuple[list[bytes], BaseException | None]:
    """Open segments in order until one fails: (plaintexts so far, the failure or None)."""
    out: list[bytes] = []
    for counter, last, buf in batch:
        try:
            out.append(aead.open(nonce(counter, last), buf))
        except IntegrityError as exc:
            return out, exc
    return out, None


def _opened_ahead(
    raw: Iterator[tuple[int, bool, bytes]], aead: SegmentAead, executor: Executor, window: int
) -> Iterator[bytes]:
    inflight: deque[Future[tuple[list[bytes], BaseException | None]]] = deque()
    failure: BaseException | None = None  # a read-side failure, raised after what precedes it
    batch: list[tuple[int, bool, bytes]] = []
    while True:
        done = False
        try:
            item = next(raw, None)
        except IntegrityError as exc:
            failure, item = exc, None
        if item is not None:
            batch.append(item)
        if item is None or item[1]:
            done = True
        if batch and (done or len(batch) >= BATCH_SEGMENTS):
            inflight.append(executor.submit(_open_batch, aead, batch))
            batch = []
        while inflight and (done or len(inflight) >= window or inflight[0].done()):
            plain, err = inflight.popleft().result()
            yield from plain
            if err is not None:
                raise err
        if done:
            if failure is not None:
                raise failure
            return


def read_exact(read: Callable[[int], bytes], n: int) -> bytes:
    """Up to ``n`` bytes from ``read``, fewer only at end of input (short pipe reads are joined)."""
    parts = []
    got = 0
    while got < n:
        piece = read(n - got)
        if not piece:
            break
        parts.append(piece)
        got += len(piece)
    return b"".join(parts)


class PlainStream:
    """A byte reader over verified segments; ``pos`` is the plaintext offset."""

    def __init__(self, segments: Iterator[bytes], pos: int = 0, skip: int = 0) -> None:
        self._segments = segments
        self._cur = b""
        self._off = 0
        self.pos = pos
        self._done = False
        if skip:
            self._cur = self._next() or b""
            if skip > len(self._cur):
                raise FormatError("frame offset lies beyond its segment")
            self._off = skip
            self.pos += skip

    def _next(self) -> bytes | None:
        for seg in self._segments:
            return seg
        self._done = True
        return None

    def read_exact(self, n: int) -> bytes:
        """Return exactly ``n`` bytes; FormatError if the authenticated stream ends first."""
        if n <= len(self._cur) - self._off:
            out = self._cur[self._off : self._off + n]
            self._off += n
            self.pos += n
            return out
        parts = [self._cur[self._off :]]
        got = len(parts[0])
        while got < n:
            seg = self._next()
            if seg is None:
                raise FormatError("plaintext stream ends inside a frame")
            take = min(n - got, len(seg))
            parts.append(seg[:take])
            got += take
            self._cur, self._off = seg, take
        self.pos += n
        return b"".join(parts)

    def skip_zeros(self, n: int) -> None:
        """Consume ``n`` bytes that must all be zero, a piece at a time."""
        while n:
            piece = self.read_exact(min(n, 1 << 16))
            if any(piece):
                raise FormatError("padding frame holds non-zero bytes")
            n -= len(piece)

    def at_end(self) -> bool:
        """True iff the verified stream (including its last segment) is fully consumed."""
        if self._off < len(self._cur):
            return False
        seg = self._next()
        if seg is None:
            return True
        self._cur, self._off = seg, 0
        return False
