"""What a ``create`` will put through the neural model, said before it starts.

The rule users can predict (README, "How long the neural codec takes"):

* the neural codec is a candidate only under ``-c auto`` (when its model is installed) and
  ``-c neural``; ``--fast`` never loads it;
* it codes only chunks that look like text (:mod:`nzarc.neural.textdetect`: binary data,
  compressed or encrypted data are left to zstd and xz);
* before reading its inputs, ``create`` prints how many bytes of text (in how many files)
  will go through the model, and the time they take at the rate the same settings reached on
  this machine last time (:mod:`nzarc.ratebook`), or that no rate has been measured yet.

:func:`neural_forecast` makes that statement. Each input file is judged by the same test on a
sample of it (at most :data:`SAMPLE_BYTES`, spread over the file); the writer judges chunks,
which may mix files, so the count is an estimate. Past :data:`MAX_SAMPLED_FILES` files the
rest are counted at the text fraction of the sampled ones.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass

from nzarc.codecs.contract import Codec
from nzarc.codecs.names import NEURAL_ID
from nzarc.inputscan import regular_files
from nzarc.neural.textdetect import pieces_look_like_text, sample_spans
from nzarc.progress import format_bytes
from nzarc.ratebook import Rate

__all__ = ["Forecast", "neural_forecast", "rate_key", "SAMPLE_BYTES", "MAX_SAMPLED_FILES"]

SAMPLE_BYTES = 16 * 1024
MAX_SAMPLED_FILES = 10_000


@dataclass(frozen=True)
class Forecast:
    """``text_bytes`` in ``text_files`` files go through the model (``stdin``: and standard
    input, of unknown size); ``rate``: the rate recorded for these settings, or None."""

    text_bytes: int
    text_files: int
    stdin: bool
    rate: Rate | None

    @property
    def seconds(self) -> float | None:
        """Expected model time of the files (None without a rate)."""
        return None if self.rate is None else self.text_bytes / self.rate.bytes_per_s

    @property
    def empty(self) -> bool:
        """Nothing will go through the model (no text file, no standard input)."""
        return not self.text_bytes and not self.stdin

    def line(self) -> str:
        """The one line ``create`` prints (without a newline)."""
        parts = []
        if self.text_bytes or not self.stdin:
            files = f"{self.text_files} file{'' if self.text_files == 1 else 's'}"
            parts.append(f"{format_bytes(self.text_bytes)} of text in {files}")
        if self.stdin:
            parts.append("standard input (size unknown)")
        if self.rate is None:
            when = "its rate here is not measured yet (this run records it)"
        else:
            when = f"{format_bytes(round(self.rate.bytes_per_s))}/s (measured here {self.rate.measured})"
            if self.text_bytes:
                files = " for the files" if self.stdin else ""
                when = f"about {_duration(self.seconds or 0.0)}{files} at {when}"
            else:
                when = f"at {when}"
        return f"neural: {' and '.join(parts)} goes through the model; {when}; --fast leaves the model out"


def _duration(seconds: float) -> str:
    if seconds < 60:
        return f"{max(1, round(seconds))} s"
    if seconds < 3600:
        return f"{round(seconds / 60)} min"
    if seconds < 48 * 3600:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86400:.1f} days"


def rate_key(codec: Codec, jobs: int, where: str) -> str:
    """The settings a neural rate is recorded under: the codec's params, the jobs and where
    the model runs (``where``: a device, or ``cluster``)."""
    params = json.dumps(codec.get_params(), sort_keys=True, separators=(",", ":"))
    return f"{codec.codec_id} {params} j{jobs} {where}"


def _looks_like_text(path: str, size: int) -> bool:
    """:func:`~nzarc.neural.textdetect.looks_like_text` of the file, on a sample read from it."""
    pieces = []
    try:
        with open(path, "rb") as f:
            for offset, length in sample_spans(size, SAMPLE_BYTES):
                f.seek(offset)
                pieces.append(f.read(length))
    except OSError:
        return False
    return pieces_look_like_text(pieces)


def neural_forecast(
    codecs: Sequence[Codec],
    inputs: Sequence[tuple[str, str]],
    patterns: Sequence[str],
    stdin: bool,
    rate: Rate | None,
) -> Forecast | None:
    """The forecast of a create whose candidate ``codecs`` are given, over the
    ``(source, member name)`` ``inputs`` less what ``patterns`` exclude; None when no
    candidate is the neural codec."""
    if not any(c.codec_id == NEURAL_ID for c in codecs):
        return None
    text_bytes = text_files = sampled_bytes = sampled_text = 0
    rest_bytes = rest_files = 0
    for count, (path, size) in enumerate(regular_files(inputs, patterns)):
        if size == 0:
            continue
        if count >= MAX_SAMPLED_FILES:
            rest_bytes += size
            rest_files += 1
            continue
        sampled_bytes += size
        if _looks_like_text(path, size):
            text_bytes += size
            text_files += 1
            sampled_text += size
    if rest_files and sampled_bytes:
        share = sampled_text / sampled_bytes
        text_bytes += round(rest_bytes * share)
        text_files += round(rest_files * share)
    return Forecast(text_bytes, text_files, stdin, rate)
