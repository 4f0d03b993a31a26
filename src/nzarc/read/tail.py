"""What must follow the index frame (spec/FORMAT.md §6): a padding frame exactly when the
header's ``pad`` flag is set, of the Padmé length, then the trailer pointing back at the
index and at itself."""

from __future__ import annotations

from collections.abc import Callable

from nzarc.errors import FormatError
from nzarc.format.frames import Frame, PadFrame, TrailerFrame
from nzarc.format.header import Header
from nzarc.format.index import padme
from nzarc.format.layout import TRAILER_LEN

__all__ = ["check_tail"]


def check_tail(
    h: Header, after: Frame, next_frame: Callable[[], Frame], index_pos: int, trailer_at: int | None
) -> None:
    """Check the frames after the index at ``index_pos``: ``after`` (the first of them), then,
    when it is padding, ``next_frame()``. The trailer must lie at ``trailer_at`` when the
    caller knows where it must be. Raises :class:`FormatError` on any departure."""
    pad: PadFrame | None = None
    if isinstance(after, PadFrame):
        if not h.pad:
            raise FormatError("padding frame in an archive without the pad flag")
        pad, after = after, next_frame()
    elif h.pad:
        raise FormatError("padded archive lacks its padding frame")
    if not isinstance(after, TrailerFrame):
        raise FormatError("index is not followed by the trailer")
    if trailer_at is not None and after.pos != trailer_at:
        raise FormatError("the trailer is not at the end of the payload")
    if after.index_offset != index_pos or after.own_offset != after.pos:
        raise FormatError("trailer offsets do not match")
    if pad is not None:
        unpadded = after.pos - pad.length - 5 + TRAILER_LEN
        if padme(unpadded + 5) != after.pos + TRAILER_LEN:
            raise FormatError("padding length is not the Padmé length")
