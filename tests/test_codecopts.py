"""nzarc.codecopts: building a codec from caller params, and refusing params whose archive
entry the codec could not read back."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

import pytest

from nzarc.codecopts import configured, param_names
from nzarc.codecs.contract import Codec
from nzarc.codecs.zstd import ZstdCodec
from nzarc.errors import CodecOptionError, CodecParamsError


class _Lenient(Codec):
    """Its constructor takes any ``depth``; its ``from_params`` (what a reader runs) only
    ``depth <= 3``, and ``get_params`` records ``depth``."""

    codec_id: ClassVar[str] = "test.lenient"
    version: ClassVar[int] = 1

    def __init__(self, depth: int = 1) -> None:
        self.depth = depth

    @classmethod
    def from_params(cls, params: Mapping[str, Any]) -> Codec:
        if params.get("depth", 1) > 3:
            raise CodecParamsError(f"{cls.codec_id}: param 'depth' must be at most 3")
        return cls(**dict(params))

    def get_params(self) -> dict[str, Any]:
        return {"depth": self.depth}

    def encode(self, chunk: bytes) -> bytes:
        return chunk

    def decode(self, data: bytes, raw_len: int) -> bytes:
        return data


class _Crashing(_Lenient):
    codec_id: ClassVar[str] = "test.crashing"

    @classmethod
    def from_params(cls, params: Mapping[str, Any]) -> Codec:
        raise KeyError("depth")


def test_params_are_the_constructors_keywords() -> None:
    assert param_names(_Lenient) == {"depth"}
    assert "level" in (param_names(ZstdCodec) or ())


def test_a_codec_is_built_from_its_params() -> None:
    codec = configured(_Lenient, {"depth": 2})
    assert isinstance(codec, _Lenient) and codec.depth == 2
    assert configured(ZstdCodec, {"level": 5}).get_params() == ZstdCodec(level=5).get_params()


def test_params_the_codec_cannot_read_back_are_refused_before_writing() -> None:
    with pytest.raises(CodecOptionError, match=r"test\.lenient: params depth give an archive entry .*at most 3"):
        configured(_Lenient, {"depth": 9})
    with pytest.raises(CodecOptionError, match=r"test\.crashing: .*refuses to read \(KeyError: 'depth'\)"):
        configured(_Crashing, {"depth": 2})


def test_an_unknown_param_names_the_ones_taken() -> None:
    with pytest.raises(CodecOptionError, match="takes no param 'width'") as info:
        configured(_Lenient, {"width": 1})
    assert info.value.hint == "its params: depth"
