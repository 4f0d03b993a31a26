"""``nzarc.xz``: one raw LZMA2 stream per chunk (the filter of ``xz``), from the stdlib ``lzma``.

Bitstream (version 1): the chunk is exactly one raw LZMA2 stream (no ``.xz`` container: the
archive authenticates the chunk and records its length), up to and including its end marker,
with no trailing bytes, coded with a dictionary of ``dict_size(raw_len)`` bytes: the smallest
power of two that is at least ``raw_len`` and at least 4 KiB. A match reaching further back is
corrupt. Decoding allocates that dictionary and at most ``raw_len`` bytes of output, stops at
``raw_len`` bytes, and requires the end marker right there.

Params: ``{"level": 0..9, "extreme": bool}``, xz's presets (``-9e`` is the default). They only
affect encoding and are recorded so that the archive documents them. Encoding uses the preset's
match finder and lengths with the chunk's dictionary size instead of the preset's, so a 1 MiB
chunk at ``-9e`` costs about 12 MiB of encoder memory instead of 674 MiB, with the same matches.
"""

from __future__ import annotations

import lzma
from collections.abc import Mapping
from typing import Any, ClassVar

from nzarc.codecs.contract import Codec
from nzarc.codecs.params import check_keys, int_param
from nzarc.errors import CodecError, CodecParamsError

__all__ = ["XzCodec", "dict_size"]

_MIN_DICT = 1 << 12


def dict_size(raw_len: int) -> int:
    """The LZMA2 dictionary of a chunk of ``raw_len`` bytes (both sides of the bitstream)."""
    size = _MIN_DICT
    while size < raw_len:
        size <<= 1
    return size


def _filters(raw_len: int, preset: int | None = None) -> list[dict[str, Any]]:
    spec: dict[str, Any] = {"id": lzma.FILTER_LZMA2, "dict_size": dict_size(raw_len)}
    if preset is not None:
        spec["preset"] = preset
    return [spec]


class XzCodec(Codec):
    """LZMA2 at an xz preset. Params: ``level`` (``MIN_LEVEL..MAX_LEVEL``) and ``extreme``."""

    codec_id: ClassVar[str] = "nzarc.xz"
    version: ClassVar[int] = 1
    releases_gil: ClassVar[bool] = True
    MIN_LEVEL: ClassVar[int] = 0
    MAX_LEVEL: ClassVar[int] = 9
    DEFAULT_LEVEL: ClassVar[int] = 9

    def __init__(self, level: int = DEFAULT_LEVEL, extreme: bool = True) -> None:
        self.level = int_param(self.codec_id, "level", level, self.MIN_LEVEL, self.MAX_LEVEL)
        if not isinstance(extreme, bool):
            raise CodecParamsError(
                f"{self.codec_id}: param 'extreme' must be a boolean, not {type(extreme).__name__}"
            )
        self.extreme = extreme
        self._preset = self.level | (lzma.PRESET_EXTREME if extreme else 0)

    @classmethod
    def from_params(cls, params: Mapping[str, Any]) -> XzCodec:
        check_keys(cls.codec_id, params, ("level", "extreme"))
        return cls(**params)

    def get_params(self) -> dict[str, Any]:
        return {"level": self.level, "extreme": self.extreme}

    def encode(self, chunk: bytes) -> bytes:
        return lzma.compress(
            chunk, format=lzma.FORMAT_RAW, filters=_filters(len(chunk), self._preset)
        )

    def decode(self, data: bytes, raw_len: int) -> bytes:
        if not isinstance(raw_len, int) or raw_len < 0:
            raise CodecError(f"nzarc.xz: invalid raw length {raw_len!r}")
        dec = lzma.LZMADecompressor(format=lzma.FORMAT_RAW, filters=_filters(raw_len))
        try:
            out = dec.decompress(data, max_length=raw_len)
            # At raw_len bytes the end marker may still be unread: one more step reaches it.
            more = dec.decompress(b"", max_length=1) if len(out) == raw_len and not dec.eof else b""
        except lzma.LZMAError as exc:
            raise CodecError(f"nzarc.xz: corrupt stream: {exc}") from None
        if more:
            raise CodecError(f"nzarc.xz: stream holds more than the chunk's {raw_len} bytes")
        if len(out) < raw_len:
            raise CodecError(f"nzarc.xz: stream ends after {len(out)} bytes, expected {raw_len}")
        if not dec.eof:
            raise CodecError("nzarc.xz: stream does not end where the chunk does")
        if dec.unused_data:
            raise CodecError("nzarc.xz: bytes after the end of the stream")
        return out

    def max_decode_memory(self, raw_len: int) -> int:
        # The dictionary, the output (built in blocks, then joined: twice raw_len at the
        # join) and the decoder's own state (tens of KiB).
        return 2 * raw_len + dict_size(raw_len) + (1 << 20)
