"""How archive names meet this host's file names.

Archive names are byte strings, held in the API as ``str`` with the bytes that are not
UTF-8 escaped as lone surrogates (:mod:`nzarc.format.paths`). Python hands such a
``str`` to the operating system through its file-system encoding, so the bytes on disk
are the archive's bytes exactly when that encoding is UTF-8 with ``surrogateescape``,
which it is on POSIX in every UTF-8 locale and in the C/POSIX locale (PEP 538, PEP 540).
Under another encoding (a Latin-1 locale, say) a name that is not ASCII would change
bytes on its way, so :func:`check_host_encoding` refuses it rather than store or restore
the wrong name; ASCII names mean the same bytes under every encoding Python supports.

A backslash is an ordinary byte in POSIX file names; where the host treats it as a path
separator (:data:`BACKSLASH_SEPARATES`) the extractor refuses it.
"""

from __future__ import annotations

import os
import sys

from nzarc.errors import UnsafePath

__all__ = ["BACKSLASH_SEPARATES", "EXACT_NAMES", "check_host_encoding"]

#: True where ``\\`` separates path components (Windows), so a name holding one is refused.
BACKSLASH_SEPARATES = "\\" in (os.sep, os.altsep)

#: True when Python maps file names to bytes as archive names are defined.
EXACT_NAMES = (
    sys.getfilesystemencoding().lower().replace("-", "").replace("_", "") == "utf8"
    and sys.getfilesystemencodeerrors() == "surrogateescape"
)


def check_host_encoding(name: str, *, exact: bool = EXACT_NAMES) -> str:
    """Return ``name`` if this host stores it as exactly its archive bytes, else raise.

    ``UnsafePath`` names the encoding and the fix (``PYTHONUTF8=1``).
    """
    if exact or name.isascii():
        return name
    raise UnsafePath(
        f"name {name!r} is not ASCII and the file-system encoding is "
        f"{sys.getfilesystemencoding()}/{sys.getfilesystemencodeerrors()}, so its bytes "
        "would change; run with PYTHONUTF8=1"
    )
