"""Values the writer and the neural runtime accept for their options, for callers that offer
them as choices (the command line): AEAD suites, the chunk size's default and bounds, devices.

Each value is the format's or the runtime's own (:mod:`nzarc.format.layout`,
:mod:`nzarc.format.limits`, :mod:`nzarc.codecs.context`), re-exported here so that a caller
depends on this module only.
"""

from __future__ import annotations

from nzarc.codecs.context import DEVICES
from nzarc.format.layout import DEFAULT_CHUNK, SUITE_AESGCM, SUITE_CHACHA
from nzarc.format.limits import MAX_CHUNK, MIN_CHUNK

__all__ = [
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
