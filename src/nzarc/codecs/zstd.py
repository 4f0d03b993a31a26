"""``nzarc.zstd``: one Zstandard frame per chunk.

Bitstream (version 1): exactly one zstd frame (RFC 8878) with the frame
content size present and equal to the chunk's raw length, no dictionary id,
no trailing bytes. Decoding checks the frame header against ``raw_len``
*before* decompressing, caps the window at the raw length (rounded up to a
power of two, at least 1 KiB), and never produces more than ``raw_len`` bytes.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from typing import Any, ClassVar

import zstandard

from nzarc.codecs.contract import Codec
from nzarc.codecs.params import check_keys, int_param
from nzarc.errors import CodecError

__all__ = ["ZstdCodec"]

_MAGIC = b"\x28\xb5\x2f\xfd"
_MIN_WINDOW = 1 << 10  # the smallest window zstd's decoder accepts as a limit


def _window_cap(raw_len: int) -> int:
    """The largest window a valid version-1 frame of ``raw_len`` bytes needs."""
    cap = _MIN_WINDOW
    while cap < raw_len:
        cap <<= 1
    return cap


class ZstdCodec(Codec):
    """Zstandard at a fixed level. Params: ``{"level": int}`` in ``MIN_LEVEL..MAX_LEVEL``.

    The level only affects encoding; it is recorded so the archive documents it.
    """

    codec_id: ClassVar[str] = "nzarc.zstd"
    version: ClassVar[int] = 1
    releases_gil: ClassVar[bool] = True
    MIN_LEVEL: ClassVar[int] = -7
    MAX_LEVEL: ClassVar[int] = 22
    DEFAULT_LEVEL: ClassVar[int] = 19

    def __init__(self, level: int = DEFAULT_LEVEL) -> None:
        self.level = int_param(self.codec_id, "level", level, self.MIN_LEVEL, self.MAX_LEVEL)
        # zstd contexts are not thread-safe but are costly to create (for 1 MiB chunks at
        # level 3, creating one per chunk costs half as much CPU again as compressing): each
        # thread keeps its own. Every call fully resets the context, so the output is the
        # same as with a fresh one.
        self._local = threading.local()

    def __getstate__(self) -> dict[str, Any]:  # contexts stay with their thread
        state = dict(self.__dict__)
        state.pop("_local", None)
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._local = threading.local()

    @classmethod
    def from_params(cls, params: Mapping[str, Any]) -> ZstdCodec:
        check_keys(cls.codec_id, params, ("level",))
        return cls(**params)

    def get_params(self) -> dict[str, Any]:
        return {"level": self.level}

    def encode(self, chunk: bytes) -> bytes:
        compressor = getattr(self._local, "cctx", None)
        if compressor is None:
            compressor = zstandard.ZstdCompressor(
                level=self.level,
                write_content_size=True,
                write_checksum=False,
                write_dict_id=False,
            )
            self._local.cctx = compressor
        try:
            return compressor.compress(chunk)
        except BaseException:
            self._local.cctx = None  # never reuse a context after a failure
            raise

    def _decompressor(self, cap: int) -> zstandard.ZstdDecompressor:
        """This thread's decompressor with window limit ``cap`` (one per limit in use)."""
        cache: dict[int, zstandard.ZstdDecompressor] | None = getattr(self._local, "dctx", None)
        if cache is None:
            cache = self._local.dctx = {}
        dctx = cache.get(cap)
        if dctx is None:
            if len(cache) >= 4:
                cache.clear()
            dctx = cache[cap] = zstandard.ZstdDecompressor(max_window_size=cap)
        return dctx

    def decode(self, data: bytes, raw_len: int) -> bytes:
        if not isinstance(raw_len, int) or raw_len < 0:
            raise CodecError(f"nzarc.zstd: invalid raw length {raw_len!r}")
        view = bytes(data[:4])
        if view != _MAGIC:
            raise CodecError("nzarc.zstd: chunk does not start with a zstd frame")
        try:
            frame = zstandard.get_frame_parameters(data)
        except zstandard.ZstdError as exc:
            raise CodecError(f"nzarc.zstd: bad frame header: {exc}") from None
        if frame.content_size != raw_len:
            if frame.content_size == zstandard.CONTENTSIZE_UNKNOWN:
                raise CodecError("nzarc.zstd: frame does not declare its content size")
            raise CodecError(
                f"nzarc.zstd: frame declares {frame.content_size} bytes, expected {raw_len}"
            )
        if frame.dict_id != 0:
            raise CodecError(f"nzarc.zstd: frame needs dictionary {frame.dict_id}; none are used")
        cap = _window_cap(raw_len)
        if frame.window_size > cap:
            raise CodecError(
                f"nzarc.zstd: frame window {frame.window_size} exceeds {cap} for {raw_len} bytes"
            )
        try:
            out = self._decompressor(cap).decompress(
                data, max_output_size=raw_len, read_across_frames=False, allow_extra_data=False
            )
        except BaseException as exc:
            self._local.dctx = None  # never reuse a context after a failure
            if isinstance(exc, zstandard.ZstdError):
                raise CodecError(f"nzarc.zstd: corrupt frame: {exc}") from None
            raise
        if len(out) != raw_len:
            raise CodecError(f"nzarc.zstd: frame decoded to {len(out)} bytes, expected {raw_len}")
        return out

    def max_decode_memory(self, raw_len: int) -> int:
        return raw_len + (1 << 20)
