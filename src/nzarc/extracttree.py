"""The destination tree of one extraction: every filesystem operation :mod:`nzarc.extract` makes.

:class:`ExtractTree` holds a file descriptor of the destination and reaches
every entry relative to it. Its contract, for member names already split and
validated by :func:`nzarc.extract.split_member_name`:

* Each parent directory is opened one component at a time with ``O_NOFOLLOW``;
  a symlink or non-directory in the way raises :class:`UnsafePath`. Missing
  parents are created mode ``0o755``; directory members get their own mode and
  mtime only in :meth:`ExtractTree.finish_dirs`, deepest first.
* A file member is written under a fresh temporary name (:mod:`nzarc.tmpnames`,
  created ``O_EXCL``), hashed as written when :meth:`ExtractTree.begin_file` is
  asked to and then checked against the expected SHA-256, given its mode and
  mtime, and only then given its name: renamed with ``force``, else hard-linked
  (which fails if the name appeared meanwhile) or, on a filesystem without hard
  links, checked and renamed. :meth:`ExtractTree.discard_tmp` removes the
  temporary entry of an unfinished member.
* The first time a directory receives a file or symlink, stale temporary names
  of an earlier run are swept from it.
* Symlink members are checked (lexical target inside the destination, nothing
  at or below a queued link) and queued; :meth:`ExtractTree.finish_links` checks
  all of them against the final tree (:mod:`nzarc.linkcheck`) before creating
  any.
* An existing entry is replaced only with ``force`` (else
  :class:`OverwriteRefused`); an existing directory is never replaced, and is
  reused for a directory member.
* With ``sync``, each file is ``fsync``-ed before it gets its name, and
  :meth:`ExtractTree.finish_dirs` ``fsync``-s every directory that received an
  entry, their parents and the root.
"""

from __future__ import annotations

import errno
import os
import stat
from contextlib import suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from nzarc import tmpnames
from nzarc.errors import UnsafePath
from nzarc.format.paths import validate_link_target
from nzarc.hostnames import BACKSLASH_SEPARATES, check_host_encoding
from nzarc.linkcheck import FinalTree
from nzarc.memberdigest import MemberDigest
from nzarc.oserrors import naming
from nzarc.permissions import SAFE_MODE_BITS
from nzarc.workqueue import HashPool

#: Written pieces waiting for the hashing thread, at most.
_HASH_AHEAD = 4

_LINK_END = "/"  # marks a symlink member's name in the trie (no component contains "/")
_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0)
_NEW_FILE_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0)


class OverwriteRefused(FileExistsError):
    """A member's name already exists in the destination and ``force`` is off."""

    def __init__(self, name: str) -> None:
        super().__init__(errno.EEXIST, f"refusing to overwrite existing {name!r}", name)
        self.message = f"refusing to overwrite existing {name!r}"
        self.hint = "use --force to replace existing files, or extract elsewhere with -C DIR"

    def __str__(self) -> str:
        return self.message


class MemberLike(Protocol):
    """What :class:`ExtractTree` reads of a member entry."""

    name: str
    type: str
    mode: int
    mtime_ns: int
    size: int
    link_target: str | None


def link_target_inside(parent: list[str], target: str) -> bool:
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


@dataclass
class _PendingDir:
    parts: list[str]
    mode: int
    mtime_ns: int


@dataclass
class _PendingLink:
    target: str
    mtime_ns: int


class ExtractTree:
    """State of one extraction: the root fd, a cache of the last parent fd, the queued
    symlinks and directories, and the member being written."""

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
        self, parts: list[str], member: MemberLike, expected: bytes | None = None
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

    def make_dir(self, parts: list[str], member: MemberLike) -> None:
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
            child = node.get(comp)
            if child is None:
                return
            node = child
            if _LINK_END in node:
                raise UnsafePath(
                    f"refusing to extract {'/'.join(parts)!r}: it is at or below the symlink "
                    f"member {'/'.join(parts[: i + 1])!r}"
                )

    def make_symlink(self, parts: list[str], member: MemberLike) -> None:
        """Check a symlink member and queue it: :meth:`finish_links` creates it, after every
        file and directory, once every queued link has passed the final-tree check."""
        full = "/".join(parts)
        target = member.link_target
        if isinstance(target, str) and target:
            check_host_encoding(validate_link_target(target))
        if not isinstance(target, str) or not link_target_inside(parts[:-1], target):
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
        for path in list(dirs):
            dirs.update(path[:i] for i in range(len(path)))
        for path in sorted(dirs, key=len, reverse=True):
            fd = self.open_parent(list(path), create=False)
            os.fsync(fd)
        self._drop_cache()
