"""Writing archive members to the filesystem, safely.

:func:`extract_members` is the only code in nzarc that creates files from an
archive. Its guarantees, whatever the archive contains:

* Nothing is created, replaced or modified outside ``dest``. Every member
  name is re-validated here (absolute names, ``..``, ``.``, empty components,
  NUL and drive letters are refused with :class:`UnsafePath`, and so is a
  backslash on a host where it separates paths; elsewhere it is an ordinary
  byte, as are the bytes of a name that is not UTF-8, which are restored
  exactly),
  and every parent directory is opened component by component relative to
  a directory file descriptor with ``O_NOFOLLOW``: a symlink (or any
  non-directory) in the way of a member's path is refused, never followed.
* Symlinks are created last, after every file and directory (so nothing is
  ever extracted through one; a member at or below a symlink member is refused),
  and only if every one of them passes :mod:`nzarc.linkcheck`'s rule against
  the final tree: its target, walked from the link's own directory, never goes
  above ``dest``, never takes a ``..`` anywhere after a symlink or a name that is
  not a directory, and never loops or meets an absolute target. Otherwise extraction
  stops with :class:`UnsafePath` before any symlink is created. Hence, whatever
  the order of the members, nothing under a ``dest`` that held no symlinks
  beforehand resolves outside it afterwards. The queued links (their targets)
  take memory in proportion to the index, as the reader's list of entries does.
* A regular file is written under a temporary name in its final directory,
  given its mode and mtime, and renamed to its real name only after its
  size and SHA-256 have been verified: by the reader, which raises
  :class:`IntegrityError` before its chunk iterator ends otherwise, or, for a
  reader that is a :class:`~nzarc.memberdigest.DigestDeferring` (as
  :class:`nzarc.ArchiveReader` is), here, on the bytes as they are written,
  against the member's authenticated digest. On any
  failure, including an interrupt or a killed process, the temporary file is
  removed or left under its temporary name: a name in ``dest`` that looks
  complete is complete.
* Temporary names are exactly ``.nzarc-tmp-`` and 16 lowercase hex digits
  (:mod:`nzarc.tmpnames`). In each directory that receives a file or symlink,
  the first time it does, such names that are regular files or symlinks (never
  followed) last changed (``st_ctime``) before this process started extracting
  (loaded :mod:`nzarc.tmpnames`) are removed: leftovers of a killed run.
  Anything else with such a name is left alone.
* Files and directories are created by one writer thread, in member order
  (symlink members are checked and queued there, in order, and created at the
  end), while the calling thread goes on reading, decrypting and verifying:
  at most :data:`WRITE_AHEAD_BYTES` (or one chunk, when larger) of verified
  data waits for it. A failure on that thread stops the
  extraction and is raised on the calling thread.
* Durability: by default nothing is forced to disk, as with ``tar``; after a
  power loss or an operating-system crash (not a process crash) recently
  extracted files may be empty or short. With ``sync=True`` every file is
  ``fsync``-ed before it gets its real name, and every directory that received
  an entry is ``fsync``-ed at the end, so that whatever ``extract_members``
  returned is on stable storage.
* An existing file, symlink or other entry is never replaced unless
  ``force`` is true (:class:`OverwriteRefused`); an existing directory is
  reused for a directory member, and never replaced by a file.
* Permission bits are restored, limited to ``0o1777`` (no set-uid/set-gid),
  as ``tar`` does: as given with ``same_permissions`` (the default for root),
  else limited to ``0o777`` less the umask (read once, at the start); mtimes
  are restored on files, symlinks and directories, directories last and
  deepest first so that creating their contents does not disturb them.

This module checks names, selects members and runs the member loop; every
filesystem operation is made through :class:`nzarc.extracttree.ExtractTree`.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Iterator
from pathlib import Path
from typing import Protocol

from nzarc.errors import UnsafePath
from nzarc.extracttree import ExtractTree, OverwriteRefused
from nzarc.format.member import Member
from nzarc.format.paths import validate_member_name
from nzarc.hostnames import BACKSLASH_SEPARATES, check_host_encoding
from nzarc.memberdigest import DigestDeferring, MemberDigest
from nzarc.permissions import SAFE_MODE_BITS, permission_mask
from nzarc.selection import Selection
from nzarc.workqueue import OrderedWorker

__all__ = [
    "SAFE_MODE_BITS",
    "OverwriteRefused",
    "ExtractProgress",
    "extract_members",
    "split_member_name",
    "select_members",
]

#: Verified member bytes waiting for the writer thread, at most (or one chunk when larger).
WRITE_AHEAD_BYTES = 4 << 20


class MemberStream(Protocol):
    """One member as it is read: its entry (with the verified size and digest once
    ``chunks()`` has ended) and its bytes, which the source verifies as they pass."""

    @property
    def member(self) -> Member: ...

    def chunks(self) -> Iterator[bytes]: ...


class MemberSource(Protocol):
    """Where members are read from (an :class:`nzarc.ArchiveReader`): ``iter_members``
    yields them in archive order, all of them or the ``names`` given exactly. A
    ``seekable`` source also lists its entries up front (``members()``, from its index)
    and skips the data of the members not named."""

    @property
    def seekable(self) -> bool: ...

    def members(self) -> Iterable[Member]: ...

    def iter_members(self, names: Collection[str] | None = None) -> Iterator[MemberStream]: ...


#: ``progress(member, nbytes)``: called with ``nbytes=0`` when a member starts
#: and with the size of each verified chunk handed to the writer thread.
ExtractProgress = Callable[[Member, int], None]


def split_member_name(name: str) -> list[str]:
    """Split a member name into path components, refusing anything unsafe.

    This re-checks, independently of the reader, everything that could make
    a name leave the destination or mean something else on another OS.
    """
    if not isinstance(name, str) or not name:
        raise UnsafePath("empty member name")
    if "\x00" in name:
        raise UnsafePath(f"unsafe member name {name!r}: contains NUL")
    if BACKSLASH_SEPARATES and "\\" in name:
        raise UnsafePath(f"unsafe member name {name!r}: a backslash separates paths here")
    if name.startswith("/"):
        raise UnsafePath(f"unsafe member name {name!r}: absolute path")
    if len(name) >= 2 and name[1] == ":" and name[0].isalpha():
        raise UnsafePath(f"unsafe member name {name!r}: drive letter")
    validate_member_name(name)  # the format's rules (length caps, encoding) as well
    check_host_encoding(name)
    parts = name.split("/")
    for part in parts:
        if part in ("", ".", ".."):
            raise UnsafePath(f"unsafe member name {name!r}: empty, '.' or '..' component")
    return parts


def select_members(requested: Collection[str] | None, name: str) -> str | None:
    """Return the requested entry that selects member ``name`` (an exact match, a
    directory prefix or a matching wildcard: :mod:`nzarc.selection`), or ``None``.
    ``requested=None`` selects all."""
    return Selection(requested).select(name)


def extract_members(
    reader: MemberSource,
    dest: Path | str,
    names: Collection[str] | None = None,
    *,
    force: bool = False,
    progress: ExtractProgress | None = None,
    sync: bool = False,
    same_permissions: bool | None = None,
) -> list[Member]:
    """Extract the members of ``reader`` under ``dest`` and return them.

    ``reader`` is a :class:`MemberSource`, such as :class:`nzarc.ArchiveReader`.
    ``names`` selects members by exact name, by directory prefix (``a``
    selects ``a/b``) or by shell wildcard (:mod:`nzarc.selection`); ``None``
    extracts everything. ``dest`` is created if it
    does not exist (only once the first member has been read). Raises :class:`UnsafePath`, :class:`OverwriteRefused`,
    ``OSError`` or whatever the reader raises (``IntegrityError``...); see
    the module docstring for what is guaranteed on failure. ``sync`` forces
    every extracted file and directory to stable storage before returning.
    ``same_permissions`` keeps the archived permission bits (less set-uid/set-gid);
    false applies the process umask, read once here, and drops the sticky bit, as
    ``tar`` does for ordinary users; ``None`` (the default) means true for root
    (effective uid 0) and false otherwise.
    """
    dest_path = Path(dest)
    mode_mask = permission_mask(same_permissions)
    requested = Selection(names)
    # A reader that lets the caller check digests has them checked on the writer thread,
    # as the bytes are written, instead of on its own hashing thread.
    own_digests = isinstance(reader, DigestDeferring)
    members = _iter_selected(reader, requested, own_digests)
    # Decrypt up to the first member before touching the filesystem: a wrong key
    # or a bad header must not leave even an empty destination directory behind.
    first = next(members, None)
    dest_path.mkdir(parents=True, exist_ok=True)
    ex = ExtractTree(dest_path, force, sync, mode_mask)
    # Every file system change runs on one writer thread, in member order (but the
    # symlinks, made here at the end); this thread only reads (decrypts, decodes,
    # verifies) and hands verified bytes over.
    fs = OrderedWorker(WRITE_AHEAD_BYTES, name="nzarc-extract")
    done: list[Member] = []
    try:
        for md in _chain_first(first, members):
            member = md.member
            if requested.select(member.name) is None:
                _drain(md, check_digest=own_digests)
                continue
            parts = split_member_name(member.name)
            if progress is not None:
                progress(member, 0)
            if member.type == "file":
                fs.submit(ex.begin_file, parts, own_digests)
                for chunk in md.chunks():  # the reader raises before the end on a bad size
                    fs.submit(ex.write_chunk, chunk, nbytes=len(chunk))
                    if progress is not None:
                        progress(member, len(chunk))
                # Only now (the size verified, the expected digest known) may it be named.
                expected = md.member.sha256 if own_digests else None
                fs.submit(ex.commit_file, parts, member, expected)
            elif member.type == "dir":
                fs.submit(ex.make_dir, parts, member)
                _drain(md)
            elif member.type == "symlink":
                fs.submit(ex.make_symlink, parts, member)
                _drain(md)
            else:
                raise UnsafePath(f"member {member.name!r} has unsupported type {member.type!r}")
            done.append(md.member)  # with the verified size and digest
        fs.join()
        ex.finish_links()  # after every file and directory, before directory modes
        ex.finish_dirs()
    except BaseException as exc:
        # Members already handed over complete; the unfinished one was never committed.
        failed = fs.finish()
        # A file system failure belongs to an earlier member than whatever stopped this
        # thread afterwards: report it, unless the user interrupted.
        if failed is not None and failed is not exc and isinstance(exc, Exception):
            raise failed from None
        raise
    finally:
        ex.discard_tmp()
        ex.close()
    return done


def _iter_selected(
    reader: MemberSource, requested: Selection, own_digests: bool
) -> Iterator[MemberStream]:
    """Iterate the reader's members, letting it skip unselected data when it can.

    With a selection and a seekable source, the exact names are worked out
    from the index so the reader can skip the other members' chunks. With
    ``own_digests`` the reader (a :class:`DigestDeferring`) leaves the SHA-256 checks
    to the caller.
    """
    exact: list[str] | None = None
    if not requested.all and reader.seekable:
        exact = [m.name for m in reader.members() if requested.select(m.name) is not None]
    if own_digests:
        assert isinstance(reader, DigestDeferring)
        yield from reader.iter_members(exact, verify_digests=False)
    else:
        yield from reader.iter_members(exact)


def _chain_first(first: MemberStream | None, rest: Iterator[MemberStream]) -> Iterator[MemberStream]:
    if first is not None:
        yield first
        yield from rest


def _drain(md: MemberStream, *, check_digest: bool = False) -> None:
    """Consume a member's data so a streaming reader stays in step and still verifies it;
    ``check_digest`` checks a file's SHA-256 here (for a reader that leaves that to its
    caller)."""
    sha = MemberDigest() if check_digest and md.member.type == "file" else None
    for piece in md.chunks():
        if sha is not None:
            sha.update(piece)
    if sha is not None:
        sha.check(md.member.name, md.member.sha256)
