"""Compression levels given by the caller: which codec takes one, and in what range.

A codec has levels when its class declares ``MIN_LEVEL`` and ``MAX_LEVEL`` and takes a
``level`` param (zstd and xz do). A level is checked by building the codec through its own
params validation (:meth:`~nzarc.codecs.contract.Codec.from_params`, see
:mod:`nzarc.codecopts`), so the range is the codec's, never a copy; a refusal is a
:class:`CodecOptionError`, told apart from the :class:`~nzarc.errors.CodecParamsError` that
the same validation raises for a header's params.
"""

from __future__ import annotations

from nzarc.codecs.contract import Codec
from nzarc.errors import CodecOptionError

__all__ = ["CodecOptionError", "has_levels", "level_refused"]


def has_levels(cls: type[Codec]) -> bool:
    """True when codec class ``cls`` takes a ``level`` (it declares its range)."""
    return isinstance(getattr(cls, "MIN_LEVEL", None), int) and isinstance(
        getattr(cls, "MAX_LEVEL", None), int
    )


def level_refused(cls: type[Codec]) -> CodecOptionError:
    """The error for a ``level`` that codec class ``cls`` refuses: it has no levels, or the
    level is outside its range (the hint gives the range)."""
    codec_id = cls.codec_id
    if not has_levels(cls):
        return CodecOptionError(
            f"{codec_id} takes no level",
            hint="a level applies to zstd and xz (under auto, to its zstd candidate)",
        )
    lo, hi = cls.MIN_LEVEL, cls.MAX_LEVEL  # type: ignore[attr-defined]
    short = codec_id.removeprefix("nzarc.")
    return CodecOptionError(f"not a level of {codec_id}", hint=f"{short} takes levels {lo}..{hi}")
