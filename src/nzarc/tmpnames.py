"""The temporary names extraction gives entries until they are complete, and their sweeping.

A name is exactly :data:`PREFIX` and 16 lowercase hex digits (:data:`PATTERN`). An entry left
under such a name by a killed run is removed by :func:`sweep_stale` when a later extraction
puts something in the same directory.
"""

from __future__ import annotations

import os
import re
import secrets
import stat
import time
from contextlib import suppress

__all__ = ["PREFIX", "PATTERN", "new_name", "sweep_stale"]

PREFIX = ".nzarc-tmp-"
PATTERN = re.compile(r"\.nzarc-tmp-[0-9a-f]{16}")

#: Entries last changed before this (the module's loading, which precedes every temporary
#: entry this process makes) are another run's leftovers.
STARTED_NS = time.time_ns()


def new_name() -> str:
    """A fresh temporary name (64 random bits)."""
    return PREFIX + secrets.token_hex(8)


def sweep_stale(dir_fd: int) -> None:
    """Remove from the directory ``dir_fd`` the entries named like :data:`PATTERN` that are
    regular files or symlinks (never followed) last changed before :data:`STARTED_NS`.

    The change time (``st_ctime``) is used, not the mtime: extraction sets a temporary file's
    mtime to the archived one before naming it, and ``utime`` cannot set the change time back.
    Best effort: what cannot be listed, examined or removed is left as it is.
    """
    names: list[str] = []
    with suppress(OSError), os.scandir(dir_fd) as entries:
        names = [e.name for e in entries if PATTERN.fullmatch(e.name)]
    for name in names:
        with suppress(OSError):
            st = os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
            kind_ok = stat.S_ISREG(st.st_mode) or stat.S_ISLNK(st.st_mode)
            if kind_ok and st.st_ctime_ns < STARTED_NS:
                os.unlink(name, dir_fd=dir_fd)
