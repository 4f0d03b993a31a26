"""The one error hierarchy of nzarc.

Every failure caused by input (an archive, a key, a codec stream, a model file)
raises a subclass of :class:`NzarcError`. Each carries a message a user can act
on, and optionally a ``hint`` (one line, shown by the CLI as ``hint: ...``).

A caller that asks for something impossible (an option out of range, two options that
exclude each other, no passphrase to be had) gets a :class:`UsageError`; the command line
reports it with exit status 2. It is also a ``ValueError``, so code that catches argument
errors the usual way still does. Programming errors (calling an API with wrong argument
types) raise the usual ``TypeError``; they are never caused by archive bytes.

Hierarchy::

    NzarcError
    ├── FormatError            malformed bytes: bad magic, non-canonical msgpack, bad field
    │   ├── UnsupportedVersion a format version this build cannot read
    │   └── UnsafePath         a member name or link target that could escape the target
    ├── IntegrityError         authenticated data does not verify: MAC/AEAD failure,
    │   │                      truncation, reordering, trailing bytes, SHA-256 mismatch
    │   └── CodecError         a codec stream that does not decode to exactly raw_len bytes
    │       ├── CodecParamsError  codec params (from a header, or given) that the codec refuses
    │       └── EncodeDeclined    a codec declines to encode a chunk (the writer falls back)
    ├── DecryptionError        no recipient stanza opens with the given key(s) or passphrase
    ├── KeyFileError           a passphrase, recipients or identity file that cannot be read
    │                          or does not hold what it should (an ssh key, a malformed line)
    ├── UnsupportedCodec       a codec id/version that is not installed
    │   └── CodecRefused       a codec the reader's DecodePolicy does not allow (--codecs)
    ├── ModelMismatch          a pinned model that is missing or differs from the installed one
    ├── LimitExceeded          a length, count or cost above a documented cap
    ├── PluginError            a codec plugin that fails to load (strict mode) or conflicts
    ├── ResourceError          the machine lacks what the work needs (memory, address space)
    ├── SourceChanged          an input file changed while it was read (strict walk only)
    ├── ClusterError           the cluster doing the codec work is unreachable or lost, or a
    │                          worker cannot run it (no pinned model)
    └── UsageError             the caller asked for something impossible (also a ValueError)
        ├── CodecOptionError   a codec option (a level) that does not suit the codec
        └── PassphraseInputError  no passphrase could be had as asked (empty, differing, none)
"""

from __future__ import annotations

__all__ = [
    "NzarcError",
    "FormatError",
    "UnsupportedVersion",
    "UnsafePath",
    "IntegrityError",
    "CodecError",
    "CodecParamsError",
    "EncodeDeclined",
    "DecryptionError",
    "KeyFileError",
    "UnsupportedCodec",
    "CodecRefused",
    "ModelMismatch",
    "LimitExceeded",
    "PluginError",
    "ResourceError",
    "SourceChanged",
    "UsageError",
    "CodecOptionError",
    "PassphraseInputError",
    "ClusterError",
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
    """A codec stream did not decode to exactly the authenticated raw length (a corrupt
    stream). Its subclasses tell the other codec failures apart."""


class CodecParamsError(CodecError):
    """Codec params that the codec refuses: not a map, an unknown key, a wrong type or a
    value out of range, or params that do not suit the model they name."""


class EncodeDeclined(CodecError):
    """A codec declines to encode one chunk (data it does not suit, an output it cannot
    vouch for); the writer then tries the next candidate or stores the chunk."""


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


class UsageError(NzarcError, ValueError):
    """The caller asked for something impossible: an argument out of range, two options that
    cannot be combined, a request that the input cannot serve. The command line maps it to
    exit status 2. It is a ``ValueError`` too, for callers that catch argument errors so."""


class CodecOptionError(UsageError):
    """A codec option the caller gave does not suit the codec: a level for a codec that has
    none, or a level outside the codec's range. ``hint`` names the codec and its levels."""


class PassphraseInputError(UsageError):
    """A passphrase could not be obtained as the user asked: an empty ``NZARC_PASSPHRASE``,
    an empty passphrase typed, two prompts that differ, no input. A file that fails is a
    :class:`KeyFileError` instead."""


class ClusterError(NzarcError):
    """The cluster that was to do the codec work cannot: its scheduler is unreachable or
    was lost, or a worker cannot run the task (e.g. it lacks the pinned model)."""
