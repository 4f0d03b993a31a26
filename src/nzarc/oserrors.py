"""``OSError``\\ s that name the file they are about.

``os.write`` on a file descriptor, ``fsync`` and the methods of a file opened
from a descriptor raise ``OSError`` without a ``filename``: "No space left on
device" alone does not say which file could not be written. The helpers here
attach the path the caller knows, so that every such error reaching the
command line reads ``<reason>: <path>``.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import IO, Any

__all__ = ["with_filename", "naming", "NamedOutput"]


def with_filename(e: OSError, path: str | os.PathLike[str]) -> OSError:
    """``e`` itself if it names a file (or has its own message), else an ``OSError`` of the
    same errno (so the same subclass: ``PermissionError`` for ``EACCES``...) naming ``path``."""
    if e.filename is not None or getattr(e, "message", None):
        return e
    return OSError(e.errno, e.strerror or str(e) or type(e).__name__, os.fspath(path))


@contextmanager
def naming(path: str | os.PathLike[str]) -> Iterator[None]:
    """Re-raise an ``OSError`` without a file name from the block as one naming ``path``."""
    try:
        yield
    except OSError as e:
        named = with_filename(e, path)
        if named is e:
            raise
        raise named from e


class NamedOutput:
    """A binary output file whose ``write``/``flush`` errors name ``path``.

    Wraps ``file`` (opened from a descriptor, so its errors name nothing);
    :meth:`fileno` and :meth:`close` are passed through.
    """

    def __init__(self, file: IO[bytes], path: str | os.PathLike[str]) -> None:
        self.file = file
        self.path = path

    def write(self, data: Any) -> int:
        with naming(self.path):
            return self.file.write(data)

    def flush(self) -> None:
        with naming(self.path):
            self.file.flush()

    def fileno(self) -> int:
        return self.file.fileno()

    def close(self) -> None:
        with naming(self.path):
            self.file.close()
