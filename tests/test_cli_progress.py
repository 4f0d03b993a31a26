"""The stderr progress display."""

from __future__ import annotations

import io

from nzarc.progress import Progress, format_bytes, format_duration


class Clock:
    def __init__(self) -> None:
        self.t = 100.0

    def __call__(self) -> float:
        return self.t


class FakeTTY(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_formatting() -> None:
    assert format_bytes(0) == "0 B"
    assert format_bytes(1023) == "1023 B"
    assert format_bytes(1536) == "1.5 KiB"
    assert format_bytes(3 << 30) == "3.0 GiB"
    assert format_duration(75) == "1:15"
    assert format_duration(3725) == "1:02:05"


def test_line_shows_bytes_rate_and_eta() -> None:
    clock = Clock()
    p = Progress(stream=FakeTTY(), total=4 << 20, clock=clock)
    clock.t += 2.0
    p.advance(1 << 20)
    line = p.line()
    assert "1.0 MiB / 4.0 MiB" in line and "25%" in line
    assert "512.0 KiB/s" in line and "ETA 0:06" in line


def test_drawn_only_on_a_tty_and_not_when_quiet() -> None:
    for stream, quiet, drawn in ((FakeTTY(), False, True), (FakeTTY(), True, False),
                                 (io.StringIO(), False, False)):
        clock = Clock()
        p = Progress(stream=stream, total=10, quiet=quiet, clock=clock)
        p.advance(5)
        p.finish()
        assert ("\r" in stream.getvalue()) is drawn


def test_redraw_is_rate_limited() -> None:
    clock = Clock()
    s = FakeTTY()
    p = Progress(stream=s, clock=clock)
    for _ in range(50):
        p.advance(1)
    assert s.getvalue().count("\r") == 1
    clock.t += 1.0
    p.advance(1)
    assert s.getvalue().count("\r") == 2


def test_verbose_lists_members_quiet_wins() -> None:
    s = io.StringIO()
    Progress(stream=s, verbose=True).member("a/b.txt")
    assert s.getvalue() == "a/b.txt\n"
    s = io.StringIO()
    Progress(stream=s, verbose=True, quiet=True).member("a/b.txt")
    assert s.getvalue() == ""


def test_model_work_shows_tokens_rate_and_eta() -> None:
    clock = Clock()
    s = FakeTTY()
    p = Progress(stream=s, total=100, clock=clock)
    p.model_work("encode-planned", 3000)  # starts the token clock
    assert "model 0/3,000 tok" in p.line()
    clock.t += 10.0
    p.model_work("encode", 1000)
    line = p.line()
    assert "model 1,000/3,000 tok 100 tok/s ETA 0:20" in line
    assert line in s.getvalue()  # drawn on the terminal
    p.model_work("something-else", 5)  # unknown kinds are ignored
    assert (p.tokens_planned, p.tokens_done) == (3000, 1000)


def test_model_work_from_threads_adds_up() -> None:
    import threading

    p = Progress(stream=FakeTTY())
    threads = [
        threading.Thread(target=lambda: [p.model_work("decode", 1) for _ in range(1000)])
        for _ in range(4)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert p.tokens_done == 4000
