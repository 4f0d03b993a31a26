"""Opening the archive a reading command names: a file or a pipe, with the keys given or
asked for on the terminal."""

from __future__ import annotations

import argparse
import contextlib
import io
import sys
from collections.abc import Iterator
from typing import IO, TYPE_CHECKING

from nzarc.cli.common import UsageError, warn
from nzarc.cli.keys import read_keys
from nzarc.errors import DecryptionError
from nzarc.passphrase import resolve_passphrase, tty_available

if TYPE_CHECKING:
    from _typeshed import WriteableBuffer

    from nzarc.codecs.context import CodecContext
    from nzarc.policy import DecodePolicy
    from nzarc.read.seekable import ArchiveInput
    from nzarc.reader import ArchiveReader

__all__ = ["Replay", "decode_policy", "open_reader"]

@contextlib.contextmanager
def _input_archive(name: str) -> Iterator[IO[bytes]]:
    if name == "-":
        if sys.stdin.isatty():
            raise UsageError(
                "refusing to read an archive from a terminal",
                hint="pipe the archive into nzarc, or give its file name",
            )
        yield sys.stdin.buffer
        return
    try:
        f = open(name, "rb")
    except IsADirectoryError:
        raise UsageError(f"{name!r} is a directory, not an archive") from None
    with f:
        yield f


class Replay(io.RawIOBase):
    """A non-seekable stream whose first bytes can be read twice.

    Used on a pipe to look at the archive header, ask for a passphrase if it
    wants one, and open it again from the start. Replays at most what was
    read before :meth:`rewind` (the header: about 1 MiB at most).
    """

    def __init__(self, raw: IO[bytes]) -> None:
        super().__init__()
        self._raw = raw
        self._seen = bytearray()
        self._pos: int | None = None  # None: recording; else: replay position

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return False

    def rewind(self) -> None:
        if self._pos is not None:
            raise ValueError("a replay stream can be rewound once")
        self._pos = 0

    def read(self, n: int | None = -1) -> bytes:
        """Like ``BufferedReader.read``: ``n`` bytes unless the stream ends first."""
        out = b""
        if self._pos is not None and self._pos < len(self._seen):
            end = len(self._seen) if n is None or n < 0 else min(len(self._seen), self._pos + n)
            out = bytes(self._seen[self._pos : end])
            self._pos = end
            if end == len(self._seen):
                self._seen = bytearray()
                self._pos = 0
            if n is not None and 0 <= n == len(out):
                return out
        want = -1 if n is None or n < 0 else n - len(out)
        data = self._raw.read(want)
        if self._pos is None:
            self._seen += data
        return out + data

    def readinto(self, b: WriteableBuffer) -> int:
        view = memoryview(b).cast("B")
        data = self.read(len(view))
        view[: len(data)] = data
        return len(data)


def _wants_passphrase(reader: ArchiveReader) -> bool:
    """True if the header carries a passphrase stanza (readable without a key)."""
    return "argon2id" in [str(k) for k in reader.header_info().recipients]


def _open(
    src: ArchiveInput,
    passphrase: str | None,
    identities: list[str],
    jobs: int | None,
    policy: DecodePolicy | None = None,
    context: CodecContext | None = None,
) -> ArchiveReader:
    from nzarc.api import open_archive

    return open_archive(
        src, passphrase=passphrase, identities=identities, jobs=jobs, policy=policy,
        codec_context=context,
    )  # fmt: skip


def decode_policy(args: argparse.Namespace) -> DecodePolicy | None:
    """The DecodePolicy from --codecs/--max-ratio (None when neither is given)."""
    codecs, ratio = getattr(args, "codecs", None), getattr(args, "max_ratio", None)
    if codecs is None and ratio is None:
        return None
    from nzarc.policy import DecodePolicy

    return DecodePolicy(codecs=codecs, max_ratio=ratio)


@contextlib.contextmanager
def open_reader(
    args: argparse.Namespace, context: CodecContext | None = None
) -> Iterator[ArchiveReader]:
    """Open ARCHIVE with the keys from -i/--passphrase-file/NZARC_PASSPHRASE; with
    none of those, prompt on the terminal when the archive wants a passphrase. ``jobs``
    (decoding threads) come from ``args.jobs``; ``context`` (a
    :class:`~nzarc.codecs.context.CodecContext`) goes to the reader's codecs."""
    passphrase, identities = read_keys(args)
    jobs = getattr(args, "jobs", None)
    with _input_archive(args.archive) as raw:
        src: ArchiveInput = raw
        if passphrase is None and not identities and tty_available():
            seekable = _is_seekable(raw)
            replay = None if seekable else Replay(raw)
            if replay is not None:
                src = replay
            start = raw.tell() if seekable else 0
            probe = _open(src, None, [], jobs)
            wants = _wants_passphrase(probe)
            if wants:
                passphrase = resolve_passphrase(file=None, confirm=False, environ={})
            probe.close()
            if replay is not None:
                replay.rewind()
            else:
                raw.seek(start)
        args.have_key = passphrase is not None or bool(identities)
        reader = _open(src, passphrase, identities, jobs, decode_policy(args), context)
        with reader:
            _check_authenticated(args, reader)
            yield reader


def _check_authenticated(args: argparse.Namespace, reader: ArchiveReader) -> None:
    """A key given on the command line means the user expects authenticated data: refuse
    an unencrypted archive then (it could be a forgery); only warn for NZARC_PASSPHRASE."""
    if reader.header_info().authenticated or not args.have_key:
        return
    if getattr(args, "identity", None) or getattr(args, "passphrase_file", None):
        raise DecryptionError(
            "the archive is not encrypted, but a key was given: its contents are not "
            "authenticated and could have been forged",
            hint="if you trust its source, run again without -i/--passphrase-file",
        )
    warn("the archive is not encrypted; NZARC_PASSPHRASE was ignored and its contents "
          "are not authenticated against a forger")


def _is_seekable(f: IO[bytes]) -> bool:
    try:
        return bool(f.seekable())
    except (OSError, ValueError, AttributeError):
        return False
