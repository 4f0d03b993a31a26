"""Shared helpers for the container-format tests (archives in memory, pipes, payload surgery)."""

from __future__ import annotations

import hashlib
import io
from typing import Any

from nzarc.crypto import keys as keymod
from nzarc.crypto.suites import make_aead
from nzarc.format.header import CodecEntry, Header, encode_header, pack_prelude
from nzarc.format.layout import MAC_LEN, PRELUDE, PRELUDE_LEN, TAG_LEN
from nzarc.format.stream import SegmentWriter
from nzarc.reader import ArchiveReader
from nzarc.writer import ArchiveWriter


class SeededRng:
    def __init__(self, seed: bytes) -> None:
        self.seed, self.counter, self.buf = seed, 0, b""

    def __call__(self, n: int) -> bytes:
        while len(self.buf) < n:
            self.buf += hashlib.sha256(self.seed + self.counter.to_bytes(8, "big")).digest()
            self.counter += 1
        out, self.buf = self.buf[:n], self.buf[n:]
        return out


class Pipe(io.RawIOBase):
    """A non-seekable reader that hands out at most ``step`` bytes per read."""

    def __init__(self, data: bytes, step: int = 7) -> None:
        self._b = io.BytesIO(data)
        self._step = step

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return False

    def readinto(self, b: Any) -> int:
        return self._b.readinto(memoryview(b)[: self._step])


class NoSeekWriter(io.RawIOBase):
    """A write-only sink that refuses seek/tell, like a pipe."""

    def __init__(self) -> None:
        self.data = bytearray()

    def writable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return False

    def write(self, b: Any) -> int:
        self.data += bytes(b)
        return len(b)


def write_archive(members: list[tuple], *, seed: bytes = b"t", **opts: Any) -> bytes:
    """members: ("f", name, bytes) | ("d", name) | ("l", name, target)."""
    opts.setdefault("codec", "zstd")
    if opts["codec"] in ("zstd", "nzarc.zstd", "auto"):  # only zstd takes a level
        opts.setdefault("level", 3)
    opts.setdefault("jobs", 1)
    out = NoSeekWriter()
    with ArchiveWriter(out, rng=SeededRng(seed), **opts) as w:
        for m in members:
            if m[0] == "f":
                w.add_bytes(m[1], m[2], mtime_ns=1)
            elif m[0] == "d":
                w.add_dir(m[1], mtime_ns=1)
            else:
                w.add_symlink(m[1], m[2], mtime_ns=1)
    return bytes(out.data)


def read_all(source: Any, sink: dict[str, bytearray] | None = None, **keys: Any) -> dict[str, bytes]:
    """Read every member through iter_members; ``sink`` receives bytes as they are yielded."""
    sink = {} if sink is None else sink
    with ArchiveReader(source, **keys) as r:
        for md in r.iter_members():
            buf = sink.setdefault(md.member.name, bytearray())
            for piece in md.chunks():
                buf += piece
    return {k: bytes(v) for k, v in sink.items()}


def split(data: bytes) -> tuple[bytes, list[bytes], int]:
    """(prelude+header+mac, payload segments, segment size)."""
    from nzarc.format.header import decode_header

    _, _, hlen = PRELUDE.unpack(data[:PRELUDE_LEN])
    end = PRELUDE_LEN + hlen + MAC_LEN
    seg = decode_header(data[PRELUDE_LEN : PRELUDE_LEN + hlen]).segment_size + TAG_LEN
    payload = data[end:]
    return data[:end], [payload[i : i + seg] for i in range(0, len(payload), seg)], seg


def forge_unencrypted(plaintext: bytes, *, chunk_size: int = 256, segment_size: int = 64,
                      pad: bool = False, codecs: tuple[CodecEntry, ...] | None = None) -> bytes:
    """An unencrypted archive whose plaintext stream is exactly ``plaintext`` (valid MAC/tags)."""
    codecs = codecs or (CodecEntry("nzarc.store", 1, {}, "nzarc"), CodecEntry("nzarc.zstd", 1, {"level": 3}, "nzarc"))
    header = Header(suite="none", stanzas=(), codecs=codecs, chunk_size=chunk_size,
                    segment_size=segment_size, salt=bytes(32), pad=pad)
    hb = encode_header(header)
    prelude = pack_prelude(hb)
    mac = keymod.header_mac(keymod.ZERO_KEY, prelude, hb)
    out = bytearray(prelude + hb + mac)
    sw = SegmentWriter(out.extend, make_aead("none", keymod.payload_key(keymod.ZERO_KEY, bytes(32), mac)), segment_size)
    sw.write(plaintext)
    sw.close()
    return bytes(out)


def forge_header(header_bytes: bytes, file_key: bytes = keymod.ZERO_KEY, payload: bytes = b"") -> bytes:
    """Prelude + given header bytes + a MAC valid under ``file_key`` + payload."""
    prelude = pack_prelude(header_bytes)
    return prelude + header_bytes + keymod.header_mac(file_key, prelude, header_bytes) + payload
