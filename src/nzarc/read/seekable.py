"""Random access to an archive's payload on a seekable source (spec/FORMAT.md §5, §6).

* :class:`Source`: the archive's file object, read sequentially or at positions.
* :class:`SeekablePayload`: decrypted streams and frames from any plaintext offset, and the
  index found through the trailer (:meth:`SeekablePayload.load_index`).
* :class:`ChunkCursor`: decoded chunks by number, decrypting only the chunks asked for, and
  a member's bytes from them with their SHA-256 checked.
* :func:`iter_selected`: the members named, each one's entry frame checked against its
  index row before any of its bytes are released.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Collection, Iterator
from dataclasses import dataclass
from typing import Protocol

from nzarc.crypto.suites import SegmentAead
from nzarc.errors import FormatError
from nzarc.format.frames import (
    ChunkFrame,
    EntryFrame,
    FinishFrame,
    FrameReader,
    IndexFrame,
    TrailerFrame,
)
from nzarc.format.header import Header
from nzarc.format.index import IndexView, decode_index_view
from nzarc.format.indexstream import EntryLocator
from nzarc.format.layout import TAG_LEN, TRAILER_LEN
from nzarc.format.member import Entry
from nzarc.format.stream import PlainStream, iter_segments, segment_count
from nzarc.memberdigest import MemberDigest
from nzarc.pipeline import ChunkDecoder
from nzarc.read.tail import check_tail

__all__ = ["ArchiveInput", "Source", "SeekablePayload", "LoadedIndex", "ChunkCursor", "iter_selected"]


class ArchiveInput(Protocol):
    """A binary file object an archive is read from: ``read`` always; ``seekable``,
    ``tell`` and ``seek`` are used only when ``seekable()`` is true."""

    def read(self, n: int, /) -> bytes: ...

    def seekable(self) -> bool: ...

    def tell(self) -> int: ...

    def seek(self, offset: int, whence: int = ..., /) -> int: ...


class Source:
    """The underlying binary file object: sequential reads, optional seeking.

    ``seekable`` is decided once, here; ``base`` is where the archive starts in the file and
    ``size`` the file's size (both 0 on a pipe); ``consumed`` counts the bytes read (the
    archive's size, once a pipe is drained)."""

    def __init__(self, fileobj: ArchiveInput) -> None:
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
        self.consumed = 0

    def read(self, n: int) -> bytes:
        data = self.f.read(n)
        self.consumed += len(data)
        return data

    def seek(self, offset: int) -> None:
        """Move to ``offset`` bytes from the start of the archive."""
        self.f.seek(self.base + offset)


@dataclass(frozen=True)
class LoadedIndex:
    """The index as the trailer locates it: its view, the authenticated frame body it was
    decoded from, and the plaintext offset of its frame."""

    view: IndexView
    body: bytes
    pos: int


class SeekablePayload:
    """The encrypted payload of a seekable ``src``, starting ``payload_start`` bytes into the
    archive. ``unlock()`` gives the payload's AEAD (and has verified the header MAC); it is
    called before anything of the payload is read."""

    def __init__(
        self,
        src: Source,
        header: Header,
        payload_start: int,
        unlock: Callable[[], SegmentAead],
    ) -> None:
        self._src = src
        self._header = header
        self._payload_start = payload_start
        self._unlock = unlock

    @property
    def header(self) -> Header:
        return self._header

    def layout(self) -> tuple[int, int]:
        """(segment count, plaintext length) from the file size."""
        seg = self._header.segment_size
        payload_len = self._src.size - self._src.base - self._payload_start
        n = segment_count(payload_len, seg)
        plain = payload_len - n * TAG_LEN
        return n, plain

    def stream_at(self, offset: int, n_segments: int) -> PlainStream:
        """The verified plaintext from ``offset`` on, of a payload of ``n_segments``
        segments. Several such streams may be open at once (each reads at its own
        position)."""
        seg = self._header.segment_size
        seg_no = offset // seg
        if seg_no >= n_segments:
            raise FormatError("an index offset points beyond the payload")
        at = [self._payload_start + seg_no * (seg + TAG_LEN)]
        src = self._src

        def read(n: int) -> bytes:
            src.seek(at[0])
            data = src.read(n)
            at[0] += len(data)
            return data

        segments = iter_segments(read, self._unlock(), seg, first=seg_no, total=n_segments)
        return PlainStream(segments, pos=seg_no * seg, skip=offset - seg_no * seg)

    def frames_at(self, offset: int, n_segments: int) -> FrameReader:
        """Frames parsed from the plaintext at ``offset`` on (see :meth:`stream_at`)."""
        h = self._header
        return FrameReader(
            self.stream_at(offset, n_segments), chunk_size=h.chunk_size, slots=len(h.codecs)
        )

    def load_index(self) -> LoadedIndex:
        """The index found through the trailer, with everything after it checked (padding,
        trailer, the end of the payload). Raises :class:`FormatError` (or the key's error)
        before parsing anything unauthenticated."""
        h = self._header
        # Unwrap the file key and verify the header MAC before any other header field (the
        # segment size below) is acted upon: a wrong key must say so, whatever the file size.
        self._unlock()
        n, plain = self.layout()
        # Authenticate the last segment (its last flag) before parsing anything: a truncated or
        # extended file must fail as such, not as garbage frames.
        self.stream_at((n - 1) * h.segment_size, n).at_end()
        if plain < TRAILER_LEN:
            raise FormatError("payload too short to hold a trailer")
        trailer_at = plain - TRAILER_LEN
        trailer = self.frames_at(trailer_at, n).next()
        if not isinstance(trailer, TrailerFrame) or trailer.own_offset != trailer_at:
            raise FormatError("no valid trailer at the end of the payload")
        if trailer.index_offset >= trailer_at:
            raise FormatError("trailer points past itself")
        frames = self.frames_at(trailer.index_offset, n)
        frame = frames.next()
        if not isinstance(frame, IndexFrame):
            raise FormatError("trailer does not point at the index")
        index = decode_index_view(frame.body, chunk_size=h.chunk_size, slots=len(h.codecs))
        check_tail(h, frames.next(), frames.next, frame.pos, trailer_at)
        if index.chunk_offsets and index.chunk_offsets[-1] >= trailer.index_offset:
            raise FormatError("the index lists a chunk offset at or beyond the index itself")
        return LoadedIndex(index, frame.body, frame.pos)


class ChunkCursor:
    """Decoded chunks of ``index`` by number, read through ``frames_at(offset)`` and decoded
    by ``decoder`` in groups of up to ``window`` chunks; every chunk frame must lie at its
    indexed offset with the raw length the index implies, or :class:`FormatError`."""

    def __init__(
        self,
        index: IndexView,
        chunk_size: int,
        decoder: ChunkDecoder,
        frames_at: Callable[[int], FrameReader],
        window: int,
    ) -> None:
        self._index = index
        self._cs = chunk_size
        self._decoder = decoder
        self._frames_at = frames_at
        self._window = window
        self._frames: FrameReader | None = None
        self._next_k = -1
        self._cache: dict[int, bytes] = {}

    def _expected_raw(self, k: int) -> int:
        return min(self._cs, self._index.total - k * self._cs)

    def _fill(self, k: int, limit: int) -> None:
        """Decode chunks ``k`` up to at most ``limit`` (one window) into the cache."""
        if self._frames is None or self._next_k != k:
            self._frames = self._frames_at(self._index.chunk_offsets[k])
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
        """The bytes of the member at ``entry`` (its index row, with size and SHA-256). With
        ``digests`` a file's SHA-256 is checked before the iterator ends."""
        m = entry.member
        cs = self._cs
        size = m.size or 0
        digest = MemberDigest()
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
                    digest.update(piece)
                yield piece
        if digests and m.type == "file":
            digest.check(m.name, m.sha256)


def iter_selected(
    payload: SeekablePayload,
    loaded: LoadedIndex,
    decoder: ChunkDecoder,
    names: Collection[str],
    *,
    window: int,
    digests: bool = True,
) -> Iterator[tuple[Entry, Iterator[bytes]]]:
    """The members named, in archive order, as (index row, bytes): each one's entry frame
    is checked against its index row (:class:`EntryLocator`) before it is yielded, and its
    bytes come from :meth:`ChunkCursor.member_bytes`."""
    index = loaded.view
    chunk_size = payload.header.chunk_size
    n_segments, _ = payload.layout()
    cursor = ChunkCursor(
        index, chunk_size, decoder, lambda offset: payload.frames_at(offset, n_segments), window
    )
    locator = EntryLocator(
        index,
        chunk_size,
        loaded.pos,
        lambda offset: payload.stream_at(offset, n_segments),
        lambda offset: payload.frames_at(offset, n_segments),
    )
    for entry in index.entries:
        locator.see(entry)
        if entry.member.name not in names:
            continue
        locator.check(entry)
        yield entry, cursor.member_bytes(entry, digests)
