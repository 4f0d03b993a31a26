"""nzarc.xz: its bitstream (raw LZMA2 with a dictionary fixed by the chunk length), exactness,
and refusals of hostile streams and params."""

from __future__ import annotations

import lzma

import pytest

from nzarc.codecs.names import resolve
from nzarc.codecs.registry import registry_for
from nzarc.codecs.xz import XzCodec, dict_size
from nzarc.errors import CodecError

DATA = b"nzarc xz exactness, a line of a log 2026-12-03T05:31:32Z " * 300


def test_the_bitstream_is_raw_lzma2_with_the_chunks_dictionary() -> None:
    out = XzCodec().encode(DATA)
    filters = [{"id": lzma.FILTER_LZMA2, "dict_size": dict_size(len(DATA))}]
    assert lzma.decompress(out, format=lzma.FORMAT_RAW, filters=filters) == DATA
    assert out[:6] != b"\xfd7zXZ\x00"  # no .xz container
    assert XzCodec().decode(out, len(DATA)) == DATA


@pytest.mark.parametrize(("raw_len", "size"), [(0, 4096), (1, 4096), (4096, 4096), (4097, 8192),
                                               (1 << 20, 1 << 20), ((1 << 20) + 1, 2 << 20)])
def test_dictionary_size_is_the_next_power_of_two(raw_len: int, size: int) -> None:
    assert dict_size(raw_len) == size


def test_default_is_xz_9e_and_params_round_trip() -> None:
    codec = XzCodec()
    assert codec.get_params() == {"level": 9, "extreme": True}
    assert XzCodec.from_params(codec.get_params()).get_params() == codec.get_params()
    assert resolve("xz") == "nzarc.xz"
    assert registry_for(["nzarc.xz"]).latest("nzarc.xz") is XzCodec


def test_level_and_extreme_change_only_the_encoding() -> None:
    outs = {XzCodec(level=lv, extreme=ex).encode(DATA) for lv in (0, 6, 9) for ex in (False, True)}
    assert len(outs) > 1
    for out in outs:
        assert XzCodec(level=0, extreme=False).decode(out, len(DATA)) == DATA


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"level": 10}, "'level' = 10 is outside 0..9"),
        ({"level": True}, "'level' must be an integer"),
        ({"extreme": 1}, "'extreme' must be a boolean"),
        ({"preset": 9}, "unknown param 'preset'"),
    ],
)
def test_params_are_validated(params: dict[str, object], message: str) -> None:
    with pytest.raises(CodecError, match=message):
        XzCodec.from_params(params)


def test_stream_must_end_exactly_at_the_chunk() -> None:
    out = XzCodec().encode(DATA)
    with pytest.raises(CodecError, match="does not end where the chunk does"):
        XzCodec().decode(out[:-1], len(DATA))
    with pytest.raises(CodecError, match="bytes after the end of the stream"):
        XzCodec().decode(out + b"\x00", len(DATA))
    with pytest.raises(CodecError, match="more than the chunk's"):
        XzCodec().decode(out, len(DATA) - 1)
    with pytest.raises(CodecError, match=f"ends after {len(DATA)} bytes"):
        XzCodec().decode(out, len(DATA) + 1)


@pytest.mark.parametrize("data", [b"", b"\x00", b"\xff" * 64, bytes(range(256)) * 4])
def test_garbage_is_a_codec_error(data: bytes) -> None:
    with pytest.raises(CodecError):
        XzCodec().decode(data, 1000)


def test_a_match_beyond_the_chunks_dictionary_is_corrupt() -> None:
    """A stream coded with a larger dictionary than the chunk length allows fails to decode."""
    block = bytes(range(256)) * 24  # 6 KiB that repeats once, 6 KiB back
    data = block + block
    big = lzma.compress(data, format=lzma.FORMAT_RAW,
                        filters=[{"id": lzma.FILTER_LZMA2, "dict_size": 1 << 16, "preset": 9}])
    assert XzCodec().decode(big, len(data)) == data  # 12 KiB: a 16 KiB dictionary, fine
    with pytest.raises(CodecError):
        XzCodec().decode(big[: len(big) // 2], len(data))

