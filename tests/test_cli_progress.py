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


def test_bytes_and_percent_advance_with_model_tokens() -> None:
    clock = Clock()
    p = Progress(stream=FakeTTY(), total=2000, clock=clock)
    p.model_work("encode-bytes", 1000)  # one codec call on this thread: 1000 raw bytes
    p.model_work("encode-planned", 400)
    assert "0 B / 2.0 KiB   0%" in p.line()
    clock.t += 5.0
    p.model_work("encode", 100)
    assert "250 B / 2.0 KiB  12%" in p.line()  # a quarter of the tokens: a quarter of the bytes
    clock.t += 5.0
    p.model_work("encode", 300)  # the call is done; its chunks are not written yet
    assert "1000 B / 2.0 KiB  50%" in p.line()
    p.advance(1000)  # now they are: the bytes shown do not count them twice
    assert "1000 B / 2.0 KiB  50%" in p.line()
    p.model_work("decode", 50)  # the other direction (--verify) adds no bytes
    p.advance(500)  # a member the model did not work on
    assert "1.5 KiB / 2.0 KiB  75%" in p.line()


def test_model_bytes_of_two_threads_and_a_decode() -> None:
    from nzarc.progress_estimate import ModelBytes

    m = ModelBytes("decode")
    m.report("decode-bytes", 100, thread=1)
    m.report("decode-planned", 10, thread=1)
    m.report("decode-bytes", 300, thread=2)
    m.report("decode-planned", 30, thread=2)
    m.report("decode", 5, thread=1)
    m.report("decode", 10, thread=2)
    assert m.in_flight() == 50 + 100
    m.report("encode", 30, thread=2)  # not this direction
    assert m.in_flight() == 150
    m.report("decode", 20, thread=2)
    m.written(300)
    assert m.in_flight() == 50


def _eta_seconds(line: str) -> float:
    import re

    found = re.search(r"MiB\s+\d+%\s+\S+ \S+/s\s+ETA (\d+):(\d+)(?::(\d+))?", line)
    assert found, line
    parts = [int(x) for x in found.groups() if x is not None]
    return float(sum(v * 60 ** i for i, v in enumerate(reversed(parts))))


def test_eta_is_smoothed_against_a_rate_spike() -> None:
    clock = Clock()
    p = Progress(stream=FakeTTY(), total=100 << 20, clock=clock)
    p.model_work("encode-bytes", 50 << 20)  # 50 MiB under the model, 40,000 tokens
    p.model_work("encode-planned", 40_000)
    for _ in range(120):  # two minutes at 100 tok/s: 128 KiB/s
        clock.t += 1.0
        p.model_work("encode", 100)
        p.line()
    before = _eta_seconds(p.line())
    assert 600 <= before <= 700  # 85 MiB left at 128 KiB/s: about 11 minutes
    clock.t += 1.0
    p.advance(20 << 20)  # a stored member of 20 MiB written in one second
    after = _eta_seconds(p.line())
    # 65 of the 85 MiB are left (0.76 of the ETA) and the rate rose by under 10%; a plain
    # average since the start would give 225 s, the rate over the last second 3 s
    assert 0.69 * before <= after <= 0.77 * before
    for _ in range(10):  # back to the steady rate
        clock.t += 1.0
        p.model_work("encode", 100)
        p.line()
    assert 0.69 * before <= _eta_seconds(p.line()) + 10 <= 0.77 * before


def test_progress_lines_off_a_terminal() -> None:
    for quiet in (False, True):  # --progress wins over -q
        clock = Clock()
        s = io.StringIO()
        p = Progress(stream=s, total=100, period=10.0, quiet=quiet, clock=clock)
        for _ in range(30):
            clock.t += 1.0
            p.advance(1)
        p.finish()
        lines = s.getvalue().split("\n")
        assert "\r" not in s.getvalue() and lines[-1] == ""
        assert len(lines[:-1]) == 4  # at 1 s, 11 s and 21 s, and the last one
        assert "30 B / 100 B  30%" in lines[-2]


def test_progress_interval_is_checked() -> None:
    import argparse

    import pytest

    from nzarc.progress import progress_period

    assert progress_period("0.5") == 0.5
    for bad in ("-1", "nan", "x", "1e9"):
        with pytest.raises(argparse.ArgumentTypeError, match="seconds"):
            progress_period(bad)


def test_progress_lines_keep_coming_while_nothing_is_reported() -> None:
    import time

    s = io.StringIO()
    p = Progress(stream=s, total=100, period=0.05)  # the real clock: a ticker draws
    p.advance(10)
    time.sleep(0.5)  # one long model call that reports nothing
    p.finish()
    lines = s.getvalue().splitlines()
    assert len(lines) >= 4 and all("10 B / 100 B  10%" in ln for ln in lines), lines
    assert s.getvalue().count("\n") == len(lines)
    assert p._ticker is None  # stopped by finish()


def test_cli_progress_prints_lines_to_a_pipe(tmp_path) -> None:
    import os
    import subprocess
    import sys

    src = tmp_path / "in.txt"
    src.write_bytes(b"progress test line\n" * 20000)
    env = {k: v for k, v in os.environ.items() if not k.startswith("NZARC_")}
    env["NZARC_HOME"] = str(tmp_path / "home")
    cmd = [sys.executable, "-m", "nzarc", "create", "--no-encrypt", "-c", "zstd", "--chunk-size", "64KiB",
           "-o", str(tmp_path / "a.nzarc"), str(src)]
    cmd.insert(4, "--force")
    quiet = subprocess.run(cmd, env=env, capture_output=True, timeout=120)
    assert quiet.returncode == 0 and quiet.stderr == b""  # no terminal, no --progress: nothing
    r = subprocess.run([*cmd[:4], "--progress-interval", "0", *cmd[4:]], env=env,
                       capture_output=True, timeout=120)
    assert r.returncode == 0, r.stderr
    err = r.stderr.decode()
    assert "\r" not in err and err.endswith("\n")
    lines = err.splitlines()
    assert len(lines) >= 3 and lines[-1].startswith("371.1 KiB / 371.1 KiB 100%")


def test_model_events_show_the_worker_count_of_a_cluster() -> None:
    from nzarc.events import ProgressEvent

    p = Progress(stream=FakeTTY())
    p.model_event(ProgressEvent("encode-planned", tokens=200))
    assert "worker" not in p.line()  # in-process work names no workers
    p.model_event(ProgressEvent("encode", tokens=50, workers=3))
    line = p.line()
    assert "model 50/200 tok" in line and line.endswith(" 3 workers"), line
    p.model_event(ProgressEvent("chunk", bytes_in=10, chunks=1))  # not model work: ignored here
    assert (p.tokens_planned, p.tokens_done, p.done) == (200, 50, 0)
