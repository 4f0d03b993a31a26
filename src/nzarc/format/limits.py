"""Every cap nzarc enforces when reading (and respects when writing). spec/FORMAT.md §11."""

from __future__ import annotations

from nzarc.errors import LimitExceeded

__all__ = [
    "MAX_HEADER_BYTES",
    "MAX_STANZAS",
    "MAX_CODEC_SLOTS",
    "ARGON2_MAX_T",
    "ARGON2_MAX_P",
    "ARGON2_MAX_M_KIB",
    "MIN_CHUNK",
    "MAX_CHUNK",
    "MIN_SEGMENT",
    "MAX_SEGMENT",
    "MAX_ENTRY_BYTES",
    "MAX_INDEX_BYTES",
    "MAX_ENTRIES",
    "MAX_CHUNKS",
    "MAX_PATH_BYTES",
    "MAX_COMPONENT_BYTES",
    "MAX_LINK_BYTES",
    "check",
]

MAX_HEADER_BYTES = 1 << 20
MAX_STANZAS = 64
MAX_CODEC_SLOTS = 64
ARGON2_MAX_T = 16
ARGON2_MAX_P = 16
ARGON2_MAX_M_KIB = 2 << 20  # 2 GiB
MIN_CHUNK = 256
MAX_CHUNK = 16 << 20
MIN_SEGMENT = 64
MAX_SEGMENT = 1 << 20
MAX_ENTRY_BYTES = 64 << 10
MAX_INDEX_BYTES = 256 << 20
MAX_ENTRIES = 4_000_000
MAX_CHUNKS = 1 << 24
MAX_PATH_BYTES = 4096
MAX_COMPONENT_BYTES = 255
MAX_LINK_BYTES = 4096


def check(what: str, value: int, cap: int, *, low: int = 0) -> int:
    """Return ``value`` if ``low <= value <= cap``, else raise LimitExceeded naming ``what``."""
    if value > cap:
        raise LimitExceeded(f"{what} is {value}, above the limit of {cap}")
    if value < low:
        raise LimitExceeded(f"{what} is {value}, below the minimum of {low}")
    return value
