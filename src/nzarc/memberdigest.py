"""The SHA-256 check of a file member's bytes, and who performs it.

:class:`MemberDigest` is the one place where a member's bytes are hashed and compared with
its authenticated digest; a mismatch is :class:`~nzarc.errors.IntegrityError` with the
message ``member 'NAME' fails its SHA-256 check``.

:class:`DigestDeferring` is the contract of a member source that can leave that check to
its caller: ``iter_members(names, verify_digests=False)`` still verifies everything else
(AEAD, frame structure, sizes) and gives each member its authenticated ``sha256`` once its
``chunks()`` iterator has ended; the caller must then check every file member's bytes with
a :class:`MemberDigest` before trusting them.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Collection, Iterator
from typing import TYPE_CHECKING

from nzarc.errors import IntegrityError
from nzarc.workqueue import HashPool, OrderedHasher

if TYPE_CHECKING:
    from nzarc.extract import MemberStream

__all__ = ["MemberDigest", "DigestDeferring"]


class MemberDigest:
    """The SHA-256 of one member's bytes, fed in order. With a ``pool`` the large pieces are
    hashed on its thread (:class:`~nzarc.workqueue.OrderedHasher`); pieces must not change
    until :meth:`check` has returned."""

    __slots__ = ("_hasher",)

    def __init__(self, pool: HashPool | None = None) -> None:
        self._hasher = OrderedHasher(pool)

    def update(self, piece: bytes) -> None:
        self._hasher.update(piece)

    def check(self, name: str, expected: bytes | None) -> None:
        """Raise :class:`IntegrityError` naming member ``name`` unless the digest of every
        piece given so far is ``expected`` (waits for the hashing thread)."""
        if self._hasher.digest() != expected:
            raise IntegrityError(f"member {name!r} fails its SHA-256 check")


class DigestDeferring(ABC):
    """A member source whose caller may take over the SHA-256 checks (module docstring)."""

    @abstractmethod
    def iter_members(
        self, names: Collection[str] | None = None, *, verify_digests: bool = True
    ) -> Iterator[MemberStream]:
        """Members in archive order, each with ``member`` and ``chunks()``; with
        ``verify_digests=False`` no SHA-256 is computed or checked here."""
