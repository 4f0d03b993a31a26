"""The tokenizer is lossless for every byte string, including bytes the vocabulary lacks."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from nzarc.errors import CodecError, FormatError
from nzarc.neural.tiny import TINY_MISSING_BYTES, tiny_tokenizer_spec
from nzarc.neural.tokenizer import Tokenizer

SMOLLM2_MISSING = [0x04, 0x06, 0x13, 0x14, 0x16, 0x1D, 0xC0, 0xC1, 0xF1, 0xF2, *range(0xF5, 0x100)]


@pytest.fixture(scope="module")
def tok() -> Tokenizer:
    return Tokenizer.from_spec(tiny_tokenizer_spec())


CASES = [
    b"",
    b"a\x04b",
    b"\x00\x00\x00",
    b"caf\xe9 latin-1 \xfc ber",
    b"\xff\xfe\xfd",
    b"\xf1\x80\x80\x80 astral plane 4",
    "\U00040000\U000bffff\U0010ffff".encode(),
    b"\xed\xa0\x80 encoded surrogate",
    b"the 1234567890 digits, the end\r\n\t  x",
    bytes(range(256)),
    b"<|endoftext|><|escape|> literal special text",
]


@pytest.mark.parametrize("data", CASES)
def test_round_trip_cases(tok: Tokenizer, data: bytes) -> None:
    ids = tok.encode(data)
    assert tok.decode(ids) == data


def test_missing_bytes_use_the_escape(tok: Tokenizer) -> None:
    assert tok.missing == sorted(TINY_MISSING_BYTES)
    ids = tok.encode(b"a\x04b")
    assert tok.escape_id in ids and tok.decode(ids) == b"a\x04b"
    assert tok.escape_id not in tok.encode(b"plain text with the usual bytes\n")


def test_merges_are_used(tok: Tokenizer) -> None:
    assert len(tok.encode(b" the and the")) < len(b" the and the")


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=300))
def test_round_trip_random_bytes(tok: Tokenizer, data: bytes) -> None:
    assert tok.decode(tok.encode(data)) == data


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.one_of(st.text(max_size=20), st.binary(max_size=6)), max_size=12))
def test_round_trip_mixed_text_and_bytes(tok: Tokenizer, parts: list) -> None:
    data = b"".join(p.encode("utf-8", "surrogatepass") if isinstance(p, str) else p for p in parts)
    assert tok.decode(tok.encode(data)) == data


def test_decode_rejects_bad_streams(tok: Tokenizer) -> None:
    with pytest.raises(CodecError):
        tok.decode([tok.vocab_size])
    with pytest.raises(CodecError):
        tok.decode([tok.escape_id])
    with pytest.raises(CodecError):
        tok.decode([tok.escape_id, tok.encode(b"a")[0]])  # 'a' ^ 32 is not a missing byte


def test_hash_covers_the_specification() -> None:
    spec = tiny_tokenizer_spec()
    a = Tokenizer.from_spec(spec).sha256
    spec2 = dict(spec, escape_xor=32)
    assert Tokenizer.from_spec(spec2).sha256 == a
    spec3 = dict(spec, merges=spec["merges"][:-1])
    assert Tokenizer.from_spec(spec3).sha256 != a


def test_bad_specs_are_rejected() -> None:
    spec = tiny_tokenizer_spec()
    with pytest.raises(FormatError):
        Tokenizer.from_spec(dict(spec, escape_id=5))  # not a special token
    with pytest.raises(FormatError):
        Tokenizer.from_json(b"not json")


@pytest.mark.realmodel
def test_real_tokenizer_round_trips_and_pins(real_model) -> None:
    from nzarc.neural.store import SMOLLM2_TOKENIZER_SHA256

    t = real_model.tokenizer
    assert t.sha256 == SMOLLM2_TOKENIZER_SHA256
    assert t.missing == SMOLLM2_MISSING
    for data in CASES:
        assert t.decode(t.encode(data)) == data
    assert t.encode(b"Hello world") == [19556, 905]
