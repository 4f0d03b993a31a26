"""Streaming archive reader (spec/FORMAT.md).

Works on pipes (one sequential pass, no seek) and on seekable files (index via the trailer,
single members without decrypting the rest). Only AEAD-verified plaintext is parsed, and a
member's bytes reach the caller only from verified segments; a size or SHA-256 mismatch
raises IntegrityError before the member's iterator finishes (unless the caller takes the
SHA-256 check over: ``iter_members(verify_digests=False)``, the
:class:`~nzarc.memberdigest.DigestDeferring` contract).

:class:`ArchiveReader` holds the keys, the decoders and the threads, and puts together
:mod:`nzarc.read.validator` (a sequential pass as typed member events),
:mod:`nzarc.read.seekable` (the index and selected members on a seekable source) and
:mod:`nzarc.decodewindow` (chunks decoded in windows ahead of the validator).
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable, Collection, Iterator, Sequence
from dataclasses import dataclass, field
from typing import IO, Any

from nzarc.codecs.context import CodecContext
from nzarc.codecs.contract import Codec
from nzarc.crypto import keys as keymod
from nzarc.crypto.recipients import parse_identity, unwrap_file_key
from nzarc.crypto.suites import SegmentAead, make_aead
from nzarc.decodewindow import windowed
from nzarc.errors import FormatError, UsageError
from nzarc.format.frames import Frame, FrameReader
from nzarc.format.header import Header, decode_header, read_prelude
from nzarc.format.index import IndexView, MemberListing
from nzarc.format.layout import MAC_LEN, PRELUDE_LEN, SUITE_NONE
from nzarc.format.member import Member
from nzarc.format.stream import PlainStream, iter_segments
from nzarc.memberdigest import DigestDeferring
from nzarc.pipeline import ChunkDecoder, build_decoders
from nzarc.policy import DEFAULT_POLICY, DecodePolicy
from nzarc.read.seekable import (
    ArchiveInput,
    LoadedIndex,
    SeekablePayload,
    Source,
    iter_selected,
)
from nzarc.read.validator import (
    Event,
    IndexSeen,
    MemberBytes,
    MemberEnd,
    MemberStart,
    validate_frames,
)
from nzarc.workers import CancellingExecutor, default_jobs, make_executor
from nzarc.workqueue import HashPool

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


class ArchiveReader(DigestDeferring):
    """Reads one archive. See :func:`nzarc.open`."""

    def __init__(
        self,
        source: ArchiveInput | str | os.PathLike[str],
        *,
        passphrase: str | bytes | None = None,
        identities: Sequence[str | bytes] = (),
        jobs: int | None = None,
        policy: DecodePolicy | None = None,
        codec_context: CodecContext | None = None,
    ) -> None:
        """``policy``: which codecs may be decoded and how far a chunk may expand
        (:mod:`nzarc.policy`; default: every installed codec, each codec's own limit).
        ``jobs``: decoding threads. ``codec_context``: the device and routes of the codecs
        that take one (:mod:`nzarc.codecs.context`; default: the CPU); never the bytes."""
        # Keys and options are checked before the source is opened, so a bad one leaks nothing.
        if policy is not None and not isinstance(policy, DecodePolicy):
            raise TypeError("policy must be a nzarc.policy.DecodePolicy")
        self._policy = policy or DEFAULT_POLICY
        self._passphrase = passphrase
        self._identities = [_identity(i) for i in identities]
        self._jobs = default_jobs(jobs)
        self._codec_context = codec_context
        self._owned: IO[bytes] | None = None
        self._executor: CancellingExecutor | None = None
        self._hash_pool: HashPool | None = None
        if isinstance(source, (str, os.PathLike)):
            self._owned = open(source, "rb")  # noqa: SIM115 - closed by close()
            source = self._owned
        self._src = Source(source)
        try:
            self._prelude, self._header_bytes, self._mac = read_prelude(self._src.read)
            self.header: Header = decode_header(self._header_bytes)
        except BaseException:
            self.close()
            raise
        self._payload_start = PRELUDE_LEN + len(self._header_bytes) + MAC_LEN
        self._payload = SeekablePayload(self._src, self.header, self._payload_start, self._unlock)
        self._aead: SegmentAead | None = None
        self._index: IndexView | None = None
        self._loaded: LoadedIndex | None = None  # the index as the trailer locates it
        self._consumed = False
        self._decoders: dict[int, Codec] = {}

    # -- lifecycle ------------------------------------------------------------------------

    def close(self) -> None:
        executor = getattr(self, "_executor", None)  # absent when __init__ failed early
        if executor is not None:
            executor.shutdown(cancel_futures=True)  # stops decoding still under way
            self._executor = None
        pool = getattr(self, "_hash_pool", None)
        if pool is not None:
            pool.shutdown()
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

    def _get_executor(self) -> CancellingExecutor:
        if self._executor is None:
            self._executor = make_executor(self._jobs)
        return self._executor

    def _decoder(self, slots: Collection[int]) -> ChunkDecoder:
        missing = [s for s in sorted(slots) if s not in self._decoders]
        self._decoders.update(build_decoders(
            self.header.codecs, missing, self._policy, self._codec_context
        ))
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
                self._loaded = self._payload.load_index()
                self._index = self._loaded.view
            else:
                for event in self._scan(with_data=False):
                    if isinstance(event, IndexSeen):
                        self._index = event.index
        assert self._index is not None
        return self._index

    # -- sequential pass ------------------------------------------------------------------

    def _sequential_frames(self, with_data: bool) -> tuple[Iterator[Frame], PlainStream]:
        aead = self._unlock()
        if self._src.seekable:
            self._src.seek(self._payload_start)
        elif self._consumed:
            raise UsageError("a non-seekable archive can be read only once")
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
        return windowed(reader.next, decoder, 2 * self._jobs), stream

    def _scan(self, with_data: bool, *, digests: bool = True) -> Iterator[Event]:
        frames, stream = self._sequential_frames(with_data)
        pool = self._get_hash_pool() if with_data and digests else None
        known = None
        if self._index is not None and self._loaded is not None:
            known = (self._loaded.body, self._index)
        yield from validate_frames(
            frames, stream, self.header, with_data, pool, digests=digests, known_index=known
        )

    def iter_members(
        self, names: Collection[str] | None = None, *, verify_digests: bool = True
    ) -> Iterator[MemberData]:
        """Members in archive order with their verified data; see the module docstring.

        With ``verify_digests=False`` the members' SHA-256 digests are not computed here:
        the caller must hash every file member's bytes and compare the digest with
        ``member.sha256`` (final once ``chunks()`` has ended) before trusting them. The
        AEAD, the frame structure and every member's size are verified either way
        (:class:`nzarc.memberdigest.DigestDeferring`).
        """
        if names is not None and self._src.seekable:
            yield from self._iter_selected(set(names), verify_digests)
            return
        events = self._scan(with_data=True, digests=verify_digests)
        wanted = None if names is None else set(names)
        current: MemberData | None = None
        for event in events:
            if isinstance(event, MemberStart):
                if current is not None:
                    current._drain()
                box: dict[str, Member] = {}
                gen = _member_bytes(events, box)
                current = MemberData(event.member, gen, functools.partial(box.__getitem__, "member"))
                if wanted is None or event.member.name in wanted:
                    yield current
                current._drain()
            elif isinstance(event, IndexSeen):
                self._index = event.index

    def test(self) -> TestReport:
        """Decrypt, decode and verify everything; raise on the first problem."""
        report = TestReport()
        for event in self._scan(with_data=True):
            if isinstance(event, MemberEnd):
                report.members += 1
                if event.member.type == "file":
                    size = event.member.size
                    assert size is not None, "a member's end carries its verified size"
                    report.files += 1
                    report.bytes += size
            elif isinstance(event, IndexSeen):
                self._index = event.index
                report.chunks = len(event.index.chunk_offsets)
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
    def _iter_selected(self, names: set[str], digests: bool = True) -> Iterator[MemberData]:
        """The members named, in archive order, read through the index without decrypting
        the others (:func:`nzarc.read.seekable.iter_selected`)."""
        index = self._get_index()
        assert self._loaded is not None
        used = {s for s, c in enumerate(index.counts) if c}
        decoder = self._decoder(used)
        selected = iter_selected(
            self._payload, self._loaded, decoder, names, window=2 * self._jobs, digests=digests
        )
        for entry, data in selected:
            yield MemberData(entry.member, data, _fixed(entry.member))


def _fixed(member: Member) -> Callable[[], Member]:
    """The final-member callable of a member whose entry is already final."""
    return lambda: member


def _identity(value: str | bytes) -> bytes:
    """An identity as its 32-byte X25519 secret (``AGE-SECRET-KEY-1…`` text or raw bytes)."""
    if isinstance(value, str):
        return parse_identity(value)
    raw = bytes(value)
    if len(raw) != 32:
        raise UsageError("a raw identity must be 32 bytes")
    return raw


def _member_bytes(events: Iterator[Event], box: dict[str, Member]) -> Iterator[bytes]:
    """The data of the member whose :class:`MemberStart` was just taken from ``events``; its
    final member (verified size and SHA-256) is put in ``box["member"]`` at its end."""
    for event in events:
        if isinstance(event, MemberBytes):
            yield event.data
        elif isinstance(event, MemberEnd):
            box["member"] = event.member
            return
        else:
            raise FormatError("member events out of order")
