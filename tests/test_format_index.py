"""Index encoding and validation (spec §6)."""

from __future__ import annotations

import struct

import pytest

from nzarc.errors import FormatError, LimitExceeded, UnsafePath
from nzarc.format.canonical import pack, unpack
from nzarc.format.index import Index, decode_index, encode_index
from nzarc.format.member import Entry, Member

SHA = bytes(range(32))


def good() -> Index:
    return Index(
        entries=(
            Entry(Member("d", "dir", 0o755, 1, 0, None), 0),
            Entry(Member("d/a", "file", 0o644, -5, 300, SHA), 0),
            Entry(Member("d/l", "symlink", 0o777, 2, 0, None, "a"), 300),
            Entry(Member("d/b", "file", 0o600, 3, 0, SHA), 300),
        ),
        chunk_offsets=(10, 400),
        counts=(1, 1),
        total=300,
    )


def wire() -> dict:
    return unpack(encode_index(good()), "index")


def test_roundtrip():
    assert decode_index(encode_index(good()), chunk_size=256, slots=2) == good()


@pytest.mark.parametrize("edit", [
    lambda w: w.__setitem__("total", 301),  # entries do not cover the stream
    lambda w: w.__setitem__("chunks", struct.pack(">Q", 10)),  # too few chunks
    lambda w: w.__setitem__("chunks", struct.pack(">QQ", 400, 10)),  # not increasing
    lambda w: w.__setitem__("chunks", b"\x00" * 9),  # not 8-byte aligned
    lambda w: w.__setitem__("counts", [2, 1]),  # counts do not add up
    lambda w: w.__setitem__("counts", [2]),  # one count per slot
    lambda w: w["entries"][1].__setitem__(4, 1),  # offset gap
    lambda w: w["entries"][1].__setitem__(6, None),  # file without digest
    lambda w: w["entries"][0].__setitem__(7, "x"),  # directory with a link target
    lambda w: w["entries"][2].__setitem__(5, 3),  # symlink with content
    lambda w: w["entries"][1].__setitem__(1, "x"),  # unknown type
    lambda w: w["entries"][1].__setitem__(2, 0o4755),  # setuid
    lambda w: w.__setitem__("extra", 1),  # unknown key
])
def test_invalid_indexes(edit):
    w = wire()
    edit(w)
    with pytest.raises(FormatError):
        decode_index(pack(w), chunk_size=256, slots=2)


def test_unsafe_and_duplicate_names():
    w = wire()
    w["entries"][1][0] = "../a"
    with pytest.raises(UnsafePath):
        decode_index(pack(w), chunk_size=256, slots=2)
    w = wire()
    w["entries"][3][0] = "d/a"
    with pytest.raises(UnsafePath):
        decode_index(pack(w), chunk_size=256, slots=2)


def test_entry_count_cap(monkeypatch):
    from nzarc.format import limits

    monkeypatch.setattr(limits, "MAX_ENTRIES", 3)
    with pytest.raises(LimitExceeded):
        decode_index(encode_index(good()), chunk_size=256, slots=2)
