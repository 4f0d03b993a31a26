"""Archive members and their entry-start encoding (spec/FORMAT.md §6, §8)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from nzarc.errors import FormatError, LimitExceeded, UnsafePath
from nzarc.format import limits
from nzarc.format.layout import MODE_MASK, SHA256_LEN, TYPE_DIR, TYPE_FILE, TYPE_SYMLINK, WIRE_TYPES
from nzarc.format.paths import validate_link_target, validate_member_name

__all__ = ["Member", "Entry", "NameSet", "entry_to_wire", "entry_from_wire"]

MemberType = Literal["file", "dir", "symlink"]
_TO_WIRE = {v: k for k, v in WIRE_TYPES.items()}
_MTIME_MIN, _MTIME_MAX = -(2**63), 2**63 - 1


@dataclass(frozen=True)
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


@dataclass(frozen=True)
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
        "p": member.name,
        "t": _TO_WIRE[member.type],
        "m": member.mode,
        "mt": member.mtime_ns,
        "o": offset,
    }
    if member.type == "symlink":
        wire["l"] = member.link_target
    return wire


def entry_from_wire(wire: Any) -> Entry:
    """Validate an entry-start map; the member's size and sha256 are left None."""
    _need(isinstance(wire, dict), "entry must be a map")
    kind = wire.get("t")
    _need(isinstance(kind, str) and kind in WIRE_TYPES, f"unknown entry type {kind!r}")
    keys = {"p", "t", "m", "mt", "o"} | ({"l"} if kind == TYPE_SYMLINK else set())
    _need(set(wire) == keys, f"entry fields must be exactly {sorted(keys)}")
    name = validate_member_name(wire["p"])
    offset = wire["o"]
    _need(_is_int(offset) and offset >= 0, "entry offset must be a non-negative int")
    link = validate_link_target(wire["l"]) if kind == TYPE_SYMLINK else None
    member = Member(
        name=name,
        type=WIRE_TYPES[kind],
        mode=check_mode(wire["m"]),  # type: ignore[arg-type]
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


class NameSet:
    """Tracks member names: rejects duplicates and members below a file or symlink.

    Names are kept as a trie of components (one node per distinct prefix, shared between
    siblings), so adding a name costs time linear in its length, and the number of nodes is
    capped at ``2 * limits.MAX_ENTRIES`` (LimitExceeded): deep, unshared names cannot make a
    reader spend memory or time quadratic in the path length.
    """

    def __init__(self) -> None:
        self._nodes: dict[tuple[int, str], int] = {}  # (parent node, component) -> node
        self._kinds: dict[int, str] = {}  # node -> kind, for nodes that are members
        self._cap = 2 * limits.MAX_ENTRIES

    def _child(self, node: int, part: str) -> tuple[int, bool]:
        child = self._nodes.get((node, part))
        if child is not None:
            return child, False
        if len(self._nodes) >= self._cap:
            raise LimitExceeded(f"member names hold more than {self._cap} distinct path prefixes")
        child = len(self._nodes) + 1  # node 0 is the root
        self._nodes[(node, part)] = child
        return child, True

    def add(self, name: str, kind: str) -> None:
        parts = name.split("/")
        node = 0
        for i, part in enumerate(parts[:-1]):
            node, _ = self._child(node, part)
            parent_kind = self._kinds.get(node, "dir")
            if parent_kind != "dir":
                parent = "/".join(parts[: i + 1])
                raise UnsafePath(f"member {name!r} lies below the {parent_kind} {parent!r}")
        node, new = self._child(node, parts[-1])
        if node in self._kinds:
            raise UnsafePath(f"duplicate member name {name!r}")
        if kind != "dir" and not new:  # the node exists only as the parent of other members
            raise UnsafePath(f"{kind} {name!r} is also the parent of another member")
        self._kinds[node] = kind


# re-exported for modules that build members
TYPES = (TYPE_FILE, TYPE_DIR, TYPE_SYMLINK)
