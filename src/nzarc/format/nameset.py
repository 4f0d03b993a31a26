"""Compact bookkeeping of member names (spec/FORMAT.md §8): duplicates and members below a
file or symlink, in a fixed number of bytes per name prefix."""

from __future__ import annotations

import hashlib
import os
import struct
from array import array

from nzarc.errors import LimitExceeded, UnsafePath
from nzarc.format import limits

__all__ = ["NameSet", "BYTES_PER_PREFIX"]

#: Upper bound on the memory one distinct name prefix costs a :class:`NameSet` (16-byte
#: slots, a table kept between a quarter and half full), whatever the length of the name.
BYTES_PER_PREFIX = 64

_PREFIX, _DIR, _FILE, _SYMLINK = 1, 2, 3, 4  # node states, kept in the low 3 bits of a slot
_KINDS = {"dir": _DIR, "file": _FILE, "symlink": _SYMLINK}
_NAMES = {_FILE: "file", _SYMLINK: "symlink"}
_TOP = 1 << 63  # set in every used slot's first word, so 0 marks an empty slot
_TWO_WORDS = struct.Struct("<QQ")
_MIN_SLOTS = 1 << 10


def _parts(name: str | bytes) -> list[bytes]:
    raw = name if isinstance(name, bytes) else name.encode("utf-8", "surrogateescape")
    return raw.split(b"/")


def _shown(parts: list[bytes]) -> str:
    return b"/".join(parts).decode("utf-8", "surrogateescape")


class NameSet:
    """Tracks member names: rejects duplicates and members below a file or symlink.

    Each distinct name prefix (every member and every directory above one) is one node,
    identified by a 128-bit BLAKE2b digest of the prefix, keyed with a secret drawn for this
    set (so an archive cannot aim at a collision). The nodes live in an open-addressing table
    of 64-bit words, two per slot, so a node costs at most ``BYTES_PER_PREFIX`` bytes however
    long the name, and adding a name costs time linear in its length. Two different prefixes
    with equal digests could only make a valid archive be refused (as a false duplicate or a
    false parent), never let a bad name through; at the cap the chance is below 2^-70.

    The number of nodes is capped at ``2 * limits.MAX_ENTRIES`` (LimitExceeded).
    """

    def __init__(self) -> None:
        self._key = hashlib.blake2b(digest_size=16, key=os.urandom(16))
        self._slots = _MIN_SLOTS
        self._table = array("Q", [0]) * (2 * self._slots)
        self._count = 0
        self._cap = 2 * limits.MAX_ENTRIES

    def __len__(self) -> int:
        """The number of distinct name prefixes recorded."""
        return self._count

    def _find(self, hi: int, lo: int) -> tuple[int, int]:
        """(slot, state) of the node (hi, lo); state 0 and a free slot when it is absent."""
        table, mask = self._table, self._slots - 1
        i = hi & mask
        want = lo >> 3
        while True:
            word = table[2 * i]
            if word == 0:
                return i, 0
            second = table[2 * i + 1]
            if word == hi and second >> 3 == want:
                return i, second & 7
            i = (i + 1) & mask

    def _insert(self, slot: int, hi: int, lo: int, state: int) -> None:
        if self._count >= self._cap:
            raise LimitExceeded(f"member names hold more than {self._cap} distinct path prefixes")
        self._table[2 * slot] = hi
        self._table[2 * slot + 1] = (lo & ~7) | state
        self._count += 1
        if 2 * self._count > self._slots:
            self._grow()

    def _grow(self) -> None:
        old = self._table
        self._slots *= 2
        self._table = array("Q", [0]) * (2 * self._slots)
        table, mask = self._table, self._slots - 1
        for j in range(0, len(old), 2):
            hi = old[j]
            if hi:
                i = hi & mask
                while table[2 * i]:
                    i = (i + 1) & mask
                table[2 * i] = hi
                table[2 * i + 1] = old[j + 1]
        del old

    def add(self, name: str | bytes, kind: str) -> None:
        """Record member ``name`` of ``kind`` ("file", "dir" or "symlink"); raise UnsafePath
        if it repeats a name, lies below a file or symlink, or (as a file or symlink) is the
        parent of a member already recorded."""
        parts = _parts(name)
        h = self._key.copy()
        for i, part in enumerate(parts):
            h.update(part)
            hi, lo = _TWO_WORDS.unpack(h.copy().digest())
            hi |= _TOP
            slot, state = self._find(hi, lo)
            if i < len(parts) - 1:
                if state in _NAMES:
                    parent = _shown(parts[: i + 1])
                    raise UnsafePath(f"member {name!r} lies below the {_NAMES[state]} {parent!r}")
                if state == 0:
                    self._insert(slot, hi, lo, _PREFIX)
                h.update(b"/")
                continue
            if state in (_DIR, _FILE, _SYMLINK):
                raise UnsafePath(f"duplicate member name {name!r}")
            if state == _PREFIX:  # the node exists only as the parent of other members
                if kind != "dir":
                    raise UnsafePath(f"{kind} {name!r} is also the parent of another member")
                self._table[2 * slot + 1] = (self._table[2 * slot + 1] & ~7) | _DIR
            else:
                self._insert(slot, hi, lo, _KINDS[kind])
