"""Streaming archive writer (spec/FORMAT.md). Never seeks; memory is O(chunk size × batch).

The writer owns the members (names, entries, digests, limits) and the keys; the layout of
frames and chunks, and when the header is written, is :class:`nzarc.chunkstream.ChunkStream`'s.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import IO, Any, BinaryIO

from nzarc.chunkstream import SEAL_CHUNKS, ChunkStream
from nzarc.crypto import keys as keymod
from nzarc.crypto.recipients import (
    DEFAULT_ARGON2,
    Argon2Params,
    parse_recipient,
    wrap_argon2id,
    wrap_x25519,
)
from nzarc.errors import LimitExceeded, UsageError
from nzarc.events import ProgressEvent, ProgressSink
from nzarc.format import limits
from nzarc.format.frames import encode_entry, encode_finish
from nzarc.format.header import Header, Stanza
from nzarc.format.layout import KEY_LEN, MODE_MASK, SALT_LEN, SHA256_LEN, SUITE_NONE
from nzarc.format.member import Entry, Member, NameSet
from nzarc.format.paths import validate_link_target, validate_member_name
from nzarc.options import WriterOptions
from nzarc.pipeline import ChunkEncoder
from nzarc.planning import plan_codecs
from nzarc.walk import WalkOptions
from nzarc.walk import add_path as add_tree
from nzarc.workers import default_jobs, make_executor
from nzarc.workqueue import HashPool, OrderedHasher

__all__ = ["ArchiveWriter", "WriteStats", "SEAL_CHUNKS"]

_READ_BLOCK = 1 << 20
#: Reads are sized to end where the current chunk ends once that is at least this much.
_MIN_ALIGNED_READ = 64 << 10

@dataclass
class WriteStats:
    """What a finished writer produced."""

    members: int = 0
    files: int = 0
    raw_bytes: int = 0
    archive_bytes: int = 0
    chunks: int = 0
    chunks_per_codec: dict[str, int] = field(default_factory=dict)


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
        progress: ProgressSink | None = None,
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
        self._jobs = default_jobs(opts.jobs)
        self._plan = plan_codecs(opts.codec, opts.all_codec_params(), opts.codec_context)
        self._executor = make_executor(self._jobs)
        self._hash_pool = HashPool(2 * self._jobs + 2)  # member digests, off this thread
        self._encoder = ChunkEncoder(self._plan, self._executor, self._jobs, verify=opts.verify)

        if encrypt:
            file_key = self._rng(KEY_LEN)
            stanzas: tuple[Stanza, ...]
            if passphrase is not None:
                stanzas = (wrap_argon2id(passphrase, file_key, self._rng, argon2),)
            else:
                stanzas = tuple(wrap_x25519(r, file_key, self._rng) for r in recipient_keys)
        else:
            file_key, stanzas = keymod.ZERO_KEY, ()
        salt = self._rng(SALT_LEN)
        header = Header(
            suite=opts.suite if encrypt else SUITE_NONE,
            stanzas=stanzas,
            codecs=tuple(self._plan.entries),
            chunk_size=opts.chunk_size,
            segment_size=opts.segment_size,
            salt=salt,
            pad=opts.pad,
        )
        self._pad = opts.pad
        self._stream = ChunkStream(
            self._raw_write,
            header,
            file_key,
            self._plan,
            self._encoder,
            self._executor,
            jobs=self._jobs,
            batch=2 * self._jobs,
            progress=progress,
        )
        self.chunk_size = opts.chunk_size
        self._names = NameSet()
        self._entries: list[Entry] = []
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

    # -- members --------------------------------------------------------------------------

    def _begin(self, member: Member) -> Entry:
        self._start()
        validate_member_name(member.name)
        self._names.add(member.name, member.type)
        if len(self._entries) >= limits.MAX_ENTRIES:
            raise LimitExceeded(f"an archive holds at most {limits.MAX_ENTRIES} members")
        entry = Entry(member, self._stream.pos)
        self._stream.emit(encode_entry(member, entry.offset))
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
        digest = digest if member.type == "file" else bytes(SHA256_LEN)
        self._stream.finish_at(entry.offset + size, encode_finish(size, digest))

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
                block = fileobj.read(self._stream.read_size(_READ_BLOCK, _MIN_ALIGNED_READ))
                if not block:
                    break
                if type(block) is not bytes:  # hashed later: must not change meanwhile
                    block = bytes(block)
                hasher.update(block)
                size += len(block)
                self._stream.append(block)
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
            self._stream.close(self._entries, pad=self._pad)
            if hasattr(self._out, "flush"):
                self._out.flush()
            self._closed = True
            self._executor.shutdown()
            self._hash_pool.shutdown()
            self.stats.chunks = len(self._stream.chunk_offsets)
            assert self._stream.table is not None
            self.stats.chunks_per_codec = self._stream.table.chunks_per_codec()
            if self._progress:
                self._progress(
                    ProgressEvent(
                        "done",
                        bytes_in=self._stream.pos,
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
        if self._started and not self._stream.sealed and not self._closed:
            try:
                self._stream.seal_all()
            except Exception:  # best effort: the output may be what failed
                pass
        self._failed = True
        self._executor.shutdown(cancel_futures=True)
        self._hash_pool.shutdown()

    def __enter__(self) -> ArchiveWriter:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
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
