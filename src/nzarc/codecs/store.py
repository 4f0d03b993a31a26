"""``nzarc.store``: the identity codec. The output is the chunk itself."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

from nzarc.codecs.contract import Codec
from nzarc.codecs.params import check_keys
from nzarc.errors import CodecError

__all__ = ["StoreCodec"]


class StoreCodec(Codec):
    """Stores chunks unchanged. Takes no parameters."""

    codec_id: ClassVar[str] = "nzarc.store"
    version: ClassVar[int] = 1
    releases_gil: ClassVar[bool] = True
    max_ratio: float | None = 1

    @classmethod
    def from_params(cls, params: Mapping[str, Any]) -> StoreCodec:
        check_keys(cls.codec_id, params, ())
        return cls()

    def get_params(self) -> dict[str, Any]:
        return {}

    def encode(self, chunk: bytes) -> bytes:
        return bytes(chunk)

    def decode(self, data: bytes, raw_len: int) -> bytes:
        if len(data) != raw_len:
            raise CodecError(
                f"nzarc.store: stored chunk is {len(data)} bytes, expected exactly {raw_len}"
            )
        return bytes(data)

    def max_decode_memory(self, raw_len: int) -> int:
        return raw_len + 4096
