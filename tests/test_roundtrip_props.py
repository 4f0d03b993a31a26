"""Round-trip properties (hypothesis) and API-level behaviour of create/open."""

from __future__ import annotations

import hashlib
import io
import os
from pathlib import Path

import pytest
from helpers_format import NoSeekWriter, Pipe, SeededRng, read_all, write_archive
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import nzarc
from nzarc.crypto.recipients import generate_identity
from nzarc.errors import IntegrityError

SK, PK = generate_identity(SeededRng(b"props"))

contents = st.one_of(
    st.binary(max_size=900),
    st.integers(0, 1500).map(lambda n: (b"the quick brown fox " * 80)[:n]),
)


@st.composite
def trees(draw):
    """Members with unique, conflict-free names: dirs 'dN', files 'fN', links 'lN'."""
    members, seen = [], set()
    for _ in range(draw(st.integers(0, 8))):
        kind = draw(st.sampled_from("ffffdl"))
        parent = draw(st.sampled_from(["", "d0/", "d1/", "d0/d2/"]))
        name = f"{parent}{kind}{draw(st.integers(0, 5))}"
        if name in seen:
            continue
        seen.add(name)
        if kind == "f":
            members.append(("f", name, draw(contents)))
        elif kind == "d":
            members.append(("d", name))
        else:
            members.append(("l", name, "f0"))
    return members


options = st.fixed_dictionaries({
    "chunk_size": st.sampled_from([256, 300, 1024, 4096]),
    "segment_size": st.sampled_from([64, 128, 1024]),
    "codec": st.sampled_from(["store", "zstd"]),
    "suite": st.sampled_from(["chacha20-poly1305", "aes-256-gcm"]),
    "pad": st.booleans(),
    "encrypt": st.booleans(),
})


def _opts(o: dict) -> tuple[dict, dict]:
    o = dict(o)
    if o.pop("encrypt"):
        o["recipients"] = [PK]
        return o, {"identities": [SK]}
    o.pop("suite")
    return dict(o, encrypt=False), {}


def _expected(members) -> dict[str, bytes]:
    return {m[1]: (m[2] if m[0] == "f" else b"") for m in members}


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(trees(), options, st.integers(1, 3))
def test_roundtrip_any_tree(members, opts, jobs):
    wopts, keys = _opts(opts)
    data = write_archive(members, jobs=jobs, **wopts)
    assert data == write_archive(members, jobs=1, **wopts)  # bytes independent of jobs
    expected = _expected(members)
    assert read_all(io.BytesIO(data), **keys) == expected
    assert read_all(Pipe(data, step=97), **keys) == expected  # pipe equals file
    with nzarc.open(io.BytesIO(data), **keys) as r:
        listed = r.members()
        assert [m.name for m in listed] == [m[1] for m in members]
        for m in listed:
            if m.type == "file":
                assert m.sha256 == hashlib.sha256(expected[m.name]).digest()
    if members:
        pick = members[len(members) // 2][1]
        with nzarc.open(io.BytesIO(data), **keys) as r:
            got = {md.member.name: md.read() for md in r.iter_members([pick])}
        assert got == {pick: expected[pick]}


class Trickle(io.RawIOBase):
    """A readable that returns a few bytes at a time (streaming input)."""

    def __init__(self, data: bytes, step: int) -> None:
        self._b, self._step = io.BytesIO(data), step

    def readable(self) -> bool:
        return True

    def read(self, n: int = -1) -> bytes:
        return self._b.read(min(self._step, n if n >= 0 else self._step))


@settings(max_examples=25, deadline=None)
@given(st.lists(contents, max_size=4), st.integers(1, 50), st.sampled_from([256, 1024]))
def test_streaming_equals_one_shot(blobs, step, chunk_size):
    def build(streaming: bool) -> bytes:
        out = NoSeekWriter()
        with nzarc.ArchiveWriter(out, recipients=[PK], rng=SeededRng(b"s"), codec="zstd", level=3,
                                 chunk_size=chunk_size, jobs=1) as w:
            for i, blob in enumerate(blobs):
                if streaming:
                    w.add_file(f"f{i}", Trickle(blob, step), mtime_ns=7)
                else:
                    w.add_bytes(f"f{i}", blob, mtime_ns=7)
        return bytes(out.data)

    assert build(True) == build(False)


def test_create_from_filesystem_tree(tmp_path: Path):
    root = tmp_path / "src"
    (root / "sub" / "deeper").mkdir(parents=True)
    (root / "empty-dir").mkdir()
    (root / "sub" / "a.txt").write_bytes(b"a" * 5000)
    (root / "sub" / "deeper" / "b.bin").write_bytes(os.urandom(3000))
    (root / "zero").write_bytes(b"")
    os.symlink("sub/a.txt", root / "link")
    os.chmod(root / "sub" / "a.txt", 0o640)
    events = []
    archive = tmp_path / "out.nzarc"
    stats = nzarc.create(archive, [root], recipients=[PK], codec="zstd", level=3, chunk_size=1024,
                         progress=events.append, verify=True)
    assert stats.files == 3 and stats.members == 8 and stats.raw_bytes == 8000
    assert stats.archive_bytes == archive.stat().st_size
    assert {e.kind for e in events} >= {"member", "chunk", "done"}
    with nzarc.open(archive, identities=[SK]) as r:
        members = {m.name: m for m in r.members()}
        info = r.info()
        report = r.test()
    assert members["src/link"].type == "symlink" and members["src/link"].link_target == "sub/a.txt"
    assert members["src/sub/a.txt"].mode == 0o640
    assert members["src/empty-dir"].type == "dir"
    assert members["src/sub/a.txt"].mtime_ns == (root / "sub" / "a.txt").stat().st_mtime_ns
    assert info.members == 8 and info.chunks == report.chunks and report.bytes == 8000 and report.ok
    with nzarc.open(archive, identities=[SK]) as r:
        got = {md.member.name: md.read() for md in r.iter_members(["src/sub/deeper/b.bin"])}
    assert got == {"src/sub/deeper/b.bin": (root / "sub" / "deeper" / "b.bin").read_bytes()}


def test_exception_inside_with_aborts_and_reader_sees_truncation():
    out = NoSeekWriter()
    with pytest.raises(RuntimeError):
        with nzarc.ArchiveWriter(out, recipients=[PK], codec="store", chunk_size=256) as w:
            w.add_bytes("a", b"x" * 1000)
            raise RuntimeError("stop")
    size = len(out.data)
    with pytest.raises(ValueError):
        w.add_bytes("b", b"y")
    assert len(out.data) == size
    with pytest.raises(IntegrityError):
        read_all(Pipe(bytes(out.data)), identities=[SK])


def test_pipe_can_be_read_once_and_members_on_pipe():
    data = write_archive([("f", "a", b"abc")], recipients=[PK])
    with nzarc.open(Pipe(data), identities=[SK]) as r:
        assert [m.name for m in r.members()] == ["a"]
        with pytest.raises(ValueError):
            list(r.iter_members())
    with nzarc.open(Pipe(data), identities=[SK]) as r:
        info = r.info()
        assert info.archive_size == len(data) and info.raw_size == 3 and info.chunks == 1


def test_header_info_needs_no_key():
    data = write_archive([("f", "a", b"abc" * 100)], recipients=[PK])
    with nzarc.open(io.BytesIO(data)) as r:
        hi = r.header_info()
    assert hi.encrypted and hi.recipients == ["x25519"] and not hi.header_verified
    assert [c["id"] for c in hi.codecs] == ["nzarc.store", "nzarc.zstd"]


def test_writer_argument_errors():
    with pytest.raises(ValueError):
        nzarc.ArchiveWriter(io.BytesIO())  # encryption without a key
    with pytest.raises(ValueError):
        nzarc.ArchiveWriter(io.BytesIO(), passphrase="p", recipients=[PK])
    with pytest.raises(nzarc.LimitExceeded):
        nzarc.ArchiveWriter(io.BytesIO(), encrypt=False, chunk_size=10)
    with pytest.raises(nzarc.UnsafePath):
        with nzarc.ArchiveWriter(io.BytesIO(), encrypt=False) as w:
            w.add_bytes("../x", b"")
    with pytest.raises(nzarc.UnsupportedCodec):
        nzarc.ArchiveWriter(io.BytesIO(), encrypt=False, codec="acme.nothing")


def test_seekable_selection_skips_unrelated_segments():
    import random

    rnd = random.Random(5)
    members = [("f", f"f{i:02d}", bytes(rnd.randrange(256) for _ in range(rnd.randrange(0, 700)))) for i in range(30)]
    data = write_archive(members, recipients=[PK], codec="store", chunk_size=256, segment_size=64)
    with nzarc.open(io.BytesIO(data), identities=[SK]) as r:
        index = r._get_index()
        offsets = {e.member.name: e for e in index.entries}
    from helpers_format import split

    head, _, seg = split(data)
    head_len = len(head)
    target = offsets["f03"]
    # Corrupt a segment that lies far after the target's chunks (but before the index).
    last_chunk = (target.offset + target.member.size - 1) // 256
    far = index.chunk_offsets[min(last_chunk + 6, len(index.chunk_offsets) - 1)] // 64
    bad = bytearray(data)
    bad[head_len + far * seg + 5] ^= 1
    wanted = ["f03", "f04", "nope"]
    with nzarc.open(io.BytesIO(bytes(bad)), identities=[SK]) as r:
        got = {md.member.name: md.read() for md in r.iter_members(wanted)}
    assert got == {"f03": members[3][2], "f04": members[4][2]}
    with pytest.raises(IntegrityError):
        read_all(io.BytesIO(bytes(bad)), identities=[SK])


def test_special_files_are_skipped(tmp_path: Path):
    (tmp_path / "t").mkdir()
    os.mkfifo(tmp_path / "t" / "fifo")
    (tmp_path / "t" / "a").write_bytes(b"a")
    events = []
    out = io.BytesIO()
    nzarc.create(out, [tmp_path / "t"], encrypt=False, codec="store", progress=events.append)
    assert [e.name for e in events if e.kind == "skip"] == ["t/fifo"]
    with nzarc.open(io.BytesIO(out.getvalue())) as r:
        assert [m.name for m in r.members()] == ["t", "t/a"]
