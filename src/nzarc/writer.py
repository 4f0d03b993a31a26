"""Streaming archive writer (spec/FORMAT.md). Never seeks; memory is O(chunk size × batch).

Frame order: an entry-start frame is queued when a member begins (its data is not cut into a
chunk yet, so it precedes the chunk holding its first byte); a chunk frame when
``chunk_size`` bytes are buffered; a member's finish frame once its last byte is in a queued
chunk and all earlier members are finished. Queued items are written in order after each
encoded group.

The header, and with it the codec table, is written only once the table is settled: while at
most ``SEAL_CHUNKS`` chunks have been cut, encoded groups are held back (memory stays
O(chunk size × ``SEAL_CHUNKS``)). An archive that ends by then declares only the codecs its
chunks use, and with ``auto`` the set of codecs that gives the smallest archive
(:func:`nzarc.pipeline.smallest_table`); a longer one declares every planned codec. The bytes
therefore never depend on the number of jobs.
"""

from __future__ import annotations

import dataclasses
import os
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, BinaryIO

from nzarc.crypto import keys as keymod
from nzarc.crypto.recipients import (
    DEFAULT_ARGON2,
    Argon2Params,
    parse_recipient,
    wrap_argon2id,
    wrap_x25519,
)
from nzarc.crypto.suites import make_aead
from nzarc.errors import LimitExceeded, UsageError
from nzarc.format import limits
from nzarc.format.frames import (
    encode_chunk_head,
    encode_entry,
    encode_finish,
    encode_index_frame,
    encode_pad,
    encode_trailer,
)
from nzarc.format.header import Header, encode_header, pack_prelude
from nzarc.format.index import Index, encode_index, padme
from nzarc.format.layout import (
    KEY_LEN,
    MODE_MASK,
    SALT_LEN,
    SHA256_LEN,
    SUITE_NONE,
    TRAILER_LEN,
)
from nzarc.format.member import Entry, Member, NameSet
from nzarc.format.paths import validate_link_target, validate_member_name
from nzarc.format.stream import SegmentWriter
from nzarc.options import WriterOptions
from nzarc.pipeline import (
    ChunkEncoder,
    EncodedGroup,
    ProgressEvent,
    default_jobs,
    make_executor,
    plan_codecs,
    smallest_table,
)
from nzarc.walk import WalkOptions
from nzarc.walk import add_path as add_tree
from nzarc.workqueue import HashPool, OrderedHasher

__all__ = ["ArchiveWriter", "WriteStats"]

_READ_BLOCK = 1 << 20
#: Reads are sized to end where the current chunk ends once that is at least this much.
_MIN_ALIGNED_READ = 64 << 10

#: Chunks cut before the header must be written: shorter archives get a codec table that
#: holds only what they use.
SEAL_CHUNKS = 4
#: Frames held back (no chunk cut yet, e.g. many empty members) before the header is written.
_SEAL_FRAME_BYTES = 1 << 20

#: Waits for an encoded group (see ``ChunkEncoder.start_group``).
_Finish = Callable[[], EncodedGroup]


class _HeldFrames:
    """Plaintext frames written before the header (and so the payload key) is settled."""

    def __init__(self) -> None:
        self.data = bytearray()

    @property
    def plaintext_len(self) -> int:
        return len(self.data)

    def write(self, data: bytes | bytearray | memoryview) -> None:
        self.data += data


@dataclass
class WriteStats:
    """What a finished writer produced."""

    members: int = 0
    files: int = 0
    raw_bytes: int = 0
    archive_bytes: int = 0
    chunks: int = 0
    chunks_per_codec: dict[str, int] = field(default_factory=dict)


@dataclass
class _Open:
    entry: Entry
    end: int | None = None
    digest: bytes = bytes(SHA256_LEN)


class ArchiveWriter:
    """Writes one archive to a binary file object (a pipe is fine). Use as a context manager.

    ``options`` (:class:`nzarc.options.WriterOptions`) says how the archive is written; each
    of its fields may also be given as a keyword (``codec="zstd"``), which replaces that field
    of ``options`` (default: every field's default). The other parameters
    are those of :func:`nzarc.create`, plus ``argon2`` (the passphrase's key-derivation cost,
    for tests and vectors). An exception inside ``with`` aborts the archive: nothing further
    is written, and a reader reports it as truncated.
    """

    def __init__(
        self,
        fileobj: BinaryIO | IO[bytes],
        *,
        options: WriterOptions | None = None,
        passphrase: str | bytes | None = None,
        recipients: Sequence[str] = (),
        encrypt: bool = True,
        rng: Callable[[int], bytes] | None = None,
        progress: Callable[[ProgressEvent], None] | None = None,
        argon2: Argon2Params = DEFAULT_ARGON2,
        **option_fields: Any,
    ) -> None:
        opts = WriterOptions.build(options, **option_fields)
        self.options = opts
        recipient_keys = [parse_recipient(r) for r in recipients]
        if encrypt and passphrase is None and not recipient_keys:
            raise UsageError(
                "encryption needs a passphrase or at least one recipient (or encrypt=False)"
            )
        if passphrase is not None and recipient_keys:
            raise UsageError("a passphrase cannot be combined with public-key recipients")
        if not encrypt and (passphrase is not None or recipient_keys):
            raise UsageError("encrypt=False cannot take a passphrase or recipients")
        limits.check("recipient count", len(recipient_keys), limits.MAX_STANZAS)
        self._out = fileobj
        # An unencrypted archive needs no secret: without an injected source its one random
        # value, the payload salt, is all zeros, so its bytes are a function of its input.
        self._rng = _checked_rng(rng) if rng is not None else os.urandom if encrypt else _zeros
        self._progress = progress
        self.chunk_size = opts.chunk_size
        self._jobs = default_jobs(opts.jobs)
        self._batch = 2 * self._jobs
        self._plan = plan_codecs(opts.codec, opts.level, opts.window, opts.codec_context)
        self._executor = make_executor(self._jobs)
        self._hash_pool = HashPool(2 * self._jobs + 2)  # member digests, off this thread
        self._encoder = ChunkEncoder(self._plan, self._executor, self._jobs, verify=opts.verify)

        if encrypt:
            file_key = self._rng(KEY_LEN)
            if passphrase is not None:
                stanzas = (wrap_argon2id(passphrase, file_key, self._rng, argon2),)
            else:
                stanzas = tuple(wrap_x25519(r, file_key, self._rng) for r in recipient_keys)
        else:
            file_key, stanzas = keymod.ZERO_KEY, ()
        salt = self._rng(SALT_LEN)
        self._file_key = file_key
        self._header = Header(
            suite=opts.suite if encrypt else SUITE_NONE,
            stanzas=stanzas,
            codecs=tuple(self._plan.entries),
            chunk_size=opts.chunk_size,
            segment_size=opts.segment_size,
            salt=salt,
            pad=opts.pad,
        )
        self._pad = opts.pad
        self._segments: SegmentWriter | _HeldFrames = _HeldFrames()
        self._slot_of: dict[int, int] = {}  # plan slot -> slot in the written codec table
        self._table: list[int] = []  # plan slots, in table order
        self._chunks_cut = 0
        # Groups encoded ahead: while one group is in the executor the next is read and cut.
        self._depth = 1 if self._encoder.overlaps else 0
        self._pending: deque[tuple[list[bytes | int], list[bytes], _Finish | None]] = deque()

        self._names = NameSet()
        self._entries: list[Entry] = []
        self._open: deque[_Open] = deque()
        self._buf = bytearray()  # logical bytes not yet cut into a chunk
        self._pos = 0  # logical bytes appended
        self._cut = 0  # logical bytes cut into chunks
        self._queue: list[bytes | int] = []  # frames, or indexes into self._group
        self._group: list[bytes] = []
        self._chunk_offsets: list[int] = []
        self._counts: list[int] = []
        self._started = False
        self._closed = False
        self._failed = False
        self.stats = WriteStats()

    # -- output ---------------------------------------------------------------------------

    def _raw_write(self, data: bytes) -> None:
        view = memoryview(data)
        while view:  # raw file objects may accept only part of a write
            n = self._out.write(view)
            if n is None or n >= len(view):
                break
            if n <= 0:
                raise OSError("the output accepted no bytes")
            view = view[n:]
        self.stats.archive_bytes += len(data)

    def _start(self) -> None:
        if self._closed or self._failed:
            raise UsageError("the archive writer is closed")
        self._started = True

    def _seal(self, table: list[int]) -> None:
        """Write the header declaring the plan slots ``table`` (sorted, with 0), then the
        frames held back so far."""
        assert not self._sealed and table and table[0] == 0
        self._table = table
        self._slot_of = {slot: i for i, slot in enumerate(table)}
        self._counts = [0] * len(table)
        header = self._header_with(table)
        header_bytes = encode_header(header)
        prelude = pack_prelude(header_bytes)
        mac = keymod.header_mac(self._file_key, prelude, header_bytes)
        self._raw_write(prelude + header_bytes + mac)
        held = self._segments
        self._segments = SegmentWriter(
            self._raw_write,
            make_aead(header.suite, keymod.payload_key(self._file_key, header.salt, mac)),
            header.segment_size,
            executor=self._executor,
            window=4 * self._jobs,
        )
        assert isinstance(held, _HeldFrames)
        if held.data:
            self._segments.write(bytes(held.data))

    def _header_with(self, table: list[int]) -> Header:
        return dataclasses.replace(self._header, codecs=tuple(self._plan.entries[s] for s in table))

    def _seal_all(self) -> None:
        """Write the header declaring every planned codec (the archive may go on)."""
        self._seal(list(range(len(self._plan.entries))))

    @property
    def _sealed(self) -> bool:
        return bool(self._table)

    def _header_len(self, table: list[int]) -> int:
        """Bytes a table costs: the header, plus each slot's count in the index (one byte:
        a table is settled on at most SEAL_CHUNKS chunks)."""
        return len(encode_header(self._header_with(table))) + len(table)

    def _seal_final(self) -> None:
        """Every chunk is cut and pending: settle the table on all of them, write everything."""
        groups = [(q, g, f() if f is not None else EncodedGroup([], [])) for q, g, f in self._pending]
        self._pending.clear()
        chunks = [c for _, g, _ in groups for c in g]
        merged = EncodedGroup(
            [c for _, _, e in groups for c in e.chosen], [o for _, _, e in groups for o in e.outputs]
        )
        table, chosen = smallest_table(
            self._plan, chunks, merged, self._encoder.acceptable, self._header_len
        )
        self._seal(table)
        k = 0
        for queue, group, _ in groups:
            self._write_group(queue, group, chosen[k : k + len(group)])
            k += len(group)

    def _emit(self, item: bytes) -> None:
        if self._group or self._pending:  # chunks before this frame are still being encoded
            self._queue.append(item)
        else:
            self._segments.write(item)
            if not self._sealed and self._segments.plaintext_len > _SEAL_FRAME_BYTES:
                self._seal_all()

    def _cut_chunk(self, chunk: bytes) -> None:
        self._queue.append(len(self._group))
        self._group.append(chunk)
        self._cut += len(chunk)
        self._chunks_cut += 1
        if not self._sealed and self._chunks_cut > SEAL_CHUNKS:
            self._seal_all()  # held groups follow at the next flush
        self._release_finished()
        if len(self._group) >= self._batch:
            self._flush_group()

    def _flush_group(self, *, final: bool = False) -> None:
        """Submit the current group for encoding; write out the groups that must be done now
        (all but ``self._depth`` of them, or all when ``final``), in order. Until the header
        is written, groups are held back (see the module docstring)."""
        finish = self._encoder.start_group(self._group) if self._group else None
        self._pending.append((self._queue, self._group, finish))
        self._queue, self._group = [], []
        if not self._sealed:
            if final:
                self._seal_final()
            return  # at most SEAL_CHUNKS chunks so far: held back
        keep = 0 if final else self._depth
        while len(self._pending) > keep:
            queue, group, finish = self._pending.popleft()
            self._write_group(queue, group, finish().chosen if finish is not None else [])

    def _write_group(
        self, queue: list[bytes | int], group: list[bytes], encoded: list[tuple[int, bytes]]
    ) -> None:
        for item in queue:
            if isinstance(item, int):
                plan_slot, out = encoded[item]
                slot = self._slot_of[plan_slot]
                raw_len = len(group[item])
                if len(self._chunk_offsets) >= limits.MAX_CHUNKS:
                    raise LimitExceeded(
                        f"the archive would hold more than {limits.MAX_CHUNKS} chunks",
                        hint="use a larger --chunk-size",
                    )
                self._chunk_offsets.append(self._segments.plaintext_len)
                self._segments.write(encode_chunk_head(slot, raw_len, len(out)))
                self._segments.write(out)
                self._counts[slot] += 1
                if self._progress:
                    self._progress(
                        ProgressEvent("chunk", bytes_in=raw_len, bytes_out=len(out), chunks=1)
                    )
            else:
                self._segments.write(item)

    def _append(self, data: bytes) -> None:
        size = self.chunk_size
        self._pos += len(data)
        if not self._buf and len(data) == size and type(data) is bytes:
            self._cut_chunk(data)  # a read that is exactly the next chunk: no copy
            return
        self._buf += data
        if len(self._buf) >= size:
            view = memoryview(self._buf)
            start = 0
            try:
                while len(self._buf) - start >= size:
                    chunk = bytes(view[start : start + size])
                    start += size
                    self._cut_chunk(chunk)
            finally:
                view.release()
            del self._buf[:start]

    def _read_size(self) -> int:
        """How much to read next: up to the end of the current chunk, so that reads line
        up with chunks and need no copying (unless that is a small remainder)."""
        room = self.chunk_size - len(self._buf)
        return room if room >= _MIN_ALIGNED_READ else _READ_BLOCK

    def _release_finished(self) -> None:
        while self._open and self._open[0].end is not None and self._open[0].end <= self._cut:
            done = self._open.popleft()
            size = done.end - done.entry.offset  # type: ignore[operator]
            self._emit(encode_finish(size, done.digest))

    # -- members --------------------------------------------------------------------------

    def _begin(self, member: Member) -> Entry:
        self._start()
        validate_member_name(member.name)
        self._names.add(member.name, member.type)
        if len(self._entries) >= limits.MAX_ENTRIES:
            raise LimitExceeded(f"an archive holds at most {limits.MAX_ENTRIES} members")
        entry = Entry(member, self._pos)
        self._emit(encode_entry(member, self._pos))
        self.stats.members += 1
        if self._progress:
            self._progress(ProgressEvent("member", name=member.name))
        return entry

    def _finish(self, entry: Entry, size: int, digest: bytes) -> None:
        member = entry.member
        if member.type == "file":
            member = Member(member.name, "file", member.mode, member.mtime_ns, size, digest, None)
            self.stats.files += 1
            self.stats.raw_bytes += size
        self._entries.append(Entry(member, entry.offset))
        self._open.append(
            _Open(
                entry, entry.offset + size, digest if member.type == "file" else bytes(SHA256_LEN)
            )
        )
        self._release_finished()

    def _guarded(self, fn: Callable[[], Any]) -> Any:
        try:
            return fn()
        except BaseException:
            self._failed = True
            raise

    def add_file(
        self,
        arcname: str,
        fileobj: IO[bytes] | BinaryIO,
        *,
        mode: int = 0o644,
        mtime_ns: int | None = None,
        size_hint: int | None = None,
    ) -> Member:
        """Add a regular file whose content is read from ``fileobj`` until EOF, incrementally."""

        def run() -> Member:
            member = Member(arcname, "file", mode & MODE_MASK, _mtime(mtime_ns), None, None)
            entry = self._begin(member)
            hasher = OrderedHasher(self._hash_pool)
            size = 0
            while True:
                block = fileobj.read(self._read_size())
                if not block:
                    break
                if type(block) is not bytes:  # hashed later: must not change meanwhile
                    block = bytes(block)
                hasher.update(block)
                size += len(block)
                self._append(block)
            digest = hasher.digest()
            self._finish(entry, size, digest)
            return Member(arcname, "file", member.mode, member.mtime_ns, size, digest)

        return self._guarded(run)

    def add_bytes(
        self, arcname: str, data: bytes, *, mode: int = 0o644, mtime_ns: int | None = None
    ) -> Member:
        import io

        return self.add_file(arcname, io.BytesIO(data), mode=mode, mtime_ns=mtime_ns)

    def add_dir(self, arcname: str, *, mode: int = 0o755, mtime_ns: int | None = None) -> Member:
        def run() -> Member:
            member = Member(arcname, "dir", mode & MODE_MASK, _mtime(mtime_ns), 0, None)
            self._finish(self._begin(member), 0, bytes(SHA256_LEN))
            return member

        return self._guarded(run)

    def add_symlink(self, arcname: str, target: str, *, mtime_ns: int | None = None) -> Member:
        def run() -> Member:
            validate_link_target(target)
            member = Member(arcname, "symlink", 0o777, _mtime(mtime_ns), 0, None, target)
            self._finish(self._begin(member), 0, bytes(SHA256_LEN))
            return member

        return self._guarded(run)

    def add_path(
        self,
        path: str | os.PathLike[str],
        arcname: str | None = None,
        *,
        walk: WalkOptions | None = None,
    ) -> None:
        """Add a file, a symlink (stored as a link) or a directory tree (recursively, sorted);
        see :mod:`nzarc.walk` for the order and for ``walk`` (what is excluded, and whether
        an unreadable source fails the archive, the default, or is skipped and recorded)."""
        p = Path(path)
        if arcname is None:
            arcname = _default_arcname(p)
        if walk is None:
            walk = WalkOptions(on_special=self._report_special)
        add_tree(self, p, arcname, walk)

    def _report_special(self, arcname: str) -> None:
        if self._progress:
            self._progress(ProgressEvent("skip", name=arcname))

    # -- closing --------------------------------------------------------------------------

    def close(self) -> WriteStats:
        """Finish the archive (last chunk, index, padding, trailer, last segment) and flush."""
        if self._closed:
            return self.stats
        if self._failed:
            raise UsageError("the archive writer failed earlier; the archive is incomplete")

        def run() -> WriteStats:
            self._start()
            if self._buf:
                chunk = bytes(self._buf)
                self._buf.clear()
                self._cut_chunk(chunk)
            self._release_finished()
            self._flush_group(final=True)
            assert not self._open
            index = Index(
                tuple(self._entries), tuple(self._chunk_offsets), tuple(self._counts), self._pos
            )
            index_offset = self._segments.plaintext_len
            self._segments.write(encode_index_frame(encode_index(index)))
            length = self._segments.plaintext_len + TRAILER_LEN
            if self._pad:
                target = padme(length + 5)
                self._segments.write(encode_pad(target - length - 5))
            self._segments.write(encode_trailer(index_offset, self._segments.plaintext_len))
            self._segments.close()
            if hasattr(self._out, "flush"):
                self._out.flush()
            self._closed = True
            self._executor.shutdown()
            self._hash_pool.shutdown()
            self.stats.chunks = len(self._chunk_offsets)
            per: dict[str, int] = {}
            entries = [self._plan.entries[slot] for slot in self._table]
            for entry, count in zip(entries, self._counts, strict=True):
                if count:
                    per[entry.codec_id] = per.get(entry.codec_id, 0) + count
            self.stats.chunks_per_codec = per
            if self._progress:
                self._progress(
                    ProgressEvent(
                        "done",
                        bytes_in=self._pos,
                        bytes_out=self.stats.archive_bytes,
                        chunks=self.stats.chunks,
                    )
                )
            return self.stats

        return self._guarded(run)

    def abort(self) -> None:
        """Stop without finishing: nothing further is written (but for the header, when
        members were added and it was still held back, so that a reader reports the archive
        as truncated rather than as not an archive)."""
        if self._started and not self._sealed and not self._closed:
            try:
                self._seal_all()
            except Exception:  # best effort: the output may be what failed
                pass
        self._failed = True
        self._executor.shutdown(cancel_futures=True)
        self._hash_pool.shutdown()

    def __enter__(self) -> ArchiveWriter:
        return self

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        if exc_type is not None:
            self.abort()
        else:
            self.close()


def _zeros(n: int) -> bytes:
    """The randomness of an unencrypted archive: none (its payload salt is all zeros)."""
    return bytes(n)


def _checked_rng(rng: Callable[[int], bytes]) -> Callable[[int], bytes]:
    """Wrap an injected randomness source (tests, vectors) so a short or wrong draw is refused."""

    def draw(n: int) -> bytes:
        out = rng(n)
        if not isinstance(out, bytes) or len(out) != n:
            raise ValueError(f"rng({n}) must return exactly {n} bytes")
        return out

    return draw


def _mtime(mtime_ns: int | None) -> int:
    import time

    return time.time_ns() if mtime_ns is None else int(mtime_ns)


def _default_arcname(p: Path) -> str:
    name = os.path.basename(os.path.normpath(str(p)))
    return "" if name in ("", ".", "..", os.sep) else name
