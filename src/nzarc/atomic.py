"""The file ``nzarc create`` writes: built under a temporary name, published only when complete.

:class:`AtomicOutput` writes to a temporary file in the target's directory. :meth:`~AtomicOutput.commit`
forces it to disk and gives it the target's name; :meth:`~AtomicOutput.discard` removes it. So a
failed or interrupted run leaves no file under the target's name, and a complete one is never
half-written there.

Without ``force`` an existing target (of any kind, a dangling symlink too) is never replaced,
even one that appears while the archive is being written: the file is published with
``link()``, which fails if the name exists. With ``force`` it is renamed over the target.
"""

from __future__ import annotations

import contextlib
import errno
import os
import tempfile

from nzarc.oserrors import NamedOutput, naming

__all__ = ["AtomicOutput", "OutputExists", "OutputIsDirectory", "check_target"]

#: ``link()`` errors meaning "this filesystem has no hard links": publish by rename instead.
_NO_LINKS = (errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EXDEV, errno.EMLINK)


class OutputExists(FileExistsError):
    """The target already exists and ``force`` is off."""

    def __init__(self, target: str) -> None:
        self.message = f"refusing to overwrite existing {target!r}"
        self.hint = "use --force to replace it, or choose another output name"
        super().__init__(errno.EEXIST, self.message, target)

    def __str__(self) -> str:
        return self.message


class OutputIsDirectory(IsADirectoryError):
    """The target is a directory (never replaced, even with ``force``)."""

    def __init__(self, target: str) -> None:
        self.message = f"output {target!r} is a directory"
        super().__init__(errno.EISDIR, self.message, target)

    def __str__(self) -> str:
        return self.message


def check_target(target: str, *, force: bool) -> None:
    """Raise :class:`OutputIsDirectory` if ``target`` is a directory (or a symlink to one),
    :class:`OutputExists` if it exists at all and ``force`` is off. Reads nothing else."""
    if os.path.isdir(target):
        raise OutputIsDirectory(target)
    if not force and os.path.lexists(target):
        raise OutputExists(target)


class AtomicOutput:
    """A new file for ``target``, written under a temporary name in the same directory.

    Contract: :meth:`commit` publishes the complete file under ``target`` (replacing an
    existing one only with ``force``); on any failure it removes the temporary file and
    re-raises. :meth:`discard` removes the temporary file; it may be called any number of
    times, also after a failed or successful :meth:`commit`, and never removes ``target``.
    """

    def __init__(self, target: str, *, force: bool = False) -> None:
        check_target(target, force=force)
        self.name = target
        self.target = os.path.abspath(target)
        self.force = force
        directory = os.path.dirname(self.target)
        base = os.path.basename(self.target)
        fd, tmp = tempfile.mkstemp(prefix=f".{base}.", suffix=".nzarc-tmp", dir=directory)
        self.tmp: str | None = tmp
        self.file: NamedOutput = NamedOutput(os.fdopen(fd, "wb"), target)  # errors name it

    def commit(self) -> None:
        """fsync the file, give it the umask's mode, publish it, fsync the directory."""
        try:
            self.file.flush()
            with naming(self.name):
                os.fsync(self.file.fileno())
            umask = os.umask(0)
            os.umask(umask)
            os.fchmod(self.file.fileno(), 0o666 & ~umask)
            self.file.close()
            self._publish()
        except BaseException:
            self.discard()
            raise
        with contextlib.suppress(OSError):  # make the new name itself durable
            dfd = os.open(os.path.dirname(self.target), os.O_RDONLY | os.O_DIRECTORY)
            try:
                os.fsync(dfd)
            finally:
                os.close(dfd)

    def _publish(self) -> None:
        tmp = self.tmp
        assert tmp is not None, "commit after discard"
        if self.force:
            check_target(self.name, force=True)
            os.replace(tmp, self.target)
        else:
            try:
                os.link(tmp, self.target, follow_symlinks=False)
            except FileExistsError:
                raise OutputExists(self.name) from None
            except OSError as e:
                if e.errno not in _NO_LINKS:
                    raise
                check_target(self.name, force=False)  # no hard links: check, then rename
                os.rename(tmp, self.target)
                self.tmp = None
                return
            with contextlib.suppress(OSError):
                os.unlink(tmp)
        self.tmp = None

    def discard(self) -> None:
        """Close and remove the temporary file (if still there)."""
        with contextlib.suppress(OSError):
            self.file.close()
        tmp, self.tmp = self.tmp, None
        if tmp is not None:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
