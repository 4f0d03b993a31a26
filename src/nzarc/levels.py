"""Compression levels given by the caller: which codec takes one, and in what range.

A codec has levels when its class declares ``MIN_LEVEL`` and ``MAX_LEVEL`` and takes a
``level`` param (zstd and xz do). A level is checked by building the codec through its own
params validation (:meth:`~nzarc.codecs.contract.Codec.from_params`), so the range is the
codec's, never a copy; a refusal is a :class:`CodecOptionError`, told apart from the
:class:`~nzarc.errors.CodecParamsError` that the same validation raises for a header's params.
"""

from __future__ import annotations

from nzarc.codecs.contract import Codec
from nzarc.codecs.registry import Registry
from nzarc.errors import CodecError, CodecOptionError

__all__ = ["CodecOptionError", "level_codec", "has_levels"]


def has_levels(cls: type[Codec]) -> bool:
    """True when codec class ``cls`` takes a ``level`` (it declares its range)."""
    return isinstance(getattr(cls, "MIN_LEVEL", None), int) and isinstance(
        getattr(cls, "MAX_LEVEL", None), int
    )


def level_codec(registry: Registry, codec_id: str, level: int) -> Codec:
    """``codec_id`` from ``registry`` at ``level``; :class:`CodecOptionError` if the codec has
    no levels or refuses ``level``."""
    cls = registry.latest(codec_id)
    short = codec_id.removeprefix("nzarc.")
    if not has_levels(cls):
        raise CodecOptionError(
            f"{codec_id} takes no level",
            hint="a level applies to zstd and xz (under auto, to its zstd candidate)",
        )
    try:
        return cls.from_params({"level": level})
    except CodecError:
        lo, hi = cls.MIN_LEVEL, cls.MAX_LEVEL  # type: ignore[attr-defined]
        raise CodecOptionError(
            f"not a level of {codec_id}", hint=f"{short} takes levels {lo}..{hi}"
        ) from None
