"""nzarc: encrypted archives with pluggable codecs, the strongest an exact integer language model.

Public API::

    nzarc.create(output, paths, ...)   write an archive of files/trees
    nzarc.open(source, ...)            read one: info, members, extract, test
    nzarc.ArchiveWriter / ArchiveReader  streaming classes over binary file objects

Errors are subclasses of :class:`nzarc.NzarcError` (see :mod:`nzarc.errors`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from nzarc.errors import (
    CodecError,
    CodecParamsError,
    CodecRefused,
    DecryptionError,
    EncodeDeclined,
    FormatError,
    IntegrityError,
    LimitExceeded,
    ModelMismatch,
    NzarcError,
    PluginError,
    ResourceError,
    UnsafePath,
    UnsupportedCodec,
    UnsupportedVersion,
    UsageError,
)

__version__ = "0.1.0"

if TYPE_CHECKING:
    from nzarc.api import create
    from nzarc.api import open_archive as open
    from nzarc.codecs.context import CodecContext
    from nzarc.format.member import Member
    from nzarc.options import WriterOptions
    from nzarc.pipeline import ProgressEvent
    from nzarc.policy import DecodePolicy
    from nzarc.reader import ArchiveInfo, ArchiveReader, MemberData, TestReport
    from nzarc.writer import ArchiveWriter, WriteStats

# The archive API is imported on first use, so ``import nzarc`` stays cheap.
_LAZY = {
    "create": ("nzarc.api", "create"),
    "open": ("nzarc.api", "open_archive"),
    "ArchiveWriter": ("nzarc.writer", "ArchiveWriter"),
    "ArchiveReader": ("nzarc.reader", "ArchiveReader"),
    "ArchiveInfo": ("nzarc.reader", "ArchiveInfo"),
    "MemberData": ("nzarc.reader", "MemberData"),
    "TestReport": ("nzarc.reader", "TestReport"),
    "WriteStats": ("nzarc.writer", "WriteStats"),
    "WriterOptions": ("nzarc.options", "WriterOptions"),
    "Member": ("nzarc.format.member", "Member"),
    "ProgressEvent": ("nzarc.events", "ProgressEvent"),
    "DecodePolicy": ("nzarc.policy", "DecodePolicy"),
    "CodecContext": ("nzarc.codecs.context", "CodecContext"),
}


def __getattr__(name: str) -> object:
    if name in _LAZY:
        import importlib

        module, attr = _LAZY[name]
        value = getattr(importlib.import_module(module), attr)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'nzarc' has no attribute {name!r}")

__all__ = [
    "ArchiveInfo",
    "ArchiveReader",
    "ArchiveWriter",
    "CodecContext",
    "DecodePolicy",
    "Member",
    "MemberData",
    "ProgressEvent",
    "TestReport",
    "WriteStats",
    "WriterOptions",
    "create",
    "open",
    "CodecError",
    "CodecParamsError",
    "CodecRefused",
    "DecryptionError",
    "EncodeDeclined",
    "FormatError",
    "IntegrityError",
    "LimitExceeded",
    "ModelMismatch",
    "NzarcError",
    "PluginError",
    "ResourceError",
    "UnsafePath",
    "UnsupportedCodec",
    "UnsupportedVersion",
    "UsageError",
    "__version__",
]
