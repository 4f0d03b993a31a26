"""The decode side of the read pipeline: chunk frames decoded in windows, in order.

:func:`windowed` wraps a frame source (``next_frame``, as :class:`nzarc.format.frames.
FrameReader` gives) and yields the same frames in the same order, each chunk frame's data
replaced by its decoded bytes (:class:`nzarc.pipeline.ChunkDecoder` does the decoding).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterator

from nzarc.format.frames import ChunkFrame, Frame, TrailerFrame
from nzarc.pipeline import ChunkDecoder

__all__ = ["windowed"]

#: Frames gathered into one group at most, whatever their kind.
_GROUP_FRAMES = 256


def windowed(
    next_frame: Callable[[], Frame], decoder: ChunkDecoder | None, window: int
) -> Iterator[Frame]:
    """Frames in order; chunk frames carry decoded bytes (or are passed as-is without a decoder).

    Up to ``window`` chunk frames (or 256 frames) are gathered and decoded together as a
    group. When the decoder's codecs allow it and ``window`` > 2 (more than one job), the
    next group is gathered and decoded while the previous one is consumed. A failure while
    a group is gathered drops that group; groups gathered before it are delivered first.
    The iteration ends after a trailer frame.
    """
    depth = 1 if decoder is not None and decoder.overlaps and window > 2 else 0
    pending: deque[tuple[list[Frame], Callable[[], list[bytes]] | None]] = deque()
    numbered = 0  # chunk frames handed to the decoder so far (the next one's number)
    while True:
        frames: list[Frame] = []
        chunks = 0
        stop = False
        try:
            while chunks < window and len(frames) < _GROUP_FRAMES:
                frame = next_frame()
                frames.append(frame)
                if isinstance(frame, ChunkFrame):
                    chunks += 1
                if isinstance(frame, TrailerFrame):
                    stop = True
                    break
        except Exception:
            while pending:  # completed groups before the failure still reach the caller
                yield from _decoded(*pending.popleft())
            raise
        finish = None
        if decoder is not None and chunks:
            finish = decoder.start_group(
                [(f.slot, f.data, f.raw_len) for f in frames if isinstance(f, ChunkFrame)],
                numbered,
            )
            numbered += chunks
        pending.append((frames, finish))
        while len(pending) > (0 if stop else depth):
            yield from _decoded(*pending.popleft())
        if stop:
            return


def _decoded(frames: list[Frame], finish: Callable[[], list[bytes]] | None) -> Iterator[Frame]:
    """``frames`` with their chunk frames' data replaced by ``finish()``'s results, in order."""
    if finish is None:
        yield from frames
        return
    decoded = iter(finish())
    for f in frames:
        yield (
            ChunkFrame(f.slot, f.raw_len, next(decoded), f.pos) if isinstance(f, ChunkFrame) else f
        )
