"""nzarc: encrypted archives with pluggable codecs, the strongest an exact integer language model.

Public API::

    nzarc.create(output, paths, ...)   write an archive of files/trees
    nzarc.open(source, ...)            read one: info, members, extract, test
    nzarc.ArchiveWriter / ArchiveReader  streaming classes over binary file objects

Errors are subclasses of :class:`nzarc.NzarcError` (see :mod:`nzarc.errors`).
"""

from __future__ import annotations

from nzarc.errors import (
    CodecError,
    DecryptionError,
    FormatError,
    IntegrityError,
    LimitExceeded,
    ModelMismatch,
    NzarcError,
    PluginError,
    UnsafePath,
    UnsupportedCodec,
    UnsupportedVersion,
)

__version__ = "0.1.0"

__all__ = [
    "CodecError",
    "DecryptionError",
    "FormatError",
    "IntegrityError",
    "LimitExceeded",
    "ModelMismatch",
    "NzarcError",
    "PluginError",
    "UnsafePath",
    "UnsupportedCodec",
    "UnsupportedVersion",
    "__version__",
]
