"""The writer's payload in order: logical bytes cut into chunks, frames between them, the
header once the codec table is settled, and the tail (index, padding, trailer).

Frame order: a frame given to :meth:`ChunkStream.emit` (a member's entry-start) follows every
chunk cut before it and precedes the chunk holding the next byte; a member's finish frame
(:meth:`ChunkStream.finish_at`) follows the chunk holding the member's last byte and every
earlier finish frame. Frames wait in a queue while the chunks before them are encoded, and
are written in order after each encoded group.

The header, and with it the codec table, is written only once the table is settled: while at
most ``SEAL_CHUNKS`` chunks have been cut, encoded groups are held back (memory stays
O(chunk size × ``SEAL_CHUNKS``)). An archive that ends by then declares only the codecs its
chunks use, and with ``auto`` the set of codecs that gives the smallest archive
(:func:`nzarc.planning.smallest_table`); a longer one declares every planned codec. The bytes
therefore never depend on the number of jobs.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Sequence
from concurrent.futures import Executor

from nzarc.crypto import keys as keymod
from nzarc.crypto.suites import make_aead
from nzarc.errors import LimitExceeded
from nzarc.events import ProgressEvent, ProgressSink
from nzarc.format import limits
from nzarc.format.frames import (
    encode_chunk_head,
    encode_index_frame,
    encode_pad,
    encode_trailer,
)
from nzarc.format.header import Header, encode_header, pack_prelude
from nzarc.format.index import Index, encode_index, padme
from nzarc.format.layout import TRAILER_LEN
from nzarc.format.member import Entry
from nzarc.format.stream import SegmentWriter
from nzarc.pipeline import ChunkEncoder
from nzarc.planning import (
    CodecPlan,
    CodecTable,
    EncodedGroup,
    smallest_table,
    table_header,
    table_header_len,
)

__all__ = ["ChunkStream", "SEAL_CHUNKS"]

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


class ChunkStream:
    """Lays out one archive after its prelude: see the module docstring.

    ``write`` receives the archive's bytes in order. ``header`` declares every codec of
    ``plan``; the stream writes it with the table it settles on, keyed by ``file_key``.
    ``batch`` chunks make a group for ``encoder``; ``jobs`` sizes the sealing window of the
    segment writer on ``executor``. ``progress`` receives a ``chunk`` event per chunk written.
    """

    def __init__(
        self,
        write: Callable[[bytes], None],
        header: Header,
        file_key: bytes,
        plan: CodecPlan,
        encoder: ChunkEncoder,
        executor: Executor,
        *,
        jobs: int,
        batch: int,
        progress: ProgressSink | None = None,
    ) -> None:
        self._write = write
        self._header = header
        self._file_key = file_key
        self._plan = plan
        self._encoder = encoder
        self._executor = executor
        self._jobs = jobs
        self._batch = batch
        self._progress = progress
        self.chunk_size = header.chunk_size
        self._segments: SegmentWriter | _HeldFrames = _HeldFrames()
        self.table: CodecTable | None = None  # set once the header is written
        self._chunks_cut = 0
        # Groups encoded ahead: while one group is in the executor the next is read and cut.
        self._depth = 1 if encoder.overlaps else 0
        self._pending: deque[tuple[list[bytes | int], list[bytes], _Finish | None]] = deque()
        self._finishing: deque[tuple[int, bytes]] = deque()  # (logical end, finish frame)
        self._buf = bytearray()  # logical bytes not yet cut into a chunk
        self.pos = 0  # logical bytes appended
        self._cut = 0  # logical bytes cut into chunks
        self._queue: list[bytes | int] = []  # frames, or indexes into self._group
        self._group: list[bytes] = []
        self.chunk_offsets: list[int] = []

    # -- header ---------------------------------------------------------------------------

    @property
    def sealed(self) -> bool:
        """True once the header is written."""
        return self.table is not None

    def _seal(self, slots: list[int]) -> None:
        """Write the header declaring the plan slots ``slots`` (sorted, with 0), then the
        frames held back so far."""
        assert self.table is None
        self.table = CodecTable(self._plan, slots)
        header = table_header(self._header, self._plan, slots)
        header_bytes = encode_header(header)
        prelude = pack_prelude(header_bytes)
        mac = keymod.header_mac(self._file_key, prelude, header_bytes)
        self._write(prelude + header_bytes + mac)
        held = self._segments
        self._segments = SegmentWriter(
            self._write,
            make_aead(header.suite, keymod.payload_key(self._file_key, header.salt, mac)),
            header.segment_size,
            executor=self._executor,
            window=4 * self._jobs,
        )
        assert isinstance(held, _HeldFrames)
        if held.data:
            self._segments.write(bytes(held.data))

    def seal_all(self) -> None:
        """Write the header declaring every planned codec (the archive may go on)."""
        self._seal(list(range(len(self._plan.entries))))

    def _seal_final(self) -> None:
        """Every chunk is cut and pending: settle the table on all of them, write everything."""
        groups = [(q, g, f() if f is not None else EncodedGroup([], [])) for q, g, f in self._pending]
        self._pending.clear()
        chunks = [c for _, g, _ in groups for c in g]
        merged = EncodedGroup(
            [c for _, _, e in groups for c in e.chosen], [o for _, _, e in groups for o in e.outputs]
        )
        table, chosen = smallest_table(
            self._plan,
            chunks,
            merged,
            self._encoder.acceptable,
            table_header_len(self._header, self._plan),
        )
        self._seal(table)
        k = 0
        for queue, group, _ in groups:
            self._write_group(queue, group, chosen[k : k + len(group)])
            k += len(group)

    # -- frames and chunks ----------------------------------------------------------------

    def emit(self, frame: bytes) -> None:
        """Add ``frame`` after everything added so far."""
        if self._group or self._pending:  # chunks before this frame are still being encoded
            self._queue.append(frame)
        else:
            self._segments.write(frame)
            if not self.sealed and self._segments.plaintext_len > _SEAL_FRAME_BYTES:
                self.seal_all()

    def finish_at(self, end: int, frame: bytes) -> None:
        """Add ``frame`` (a member's finish frame) once the logical byte ``end`` is cut."""
        self._finishing.append((end, frame))
        self._release_finished()

    def _release_finished(self) -> None:
        while self._finishing and self._finishing[0][0] <= self._cut:
            self.emit(self._finishing.popleft()[1])

    def _cut_chunk(self, chunk: bytes) -> None:
        self._queue.append(len(self._group))
        self._group.append(chunk)
        self._cut += len(chunk)
        self._chunks_cut += 1
        if not self.sealed and self._chunks_cut > SEAL_CHUNKS:
            self.seal_all()  # held groups follow at the next flush
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
        if not self.sealed:
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
        assert self.table is not None
        for item in queue:
            if isinstance(item, int):
                plan_slot, out = encoded[item]
                raw_len = len(group[item])
                if len(self.chunk_offsets) >= limits.MAX_CHUNKS:
                    raise LimitExceeded(
                        f"the archive would hold more than {limits.MAX_CHUNKS} chunks",
                        hint="use a larger --chunk-size",
                    )
                slot = self.table.count(plan_slot)
                self.chunk_offsets.append(self._segments.plaintext_len)
                self._segments.write(encode_chunk_head(slot, raw_len, len(out)))
                self._segments.write(out)
                if self._progress:
                    self._progress(
                        ProgressEvent("chunk", bytes_in=raw_len, bytes_out=len(out), chunks=1)
                    )
            else:
                self._segments.write(item)

    def append(self, data: bytes) -> None:
        """Add ``data`` to the logical byte stream, cutting chunks as they fill."""
        size = self.chunk_size
        self.pos += len(data)
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

    def read_size(self, block: int, min_aligned: int) -> int:
        """How much to read next: up to the end of the current chunk when that is at least
        ``min_aligned`` bytes (reads then line up with chunks and need no copying), else
        ``block``."""
        room = self.chunk_size - len(self._buf)
        return room if room >= min_aligned else block

    # -- closing --------------------------------------------------------------------------

    def close(self, entries: Sequence[Entry], *, pad: bool) -> None:
        """Cut the last chunk, write every pending chunk and frame, then the index of
        ``entries``, the padding when ``pad``, the trailer, and the last segment."""
        if self._buf:
            chunk = bytes(self._buf)
            self._buf.clear()
            self._cut_chunk(chunk)
        self._release_finished()
        self._flush_group(final=True)
        assert not self._finishing and self.table is not None
        index = Index(
            tuple(entries), tuple(self.chunk_offsets), tuple(self.table.counts), self.pos
        )
        index_offset = self._segments.plaintext_len
        self._segments.write(encode_index_frame(encode_index(index)))
        length = self._segments.plaintext_len + TRAILER_LEN
        if pad:
            target = padme(length + 5)
            self._segments.write(encode_pad(target - length - 5))
        self._segments.write(encode_trailer(index_offset, self._segments.plaintext_len))
        self._segments.close()
