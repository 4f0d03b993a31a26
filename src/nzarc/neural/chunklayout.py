"""The byte layout of one ``nzarc.neural`` chunk (spec/NEURAL-CODEC.md section 2.2):
``varint(T)``, the varint length of every window's stream, then the streams.

Contract: :func:`chunk_bytes` writes the layout; :func:`parse_chunk` checks every bound of
section 2.3 before any model work (shortest-form varints within their limits, a stream no
longer than ``limit(symbols)`` for its window, lengths adding up to exactly the rest of the
chunk) and raises :class:`~nzarc.errors.CodecError` on failure. ``limit`` is called only for
a chunk that has tokens.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from nzarc.errors import CodecError
from nzarc.neural.varint import get_varint, put_varint

__all__ = ["MAX_TOKENS_PER_BYTE", "chunk_bytes", "parse_chunk"]

_ID = "nzarc.neural"
#: The tokenizer emits at most this many tokens per byte.
MAX_TOKENS_PER_BYTE = 2


def chunk_bytes(tokens: int, streams: Sequence[bytes]) -> bytes:
    """A chunk of ``tokens`` tokens coded as ``streams`` (one per window)."""
    out = bytearray()
    put_varint(out, tokens)
    for s in streams:
        put_varint(out, len(s))
    for s in streams:
        out += s
    return bytes(out)


def parse_chunk(
    data: bytes, raw_len: int, window: int, limit: Callable[[int], int]
) -> tuple[int, list[bytes]]:
    """``(T, window streams)`` of a chunk that decodes to ``raw_len`` bytes with windows of
    ``window`` tokens; ``limit(n)`` is the longest valid stream of an ``n``-token window."""
    if not isinstance(raw_len, int) or isinstance(raw_len, bool) or raw_len < 0:
        raise CodecError(f"{_ID}: invalid raw length {raw_len!r}")
    data = bytes(data)
    total, pos = get_varint(data, 0, MAX_TOKENS_PER_BYTE * raw_len, "token count")
    if raw_len and not total:
        raise CodecError(f"{_ID}: no tokens for a {raw_len}-byte chunk")
    if not total:
        if pos != len(data):
            raise CodecError(f"{_ID}: {len(data) - pos} bytes after an empty chunk")
        return 0, []
    lengths = []
    for w in range(-(-total // window)):
        length, pos = get_varint(data, pos, limit(min(window, total - w * window)), "window length")
        lengths.append(length)
    if sum(lengths) != len(data) - pos:
        raise CodecError(
            f"{_ID}: window lengths add up to {sum(lengths)} bytes, the chunk holds {len(data) - pos}"
        )
    streams = []
    for length in lengths:
        streams.append(data[pos : pos + length])
        pos += length
    return total, streams
