"""Member names that are not UTF-8, or hold a backslash, are stored and restored exactly.

The encoding (spec/FORMAT.md §8): a name is a byte string; on the wire a msgpack str when
its bytes are UTF-8 and a bin otherwise; in the API a ``str`` with undecodable bytes as
``surrogateescape`` surrogates. A backslash is an ordinary byte except on hosts where it
separates paths.
"""

from __future__ import annotations

import io
import json
import os
from pathlib import Path

import pytest
from cli_support import run_nzarc
from helpers_format import Pipe
from hypothesis import given, settings
from hypothesis import strategies as st

import nzarc.extract as extract_mod
import nzarc.extracttree as tree_mod
from nzarc.display import non_utf8_hex, printable
from nzarc.errors import FormatError, UnsafePath
from nzarc.format.paths import (
    is_utf8,
    text_bytes,
    text_from_wire,
    text_to_wire,
    validate_link_target,
    validate_member_name,
)
from nzarc.hostnames import check_host_encoding
from nzarc.reader import ArchiveReader
from nzarc.writer import ArchiveWriter

MTIME = 1_700_000_000_000_000_000

#: On-disk names (bytes) of a tree that tar archives and nzarc must too.
RAW_DIR = b"raw-\xff\xfe"
RAW_FILE = RAW_DIR + b"/caf\xe9.txt"
UNIT = b"system-systemd\\x2dcryptsetup.slice"
RAW_LINK = b"link-\xe9"


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("home")


# ------------------------------------------------------------------ the encoding itself


@settings(max_examples=300, deadline=None)
@given(st.binary(min_size=1, max_size=40).filter(lambda b: b"\x00" not in b))
def test_every_byte_string_has_one_wire_form_and_comes_back(raw: bytes) -> None:
    text = raw.decode("utf-8", "surrogateescape")  # what os.fsdecode gives on POSIX
    assert text_bytes(text) == raw
    wire = text_to_wire(text)
    try:
        raw.decode("utf-8")
        utf8 = True
    except UnicodeDecodeError:
        utf8 = False
    assert isinstance(wire, str if utf8 else bytes)
    assert is_utf8(text) is utf8
    assert text_from_wire(wire) == text


def test_a_bin_that_is_utf8_is_a_format_error() -> None:
    with pytest.raises(FormatError, match="valid UTF-8 but encoded as bin"):
        text_from_wire(b"docs/a.txt")
    assert text_from_wire(b"caf\xe9") == "caf\udce9"


@pytest.mark.parametrize(
    ("text", "why"),
    [("\ud800x", "stands for no byte"), ("\udcc3\udca9", "form valid UTF-8")],
)
def test_strings_no_byte_string_decodes_to_are_not_names(text: str, why: str) -> None:
    with pytest.raises(UnsafePath, match=why):
        validate_member_name(text)
    with pytest.raises(UnsafePath, match=why):
        validate_link_target(text)


def test_limits_count_bytes_not_characters() -> None:
    validate_member_name("\udcff" * 255)  # 255 bytes
    with pytest.raises(UnsafePath, match="component over 255"):
        validate_member_name("\udcff" * 256)
    with pytest.raises(UnsafePath, match="component over 255"):
        validate_member_name("\u00e9" * 128)  # 256 bytes in UTF-8


def test_backslash_is_a_byte_on_posix_and_refused_where_it_separates(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert validate_member_name("a\\b") == "a\\b"
    for module in (extract_mod, tree_mod):
        monkeypatch.setattr(module, "BACKSLASH_SEPARATES", False)
    assert extract_mod.split_member_name("d/a\\b") == ["d", "a\\b"]
    assert tree_mod.link_target_inside(["d"], "x\\..\\..")
    for module in (extract_mod, tree_mod):
        monkeypatch.setattr(module, "BACKSLASH_SEPARATES", True)
    with pytest.raises(UnsafePath, match="backslash separates paths"):
        extract_mod.split_member_name("d/a\\b")
    assert not tree_mod.link_target_inside(["d"], "x\\..\\..")


def test_host_encoding_check() -> None:
    assert check_host_encoding("caf\udce9", exact=True) == "caf\udce9"
    assert check_host_encoding("plain/ascii", exact=False) == "plain/ascii"
    with pytest.raises(UnsafePath, match="PYTHONUTF8=1"):
        check_host_encoding("caf\udce9", exact=False)


def test_terminal_and_json_forms() -> None:
    assert printable("caf\udce9") == "caf\\udce9"
    assert printable("a\\b") == "a\\\\b"
    assert non_utf8_hex("caf\udce9") == "636166e9"
    assert non_utf8_hex("café") is None
    assert non_utf8_hex(None) is None


# ------------------------------------------------------------------ the library


def _archive(names: list[str], target: str) -> bytes:
    out = io.BytesIO()
    with ArchiveWriter(out, encrypt=False, chunk_size=256) as w:
        w.add_dir(names[0], mtime_ns=MTIME)
        for i, name in enumerate(names[1:]):
            w.add_bytes(name, f"content {i}".encode() * 20, mtime_ns=MTIME)
        w.add_symlink("link-\udce9", target, mtime_ns=MTIME)
    return out.getvalue()


def test_writer_and_reader_keep_the_exact_names_on_file_and_pipe() -> None:
    names = ["raw-\udcff\udcfe", "raw-\udcff\udcfe/caf\udce9.txt", "back\\slash", "ok-é"]
    data = _archive(names, "raw-\udcff\udcfe/caf\udce9.txt")
    assert b"\xc4\x06raw-\xff\xfe" in data  # a bin on the wire (the archive is unencrypted)
    expected = [*names, "link-\udce9"]
    for source in (io.BytesIO(data), Pipe(data, step=100)):
        with ArchiveReader(source) as r:
            got = [md.member for md in r.iter_members()]
        assert [m.name for m in got] == expected
        assert got[-1].link_target == "raw-\udcff\udcfe/caf\udce9.txt"
    with ArchiveReader(io.BytesIO(data)) as r:
        assert [m.name for m in r.members()] == expected  # through the index
        (md,) = r.iter_members(["raw-\udcff\udcfe/caf\udce9.txt"])  # selected through the index
        assert md.read() == b"content 0" * 20


# ------------------------------------------------------------------ the command line


def _make_tree(root: Path) -> None:
    base = os.fsencode(root)
    os.makedirs(base + b"/" + RAW_DIR)
    with open(base + b"/" + RAW_FILE, "wb") as fh:
        fh.write(b"latin-1 named\n")
    with open(base + b"/" + UNIT, "wb") as fh:
        fh.write(b"[Unit]\n")
    os.symlink(RAW_FILE, base + b"/" + RAW_LINK)


def _tree_bytes(root: Path) -> dict[bytes, object]:
    out: dict[bytes, object] = {}
    base = os.fsencode(root)
    for dirpath, dirnames, filenames in os.walk(base):
        for name in dirnames + filenames:
            full = os.path.join(dirpath, name)
            rel = os.path.relpath(full, base)
            if os.path.islink(full):
                out[rel] = ("link", os.readlink(full))
            elif os.path.isdir(full):
                out[rel] = "dir"
            else:
                with open(full, "rb") as fh:
                    out[rel] = fh.read()
    return out


@pytest.mark.parametrize("via_pipe", [False, True])
def test_cli_round_trip_restores_the_exact_bytes(home: Path, tmp_path: Path, via_pipe: bool) -> None:
    src = tmp_path / "src"
    _make_tree(src)
    arc = tmp_path / "a.nzarc"
    run_nzarc("create", "--no-encrypt", "-o", arc, "src", cwd=tmp_path, home=home).assert_ok()
    dest = tmp_path / "out"
    if via_pipe:
        r = run_nzarc("extract", "-", "-C", dest, stdin=arc.read_bytes(), home=home)
    else:
        r = run_nzarc("extract", arc, "-C", dest, home=home)
    r.assert_ok()
    assert _tree_bytes(dest / "src") == _tree_bytes(src)
    assert set(_tree_bytes(src)) == {RAW_DIR, RAW_FILE, UNIT, RAW_LINK}


def test_cli_list_escapes_and_json_carries_the_bytes(home: Path, tmp_path: Path) -> None:
    src = tmp_path / "src"
    _make_tree(src)
    arc = tmp_path / "a.nzarc"
    run_nzarc("create", "--no-encrypt", "-o", arc, "src", cwd=tmp_path, home=home).assert_ok()
    listing = run_nzarc("list", arc, home=home).assert_ok().stdout
    assert listing.decode("ascii").splitlines() == [
        "src",
        "src/link-\\udce9",
        "src/raw-\\udcff\\udcfe",
        "src/raw-\\udcff\\udcfe/caf\\udce9.txt",
        "src/system-systemd\\\\x2dcryptsetup.slice",
    ]
    rows = {m["name"]: m for m in json.loads(run_nzarc("list", "--json", arc, home=home).stdout)}
    link = rows["src/link-\udce9"]
    assert bytes.fromhex(link["name_hex"]) == b"src/" + RAW_LINK
    assert bytes.fromhex(link["link_target_hex"]) == RAW_FILE
    assert "name_hex" not in rows["src/system-systemd\\x2dcryptsetup.slice"]


def test_cli_selects_a_member_by_its_raw_bytes(home: Path, tmp_path: Path) -> None:
    src = tmp_path / "src"
    _make_tree(src)
    arc = tmp_path / "a.nzarc"
    run_nzarc("create", "--no-encrypt", "-o", arc, "src", cwd=tmp_path, home=home).assert_ok()
    member = os.fsdecode(b"src/" + RAW_FILE)  # argv bytes, as a shell passes them
    dest = tmp_path / "out"
    run_nzarc("extract", arc, member, "-C", dest, home=home).assert_ok()
    assert _tree_bytes(dest / "src") == {RAW_DIR: "dir", RAW_FILE: b"latin-1 named\n"}


def test_backslash_names_are_single_components_on_posix(home: Path, tmp_path: Path) -> None:
    out = io.BytesIO()
    with ArchiveWriter(out, encrypt=False) as w:
        w.add_bytes("..\\outside\\pwned", b"inside", mtime_ns=MTIME)
    arc = tmp_path / "b.nzarc"
    arc.write_bytes(out.getvalue())
    dest = tmp_path / "dest"
    run_nzarc("extract", arc, "-C", dest, home=home).assert_ok()
    assert os.listdir(dest) == ["..\\outside\\pwned"]
    assert sorted(os.listdir(tmp_path)) == ["b.nzarc", "dest"]


def test_walk_orders_entries_by_their_bytes(home: Path, tmp_path: Path) -> None:
    src = tmp_path / "src"
    src.mkdir()
    for raw in (b"\xff", b"\xee\x80\x80", b"z"):  # U+E000 is EE 80 80, before the byte FF
        with open(os.fsencode(src) + b"/" + raw, "wb") as fh:
            fh.write(raw)
    arc = tmp_path / "a.nzarc"
    run_nzarc("create", "--no-encrypt", "-o", arc, "src", cwd=tmp_path, home=home).assert_ok()
    with ArchiveReader(io.BytesIO(arc.read_bytes())) as r:
        assert [m.name for m in r.members()] == ["src", "src/z", "src/\ue000", "src/\udcff"]
