"""A `dask scheduler` process killed in the middle of a neural create: the command fails
with one clear error line within a bounded time, exit 1, and leaves no archive behind.

The scheduler and its worker are real ``dask scheduler`` / ``dask worker`` processes on
127.0.0.1 (a free port), the worker with the tiny seeded model.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from cluster_helpers import worker_env

from nzarc.testing import text_sample

#: Seconds the create may take to fail once its scheduler is gone.
BOUND = 60.0


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _env(home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("NZARC_")}
    env.update(worker_env(home))
    return env


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(30)


@pytest.fixture
def scheduler(tiny_home: Path) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """A ``dask scheduler`` process and one single-threaded ``dask worker`` attached to it."""
    port = _free_port()
    address = f"tcp://127.0.0.1:{port}"
    env = _env(tiny_home)
    common = dict(env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                  stderr=subprocess.DEVNULL, start_new_session=True)
    sched = subprocess.Popen([sys.executable, "-m", "distributed.cli.dask_scheduler", "--host",
                              "127.0.0.1", "--port", str(port), "--no-dashboard"], **common)
    worker = subprocess.Popen([sys.executable, "-m", "distributed.cli.dask_worker", address,
                               "--host", "127.0.0.1", "--nthreads", "1", "--nworkers", "1",
                               "--no-dashboard"], **common)
    try:
        import distributed

        with distributed.Client(address, timeout=60, set_as_default=False) as client:
            client.wait_for_workers(1, timeout=60)
        yield address, sched
    finally:
        _stop(worker)
        _stop(sched)


def test_scheduler_killed_mid_create_fails_in_bounded_time_and_leaves_nothing(
    scheduler: tuple[str, subprocess.Popen[bytes]], tiny_home: Path, tmp_path: Path
) -> None:
    address, sched = scheduler
    src = tmp_path / "in"
    src.mkdir()
    (src / "prose.txt").write_bytes(text_sample(96 * 1024, seed=4))
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    archive = out_dir / "a.nzarc"
    create = subprocess.Popen(
        [sys.executable, "-m", "nzarc", "create", "--no-encrypt", "-c", "neural", "--window",
         "64", "--chunk-size", "8192", "--scheduler", address, "--scheduler-timeout", "5",
         "-o", str(archive), str(src)],
        env=_env(tiny_home), stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, text=True, start_new_session=True,
    )
    try:
        # The create is under way once its partial archive exists (it connects first).
        deadline = time.monotonic() + 120
        while not any(out_dir.iterdir()) and create.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(1.0)  # some windows are on the worker
        assert create.poll() is None, "the create finished before the scheduler could be killed"
        os.killpg(sched.pid, signal.SIGKILL)
        killed = time.monotonic()
        _, stderr = create.communicate(timeout=BOUND + 30)
        elapsed = time.monotonic() - killed
    finally:
        if create.poll() is None:
            os.killpg(create.pid, signal.SIGKILL)
            create.wait(30)
    assert create.returncode == 1, stderr
    assert elapsed < BOUND, elapsed
    errors = [line for line in stderr.splitlines() if line.startswith("nzarc: error:")]
    assert len(errors) == 1, stderr
    assert "Dask scheduler" in errors[0] and address in errors[0], stderr
    assert "Traceback" not in stderr, stderr
    assert sorted(out_dir.iterdir()) == [], "a partial archive was left behind"
