"""Which permission bits extraction restores: all safe ones, or those the umask allows (as tar)."""

from __future__ import annotations

import os

__all__ = ["SAFE_MODE_BITS", "permission_mask", "process_umask"]

#: The permission bits restored on extraction (set-uid and set-gid are dropped).
SAFE_MODE_BITS = 0o1777


def permission_mask(same_permissions: bool | None) -> int:
    """The permission bits extraction keeps: :data:`SAFE_MODE_BITS` with ``same_permissions``
    (``None``: only when the effective uid is 0, as ``tar`` decides), else ``0o777`` less the
    process umask (no sticky bit)."""
    if same_permissions is None:
        geteuid = getattr(os, "geteuid", None)
        same_permissions = geteuid is not None and geteuid() == 0
    if same_permissions:
        return SAFE_MODE_BITS
    return 0o777 & ~process_umask()


def process_umask() -> int:
    """The process umask: read from /proc on Linux (nothing changes), else set and restored
    at once."""
    try:
        with open("/proc/self/status", encoding="ascii", errors="replace") as fh:
            for line in fh:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    old = os.umask(0o077)
    os.umask(old)
    return old
