"""Member names and link targets: their bytes, their wire form, their rules (spec/FORMAT.md §8).

A name or link target is a byte string. On the wire it is a msgpack *str* when its bytes
are valid UTF-8 and a msgpack *bin* otherwise, so every byte string has exactly one
encoding (a bin that is valid UTF-8 is a ``FormatError``). In the Python API it is a
``str``: bytes that are not UTF-8 appear as lone surrogates U+DC80-U+DCFF, the
``surrogateescape`` mapping that ``os.fsdecode`` uses on POSIX, so a name read from
``os.scandir`` goes into an archive byte for byte and comes back out the same. A ``str``
that this mapping cannot produce (another surrogate, or escaped bytes that together form
valid UTF-8) is not a name (``UnsafePath``).
"""

from __future__ import annotations

import re

from nzarc.errors import FormatError, UnsafePath
from nzarc.format.limits import MAX_COMPONENT_BYTES, MAX_LINK_BYTES, MAX_PATH_BYTES

__all__ = [
    "validate_member_name",
    "validate_link_target",
    "text_bytes",
    "is_utf8",
    "text_to_wire",
    "text_from_wire",
    "trusted_text",
]

_DRIVE = re.compile(r"^[A-Za-z]:")


def text_bytes(text: str, what: str = "member name") -> bytes:
    """The exact bytes of an API name or link target (``UnsafePath`` if ``text`` is not one)."""
    if not isinstance(text, str):
        raise UnsafePath(f"{what} {text!r} is not a string")
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError:
        pass
    try:
        raw = text.encode("utf-8", "surrogateescape")
    except UnicodeEncodeError:
        raise UnsafePath(f"{what} {text!r} holds a surrogate that stands for no byte") from None
    if raw.decode("utf-8", "surrogateescape") != text:
        raise UnsafePath(f"{what} {text!r} escapes bytes that form valid UTF-8")
    return raw


def text_to_wire(text: str, what: str = "member name") -> str | bytes:
    """The wire value of a name or link target: ``str`` if its bytes are UTF-8, else ``bytes``."""
    raw = text_bytes(text, what)
    return text if is_utf8(text) else raw


def is_utf8(text: str) -> bool:
    """True when the name or link target ``text`` is UTF-8 text (its wire form is a str)."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def text_from_wire(value: object, what: str = "member name") -> str:
    """The API form of a wire name or link target; a bin that is valid UTF-8 is a FormatError."""
    if isinstance(value, str):
        return value
    if isinstance(value, bytes):
        try:
            value.decode("utf-8")
        except UnicodeDecodeError:
            return value.decode("utf-8", "surrogateescape")
        raise FormatError(f"{what} {value!r} is valid UTF-8 but encoded as bin, not str")
    raise UnsafePath(f"{what} {value!r} is not a string")


def trusted_text(value: str | bytes) -> str:
    """:func:`text_from_wire` for a value already validated (an index row read again)."""
    return value if isinstance(value, str) else value.decode("utf-8", "surrogateescape")


def validate_member_name(name: str) -> str:
    """Return ``name`` unchanged if it is a safe relative '/'-separated name, else raise UnsafePath.

    The rules hold for the name's bytes (:func:`text_bytes`). A backslash is an ordinary
    byte here; the extractor refuses it where the host treats it as a separator.
    """
    encoded = text_bytes(name)
    if not encoded:
        raise UnsafePath("empty member name")
    if len(encoded) > MAX_PATH_BYTES:
        raise UnsafePath(f"member name of {len(encoded)} bytes exceeds {MAX_PATH_BYTES}")
    if b"\x00" in encoded:
        raise UnsafePath(f"member name {name!r} contains NUL")
    if encoded.startswith(b"/"):
        raise UnsafePath(f"member name {name!r} is absolute")
    if _DRIVE.match(name):
        raise UnsafePath(f"member name {name!r} starts with a drive letter")
    for part in encoded.split(b"/"):
        if part == b"":
            raise UnsafePath(f"member name {name!r} has an empty component")
        if part in (b".", b".."):
            raise UnsafePath(f"member name {name!r} has a '{part.decode()}' component")
        if len(part) > MAX_COMPONENT_BYTES:
            raise UnsafePath(
                f"member name {name!r} has a component over {MAX_COMPONENT_BYTES} bytes"
            )
    return name


def validate_link_target(target: str) -> str:
    """Return a symlink target if it is 1..MAX_LINK_BYTES bytes without NUL, else raise.

    Whether the target stays inside an extraction directory is the extractor's check.
    """
    n = len(encoded := text_bytes(target, "symlink target"))
    if n == 0 or n > MAX_LINK_BYTES:
        raise UnsafePath(f"symlink target length {n} is outside 1..{MAX_LINK_BYTES}")
    if b"\x00" in encoded:
        raise UnsafePath("symlink target contains NUL")
    return target
