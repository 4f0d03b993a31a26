"""Coding of independent windows, the unit of the neural codec's work.

Contracts: :func:`encode_windows` turns windows of token ids into their range-coded
streams, :func:`decode_jobs` turns ``(stream, symbols)`` jobs back into token ids, both in
the order given. Each window is coded on its own (spec/NEURAL-CODEC.md), so the result of a
window does not depend on which other windows share a call, on batch shapes or on the
process that runs it: the codec runs these in-process, and a cluster's workers run the very
same functions on the same pinned model. The model is a
:class:`~nzarc.neural.modelwork.LanguageModel`.
"""

from __future__ import annotations

from collections.abc import Sequence

from nzarc.events import ProgressSink
from nzarc.neural.modelwork import LanguageModel, decode_groups, decode_windows, window_intervals
from nzarc.signals import CancelToken

__all__ = ["decode_jobs", "encode_windows"]


def encode_windows(
    model: LanguageModel,
    windows: Sequence[Sequence[int]],
    cancel: CancelToken | None = None,
    progress: ProgressSink | None = None,
) -> list[bytes]:
    """The range-coded stream of every window (``cancel`` and ``progress`` as in
    ``window_intervals``)."""
    from nzarc.neural.coder import RangeEncoder

    streams: list[bytes] = [b""] * len(windows)
    for wi, cums, freqs in window_intervals(model, [list(w) for w in windows], cancel, progress):
        enc = RangeEncoder(model.freq_bits)
        enc.encode_many(cums, freqs)
        streams[wi] = enc.finish()
    return streams


def decode_jobs(
    model: LanguageModel,
    jobs: Sequence[tuple[bytes, int]],
    budget: int,
    cancel: CancelToken | None = None,
    progress: ProgressSink | None = None,
) -> list[list[int]]:
    """The token ids of every ``(stream, symbols)`` job, decoded in lockstep batches whose
    KV caches and tables fit ``budget`` bytes; a corrupt stream raises CodecError.
    ``progress`` as in ``decode_windows``."""
    order = sorted(range(len(jobs)), key=lambda k: -jobs[k][1])
    counts = [jobs[k][1] for k in order]
    out: list[list[int]] = [[] for _ in jobs]
    for group in decode_groups(model, counts, budget):
        sel = [order[k] for k in group]
        decoded = decode_windows(model, [jobs[k][0] for k in sel], [jobs[k][1] for k in sel], cancel, progress)
        for k, toks in zip(sel, decoded, strict=True):
            out[k] = toks
    return out
