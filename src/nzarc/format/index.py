"""The entry index (spec/FORMAT.md §6): encoding, full validation, and a compact view of a
validated index whose rows are decoded on demand."""

from __future__ import annotations

import hashlib
import struct
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any, overload

import msgpack

from nzarc.errors import FormatError
from nzarc.format import limits
from nzarc.format.canonical import StrictReader, pack
from nzarc.format.layout import SHA256_LEN, WIRE_TYPES
from nzarc.format.member import Entry, Member, NameSet, check_mode, check_mtime
from nzarc.format.paths import (
    text_from_wire,
    text_to_wire,
    trusted_text,
    validate_link_target,
    validate_member_name,
)

__all__ = [
    "Index",
    "IndexView",
    "MemberListing",
    "encode_index",
    "encode_row",
    "decode_index",
    "decode_index_view",
    "padme",
]

_TO_WIRE = {v: k for k, v in WIRE_TYPES.items()}


@dataclass(frozen=True)
class Index:
    """All entries (with verified sizes/digests), chunk frame offsets, per-slot counts, total size."""

    entries: tuple[Entry, ...]
    chunk_offsets: tuple[int, ...]
    counts: tuple[int, ...]
    total: int


def member_from_row(
    name: str | bytes,
    mtype: Any,
    mode: int,
    mtime: int,
    size: int | None,
    digest: bytes | None,
    link: str | bytes | None,
) -> Member:
    """The member of a row that has been validated before (its names in wire form)."""
    target = None if link is None else trusted_text(link)
    return Member(trusted_text(name), mtype, mode, mtime, size, digest, target)


def row_wire(member: Member, offset: int) -> list[Any]:
    """The index row of ``member`` (its verified size and digest; 0 and nil while unknown)."""
    link = member.link_target
    return [
        text_to_wire(member.name),
        _TO_WIRE[member.type],
        member.mode,
        member.mtime_ns,
        offset,
        member.size or 0,
        member.sha256 if member.type == "file" else None,
        None if link is None else text_to_wire(link, "symlink target"),
    ]


def encode_row(member: Member, offset: int) -> bytes:
    """The canonical encoding of one index row: the bytes it has inside an index body."""
    return pack(row_wire(member, offset))


def encode_index(index: Index) -> bytes:
    return pack(
        {
            "entries": [row_wire(e.member, e.offset) for e in index.entries],
            "chunks": b"".join(struct.pack(">Q", o) for o in index.chunk_offsets),
            "counts": list(index.counts),
            "total": index.total,
        }
    )


class ChunkOffsets(Sequence[int]):
    """The index's chunk frame offsets, read from its 8-byte big-endian array on demand."""

    def __init__(self, raw: bytes) -> None:
        self._raw = raw

    def __len__(self) -> int:
        return len(self._raw) // 8

    @overload
    def __getitem__(self, k: int) -> int: ...
    @overload
    def __getitem__(self, k: slice) -> Sequence[int]: ...

    def __getitem__(self, k: int | slice) -> int | Sequence[int]:
        if isinstance(k, slice):
            return tuple(self)[k]
        n = len(self)
        if k < 0:
            k += n
        if not 0 <= k < n:
            raise IndexError("chunk number out of range")
        return int(_OFFSET.unpack_from(self._raw, 8 * k)[0])

    def __iter__(self) -> Iterator[int]:
        return (o for (o,) in _OFFSET.iter_unpack(self._raw))

    @property
    def raw(self) -> bytes:
        return self._raw


class IndexRows:
    """The index's entries, decoded again (one row at a time) on each iteration."""

    def __init__(self, rows: memoryview, count: int) -> None:
        self._rows = rows
        self._count = count

    def __len__(self) -> int:
        return self._count

    def __iter__(self) -> Iterator[Entry]:
        up = msgpack.Unpacker(raw=False, use_list=True, max_buffer_size=_ROW_PIECE + _ROW_MAX)
        rows = self._rows
        for start in range(0, len(rows), _ROW_PIECE):
            up.feed(rows[start : start + _ROW_PIECE])
            for name, kind, mode, mtime, offset, size, digest, link in up:
                mtype = WIRE_TYPES[kind]
                yield Entry(member_from_row(name, mtype, mode, mtime, size, digest, link), offset)


class MemberListing:
    """The members of an index's rows, decoded again on each iteration (re-iterable, sized)."""

    def __init__(self, rows: IndexRows) -> None:
        self._rows = rows

    def __len__(self) -> int:
        return len(self._rows)

    def __iter__(self) -> Iterator[Member]:
        return (entry.member for entry in self._rows)


@dataclass(frozen=True)
class IndexView:
    """A validated index that keeps only its body (spec/FORMAT.md §6).

    Rows are decoded again whenever :attr:`entries` is iterated, so an index costs its body
    (at most ``MAX_INDEX_BYTES``) and a few objects, whatever its number of rows.
    """

    body: bytes
    entries: IndexRows
    chunk_offsets: ChunkOffsets
    counts: tuple[int, ...]
    total: int
    files: int  #: how many rows are files
    rows_span: tuple[int, int]  #: where the rows lie in ``body``

    def rows_digest(self) -> bytes:
        """SHA-256 of the rows' encodings, concatenated (what :func:`encode_row` gives)."""
        a, b = self.rows_span
        return hashlib.sha256(memoryview(self.body)[a:b]).digest()

    def chunks_digest(self) -> bytes:
        """SHA-256 of the chunk offsets as 8-byte big-endian numbers."""
        return hashlib.sha256(self.chunk_offsets.raw).digest()

    def materialize(self) -> Index:
        return Index(tuple(self.entries), tuple(self.chunk_offsets), self.counts, self.total)


def _need(cond: bool, message: str) -> None:
    if not cond:
        raise FormatError(f"index: {message}")


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


_INDEX_KEYS = ("chunks", "counts", "entries", "total")  # canonical (sorted) order
_ROW_LEN = 8
_OFFSET = struct.Struct(">Q")
_ROW_PIECE = 1 << 16
_ROW_MAX = 4 * limits.MAX_PATH_BYTES + 4 * limits.MAX_LINK_BYTES + 1024


def decode_index(body: bytes, *, chunk_size: int, slots: int) -> Index:
    """Decode and validate an index body; see :func:`decode_index_view` (this one also builds
    every entry: it is for tests and small indexes)."""
    return decode_index_view(body, chunk_size=chunk_size, slots=slots).materialize()


def decode_index_view(body: bytes, *, chunk_size: int, slots: int) -> IndexView:
    """Validate an index body against the header's chunk size and slot count.

    The body is read piece by piece (:class:`StrictReader`): the entry count is bounded before
    any row is decoded and every row field must be a scalar, so a hostile index cannot make the
    reader build more objects than one row of eight scalars at a time. Rows are validated one
    by one and not kept (their names go to a :class:`NameSet`, a fixed number of bytes per
    name prefix); the view decodes them again on demand.
    """
    limits.check("index length", len(body), limits.MAX_INDEX_BYTES)
    body = bytes(body)
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
    rows_start = r.tell()
    names = NameSet()
    expected = files = 0
    for _ in range(n_rows):
        _need(r.array() == _ROW_LEN, "entry must be an 8-element array")
        row = [r.scalar() for _ in range(_ROW_LEN)]
        entry = _entry(row, expected, names)
        expected = entry.offset + (entry.member.size or 0)
        files += entry.member.type == "file"
    del names
    rows_end = r.tell()
    _need(r.scalar() == "total", "must be a map of chunks, counts, entries, total")
    total = r.scalar()
    r.end()
    _need(_is_int(total) and total >= 0, "total must be a non-negative int")
    n_chunks = len(chunks) // 8
    limits.check("index chunk count", n_chunks, limits.MAX_CHUNKS)
    _need(n_chunks == -(-total // chunk_size), f"{n_chunks} chunks cannot hold {total} bytes")
    offsets = ChunkOffsets(chunks)
    previous = -1
    for o in offsets:
        _need(o > previous, "chunk offsets must increase")
        previous = o
    _need(sum(counts) == n_chunks, "per-slot counts do not add up to the chunk count")
    _need(expected == total, "entries do not cover the logical stream exactly")
    rows = IndexRows(memoryview(body)[rows_start:rows_end], n_rows)
    return IndexView(body, rows, offsets, tuple(counts), total, files, (rows_start, rows_end))


def _entry(row: list[Any], expected: int, names: NameSet) -> Entry:
    """Validate one index row; ``expected`` is where it must start (the previous row's end)."""
    name, kind, mode, mtime, offset, size, digest, link = row
    _need(isinstance(kind, str) and kind in WIRE_TYPES, f"unknown entry type {kind!r}")
    mtype = WIRE_TYPES[kind]
    name = validate_member_name(text_from_wire(name))
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
            link = validate_link_target(text_from_wire(link, "symlink target"))
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
