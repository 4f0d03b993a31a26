"""Member-name validation shared by writer, reader and extractor (spec/FORMAT.md §8)."""

from __future__ import annotations

import re

from nzarc.errors import UnsafePath
from nzarc.format.limits import MAX_COMPONENT_BYTES, MAX_LINK_BYTES, MAX_PATH_BYTES

__all__ = ["validate_member_name", "validate_link_target"]

_DRIVE = re.compile(r"^[A-Za-z]:")


def validate_member_name(name: str) -> str:
    """Return ``name`` unchanged if it is a safe relative '/'-separated name, else raise UnsafePath."""
    if not isinstance(name, str):
        raise UnsafePath(f"member name {name!r} is not a string")
    try:
        encoded = name.encode("utf-8")
    except UnicodeEncodeError:
        raise UnsafePath(f"member name {name!r} is not valid UTF-8") from None
    if not encoded:
        raise UnsafePath("empty member name")
    if len(encoded) > MAX_PATH_BYTES:
        raise UnsafePath(f"member name of {len(encoded)} bytes exceeds {MAX_PATH_BYTES}")
    if "\x00" in name:
        raise UnsafePath(f"member name {name!r} contains NUL")
    if "\\" in name:
        raise UnsafePath(f"member name {name!r} contains a backslash")
    if name.startswith("/"):
        raise UnsafePath(f"member name {name!r} is absolute")
    if _DRIVE.match(name):
        raise UnsafePath(f"member name {name!r} starts with a drive letter")
    for part in name.split("/"):
        if part == "":
            raise UnsafePath(f"member name {name!r} has an empty component")
        if part in (".", ".."):
            raise UnsafePath(f"member name {name!r} has a '{part}' component")
        if len(part.encode("utf-8")) > MAX_COMPONENT_BYTES:
            raise UnsafePath(
                f"member name {name!r} has a component over {MAX_COMPONENT_BYTES} bytes"
            )
    return name


def validate_link_target(target: str) -> str:
    """Return a symlink target if it is 1..MAX_LINK_BYTES UTF-8 bytes without NUL, else raise.

    Whether the target stays inside an extraction directory is the extractor's check.
    """
    if not isinstance(target, str):
        raise UnsafePath(f"symlink target {target!r} is not a string")
    try:
        n = len(target.encode("utf-8"))
    except UnicodeEncodeError:
        raise UnsafePath(f"symlink target {target!r} is not valid UTF-8") from None
    if n == 0 or n > MAX_LINK_BYTES:
        raise UnsafePath(f"symlink target length {n} is outside 1..{MAX_LINK_BYTES}")
    if "\x00" in target:
        raise UnsafePath("symlink target contains NUL")
    return target
