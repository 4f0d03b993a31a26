"""Progress reports: the one event type the library emits, and the sink that receives it.

A sink is any callable taking a :class:`ProgressEvent`; it is passed in by the caller (the
writer's ``progress``, a codec's :attr:`~nzarc.codecs.context.CodecContext.progress`), never
installed globally. A sink must be cheap and thread-safe: codecs report from worker threads.
It ignores kinds it does not know.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

__all__ = ["ProgressEvent", "ProgressSink", "MODEL_KINDS", "report_model"]

#: Kinds a codec running a model reports, each with ``tokens``: ``encode`` / ``decode``
#: (tokens finished), ``encode-planned`` / ``decode-planned`` (tokens a call will process,
#: before it starts), ``encode-bytes`` / ``decode-bytes`` (a call starts on the reporting
#: thread; ``tokens`` holds its raw bytes). One codec call reports on one thread, in the order
#: ``-bytes``, ``-planned``, then its finished tokens; counts are deltas, so the reports of
#: calls on several threads add up. ``workers`` is the number of cluster workers doing the
#: work (0: in-process).
MODEL_KINDS = frozenset(
    f"{op}{suffix}" for op in ("encode", "decode") for suffix in ("", "-planned", "-bytes")
)


@dataclass(frozen=True)
class ProgressEvent:
    """A progress report. ``kind``: ``member`` (a member starts; ``name``), ``chunk`` (a chunk
    was written: ``bytes_in`` raw, ``bytes_out`` encoded, ``chunks`` 1), ``skip`` (a special
    file was not archived; ``name``), ``done`` (totals), or one of :data:`MODEL_KINDS`
    (``tokens``, ``workers``)."""

    kind: str
    name: str | None = None
    bytes_in: int = 0
    bytes_out: int = 0
    chunks: int = 0
    tokens: int = 0
    workers: int = 0


class ProgressSink(Protocol):
    """Receives progress events (see the module docstring for its duties)."""

    def __call__(self, event: ProgressEvent) -> None: ...


def report_model(sink: ProgressSink | None, kind: str, tokens: int, workers: int = 0) -> None:
    """Send the model-work event ``kind`` (one of :data:`MODEL_KINDS`) of ``tokens`` to
    ``sink``; nothing when there is no sink or ``tokens`` is 0."""
    if sink is not None and tokens:
        sink(ProgressEvent(kind, tokens=tokens, workers=workers))
