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
"""

from __future__ import annotations

import errno
import os
import stat
from collections.abc import Callable, Collection, Iterator
from contextlib import suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from nzarc import tmpnames
from nzarc.errors import UnsafePath
from nzarc.format.paths import validate_link_target, validate_member_name
from nzarc.hostnames import BACKSLASH_SEPARATES, check_host_encoding
from nzarc.linkcheck import FinalTree
from nzarc.memberdigest import DigestDeferring, MemberDigest
from nzarc.oserrors import naming
from nzarc.permissions import SAFE_MODE_BITS, permission_mask
from nzarc.selection import Selection
from nzarc.workqueue import HashPool, OrderedWorker

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
#: Written pieces waiting for the hashing thread, at most.
_HASH_AHEAD = 4

_LINK_END = "/"  # marks a symlink member's name in the trie (no component contains "/")
_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0)
_NEW_FILE_FLAGS = (
    os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0)
)


class OverwriteRefused(FileExistsError):
    """A member's name already exists in the destination and ``force`` is off."""

    def __init__(self, name: str) -> None:
        super().__init__(errno.EEXIST, f"refusing to overwrite existing {name!r}", name)
        self.message = f"refusing to overwrite existing {name!r}"
        self.hint = "use --force to replace existing files, or extract elsewhere with -C DIR"

    def __str__(self) -> str:
        return self.message


class _MemberLike(Protocol):
    name: str
    type: str
    mode: int
    mtime_ns: int
    size: int
    link_target: str | None


class _MemberDataLike(Protocol):
    member: Any

    def chunks(self) -> Iterator[bytes]: ...


#: ``progress(member, nbytes)``: called with ``nbytes=0`` when a member starts
#: and with the size of each verified chunk handed to the writer thread.
ExtractProgress = Callable[[Any, int], None]


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


def _link_target_inside(parent: list[str], target: str) -> bool:
    """Lexically resolve ``target`` from directory ``parent`` (components under
    the destination root); true when it never leaves the root."""
    if not target or target.startswith("/") or "\x00" in target:
        return False
    if BACKSLASH_SEPARATES and "\\" in target:
        return False
    if len(target) >= 2 and target[1] == ":" and target[0].isalpha():
        return False
    stack = list(parent)
    for part in target.split("/"):
        if part in ("", "."):
            continue
        if part == "..":
            if not stack:
                return False
            stack.pop()
        else:
            stack.append(part)
    return True


def select_members(requested: Collection[str] | None, name: str) -> str | None:
    """Return the requested entry that selects member ``name`` (an exact match, a
    directory prefix or a matching wildcard: :mod:`nzarc.selection`), or ``None``.
    ``requested=None`` selects all."""
    return Selection(requested).select(name)


@dataclass
class _PendingDir:
    parts: list[str]
    mode: int
    mtime_ns: int


@dataclass
class _PendingLink:
    target: str
    mtime_ns: int


class _Extractor:
    """State of one extraction: the root fd and a cache of the last parent fd."""

    def __init__(
        self, dest: Path, force: bool, sync: bool = False, mode_mask: int = SAFE_MODE_BITS
    ) -> None:
        self.dest = dest
        self.force = force
        self.sync = sync
        self.mode_mask = mode_mask  # permission bits kept: SAFE_MODE_BITS, or less the umask
        self.links: dict[tuple[str, ...], _PendingLink] = {}  # symlinks to create, in order
        self._link_trie: dict[str, Any] = {}  # their names, component by component
        self.cleaned: set[tuple[str, ...]] = set()  # directories swept of stale temporaries
        self.touched: set[tuple[str, ...]] = set()  # directories that received an entry
        self.root_fd = os.open(dest, os.O_RDONLY | os.O_DIRECTORY | getattr(os, "O_CLOEXEC", 0))
        self.root_real = os.path.realpath(dest)
        self._cached: tuple[tuple[str, ...], int] | None = None
        self.pending_dirs: list[_PendingDir] = []
        self.tmp: tuple[int, str] | None = None  # (dir fd, temp name) of the entry being made
        self.fd: int | None = None  # open temporary file of the file member being written
        self.writing = dest  # that member's path under dest, for error messages
        self.sha: MemberDigest | None = None  # its SHA-256, when the extractor checks it
        self.hash_pool = HashPool(_HASH_AHEAD)

    def close(self) -> None:
        self._drop_cache()
        os.close(self.root_fd)
        self.hash_pool.shutdown()

    def _drop_cache(self) -> None:
        if self._cached is not None:
            os.close(self._cached[1])
            self._cached = None

    def open_parent(self, parts: list[str], *, create: bool) -> int:
        """Return a directory fd for ``parts`` under the root, walking one
        component at a time with ``O_NOFOLLOW``; missing directories are
        created when ``create``. The fd is owned by the cache."""
        key = tuple(parts)
        if self._cached is not None and self._cached[0] == key:
            return self._cached[1]
        self._drop_cache()
        fd = os.dup(self.root_fd)
        try:
            for i, comp in enumerate(parts):
                fd = self._step(fd, comp, "/".join(parts[: i + 1]), create)
        except BaseException:
            os.close(fd)
            raise
        self._cached = (key, fd)
        return fd

    def _step(self, fd: int, comp: str, shown: str, create: bool) -> int:
        try:
            nfd = os.open(comp, _DIR_FLAGS, dir_fd=fd)
        except FileNotFoundError:
            if not create:
                raise
            with suppress(FileExistsError):
                os.mkdir(comp, 0o755, dir_fd=fd)
            nfd = self._open_dir_nofollow(fd, comp, shown)
        except OSError as e:
            if e.errno in (errno.ELOOP, errno.ENOTDIR, errno.EMLINK):
                raise UnsafePath(
                    f"refusing to extract through {shown!r}: it is a symlink or not a directory",
                    hint="extract into an empty directory with -C DIR",
                ) from None
            raise
        os.close(fd)
        return nfd

    @staticmethod
    def _open_dir_nofollow(fd: int, comp: str, shown: str) -> int:
        try:
            return os.open(comp, _DIR_FLAGS, dir_fd=fd)
        except OSError as e:
            if e.errno in (errno.ELOOP, errno.ENOTDIR, errno.EMLINK):
                raise UnsafePath(
                    f"refusing to extract through {shown!r}: it is a symlink or not a directory"
                ) from None
            raise

    @staticmethod
    def existing(pfd: int, name: str) -> os.stat_result | None:
        try:
            return os.stat(name, dir_fd=pfd, follow_symlinks=False)
        except FileNotFoundError:
            return None

    def check_replaceable(self, pfd: int, leaf: str, full: str) -> None:
        st = self.existing(pfd, leaf)
        if st is None:
            return
        if stat.S_ISDIR(st.st_mode):
            raise IsADirectoryError(errno.EISDIR, f"cannot replace directory {full!r}", full)
        if not self.force:
            raise OverwriteRefused(full)

    # -- members -----------------------------------------------------------

    def begin_file(self, parts: list[str], digest: bool = False) -> None:
        """Create the temporary file that will become the file member ``parts``; with
        ``digest``, also hash what is written (on the hashing thread; checked by
        :meth:`commit_file`)."""
        self.sha = MemberDigest(self.hash_pool) if digest else None
        full = "/".join(parts)
        self.refuse_below_link(parts)
        pfd = self.open_parent(parts[:-1], create=True)
        self.clean_stale(pfd, parts[:-1])
        self.check_replaceable(pfd, parts[-1], full)
        tmp = tmpnames.new_name()
        self.writing = self.dest.joinpath(*parts)
        self.fd = os.open(tmp, _NEW_FILE_FLAGS, 0o600, dir_fd=pfd)
        self.tmp = (pfd, tmp)

    def write_chunk(self, chunk: bytes) -> None:
        """Append ``chunk`` to the temporary file opened by :meth:`begin_file`; a write
        error (a full disk...) names the member's path under ``dest``."""
        assert self.fd is not None
        if self.sha is not None:
            self.sha.update(chunk)
        view = memoryview(chunk)
        with naming(self.writing):
            while view:
                n = os.write(self.fd, view)
                view = view[n:]

    def commit_file(
        self, parts: list[str], member: _MemberLike, expected: bytes | None = None
    ) -> None:
        """Give the temporary file its mode and mtime, then its real name.

        Called once the reader has verified the member's size, and its SHA-256 unless
        :meth:`begin_file` was asked to hash: then the digest must equal ``expected``
        (the member's authenticated SHA-256) or :class:`IntegrityError` is raised and
        the file never gets its name.
        """
        assert self.fd is not None and self.tmp is not None
        if self.sha is not None:
            sha, self.sha = self.sha, None
            sha.check(member.name, expected)
        fd, self.fd = self.fd, None
        try:
            os.fchmod(fd, member.mode & self.mode_mask)
            os.utime(fd, ns=(member.mtime_ns, member.mtime_ns))
            if self.sync:
                os.fsync(fd)
        finally:
            os.close(fd)
        pfd, tmp = self.tmp
        self._publish(pfd, tmp, parts[-1], "/".join(parts))
        self.touched.add(tuple(parts[:-1]))

    def _publish(self, pfd: int, tmp: str, leaf: str, full: str) -> None:
        """Give the verified temporary file its real name."""
        if self.force:
            self.check_replaceable(pfd, leaf, full)  # still not a directory
            os.rename(tmp, leaf, src_dir_fd=pfd, dst_dir_fd=pfd)
        else:
            # link() fails if the name appeared meanwhile: no overwrite race.
            try:
                os.link(tmp, leaf, src_dir_fd=pfd, dst_dir_fd=pfd, follow_symlinks=False)
            except FileExistsError:
                raise OverwriteRefused(full) from None
            except OSError as e:
                if e.errno not in (errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EXDEV):
                    raise
                # Filesystem without hard links: check, then rename.
                self.check_replaceable(pfd, leaf, full)
                os.rename(tmp, leaf, src_dir_fd=pfd, dst_dir_fd=pfd)
                self.tmp = None
                return
            os.unlink(tmp, dir_fd=pfd)
        self.tmp = None

    def discard_tmp(self) -> None:
        """Close and remove the temporary file of an unfinished member, if any."""
        if self.fd is not None:
            fd, self.fd = self.fd, None
            with suppress(OSError):
                os.close(fd)
        if self.tmp is not None:
            pfd, tmp = self.tmp
            self.tmp = None
            with suppress(OSError):
                os.unlink(tmp, dir_fd=pfd)

    def make_dir(self, parts: list[str], member: _MemberLike) -> None:
        full = "/".join(parts)
        self.refuse_below_link(parts)
        pfd = self.open_parent(parts[:-1], create=True)
        leaf = parts[-1]
        st = self.existing(pfd, leaf)
        if st is None:
            with suppress(FileExistsError):
                os.mkdir(leaf, 0o755, dir_fd=pfd)
        elif not stat.S_ISDIR(st.st_mode):
            if stat.S_ISLNK(st.st_mode):
                raise UnsafePath(f"refusing to extract through {full!r}: it is a symlink")
            raise FileExistsError(errno.EEXIST, f"{full!r} exists and is not a directory", full)
        self.pending_dirs.append(_PendingDir(parts, member.mode, member.mtime_ns))

    def refuse_below_link(self, parts: list[str]) -> None:
        """Refuse a member at or below one of this extraction's symlinks: its name would
        only make sense through the link, and nothing is ever written through a link."""
        node = self._link_trie
        for i, comp in enumerate(parts):
            node = node.get(comp)
            if node is None:
                return
            if _LINK_END in node:
                raise UnsafePath(
                    f"refusing to extract {'/'.join(parts)!r}: it is at or below the symlink "
                    f"member {'/'.join(parts[: i + 1])!r}"
                )

    def make_symlink(self, parts: list[str], member: _MemberLike) -> None:
        """Check a symlink member and queue it: :meth:`finish_links` creates it, after every
        file and directory, once every queued link has passed the final-tree check."""
        full = "/".join(parts)
        target = member.link_target
        if isinstance(target, str) and target:
            check_host_encoding(validate_link_target(target))
        if not isinstance(target, str) or not _link_target_inside(parts[:-1], target):
            raise UnsafePath(
                f"refusing symlink {full!r} -> {target!r}: target is outside the destination",
                hint="nzarc only creates symlinks that point inside the extraction directory",
            )
        self.refuse_below_link(parts)
        pfd = self.open_parent(parts[:-1], create=True)
        self.check_replaceable(pfd, parts[-1], full)  # refused now, not after the files
        self.links[tuple(parts)] = _PendingLink(target, member.mtime_ns)
        node = self._link_trie
        for comp in parts:
            node = node.setdefault(comp, {})
        node[_LINK_END] = True

    def finish_links(self) -> None:
        """Check every queued symlink against the final tree (:mod:`nzarc.linkcheck`), then
        create them in member order; none is created if any is refused."""
        tree = FinalTree(self.root_real, {k: v.target for k, v in self.links.items()})
        for key in self.links:
            tree.check(key)
        for key, link in self.links.items():
            self._create_link(list(key), link)

    def _create_link(self, parts: list[str], link: _PendingLink) -> None:
        full = "/".join(parts)
        pfd = self.open_parent(parts[:-1], create=True)
        self.clean_stale(pfd, parts[:-1])
        leaf = parts[-1]
        self.check_replaceable(pfd, leaf, full)
        tmp = tmpnames.new_name()
        os.symlink(link.target, tmp, dir_fd=pfd)
        self.tmp = (pfd, tmp)
        try:
            if os.utime in os.supports_follow_symlinks:
                with suppress(OSError):
                    os.utime(
                        tmp, ns=(link.mtime_ns, link.mtime_ns), dir_fd=pfd, follow_symlinks=False
                    )
            self._publish(pfd, tmp, leaf, full)
            self.touched.add(tuple(parts[:-1]))
        finally:
            self.discard_tmp()

    def clean_stale(self, pfd: int, parts: list[str]) -> None:
        """Sweep stale temporary entries from the directory ``parts``, the first time only."""
        key = tuple(parts)
        if key not in self.cleaned:
            self.cleaned.add(key)
            tmpnames.sweep_stale(pfd)

    def finish_dirs(self) -> None:
        """Apply directory modes and mtimes, deepest first."""
        self._drop_cache()
        for d in sorted(self.pending_dirs, key=lambda p: len(p.parts), reverse=True):
            fd = self.open_parent(d.parts, create=False)
            os.fchmod(fd, d.mode & self.mode_mask)
            os.utime(fd, ns=(d.mtime_ns, d.mtime_ns))
        self._drop_cache()
        if self.sync:
            self.sync_dirs()

    def sync_dirs(self) -> None:
        """``fsync`` every directory that received an entry, their parents and the root."""
        dirs = set(self.touched)
        for d in self.pending_dirs:
            dirs.add(tuple(d.parts))
        for d in list(dirs):
            dirs.update(d[:i] for i in range(len(d)))
        for d in sorted(dirs, key=len, reverse=True):
            fd = self.open_parent(list(d), create=False)
            os.fsync(fd)
        self._drop_cache()


def extract_members(
    reader: Any,
    dest: Path | str,
    names: Collection[str] | None = None,
    *,
    force: bool = False,
    progress: ExtractProgress | None = None,
    sync: bool = False,
    same_permissions: bool | None = None,
) -> list[Any]:
    """Extract the members of ``reader`` under ``dest`` and return them.

    ``reader`` provides ``iter_members(names)`` yielding objects with a
    ``member`` (``name``, ``type``, ``mode``, ``mtime_ns``, ``size``,
    ``link_target``) and ``chunks()``, as :class:`nzarc.ArchiveReader` does.
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
    ex = _Extractor(dest_path, force, sync, mode_mask)
    # Every file system change runs on one writer thread, in member order (but the
    # symlinks, made here at the end); this thread only reads (decrypts, decodes,
    # verifies) and hands verified bytes over.
    fs = OrderedWorker(WRITE_AHEAD_BYTES, name="nzarc-extract")
    done: list[Any] = []
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
    reader: Any, requested: Selection, own_digests: bool
) -> Iterator[Any]:
    """Iterate the reader's members, letting it skip unselected data when it can.

    With a selection and a seekable source, the exact names are worked out
    from the index so the reader can skip the other members' chunks. With
    ``own_digests`` the reader leaves the SHA-256 checks to the caller.
    """
    kw = {"verify_digests": False} if own_digests else {}
    if requested.all or not getattr(reader, "seekable", False):
        yield from reader.iter_members(None, **kw)
        return
    exact = [m.name for m in reader.members() if requested.select(m.name) is not None]
    yield from reader.iter_members(exact, **kw)


def _chain_first(first: Any, rest: Iterator[Any]) -> Iterator[Any]:
    if first is not None:
        yield first
        yield from rest


def _drain(md: Any, *, check_digest: bool = False) -> None:
    """Consume a member's data (if any) so a streaming reader stays in step
    and still verifies it; ``check_digest`` checks a file's SHA-256 here (for a
    reader that leaves that to its caller)."""
    chunks = getattr(md, "chunks", None)
    if chunks is None:
        return
    sha = MemberDigest() if check_digest and md.member.type == "file" else None
    for piece in chunks():
        if sha is not None:
            sha.update(piece)
    if sha is not None:
        sha.check(md.member.name, md.member.sha256)
