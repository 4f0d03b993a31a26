"""The three codec failures have distinguishable classes: a corrupt stream (CodecError),
params a codec refuses (CodecParamsError) and a chunk it declines (EncodeDeclined)."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any, ClassVar

import pytest

from nzarc.codecs.contract import Codec
from nzarc.codecs.params import check_keys, choice_param, int_param
from nzarc.codecs.store import StoreCodec
from nzarc.codecs.xz import XzCodec
from nzarc.codecs.zstd import ZstdCodec
from nzarc.errors import CodecError, CodecParamsError, EncodeDeclined, IntegrityError
from nzarc.format.header import CodecEntry
from nzarc.pipeline import ChunkEncoder, _guard_build
from nzarc.planning import CodecPlan, plan_codecs


def test_the_classes_are_codec_errors_and_distinct() -> None:
    for cls in (CodecParamsError, EncodeDeclined):
        assert issubclass(cls, CodecError) and issubclass(cls, IntegrityError)
    assert not issubclass(CodecParamsError, EncodeDeclined)
    assert not issubclass(EncodeDeclined, CodecParamsError)


def test_params_helpers_raise_codec_params_error_by_default() -> None:
    with pytest.raises(CodecParamsError, match="unknown param 'x'"):
        check_keys("t.t", {"x": 1}, ["level"])
    with pytest.raises(CodecParamsError, match="outside 1..3"):
        int_param("t.t", "level", 9, 1, 3)
    with pytest.raises(CodecParamsError, match="is not one of"):
        choice_param("t.t", "mode", "z", ["a", "b"])

    class Own(CodecError):
        pass

    with pytest.raises(Own):  # a codec's own error class still wins when passed
        int_param("t.t", "level", True, 1, 3, error=Own)


@pytest.mark.parametrize(
    "cls, params",
    [
        (ZstdCodec, {"level": 99}),
        (ZstdCodec, {"nope": 1}),
        (XzCodec, {"extreme": 1}),
        (XzCodec, {"level": "9"}),
        (StoreCodec, {"level": 1}),
        (ZstdCodec, [1, 2]),
    ],
)
def test_builtin_bad_params_are_codec_params_errors(cls: type[Codec], params: Any) -> None:
    with pytest.raises(CodecParamsError):
        cls.from_params(params)


def test_a_corrupt_stream_is_a_plain_codec_error() -> None:
    for codec in (ZstdCodec(), XzCodec(), StoreCodec()):
        with pytest.raises(CodecError) as ei:
            codec.decode(b"\x00garbage", 100)
        assert type(ei.value) is CodecError


def test_a_plugin_that_fails_on_header_params_gives_codec_params_error() -> None:
    class Picky(Codec):
        codec_id: ClassVar[str] = "test.picky"
        version: ClassVar[int] = 1

        def __init__(self, **params: Any) -> None:
            raise RuntimeError("no params for me")

        def get_params(self) -> dict[str, Any]:
            return {}

        def encode(self, chunk: bytes) -> bytes:
            return chunk

        def decode(self, data: bytes, raw_len: int) -> bytes:
            return data

    with pytest.raises(CodecParamsError, match="bad params in the header"):
        _guard_build(Picky, CodecEntry("test.picky", 1, {"a": 1}, None))


class _Decliner(Codec):
    """Halves chunks of zeros; declines the others with ``error``."""

    codec_id: ClassVar[str] = "test.decliner"
    version: ClassVar[int] = 1
    error: ClassVar[type[CodecError]] = EncodeDeclined

    def get_params(self) -> dict[str, Any]:
        return {}

    def encode(self, chunk: bytes) -> bytes:
        if any(chunk):
            raise self.error("not zeros")
        return bytes(len(chunk) // 2)

    def decode(self, data: bytes, raw_len: int) -> bytes:
        return bytes(raw_len)


class _PlainDecliner(_Decliner):
    """A third-party codec that declines with the plain class."""

    codec_id: ClassVar[str] = "test.plaindecliner"
    error: ClassVar[type[CodecError]] = CodecError


@pytest.mark.parametrize("codec", [_Decliner(), _PlainDecliner()])
def test_the_writer_falls_back_on_a_declined_chunk(codec: Codec) -> None:
    base = plan_codecs("store")
    plan = CodecPlan(base.entries + [CodecEntry(codec.codec_id, 1, {}, None)],
                     base.codecs + [codec], [1])
    chunks = [bytes(64), b"not zeros at all"]
    with ThreadPoolExecutor(1) as ex:
        out = ChunkEncoder(plan, ex, 1).encode_group(chunks)
    assert out == [(1, bytes(32)), (0, chunks[1])]


@pytest.mark.parametrize(
    "params",
    [{"window": 0, "model": "0" * 64}, {"window": "8", "model": "0" * 64}, {"model": "0" * 64},
     {"window": 64, "model": "NOT-HEX"}, {"window": 64, "bogus": 1}],
)
def test_neural_bad_params_are_codec_params_errors(params: dict[str, Any]) -> None:
    from nzarc.neural.codec import NeuralCodec

    with pytest.raises(CodecParamsError):
        NeuralCodec.from_params(params)
