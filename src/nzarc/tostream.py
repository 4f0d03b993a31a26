"""Writing members' contents to one stream (``nzarc extract -O``), as ``tar -O`` does.

:func:`copy_members` writes the bytes of the selected regular files, concatenated in archive
order, and creates nothing on the file system. What reaches the stream: each chunk as the
reader releases it, that is only from AEAD-verified segments (spec/FORMAT.md), with each
member's entry checked against the index on a seekable source. A member's size and SHA-256
can only be checked at its end, so a member that fails them raises
:class:`~nzarc.errors.IntegrityError` after its bytes have been written (as ``zstd -dc`` or
``tar -O`` do): the caller learns of it, the stream has already taken them.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterator
from typing import IO, TYPE_CHECKING

from nzarc.selection import Selection

if TYPE_CHECKING:
    from nzarc.extract import MemberSource, MemberStream
    from nzarc.format.member import Member

__all__ = ["copy_members"]


def copy_members(
    reader: MemberSource,
    out: IO[bytes],
    names: Collection[str] | None = None,
    *,
    progress: Callable[[Member, int], None] | None = None,
) -> list[Member]:
    """Write the contents of the regular files among the members that ``names`` selects
    (:mod:`nzarc.selection`; ``None``: all) to ``out``, in archive order, and return every
    selected member (directories and symlinks too, which write nothing).

    ``reader`` is an :class:`nzarc.ArchiveReader` (any
    :class:`~nzarc.extract.MemberSource`). The members not selected are still read and verified on a pipe;
    on a seekable source they are not read. ``progress(member, 0)`` is called as a selected
    member begins and ``progress(member, n)`` after each ``n`` bytes written.
    """
    selection = Selection(names)
    done: list[Member] = []
    for md in _iter(reader, selection):
        member = md.member
        chosen = selection.select(member.name) is not None
        if chosen and progress is not None:
            progress(member, 0)
        for chunk in md.chunks():  # verified by the reader, which raises before the end
            if chosen and member.type == "file":
                out.write(chunk)
                if progress is not None:
                    progress(member, len(chunk))
        if chosen:
            done.append(md.member)
    out.flush()
    return done


def _iter(reader: MemberSource, selection: Selection) -> Iterator[MemberStream]:
    if selection.all or not reader.seekable:
        yield from reader.iter_members(None)
        return
    exact = [m.name for m in reader.members() if selection.select(m.name) is not None]
    yield from reader.iter_members(exact)
