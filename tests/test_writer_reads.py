"""The archive bytes do not depend on how the writer's input arrives (read sizes, types)."""

from __future__ import annotations

import io
import os
import random

import pytest

from nzarc.reader import ArchiveReader
from nzarc.writer import ArchiveWriter

MTIME = 1_700_000_000_000_000_000


class Trickle(io.RawIOBase):
    """A raw stream returning pieces of random size, as ``bytes`` or ``bytearray``."""

    def __init__(self, data: bytes, seed: int) -> None:
        self._data = data
        self._pos = 0
        self._rnd = random.Random(seed)

    def readable(self) -> bool:
        return True

    def read(self, n: int = -1) -> bytes | bytearray:  # type: ignore[override]
        if n is None or n < 0:
            n = len(self._data)
        take = min(n, self._rnd.randint(1, 3 * 4096))
        piece = self._data[self._pos : self._pos + take]
        self._pos += len(piece)
        return bytearray(piece) if self._rnd.random() < 0.5 else piece


def _rng(seed: int):  # noqa: ANN202 - a deterministic rng for ArchiveWriter
    r = random.Random(seed)
    return lambda n: r.randbytes(n)


def _archive(files: list[tuple[str, bytes]], feed: str, chunk_size: int, jobs: int) -> bytes:
    out = io.BytesIO()
    with ArchiveWriter(out, encrypt=False, codec="zstd", level=1, chunk_size=chunk_size,
                       jobs=jobs, rng=_rng(7)) as w:
        for i, (name, data) in enumerate(files):
            src = io.BytesIO(data) if feed == "whole" else Trickle(data, seed=i)
            w.add_file(name, src, mtime_ns=MTIME)
    return out.getvalue()


@pytest.mark.parametrize("chunk_size", [256, 4096, 64 << 10, 1 << 20])
def test_read_pattern_does_not_change_the_archive(chunk_size: int) -> None:
    rnd = random.Random(chunk_size)
    files = [
        (f"f{i}", (os.urandom(rnd.randint(0, 3000)) + b"text " * rnd.randint(0, 60_000)))
        for i in range(6)
    ]
    whole = _archive(files, "whole", chunk_size, jobs=2)
    assert _archive(files, "trickle", chunk_size, jobs=1) == whole
    with ArchiveReader(io.BytesIO(whole)) as r:
        got = {md.member.name: md.read() for md in r.iter_members()}
    assert got == dict(files)
