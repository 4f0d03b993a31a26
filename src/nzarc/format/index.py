"""The entry index (spec/FORMAT.md §6): encoding and full validation."""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import Any

from nzarc.errors import FormatError
from nzarc.format import limits
from nzarc.format.canonical import pack, unpack
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


def decode_index(body: bytes, *, chunk_size: int, slots: int) -> Index:
    """Decode and validate an index body against the header's chunk size and slot count."""
    wire = unpack(body, "index")
    _need(
        isinstance(wire, dict) and set(wire) == {"entries", "chunks", "counts", "total"},
        "must be a map of entries, chunks, counts, total",
    )
    rows, chunks, counts, total = wire["entries"], wire["chunks"], wire["counts"], wire["total"]
    _need(isinstance(rows, list), "entries must be a list")
    limits.check("index entry count", len(rows), limits.MAX_ENTRIES)
    _need(_is_int(total) and total >= 0, "total must be a non-negative int")
    _need(isinstance(chunks, bytes) and len(chunks) % 8 == 0, "chunks must be 8-byte offsets")
    n_chunks = len(chunks) // 8
    limits.check("index chunk count", n_chunks, limits.MAX_CHUNKS)
    _need(n_chunks == -(-total // chunk_size), f"{n_chunks} chunks cannot hold {total} bytes")
    offsets = struct.unpack(f">{n_chunks}Q", chunks)
    _need(
        all(a < b for a, b in zip(offsets, offsets[1:], strict=False)),
        "chunk offsets must increase",
    )
    _need(
        isinstance(counts, list)
        and len(counts) == slots
        and all(_is_int(c) and c >= 0 for c in counts),
        "counts must list one count per codec slot",
    )
    _need(sum(counts) == n_chunks, "per-slot counts do not add up to the chunk count")
    names = NameSet()
    entries: list[Entry] = []
    expected = 0
    for row in rows:
        _need(isinstance(row, list) and len(row) == 8, "entry must be an 8-element array")
        name, kind, mode, mtime, offset, size, digest, link = row
        _need(kind in WIRE_TYPES, f"unknown entry type {kind!r}")
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
        expected = offset + size
        member = Member(
            name,
            mtype,
            check_mode(mode),
            check_mtime(mtime),
            size,  # type: ignore[arg-type]
            digest if mtype == "file" else None,
            link,
        )
        entries.append(Entry(member, offset))
    _need(expected == total, "entries do not cover the logical stream exactly")
    return Index(tuple(entries), offsets, tuple(counts), total)


def padme(n: int) -> int:
    """Padmé: round ``n`` up so that at most O(log log n) bits of its length leak."""
    if n < 2:
        return n
    e = n.bit_length() - 1
    s = e.bit_length()
    mask = (1 << (e - s)) - 1
    return (n + mask) & ~mask
