"""OrderedWorker: order, the bound on queued bytes, and how a failure travels back."""

from __future__ import annotations

import threading
import time

import pytest

from nzarc.workqueue import OrderedWorker


def test_calls_run_in_submission_order_on_one_other_thread() -> None:
    seen: list[tuple[int, str]] = []
    w = OrderedWorker(1 << 20)
    for i in range(200):
        w.submit(lambda i=i: seen.append((i, threading.current_thread().name)), nbytes=i)
    w.join()
    assert [i for i, _ in seen] == list(range(200))
    assert {name for _, name in seen} == {"nzarc-worker"}
    assert threading.current_thread().name not in {name for _, name in seen}


def test_queued_bytes_never_exceed_the_bound() -> None:
    limit = 100
    gate = threading.Event()
    queued = [0]
    peak = [0]
    lock = threading.Lock()

    def work(n: int) -> None:
        gate.wait()
        time.sleep(0.001)
        with lock:
            queued[0] -= n

    w = OrderedWorker(limit)
    feeder_done = threading.Event()

    def feed() -> None:
        for n in [30, 30, 30, 30, 60, 10, 90, 5] * 5:
            with lock:
                queued[0] += n
                peak[0] = max(peak[0], queued[0])
            w.submit(work, n, nbytes=n)
        feeder_done.set()

    t = threading.Thread(target=feed)
    t.start()
    time.sleep(0.05)
    # The worker is held: the feeder must be blocked with at most `limit` bytes queued
    # (counted here before submit returns, so one call more may be in its hands).
    assert not feeder_done.is_set()
    assert peak[0] <= limit + 90
    gate.set()
    t.join(10)
    w.join()
    assert feeder_done.is_set() and queued[0] == 0


def test_a_call_larger_than_the_bound_runs_alone() -> None:
    sizes: list[int] = []
    w = OrderedWorker(10)
    w.submit(sizes.append, 5, nbytes=5)
    w.submit(sizes.append, 1000, nbytes=1000)  # admitted once the queue is empty
    w.submit(sizes.append, 3, nbytes=3)
    w.join()
    assert sizes == [5, 1000, 3]


def test_first_failure_drops_later_calls_and_is_raised_by_submit() -> None:
    ran: list[int] = []
    boom = OSError(28, "No space left on device")

    def fail() -> None:
        raise boom

    w = OrderedWorker(1 << 20)
    w.submit(ran.append, 1)
    w.submit(fail)
    w.submit(ran.append, 2)  # queued before the failure is known, never run
    deadline = time.monotonic() + 10
    with pytest.raises(OSError) as info:
        while time.monotonic() < deadline:
            w.submit(ran.append, 3)
            time.sleep(0.001)
    assert info.value is boom
    assert w.finish() is boom
    assert ran == [1]
    with pytest.raises(OSError):
        w.join()


def test_finish_waits_for_queued_calls_and_returns_no_error() -> None:
    ran: list[int] = []
    w = OrderedWorker(1 << 20)
    for i in range(50):
        w.submit(lambda i=i: (time.sleep(0.0005), ran.append(i)))
    assert w.finish() is None
    assert ran == list(range(50))
    with pytest.raises(RuntimeError, match="stopped"):
        w.submit(ran.append, 99)


def test_a_blocked_producer_is_woken_by_a_failure() -> None:
    release = threading.Event()

    def slow_fail() -> None:
        release.wait()
        raise ValueError("bad")

    w = OrderedWorker(10)
    w.submit(slow_fail, nbytes=10)
    errors: list[BaseException] = []

    def produce() -> None:
        try:
            w.submit(print, nbytes=10)  # blocks: the queue is full
        except ValueError as exc:
            errors.append(exc)

    t = threading.Thread(target=produce)
    t.start()
    time.sleep(0.02)
    assert t.is_alive()
    release.set()
    t.join(10)
    assert [str(e) for e in errors] == ["bad"]
    assert isinstance(w.finish(), ValueError)


def test_bad_bound_refused() -> None:
    with pytest.raises(ValueError):
        OrderedWorker(0)
