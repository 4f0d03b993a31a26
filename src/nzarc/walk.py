"""Adding files and trees from the file system to an archive writer.

:func:`add_path` is the one tree walk of nzarc (``ArchiveWriter.add_path`` and ``nzarc
create`` both use it). Contract:

* Members are added in a fixed order: a directory before its contents, its entries sorted by
  the bytes of their names, so the same tree gives the same member sequence. Names are the
  file system's bytes exactly, UTF-8 or not (spec/FORMAT.md §8).
* A symlink is stored as a link (never followed); a regular file by its content; a
  directory as a member and then, recursively, its entries. Other kinds (sockets, FIFOs,
  devices) are not archived: ``on_special(arcname)`` is called for each.
* ``exclude`` holds ``(st_dev, st_ino)`` pairs never archived (the archive being written,
  when it lies inside an input tree); ``on_excluded(path)`` is called for each.
* ``exclude_patterns`` are shell wildcards (:func:`fnmatch.fnmatchcase`: ``*``, ``?``,
  ``[...]``, case-sensitive, ``*`` and ``?`` matching ``/`` too) tested against the member
  name a source would get, as GNU tar's ``--exclude`` does by default: a pattern excludes a
  name when it matches the whole name or any tail of it that starts after a ``/`` (so ``*.o``
  and ``build`` exclude at any depth, ``src/gen`` every ``…/src/gen``). A leading ``./`` and
  trailing ``/`` of a pattern are ignored. An excluded source is not stat-ed, read or
  descended into, and is neither skipped nor reported: it was not asked for. The top of a
  walk added under ``""`` (its entries at the top) is never excluded.
* **Unreadable sources.** A source that vanishes after its directory was listed, or that
  cannot be stat-ed, read-linked, opened or listed, raises its ``OSError`` when ``strict``
  (the default). Otherwise it is skipped, recorded in ``skipped`` as ``(path, reason)``, and
  the walk goes on; for a directory that cannot be listed, the directory member itself is
  kept and its contents are skipped. A read error *inside* a file after its member was
  begun always raises: the member's entry is already in the archive.
* **Files that change while read.** After a file's content has been archived, its size,
  mtime and ctime are compared with the ``lstat`` taken before it was opened, and its size
  with the bytes archived. A difference means the member may hold a mixture of old and new
  bytes (it holds exactly what was read, and its digest is that of those bytes): a strict
  walk raises :class:`~nzarc.errors.SourceChanged`, any other records the path in
  ``changed`` and goes on (GNU tar's "file changed as we read it").
"""

from __future__ import annotations

import os
import stat
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass, field
from fnmatch import fnmatchcase
from pathlib import Path
from typing import IO, Protocol

from nzarc.errors import SourceChanged
from nzarc.format.member import Member
from nzarc.hostnames import check_host_encoding

__all__ = ["Skipped", "WalkOptions", "add_path", "name_excluded"]


class _Writer(Protocol):
    def add_dir(self, arcname: str, *, mode: int = ..., mtime_ns: int | None = ...) -> Member: ...

    def add_symlink(self, arcname: str, target: str, *, mtime_ns: int | None = ...) -> Member: ...

    def add_file(
        self, arcname: str, fileobj: IO[bytes], *, mode: int = ..., mtime_ns: int | None = ...
    ) -> Member: ...


@dataclass(frozen=True)
class Skipped:
    """A source left out of the archive: its path and the reason (the OS error's text)."""

    path: str
    reason: str


@dataclass
class WalkOptions:
    """How :func:`add_path` treats what it meets; see the module docstring."""

    strict: bool = True
    exclude: Collection[tuple[int, int]] = ()
    exclude_patterns: Sequence[str] = ()
    on_special: Callable[[str], None] | None = None
    on_excluded: Callable[[str], None] | None = None
    skipped: list[Skipped] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)


def name_excluded(name: str, patterns: Sequence[str]) -> bool:
    """True if one of ``patterns`` excludes the member name ``name`` (module docstring)."""
    if not patterns:
        return False
    parts = name.split("/")
    tails = ["/".join(parts[i:]) for i in range(len(parts))]
    for pattern in patterns:
        while pattern.startswith("./"):
            pattern = pattern[2:]
        pattern = pattern.rstrip("/") or pattern
        if any(fnmatchcase(tail, pattern) for tail in tails):
            return True
    return False


def _open_source(path: Path) -> IO[bytes]:
    """Open a regular file for reading (a seam the tests use to inject failures)."""
    return open(path, "rb")  # noqa: SIM115 - closed by the caller


def _changed(fh: IO[bytes], before: os.stat_result, archived: int | None) -> bool:
    """True when the open file ``fh`` no longer matches ``before`` or the ``archived`` size."""
    try:
        after = os.fstat(fh.fileno())
    except (OSError, AttributeError, ValueError):
        return False  # not a real file (a test double): nothing to compare
    return (
        (archived is not None and archived != before.st_size)
        or after.st_size != before.st_size
        or after.st_mtime_ns != before.st_mtime_ns
        or after.st_ctime_ns != before.st_ctime_ns
    )


def _reason(exc: OSError) -> str:
    return exc.strerror or type(exc).__name__


def add_path(writer: _Writer, path: Path, arcname: str, options: WalkOptions) -> None:
    """Add ``path`` under ``arcname`` (``""``: its entries at the top) to ``writer``.

    Only the reads of the source are subject to ``options.strict``; an error of the writer
    (a full disk under the archive, a limit) always raises, and so does a name whose bytes
    this host's file-system encoding would change (:func:`nzarc.hostnames.check_host_encoding`).
    """
    if arcname and name_excluded(arcname, options.exclude_patterns):
        return
    check_host_encoding(arcname)
    try:
        st = path.lstat()
    except OSError as exc:
        _skip(path, exc, options)
        return
    if (st.st_dev, st.st_ino) in options.exclude:
        if options.on_excluded is not None:
            options.on_excluded(str(path))
    elif stat.S_ISLNK(st.st_mode):
        try:
            target = os.readlink(path)
        except OSError as exc:
            _skip(path, exc, options)
            return
        writer.add_symlink(arcname, check_host_encoding(target), mtime_ns=st.st_mtime_ns)
    elif stat.S_ISREG(st.st_mode):
        try:
            fh = _open_source(path)
        except OSError as exc:
            _skip(path, exc, options)
            return
        with fh:  # from here an OSError is the member's own failure: never skipped
            member = writer.add_file(
                arcname, fh, mode=stat.S_IMODE(st.st_mode), mtime_ns=st.st_mtime_ns
            )
            if _changed(fh, st, getattr(member, "size", None)):
                if options.strict:
                    raise SourceChanged(f"{str(path)!r} changed while it was being archived")
                options.changed.append(str(path))
    elif stat.S_ISDIR(st.st_mode):
        _add_dir(writer, path, arcname, st, options)
    elif options.on_special is not None:
        options.on_special(arcname)


def _add_dir(
    writer: _Writer, path: Path, arcname: str, st: os.stat_result, options: WalkOptions
) -> None:
    if arcname:
        writer.add_dir(arcname, mode=stat.S_IMODE(st.st_mode), mtime_ns=st.st_mtime_ns)
    try:
        children = sorted(os.listdir(path), key=os.fsencode)
    except OSError as exc:
        _skip(path, exc, options)
        return
    for child in children:
        add_path(writer, path / child, f"{arcname}/{child}" if arcname else child, options)


def _skip(path: Path, exc: OSError, options: WalkOptions) -> None:
    if options.strict:
        raise exc
    options.skipped.append(Skipped(str(path), _reason(exc)))
