"""RateBook keeps the newest rate per key, survives a bad file, stays bounded; RateMeter times."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest

from nzarc.events import ProgressEvent
from nzarc.ratebook import MAX_KEYS, MIN_SECONDS, Rate, RateBook, RateMeter

DAY = dt.date(2026, 12, 4)


def test_a_recorded_rate_reads_back_and_the_newest_wins(tmp_path: Path) -> None:
    book = RateBook.in_home(tmp_path)
    assert book.get("k") is None
    assert book.record("k", 10_000, 10.0, DAY) == Rate(1000.0, 10_000, "2026-12-04")
    assert book.record("k", 30_000, 10.0, DAY) == Rate(3000.0, 30_000, "2026-12-04")
    assert book.get("k") == Rate(3000.0, 30_000, "2026-12-04")
    assert RateBook(tmp_path / "rates.json").get("k") == book.get("k")  # it is in the file


@pytest.mark.parametrize(("nbytes", "seconds"), [(0, 10.0), (1000, MIN_SECONDS / 2), (1000, float("nan"))])
def test_a_run_without_bytes_or_too_short_is_not_recorded(tmp_path: Path, nbytes: int, seconds: float) -> None:
    book = RateBook.in_home(tmp_path)
    assert book.record("k", nbytes, seconds, DAY) is None
    assert not (tmp_path / "rates.json").exists()


@pytest.mark.parametrize(
    "content",
    [b"not json", b"[1, 2]", b'{"k": 5}', b'{"k": {"bytes_per_s": -1, "bytes": 5, "measured": "x"}}',
     b'{"k": {"bytes_per_s": "fast", "bytes": 5, "measured": "x"}}', b"{" + b" " * (2 << 20) + b"}"],
)
def test_a_bad_file_reads_as_empty_and_is_replaced(tmp_path: Path, content: bytes) -> None:
    (tmp_path / "rates.json").write_bytes(content)
    book = RateBook.in_home(tmp_path)
    assert book.get("k") is None
    book.record("k", 5000, 5.0, DAY)
    assert book.get("k") == Rate(1000.0, 5000, "2026-12-04")


def test_the_book_keeps_the_newest_keys_only(tmp_path: Path) -> None:
    book = RateBook.in_home(tmp_path)
    for i in range(MAX_KEYS + 3):
        book.record(f"k{i}", 1000, 2.0, DAY)
    keys = list(json.loads((tmp_path / "rates.json").read_text()))
    assert keys == [f"k{i}" for i in range(3, MAX_KEYS + 3)]
    book.record("k3", 1000, 2.0, DAY)  # recording again makes a key the newest
    assert list(json.loads((tmp_path / "rates.json").read_text()))[-1] == "k3"


def test_an_unwritable_home_is_ignored(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("")
    book = RateBook.in_home(tmp_path / "file")  # its directory is a file
    assert book.record("k", 5000, 5.0, DAY) == Rate(1000.0, 5000, "2026-12-04")
    assert book.get("k") is None


def test_the_meter_times_model_bytes_from_the_first_call_and_passes_events_on() -> None:
    now = [100.0]
    seen: list[str] = []
    meter = RateMeter(lambda e: seen.append(e.kind), clock=lambda: now[0])
    meter(ProgressEvent("member", name="a"))
    now[0] = 101.0
    meter(ProgressEvent("encode-bytes", tokens=700))
    meter(ProgressEvent("decode-bytes", tokens=5))  # another op: not counted
    now[0] = 104.0
    meter(ProgressEvent("encode-bytes", tokens=300))
    now[0] = 106.0
    assert (meter.stop(), meter.nbytes) == (5.0, 1000)
    now[0] = 200.0
    assert meter.stop() == 5.0  # stopped once
    assert seen == ["member", "encode-bytes", "decode-bytes", "encode-bytes"]
    assert RateMeter().stop() == 0.0
