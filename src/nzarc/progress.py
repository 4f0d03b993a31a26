"""Progress display for the command line.

One line on stderr showing bytes done, the total when known, the rate and an
ETA, plus the model's tokens while the neural codec works. On a terminal it is
one line redrawn at most a few times per second, unless the user passed ``-q``.
Elsewhere nothing is drawn, unless the user asked for ``--progress``: then one
newline-terminated line every ``period`` seconds (and a last one at the end),
with no carriage returns, for logs; a daemon thread draws it when no report
arrives in a period (one long model call). ``--progress`` wins over ``-q``. ``-v``
additionally lists each member's name as it is processed (on its own line,
above the progress line).

Bytes advance with the model's tokens (:class:`~nzarc.progress_estimate.ModelBytes`)
and the rate and ETA are smoothed (:class:`~nzarc.progress_estimate.RateEstimator`). Nothing here touches stdout, which may carry archive data.
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
from nzarc.events import MODEL_KINDS, ProgressEvent
from nzarc.progress_estimate import ModelBytes, RateEstimator

__all__ = ["DEFAULT_PERIOD", "Progress", "format_bytes", "format_duration", "progress_period"]

#: Seconds between two lines of ``--progress`` when stderr is not a terminal.
DEFAULT_PERIOD = 10.0
#: The longest period ``--progress-interval`` accepts (a day).
MAX_PERIOD = 86400.0


def progress_period(text: str) -> float:
    """Parse ``--progress-interval``: seconds from 0 (a line at every update) to a day.
    Raises :class:`argparse.ArgumentTypeError` otherwise (argparse's usage error)."""
    import argparse

    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"invalid number of seconds {text!r}") from None
    if not 0.0 <= value <= MAX_PERIOD:  # also rejects nan
        raise argparse.ArgumentTypeError(f"must be between 0 and {MAX_PERIOD:g} seconds, not {text!r}")
    return value

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

    ``show_bar``: draw the progress line (default: when the stream is a terminal).
    ``period``: seconds between lines when the stream is not a terminal (``--progress``);
    with it the line is drawn wherever the stream goes, even with ``quiet``. ``verbose``:
    print each member name given to :meth:`member`. ``model``: which direction of model
    work advances the bytes, ``"encode"`` or ``"decode"``. ``clock`` is injectable for tests.
    """

    #: Minimum seconds between two redraws of the line on a terminal.
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
        period: float | None = None,
        model: str = "encode",
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.stream = sys.stderr if stream is None else stream
        isatty = getattr(self.stream, "isatty", None)
        tty = bool(isatty and isatty())
        if show_bar is None:
            show_bar = tty
        forced = period is not None
        self.show_bar = (show_bar or forced) and (forced or not quiet)
        #: Newline-terminated lines (``--progress`` off a terminal) instead of one redrawn line.
        self.lines = forced and not tty
        if self.lines:
            self.interval = max(0.0, float(period or 0.0))
        self.verbose = verbose and not quiet
        self.total = total
        self.label = label
        self.done = 0  # bytes reported written (advance/update)
        self._clock = clock
        self._start = clock()
        self._last_draw = float("-inf")
        self._line_len = 0
        self._lock = threading.Lock()  # model work is reported from worker threads
        self.tokens_planned = 0
        self.tokens_done = 0
        #: Cluster workers doing the model work, as last reported (0: in-process).
        self.workers = 0
        self._model = ModelBytes(model)
        self._shown = 0.0  # bytes shown so far: what is shown never goes back
        self._bytes_rate = RateEstimator(self._start)
        self._tokens_rate: RateEstimator | None = None
        self._stop = threading.Event()
        self._ticker: threading.Thread | None = None
        if self.lines and self.interval > 0 and clock is time.monotonic:
            # a line every period even while one long model call reports nothing
            self._ticker = threading.Thread(target=self._tick, name="nzarc-progress", daemon=True)
            self._ticker.start()

    def _tick(self) -> None:
        while not self._stop.wait(self.interval):
            with self._lock:
                now = self._clock()
                if not self._stop.is_set() and now - self._last_draw >= self.interval:
                    try:
                        self._draw(now)
                    except (OSError, ValueError):  # stderr gone: the command reports on its own
                        return

    def model_event(self, event: ProgressEvent) -> None:
        """A :class:`~nzarc.events.ProgressSink` for a codec context's ``progress``: model
        kinds (:data:`~nzarc.events.MODEL_KINDS`) go to :meth:`model_work`; others are
        ignored."""
        if event.kind in MODEL_KINDS:
            self.model_work(event.kind, event.tokens, event.workers)

    def model_work(self, kind: str, tokens: int, workers: int = 0) -> None:
        """Model work reported on the calling thread: ``*-planned`` kinds add to the model
        tokens expected, ``encode``/``decode`` to those finished, ``*-bytes`` start a codec
        call on the reporting thread (its raw bytes); others are ignored. ``workers`` > 0
        (cluster workers doing the work) is shown on the line."""
        with self._lock:
            if workers > 0:
                self.workers = workers
            self._model.report(kind, tokens, threading.get_ident())
            if kind.endswith("-planned"):
                self.tokens_planned += tokens
            elif kind in ("encode", "decode"):
                self.tokens_done += tokens
            else:
                return
            if self._tokens_rate is None:  # the token rate counts from the first report
                self._tokens_rate = RateEstimator(self._clock())
        self.advance(0)

    def set_total(self, total: int | None) -> None:
        """Set or change the expected number of bytes (``None``: unknown)."""
        self.total = total

    def advance(self, nbytes: int) -> None:
        """Record ``nbytes`` more processed (written) bytes and redraw if due."""
        with self._lock:
            self.done += nbytes
            self._model.written(nbytes)
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
                if not self.lines:
                    self._last_draw = float("-inf")

    def bytes_done(self) -> float:
        """Bytes written plus the model's share of the bytes in its hands; never less than
        before, never more than the total."""
        value = max(self._shown, self.done + self._model.in_flight())
        if self.total:
            value = min(value, max(float(self.total), float(self.done)))
        self._shown = value
        return value

    def line(self, now: float | None = None) -> str:
        """The progress line as it would be drawn now (this also samples the rates)."""
        t = self._clock() if now is None else now
        done = self.bytes_done()
        self._bytes_rate.update(t, done)
        rate = self._bytes_rate.rate
        parts = [printable(self.label)] if self.label else []
        if self.total:
            pct = min(100.0, 100.0 * done / self.total)
            parts.append(f"{format_bytes(done)} / {format_bytes(self.total)} {pct:3.0f}%")
        else:
            parts.append(format_bytes(done))
        parts.append(f"{format_bytes(rate)}/s")
        eta = self._bytes_rate.eta(self.total - done) if self.total else None
        if eta is not None:
            parts.append(f"ETA {format_duration(eta)}")
        if self.tokens_planned:
            tok, planned = min(self.tokens_done, self.tokens_planned), self.tokens_planned
            part = f"model {tok:,}/{planned:,} tok"
            est = self._tokens_rate
            if est is not None:
                est.update(t, tok)
                if tok and est.rate > 0:
                    part += f" {est.rate:.0f} tok/s"
                    tok_eta = est.eta(planned - tok)
                    if eta is None and tok_eta is not None:  # no byte ETA to show
                        part += f" ETA {format_duration(tok_eta)}"
            if self.workers:
                part += f" {self.workers} worker{'s' if self.workers != 1 else ''}"
            parts.append(part)
        return "  ".join(parts)

    def _draw(self, now: float) -> None:
        text = self.line(now)
        if self.lines:
            self.stream.write(text + "\n")
        else:
            pad = " " * max(0, self._line_len - len(text))
            self.stream.write("\r" + text + pad)
            self._line_len = len(text)
        self.stream.flush()
        self._last_draw = now

    def _clear(self) -> None:
        if self._line_len:
            self.stream.write("\r" + " " * self._line_len + "\r")
            self._line_len = 0

    def finish(self) -> None:
        """Erase the progress line (the command prints its own summary); with
        ``--progress`` off a terminal, write a last line instead."""
        self._stop.set()
        if self._ticker is not None:
            self._ticker.join()
            self._ticker = None
        if self.show_bar:
            with self._lock:
                if self.lines:
                    self._draw(self._clock())
                else:
                    self._clear()
                    self.stream.flush()
