"""``nzarc.create`` and ``nzarc.open``: the public entry points over the writer and reader."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Sequence
from typing import IO, Any, BinaryIO

from nzarc.codecs.context import CodecContext
from nzarc.options import DEFAULT_CHUNK_SIZE, DEFAULT_SUITE
from nzarc.pipeline import ProgressEvent
from nzarc.policy import DecodePolicy
from nzarc.reader import ArchiveReader
from nzarc.writer import ArchiveWriter, WriteStats

__all__ = ["create", "open_archive", "generate_identity"]


def create(
    output: BinaryIO | IO[bytes] | str | os.PathLike[str],
    paths: Iterable[str | os.PathLike[str]],
    *,
    passphrase: str | bytes | None = None,
    recipients: Sequence[str] = (),
    encrypt: bool = True,
    codec: str = "auto",
    level: int | None = None,
    window: int | None = None,
    chunk_size: int = DEFAULT_CHUNK_SIZE,
    jobs: int | None = None,
    pad: bool = False,
    suite: str = DEFAULT_SUITE,
    rng: Callable[[int], bytes] | None = None,
    progress: Callable[[ProgressEvent], None] | None = None,
    verify: bool = False,
    codec_context: CodecContext | None = None,
    **extra: Any,
) -> WriteStats:
    """Write an archive of ``paths`` (files, symlinks, directory trees) to ``output``.

    ``output`` is a path or a binary file object (a pipe is fine: nothing is seeked).
    ``codec_context`` (:class:`nzarc.codecs.context.CodecContext`) names the device and
    routes of the codecs that take one (the neural codec); default: the CPU. It never
    changes the archive's bytes.
    """
    options = dict(
        passphrase=passphrase,
        recipients=recipients,
        encrypt=encrypt,
        codec=codec,
        level=level,
        window=window,
        chunk_size=chunk_size,
        jobs=jobs,
        pad=pad,
        suite=suite,
        rng=rng,
        progress=progress,
        verify=verify,
        codec_context=codec_context,
        **extra,
    )
    if isinstance(output, (str, os.PathLike)):
        with open(output, "wb") as fh:
            return _write(fh, paths, options)
    return _write(output, paths, options)


def _write(fh: Any, paths: Iterable[str | os.PathLike[str]], options: dict[str, Any]) -> WriteStats:
    with ArchiveWriter(fh, **options) as writer:
        for path in paths:
            writer.add_path(path)
    return writer.stats


def open_archive(
    source: BinaryIO | IO[bytes] | str | os.PathLike[str],
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
