"""The regular files a ``create`` will read, found before it reads them: :func:`regular_files`.

Used for what is said up front (the progress total, the neural forecast), never for what is
archived: the walk itself (:mod:`nzarc.walk`) decides that, and a file that changes between
the two only makes an estimate wrong. Errors (a file that vanished, a directory that cannot
be listed) are skipped silently.
"""

from __future__ import annotations

import contextlib
import os
import stat
from collections.abc import Iterator, Sequence

from nzarc.walk import name_excluded

__all__ = ["regular_files", "tree_size"]


def _join(base: str, name: str) -> str:
    return f"{base}/{name}" if base else name


def regular_files(inputs: Sequence[tuple[str, str]], patterns: Sequence[str]) -> Iterator[tuple[str, int]]:
    """``(path, size)`` of each regular file under the ``(source, member name)`` inputs that the
    walk will archive, leaving out what the exclude ``patterns`` match, in walk order
    (symlinks are not followed)."""
    for top, arcname in inputs:
        if arcname and name_excluded(arcname, patterns):
            continue
        try:
            st = os.lstat(top)
        except OSError:
            continue
        if stat.S_ISREG(st.st_mode):
            yield top, st.st_size
        elif stat.S_ISDIR(st.st_mode):
            for dirpath, dirs, files in os.walk(top):
                rel = os.path.relpath(dirpath, top).replace(os.sep, "/")
                base = arcname if rel == "." else f"{arcname}/{rel}" if arcname else rel
                dirs[:] = [d for d in dirs if not name_excluded(_join(base, d), patterns)]
                for name in files:
                    if name_excluded(_join(base, name), patterns):
                        continue
                    path = os.path.join(dirpath, name)
                    with contextlib.suppress(OSError):
                        fst = os.lstat(path)
                        if stat.S_ISREG(fst.st_mode):
                            yield path, fst.st_size


def tree_size(inputs: Sequence[tuple[str, str]], patterns: Sequence[str]) -> int:
    """Total bytes of :func:`regular_files`."""
    return sum(size for _, size in regular_files(inputs, patterns))
