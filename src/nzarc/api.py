"""``nzarc.create`` and ``nzarc.open``: the public entry points over the writer and reader."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Sequence
from typing import IO, Any, BinaryIO

from nzarc.codecs.context import CodecContext
from nzarc.events import ProgressEvent
from nzarc.options import WriterOptions
from nzarc.policy import DecodePolicy
from nzarc.read.seekable import ArchiveInput
from nzarc.reader import ArchiveReader
from nzarc.writer import ArchiveWriter, WriteStats

__all__ = ["create", "open_archive", "generate_identity"]


def create(
    output: BinaryIO | IO[bytes] | str | os.PathLike[str],
    paths: Iterable[str | os.PathLike[str]],
    *,
    options: WriterOptions | None = None,
    passphrase: str | bytes | None = None,
    recipients: Sequence[str] = (),
    encrypt: bool = True,
    rng: Callable[[int], bytes] | None = None,
    progress: Callable[[ProgressEvent], None] | None = None,
    **extra: Any,
) -> WriteStats:
    """Write an archive of ``paths`` (files, symlinks, directory trees) to ``output``.

    ``output`` is a path or a binary file object (a pipe is fine: nothing is seeked).
    ``options`` (:class:`nzarc.options.WriterOptions`: codec, level, chunk size, suite, jobs,
    ...) says how it is written; a field given as a keyword (``codec="zstd"``) replaces that
    field of ``options``. A bad value raises as :class:`~nzarc.options.WriterOptions` says.
    The archive is encrypted to ``passphrase`` or to the public keys ``recipients`` unless
    ``encrypt`` is false; ``rng`` replaces the random source (``os.urandom``), ``progress``
    receives a :class:`~nzarc.events.ProgressEvent` as members and chunks are written.
    Any other keyword goes to :class:`~nzarc.writer.ArchiveWriter`.
    """
    writer_args: dict[str, Any] = dict(
        options=options,
        passphrase=passphrase,
        recipients=recipients,
        encrypt=encrypt,
        rng=rng,
        progress=progress,
        **extra,
    )
    if isinstance(output, (str, os.PathLike)):
        with open(output, "wb") as fh:
            return _write(fh, paths, writer_args)
    return _write(output, paths, writer_args)


def _write(
    fh: BinaryIO | IO[bytes], paths: Iterable[str | os.PathLike[str]], writer_args: dict[str, Any]
) -> WriteStats:
    with ArchiveWriter(fh, **writer_args) as writer:
        for path in paths:
            writer.add_path(path)
    return writer.stats


def open_archive(
    source: ArchiveInput | str | os.PathLike[str],
    *,
    passphrase: str | bytes | None = None,
    identities: Sequence[str | bytes] = (),
    jobs: int | None = None,
    policy: DecodePolicy | None = None,
    codec_context: CodecContext | None = None,
) -> ArchiveReader:
    """Open an archive for reading (path or binary file object; pipes work sequentially).

    ``policy`` (:class:`nzarc.policy.DecodePolicy`) restricts what is decoded: which codecs,
    and how far a chunk may expand; the default allows every installed codec within each
    codec's own expansion limit. ``jobs``: decoding threads (default: one per CPU).
    ``codec_context``: the device and routes of the codecs that take one (default: the CPU).
    """
    return ArchiveReader(
        source,
        passphrase=passphrase,
        identities=identities,
        jobs=jobs,
        policy=policy,
        codec_context=codec_context,
    )


def generate_identity() -> tuple[str, str]:
    """A fresh X25519 identity as ``(AGE-SECRET-KEY-1..., age1...)``: the secret key for
    ``identities=`` and the public key for ``recipients=``."""
    from nzarc.crypto.recipients import generate_identity as _generate

    return _generate()
