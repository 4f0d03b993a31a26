"""Symlink members against the final tree: chains that escape only once another link exists.

Archives are built with nzarc's own writer (which stores any link target) and read back with
the archive reader; nzarc.linkcheck states the rule these tests pin down.
"""

from __future__ import annotations

import io
import os
import tempfile
from pathlib import Path

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

import nzarc
from nzarc.errors import IntegrityError, UnsafePath
from nzarc.extract import OverwriteRefused, extract_members
from nzarc.writer import ArchiveWriter

MTIME = 1_600_000_000_000_000_000


def archive(members: list[tuple[str, str, object]]) -> bytes:
    """``("l", name, target)``, ``("d", name, None)`` or ``("f", name, bytes)``, in order."""
    out = io.BytesIO()
    with ArchiveWriter(out, encrypt=False, codec="store", jobs=1) as w:
        for kind, name, arg in members:
            if kind == "l":
                w.add_symlink(name, str(arg), mtime_ns=MTIME)
            elif kind == "d":
                w.add_dir(name, mtime_ns=MTIME)
            else:
                assert isinstance(arg, bytes)
                w.add_bytes(name, arg, mtime_ns=MTIME)
    return out.getvalue()


def extract(data: bytes, dest: Path, **kw: object) -> list[object]:
    with nzarc.open(io.BytesIO(data), jobs=1) as reader:
        return extract_members(reader, dest, **kw)  # type: ignore[arg-type]


def escapes(dest: Path) -> list[str]:
    """Entries under ``dest`` (links not followed) whose real path is outside it."""
    root = os.path.realpath(dest)
    bad = []
    for dirpath, dirnames, filenames in os.walk(dest):
        for n in dirnames + filenames:
            real = os.path.realpath(os.path.join(dirpath, n))
            if os.path.commonpath([real, root]) != root:
                bad.append(os.path.relpath(os.path.join(dirpath, n), dest))
    return bad


def deep_dest(base: Path) -> Path:
    """A destination four levels down, so that '..' chains have somewhere to escape to."""
    dest = base / "d1" / "d2" / "d3" / "dest"
    dest.mkdir(parents=True)
    return dest


HOSTILE = {
    # The reported chains: the target is checked before 'x' exists.
    "reported": [("l", "y", "x/../outside"), ("l", "x", ".")],
    "reported-deep": [("l", "y", "x/x/x/../../../etc"), ("l", "x", ".")],
    # The same with the link created first.
    "link-first": [("l", "x", "."), ("l", "y", "x/../outside")],
    # Escapes only once a second link exists, whichever order.
    "second-link": [("l", "p/q", ".."), ("l", "y", "p/q/../..")],
    "second-link-first": [("l", "y", "p/q/../.."), ("l", "p/q", "..")],
    # Links to links.
    "chain-of-three": [("l", "a", "b/.."), ("l", "b", "c"), ("l", "c", ".")],
    "nested-chain": [("d", "s", None), ("l", "s/up", ".."), ("l", "y", "s/up/s/up/../..")],
    # '..' after a name that does not exist (yet): a later run could make it a link.
    "dotdot-after-missing": [("d", "d", None), ("l", "y", "d/m/../..")],
    # '..' after a symlink to a real directory: a later run could replace that link.
    "dotdot-after-link": [
        ("d", "sub", None), ("d", "sub/n", None), ("l", "x", "sub"), ("l", "y", "x/n/../.."),
    ],
    # Cycles.
    "self-loop": [("l", "l", "l")],
    "two-cycle": [("l", "a", "b"), ("l", "b", "a")],
    "loop-through-dir": [("l", "a", "b/c"), ("l", "b", "a")],
}


@pytest.mark.parametrize("name", list(HOSTILE))
def test_hostile_chains_refused(tmp_path: Path, name: str) -> None:
    dest = deep_dest(tmp_path)
    with pytest.raises(UnsafePath, match="refusing symlink"):
        extract(archive(HOSTILE[name]), dest)
    assert escapes(dest) == []
    # No link at all is created once one is refused.
    links = [p for p in dest.rglob("*") if p.is_symlink()]
    assert links == []
    assert sorted(p.name for p in tmp_path.iterdir()) == ["d1"]


def test_reported_chain_would_point_outside(tmp_path: Path) -> None:
    """What the refused archive would have made: the check is about a real escape."""
    dest = deep_dest(tmp_path)
    os.symlink("x/../outside", dest / "y")
    os.symlink(".", dest / "x")
    assert escapes(dest) == ["y"]


ALLOWED = {
    "link-to-link": ([("l", "a", "b"), ("l", "b", "c"), ("f", "c", b"c")], {"a": b"c"}),
    "through-link-to-dir": (
        [("l", "l", "top/f"), ("l", "top", "d"), ("d", "d", None), ("f", "d/f", b"f")],
        {"l": b"f"},
    ),
    "dotdot-before-link": (
        [("d", "usr", None), ("d", "usr/lib", None), ("f", "usr/lib/so", b"so"),
         ("l", "lib", "usr/lib"), ("d", "bin", None), ("l", "bin/so", "../lib/so")],
        {"bin/so": b"so"},
    ),
    "dotdot-inside-link-dir": (
        [("d", "a", None), ("d", "a/b", None), ("f", "a/f", b"af"), ("l", "x", "a/b"),
         ("l", "y", "x/../f")],
        None,  # '..' after the link x: refused, see below
    ),
    "dangling": ([("l", "l", "missing/deeper")], {}),
}


@pytest.mark.parametrize("name", [n for n, (_, r) in ALLOWED.items() if r is not None])
def test_safe_chains_extracted(tmp_path: Path, name: str) -> None:
    members, reads = ALLOWED[name]
    dest = deep_dest(tmp_path)
    extract(archive(members), dest)
    assert escapes(dest) == []
    for link, content in (reads or {}).items():
        assert (dest / link).read_bytes() == content
    for kind, n, arg in members:
        if kind == "l":
            assert os.readlink(dest / n) == arg


def test_dotdot_after_link_to_real_dir_refused(tmp_path: Path) -> None:
    members, _ = ALLOWED["dotdot-inside-link-dir"]
    with pytest.raises(UnsafePath, match="'..' follows a symlink"):
        extract(archive(members), deep_dest(tmp_path))


def test_later_run_cannot_complete_an_escape(tmp_path: Path) -> None:
    """A first archive plants 'y -> d/m/../..'; a second makes 'd/m -> ..'. The first is
    refused, so the second has nothing to complete."""
    dest = deep_dest(tmp_path)
    with pytest.raises(UnsafePath, match="refusing symlink 'y'"):
        extract(archive([("d", "d", None), ("l", "y", "d/m/../..")]), dest)
    extract(archive([("d", "d", None), ("l", "d/m", "..")]), dest, force=True)
    assert escapes(dest) == []
    assert not os.path.lexists(dest / "y")


def test_link_through_existing_link_checked_as_found(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    dest = deep_dest(tmp_path)
    (dest / "in").mkdir()
    os.symlink("in", dest / "ok")
    os.symlink(str(outside), dest / "jump")
    extract(archive([("l", "l1", "ok/x")]), dest)
    with pytest.raises(UnsafePath, match="absolute symlink target"):
        extract(archive([("l", "l2", "jump/x")]), dest)
    assert not os.path.lexists(dest / "l2")


@pytest.mark.parametrize("kind", ["f", "d", "l"])
def test_member_after_link_is_not_written_through_it(tmp_path: Path, kind: str) -> None:
    """The format refuses a name below a symlink member; a reader that yields one anyway
    still gets nothing written through the link (links are made last, and refused here)."""
    dest = deep_dest(tmp_path)
    with nzarc.open(io.BytesIO(archive([("d", "sub", None), ("l", "hop", "sub")])), jobs=1) as r:
        items = list(r.iter_members())
    with nzarc.open(io.BytesIO(archive([(kind, "hop/in", b"" if kind == "f" else "t")])), jobs=1) as r:
        items += list(r.iter_members())

    class Reader:
        seekable = False

        def iter_members(self, names: object = None) -> object:
            return iter(items)

    with pytest.raises(UnsafePath, match="below the symlink member 'hop'"):
        extract_members(Reader(), dest)
    assert list((dest / "sub").iterdir()) == []
    assert not os.path.lexists(dest / "hop")


def test_overwrite_rules_unchanged_for_links(tmp_path: Path) -> None:
    dest = deep_dest(tmp_path)
    (dest / "x").write_bytes(b"mine")
    data = archive([("l", "x", "t"), ("f", "after", b"a")])
    with pytest.raises(OverwriteRefused, match="refusing to overwrite existing 'x'"):
        extract(data, dest)
    assert (dest / "x").read_bytes() == b"mine"
    assert not (dest / "after").exists()  # refused at the link's turn, as before
    extract(data, dest, force=True)
    assert os.readlink(dest / "x") == "t"
    assert (dest / "after").read_bytes() == b"a"


def test_failed_extract_creates_no_links(tmp_path: Path) -> None:
    """A member that fails its check after a symlink member: the link, queued for the end,
    is never created (only verified files are left)."""
    with nzarc.open(io.BytesIO(archive([("l", "l", "f"), ("f", "ok", b"ok"), ("f", "f", b"x")])),
                    jobs=1) as r:
        good = [(md.member, md.read()) for md in r.iter_members()]

    class Bad:
        def __init__(self, member: object, data: bytes) -> None:
            self.member, self.data = member, data

        def chunks(self) -> object:
            yield self.data
            if self.member.name == "f":  # type: ignore[attr-defined]
                raise IntegrityError("member 'f' fails its SHA-256 check")

    class Reader:
        seekable = False

        def iter_members(self, names: object = None) -> object:
            return iter([Bad(m, d) for m, d in good])

    dest = deep_dest(tmp_path)
    with pytest.raises(IntegrityError, match="fails its SHA-256"):
        extract_members(Reader(), dest)
    assert sorted(os.listdir(dest)) == ["ok"]


# -- any set of links ---------------------------------------------------------------------

_NAMES = ["a", "x", "y", "a/x", "a/y", "x/a", "a/a/x"]
_TOKENS = [".", ".", "..", "..", "a", "x", "y", ""]


@st.composite
def _shapes(draw: st.DrawFn) -> list[tuple[str, str, object]]:
    members: list[tuple[str, str, object]] = []
    taken: set[str] = set()

    def free(name: str) -> bool:
        # no duplicates, nothing below a symlink or a file (the format's own rule)
        parts = name.split("/")
        prefixes = {"/".join(parts[:i]) for i in range(1, len(parts))}
        return name not in taken and not (prefixes & leaves) and not any(
            t.startswith(name + "/") for t in taken
        )

    leaves: set[str] = set()
    for _ in range(draw(st.integers(1, 8))):
        kind = draw(st.sampled_from("llllldf"))
        name = draw(st.sampled_from(_NAMES))
        if not free(name):
            continue
        if kind == "l":
            tokens = draw(st.lists(st.sampled_from(_TOKENS), min_size=1, max_size=6))
            target = ("/" if draw(st.integers(0, 49)) == 0 else "") + "/".join(tokens)
            if not target or target == "/":
                target = "."
            members.append(("l", name, target))
            leaves.add(name)
        elif kind == "d":
            members.append(("d", name, None))
        else:
            members.append(("f", name, b"data"))
            leaves.add(name)
        taken.add(name)
    return members


@settings(max_examples=60, deadline=None)
@given(_shapes())
@example(HOSTILE["reported"])
@example(HOSTILE["second-link-first"])
def test_no_path_resolves_outside(members: list[tuple[str, str, object]]) -> None:
    try:
        data = archive(members)
    except nzarc.NzarcError:
        return  # a shape the writer refuses (e.g. a dir below a link name)
    with tempfile.TemporaryDirectory() as tmp:
        dest = deep_dest(Path(tmp))
        try:
            extract(data, dest)
        except UnsafePath:
            pass
        assert escapes(dest) == []
        assert sorted(os.listdir(tmp)) == ["d1"]


def test_cli_refuses_reported_chain(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from nzarc.cli import main

    (tmp_path / "a.nzarc").write_bytes(archive(HOSTILE["reported"]))
    dest = deep_dest(tmp_path)
    assert main(["extract", str(tmp_path / "a.nzarc"), "-C", str(dest), "-q"]) != 0
    assert "refusing symlink 'y' -> 'x/../outside'" in capsys.readouterr().err
    assert not os.path.lexists(dest / "y")


@settings(max_examples=40, deadline=None)
@given(_shapes(), _shapes())
def test_a_later_forced_run_cannot_make_links_escape(
    first: list[tuple[str, str, object]], second: list[tuple[str, str, object]]
) -> None:
    """What a first extraction accepted stays inside whatever a second one (with --force)
    adds or replaces: the second checks only its own links."""
    with tempfile.TemporaryDirectory() as tmp:
        dest = deep_dest(Path(tmp))
        for members, force in ((first, False), (second, True)):
            try:
                data = archive(members)
            except nzarc.NzarcError:
                continue
            try:
                extract(data, dest, force=force)
            except (UnsafePath, IsADirectoryError, FileExistsError):
                pass
            assert escapes(dest) == []
        assert sorted(os.listdir(tmp)) == ["d1"]
