"""Archive members and their entry-start encoding (spec/FORMAT.md §6, §8)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from nzarc.errors import FormatError
from nzarc.format.layout import (
    MODE_MASK,
    SHA256_LEN,
    TYPE_DIR,
    TYPE_FILE,
    TYPE_SYMLINK,
    WIRE_TYPES,
    MemberType,
)
from nzarc.format.nameset import NameSet
from nzarc.format.paths import (
    text_from_wire,
    text_to_wire,
    validate_link_target,
    validate_member_name,
)

__all__ = ["Member", "Entry", "NameSet", "entry_to_wire", "entry_from_wire"]

_TO_WIRE = {v: k for k, v in WIRE_TYPES.items()}
_MTIME_MIN, _MTIME_MAX = -(2**63), 2**63 - 1


@dataclass(frozen=True, slots=True)
class Member:
    """One archive member.

    ``size`` and ``sha256`` are those of the verified content. While a member is being read
    from a pipe they are ``None`` until its data has been read completely (``sha256`` stays
    ``None`` for directories and symlinks; their ``size`` is 0).
    """

    name: str
    type: MemberType
    mode: int
    mtime_ns: int
    size: int | None
    sha256: bytes | None
    link_target: str | None = None

    @property
    def is_file(self) -> bool:
        return self.type == "file"


@dataclass(frozen=True, slots=True)
class Entry:
    """A member plus the logical offset where its data starts."""

    member: Member
    offset: int


def _need(cond: bool, message: str) -> None:
    if not cond:
        raise FormatError(message)


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def check_mode(mode: Any) -> int:
    _need(
        _is_int(mode) and 0 <= mode and mode & ~MODE_MASK == 0,
        f"entry mode {oct(mode) if _is_int(mode) else repr(mode)} has bits outside 0o1777",
    )
    return mode


def check_mtime(mtime: Any) -> int:
    _need(
        _is_int(mtime) and _MTIME_MIN <= mtime <= _MTIME_MAX, f"entry mtime {mtime!r} out of range"
    )
    return mtime


def entry_to_wire(member: Member, offset: int) -> dict[str, Any]:
    wire: dict[str, Any] = {
        "p": text_to_wire(member.name),
        "t": _TO_WIRE[member.type],
        "m": member.mode,
        "mt": member.mtime_ns,
        "o": offset,
    }
    if member.type == "symlink":
        assert member.link_target is not None
        wire["l"] = text_to_wire(member.link_target, "symlink target")
    return wire


def entry_from_wire(wire: Any) -> Entry:
    """Validate an entry-start map; the member's size and sha256 are left None."""
    _need(isinstance(wire, dict), "entry must be a map")
    kind = wire.get("t")
    _need(isinstance(kind, str) and kind in WIRE_TYPES, f"unknown entry type {kind!r}")
    keys = {"p", "t", "m", "mt", "o"} | ({"l"} if kind == TYPE_SYMLINK else set())
    _need(set(wire) == keys, f"entry fields must be exactly {sorted(keys)}")
    name = validate_member_name(text_from_wire(wire["p"]))
    offset = wire["o"]
    _need(_is_int(offset) and offset >= 0, "entry offset must be a non-negative int")
    link = (
        validate_link_target(text_from_wire(wire["l"], "symlink target"))
        if kind == TYPE_SYMLINK
        else None
    )
    member = Member(
        name=name,
        type=WIRE_TYPES[kind],
        mode=check_mode(wire["m"]),
        mtime_ns=check_mtime(wire["mt"]),
        size=None if kind == TYPE_FILE else 0,
        sha256=None,
        link_target=link,
    )
    return Entry(member, offset)


def finished(member: Member, size: int, sha256: bytes) -> Member:
    """Return ``member`` with its verified size and digest (None for non-files)."""
    if member.type != "file":
        _need(
            size == 0 and sha256 == bytes(SHA256_LEN),
            f"{member.type} {member.name!r} must have size 0 and a zero digest",
        )
        return member
    return Member(member.name, member.type, member.mode, member.mtime_ns, size, sha256, None)


# re-exported for modules that build members
TYPES = (TYPE_FILE, TYPE_DIR, TYPE_SYMLINK)
