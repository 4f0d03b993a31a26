"""Hostile-input hardening of the container format: key handling order, bounded decoding,
low-order keys, exact lengths and the nonce counter (spec §3-§6, §11)."""

from __future__ import annotations

import hashlib
import io
import time

import pytest
from helpers_format import (
    Pipe,
    SeededRng,
    forge_header,
    forge_unencrypted,
    read_all,
    split,
    write_archive,
)

from nzarc.codecs.zstd import ZstdCodec
from nzarc.crypto import bech32
from nzarc.crypto.recipients import (
    Argon2Params,
    generate_identity,
    parse_recipient,
    unwrap_file_key,
    wrap_x25519,
)
from nzarc.errors import (
    CodecError,
    DecryptionError,
    FormatError,
    IntegrityError,
    LimitExceeded,
    UnsafePath,
)
from nzarc.format import limits
from nzarc.format.canonical import MAX_DEPTH, pack, unpack
from nzarc.format.frames import (
    encode_chunk_head,
    encode_entry,
    encode_finish,
    encode_index_frame,
    encode_trailer,
)
from nzarc.format.header import CodecEntry, Stanza, decode_header
from nzarc.format.index import Index, decode_index, encode_index
from nzarc.format.layout import LEN_PREFIX, MAC_LEN, PRELUDE, PRELUDE_LEN, TAG_ENTRY
from nzarc.format.member import Entry, Member
from nzarc.format.stream import nonce
from nzarc.pipeline import build_decoders
from nzarc.reader import ArchiveReader
from nzarc.writer import ArchiveWriter

SHA = bytes(range(32))
SMALL = Argon2Params(1, 64, 1)
# Low-order points of Curve25519 (u = 0 and u = 1); every clamped scalar maps them to zero.
LOW_ORDER = [bytes(32), b"\x01" + bytes(31)]


def _index_wire() -> dict:
    idx = Index((Entry(Member("a", "file", 0o644, 1, 3, SHA), 0),), (10,), (1,), 3)
    return unpack(encode_index(idx), "index")


# -- bounded, crash-free decoding ---------------------------------------------------------


def test_entry_type_must_be_a_string_on_a_pipe():
    body = pack({"p": "a", "t": [1], "m": 0o644, "mt": 1, "o": 0})
    plaintext = bytes([TAG_ENTRY]) + LEN_PREFIX.pack(len(body)) + body
    with pytest.raises(FormatError, match="unknown entry type"):
        read_all(Pipe(forge_unencrypted(plaintext), step=50))


@pytest.mark.parametrize("kind", [[0, 0], {"x": 1}])
def test_index_row_type_must_be_a_string(kind):
    w = _index_wire()
    w["entries"][0][1] = kind
    with pytest.raises(FormatError):
        decode_index(pack(w), chunk_size=256, slots=1)


def test_deep_nesting_is_a_format_error_not_a_recursion_error():
    header = b"\x91" * 496 + b"\xc0"
    data = PRELUDE.pack(b"\x8fNZARC\r\n\x1a\n", 1, len(header)) + header + bytes(MAC_LEN)
    with pytest.raises(FormatError, match="nesting"):
        ArchiveReader(io.BytesIO(data))
    value: object = 1
    for _ in range(MAX_DEPTH):
        value = [value]
    assert unpack(pack(value), "x") == value
    with pytest.raises(FormatError, match="nesting"):
        unpack(pack([value]), "x")


def test_index_entry_count_is_bounded_before_rows_are_decoded(monkeypatch):
    monkeypatch.setattr(limits, "MAX_ENTRIES", 3)
    # A map whose "entries" array declares 2**32 - 1 rows and holds none of them.
    body = b"\x84\xa6chunks\xc4\x00\xa6counts\x91\x00\xa7entries\xdd\xff\xff\xff\xff"
    with pytest.raises(LimitExceeded, match="index entry count"):
        decode_index(body, chunk_size=256, slots=1)


def test_index_rows_hold_only_scalars_and_cost_no_amplification():
    # 1 MiB of one-element arrays inside a row: refused at the first container, at once.
    w = _index_wire()
    w["entries"][0][3] = 0
    good = pack(w)
    mode_mtime = b"\xcd\x01\xa4\x00"  # mode 0o644, then mtime 0
    assert good.count(mode_mtime) == 1
    nested = good.replace(mode_mtime, b"\xcd\x01\xa4" + b"\x91" * (1 << 20) + b"\xc0")
    assert len(nested) > 1 << 20
    start = time.monotonic()
    with pytest.raises(FormatError, match="scalar"):
        decode_index(nested, chunk_size=256, slots=1)
    assert time.monotonic() - start < 1


@pytest.mark.parametrize("mutate", [
    lambda b: b.replace(b"\x91\x98", b"\xdc\x00\x01\x98", 1),  # entries: array16 for one row
    lambda b: b.replace(b"\x84", b"\xde\x00\x04", 1),  # top map: map16 for four pairs
    lambda b: b + b"\x00",  # trailing byte
    lambda b: b[:-1],  # truncated
])
def test_index_must_be_canonical_piece_by_piece(mutate):
    body = pack(_index_wire())
    bad = mutate(body)
    assert bad != body
    with pytest.raises(FormatError):
        decode_index(bad, chunk_size=256, slots=1)


# -- key handling ---------------------------------------------------------------------------


def test_wrong_key_is_reported_before_the_layout_is_trusted():
    data = write_archive([("f", "a", b"x" * 5000)], passphrase="pw", argon2=SMALL, segment_size=64)
    head, segs, _ = split(data)
    short_last = head + b"".join(segs[:-1]) + bytes(5)  # last segment shorter than a tag
    for call in (lambda r: r.info(), lambda r: r.members(), lambda r: list(r.iter_members(["a"]))):
        with ArchiveReader(io.BytesIO(short_last), passphrase="wrong") as r:
            with pytest.raises(DecryptionError, match="wrong passphrase"):
                call(r)
        with ArchiveReader(io.BytesIO(short_last)) as r:
            with pytest.raises(DecryptionError, match="no passphrase"):
                call(r)
    with ArchiveReader(io.BytesIO(short_last), passphrase="pw") as r:
        with pytest.raises(IntegrityError):
            r.info()


@pytest.mark.parametrize("point", LOW_ORDER, ids=["u0", "u1"])
def test_low_order_recipient_is_refused_when_writing(point):
    text = bech32.encode_public_key(point)
    with pytest.raises(FormatError, match="low-order"):
        parse_recipient(text)
    with pytest.raises(FormatError, match="low-order"):
        wrap_x25519(point, bytes(32), SeededRng(b"e"))
    with pytest.raises(FormatError, match="low-order"):
        ArchiveWriter(io.BytesIO(), recipients=[text], codec="store")


def test_real_recipients_still_parse():
    _, pk = generate_identity(SeededRng(b"ok"))
    assert len(parse_recipient(pk)) == 32


def test_unwrap_refuses_uncapped_argon2_cost_itself():
    stanza = Stanza("argon2id", (bytes(16), limits.ARGON2_MAX_T + 1, 64, 1), bytes(48))
    with pytest.raises(LimitExceeded, match="time cost"):
        unwrap_file_key([stanza], passphrase="pw")


def test_stanza_type_length_counts_utf8_bytes():
    data = write_archive([("f", "a", b"x")], passphrase="pw", argon2=SMALL)
    _, _, hlen = PRELUDE.unpack(data[:PRELUDE_LEN])
    wire = unpack(data[PRELUDE_LEN : PRELUDE_LEN + hlen], "h")
    wire["r"] = [{"t": "\u20ac" * 22, "a": [], "b": b""}]  # 22 characters, 66 bytes
    with pytest.raises(FormatError, match="1 to 64 bytes"):
        decode_header(pack(wire))
    wire["r"] = [{"t": "\u20ac" * 21, "a": [], "b": b""}]  # 63 bytes: an unknown, skipped type
    decode_header(pack(wire))


def test_injected_rng_must_return_exact_lengths():
    with pytest.raises(ValueError, match="exactly"):
        ArchiveWriter(io.BytesIO(), encrypt=False, codec="store", rng=lambda n: b"x")


# -- stream and index rules -----------------------------------------------------------------


def test_nonce_counter_is_bounded():
    assert nonce(2**88 - 1, True) == b"\xff" * 11 + b"\x01"
    with pytest.raises(LimitExceeded):
        nonce(2**88, False)
    with pytest.raises(LimitExceeded):
        nonce(-1, False)


def test_seekable_index_may_not_point_chunks_past_itself():
    data = b"x"
    m = Member("a", "file", 0o644, 1, 1, hashlib.sha256(data).digest())
    body = encode_entry(m, 0) + encode_chunk_head(0, 1, 1) + data + encode_finish(1, m.sha256)
    # The index claims that the single chunk frame lies where the index itself is.
    index = Index((Entry(m, 0),), (len(body),), (1, 0), 1)
    frame = encode_index_frame(encode_index(index))
    plaintext = body + frame + encode_trailer(len(body), len(body) + len(frame))
    with ArchiveReader(io.BytesIO(forge_unencrypted(plaintext))) as r:
        with pytest.raises(FormatError, match="beyond the index"):
            r.members()


def test_plugin_errors_while_building_decoders_become_codec_errors(monkeypatch):
    def boom(cls, params):
        raise ValueError("plugin bug")

    monkeypatch.setattr(ZstdCodec, "from_params", classmethod(boom))
    entries = [CodecEntry("nzarc.store", 1, {}, None), CodecEntry("nzarc.zstd", 1, {"level": 3}, None)]
    with pytest.raises(CodecError, match="bad params"):
        build_decoders(entries, [1])


def test_forged_header_with_zero_key_on_encrypted_archive_is_refused():
    # Re-MACing an edited header needs the file key: a MAC under the all-zero key does not verify.
    data = write_archive([("f", "a", b"secret")], passphrase="pw", argon2=SMALL)
    _, _, hlen = PRELUDE.unpack(data[:PRELUDE_LEN])
    hb = data[PRELUDE_LEN : PRELUDE_LEN + hlen]
    forged = forge_header(hb, payload=data[PRELUDE_LEN + hlen + MAC_LEN :])
    with pytest.raises(IntegrityError, match="header MAC"):
        read_all(io.BytesIO(forged), passphrase="pw")


def test_codec_id_with_a_trailing_newline_is_refused():
    data = write_archive([("f", "a", b"x" * 1000)], encrypt=False)
    _, _, hlen = PRELUDE.unpack(data[:PRELUDE_LEN])
    wire = unpack(data[PRELUDE_LEN : PRELUDE_LEN + hlen], "h")
    wire["codecs"][1]["id"] = "nzarc.zstd\n"
    with pytest.raises(FormatError, match="bad codec id"):
        decode_header(pack(wire))


def test_passphrase_must_be_text_or_bytes():
    stanza = Stanza("argon2id", (bytes(16), 1, 64, 1), bytes(48))
    with pytest.raises(TypeError, match="passphrase must be"):
        unwrap_file_key([stanza], passphrase=5)  # bytes(5) would silently be five zero bytes
    with pytest.raises(DecryptionError, match="wrong passphrase"):
        unwrap_file_key([stanza], passphrase="")


def test_deep_unshared_names_cost_linear_time_and_bounded_memory(monkeypatch):
    from nzarc.format.member import NameSet

    deep = "/".join(["a"] * 2040)  # 4079 bytes: a valid name
    names = NameSet()
    start = time.monotonic()
    for i in range(200):  # 800 KB of names; quadratic bookkeeping took ~30 s and ~900 MB
        names.add(f"x{i}/{deep}", "file")
    assert time.monotonic() - start < 10
    monkeypatch.setattr(limits, "MAX_ENTRIES", 1000)
    with pytest.raises(LimitExceeded, match="distinct path prefixes"):
        NameSet().add(deep, "file")
    small = NameSet()
    small.add("d/e/f", "file")
    with pytest.raises(UnsafePath, match="lies below the file 'd/e/f'"):
        small.add("d/e/f/g", "dir")
    with pytest.raises(UnsafePath, match="also the parent"):
        small.add("d/e", "symlink")
    small.add("d/e", "dir")
    with pytest.raises(UnsafePath, match="duplicate"):
        small.add("d/e", "dir")


def test_an_empty_last_segment_is_never_valid():
    # A well-formed plaintext of exactly two segments, sealed as two non-last segments plus an
    # authentic, empty last segment: the reader must refuse it from the length alone.
    from nzarc.crypto import keys as keymod
    from nzarc.crypto.suites import make_aead
    from nzarc.format.layout import TAG_LEN

    for size in range(64):  # find a content size whose plaintext stream fills whole segments
        data = write_archive([("f", "a", b"x" * size)], encrypt=False, codec="store", segment_size=64)
        head, segs, _ = split(data)
        plaintext = b"".join(s[:-TAG_LEN] for s in segs)
        if len(plaintext) % 64 == 0:
            break
    assert len(plaintext) % 64 == 0
    assert read_all(io.BytesIO(data)) == {"a": b"x" * size}
    mac = head[-MAC_LEN:]
    salt = decode_header(head[PRELUDE_LEN:-MAC_LEN]).salt
    aead = make_aead("none", keymod.payload_key(keymod.ZERO_KEY, salt, mac))
    n = len(plaintext) // 64
    body = b"".join(aead.seal(nonce(i, False), plaintext[64 * i : 64 * i + 64]) for i in range(n))
    proper = head + body[: -(64 + TAG_LEN)] + aead.seal(nonce(n - 1, True), plaintext[-64:])
    assert proper == data  # the resealing above is faithful
    forged = head + body + aead.seal(nonce(n, True), b"")
    for source in (io.BytesIO(forged), Pipe(forged, step=50)):
        with pytest.raises(IntegrityError):
            read_all(source)


def test_a_bad_identity_leaks_no_open_file(tmp_path, monkeypatch):
    import builtins

    import nzarc.reader

    opened: list = []

    def tracking_open(*args, **kwargs):
        f = builtins.open(*args, **kwargs)
        opened.append(f)
        return f

    monkeypatch.setattr(nzarc.reader, "open", tracking_open, raising=False)
    path = tmp_path / "a.nzarc"
    path.write_bytes(write_archive([("f", "a", b"x")], encrypt=False))
    with pytest.raises(FormatError):
        ArchiveReader(path, identities=["AGE-SECRET-KEY-1NOTAKEY"])
    with pytest.raises(ValueError, match="32 bytes"):
        ArchiveReader(path, identities=[b"short"])
    assert all(f.closed for f in opened)
    with ArchiveReader(path) as r:
        assert r.test().ok
    assert len(opened) == 1 and opened[0].closed


@pytest.mark.parametrize("pipe", [False, True])
def test_unencrypted_archives_detect_every_flip_and_truncation(pipe):
    members = [("d", "d"), ("f", "d/a", b"alpha " * 50), ("l", "d/l", "a"), ("f", "b", bytes(300))]
    data = write_archive(members, encrypt=False, chunk_size=256, segment_size=64)
    header_end = len(split(data)[0])
    with ArchiveReader(io.BytesIO(data)) as r:
        info = r.info()
        assert not info.authenticated and "not authenticated against a forger" in info.note

    def error_of(blob: bytes) -> Exception | None:
        try:
            read_all(Pipe(blob, step=31) if pipe else io.BytesIO(blob))
        except Exception as exc:  # noqa: BLE001 - the class is asserted below
            return exc
        return None

    for offset in range(len(data)):
        bad = bytearray(data)
        bad[offset] ^= 1 << (offset % 8)
        err = error_of(bytes(bad))
        assert err is not None and isinstance(err, (FormatError, IntegrityError, LimitExceeded)), (offset, err)
        if offset >= header_end - MAC_LEN:
            assert type(err) is IntegrityError, (offset, err)
    for cut in range(len(data)):
        err = error_of(data[:cut])
        assert type(err) is (FormatError if cut < header_end else IntegrityError), (cut, err)
