"""Member names (spec §8), Padmé and the STREAM segment layer (spec §5)."""

from __future__ import annotations

import io

import pytest

from nzarc.crypto.suites import make_aead
from nzarc.errors import FormatError, IntegrityError, UnsafePath
from nzarc.format.index import padme
from nzarc.format.member import NameSet
from nzarc.format.paths import validate_link_target, validate_member_name
from nzarc.format.stream import PlainStream, SegmentWriter, iter_segments, nonce, segment_count


@pytest.mark.parametrize("name", ["a", "a/b", "dir/ü ☃.txt", "a\\b", "caf\udce9", "\udcff/\udcfe", "x" * 255, "/".join(["d"] * 100), ".hidden", "a..b"])
def test_safe_names(name):
    assert validate_member_name(name) == name


@pytest.mark.parametrize("name", ["", "/abs", "a/../b", "..", ".", "a/./b", "a//b", "a/", "a\x00b",
                                  "C:/x", "c:x", "x" * 256, "/".join(["d"] * 2049)])
def test_unsafe_names(name):
    with pytest.raises(UnsafePath):
        validate_member_name(name)


def test_link_targets():
    assert validate_link_target("../x") == "../x"
    for bad in ["", "a\x00", "x" * 4097]:
        with pytest.raises(UnsafePath):
            validate_link_target(bad)


def test_name_set_rejects_duplicates_and_children_of_files():
    names = NameSet()
    names.add("d", "dir")
    names.add("d/f", "file")
    with pytest.raises(UnsafePath):
        names.add("d/f", "file")
    with pytest.raises(UnsafePath):
        names.add("d/f/g", "file")
    names.add("x/y", "file")
    with pytest.raises(UnsafePath):
        names.add("x", "file")


def test_padme_known_values():
    assert [padme(n) for n in (0, 1, 2, 3, 9, 100, 1000, 1025)] == [0, 1, 2, 3, 10, 104, 1024, 1088]
    for n in range(2, 5000):
        p = padme(n)
        assert n <= p <= n + n // 8 + 1 and padme(p) == p


def test_nonce_layout():
    assert nonce(0, False) == bytes(12)
    assert nonce(1, True) == bytes(10) + b"\x01\x01"
    assert nonce(2**88 - 1, False) == b"\xff" * 11 + b"\x00"


def _seal(plaintext: bytes, seg: int) -> bytes:
    out = bytearray()
    sw = SegmentWriter(out.extend, make_aead("chacha20-poly1305", b"k" * 32), seg)
    for i in range(0, len(plaintext), 5):
        sw.write(plaintext[i : i + 5])
    sw.close()
    return bytes(out)


@pytest.mark.parametrize("n", [1, 63, 64, 65, 128, 129, 500])
def test_segments_roundtrip_sequential_and_indexed(n):
    pt = bytes(range(256)) * 2
    pt = pt[:n]
    data = _seal(pt, 64)
    total = segment_count(len(data), 64)
    assert total == -(-n // 64)
    aead = make_aead("chacha20-poly1305", b"k" * 32)
    assert b"".join(iter_segments(io.BytesIO(data).read, aead, 64)) == pt
    assert b"".join(iter_segments(io.BytesIO(data).read, aead, 64, total=total)) == pt
    if total > 1:
        tail = io.BytesIO(data[80:])
        assert b"".join(iter_segments(tail.read, aead, 64, first=1, total=total)) == pt[64:]


def test_segment_count_rejects_impossible_lengths():
    for bad in (0, 16, 80 + 16):
        with pytest.raises(IntegrityError):
            segment_count(bad, 64)


def test_plain_stream_reads_across_segments():
    s = PlainStream(iter([b"abc", b"defg", b"h"]))
    assert s.read_exact(2) == b"ab" and s.read_exact(5) == b"cdefg" and s.pos == 7
    assert not s.at_end()
    assert s.read_exact(1) == b"h" and s.at_end()
    with pytest.raises(FormatError):
        PlainStream(iter([b"ab"])).read_exact(3)
    s = PlainStream(iter([b"abc", b"def"]), pos=64, skip=2)
    assert s.pos == 66 and s.read_exact(2) == b"cd"
    with pytest.raises(FormatError):
        PlainStream(iter([b"\x00\x01"])).skip_zeros(2)
