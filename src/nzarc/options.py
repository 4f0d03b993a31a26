"""The writer's options (:class:`WriterOptions`, with their defaults and validation) and the
values they accept, for callers that offer them as choices (the command line): AEAD suites,
the chunk size's default and bounds, devices.

Each value is the format's or the runtime's own (:mod:`nzarc.format.layout`,
:mod:`nzarc.format.limits`, :mod:`nzarc.codecs.context`), re-exported here so that a caller
depends on this module only.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from nzarc.codecs.context import DEVICES, CodecContext
from nzarc.errors import UsageError
from nzarc.format import limits
from nzarc.format.layout import DEFAULT_CHUNK, DEFAULT_SEGMENT, SUITE_AESGCM, SUITE_CHACHA
from nzarc.format.limits import MAX_CHUNK, MIN_CHUNK

__all__ = [
    "WriterOptions",
    "ENCRYPTION_SUITES",
    "DEFAULT_SUITE",
    "DEFAULT_CHUNK_SIZE",
    "MIN_CHUNK_SIZE",
    "MAX_CHUNK_SIZE",
    "DEVICES",
]

#: The AEAD suites an encrypted archive can be written with; the first is the default.
ENCRYPTION_SUITES: tuple[str, ...] = (SUITE_CHACHA, SUITE_AESGCM)
DEFAULT_SUITE = SUITE_CHACHA
#: The solid-mode chunk size a writer uses unless told otherwise, and the bounds it accepts.
DEFAULT_CHUNK_SIZE = DEFAULT_CHUNK
MIN_CHUNK_SIZE = MIN_CHUNK
MAX_CHUNK_SIZE = MAX_CHUNK


@dataclass(frozen=True)
class WriterOptions:
    """How an archive is written (:class:`nzarc.writer.ArchiveWriter`, :func:`nzarc.create`).

    Secrets and sources (passphrase, recipients, random bytes) and observers (progress) are
    not options: they are the writer's own parameters. Construction validates every value:
    a bad ``suite``, ``segment_size`` or ``jobs`` raises :class:`~nzarc.errors.UsageError`
    (a ``ValueError``), a chunk or segment size out of bounds
    :class:`~nzarc.errors.LimitExceeded`. Whether ``codec`` and ``level``
    name an installed codec and a level it takes is checked when the codecs are built
    (:func:`nzarc.planning.plan_codecs`).

    ``codec``: ``auto``, ``store``, ``zstd``, ``xz``, ``neural`` or a codec id. ``level``: the
    codec's level (``None``: its default). ``window``: the neural codec's window in tokens
    (``None``: its default). ``chunk_size`` and ``segment_size`` (a power of two): the
    format's chunk and segment sizes. ``suite``: the AEAD suite of an encrypted archive.
    ``pad``: pad the archive's length (Padmé). ``jobs``: encoding threads (``None``: one per
    CPU). ``verify``: decode every encoded chunk before it is written. ``codec_context``: the
    device and routes of the codecs that take one (``None``: the CPU); it never changes the
    archive's bytes.
    """

    codec: str = "auto"
    level: int | None = None
    window: int | None = None
    chunk_size: int = DEFAULT_CHUNK_SIZE
    segment_size: int = DEFAULT_SEGMENT
    suite: str = DEFAULT_SUITE
    pad: bool = False
    jobs: int | None = None
    verify: bool = False
    codec_context: CodecContext | None = None

    def __post_init__(self) -> None:
        if self.suite not in ENCRYPTION_SUITES:
            raise UsageError(
                f"suite must be chacha20-poly1305 or aes-256-gcm, not {self.suite!r}"
            )
        limits.check("chunk size", self.chunk_size, limits.MAX_CHUNK, low=limits.MIN_CHUNK)
        limits.check(
            "segment size", self.segment_size, limits.MAX_SEGMENT, low=limits.MIN_SEGMENT
        )
        if self.segment_size & (self.segment_size - 1):
            raise UsageError("segment_size must be a power of two")
        if self.jobs is not None and self.jobs < 1:
            raise UsageError("jobs must be at least 1")

    @classmethod
    def build(cls, options: WriterOptions | None = None, **overrides: Any) -> WriterOptions:
        """``options`` (default: every default) with the keyword ``overrides`` replaced: the
        keyword form of the writer's and :func:`nzarc.create`'s options. An unknown keyword
        raises ``TypeError``."""
        base = cls() if options is None else options
        return dataclasses.replace(base, **overrides) if overrides else base
