"""Frame-level rules (spec §6) on hand-built plaintext streams with valid tags."""

from __future__ import annotations

import hashlib
import io

import pytest
from helpers_format import Pipe, forge_unencrypted, read_all

from nzarc.errors import FormatError, IntegrityError, LimitExceeded, UnsafePath
from nzarc.format.frames import (
    encode_chunk_head,
    encode_entry,
    encode_finish,
    encode_index_frame,
    encode_pad,
    encode_trailer,
)
from nzarc.format.index import Index, encode_index
from nzarc.format.layout import LEN_PREFIX, TAG_ENTRY, TAG_INDEX
from nzarc.format.member import Entry, Member
from nzarc.reader import ArchiveReader

CS = 256


def fmember(name: str, data: bytes) -> Member:
    return Member(name, "file", 0o644, 5, len(data), hashlib.sha256(data).digest())


def chunk(data: bytes, slot: int = 0) -> bytes:
    return encode_chunk_head(slot, len(data), len(data)) + data


def stream(frames: list[bytes], entries: list[Entry], chunk_positions: list[int] | None = None,
           total: int | None = None, counts=(None,)) -> bytes:
    """Append index + trailer to ``frames``; chunk offsets computed unless given."""
    body = b"".join(frames)
    if chunk_positions is None:
        chunk_positions, pos = [], 0
        for f in frames:
            if f[0] == 0x43:
                chunk_positions.append(pos)
            pos += len(f)
    total = sum(e.member.size or 0 for e in entries) if total is None else total
    n = len(chunk_positions)
    idx = Index(tuple(entries), tuple(chunk_positions), (n, 0) if counts == (None,) else counts, total)
    index_frame = encode_index_frame(encode_index(idx))
    return body + index_frame + encode_trailer(len(body), len(body) + len(index_frame))


def read_both(plaintext: bytes, **forge):
    data = forge_unencrypted(plaintext, **forge)
    out = []
    for src in (Pipe(data, step=50), io.BytesIO(data)):
        out.append(read_all(src))
    return out


def test_valid_handmade_stream():
    a, b = b"x" * 300, b"yz"
    ma, mb = fmember("a", a), fmember("b", b)
    frames = [encode_entry(ma, 0), chunk(a[:256]), encode_entry(mb, 300), chunk(a[256:] + b),
              encode_finish(300, ma.sha256), encode_finish(2, mb.sha256)]
    got = read_both(stream(frames, [Entry(ma, 0), Entry(mb, 300)]))
    assert got == [{"a": a, "b": b}] * 2


def bad(frames, entries, cls, **kw):
    plaintext = stream(frames, entries, **kw)
    data = forge_unencrypted(plaintext)
    with pytest.raises(cls):
        read_all(Pipe(data, step=50))


def test_chunk_before_entry():
    a = b"x" * 10
    m = fmember("a", a)
    bad([chunk(a), encode_entry(m, 0), encode_finish(10, m.sha256)], [Entry(m, 0)], FormatError)


def test_wrong_digest_is_integrity_error():
    a = b"x" * 10
    m = fmember("a", a)
    wrong = Member("a", "file", 0o644, 5, 10, hashlib.sha256(b"other").digest())
    bad([encode_entry(m, 0), chunk(a), encode_finish(10, wrong.sha256)], [Entry(wrong, 0)], IntegrityError)


def test_size_mismatch_and_unowned_data():
    a = b"x" * 10
    m = fmember("a", a)
    bad([encode_entry(m, 0), chunk(a), encode_finish(9, m.sha256)], [Entry(m, 0)], FormatError)
    bad([encode_entry(m, 0), chunk(a), encode_finish(11, m.sha256)], [Entry(m, 0)], FormatError)


def test_entry_inside_received_data():
    a = b"x" * 10
    ma, mb = fmember("a", a[:5]), fmember("b", a[5:])
    bad([encode_entry(ma, 0), chunk(a), encode_entry(mb, 5), encode_finish(5, ma.sha256),
         encode_finish(5, mb.sha256)], [Entry(ma, 0), Entry(mb, 5)], FormatError)


def test_short_chunk_not_last():
    a = b"x" * 300
    m = fmember("a", a)
    bad([encode_entry(m, 0), chunk(a[:100]), chunk(a[100:]), encode_finish(300, m.sha256)],
        [Entry(m, 0)], FormatError)


def test_duplicate_and_unsafe_names():
    d = Member("d", "dir", 0o755, 5, 0, None)
    bad([encode_entry(d, 0), encode_finish(0, bytes(32)), encode_entry(d, 0), encode_finish(0, bytes(32))],
        [Entry(d, 0), Entry(d, 0)], UnsafePath)
    link = Member("l", "symlink", 0o777, 5, 0, None, "x")
    under = Member("l/x", "dir", 0o755, 5, 0, None)
    bad([encode_entry(link, 0), encode_finish(0, bytes(32)), encode_entry(under, 0), encode_finish(0, bytes(32))],
        [Entry(link, 0), Entry(under, 0)], UnsafePath)
    raw = {"p": "../evil", "t": "d", "m": 0o755, "mt": 0, "o": 0}
    from nzarc.format.canonical import pack

    body = pack(raw)
    frame = bytes([TAG_ENTRY]) + LEN_PREFIX.pack(len(body)) + body
    with pytest.raises(UnsafePath):
        read_all(Pipe(forge_unencrypted(frame + encode_finish(0, bytes(32))), step=50))


def test_mode_outside_safe_bits_is_rejected():
    d = Member("d", "dir", 0o4755, 5, 0, None)
    bad([encode_entry(d, 0), encode_finish(0, bytes(32))], [], FormatError)


def test_index_must_match_stream():
    a = b"x" * 10
    m = fmember("a", a)
    other = Member("a", "file", 0o600, 5, 10, m.sha256)
    bad([encode_entry(m, 0), chunk(a), encode_finish(10, m.sha256)], [Entry(other, 0)], FormatError)
    bad([encode_entry(m, 0), chunk(a), encode_finish(10, m.sha256)], [Entry(m, 0)], FormatError,
        counts=(0, 1))


def test_hostile_lengths():
    huge_entry = bytes([TAG_ENTRY]) + LEN_PREFIX.pack(0xFFFFFFFF)
    with pytest.raises(LimitExceeded):
        read_all(Pipe(forge_unencrypted(huge_entry + bytes(40)), step=50))
    huge_index = bytes([TAG_INDEX]) + LEN_PREFIX.pack(0xFFFFFFFF)
    with pytest.raises(LimitExceeded):
        read_all(Pipe(forge_unencrypted(huge_index + bytes(40)), step=50))
    m = fmember("a", b"x")
    with pytest.raises(FormatError):  # raw_len above the chunk size
        read_all(Pipe(forge_unencrypted(encode_entry(m, 0) + encode_chunk_head(0, CS + 1, 1) + b"x"), step=50))
    with pytest.raises(FormatError):  # codec output longer than raw
        read_all(Pipe(forge_unencrypted(encode_entry(m, 0) + encode_chunk_head(1, 1, 0xFFFFFFFF)), step=50))
    with pytest.raises(FormatError):  # slot out of range
        read_all(Pipe(forge_unencrypted(encode_entry(m, 0) + encode_chunk_head(9, 1, 1) + b"x"), step=50))
    with pytest.raises(FormatError):
        read_all(Pipe(forge_unencrypted(b"\x00garbage"), step=50))


def test_corrupt_codec_output_is_codec_error():
    from nzarc.errors import CodecError

    a = b"hello" * 20
    m = fmember("a", a)
    bad([encode_entry(m, 0), encode_chunk_head(1, len(a), 10) + b"\x28\xb5\x2f\xfd" + bytes(6),
         encode_finish(len(a), m.sha256)], [Entry(m, 0)], CodecError, counts=(0, 1))


def test_stream_must_end_after_trailer_and_padding_rules():
    m = fmember("a", b"x")
    frames = [encode_entry(m, 0), chunk(b"x"), encode_finish(1, m.sha256)]
    good = stream(frames, [Entry(m, 0)])
    assert read_all(Pipe(forge_unencrypted(good), step=50)) == {"a": b"x"}
    with pytest.raises(FormatError):
        read_all(Pipe(forge_unencrypted(good + b"\x00"), step=50))
    with pytest.raises(FormatError):  # pad flag without a padding frame
        read_all(Pipe(forge_unencrypted(good, pad=True), step=50))
    body = b"".join(frames)
    index_frame = encode_index_frame(encode_index(Index((Entry(m, 0),), (len(frames[0]),), (1, 0), 1)))
    wrong_pad = body + index_frame + encode_pad(3)
    wrong_pad += encode_trailer(len(body), len(wrong_pad))
    for source in (lambda d: Pipe(d, step=50), io.BytesIO):
        with pytest.raises(FormatError):
            read_all(source(forge_unencrypted(wrong_pad, pad=True)))


def test_seekable_reader_checks_index_pointers():
    m = fmember("a", b"x")
    frames = [encode_entry(m, 0), chunk(b"x"), encode_finish(1, m.sha256)]
    body = b"".join(frames)
    index_frame = encode_index_frame(encode_index(Index((Entry(m, 0),), (0,), (1, 0), 1)))
    pt = body + index_frame + encode_trailer(len(body), len(body) + len(index_frame))
    with ArchiveReader(io.BytesIO(forge_unencrypted(pt))) as r:
        with pytest.raises(FormatError):
            list(md.read() for md in r.iter_members(["a"]))


def test_finish_frame_must_follow_the_members_last_chunk():
    a, b = b"a" * 100, b"b" * 400
    ma, mb = fmember("a", a), fmember("b", b)
    frames = [encode_entry(ma, 0), encode_entry(mb, 100), chunk((a + b)[:256]), chunk((a + b)[256:]),
              encode_finish(100, ma.sha256), encode_finish(400, mb.sha256)]
    with pytest.raises(FormatError, match="finish frame is missing"):
        read_all(Pipe(forge_unencrypted(stream(frames, [Entry(ma, 0), Entry(mb, 100)])), step=50))
    frames = [encode_entry(ma, 0), encode_entry(mb, 100), chunk((a + b)[:256]),
              encode_finish(100, ma.sha256), chunk((a + b)[256:]), encode_finish(400, mb.sha256)]
    assert read_all(Pipe(forge_unencrypted(stream(frames, [Entry(ma, 0), Entry(mb, 100)])), step=50)) == {"a": a, "b": b}
