"""Prelude and canonical header (spec §2-3)."""

from __future__ import annotations

import io

import msgpack
import pytest
from helpers_format import forge_header, read_all

from nzarc.errors import FormatError, LimitExceeded, UnsupportedVersion
from nzarc.format.canonical import pack, unpack
from nzarc.format.header import CodecEntry, Header, decode_header, encode_header, read_prelude
from nzarc.format.layout import MAGIC, PRELUDE


def base_header(**kw) -> Header:
    args = dict(suite="none", stanzas=(), codecs=(CodecEntry("nzarc.store", 1, {}, "nzarc"),),
                chunk_size=1024, segment_size=64, salt=bytes(32), pad=False)
    args.update(kw)
    return Header(**args)


def wire() -> dict:
    return unpack(encode_header(base_header()), "h")


def test_magic_is_png_style():
    assert MAGIC[0] & 0x80 and b"\r\n" in MAGIC and b"\x1a" in MAGIC and MAGIC.endswith(b"\n")
    assert len(PRELUDE.pack(MAGIC, 1, 1)) == 16


def test_header_roundtrip_and_canonical_bytes():
    data = encode_header(base_header())
    h = decode_header(data)
    assert h.raw == data and h.chunk_size == 1024 and pack(unpack(data, "h")) == data


@pytest.mark.parametrize("mangle", [
    lambda d: d.replace(b"\r\n", b"\n"),
    lambda d: d.replace(b"\x8f", b"\x0f"),
    lambda d: b"PK\x03\x04" + d[4:],
])
def test_text_mode_mangling_is_caught(mangle):
    data = forge_header(encode_header(base_header()))
    with pytest.raises(FormatError):
        read_prelude(io.BytesIO(mangle(data)).read)


def test_other_version_is_unsupported():
    data = PRELUDE.pack(MAGIC, 2, 10) + bytes(50)
    with pytest.raises(UnsupportedVersion):
        read_prelude(io.BytesIO(data).read)


def test_non_canonical_encodings_rejected():
    w = wire()
    unsorted = msgpack.packb(dict(reversed(list(w.items()))), use_bin_type=True)
    with pytest.raises(FormatError, match="canonical"):
        decode_header(unsorted)
    long_int = pack(w).replace(b"\xa5chunk\xcd\x04\x00", b"\xa5chunk\xce\x00\x00\x04\x00")
    assert long_int != pack(w)
    with pytest.raises(FormatError, match="canonical"):
        decode_header(long_int)
    with pytest.raises(FormatError, match="trailing"):
        decode_header(pack(w) + b"\x00")
    dup = bytes([pack(w)[0] + 1]) + pack(w)[1:] + b"\xa3pad\xc2"
    with pytest.raises(FormatError, match="duplicate"):
        decode_header(dup)
    str_salt = dict(w, salt="x" * 32)
    with pytest.raises(FormatError):
        decode_header(pack(str_salt))


def test_unknown_fields_critical_and_not():
    w = wire()
    w["zz_future"] = [1, 2]
    assert decode_header(pack(w)).extra == {"zz_future": [1, 2]}
    w["crit"] = ["zz_future"]
    with pytest.raises(UnsupportedVersion):
        decode_header(pack(w))
    w["crit"] = ["absent"]
    with pytest.raises(FormatError):
        decode_header(pack(w))
    w = wire()
    w["codecs"][0]["extra_key"] = 1  # nested maps are strict
    with pytest.raises(FormatError):
        decode_header(pack(w))


@pytest.mark.parametrize("field,value,cls", [
    ("chunk", 100, LimitExceeded), ("chunk", 1 << 30, LimitExceeded), ("seg", 96, FormatError),
    ("seg", 1 << 21, LimitExceeded), ("suite", "rot13", FormatError), ("v", 2, UnsupportedVersion),
    ("pad", 1, FormatError), ("salt", b"short", FormatError), ("codecs", [], LimitExceeded),
])
def test_field_validation(field, value, cls):
    w = wire()
    w[field] = value
    with pytest.raises(cls):
        decode_header(pack(w))


def test_stanza_shapes_are_exact():
    w = wire()
    w["suite"] = "chacha20-poly1305"
    w["r"] = [{"t": "x25519", "a": [bytes(31)], "b": bytes(48)}]
    with pytest.raises(FormatError):
        decode_header(pack(w))
    w["r"] = [{"t": "x25519", "a": [bytes(32)], "b": bytes(49)}]
    with pytest.raises(FormatError):
        decode_header(pack(w))
    w["r"] = [{"t": "x25519", "a": [bytes(32)], "b": bytes(48)}, {"t": "argon2id", "a": [bytes(16), 1, 64, 1], "b": bytes(48)}]
    with pytest.raises(FormatError):  # argon2id must be alone
        decode_header(pack(w))
    w["r"] = [{"t": "x25519", "a": [bytes(32)], "b": bytes(48)}, {"t": "future-kind", "a": [], "b": b""}]
    assert len(decode_header(pack(w)).stanzas) == 2
    w["suite"] = "none"
    with pytest.raises(FormatError):  # unencrypted archives carry no stanzas
        decode_header(pack(w))


def test_unknown_codec_is_refused_before_decoding():
    from helpers_format import forge_unencrypted

    from nzarc.errors import UnsupportedCodec
    from nzarc.format.frames import encode_entry
    from nzarc.format.member import Member

    codecs = (CodecEntry("nzarc.store", 1, {}, "nzarc"), CodecEntry("acme.magic", 3, {}, "nzarc-acme"))
    data = forge_unencrypted(encode_entry(Member("a", "file", 0o644, 0, None, None), 0), codecs=codecs)
    with pytest.raises(UnsupportedCodec) as exc:
        read_all(_pipe(data))
    assert "acme.magic" in str(exc.value) and "3" in str(exc.value)
    assert "pip install nzarc-acme" in (exc.value.hint or "")


def test_model_pin_mismatch_is_refused():
    from helpers_format import forge_unencrypted

    from nzarc.codecs.contract import ModelPin
    from nzarc.errors import ModelMismatch

    pin = ModelPin("m", "0" * 64, "1" * 64, "nzarc-int-v1")
    codecs = (CodecEntry("nzarc.store", 1, {}, "nzarc", (pin,)),)
    data = forge_unencrypted(b"\x00", codecs=codecs)
    with pytest.raises(ModelMismatch):
        read_all(_pipe(data))


def _pipe(data: bytes):
    from helpers_format import Pipe

    return Pipe(data, step=100)
