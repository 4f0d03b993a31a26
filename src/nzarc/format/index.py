"""The entry index (spec/FORMAT.md §6): encoding and full validation."""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import Any

from nzarc.errors import FormatError
from nzarc.format import limits
from nzarc.format.canonical import StrictReader, pack
from nzarc.format.layout import SHA256_LEN, WIRE_TYPES
from nzarc.format.member import Entry, Member, NameSet, check_mode, check_mtime
from nzarc.format.paths import validate_link_target, validate_member_name

__all__ = ["Index", "encode_index", "decode_index", "padme"]

_TO_WIRE = {v: k for k, v in WIRE_TYPES.items()}


@dataclass(frozen=True)
class Index:
    """All entries (with verified sizes/digests), chunk frame offsets, per-slot counts, total size."""

    entries: tuple[Entry, ...]
    chunk_offsets: tuple[int, ...]
    counts: tuple[int, ...]
    total: int


def encode_index(index: Index) -> bytes:
    rows: list[list[Any]] = []
    for e in index.entries:
        m = e.member
        rows.append(
            [
                m.name,
                _TO_WIRE[m.type],
                m.mode,
                m.mtime_ns,
                e.offset,
                m.size or 0,
                m.sha256 if m.type == "file" else None,
                m.link_target,
            ]
        )
    return pack(
        {
            "entries": rows,
            "chunks": b"".join(struct.pack(">Q", o) for o in index.chunk_offsets),
            "counts": list(index.counts),
            "total": index.total,
        }
    )


def _need(cond: bool, message: str) -> None:
    if not cond:
        raise FormatError(f"index: {message}")


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


_INDEX_KEYS = ("chunks", "counts", "entries", "total")  # canonical (sorted) order
_ROW_LEN = 8


def decode_index(body: bytes, *, chunk_size: int, slots: int) -> Index:
    """Decode and validate an index body against the header's chunk size and slot count.

    The body is read piece by piece (:class:`StrictReader`): the entry count is bounded before
    any row is decoded and every row field must be a scalar, so a hostile index cannot make the
    reader build more objects than ``MAX_ENTRIES`` rows of eight scalars.
    """
    limits.check("index length", len(body), limits.MAX_INDEX_BYTES)
    r = StrictReader(body, "index")
    _need(r.map() == len(_INDEX_KEYS), "must be a map of chunks, counts, entries, total")
    for key in _INDEX_KEYS[:2]:
        _need(r.scalar() == key, "must be a map of chunks, counts, entries, total")
        if key == "chunks":
            chunks = r.scalar()
            _need(isinstance(chunks, bytes) and len(chunks) % 8 == 0, "chunks must be 8-byte offsets")
        else:
            n_counts = r.array()
            _need(n_counts == slots, "counts must list one count per codec slot")
            counts = [r.scalar() for _ in range(n_counts)]
            _need(
                all(_is_int(c) and c >= 0 for c in counts),
                "counts must list one count per codec slot",
            )
    _need(r.scalar() == "entries", "must be a map of chunks, counts, entries, total")
    n_rows = r.array()
    limits.check("index entry count", n_rows, limits.MAX_ENTRIES)
    names = NameSet()
    entries: list[Entry] = []
    expected = 0
    for _ in range(n_rows):
        _need(r.array() == _ROW_LEN, "entry must be an 8-element array")
        row = [r.scalar() for _ in range(_ROW_LEN)]
        entries.append(_entry(row, expected, names))
        expected = entries[-1].offset + (entries[-1].member.size or 0)
    _need(r.scalar() == "total", "must be a map of chunks, counts, entries, total")
    total = r.scalar()
    r.end()
    _need(_is_int(total) and total >= 0, "total must be a non-negative int")
    n_chunks = len(chunks) // 8
    limits.check("index chunk count", n_chunks, limits.MAX_CHUNKS)
    _need(n_chunks == -(-total // chunk_size), f"{n_chunks} chunks cannot hold {total} bytes")
    offsets = struct.unpack(f">{n_chunks}Q", chunks)
    _need(
        all(a < b for a, b in zip(offsets, offsets[1:], strict=False)),
        "chunk offsets must increase",
    )
    _need(sum(counts) == n_chunks, "per-slot counts do not add up to the chunk count")
    _need(expected == total, "entries do not cover the logical stream exactly")
    return Index(tuple(entries), offsets, tuple(counts), total)


def _entry(row: list[Any], expected: int, names: NameSet) -> Entry:
    """Validate one index row; ``expected`` is where it must start (the previous row's end)."""
    name, kind, mode, mtime, offset, size, digest, link = row
    _need(isinstance(kind, str) and kind in WIRE_TYPES, f"unknown entry type {kind!r}")
    mtype = WIRE_TYPES[kind]
    validate_member_name(name)
    names.add(name, mtype)
    _need(
        _is_int(offset) and offset == expected,
        f"entry {name!r} does not start where the previous ended",
    )
    _need(_is_int(size) and size >= 0, f"entry {name!r} has a bad size")
    if mtype == "file":
        _need(
            isinstance(digest, bytes) and len(digest) == SHA256_LEN,
            f"file {name!r} needs a SHA-256",
        )
        _need(link is None, f"file {name!r} has a link target")
    else:
        _need(size == 0 and digest is None, f"{mtype} {name!r} cannot have content")
        if mtype == "symlink":
            validate_link_target(link)
        else:
            _need(link is None, f"directory {name!r} has a link target")
    member = Member(
        name,
        mtype,
        check_mode(mode),
        check_mtime(mtime),
        size,
        digest if mtype == "file" else None,
        link,
    )
    return Entry(member, offset)


def padme(n: int) -> int:
    """Padmé: round ``n`` up so that at most O(log log n) bits of its length leak."""
    if n < 2:
        return n
    e = n.bit_length() - 1
    s = e.bit_length()
    mask = (1 << (e - s)) - 1
    return (n + mask) & ~mask
