"""STREAM segments (spec/FORMAT.md §5): seal a plaintext stream, open it sequentially or from a segment."""

from __future__ import annotations

from collections.abc import Callable, Iterator

from nzarc.crypto.suites import SegmentAead
from nzarc.errors import FormatError, IntegrityError, LimitExceeded
from nzarc.format.layout import LAST_FLAG, NONCE_COUNTER_LEN, NOT_LAST_FLAG, TAG_LEN

__all__ = ["MAX_SEGMENTS", "nonce", "SegmentWriter", "iter_segments", "segment_count", "PlainStream"]


#: Segments per archive: the counter must fit its 11 bytes (never reached in practice).
MAX_SEGMENTS = 1 << (8 * NONCE_COUNTER_LEN)


def nonce(counter: int, last: bool) -> bytes:
    """11-byte big-endian counter || last flag; LimitExceeded once the counter would wrap."""
    if not 0 <= counter < MAX_SEGMENTS:
        raise LimitExceeded(f"segment counter {counter} does not fit the 11-byte nonce counter")
    return counter.to_bytes(NONCE_COUNTER_LEN, "big") + (LAST_FLAG if last else NOT_LAST_FLAG)


class SegmentWriter:
    """Cuts written plaintext into segments and writes each sealed segment through ``write``.

    A segment is sealed only once more plaintext follows it, so ``close`` seals the last
    (1..seg bytes, last flag set). Memory: one segment plus the caller's pending write.
    """

    def __init__(
        self, write: Callable[[bytes], object], aead: SegmentAead, segment_size: int
    ) -> None:
        self._write = write
        self._aead = aead
        self._seg = segment_size
        self._buf = bytearray()
        self._counter = 0
        self.plaintext_len = 0
        self.ciphertext_len = 0

    def write(self, data: bytes) -> None:
        self.plaintext_len += len(data)
        self._buf += data
        seg = self._seg
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

    def _emit(self, plaintext: bytes, last: bool) -> None:
        sealed = self._aead.seal(nonce(self._counter, last), plaintext)
        self._counter += 1
        self.ciphertext_len += len(sealed)
        self._write(sealed)

    def close(self) -> None:
        if not self._buf:
            raise ValueError("the plaintext stream must not be empty")
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
) -> Iterator[bytes]:
    """Yield verified plaintext segments read through ``read(n)``.

    With ``total`` (a seekable source whose length is known) segment ``total - 1`` is the last.
    Otherwise a segment is last iff the input ends right after it (one byte of lookahead).
    Any failure raises IntegrityError before the segment's plaintext is yielded.
    """
    full = segment_size + TAG_LEN
    counter = first
    carry = b""
    while True:
        buf = carry + _read_exact(read, full - len(carry))
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
        plaintext = aead.open(nonce(counter, last), buf)
        yield plaintext
        if last:
            return
        counter += 1


def _read_exact(read: Callable[[int], bytes], n: int) -> bytes:
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
