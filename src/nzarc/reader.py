"""Streaming archive reader (spec/FORMAT.md).

Works on pipes (one sequential pass, no seek) and on seekable files (index via the trailer,
single members without decrypting the rest). Only AEAD-verified plaintext is parsed, and a
member's bytes reach the caller only from verified segments; a size or SHA-256 mismatch
raises IntegrityError before the member's iterator finishes (unless the caller takes the
SHA-256 check over: ``iter_members(verify_digests=False)``).
"""

from __future__ import annotations

import hashlib
import io
import os
from collections import deque
from collections.abc import Callable, Collection, Iterator, Sequence
from dataclasses import dataclass, field
from typing import IO, Any, BinaryIO

from nzarc.codecs.contract import Codec
from nzarc.crypto import keys as keymod
from nzarc.crypto.recipients import parse_identity, unwrap_file_key
from nzarc.crypto.suites import SegmentAead, make_aead
from nzarc.errors import FormatError, IntegrityError, LimitExceeded
from nzarc.format import limits
from nzarc.format.frames import (
    ChunkFrame,
    EntryFrame,
    FinishFrame,
    Frame,
    FrameReader,
    IndexFrame,
    PadFrame,
    TrailerFrame,
)
from nzarc.format.header import Header, decode_header, read_prelude
from nzarc.format.index import IndexView, MemberListing, decode_index_view, padme
from nzarc.format.indexstream import EntryLocator, IndexCheck, PendingQueue, StreamTally
from nzarc.format.layout import (
    MAC_LEN,
    PRELUDE_LEN,
    SHA256_LEN,
    SUITE_NONE,
    TAG_LEN,
    TRAILER_LEN,
)
from nzarc.format.member import Entry, Member, NameSet, finished
from nzarc.format.stream import PlainStream, iter_segments, segment_count
from nzarc.pipeline import ChunkDecoder, build_decoders, default_jobs, make_executor
from nzarc.policy import DEFAULT_POLICY, DecodePolicy
from nzarc.workqueue import HashPool, OrderedHasher

__all__ = ["ArchiveReader", "ArchiveInfo", "MemberData", "TestReport"]

UNAUTHENTICATED_NOTE = (
    "not encrypted: integrity is checked, but it is not authenticated against a forger"
)


@dataclass
class ArchiveInfo:
    """What an archive declares (header) and, from ``info()``, what its index says."""

    version: int
    suite: str
    encrypted: bool
    authenticated: bool
    header_verified: bool
    recipients: list[str]
    codecs: list[dict[str, Any]]
    chunk_size: int
    segment_size: int
    padded: bool
    note: str | None = None
    members: int | None = None
    files: int | None = None
    chunks: int | None = None
    chunks_per_codec: dict[str, int] = field(default_factory=dict)
    raw_size: int | None = None
    archive_size: int | None = None
    ratio: float | None = None


@dataclass
class TestReport:
    """Counts from a full decrypt + decode + verify pass."""

    members: int = 0
    files: int = 0
    bytes: int = 0
    chunks: int = 0
    ok: bool = False


class MemberData:
    """One member being read. ``member`` gains its verified size/sha256 once ``chunks()`` ends
    (on a pipe they are None until then)."""

    def __init__(
        self, member: Member, chunks: Iterator[bytes], final: Callable[[], Member]
    ) -> None:
        self._member = member
        self._chunks = chunks
        self._final = final
        self._done = False

    @property
    def member(self) -> Member:
        return self._final() if self._done else self._member

    def chunks(self) -> Iterator[bytes]:
        """Yield the member's verified bytes; IntegrityError at the end on a size/hash mismatch."""
        yield from self._chunks
        self._done = True

    def read(self) -> bytes:
        return b"".join(self.chunks())

    def _drain(self) -> None:
        if not self._done:
            for _ in self.chunks():
                pass


class _Source:
    """The underlying binary file object: sequential reads, optional seeking."""

    def __init__(self, fileobj: IO[bytes] | BinaryIO) -> None:
        self.f = fileobj
        self.seekable = False
        self.base = 0
        self.size = 0
        try:
            if fileobj.seekable():
                self.base = fileobj.tell()
                self.size = fileobj.seek(0, io.SEEK_END)
                fileobj.seek(self.base)
                self.seekable = True
        except (OSError, ValueError, AttributeError):
            self.seekable = False
        self.consumed = 0  # bytes read sequentially (the archive size, once a pipe is drained)

    def read(self, n: int) -> bytes:
        data = self.f.read(n)
        self.consumed += len(data)
        return data

    def seek(self, offset: int) -> None:
        self.f.seek(self.base + offset)


class ArchiveReader:
    """Reads one archive. See :func:`nzarc.open`."""

    def __init__(
        self,
        source: IO[bytes] | BinaryIO | str | os.PathLike[str],
        *,
        passphrase: str | bytes | None = None,
        identities: Sequence[str | bytes] = (),
        jobs: int | None = None,
        policy: DecodePolicy | None = None,
    ) -> None:
        """``policy``: which codecs may be decoded and how far a chunk may expand
        (:mod:`nzarc.policy`; default: every installed codec, each codec's own limit)."""
        # Keys and options are checked before the source is opened, so a bad one leaks nothing.
        if policy is not None and not isinstance(policy, DecodePolicy):
            raise TypeError("policy must be a nzarc.policy.DecodePolicy")
        self._policy = policy or DEFAULT_POLICY
        self._passphrase = passphrase
        self._identities = [_identity(i) for i in identities]
        self._jobs = default_jobs(jobs)
        self._owned: IO[bytes] | None = None
        self._executor: Any = None
        self._hash_pool: HashPool | None = None
        if isinstance(source, (str, os.PathLike)):
            self._owned = open(source, "rb")  # noqa: SIM115 - closed by close()
            source = self._owned
        self._src = _Source(source)
        try:
            self._prelude, self._header_bytes, self._mac = read_prelude(self._src.read)
            self.header: Header = decode_header(self._header_bytes)
        except BaseException:
            self.close()
            raise
        self._payload_start = PRELUDE_LEN + len(self._header_bytes) + MAC_LEN
        self._aead: SegmentAead | None = None
        self._index: IndexView | None = None
        self._index_pos = 0  # where the index frame lies (seekable sources)
        self._index_body: bytes | None = None  # the authenticated bytes it was decoded from
        self._consumed = False
        self._decoders: dict[int, Codec] = {}

    # -- lifecycle ------------------------------------------------------------------------

    def close(self) -> None:
        if getattr(self, "_executor", None) is not None:
            self._executor.shutdown(cancel_futures=True)  # stops decoding still under way
            self._executor = None
        if getattr(self, "_hash_pool", None) is not None:
            self._hash_pool.shutdown()  # type: ignore[union-attr]
            self._hash_pool = None
        if self._owned is not None:
            self._owned.close()
            self._owned = None

    def __enter__(self) -> ArchiveReader:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    # -- keys -----------------------------------------------------------------------------

    def _unlock(self) -> SegmentAead:
        if self._aead is None:
            h = self.header
            if h.suite == SUITE_NONE:
                file_key = keymod.ZERO_KEY
            else:
                file_key = unwrap_file_key(
                    h.stanzas, passphrase=self._passphrase, identities=self._identities
                )
            keymod.verify_header_mac(file_key, self._prelude, self._header_bytes, self._mac)
            self._aead = make_aead(h.suite, keymod.payload_key(file_key, h.salt, self._mac))
        return self._aead

    def _get_hash_pool(self) -> HashPool:
        """One thread for member hashing (ordered updates off the consuming thread)."""
        if self._hash_pool is None:
            self._hash_pool = HashPool(2 * self._jobs + 2)
        return self._hash_pool

    def _get_executor(self) -> Any:
        if self._executor is None:
            self._executor = make_executor(self._jobs)
        return self._executor

    def _decoder(self, slots: Collection[int]) -> ChunkDecoder:
        missing = [s for s in sorted(slots) if s not in self._decoders]
        self._decoders.update(build_decoders(self.header.codecs, missing, self._policy))
        return ChunkDecoder(self._decoders, self._get_executor(), self._jobs, self._policy)

    @property
    def seekable(self) -> bool:
        """True when the source can seek: the index is reachable and members can be
        extracted without decrypting the others."""
        return self._src.seekable

    # -- header / info --------------------------------------------------------------------

    def header_info(self) -> ArchiveInfo:
        """What the header declares; needs no key (and is unverified until a key is used)."""
        h = self.header
        encrypted = h.suite != SUITE_NONE
        return ArchiveInfo(
            version=h.version,
            suite=h.suite,
            encrypted=encrypted,
            authenticated=encrypted,
            header_verified=self._aead is not None,
            recipients=[s.type for s in h.stanzas],
            codecs=[c.to_wire() for c in h.codecs],
            chunk_size=h.chunk_size,
            segment_size=h.segment_size,
            padded=h.pad,
            note=None if encrypted else UNAUTHENTICATED_NOTE,
        )

    def info(self) -> ArchiveInfo:
        """Header info plus member/chunk counts from the (authenticated) index."""
        index = self._get_index()
        out = self.header_info()
        out.members = len(index.entries)
        out.files = index.files
        out.chunks = len(index.chunk_offsets)
        per: dict[str, int] = {}
        for entry, count in zip(self.header.codecs, index.counts, strict=True):
            if count:
                per[entry.codec_id] = per.get(entry.codec_id, 0) + count
        out.chunks_per_codec = per
        out.raw_size = index.total
        out.archive_size = (
            self._src.size - self._src.base if self._src.seekable else self._src.consumed
        )
        out.ratio = out.archive_size / index.total if index.total else None
        return out

    def members(self) -> list[Member]:
        """All members as the index lists them, in a list (consumes a pipe); see
        :meth:`listing`, which does not build one."""
        return list(self.listing())

    def listing(self) -> MemberListing:
        """The members as the (authenticated) index lists them, with their sizes and digests:
        a re-iterable view that decodes the index rows one at a time, so that listing costs
        the index body and no object per member (consumes a pipe).

        On a seekable source this reads the index alone: it shows what the index says, which
        a member's entry frame is checked against whenever the member is read (so nothing
        that disagrees with the listing is ever released). A pipe is read through first and
        the index compared with everything in it.
        """
        return MemberListing(self._get_index().entries)

    def _get_index(self) -> IndexView:
        if self._index is None:
            if self._src.seekable:
                self._index = self._load_index()
            else:
                for kind, value in self._scan(with_data=False):
                    if kind == "index":
                        self._index = value
        assert self._index is not None
        return self._index

    # -- sequential pass ------------------------------------------------------------------

    def _sequential_frames(self, with_data: bool) -> tuple[Iterator[Frame], PlainStream]:
        aead = self._unlock()
        if self._src.seekable:
            self._src.seek(self._payload_start)
        elif self._consumed:
            raise ValueError("a non-seekable archive can be read only once")
        self._consumed = True
        h = self.header
        decoder = None
        if with_data:  # refuse missing codecs before decoding anything
            if self._src.seekable:
                index = self._get_index()
                decoder = self._decoder([s for s, c in enumerate(index.counts) if c])
                self._src.seek(self._payload_start)
            else:
                decoder = self._decoder(range(len(h.codecs)))
        segments = iter_segments(
            self._src.read,
            aead,
            h.segment_size,
            executor=self._get_executor(),
            window=2 * self._jobs,
        )
        stream = PlainStream(segments)
        reader = FrameReader(stream, chunk_size=h.chunk_size, slots=len(h.codecs))
        return _windowed(reader.next, decoder, 2 * self._jobs), stream

    def _scan(self, with_data: bool, *, digests: bool = True) -> Iterator[tuple[str, Any]]:
        frames, stream = self._sequential_frames(with_data)
        pool = self._get_hash_pool() if with_data and digests else None
        known = None
        if self._index is not None and self._index_body is not None:
            known = (self._index_body, self._index)
        yield from _demux(
            frames, stream, self.header, with_data, pool, digests=digests, known_index=known
        )

    #: :meth:`iter_members` accepts ``verify_digests`` (for :func:`nzarc.extract.extract_members`).
    defers_digests = True

    def iter_members(
        self, names: Collection[str] | None = None, *, verify_digests: bool = True
    ) -> Iterator[MemberData]:
        """Members in archive order with their verified data; see the module docstring.

        With ``verify_digests=False`` the members' SHA-256 digests are not computed here:
        the caller must hash every file member's bytes and compare the digest with
        ``member.sha256`` (final once ``chunks()`` has ended) before trusting them. The
        AEAD, the frame structure and every member's size are verified either way.
        """
        if names is not None and self._src.seekable:
            yield from self._iter_selected(set(names), verify_digests)
            return
        events = self._scan(with_data=True, digests=verify_digests)
        wanted = None if names is None else set(names)
        current: MemberData | None = None
        for kind, value in events:
            if kind == "start":
                if current is not None:
                    current._drain()
                box: dict[str, Member] = {}
                gen = _member_events(events, box)
                current = MemberData(value, gen, lambda b=box: b["member"])
                if wanted is None or value.name in wanted:
                    yield current
                current._drain()
            elif kind == "index":
                self._index = value

    def test(self) -> TestReport:
        """Decrypt, decode and verify everything; raise on the first problem."""
        report = TestReport()
        for kind, value in self._scan(with_data=True):
            if kind == "end":
                report.members += 1
                if value.type == "file":
                    report.files += 1
                    report.bytes += value.size
            elif kind == "index":
                self._index = value
                report.chunks = len(value.chunk_offsets)
        report.ok = True
        return report

    def extract(
        self,
        dest_dir: str | os.PathLike[str],
        names: Collection[str] | None = None,
        *,
        force: bool = False,
        sync: bool = False,
        same_permissions: bool | None = None,
    ) -> list[Member]:
        """Extract to ``dest_dir``; see :func:`nzarc.extract.extract_members`."""
        from pathlib import Path

        from nzarc.extract import extract_members

        return extract_members(
            self, Path(dest_dir), names, force=force, sync=sync, same_permissions=same_permissions
        )

    # -- seekable access ------------------------------------------------------------------

    def _layout(self) -> tuple[int, int]:
        """(segment count, plaintext length) from the file size."""
        seg = self.header.segment_size
        payload_len = self._src.size - self._src.base - self._payload_start
        n = segment_count(payload_len, seg)
        plain = payload_len - n * TAG_LEN
        return n, plain

    def _stream_at(self, offset: int, n_segments: int) -> PlainStream:
        seg = self.header.segment_size
        seg_no = offset // seg
        if seg_no >= n_segments:
            raise FormatError("an index offset points beyond the payload")
        at = [self._payload_start + seg_no * (seg + TAG_LEN)]

        def read(n: int) -> bytes:  # positioned reads: several streams may be open at once
            self._src.seek(at[0])
            data = self._src.read(n)
            at[0] += len(data)
            return data

        segments = iter_segments(read, self._unlock(), seg, first=seg_no, total=n_segments)
        return PlainStream(segments, pos=seg_no * seg, skip=offset - seg_no * seg)

    def _frames_at(self, offset: int, n_segments: int) -> FrameReader:
        h = self.header
        return FrameReader(
            self._stream_at(offset, n_segments), chunk_size=h.chunk_size, slots=len(h.codecs)
        )

    def _load_index(self) -> IndexView:
        h = self.header
        # Unwrap the file key and verify the header MAC before any other header field (the
        # segment size below) is acted upon: a wrong key must say so, whatever the file size.
        self._unlock()
        n, plain = self._layout()
        # Authenticate the last segment (its last flag) before parsing anything: a truncated or
        # extended file must fail as such, not as garbage frames.
        self._stream_at((n - 1) * h.segment_size, n).at_end()
        if plain < TRAILER_LEN:
            raise FormatError("payload too short to hold a trailer")
        trailer_at = plain - TRAILER_LEN
        trailer = self._frames_at(trailer_at, n).next()
        if not isinstance(trailer, TrailerFrame) or trailer.own_offset != trailer_at:
            raise FormatError("no valid trailer at the end of the payload")
        if trailer.index_offset >= trailer_at:
            raise FormatError("trailer points past itself")
        frames = self._frames_at(trailer.index_offset, n)
        frame = frames.next()
        if not isinstance(frame, IndexFrame):
            raise FormatError("trailer does not point at the index")
        index = decode_index_view(frame.body, chunk_size=h.chunk_size, slots=len(h.codecs))
        self._index_body = frame.body
        self._index_pos = frame.pos
        _check_tail(h, frames.next(), frames.next, frame.pos, trailer_at)
        if index.chunk_offsets and index.chunk_offsets[-1] >= trailer.index_offset:
            raise FormatError("the index lists a chunk offset at or beyond the index itself")
        return index

    def _iter_selected(self, names: set[str], digests: bool = True) -> Iterator[MemberData]:
        """The members named, in archive order, each one's entry frame checked against its
        index row (:class:`EntryLocator`) before it is yielded."""
        index = self._get_index()
        used = {s for s, c in enumerate(index.counts) if c}
        decoder = self._decoder(used)
        n_segments, _ = self._layout()
        cursor = _ChunkCursor(self, index, decoder, n_segments)
        locator = EntryLocator(
            index,
            self.header.chunk_size,
            self._index_pos,
            lambda offset: self._stream_at(offset, n_segments),
            lambda offset: self._frames_at(offset, n_segments),
        )
        for entry in index.entries:
            locator.see(entry)
            if entry.member.name not in names:
                continue
            locator.check(entry)
            yield MemberData(
                entry.member, cursor.member_bytes(entry, digests), lambda m=entry.member: m
            )


def _identity(value: str | bytes) -> bytes:
    """An identity as its 32-byte X25519 secret (``AGE-SECRET-KEY-1…`` text or raw bytes)."""
    if isinstance(value, str):
        return parse_identity(value)
    raw = bytes(value)
    if len(raw) != 32:
        raise ValueError("a raw identity must be 32 bytes")
    return raw


def _check_tail(
    h: Header, after: Frame, next_frame: Callable[[], Frame], index_pos: int, trailer_at: int | None
) -> None:
    """After the index: a padding frame iff ``pad`` (of the exact Padmé length), then the trailer
    (at ``trailer_at`` when the caller knows where it must be)."""
    pad: PadFrame | None = None
    if isinstance(after, PadFrame):
        if not h.pad:
            raise FormatError("padding frame in an archive without the pad flag")
        pad, after = after, next_frame()
    elif h.pad:
        raise FormatError("padded archive lacks its padding frame")
    if not isinstance(after, TrailerFrame):
        raise FormatError("index is not followed by the trailer")
    if trailer_at is not None and after.pos != trailer_at:
        raise FormatError("the trailer is not at the end of the payload")
    if after.index_offset != index_pos or after.own_offset != after.pos:
        raise FormatError("trailer offsets do not match")
    if pad is not None:
        unpadded = after.pos - pad.length - 5 + TRAILER_LEN
        if padme(unpadded + 5) != after.pos + TRAILER_LEN:
            raise FormatError("padding length is not the Padmé length")


def _windowed(
    next_frame: Callable[[], Frame], decoder: ChunkDecoder | None, window: int
) -> Iterator[Frame]:
    """Frames in order; chunk frames carry decoded bytes (or are passed as-is without a decoder).

    Up to ``window`` chunk frames (or 256 frames) are gathered and decoded together as a
    group. When the decoder's codecs allow it and ``window`` > 2 (more than one job), the
    next group is gathered and decoded while the previous one is consumed. A failure while
    a group is gathered drops that group; groups gathered before it are delivered first.
    """
    depth = 1 if decoder is not None and decoder.overlaps and window > 2 else 0
    pending: deque[tuple[list[Frame], Callable[[], list[bytes]] | None]] = deque()
    numbered = 0  # chunk frames handed to the decoder so far (the next one's number)
    while True:
        frames: list[Frame] = []
        chunks = 0
        stop = False
        try:
            while chunks < window and len(frames) < 256:
                frame = next_frame()
                frames.append(frame)
                if isinstance(frame, ChunkFrame):
                    chunks += 1
                if isinstance(frame, TrailerFrame):
                    stop = True
                    break
        except Exception:
            while pending:  # completed groups before the failure still reach the caller
                yield from _decoded(*pending.popleft())
            raise
        finish = None
        if decoder is not None and chunks:
            finish = decoder.start_group(
                [(f.slot, f.data, f.raw_len) for f in frames if isinstance(f, ChunkFrame)],
                numbered,
            )
            numbered += chunks
        pending.append((frames, finish))
        while len(pending) > (0 if stop else depth):
            yield from _decoded(*pending.popleft())
        if stop:
            return


def _decoded(frames: list[Frame], finish: Callable[[], list[bytes]] | None) -> Iterator[Frame]:
    if finish is None:
        yield from frames
        return
    decoded = iter(finish())
    for f in frames:
        yield (
            ChunkFrame(f.slot, f.raw_len, next(decoded), f.pos) if isinstance(f, ChunkFrame) else f
        )


class _Pending:
    """The member being delivered: the oldest pending one, or the one just finished."""

    __slots__ = ("entry", "size", "digest", "hasher", "started")

    def __init__(self, entry: Entry, hash_pool: HashPool | None = None) -> None:
        self.entry = entry
        self.size: int | None = None
        self.digest: bytes | None = None
        self.hasher = OrderedHasher(hash_pool)
        self.started = False


def _demux(
    frames: Iterator[Frame],
    stream: PlainStream,
    h: Header,
    with_data: bool,
    hash_pool: HashPool | None = None,
    *,
    digests: bool = True,
    known_index: tuple[bytes, IndexView] | None = None,
) -> Iterator[tuple[str, Any]]:
    """Validate the frame sequence (§6 ordering rules) and turn it into member events.

    ``hash_pool`` (one thread) takes the hashing of large pieces off the
    calling thread; every digest is still checked before the member's "end" event.
    With ``digests`` false no digest is computed or checked (the caller does it).

    ``known_index`` (body, index) is the index already read through the trailer (a seekable
    source): each entry frame is checked against the index row it claims to be before its
    member's "start" event, each finish frame against that row's size and SHA-256 before
    the "end" event, each chunk frame against its indexed offset, and the index frame must
    have exactly that body. Without it (a pipe) the stream is the only view until the index
    arrives last; it is then compared with running digests of what was read.

    Memory: the members declared and not finished yet cost 4 bytes plus their index row each
    (:class:`PendingQueue`, capped at ``MAX_INDEX_BYTES``), names cost a :class:`NameSet`
    (a pipe only), and at most about one chunk of data is buffered; nothing else grows with
    the number of members or chunks.

    Events: ("start", Member), ("data", bytes), ("end", Member with size/sha256),
    ("index", IndexView) once the index, padding and trailer have been checked.
    """
    cs = h.chunk_size
    check = IndexCheck(known_index[1]) if known_index is not None else None
    tally = StreamTally()
    names = NameSet() if check is None else None  # a known index has unique names already
    pending = PendingQueue()  # declared, not finished
    cur: _Pending | None = None  # being delivered: pending.first(), or the one just finished
    last: Entry | None = None  # the last member declared ...
    last_size: int | None = None  # ... and its size once it is finished
    declared = 0
    buf: deque[bytes] = deque()
    dpos = received = 0
    next_start: int | None = 0  # required offset of the next entry when known
    short = False
    n_chunks = 0
    counts = [0] * len(h.codecs)
    pool = hash_pool if with_data and digests else None

    def deliver() -> Iterator[tuple[str, Any]]:
        nonlocal dpos, cur
        while True:
            if cur is None:
                if not pending:
                    return
                cur = _Pending(pending.first(), pool)
            front = cur
            if not front.started:
                front.started = True
                yield "start", front.entry.member
            if front.size is not None:
                end: int | None = front.entry.offset + front.size
            else:
                end = pending.second_offset()  # front is the first pending member
            limit = received if end is None else min(end, received)
            if not with_data:
                dpos = max(dpos, limit)
            while dpos < limit:
                piece = buf[0]
                take = min(len(piece), limit - dpos)
                if take < len(piece):
                    buf[0] = piece[take:]
                    piece = piece[:take]
                else:
                    buf.popleft()
                dpos += take
                if with_data:
                    if digests:
                        front.hasher.update(piece)
                    yield "data", piece
            if front.size is None or dpos < end:  # type: ignore[operator]
                return
            if (
                with_data
                and digests
                and front.entry.member.type == "file"
                and front.hasher.digest() != front.digest
            ):
                raise IntegrityError(f"member {front.entry.member.name!r} fails its SHA-256 check")
            cur = None
            yield "end", _final(front)

    for frame in frames:
        if isinstance(frame, EntryFrame):
            entry = frame.entry
            m = entry.member
            if declared >= limits.MAX_ENTRIES:
                raise LimitExceeded(f"more than {limits.MAX_ENTRIES} members")
            if names is not None:
                names.add(m.name, m.type)
            if entry.offset < received or (last is not None and entry.offset < last.offset):
                raise FormatError(f"entry {m.name!r} starts inside data already assigned")
            if next_start is not None and entry.offset != next_start:
                raise FormatError(
                    f"entry {m.name!r} does not start where the previous member ended"
                )
            if (
                last is not None
                and last.member.type != "file"
                and pending
                and entry.offset != last.offset
            ):
                raise FormatError("a directory or symlink owns data")
            if n_chunks != entry.offset // cs:
                raise FormatError(
                    f"entry {m.name!r} must come right after chunk frame {entry.offset // cs - 1}"
                    if entry.offset // cs
                    else f"entry {m.name!r} must come before the first chunk frame"
                )
            if check is not None:
                check.entry(entry)
            pending.push(entry)
            declared += 1
            last, last_size = entry, None
            next_start = None
        elif isinstance(frame, ChunkFrame):
            if last is None:
                raise FormatError("chunk before the first entry")
            second = pending.second_offset()
            if second is not None and second <= received:
                name = pending.first().member.name
                raise FormatError(f"member {name!r} is complete but its finish frame is missing")
            if n_chunks >= limits.MAX_CHUNKS:
                raise LimitExceeded(f"more than {limits.MAX_CHUNKS} chunks")
            if short:
                raise FormatError("only the last chunk may be shorter than the chunk size")
            short = frame.raw_len < cs
            end_of_chunk = received + frame.raw_len
            if end_of_chunk > last.offset and (
                last.member.type != "file"
                or (last_size is not None and end_of_chunk > last.offset + last_size)
            ):
                raise FormatError("chunk data belongs to no member")
            if check is not None:
                check.chunk(frame.pos)
            else:
                tally.chunk(frame.pos)
            received = end_of_chunk
            n_chunks += 1
            counts[frame.slot] += 1
            if with_data:
                buf.append(frame.data)
        elif isinstance(frame, FinishFrame):
            if not pending:
                raise FormatError("finish frame without an open member")
            entry = pending.pop()
            m = entry.member
            final = finished(m, frame.size, frame.sha256)
            end = entry.offset + frame.size
            if end > received:
                raise FormatError(f"member {m.name!r} finishes before its data arrived")
            if pending:
                if pending.first().offset != end:
                    raise FormatError(
                        f"member {m.name!r} size does not match the next member's start"
                    )
            else:  # it is the last member declared
                if end != received:
                    raise FormatError(f"member {m.name!r} is followed by data of no member")
                next_start = end
                last_size = frame.size
            if check is not None:
                check.finish(final)
            else:
                tally.finished(final, entry.offset)
            # deliver() made the oldest pending member the one being delivered
            assert cur is not None and cur.entry is entry
            cur.size, cur.digest = frame.size, frame.sha256
        elif isinstance(frame, IndexFrame):
            if pending:
                raise FormatError("index before every member was finished")
            if known_index is not None:
                if frame.body != known_index[0]:
                    raise FormatError("the index frame is not the one the trailer points at")
                index = known_index[1]
                same = check is not None and check.complete()
            else:
                index = decode_index_view(frame.body, chunk_size=cs, slots=len(h.codecs))
                same = tally.matches(index)
            if not same or list(index.counts) != counts or index.total != received:
                raise FormatError("the index does not match the archive's content")
            yield from deliver()
            if cur is not None:
                raise FormatError("member data missing before the index")
            _check_tail(h, _next_frame(frames), lambda: _next_frame(frames), frame.pos, None)
            if not stream.at_end():
                raise FormatError("data after the trailer")
            yield "index", index
            return
        else:
            raise FormatError("padding or trailer frame before the index")
        yield from deliver()
    raise FormatError("the archive ends without an index")


def _next_frame(frames: Iterator[Frame]) -> Frame:
    frame = next(frames, None)
    if frame is None:
        raise FormatError("the archive ends without a trailer")
    return frame


def _final(p: _Pending) -> Member:
    return finished(p.entry.member, p.size or 0, p.digest or bytes(SHA256_LEN))


def _member_events(events: Iterator[tuple[str, Any]], box: dict[str, Member]) -> Iterator[bytes]:
    for kind, value in events:
        if kind == "data":
            yield value
        elif kind == "end":
            box["member"] = value
            return
        else:
            raise FormatError("member events out of order")


class _ChunkCursor:
    """Seekable access to decoded chunks by number, decrypting only the chunks asked for."""

    def __init__(
        self, reader: ArchiveReader, index: IndexView, decoder: ChunkDecoder, n_segments: int
    ) -> None:
        self._r = reader
        self._index = index
        self._decoder = decoder
        self._n = n_segments
        self._frames: FrameReader | None = None
        self._next_k = -1
        self._cache: dict[int, bytes] = {}
        self._window = 2 * reader._jobs

    def _expected_raw(self, k: int) -> int:
        cs = self._r.header.chunk_size
        return min(cs, self._index.total - k * cs)

    def _fill(self, k: int, limit: int) -> None:
        if self._frames is None or self._next_k != k:
            self._frames = self._r._frames_at(self._index.chunk_offsets[k], self._n)
            self._next_k = k
        items: list[tuple[int, bytes, int]] = []
        ks: list[int] = []
        while self._next_k <= limit and len(items) < self._window:
            frame = self._frames.next()
            if isinstance(frame, (EntryFrame, FinishFrame)):
                continue
            j = self._next_k
            if not isinstance(frame, ChunkFrame) or frame.pos != self._index.chunk_offsets[j]:
                raise FormatError("the index does not point at a chunk frame")
            if frame.raw_len != self._expected_raw(j):
                raise FormatError(f"chunk {j} has the wrong raw length")
            items.append((frame.slot, frame.data, frame.raw_len))
            ks.append(j)
            self._next_k += 1
        self._cache = dict(zip(ks, self._decoder.decode_group(items, k), strict=True))

    def member_bytes(self, entry: Entry, digests: bool = True) -> Iterator[bytes]:
        m = entry.member
        cs = self._r.header.chunk_size
        size = m.size or 0
        hasher = hashlib.sha256()
        if size:
            first, last = entry.offset // cs, (entry.offset + size - 1) // cs
            for k in range(first, last + 1):
                if k not in self._cache:
                    self._fill(k, last)
                data = self._cache[k]
                lo = max(entry.offset, k * cs) - k * cs
                hi = min(entry.offset + size, k * cs + len(data)) - k * cs
                piece = data[lo:hi]
                if digests:
                    hasher.update(piece)
                yield piece
        if digests and m.type == "file" and hasher.digest() != m.sha256:
            raise IntegrityError(f"member {m.name!r} fails its SHA-256 check")
