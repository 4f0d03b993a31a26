"""Progress display for the command line.

One line on stderr, redrawn at most a few times per second, showing bytes
done, the total when known, the rate and an ETA. It is drawn only when the
stream is a terminal and the user did not pass ``-q``; ``-v`` additionally
lists each member's name as it is processed (on its own line, above the
progress line). Nothing here touches stdout, which may carry archive data.
Member names and the label are shown through :func:`nzarc.display.printable`:
a name from an archive cannot move the cursor, retitle the terminal or fake a
line.
"""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Callable
from typing import TextIO

from nzarc.display import printable

__all__ = ["Progress", "format_bytes", "format_duration"]

_UNITS = ("B", "KiB", "MiB", "GiB", "TiB", "PiB")


def format_bytes(n: float) -> str:
    """``1536 -> '1.5 KiB'``; bytes below 1 KiB are shown exactly."""
    if n < 1024:
        return f"{int(n)} B"
    value = float(n)
    for unit in _UNITS[1:]:
        value /= 1024.0
        if value < 1024.0 or unit == _UNITS[-1]:
            return f"{value:.1f} {unit}"
    raise AssertionError("unreachable")


def format_duration(seconds: float) -> str:
    """``75 -> '1:15'``, ``3725 -> '1:02:05'``."""
    s = max(0, int(round(seconds)))
    h, rem = divmod(s, 3600)
    m, sec = divmod(rem, 60)
    return f"{h}:{m:02d}:{sec:02d}" if h else f"{m}:{sec:02d}"


class Progress:
    """Bytes/rate/ETA line plus optional member listing.

    ``show_bar``: draw the progress line (callers pass ``stderr.isatty() and
    not quiet``). ``verbose``: print each member name given to :meth:`member`.
    ``clock`` is injectable for tests.
    """

    #: Minimum seconds between two redraws of the line.
    interval = 0.2

    def __init__(
        self,
        *,
        stream: TextIO | None = None,
        show_bar: bool | None = None,
        verbose: bool = False,
        quiet: bool = False,
        total: int | None = None,
        label: str = "",
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.stream = sys.stderr if stream is None else stream
        if show_bar is None:
            isatty = getattr(self.stream, "isatty", None)
            show_bar = bool(isatty and isatty())
        self.show_bar = show_bar and not quiet
        self.verbose = verbose and not quiet
        self.total = total
        self.label = label
        self.done = 0
        self._clock = clock
        self._start = clock()
        self._last_draw = float("-inf")
        self._line_len = 0
        self._lock = threading.Lock()  # model work is reported from worker threads
        self.tokens_planned = 0
        self.tokens_done = 0
        self._tokens_start: float | None = None

    def model_work(self, kind: str, tokens: int) -> None:
        """Hook for :func:`nzarc.neural.codec.set_progress_hook`: ``*-planned`` kinds add to
        the model tokens expected, ``encode``/``decode`` to those finished; others are ignored."""
        with self._lock:
            if kind.endswith("-planned"):
                self.tokens_planned += tokens
            elif kind in ("encode", "decode"):
                self.tokens_done += tokens
            else:
                return
            if self._tokens_start is None:  # the token rate counts from the first report
                self._tokens_start = self._clock()
        self.advance(0)

    def set_total(self, total: int | None) -> None:
        """Set or change the expected number of bytes (``None``: unknown)."""
        self.total = total

    def advance(self, nbytes: int) -> None:
        """Record ``nbytes`` more processed bytes and redraw if due."""
        with self._lock:
            self.done += nbytes
            if self.show_bar:
                now = self._clock()
                if now - self._last_draw >= self.interval:
                    self._draw(now)

    def update(self, done: int) -> None:
        """Record the absolute number of processed bytes."""
        self.advance(done - self.done)

    def member(self, name: str) -> None:
        """Note that member ``name`` starts; listed when verbose, escaped (one line)."""
        if self.verbose:
            with self._lock:
                self._clear()
                self.stream.write(printable(name) + "\n")
                self.stream.flush()
                self._last_draw = float("-inf")

    def line(self, now: float | None = None) -> str:
        """The progress line as it would be drawn now."""
        t = self._clock() if now is None else now
        elapsed = max(t - self._start, 1e-9)
        rate = self.done / elapsed
        parts = [printable(self.label)] if self.label else []
        if self.total:
            pct = min(100.0, 100.0 * self.done / self.total)
            parts.append(f"{format_bytes(self.done)} / {format_bytes(self.total)} {pct:3.0f}%")
        else:
            parts.append(format_bytes(self.done))
        parts.append(f"{format_bytes(rate)}/s")
        if self.total and rate > 0 and self.done < self.total:
            parts.append(f"ETA {format_duration((self.total - self.done) / rate)}")
        if self.tokens_planned:
            done, planned = min(self.tokens_done, self.tokens_planned), self.tokens_planned
            part = f"model {done:,}/{planned:,} tok"
            if self._tokens_start is not None and t > self._tokens_start and done:
                tok_rate = done / (t - self._tokens_start)
                part += f" {tok_rate:.0f} tok/s"
                if done < planned:
                    part += f" ETA {format_duration((planned - done) / tok_rate)}"
            parts.append(part)
        return "  ".join(parts)

    def _draw(self, now: float) -> None:
        text = self.line(now)
        pad = " " * max(0, self._line_len - len(text))
        self.stream.write("\r" + text + pad)
        self.stream.flush()
        self._line_len = len(text)
        self._last_draw = now

    def _clear(self) -> None:
        if self._line_len:
            self.stream.write("\r" + " " * self._line_len + "\r")
            self._line_len = 0

    def finish(self) -> None:
        """Erase the progress line (the command prints its own summary)."""
        if self.show_bar:
            self._clear()
            self.stream.flush()
