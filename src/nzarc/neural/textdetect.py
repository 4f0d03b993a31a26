"""A cheap test for data that is clearly not text, used by ``NeuralCodec.accepts``.

The neural codec only wins on text (prose, markup, code, logs, tables). This
module looks at a bounded sample of a chunk (at most :data:`SAMPLE_BYTES`,
spread over the chunk) and rejects it when

* more than :data:`MAX_CONTROL_FRACTION` of the sampled bytes are control
  bytes other than TAB, LF, VT, FF, CR and ESC (NUL-rich or binary records), or
* more than :data:`MAX_INVALID_UTF8_FRACTION` of the sampled bytes are not
  part of valid UTF-8 (compressed, encrypted or other binary data; a few
  Latin-1 letters in otherwise ASCII text stay well below the limit).

The cost is a few tens of microseconds per chunk whatever its size. The test
only decides whether compressing with the neural codec is worth trying; it
never affects a bitstream.
"""

from __future__ import annotations

from collections.abc import Sequence

__all__ = ["looks_like_text", "pieces_look_like_text", "sample_spans", "SAMPLE_BYTES", "MAX_CONTROL_FRACTION", "MAX_INVALID_UTF8_FRACTION"]

SAMPLE_BYTES = 64 * 1024
_PIECES = 4
MAX_CONTROL_FRACTION = 0.10
MAX_INVALID_UTF8_FRACTION = 0.05

# Bytes that do not count against text: the printable/whitespace controls and everything >= 0x20
# except DEL.
_CONTROL_BYTES = bytes(b for b in range(256) if (b < 0x20 and b not in b"\t\n\x0b\x0c\r\x1b") or b == 0x7F)


def sample_spans(n: int, limit: int = SAMPLE_BYTES) -> list[tuple[int, int]]:
    """``(offset, length)`` of the sample of ``n`` bytes: all of them when ``n <= limit``,
    else ``_PIECES`` evenly spaced pieces totalling at most ``limit``."""
    if n <= limit:
        return [(0, n)]
    piece = limit // _PIECES
    step = (n - piece) // (_PIECES - 1)
    return [(i * step, piece) for i in range(_PIECES)]


def _invalid_utf8_bytes(piece: bytes) -> int:
    """Bytes of ``piece`` outside valid UTF-8, ignoring a sequence cut at either edge."""
    # Skip continuation bytes at the start (a character cut by the sampling).
    start = 0
    while start < min(3, len(piece)) and 0x80 <= piece[start] < 0xC0:
        start += 1
    text = piece[start:].decode("utf-8", errors="replace")
    bad = text.count("\ufffd")
    # A replacement at the very end may be a character cut by the sampling.
    if text.endswith("\ufffd"):
        bad -= 1
    # Genuine U+FFFD characters in the input are rare enough to count against it.
    return max(bad, 0)


def looks_like_text(chunk: bytes | bytearray | memoryview) -> bool:
    """False when a bounded sample of ``chunk`` is clearly binary; True otherwise."""
    return pieces_look_like_text([bytes(chunk[o : o + k]) for o, k in sample_spans(len(chunk))])


def pieces_look_like_text(pieces: Sequence[bytes]) -> bool:
    """The test of :func:`looks_like_text` on sampled ``pieces`` (each judged at its own
    edges, so a character cut by the sampling does not count against it)."""
    total = sum(len(p) for p in pieces)
    if total == 0:
        return True
    control = sum(len(p) - len(p.translate(None, _CONTROL_BYTES)) for p in pieces)
    if control > MAX_CONTROL_FRACTION * total:
        return False
    invalid = sum(_invalid_utf8_bytes(p) for p in pieces)
    return invalid <= MAX_INVALID_UTF8_FRACTION * total
