"""Byte strings as sets of symlink, directory and file members, for the ``symlinks`` target.

Each member is a head byte ``h``: kind ``h & 3`` (0, 1: symlink; 2: directory; 3: file), name
``NAMES[(h >> 2) & 7]``; a symlink then has a byte ``t`` (``t & 7`` target tokens, an absolute
target when ``t & 0x80``) and one byte per token (``TOKENS[b & 7]``), joined with ``/``. At most
:data:`MAX_MEMBERS` members; trailing bytes are ignored. Names may repeat or lie below a
symlink or a file: the extractor must cope with what a reader would refuse.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

NAMES = ["a", "x", "y", "a/x", "a/y", "x/a", "y/y", "a/a/x"]
TOKENS = [".", "..", "a", "x", "y", "", "..", "z"]
MAX_MEMBERS = 12
MTIME = 1_600_000_000_000_000_000


@dataclass
class Member:
    name: str
    type: str
    mode: int
    mtime_ns: int
    size: int
    sha256: bytes | None
    link_target: str | None


@dataclass
class MemberData:
    member: Member
    data: bytes

    def chunks(self) -> Iterator[bytes]:
        if self.data:
            yield self.data


class ShapeReader:
    """Yields members as :meth:`nzarc.ArchiveReader.iter_members` does (sizes and digests right)."""

    def __init__(self, members: list[tuple[str, str, str | None]]) -> None:
        self.items = []
        for kind, name, target in members:
            if kind == "l":
                m = Member(name, "symlink", 0o777, MTIME, 0, None, target)
                self.items.append(MemberData(m, b""))
            elif kind == "d":
                self.items.append(MemberData(Member(name, "dir", 0o755, MTIME, 0, None, None), b""))
            else:
                data = name.encode()
                m = Member(name, "file", 0o644, MTIME, len(data), hashlib.sha256(data).digest(), None)
                self.items.append(MemberData(m, data))

    def iter_members(self, names: Any = None, **_: Any) -> Iterator[MemberData]:
        yield from self.items


def decode(data: bytes) -> list[tuple[str, str, str | None]]:
    """``[(kind, name, target)]``: kind ``l``, ``d`` or ``f``; target only for ``l``."""
    out: list[tuple[str, str, str | None]] = []
    i = 0
    while i < len(data) and len(out) < MAX_MEMBERS:
        h = data[i]
        i += 1
        name = NAMES[(h >> 2) & 7]
        kind = h & 3
        if kind == 2:
            out.append(("d", name, None))
        elif kind == 3:
            out.append(("f", name, None))
        else:
            t = data[i] if i < len(data) else 0
            i += 1
            tokens = [TOKENS[b & 7] for b in data[i : i + (t & 7)]]
            i += t & 7
            target = ("/" if t & 0x80 else "") + "/".join(tokens)
            out.append(("l", name, target or "."))
    return out


def encode(members: list[tuple[str, str, str | None]]) -> bytes:
    """The inverse of :func:`decode` for members it can express."""
    out = bytearray()
    for kind, name, target in members:
        n = NAMES.index(name) << 2
        if kind == "d":
            out.append(n | 2)
        elif kind == "f":
            out.append(n | 3)
        else:
            assert target is not None
            absolute = target.startswith("/")
            tokens = target.lstrip("/").split("/")
            out += bytes([n, len(tokens) | (0x80 if absolute else 0)])
            out += bytes(TOKENS.index(tok) for tok in tokens)
    return bytes(out)


#: Seeds: the reported chains and a few shapes that must extract.
SEED_SHAPES: list[list[tuple[str, str, str | None]]] = [
    [("l", "y", "x/../z"), ("l", "x", ".")],
    [("l", "y", "x/x/x/../../../z"), ("l", "x", ".")],
    [("l", "a/x", ".."), ("l", "y", "a/x/../..")],
    [("d", "a", None), ("f", "a/x", None), ("l", "y", "a/x"), ("l", "x", "y")],
    [("l", "a", "x/a"), ("d", "x", None), ("l", "x/a", "..")],
    [("l", "x", "x")],
]


def seeds() -> Iterator[bytes]:
    for shape in SEED_SHAPES:
        yield encode(shape)
