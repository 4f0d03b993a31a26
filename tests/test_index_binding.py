"""The index is bound to the frame stream (spec/FORMAT.md §6): a member whose entry frame
disagrees with its index row is never released from a seekable file, fully or selectively."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
from cli_support import run_nzarc
from helpers_format import Pipe, forge_unencrypted, write_archive

import nzarc
from nzarc.errors import FormatError
from nzarc.format.frames import encode_chunk_head, encode_entry, encode_finish
from nzarc.format.member import Entry, Member

BAD = Path(__file__).resolve().parents[1] / "spec" / "vectors" / "bad"
VECTORS = {v["name"]: v for v in json.loads((BAD / "manifest.json").read_text())["vectors"]}
DISAGREES = BAD / "entry-disagrees-with-index.nzarc"


@pytest.fixture
def home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("home")


def _files(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*")) if root.exists() else []


def test_vector_is_in_the_manifest_with_its_seekable_outcome() -> None:
    v = VECTORS["entry-disagrees-with-index"]
    assert v["expect"] == "FormatError" and v["expect_seekable"] == "FormatError"
    assert v["released_len"] == 500  # a pipe releases both members before the index arrives


@pytest.mark.parametrize("selection", [[], ["benign.txt"], ["evil.sh"], ["benign.txt", "other.txt"]])
def test_extracting_the_vector_from_a_file_writes_nothing(
    tmp_path: Path, home: Path, selection: list[str]
) -> None:
    dest = tmp_path / "out"
    result = run_nzarc("extract", DISAGREES, *selection, "-C", dest, home=home)
    if selection == ["evil.sh"]:  # not in the index: nothing selected, so nothing to check
        result.assert_clean_error(1)
        assert "evil.sh" in result.stderr
    else:
        result.assert_clean_error(1)
        assert "does not match its index row" in result.stderr
    assert _files(dest) == []


def test_listing_a_file_shows_the_index_and_a_pipe_fails(home: Path) -> None:
    listed = run_nzarc("list", DISAGREES, home=home).assert_ok()
    assert listed.stdout.decode().splitlines() == ["benign.txt", "other.txt"]
    piped = run_nzarc("list", "-", stdin=DISAGREES.read_bytes(), home=home)
    piped.assert_clean_error(1)
    assert "the index does not match" in piped.stderr


def test_extracting_the_vector_from_a_pipe_reports_the_mismatch(tmp_path: Path, home: Path) -> None:
    """What holds for pipes (spec §6): the index comes last, so the failure comes at the end."""
    result = run_nzarc("extract", "-", "-C", tmp_path / "out", stdin=DISAGREES.read_bytes(), home=home)
    result.assert_clean_error(1)
    assert "the index does not match" in result.stderr


def test_reader_yields_nothing_of_a_disagreeing_member() -> None:
    data = DISAGREES.read_bytes()
    for names in (None, ["benign.txt"]):
        seen: list[str] = []
        with nzarc.open(io.BytesIO(data)) as r:
            with pytest.raises(FormatError, match="'evil.sh' does not match its index row"):
                for item in r.iter_members(names):
                    seen.append(item.member.name)
        assert seen == []


def _archive(frames: list[bytes], rows: list[Entry], total: int) -> bytes:
    """An unencrypted archive of ``frames`` with an index of ``rows``, chunk offsets computed."""
    from nzarc.format.frames import encode_index_frame, encode_trailer
    from nzarc.format.index import Index, encode_index

    positions, pos = [], 0
    for f in frames:
        if f[0] == 0x43:
            positions.append(pos)
        pos += len(f)
    body = b"".join(frames)
    idx = Index(tuple(rows), tuple(positions), (len(positions), 0), total)
    index_frame = encode_index_frame(encode_index(idx))
    return forge_unencrypted(
        body + index_frame + encode_trailer(len(body), len(body) + len(index_frame))
    )


def _chunk(data: bytes) -> bytes:
    return encode_chunk_head(0, len(data), len(data)) + data


def test_finish_frame_is_checked_against_its_row_before_the_member_ends() -> None:
    a = b"0123456789"
    m = _fmember("a", a)
    listed = Member("a", "file", 0o644, 5, 10, bytes(32))  # the index row's digest differs
    data = _archive([encode_entry(m, 0), _chunk(a), encode_finish(10, m.sha256)], [Entry(listed, 0)], 10)
    done: list[str] = []
    with nzarc.open(io.BytesIO(data)) as r:
        with pytest.raises(FormatError, match="'a' has a size or SHA-256 that its index row"):
            for item in r.iter_members():
                item.read()
                done.append(item.member.name)
    assert done == []
    with nzarc.open(Pipe(data, step=50)) as r:  # a pipe: only when the index arrives
        with pytest.raises(FormatError, match="the index does not match"):
            for item in r.iter_members():
                item.read()
                done.append(item.member.name)
    assert done == ["a"]


def test_each_selected_member_checks_its_own_entry_frame() -> None:
    v = VECTORS["entry-duplicate-name"]  # docs/b.bin's entry frame renamed to docs/a.txt
    data = (BAD / v["file"]).read_bytes()
    with nzarc.open(io.BytesIO(data), **v["key"]) as r:
        assert [m.name for m in r.members()] == ["docs", "docs/a.txt", "docs/b.bin", "docs/link", "z.txt"]
        assert [i.member.name for i in r.iter_members(["z.txt", "docs/a.txt"])] == ["docs/a.txt", "z.txt"]
        with pytest.raises(FormatError, match="'docs/a.txt' does not match its index row"):
            list(r.iter_members(["docs/b.bin"]))


def test_selected_members_sharing_a_chunk_are_found_by_their_place() -> None:
    members = [("d", "d")] + [("f", f"d/f{i}", bytes([65 + i]) * (i + 1)) for i in range(6)]
    members += [("l", "d/link", "f0"), ("f", "big", b"z" * 900), ("d", "last")]
    data = write_archive(members, encrypt=False, chunk_size=256, segment_size=64)
    with nzarc.open(io.BytesIO(data)) as r:
        names = [m.name for m in r.members()]
        for name in names:
            (item,) = list(r.iter_members([name]))
            assert item.member.name == name
            if item.member.type == "file":
                assert item.read() == dict((m[1], m[2]) for m in members if m[0] == "f")[name]
        assert [i.member.name for i in r.iter_members(names[::-1])] == names


def _fmember(name: str, data: bytes) -> Member:
    import hashlib

    return Member(name, "file", 0o644, 5, len(data), hashlib.sha256(data).digest())


def test_an_entry_frame_outside_its_gap_is_refused_both_ways() -> None:
    """E(b) before the chunk frame that precedes b's first byte: §6 rule 1 now forbids it."""
    a, b = b"x" * 300, b"yz"
    ma, mb = _fmember("a", a), _fmember("b", b)
    frames = [encode_entry(ma, 0), encode_entry(mb, 300), _chunk(a[:256]), _chunk(a[256:] + b),
              encode_finish(300, ma.sha256), encode_finish(2, mb.sha256)]
    data = _archive(frames, [Entry(ma, 0), Entry(mb, 300)], 302)
    with nzarc.open(Pipe(data, step=50)) as r:
        with pytest.raises(FormatError, match="'b' must come right after chunk frame 0"):
            for item in r.iter_members():
                item.read()
    with nzarc.open(io.BytesIO(data)) as r:
        assert [m.name for m in r.members()] == ["a", "b"]
        assert list(r.iter_members(["a"]))[0].read() == a
        with pytest.raises(FormatError, match="entry frame of 'b' is not where it must be"):
            list(r.iter_members(["b"]))
