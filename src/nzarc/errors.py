"""The one error hierarchy of nzarc.

Every failure caused by input (an archive, a key, a codec stream, a model file)
raises a subclass of :class:`NzarcError`. Each carries a message a user can act
on, and optionally a ``hint`` (one line, shown by the CLI as ``hint: ...``).

Programming errors (calling an API with wrong argument types) raise the usual
``TypeError``/``ValueError``; they are never caused by archive bytes.

Hierarchy::

    NzarcError
    ├── FormatError            malformed bytes: bad magic, non-canonical msgpack, bad field
    │   ├── UnsupportedVersion a format version this build cannot read
    │   └── UnsafePath         a member name or link target that could escape the target
    ├── IntegrityError         authenticated data does not verify: MAC/AEAD failure,
    │   │                      truncation, reordering, trailing bytes, SHA-256 mismatch
    │   └── CodecError         a codec stream that does not decode to exactly raw_len bytes
    ├── DecryptionError        no recipient stanza opens with the given key(s) or passphrase
    ├── KeyFileError           a passphrase, recipients or identity file that cannot be read
    │                          or does not hold what it should (an ssh key, a malformed line)
    ├── UnsupportedCodec       a codec id/version that is not installed
    │   └── CodecRefused       a codec the reader's DecodePolicy does not allow (--codecs)
    ├── ModelMismatch          a pinned model that is missing or differs from the installed one
    ├── LimitExceeded          a length, count or cost above a documented cap
    ├── PluginError            a codec plugin that fails to load (strict mode) or conflicts
    └── ResourceError          the machine lacks what the work needs (memory, address space)
"""

from __future__ import annotations

__all__ = [
    "NzarcError",
    "FormatError",
    "UnsupportedVersion",
    "UnsafePath",
    "IntegrityError",
    "CodecError",
    "DecryptionError",
    "KeyFileError",
    "UnsupportedCodec",
    "CodecRefused",
    "ModelMismatch",
    "LimitExceeded",
    "PluginError",
    "ResourceError",
]


class NzarcError(Exception):
    """Base class of every error nzarc raises because of its input.

    ``message`` is one line. ``hint``, when set, is one line telling the user
    what to do about it.
    """

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return self.message


class FormatError(NzarcError):
    """The bytes are not a well-formed nzarc archive (or stream, or model file)."""


class UnsupportedVersion(FormatError):
    """A format version this implementation does not read."""


class UnsafePath(FormatError):
    """A member name or symlink target that is absolute, contains ``..`` or NUL, starts
    with a drive letter, is no byte string (spec/FORMAT.md §8), holds a backslash where
    that separates paths, or would resolve outside the target directory."""


class IntegrityError(NzarcError):
    """Authenticated content failed to verify, or was truncated, reordered,
    spliced or extended."""


class CodecError(IntegrityError):
    """A codec stream did not decode to exactly the authenticated raw length."""


class DecryptionError(NzarcError):
    """No recipient stanza could be opened with the supplied passphrase or identities."""


class KeyFileError(NzarcError):
    """A passphrase, recipients or identity file is unreadable, too large, not UTF-8,
    empty, or has a line that is not a key of the expected kind."""


class UnsupportedCodec(NzarcError):
    """The archive needs a codec id/version that is not installed."""


class CodecRefused(UnsupportedCodec):
    """The archive needs a codec that the reader's :class:`~nzarc.policy.DecodePolicy`
    does not allow (it may well be installed)."""


class ModelMismatch(NzarcError):
    """A model pinned by the archive is missing locally or has different hashes."""


class LimitExceeded(NzarcError):
    """A declared length, count or cost is above the documented cap."""


class PluginError(NzarcError):
    """A codec plugin failed to load, or two plugins provide the same codec id."""


class ResourceError(NzarcError):
    """The process cannot get the memory (or address space) the work needs: a limit such as
    ``ulimit -v`` is below what the neural runtime documents, or an allocation failed; or
    the device the work was asked to run on (CUDA) is not available."""


class SourceChanged(NzarcError):
    """An input file changed (size, mtime or ctime) while it was being archived, so its
    member may hold a mixture of old and new bytes; raised only by a strict walk."""
