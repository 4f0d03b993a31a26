"""The payload's frame sequence, validated and demultiplexed into typed member events.

:func:`validate_frames` checks the ordering rules of spec/FORMAT.md §6 on the frames of one
sequential pass and yields, in order:

* :class:`MemberStart` when a member's entry frame has been accepted (its size and digest
  are not known yet: ``member.size`` and ``member.sha256`` are None);
* :class:`MemberBytes` for each piece of that member's data (only when reading data);
* :class:`MemberEnd` with the member's verified size and SHA-256, once its finish frame has
  been checked (and, when reading data with digests, its bytes hashed and compared);
* :class:`IndexSeen` once, last, when the index, the padding, the trailer and the end of
  the payload have all been checked.

Every violation raises :class:`~nzarc.errors.FormatError` (or
:class:`~nzarc.errors.LimitExceeded`, :class:`~nzarc.errors.IntegrityError`) before any
event that would depend on it; the iteration never ends normally without an
:class:`IndexSeen`.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass

from nzarc.errors import FormatError, LimitExceeded
from nzarc.format import limits
from nzarc.format.frames import ChunkFrame, EntryFrame, FinishFrame, Frame, IndexFrame
from nzarc.format.header import Header
from nzarc.format.index import IndexView, decode_index_view
from nzarc.format.indexstream import IndexCheck, PendingQueue, StreamTally
from nzarc.format.layout import SHA256_LEN
from nzarc.format.member import Entry, Member, NameSet, finished
from nzarc.format.stream import PlainStream
from nzarc.memberdigest import MemberDigest
from nzarc.read.tail import check_tail
from nzarc.workqueue import HashPool

__all__ = [
    "MemberStart",
    "MemberBytes",
    "MemberEnd",
    "IndexSeen",
    "Event",
    "validate_frames",
]


@dataclass(frozen=True, slots=True)
class MemberStart:
    """A member's entry frame was accepted; its data and end follow."""

    member: Member


@dataclass(frozen=True, slots=True)
class MemberBytes:
    """A piece of the current member's data, in order."""

    data: bytes


@dataclass(frozen=True, slots=True)
class MemberEnd:
    """The current member is complete; ``member`` has its verified size and SHA-256."""

    member: Member


@dataclass(frozen=True, slots=True)
class IndexSeen:
    """The index (checked against everything read) and everything after it are valid."""

    index: IndexView


Event = MemberStart | MemberBytes | MemberEnd | IndexSeen


def validate_frames(
    frames: Iterator[Frame],
    stream: PlainStream,
    h: Header,
    with_data: bool,
    hash_pool: HashPool | None = None,
    *,
    digests: bool = True,
    known_index: tuple[bytes, IndexView] | None = None,
) -> Iterator[Event]:
    """Validate the frame sequence (§6 ordering rules) and turn it into member events.

    ``frames`` are the payload's frames from its start, chunk frames carrying decoded
    data when ``with_data``; ``stream`` is the plaintext they come from (checked to end
    after the trailer). Without ``with_data`` no :class:`MemberBytes` is yielded and no
    digest computed.

    ``hash_pool`` (one thread) takes the hashing of large pieces off the calling thread;
    every digest is still checked before the member's :class:`MemberEnd`. With ``digests``
    false no digest is computed or checked (the caller does it).

    ``known_index`` (body, index) is the index already read through the trailer (a seekable
    source): each entry frame is checked against the index row it claims to be before its
    member's :class:`MemberStart`, each finish frame against that row's size and SHA-256
    before the :class:`MemberEnd`, each chunk frame against its indexed offset, and the index
    frame must have exactly that body. Without it (a pipe) the stream is the only view until
    the index arrives last; it is then compared with running digests of what was read.

    Memory: the members declared and not finished yet cost 4 bytes plus their index row each
    (:class:`PendingQueue`, capped at ``MAX_INDEX_BYTES``), names cost a :class:`NameSet`
    (a pipe only), and at most about one chunk of data is buffered; nothing else grows with
    the number of members or chunks.
    """
    pool = hash_pool if with_data and digests else None
    seq = _Sequence(h, with_data, digests, pool, known_index)
    for frame in frames:
        if isinstance(frame, EntryFrame):
            seq.entry(frame.entry)
        elif isinstance(frame, ChunkFrame):
            seq.chunk(frame)
        elif isinstance(frame, FinishFrame):
            seq.finish(frame)
        elif isinstance(frame, IndexFrame):
            index = seq.index(frame)
            yield from seq.deliver()
            if seq.cur is not None:
                raise FormatError("member data missing before the index")
            check_tail(h, _next_frame(frames), lambda: _next_frame(frames), frame.pos, None)
            if not stream.at_end():
                raise FormatError("data after the trailer")
            yield IndexSeen(index)
            return
        else:
            raise FormatError("padding or trailer frame before the index")
        yield from seq.deliver()
    raise FormatError("the archive ends without an index")


def _next_frame(frames: Iterator[Frame]) -> Frame:
    frame = next(frames, None)
    if frame is None:
        raise FormatError("the archive ends without a trailer")
    return frame


class _Pending:
    """The member being delivered: the oldest pending one, or the one just finished."""

    __slots__ = ("entry", "size", "digest", "hasher", "started")

    def __init__(self, entry: Entry, hash_pool: HashPool | None = None) -> None:
        self.entry = entry
        self.size: int | None = None
        self.digest: bytes | None = None
        self.hasher = MemberDigest(hash_pool)
        self.started = False

    def final(self) -> Member:
        return finished(self.entry.member, self.size or 0, self.digest or bytes(SHA256_LEN))


class _Sequence:
    """The state of one pass: what has been declared, received and delivered so far. The
    frame methods check one frame each and raise on a violation; :meth:`deliver` yields the
    events the frames seen so far make available."""

    def __init__(
        self,
        h: Header,
        with_data: bool,
        digests: bool,
        pool: HashPool | None,
        known_index: tuple[bytes, IndexView] | None,
    ) -> None:
        self.h = h
        self.cs = h.chunk_size
        self.with_data = with_data
        self.digests = digests
        self.pool = pool
        self.known_index = known_index
        self.check = IndexCheck(known_index[1]) if known_index is not None else None
        self.tally = StreamTally()
        # a known index has unique names already
        self.names = NameSet() if self.check is None else None
        self.pending = PendingQueue()  # declared, not finished
        self.cur: _Pending | None = None  # being delivered: pending.first(), or just finished
        self.last: Entry | None = None  # the last member declared ...
        self.last_size: int | None = None  # ... and its size once it is finished
        self.declared = 0
        self.buf: deque[bytes] = deque()
        self.dpos = 0  # plaintext data delivered so far
        self.received = 0  # plaintext data received so far
        self.next_start: int | None = 0  # required offset of the next entry when known
        self.short = False
        self.n_chunks = 0
        self.counts = [0] * len(h.codecs)

    def deliver(self) -> Iterator[Event]:
        """Events for the data received and the finish frames met since the last call."""
        pending, buf = self.pending, self.buf
        while True:
            if self.cur is None:
                if not pending:
                    return
                self.cur = _Pending(pending.first(), self.pool)
            front = self.cur
            if not front.started:
                front.started = True
                yield MemberStart(front.entry.member)
            if front.size is not None:
                end: int | None = front.entry.offset + front.size
            else:
                end = pending.second_offset()  # front is the first pending member
            limit = self.received if end is None else min(end, self.received)
            if not self.with_data:
                self.dpos = max(self.dpos, limit)
            while self.dpos < limit:
                piece = buf[0]
                take = min(len(piece), limit - self.dpos)
                if take < len(piece):
                    buf[0] = piece[take:]
                    piece = piece[:take]
                else:
                    buf.popleft()
                self.dpos += take
                if self.with_data:
                    if self.digests:
                        front.hasher.update(piece)
                    yield MemberBytes(piece)
            if front.size is None or self.dpos < end:  # type: ignore[operator]
                return
            if self.with_data and self.digests and front.entry.member.type == "file":
                front.hasher.check(front.entry.member.name, front.digest)
            self.cur = None
            yield MemberEnd(front.final())

    def entry(self, entry: Entry) -> None:
        """An entry frame: a new member declared at ``entry.offset``."""
        m = entry.member
        last = self.last
        if self.declared >= limits.MAX_ENTRIES:
            raise LimitExceeded(f"more than {limits.MAX_ENTRIES} members")
        if self.names is not None:
            self.names.add(m.name, m.type)
        if entry.offset < self.received or (last is not None and entry.offset < last.offset):
            raise FormatError(f"entry {m.name!r} starts inside data already assigned")
        if self.next_start is not None and entry.offset != self.next_start:
            raise FormatError(f"entry {m.name!r} does not start where the previous member ended")
        if (
            last is not None
            and last.member.type != "file"
            and self.pending
            and entry.offset != last.offset
        ):
            raise FormatError("a directory or symlink owns data")
        cs = self.cs
        if self.n_chunks != entry.offset // cs:
            raise FormatError(
                f"entry {m.name!r} must come right after chunk frame {entry.offset // cs - 1}"
                if entry.offset // cs
                else f"entry {m.name!r} must come before the first chunk frame"
            )
        if self.check is not None:
            self.check.entry(entry)
        self.pending.push(entry)
        self.declared += 1
        self.last, self.last_size = entry, None
        self.next_start = None

    def chunk(self, frame: ChunkFrame) -> None:
        """A chunk frame: the next ``frame.raw_len`` bytes of data."""
        last = self.last
        if last is None:
            raise FormatError("chunk before the first entry")
        pending = self.pending
        second = pending.second_offset()
        if second is not None and second <= self.received:
            name = pending.first().member.name
            raise FormatError(f"member {name!r} is complete but its finish frame is missing")
        if self.n_chunks >= limits.MAX_CHUNKS:
            raise LimitExceeded(f"more than {limits.MAX_CHUNKS} chunks")
        if self.short:
            raise FormatError("only the last chunk may be shorter than the chunk size")
        self.short = frame.raw_len < self.cs
        end_of_chunk = self.received + frame.raw_len
        if end_of_chunk > last.offset and (
            last.member.type != "file"
            or (self.last_size is not None and end_of_chunk > last.offset + self.last_size)
        ):
            raise FormatError("chunk data belongs to no member")
        if self.check is not None:
            self.check.chunk(frame.pos)
        else:
            self.tally.chunk(frame.pos)
        self.received = end_of_chunk
        self.n_chunks += 1
        self.counts[frame.slot] += 1
        if self.with_data:
            self.buf.append(frame.data)

    def finish(self, frame: FinishFrame) -> None:
        """A finish frame: the oldest pending member's size and SHA-256."""
        pending = self.pending
        if not pending:
            raise FormatError("finish frame without an open member")
        entry = pending.pop()
        m = entry.member
        final = finished(m, frame.size, frame.sha256)
        end = entry.offset + frame.size
        if end > self.received:
            raise FormatError(f"member {m.name!r} finishes before its data arrived")
        if pending:
            if pending.first().offset != end:
                raise FormatError(f"member {m.name!r} size does not match the next member's start")
        else:  # it is the last member declared
            if end != self.received:
                raise FormatError(f"member {m.name!r} is followed by data of no member")
            self.next_start = end
            self.last_size = frame.size
        if self.check is not None:
            self.check.finish(final)
        else:
            self.tally.finished(final, entry.offset)
        # deliver() made the oldest pending member the one being delivered
        cur = self.cur
        assert cur is not None and cur.entry is entry
        cur.size, cur.digest = frame.size, frame.sha256

    def index(self, frame: IndexFrame) -> IndexView:
        """The index frame: checked against everything received; returns its view."""
        if self.pending:
            raise FormatError("index before every member was finished")
        known = self.known_index
        if known is not None:
            if frame.body != known[0]:
                raise FormatError("the index frame is not the one the trailer points at")
            index = known[1]
            same = self.check is not None and self.check.complete()
        else:
            h = self.h
            index = decode_index_view(frame.body, chunk_size=self.cs, slots=len(h.codecs))
            same = self.tally.matches(index)
        if not same or list(index.counts) != self.counts or index.total != self.received:
            raise FormatError("the index does not match the archive's content")
        return index
