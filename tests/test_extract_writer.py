"""extract_members with its writer thread: ordering of failures, cleanup, bounded memory."""

from __future__ import annotations

import hashlib
import os
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from nzarc import extract as extract_mod
from nzarc import extracttree
from nzarc.errors import IntegrityError
from nzarc.extract import OverwriteRefused, extract_members

MTIME = 1_500_000_000_000_000_000


@dataclass
class Member:
    name: str
    type: str = "file"
    mode: int = 0o644
    mtime_ns: int = MTIME
    size: int = 0
    sha256: bytes | None = None
    link_target: str | None = None


class Data:
    """One member as the reader yields it; ``fail`` is raised after the last chunk."""

    def __init__(self, member: Member, pieces: list[bytes], fail: BaseException | None) -> None:
        self.member = member
        self._pieces = pieces
        self._fail = fail
        self.on_piece = lambda n: None

    def chunks(self) -> Iterator[bytes]:
        for p in self._pieces:
            self.on_piece(len(p))
            yield p
        if self._fail is not None:
            raise self._fail


class Reader:
    seekable = False

    def __init__(self, items: list[Data]) -> None:
        self.items = items

    def iter_members(self, names: object = None) -> Iterator[Data]:
        yield from self.items


def file(name: str, data: bytes, *, piece: int = 1000, fail: BaseException | None = None) -> Data:
    m = Member(name, size=len(data), sha256=hashlib.sha256(data).digest())
    return Data(m, [data[i : i + piece] for i in range(0, len(data), piece)], fail)


def listing(root: Path) -> dict[str, bytes]:
    out = {}
    for dirpath, _dirs, files in os.walk(root):
        for n in files:
            p = Path(dirpath) / n
            out[p.relative_to(root).as_posix()] = p.read_bytes()
    return out


def test_writer_failure_on_earlier_member_wins_over_later_integrity_error(tmp_path: Path) -> None:
    dest = tmp_path / "out"
    dest.mkdir()
    (dest / "a").write_bytes(b"mine")
    reader = Reader([file("a", b"theirs"), file("b", b"x" * 5000, fail=IntegrityError("bad b"))])
    with pytest.raises(OverwriteRefused):
        extract_members(reader, dest)
    assert listing(dest) == {"a": b"mine"}  # no 'b', no temporary file


def test_members_after_a_writer_failure_are_not_created(tmp_path: Path) -> None:
    dest = tmp_path / "out"
    dest.mkdir()
    (dest / "a").write_bytes(b"mine")
    reader = Reader([file("a", b"theirs"), file("c", b"c" * 3000), file("d", b"d")])
    with pytest.raises(OverwriteRefused):
        extract_members(reader, dest)
    assert listing(dest) == {"a": b"mine"}


def test_interrupt_keeps_verified_members_and_removes_the_unfinished_one(tmp_path: Path) -> None:
    dest = tmp_path / "out"
    reader = Reader(
        [file("ok", b"k" * 2500), file("big", b"y" * 9000, fail=KeyboardInterrupt())]
    )
    with pytest.raises(KeyboardInterrupt):
        extract_members(reader, dest)
    assert listing(dest) == {"ok": b"k" * 2500}


def test_reader_runs_ahead_of_a_slow_writer_by_a_bounded_amount(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    limit, piece = 4000, 500
    monkeypatch.setattr(extract_mod, "WRITE_AHEAD_BYTES", limit)
    produced = [0]
    written = [0]
    ahead: list[int] = []
    threads: set[str] = set()
    real_write = extracttree.ExtractTree.write_chunk

    def slow_write(self: object, chunk: bytes) -> None:
        time.sleep(0.002)
        real_write(self, chunk)  # type: ignore[arg-type]
        written[0] += len(chunk)
        threads.add(threading.current_thread().name)

    def on_piece(n: int) -> None:
        produced[0] += n
        ahead.append(produced[0] - written[0])

    monkeypatch.setattr(extracttree.ExtractTree, "write_chunk", slow_write)
    data = os.urandom(40_000)
    item = file("f", data, piece=piece)
    item.on_piece = on_piece
    extract_members(Reader([item]), tmp_path / "out")
    assert (tmp_path / "out" / "f").read_bytes() == data
    # queued (at most the limit) + the piece being handed over + the one just yielded
    assert max(ahead) <= limit + 2 * piece
    assert max(ahead) > piece  # the reader did run ahead of the writer
    assert threads == {"nzarc-extract"}


# -- digests checked on the writer thread, with the real reader ----------------------------------


def _archive_with_wrong_digest(path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, bytes]:
    """An unencrypted archive whose member 'b' records a wrong SHA-256 (all else consistent)."""
    import nzarc.writer as writer_mod
    from nzarc.workqueue import OrderedHasher

    current = [""]

    class WrongForB(OrderedHasher):
        def digest(self) -> bytes:
            right = super().digest()
            return bytes(len(right)) if current[0] == "b" else right

    files = {"a": os.urandom(3000), "b": b"bee " * 300_000, "c": b"sea" * 10}
    with monkeypatch.context() as m:
        m.setattr(writer_mod, "OrderedHasher", WrongForB)
        with path.open("wb") as fh, writer_mod.ArchiveWriter(
            fh, encrypt=False, codec="zstd", chunk_size=64 << 10
        ) as w:
            for name, data in files.items():
                current[0] = name
                w.add_bytes(name, data)
    return files


@pytest.mark.parametrize(
    ("how", "names", "left"),
    [
        ("file", None, ["a"]),
        ("pipe", None, ["a"]),
        ("file", ["b", "c"], []),
        ("pipe", ["b", "c"], []),
        ("pipe", ["a", "c"], ["a"]),  # 'b' is skipped, but still checked on a pipe
    ],
)
def test_wrong_digest_is_caught_and_the_file_never_named(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, how: str, names: list[str] | None,
    left: list[str],
) -> None:
    import io

    from nzarc.reader import ArchiveReader

    arc = tmp_path / "a.nz"
    files = _archive_with_wrong_digest(arc, monkeypatch)
    src = arc.open("rb") if how == "file" else io.BytesIO(arc.read_bytes())
    if how == "pipe":
        src.seekable = lambda: False  # type: ignore[method-assign]
    dest = tmp_path / "out"
    with src, ArchiveReader(src) as r, pytest.raises(IntegrityError, match="'b' fails its SHA-256"):
        r.extract(dest, names)
    assert listing(dest) == {name: files[name] for name in left}


def test_wrong_digest_is_caught_by_the_reader_itself(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from nzarc.reader import ArchiveReader

    arc = tmp_path / "a.nz"
    _archive_with_wrong_digest(arc, monkeypatch)
    with ArchiveReader(arc) as r, pytest.raises(IntegrityError, match="'b'"):
        for md in r.iter_members():
            md.read()
    with ArchiveReader(arc) as r, pytest.raises(IntegrityError, match="'b'"):
        r.test()
