"""The codec-decode invariant shared by the per-codec fuzz targets."""

from __future__ import annotations

import struct
from collections.abc import Callable

from nzarc.codecs.registry import get_registry
from nzarc.errors import CodecError, LimitExceeded, ModelMismatch
from nzarc.format import limits

#: What a codec's decode may raise (the codec contract).
ALLOWED = (CodecError, ModelMismatch, LimitExceeded)


def make_target(codec_id: str) -> Callable[[bytes], None]:
    codec = get_registry().latest(codec_id).from_params({})

    def one_input(data: bytes) -> None:
        if len(data) < 4:
            return
        (raw_len,) = struct.unpack(">I", data[:4])
        raw_len %= limits.MAX_CHUNK + 1
        payload = data[4:]
        try:
            out = codec.decode(payload, raw_len)
        except ALLOWED:
            return
        if not isinstance(out, bytes) or len(out) != raw_len:
            raise AssertionError(f"{codec_id}: decode returned {len(out)} bytes, not {raw_len}")
        again = codec.encode(out)
        if codec.decode(again, raw_len) != out:
            raise AssertionError(f"{codec_id}: decoded output does not re-encode consistently")

    return one_input
