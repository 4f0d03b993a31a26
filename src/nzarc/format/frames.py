"""Frames of the plaintext stream (spec/FORMAT.md §6): encoders and a bounded parser."""

from __future__ import annotations

from dataclasses import dataclass

from nzarc.errors import FormatError
from nzarc.format import limits
from nzarc.format.canonical import pack, unpack
from nzarc.format.layout import (
    CHUNK_HEAD,
    FINISH_BODY,
    LEN_PREFIX,
    TAG_CHUNK,
    TAG_ENTRY,
    TAG_FINISH,
    TAG_INDEX,
    TAG_PAD,
    TAG_TRAILER,
    TRAILER_BODY,
)
from nzarc.format.member import Entry, Member, entry_from_wire, entry_to_wire
from nzarc.format.stream import PlainStream

__all__ = [
    "EntryFrame",
    "ChunkFrame",
    "FinishFrame",
    "IndexFrame",
    "PadFrame",
    "TrailerFrame",
    "Frame",
    "encode_entry",
    "encode_chunk_head",
    "encode_finish",
    "encode_index_frame",
    "encode_pad",
    "encode_trailer",
    "FrameReader",
]


@dataclass(frozen=True)
class EntryFrame:
    entry: Entry
    pos: int


@dataclass(frozen=True)
class ChunkFrame:
    slot: int
    raw_len: int
    data: bytes
    pos: int


@dataclass(frozen=True)
class FinishFrame:
    size: int
    sha256: bytes
    pos: int


@dataclass(frozen=True)
class IndexFrame:
    body: bytes
    pos: int


@dataclass(frozen=True)
class PadFrame:
    length: int
    pos: int


@dataclass(frozen=True)
class TrailerFrame:
    index_offset: int
    own_offset: int
    pos: int


Frame = EntryFrame | ChunkFrame | FinishFrame | IndexFrame | PadFrame | TrailerFrame


def _with_len(tag: int, body: bytes) -> bytes:
    return bytes([tag]) + LEN_PREFIX.pack(len(body)) + body


def encode_entry(member: Member, offset: int) -> bytes:
    body = pack(entry_to_wire(member, offset))
    limits.check("entry frame length", len(body), limits.MAX_ENTRY_BYTES)
    return _with_len(TAG_ENTRY, body)


def encode_chunk_head(slot: int, raw_len: int, out_len: int) -> bytes:
    return bytes([TAG_CHUNK]) + CHUNK_HEAD.pack(slot, raw_len, out_len)


def encode_finish(size: int, sha256: bytes) -> bytes:
    return bytes([TAG_FINISH]) + FINISH_BODY.pack(size, sha256)


def encode_index_frame(body: bytes) -> bytes:
    limits.check("index length", len(body), limits.MAX_INDEX_BYTES)
    return _with_len(TAG_INDEX, body)


def encode_pad(n: int) -> bytes:
    return bytes([TAG_PAD]) + LEN_PREFIX.pack(n) + bytes(n)


def encode_trailer(index_offset: int, own_offset: int) -> bytes:
    return bytes([TAG_TRAILER]) + TRAILER_BODY.pack(index_offset, own_offset)


class FrameReader:
    """Parses frames from a PlainStream, checking every length before reading the body.

    ``chunk_size`` bounds ``raw_len``; ``slots`` bounds the codec slot.
    """

    def __init__(self, stream: PlainStream, *, chunk_size: int, slots: int) -> None:
        self.stream = stream
        self._chunk = chunk_size
        self._slots = slots

    def next(self) -> Frame:
        s = self.stream
        pos = s.pos
        tag = s.read_exact(1)[0]
        if tag == TAG_CHUNK:
            slot, raw_len, out_len = CHUNK_HEAD.unpack(s.read_exact(CHUNK_HEAD.size))
            if slot >= self._slots:
                raise FormatError(
                    f"chunk refers to codec slot {slot}; the header has {self._slots}"
                )
            if raw_len > self._chunk:
                raise FormatError(
                    f"chunk raw length {raw_len} exceeds the chunk size {self._chunk}"
                )
            if raw_len == 0:
                raise FormatError("chunk with raw length 0")
            if out_len > raw_len:
                raise FormatError(
                    f"chunk codec output ({out_len}) longer than its raw length ({raw_len})"
                )
            return ChunkFrame(slot, raw_len, s.read_exact(out_len), pos)
        if tag == TAG_ENTRY:
            (n,) = LEN_PREFIX.unpack(s.read_exact(4))
            limits.check("entry frame length", n, limits.MAX_ENTRY_BYTES)
            return EntryFrame(entry_from_wire(unpack(s.read_exact(n), "entry frame")), pos)
        if tag == TAG_FINISH:
            size, digest = FINISH_BODY.unpack(s.read_exact(FINISH_BODY.size))
            return FinishFrame(size, digest, pos)
        if tag == TAG_INDEX:
            (n,) = LEN_PREFIX.unpack(s.read_exact(4))
            limits.check("index length", n, limits.MAX_INDEX_BYTES)
            return IndexFrame(s.read_exact(n), pos)
        if tag == TAG_PAD:
            (n,) = LEN_PREFIX.unpack(s.read_exact(4))
            s.skip_zeros(n)
            return PadFrame(n, pos)
        if tag == TAG_TRAILER:
            index_offset, own = TRAILER_BODY.unpack(s.read_exact(TRAILER_BODY.size))
            return TrailerFrame(index_offset, own, pos)
        raise FormatError(f"unknown frame tag 0x{tag:02x} at plaintext offset {pos}")
