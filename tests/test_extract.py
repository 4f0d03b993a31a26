"""Safety properties of nzarc.extract.extract_members, driven by a fake reader.

The fake reader yields member records exactly as the archive reader does
(including raising IntegrityError before a bad member's chunk iterator ends),
so these tests pin down what the extractor guarantees independently of the
archive format.
"""

from __future__ import annotations

import hashlib
import os
import stat
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nzarc.errors import IntegrityError, UnsafePath
from nzarc.extract import (
    OverwriteRefused,
    extract_members,
    select_members,
    split_member_name,
)
from nzarc.hostnames import BACKSLASH_SEPARATES

MTIME = 1_600_000_000_123_456_789


@dataclass
class FakeMember:
    name: str
    type: str = "file"
    mode: int = 0o644
    mtime_ns: int = MTIME
    size: int = 0
    sha256: bytes | None = None
    link_target: str | None = None


class FakeMemberData:
    def __init__(self, member: FakeMember, data: bytes, *, corrupt: bool, parts: int = 3) -> None:
        self.member = member
        self._data = data
        self._corrupt = corrupt
        self._parts = parts

    def chunks(self) -> Iterator[bytes]:
        step = max(1, len(self._data) // self._parts)
        for i in range(0, len(self._data), step):
            yield self._data[i : i + step]
        if self._corrupt:
            raise IntegrityError(f"SHA-256 mismatch in {self.member.name!r}")


class FakeReader:
    """Yields members like ArchiveReader.iter_members (pipe semantics)."""

    seekable = False

    def __init__(self, entries: list[tuple[FakeMember, bytes]], corrupt: set[str] = frozenset()):
        self.entries = entries
        self.corrupt = corrupt

    def iter_members(self, names=None) -> Iterator[FakeMemberData]:
        for member, data in self.entries:
            if names is not None and member.name not in names:
                continue
            yield FakeMemberData(member, data, corrupt=member.name in self.corrupt)


def f(name: str, data: bytes = b"", mode: int = 0o644, mtime_ns: int = MTIME):
    m = FakeMember(name, "file", mode, mtime_ns, len(data), hashlib.sha256(data).digest())
    return (m, data)


def d(name: str, mode: int = 0o755, mtime_ns: int = MTIME):
    return (FakeMember(name, "dir", mode, mtime_ns), b"")


def ln(name: str, target: str):
    return (FakeMember(name, "symlink", 0o777, MTIME, 0, None, target), b"")


def tree(root: Path) -> dict[str, object]:
    """Everything under root: files -> bytes, dirs -> 'dir', links -> ('link', target)."""
    out: dict[str, object] = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for n in dirnames + filenames:
            p = Path(dirpath) / n
            rel = p.relative_to(root).as_posix()
            if p.is_symlink():
                out[rel] = ("link", os.readlink(p))
            elif p.is_dir():
                out[rel] = "dir"
            else:
                out[rel] = p.read_bytes()
    return out


def test_roundtrip_tree_modes_and_mtimes(tmp_path: Path) -> None:
    dest = tmp_path / "out"
    reader = FakeReader(
        [
            d("a", mode=0o750, mtime_ns=MTIME - 10**9),
            f("a/x.txt", b"hello" * 1000, mode=0o600),
            d("a/empty", mode=0o700),
            f("a/b/deep.bin", bytes(range(256)), mode=0o755),
            f("setuid", b"s", mode=0o4755),
            ln("a/link", "x.txt"),
            f("empty.txt", b""),
        ]
    )
    done = extract_members(reader, dest)
    assert [m.name for m in done] == [
        "a", "a/x.txt", "a/empty", "a/b/deep.bin", "setuid", "a/link", "empty.txt"
    ]
    assert tree(dest) == {
        "a": "dir",
        "a/x.txt": b"hello" * 1000,
        "a/empty": "dir",
        "a/b": "dir",
        "a/b/deep.bin": bytes(range(256)),
        "setuid": b"s",
        "a/link": ("link", "x.txt"),
        "empty.txt": b"",
    }
    assert stat.S_IMODE((dest / "a").stat().st_mode) == 0o750
    assert stat.S_IMODE((dest / "a/x.txt").stat().st_mode) == 0o600
    assert stat.S_IMODE((dest / "a/b/deep.bin").stat().st_mode) == 0o755
    assert stat.S_IMODE((dest / "setuid").stat().st_mode) == 0o755  # set-uid dropped
    # Directory mtimes are applied after their contents were created.
    assert (dest / "a").stat().st_mtime_ns == MTIME - 10**9
    assert (dest / "a/empty").stat().st_mtime_ns == MTIME
    assert (dest / "a/x.txt").stat().st_mtime_ns == MTIME
    assert os.lstat(dest / "a/link").st_mtime_ns == MTIME


@pytest.mark.parametrize(
    "name",
    ["/etc/passwd", "../escape", "a/../../escape", "a/./b", "a//b", "", "C:evil",
     "c:/x", "a\x00b", "a/", "..", "."],
)
def test_unsafe_names_refused(tmp_path: Path, name: str) -> None:
    dest = tmp_path / "out"
    with pytest.raises(UnsafePath):
        extract_members(FakeReader([f(name, b"pwned")]), dest)
    assert tree(tmp_path) == {"out": "dir"}


def test_symlink_parent_is_never_followed(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    dest = tmp_path / "out"
    dest.mkdir()
    (dest / "evil").symlink_to(outside)  # pre-existing link in the destination
    with pytest.raises(UnsafePath):
        extract_members(FakeReader([f("evil/pwned", b"x")]), dest)
    assert list(outside.iterdir()) == []


def test_archive_symlink_then_file_through_it(tmp_path: Path) -> None:
    dest = tmp_path / "out"
    outside = tmp_path / "outside"
    outside.mkdir()
    # A link that stays inside, then a member that tries to write through it.
    reader = FakeReader([d("sub"), ln("hop", "sub"), f("hop/file", b"x")])
    with pytest.raises(UnsafePath):
        extract_members(reader, dest)
    assert not (dest / "sub" / "file").exists()


@pytest.mark.parametrize(
    "target",
    ["/etc/passwd", "../..", "../../outside", "a/../../../x", "../sub/../../x", "", "C:/x"],
)
def test_symlink_targets_outside_refused(tmp_path: Path, target: str) -> None:
    dest = tmp_path / "out"
    with pytest.raises(UnsafePath):
        extract_members(FakeReader([d("sub"), ln("sub/l", target)]), dest)
    assert not os.path.lexists(dest / "sub" / "l")


def test_symlink_target_through_existing_outside_link_refused(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    dest = tmp_path / "out"
    dest.mkdir()
    (dest / "jump").symlink_to(outside)
    with pytest.raises(UnsafePath):
        extract_members(FakeReader([ln("l", "jump/secret")]), dest)
    assert not os.path.lexists(dest / "l")


def test_symlinks_inside_allowed(tmp_path: Path) -> None:
    dest = tmp_path / "out"
    reader = FakeReader([d("a"), d("a/b"), ln("a/b/up", "../x"), ln("top", "a/b"), ln("dot", ".")])
    extract_members(reader, dest)
    assert os.readlink(dest / "a/b/up") == "../x"
    assert os.readlink(dest / "top") == "a/b"
    assert os.readlink(dest / "dot") == "."


def test_overwrite_refused_without_force(tmp_path: Path) -> None:
    dest = tmp_path / "out"
    dest.mkdir()
    (dest / "x").write_bytes(b"mine")
    with pytest.raises(OverwriteRefused) as ei:
        extract_members(FakeReader([f("x", b"theirs")]), dest)
    assert "--force" in (ei.value.hint or "")
    assert (dest / "x").read_bytes() == b"mine"
    assert tree(dest) == {"x": b"mine"}  # no temporary left behind


def test_overwrite_with_force(tmp_path: Path) -> None:
    dest = tmp_path / "out"
    dest.mkdir()
    (dest / "x").write_bytes(b"mine")
    (dest / "l").symlink_to("x")
    extract_members(FakeReader([f("x", b"theirs"), f("l", b"file now")]), dest, force=True)
    assert tree(dest) == {"x": b"theirs", "l": b"file now"}


def test_force_replaces_symlink_without_following(tmp_path: Path) -> None:
    victim = tmp_path / "victim"
    victim.write_bytes(b"keep")
    dest = tmp_path / "out"
    dest.mkdir()
    (dest / "x").symlink_to(victim)
    extract_members(FakeReader([f("x", b"new")]), dest, force=True)
    assert victim.read_bytes() == b"keep"
    assert not (dest / "x").is_symlink()
    assert (dest / "x").read_bytes() == b"new"


def test_directory_never_replaced_by_file(tmp_path: Path) -> None:
    dest = tmp_path / "out"
    (dest / "x").mkdir(parents=True)
    with pytest.raises(IsADirectoryError):
        extract_members(FakeReader([f("x", b"data")]), dest, force=True)
    assert (dest / "x").is_dir()


def test_existing_directory_is_reused(tmp_path: Path) -> None:
    dest = tmp_path / "out"
    (dest / "a").mkdir(parents=True)
    (dest / "a" / "old").write_bytes(b"old")
    extract_members(FakeReader([d("a"), f("a/new", b"new")]), dest)
    assert tree(dest) == {"a": "dir", "a/old": b"old", "a/new": b"new"}


def test_integrity_failure_leaves_no_complete_looking_file(tmp_path: Path) -> None:
    dest = tmp_path / "out"
    reader = FakeReader([f("ok", b"good"), f("bad", b"x" * 10000)], corrupt={"bad"})
    with pytest.raises(IntegrityError):
        extract_members(reader, dest)
    # The verified member stays; nothing named 'bad' and no temporary file.
    assert tree(dest) == {"ok": b"good"}


def test_interrupt_mid_file_cleans_up(tmp_path: Path) -> None:
    dest = tmp_path / "out"

    def stop(member: object, n: int) -> None:
        if n:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        extract_members(FakeReader([f("big", b"y" * 5000)]), dest, progress=stop)
    assert tree(dest) == {}


def test_selection_by_name_and_prefix(tmp_path: Path) -> None:
    dest = tmp_path / "out"
    entries = [d("a"), f("a/1", b"1"), f("a/2", b"2"), f("ab", b"ab"), f("c", b"c")]
    done = extract_members(FakeReader(entries), dest, names=["a", "c"])
    assert [m.name for m in done] == ["a", "a/1", "a/2", "c"]
    assert tree(dest) == {"a": "dir", "a/1": b"1", "a/2": b"2", "c": b"c"}


def test_progress_reports_every_byte(tmp_path: Path) -> None:
    seen: dict[str, int] = {}

    def cb(member: FakeMember, n: int) -> None:
        seen[member.name] = seen.get(member.name, 0) + n

    extract_members(FakeReader([f("a", b"a" * 100), f("b", b"b" * 7), d("c")]), tmp_path, progress=cb)
    assert seen == {"a": 100, "b": 7, "c": 0}


def test_select_members() -> None:
    assert select_members(None, "x/y") == "x/y"
    assert select_members({"x"}, "x/y/z") == "x"
    assert select_members({"x/y"}, "x/y") == "x/y"
    assert select_members({"x"}, "xy") is None


_safe_component = st.text(
    alphabet=st.characters(min_codepoint=32, max_codepoint=0x2FF, exclude_characters="/\\"),
    min_size=1,
    max_size=8,
).filter(lambda s: s not in (".", "..") and not (len(s) >= 2 and s[1] == ":"))


@settings(max_examples=60, deadline=None)
@given(st.lists(_safe_component, min_size=1, max_size=4))
def test_split_accepts_safe_names(parts: list[str]) -> None:
    assert split_member_name("/".join(parts)) == parts


@settings(max_examples=100, deadline=None)
@given(st.text(max_size=12))
def test_split_never_allows_escape(name: str) -> None:
    try:
        parts = split_member_name(name)
    except UnsafePath:
        return
    assert parts and all(p not in ("", ".", "..") for p in parts)
    assert not (BACKSLASH_SEPARATES and "\\" in name)
    assert not name.startswith("/")
