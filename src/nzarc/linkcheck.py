"""Whether a symlink member stays inside the extraction directory once every member is in place.

:func:`nzarc.extract.extract_members` creates symlinks last, after every file and directory,
and only once each of them has passed :meth:`FinalTree.check` against the tree as it will then
stand: the destination's entries, with this extraction's symlinks overlaid.

**The rule.** A symlink's target is walked from the link's own directory, one component at a
time, as the kernel resolves it (a symlink met on the way is replaced by the walk of *its*
target from *its* directory, at most :data:`MAX_LINK_DEPTH` deep); the link is refused
(:class:`UnsafePath`) if any walk meets an absolute target, steps above the destination, takes
a ``..`` anywhere after a component that was not an existing real directory (a symlink, a
missing name, a file), or loops.

**Why it is enough.** Until a walk meets a symlink or a non-directory, its position is a real
directory under the destination, reached by descending real directories; a ``..`` there goes
back up one of those steps, so it cannot leave the destination. After a symlink or a
non-directory no ``..`` follows, so the walk only descends: into real directories, or into
symlinks whose own walks end inside by the same argument (induction on the nesting depth,
which is bounded). Hence, in a destination that held no other symlinks, every path naming
only entries under it resolves inside it, whatever the order of the members (``y -> x/../outside`` before ``x -> .`` is refused:
its ``..`` follows the symlink ``x``).

**Why it stays true.** nzarc never replaces or removes a directory; what a later extraction may
replace (with ``--force``) or create is a symlink, a file or a missing name, and a walk never
goes back up (``..``) out of such a component, so such a change cannot make an accepted link
escape; the new link is itself checked.

Symlinks that were in the destination before the extraction are walked as found (and an
absolute one refuses the link that goes through it): the rule is about the links nzarc creates.
"""

from __future__ import annotations

import errno
import os
import stat
from collections.abc import Mapping

from nzarc.errors import UnsafePath

__all__ = ["MAX_LINK_DEPTH", "FinalTree"]

#: Symlinks nested in one resolution, at most (the Linux kernel's own limit, MAXSYMLINKS).
MAX_LINK_DEPTH = 40

Path = tuple[str, ...]


class FinalTree:
    """The destination as it will be once every member is in place.

    ``root`` is the destination's real path; ``links`` maps the path of each symlink this
    extraction creates (components under the root) to its target. Results are memoised per
    link, so checking every link of an archive costs time linear in the total length of the
    targets; memory is that of ``links`` plus one entry per symlink met.
    """

    def __init__(self, root: str, links: Mapping[Path, str]) -> None:
        self._root = root
        self._links = links
        self._memo: dict[Path, Path | None] = {}
        self._active: set[Path] = set()

    def check(self, path: Path) -> None:
        """Raise :class:`UnsafePath` unless the link at ``path`` obeys the module's rule."""
        self._link(path, self._links[path], 0, path)

    # -- the walk -------------------------------------------------------------------------

    def _link(self, path: Path, target: str, depth: int, member: Path) -> Path | None:
        """Where the symlink at ``path`` leads: a real directory's path, or ``None`` for a
        missing name or a non-directory."""
        if path in self._memo:
            return self._memo[path]
        if path in self._active or depth >= MAX_LINK_DEPTH:
            raise self._refuse(member, f"its chain of symlinks loops or is over {MAX_LINK_DEPTH} deep")
        self._active.add(path)
        try:
            result = self._walk(list(path[:-1]), target, depth + 1, member)
        finally:
            self._active.discard(path)
        self._memo[path] = result
        return result

    def _walk(self, here: list[str], target: str, depth: int, member: Path) -> Path | None:
        if target.startswith("/") or (len(target) >= 2 and target[1] == ":" and target[0].isalpha()):
            raise self._refuse(member, f"it goes through the absolute symlink target {target!r}")
        at: list[str] | None = here  # None: past a missing name or a non-directory
        plain = True  # every name walked so far in this target was a real directory
        for comp in target.split("/"):
            if comp in ("", "."):
                continue
            if comp == "..":
                if not plain:
                    raise self._refuse(member, "'..' follows a symlink or a name that is not a directory")
                assert at is not None
                if not at:
                    raise self._refuse(member, "it leads outside the destination")
                at.pop()
                continue
            if at is None:
                continue
            path = (*at, comp)
            linked = self._links.get(path)
            kind, found = ("link", linked) if linked is not None else self._lstat(path, member)
            if kind == "dir":
                at.append(comp)
                continue
            plain = False
            if kind == "link":
                assert found is not None
                where = self._link(path, found, depth, member)
                at = None if where is None else list(where)
            else:
                at = None
        return None if at is None else tuple(at)

    def _lstat(self, path: Path, member: Path) -> tuple[str, str | None]:
        """What the file system holds at ``path`` (not one of this extraction's links)."""
        full = os.path.join(self._root, *path)
        try:
            st = os.lstat(full)
            if stat.S_ISLNK(st.st_mode):
                return "link", os.readlink(full)
        except OSError as e:
            if e.errno in (errno.ENOENT, errno.ENOTDIR):
                return "missing", None
            raise self._refuse(member, f"{'/'.join(path)!r} cannot be checked ({e.strerror})") from None
        return ("dir" if stat.S_ISDIR(st.st_mode) else "other"), None

    def _refuse(self, member: Path, why: str) -> UnsafePath:
        name = "/".join(member)
        return UnsafePath(
            f"refusing symlink {name!r} -> {self._links[member]!r}: {why}",
            hint="nzarc only creates symlinks that resolve inside the extraction directory",
        )
