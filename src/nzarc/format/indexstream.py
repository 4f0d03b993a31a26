"""Binding the index to the frame stream (spec/FORMAT.md §6): what a reader keeps of the
members it has met, and how it checks each entry against the index row it claims to be.

* :class:`PendingQueue`: the members declared and not finished yet, a few bytes each.
* :class:`StreamTally`: running digests of what a pipe has read, compared with its index
  when the index arrives (the index comes last; a pipe keeps no list of members or chunks).
* :class:`IndexCheck`: with the index known first (a seekable source), every entry, finish
  and chunk frame is checked against the index as it is met.
* :class:`EntryLocator`: on a seekable source, reads the entry frame of a selected member
  where the layout rules put it and checks it against the member's row.
"""

from __future__ import annotations

import hashlib
import struct
from collections.abc import Callable

import msgpack

from nzarc.errors import FormatError, LimitExceeded
from nzarc.format import limits
from nzarc.format.frames import EntryFrame, FinishFrame, FrameReader
from nzarc.format.index import IndexView, encode_row, member_from_row
from nzarc.format.layout import CHUNK_HEAD, TAG_CHUNK, WIRE_TYPES
from nzarc.format.member import Entry, Member
from nzarc.format.stream import PlainStream

__all__ = ["PendingQueue", "StreamTally", "IndexCheck", "EntryLocator", "same_start"]

_LEN = struct.Struct(">I")
_OFFSET = struct.Struct(">Q")
_COMPACT_AT = 1 << 20


def same_start(row: Entry, entry: Entry) -> bool:
    """True iff an entry frame's fields (name, type, mode, mtime, link, offset) are those
    of the index row (whose size and digest the finish frame supplies)."""
    a, b = row.member, entry.member
    return (
        row.offset == entry.offset
        and a.name == b.name
        and a.type == b.type
        and a.mode == b.mode
        and a.mtime_ns == b.mtime_ns
        and a.link_target == b.link_target
    )


def _mismatch(row: Entry, entry: Entry) -> FormatError:
    name, listed = entry.member.name, row.member.name
    also = "" if name == listed else f" (the index lists {listed!r})"
    return FormatError(f"entry {name!r} does not match its index row{also}")


class PendingQueue:
    """Members declared by entry frames whose finish frame has not come yet, in entry order.

    Each is held as its index row encoding (size 0, nil digest) behind a 4-byte length, in one
    buffer: a member costs 4 bytes plus its row (its final row in the index is at least as
    long). The first two are also kept decoded. The rows held at once may total at most
    ``MAX_INDEX_BYTES`` (LimitExceeded): a valid archive never holds more, since each of them
    is in its index.
    """

    def __init__(self) -> None:
        self._buf = bytearray()
        self._head = 0  # where the first record starts
        self._n = 0
        self._held = 0
        self._cache: list[Entry] = []  # the first records, decoded

    def __len__(self) -> int:
        return self._n

    def push(self, entry: Entry) -> None:
        row = encode_row(entry.member, entry.offset)
        if self._held + len(row) > limits.MAX_INDEX_BYTES:
            raise LimitExceeded(
                f"members awaiting their finish frames hold more than {limits.MAX_INDEX_BYTES}"
                " bytes of entries"
            )
        self._buf += _LEN.pack(len(row))
        self._buf += row
        self._held += len(row)
        self._n += 1

    def _decoded(self, k: int) -> Entry:
        while len(self._cache) <= k:
            at = self._head
            for _ in range(len(self._cache)):
                at += _LEN.size + _LEN.unpack_from(self._buf, at)[0]
            (n,) = _LEN.unpack_from(self._buf, at)
            row = msgpack.unpackb(self._buf[at + _LEN.size : at + _LEN.size + n], raw=False)
            name, kind, mode, mtime, offset, _, _, link = row
            mtype = WIRE_TYPES[kind]
            size = None if mtype == "file" else 0
            member = member_from_row(name, mtype, mode, mtime, size, None, link)
            self._cache.append(Entry(member, offset))
        return self._cache[k]

    def first(self) -> Entry:
        """The oldest pending member (IndexError when there is none)."""
        if not self._n:
            raise IndexError("no pending member")
        return self._decoded(0)

    def second_offset(self) -> int | None:
        """Where the second pending member's data starts, or None if there is no second."""
        return self._decoded(1).offset if self._n > 1 else None

    def pop(self) -> Entry:
        """Remove and return the oldest pending member (the object :meth:`first` returned)."""
        entry = self.first()
        (n,) = _LEN.unpack_from(self._buf, self._head)
        self._head += _LEN.size + n
        self._held -= n
        self._n -= 1
        self._cache.pop(0)
        if self._head >= _COMPACT_AT and 2 * self._head >= len(self._buf):
            del self._buf[: self._head]
            self._head = 0
        return entry


class StreamTally:
    """Running SHA-256 digests of the finished members' rows and of the chunk frames'
    offsets, in stream order: what a pipe's index must say, without a list of either."""

    def __init__(self) -> None:
        self._rows = hashlib.sha256()
        self._chunks = hashlib.sha256()
        self._n_rows = 0
        self._n_chunks = 0

    def finished(self, member: Member, offset: int) -> None:
        self._rows.update(encode_row(member, offset))
        self._n_rows += 1

    def chunk(self, pos: int) -> None:
        self._chunks.update(_OFFSET.pack(pos))
        self._n_chunks += 1

    def matches(self, index: IndexView) -> bool:
        """True iff the index lists exactly the members and chunk offsets met."""
        return (
            self._n_rows == len(index.entries)
            and self._n_chunks == len(index.chunk_offsets)
            and self._rows.digest() == index.rows_digest()
            and self._chunks.digest() == index.chunks_digest()
        )


class IndexCheck:
    """Checks a sequential pass against an index known before it (a seekable source): each
    entry frame against the row it claims to be (the next one) before the member starts,
    each finish frame against that row's size and SHA-256, each chunk frame against its
    indexed offset."""

    def __init__(self, index: IndexView) -> None:
        self._index = index
        self._starts = iter(index.entries)
        self._ends = iter(index.entries)
        self._chunks = 0

    def entry(self, entry: Entry) -> None:
        row = next(self._starts, None)
        if row is None:
            raise FormatError(f"entry {entry.member.name!r} is not in the index")
        if not same_start(row, entry):
            raise _mismatch(row, entry)

    def finish(self, member: Member) -> None:
        """``member`` with the size and digest of its finish frame."""
        row = next(self._ends).member  # entry() has taken this row already
        if row.size != member.size or row.sha256 != member.sha256:
            raise FormatError(
                f"member {member.name!r} has a size or SHA-256 that its index row does not have"
            )

    def chunk(self, pos: int) -> None:
        k = self._chunks
        offsets = self._index.chunk_offsets
        if k >= len(offsets) or offsets[k] != pos:
            raise FormatError(f"chunk frame {k} is not where the index puts it")
        self._chunks += 1

    def complete(self) -> bool:
        """True iff every row and every chunk offset has been met."""
        return next(self._starts, None) is None and self._chunks == len(self._index.chunk_offsets)


class EntryLocator:
    """Finds a selected member's entry frame on a seekable source and checks it against the
    member's index row, before any of the member's bytes are read.

    By §6 rule 1 the entry frame of a member whose data starts at ``o`` comes after exactly
    ``o // chunk`` chunk frames: it lies in gap ``g = o // chunk``, the frames between chunk
    frame ``g - 1`` (the payload start for ``g = 0``) and chunk frame ``g`` (the index frame
    for ``g`` = the chunk count), whose offsets the index gives. Only entry and finish frames
    may lie there, the entry frames being those of the rows with that ``g``, in row order.

    Every row must be passed to :meth:`see` in index order; :meth:`check` then reads the
    current row's gap (from its start, or on from the previous check in the same gap) up to
    the row's entry frame.
    """

    def __init__(
        self,
        index: IndexView,
        chunk_size: int,
        index_pos: int,
        stream_at: Callable[[int], PlainStream],
        frames_at: Callable[[int], FrameReader],
    ) -> None:
        self._offsets = index.chunk_offsets
        self._cs = chunk_size
        self._index_pos = index_pos
        self._stream_at = stream_at
        self._frames_at = frames_at
        self._gap = -1
        self._ordinal = 0  # the current row's place among its gap's entry frames
        self._open = -1  # the gap self._frames reads
        self._taken = 0  # entry frames of that gap read so far
        self._end = 0
        self._frames: FrameReader | None = None

    def see(self, row: Entry) -> None:
        gap = row.offset // self._cs
        if gap == self._gap:
            self._ordinal += 1
        else:
            self._gap, self._ordinal = gap, 0

    def _gap_start(self, gap: int) -> int:
        if gap == 0:
            return 0
        pos = self._offsets[gap - 1]
        head = self._stream_at(pos).read_exact(1 + CHUNK_HEAD.size)
        _, raw_len, out_len = CHUNK_HEAD.unpack(head[1:])
        if head[0] != TAG_CHUNK or raw_len > self._cs or out_len > raw_len:
            raise FormatError(f"the index does not point at chunk frame {gap - 1}")
        return pos + len(head) + out_len

    def check(self, row: Entry) -> None:
        """Raise FormatError unless the entry frame of ``row`` (the row last seen) is where
        the layout puts it and agrees with the row."""
        gap, want = self._gap, self._ordinal
        if self._frames is None or self._open != gap or self._taken > want:
            self._frames = self._frames_at(self._gap_start(gap))
            n = len(self._offsets)
            self._end = self._offsets[gap] if gap < n else self._index_pos
            self._open, self._taken = gap, 0
        frames = self._frames
        while True:
            if frames.stream.pos >= self._end:
                raise FormatError(f"the entry frame of {row.member.name!r} is not where it must be")
            frame = frames.next()
            if frames.stream.pos > self._end:
                raise FormatError("a frame overlaps the chunk frame the index points at")
            if isinstance(frame, FinishFrame):
                continue
            if not isinstance(frame, EntryFrame):
                raise FormatError("a frame between two chunk frames is neither an entry nor a finish")
            k = self._taken
            self._taken += 1
            if k == want:
                if not same_start(row, frame.entry):
                    raise _mismatch(row, frame.entry)
                return
