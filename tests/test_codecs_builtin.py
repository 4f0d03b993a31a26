"""nzarc.zstd and nzarc.store: exactness and bounds on hostile streams, parameter checks."""

from __future__ import annotations

import pytest
import zstandard

from nzarc.codecs.registry import Registry
from nzarc.codecs.store import StoreCodec
from nzarc.codecs.zstd import ZstdCodec
from nzarc.errors import CodecError

DATA = b"nzarc zstd exactness " * 400


def test_zstd_frame_declares_content_size_and_no_checksum_or_dict() -> None:
    frame = ZstdCodec(level=3).encode(DATA)
    params = zstandard.get_frame_parameters(frame)
    assert params.content_size == len(DATA)
    assert params.dict_id == 0 and not params.has_checksum


def test_zstd_rejects_frame_without_content_size() -> None:
    compressor = zstandard.ZstdCompressor(level=3, write_content_size=False)
    stream = compressor.compressobj()
    frame = stream.compress(DATA) + stream.flush()
    with pytest.raises(CodecError, match="does not declare its content size"):
        ZstdCodec().decode(frame, len(DATA))


@pytest.mark.parametrize("raw_len", [0, len(DATA) - 1, len(DATA) + 1, 10 * len(DATA)])
def test_zstd_rejects_content_size_other_than_raw_len(raw_len: int) -> None:
    frame = ZstdCodec(level=3).encode(DATA)
    with pytest.raises(CodecError, match=f"declares {len(DATA)} bytes, expected {raw_len}"):
        ZstdCodec().decode(frame, raw_len)


def test_zstd_rejects_second_frame_and_trailing_bytes() -> None:
    frame = ZstdCodec(level=3).encode(DATA)
    for extra in (frame, b"\x00", zstandard.ZstdCompressor().compress(b"")):
        with pytest.raises(CodecError, match="corrupt frame"):
            ZstdCodec().decode(frame + extra, len(DATA))


def forged_frame(data: bytes, window_exponent: int, dict_id: int = 0) -> bytes:
    """A frame for ``data`` whose header declares its size, a 2**(10+e) window and,
    when ``dict_id`` is non-zero, a one-byte dictionary id (RFC 8878 section 3.1.1.1)."""
    compressor = zstandard.ZstdCompressor(level=3, write_content_size=False)
    stream = compressor.compressobj()
    plain = stream.compress(data) + stream.flush()
    header = zstandard.frame_header_size(plain)
    assert header == 6  # magic, descriptor, window byte: no size, no dictionary
    assert 256 <= len(data) < 65536 + 256
    descriptor = 0x40 | (1 if dict_id else 0)  # two-byte content size, multi-segment
    return (
        plain[:4]
        + bytes([descriptor, window_exponent << 3])
        + (bytes([dict_id]) if dict_id else b"")
        + (len(data) - 256).to_bytes(2, "little")
        + plain[header:]
    )


def test_zstd_caps_the_window_at_raw_len() -> None:
    data = bytes(5000)
    modest = forged_frame(data, 3)  # 8 KiB window: enough for 5000 bytes
    assert zstandard.get_frame_parameters(modest).window_size == 8192
    assert ZstdCodec().decode(modest, 5000) == data
    huge = forged_frame(data, 17)  # 128 MiB window for 5000 bytes
    assert zstandard.get_frame_parameters(huge).window_size == 1 << 27
    with pytest.raises(CodecError, match="window 134217728 exceeds 8192"):
        ZstdCodec().decode(huge, 5000)


def test_zstd_rejects_dictionary_frames() -> None:
    frame = forged_frame(bytes(5000), 3, dict_id=7)
    assert zstandard.get_frame_parameters(frame).dict_id == 7
    with pytest.raises(CodecError, match="needs dictionary 7"):
        ZstdCodec().decode(frame, 5000)


@pytest.mark.parametrize(
    "data",
    [b"", b"\x28\xb5\x2f", b"\x50\x2a\x4d\x18" + bytes(8), b"PK\x03\x04" + bytes(30)],
    ids=["empty", "short-magic", "skippable-frame", "not-zstd"],
)
def test_zstd_rejects_non_frames(data: bytes) -> None:
    with pytest.raises(CodecError, match="does not start with a zstd frame"):
        ZstdCodec().decode(data, 10)


def test_zstd_rejects_negative_or_non_int_raw_len() -> None:
    frame = ZstdCodec().encode(b"x")
    for raw_len in (-1, 1.0, None):
        with pytest.raises(CodecError, match="invalid raw length"):
            ZstdCodec().decode(frame, raw_len)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"level": 23}, "'level' = 23 is outside -7..22"),
        ({"level": -8}, "outside -7..22"),
        ({"level": True}, "'level' must be an integer, not bool"),
        ({"level": "19"}, "must be an integer, not str"),
        ({"lvl": 3}, "unknown param 'lvl' \\(allowed: level\\)"),
        ({1: 3}, "param names must be strings"),
    ],
)
def test_zstd_params_are_validated(params: dict[object, object], message: str) -> None:
    with pytest.raises(CodecError, match=message):
        ZstdCodec.from_params(params)  # type: ignore[arg-type]


def test_zstd_level_only_changes_encoding() -> None:
    fast, slow = ZstdCodec(level=1), ZstdCodec(level=19)
    assert fast.get_params() == {"level": 1}
    assert slow.decode(fast.encode(DATA), len(DATA)) == DATA
    assert ZstdCodec().get_params() == {"level": ZstdCodec.DEFAULT_LEVEL}


def test_store_is_exact() -> None:
    store = StoreCodec()
    assert store.encode(memoryview(DATA)) == DATA
    assert store.decode(DATA, len(DATA)) == DATA
    for raw_len in (len(DATA) - 1, len(DATA) + 1):
        with pytest.raises(CodecError, match=f"expected exactly {raw_len}"):
            store.decode(DATA, raw_len)
    with pytest.raises(CodecError, match="unknown param"):
        StoreCodec.from_params({"level": 1})


def test_builtins_are_registered_by_the_builtin_entry_point() -> None:
    reg = Registry.load(strict=True, disabled=())
    by_id = {i.codec_id: i for i in reg.codecs()}
    for codec_id, cls in (("nzarc.store", StoreCodec), ("nzarc.zstd", ZstdCodec)):
        assert by_id[codec_id].cls is cls
        assert (by_id[codec_id].distribution, by_id[codec_id].plugin) == ("nzarc", "builtin")
