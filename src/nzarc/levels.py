"""Compression levels given by the caller: which codec takes one, and in what range.

Only the zstd codec has levels. A level is checked by building the codec through its own
params validation (:meth:`~nzarc.codecs.contract.Codec.from_params`), so the range is the
codec's, never a copy; a refusal is a :class:`CodecOptionError`, told apart from the
:class:`~nzarc.errors.CodecError` that the same validation raises for a header's params.
"""

from __future__ import annotations

from nzarc.codecs.contract import Codec
from nzarc.codecs.registry import Registry
from nzarc.errors import CodecError

__all__ = ["CodecOptionError", "level_codec", "ZSTD_ID"]

ZSTD_ID = "nzarc.zstd"


class CodecOptionError(ValueError):
    """A codec option the caller gave does not suit the codec: a level for a codec that has
    none, or a level outside the codec's range. ``hint`` names the codec and its levels."""

    def __init__(self, message: str, hint: str) -> None:
        super().__init__(message)
        self.hint = hint


def level_codec(registry: Registry, codec_id: str, level: int) -> Codec:
    """``codec_id`` from ``registry`` at ``level``; :class:`CodecOptionError` if ``codec_id``
    is not zstd or refuses ``level``."""
    if codec_id != ZSTD_ID:
        raise CodecOptionError(
            f"{codec_id} takes no level", "a level applies to zstd only (under auto, to its zstd candidate)"
        )
    cls = registry.latest(codec_id)
    try:
        return cls.from_params({"level": level})
    except CodecError as e:
        lo, hi = getattr(cls, "MIN_LEVEL", None), getattr(cls, "MAX_LEVEL", None)
        levels = f"levels {lo}..{hi}" if lo is not None and hi is not None else str(e)
        raise CodecOptionError(f"not a level of {codec_id}", f"zstd takes {levels}") from None
