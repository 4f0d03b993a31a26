"""Stopping promptly and cleanly: termination signals as exceptions, and cancel tokens.

* :func:`terminate_as_interrupt` makes SIGTERM and SIGHUP raise :class:`Terminated` in the
  main thread, a :class:`KeyboardInterrupt` subclass, so that the cleanup that runs on Ctrl-C
  (removing a partial archive, temporary files) runs for them too. The exit status of a
  command stopped this way is ``128 + signal number`` (:func:`exit_status`), as shells
  report for a process killed by that signal: 130 for SIGINT, 143 for SIGTERM, 129 for SIGHUP.
* :class:`CancelToken` is handed explicitly to worker threads (the chunk pipeline passes it to
  codecs that declare ``cancellable``); once set, long-running work raises
  :class:`Cancelled` at its next check, so no worker outlives an interrupted main thread by
  more than one step of its work.
"""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Iterator
from types import FrameType

__all__ = [
    "Cancelled",
    "CancelToken",
    "Terminated",
    "exit_status",
    "terminate_as_interrupt",
]

#: The signals :func:`terminate_as_interrupt` turns into :class:`Terminated`.
TERMINATING = tuple(
    s for s in (getattr(signal, "SIGTERM", None), getattr(signal, "SIGHUP", None)) if s is not None
)


class Terminated(KeyboardInterrupt):
    """The process received a termination signal (``signum``); handled like Ctrl-C."""

    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = int(signum)

    @property
    def name(self) -> str:
        """The signal's name, e.g. ``SIGTERM``."""
        try:
            return signal.Signals(self.signum).name
        except ValueError:
            return f"signal {self.signum}"


class Cancelled(BaseException):
    """Raised by work that saw its :class:`CancelToken` set. A ``BaseException``, like
    ``KeyboardInterrupt``: it is not a failure of the work and must not be caught as one."""


class CancelToken:
    """A one-way flag shared between the thread that may stop work and the workers doing it."""

    def __init__(self) -> None:
        self._event = threading.Event()

    def set(self) -> None:
        """Ask every holder of this token to stop."""
        self._event.set()

    @property
    def is_set(self) -> bool:
        return self._event.is_set()

    def check(self) -> None:
        """Raise :class:`Cancelled` if the token is set (cheap: call it between steps)."""
        if self._event.is_set():
            raise Cancelled()


def exit_status(exc: KeyboardInterrupt) -> int:
    """``128 + signal number``: 130 for Ctrl-C (SIGINT), 143 for SIGTERM, 129 for SIGHUP."""
    signum = exc.signum if isinstance(exc, Terminated) else int(signal.SIGINT)
    return 128 + signum


@contextlib.contextmanager
def terminate_as_interrupt() -> Iterator[None]:
    """While the block runs, SIGTERM and SIGHUP raise :class:`Terminated` in the main thread.

    A signal that was ignored when the block began (``nohup`` ignores SIGHUP) stays ignored.
    After the first such signal, further ones are ignored, so that the cleanup the exception
    starts is not itself interrupted. The previous handlers are restored on exit. Outside the
    main thread (where handlers cannot be installed) this does nothing.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous: dict[int, signal._HANDLER] = {}

    def handler(signum: int, _frame: FrameType | None) -> None:
        for s in previous:
            signal.signal(s, signal.SIG_IGN)
        raise Terminated(signum)

    try:
        for s in TERMINATING:
            old = signal.getsignal(s)
            if old == signal.SIG_IGN:
                continue
            previous[s] = old
            signal.signal(s, handler)
        yield
    finally:
        for s, old in previous.items():
            signal.signal(s, old if old is not None else signal.SIG_DFL)
