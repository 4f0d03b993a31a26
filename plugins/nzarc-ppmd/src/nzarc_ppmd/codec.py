"""``ppmd.ppmd``: PPMd context-mixing compression through pyppmd.

Bitstream version 1
    ``variant "H"``: PPMd var.H as 7-Zip writes it (model ``Ppmd7``, the 7z
    range coder). ``variant "I"``: PPMd var.I rev.1 (model ``Ppmd8``, restore
    method "restart"). The stream codes the chunk's bytes, then the end-mark
    symbol, then the range coder's flush bytes. ``variant``, ``order`` and
    ``memory`` are all recorded and all needed to decode. A stream is accepted
    only if it decodes to exactly ``raw_len`` bytes followed by the end mark
    and the decoder consumed exactly ``len(data)`` bytes.

Two defects of pyppmd 1.3.x, and how this module avoids them
    *Encoder drops bytes.* The C encoder writes into a block buffer whose
    first block is 32 KiB, and only grows it between input bytes; a byte
    whose code straddles the end of a block loses the bytes that do not fit.
    The stream then fails to decode ("Corrupted input data") or decodes to
    wrong data. This module feeds the encoder ``_PIECE`` bytes per call, and
    checks that every call returned fewer than 32 KiB, which proves no block
    ever filled; otherwise it declines the chunk with :class:`CodecError`.
    *Decoder crashes when starved.* The C decoder runs the model on a worker
    thread that blocks when input runs out; freeing a decoder whose worker
    is blocked corrupts the heap and aborts the process. ``decode`` therefore
    feeds zero padding until the worker finishes (end mark, error, or the
    output bound), and never lets a starved decoder be freed.

Because the decoder's threading cannot be proven correct, the codec sets
``verify_after_encode``: the writer decodes each chunk before committing it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

import pyppmd
from nzarc.codecs.contract import Codec
from nzarc.codecs.params import check_keys, choice_param, int_param
from nzarc.errors import CodecError

__all__ = ["PpmdCodec"]

_CODEC_ID = "ppmd.ppmd"
_VARIANTS = ("H", "I")
_MIN_ORDER, _MAX_ORDER = 2, 16
_MIN_MEMORY, _MAX_MEMORY = 1 << 20, 256 << 20
_FIRST_BLOCK = 32 * 1024  # pyppmd's first output block; a call returning less dropped nothing
_PIECE = 2048  # input bytes per encoder call: < 32 KiB output unless >16 bytes per byte
_PAD = 4096  # zero bytes fed to a decoder that asks for more input
_RESTART = 0  # Ppmd8 restore method "restart"

# Decoders that could not be driven to completion are kept alive here rather than freed
# (freeing one whose worker thread is blocked aborts the process). Never expected to grow.
_QUARANTINE: list[object] = []


class PpmdCodec(Codec):
    """PPMd var.H or var.I. Params: ``variant`` ("H"/"I"), ``order`` (2..16), ``memory``
    (model memory in bytes, 1 MiB..256 MiB)."""

    codec_id: ClassVar[str] = _CODEC_ID
    version: ClassVar[int] = 1
    releases_gil: ClassVar[bool] = True
    verify_after_encode: ClassVar[bool] = True
    #: Fast (MB/s) and better than xz on text: offered to ``-c auto``.
    auto_eligible: ClassVar[bool] = True

    def __init__(self, variant: str = "I", order: int = 6, memory: int = 16 << 20) -> None:
        self.variant = choice_param(_CODEC_ID, "variant", variant, _VARIANTS)
        self.order = int_param(_CODEC_ID, "order", order, _MIN_ORDER, _MAX_ORDER)
        self.memory = int_param(_CODEC_ID, "memory", memory, _MIN_MEMORY, _MAX_MEMORY)

    @classmethod
    def from_params(cls, params: Mapping[str, Any]) -> PpmdCodec:
        check_keys(_CODEC_ID, params, ("variant", "order", "memory"))
        return cls(**params)

    def get_params(self) -> dict[str, Any]:
        return {"variant": self.variant, "order": self.order, "memory": self.memory}

    def max_decode_memory(self, raw_len: int) -> int:
        # The model, the output blocks and their join, the padded input copy.
        return self.memory + 4 * raw_len + (1 << 20)

    # -- encoding ----------------------------------------------------------------------------

    def _encoder(self) -> Any:
        if self.variant == "H":
            return pyppmd.Ppmd7Encoder(self.order, self.memory)
        return pyppmd.Ppmd8Encoder(self.order, self.memory, _RESTART)

    def encode(self, chunk: bytes) -> bytes:
        view = memoryview(chunk).cast("B")
        encoder = self._encoder()
        parts: list[bytes] = []
        for start in range(0, len(view), _PIECE):
            parts.append(self._checked(encoder.encode(view[start : start + _PIECE])))
        parts.append(self._checked(encoder.flush(endmark=True)))
        return b"".join(parts)

    @staticmethod
    def _checked(out: bytes) -> bytes:
        if len(out) >= _FIRST_BLOCK:
            raise CodecError(
                f"{_CODEC_ID}: encoder output of one piece reached {len(out)} bytes; "
                "pyppmd may have dropped bytes, so the chunk is declined"
            )
        return out

    # -- decoding ----------------------------------------------------------------------------

    def _decoder(self) -> Any:
        if self.variant == "H":
            return pyppmd.Ppmd7Decoder(self.order, self.memory)
        return pyppmd.Ppmd8Decoder(self.order, self.memory, _RESTART)

    def _check_start(self, data: bytes) -> None:
        """Reject what the range decoder's initialisation would reject.

        pyppmd returns NULL without an exception (and leaks the input buffer) when
        its range decoder refuses the first bytes, so that case never reaches it.
        """
        head = bytes(data[:5])
        if self.variant == "H":
            ok = len(head) == 5 and head[0] == 0 and head[1:] != b"\xff" * 4
        else:
            ok = len(head) >= 4 and head[:4] != b"\xff" * 4
        if not ok:
            raise CodecError(
                f"{_CODEC_ID}: chunk does not start with a PPMd var.{self.variant} stream"
            )

    def decode(self, data: bytes, raw_len: int) -> bytes:
        if not isinstance(raw_len, int) or raw_len < 0:
            raise CodecError(f"{_CODEC_ID}: invalid raw length {raw_len!r}")
        self._check_start(data)
        want = raw_len + 1  # one more than needed: a valid stream stops at its end mark
        decoder = self._decoder()
        padding = bytes(_PAD)
        parts: list[bytes] = []
        produced = 0
        padded = _PAD
        finished = False
        try:
            try:
                parts.append(decoder.decode(bytes(data) + padding, want))
                produced = len(parts[-1])
                # Keep feeding zeros until the worker thread is no longer waiting for input.
                while decoder.needs_input and not decoder.eof and produced < want:
                    parts.append(decoder.decode(padding, want - produced))
                    produced += len(parts[-1])
                    padded += _PAD
                finished = True
            except (ValueError, RuntimeError, SystemError, pyppmd.PpmdError):
                # The C decoder reports corrupt input after its worker has exited.
                finished = True
                raise CodecError(f"{_CODEC_ID}: corrupt PPMd stream") from None
            if not decoder.eof:
                raise CodecError(f"{_CODEC_ID}: stream does not end after {raw_len} bytes")
            if produced != raw_len:
                raise CodecError(
                    f"{_CODEC_ID}: stream decoded to {produced} bytes, expected {raw_len}"
                )
            unused = len(decoder.unused_data)
            if unused != padded:
                consumed = len(data) + padded - unused
                raise CodecError(
                    f"{_CODEC_ID}: stream is {consumed} bytes long but the chunk has {len(data)}"
                )
        finally:
            if not finished:
                _QUARANTINE.append(decoder)
        return b"".join(parts)
