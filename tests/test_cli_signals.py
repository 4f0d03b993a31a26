"""SIGINT, SIGTERM and SIGHUP: ``nzarc`` stops promptly, removes what it had half written,
and exits with 128 + the signal number (130, 143, 129), never with a traceback."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from cli_support import nzarc_executable

from nzarc.signals import CancelToken, Terminated, exit_status, terminate_as_interrupt

PW = {"NZARC_PASSPHRASE": "correct horse battery staple"}


def _env(home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("NZARC_")}
    env.update(NZARC_HOME=str(home), **PW)
    return env


def _start(args: list[str], home: Path, **kw: object) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [nzarc_executable(), *args],
        stderr=subprocess.PIPE, env=_env(home), start_new_session=True,
        # a runner that starts tests with SIGINT ignored (a background job, nohup) would pass
        # that on, and Python keeps an inherited SIG_IGN: give the child the default
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
        **kw,  # type: ignore[arg-type]
    )


def _wait_for(cond: object, proc: subprocess.Popen[bytes], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not cond():  # type: ignore[operator]
        assert time.monotonic() < deadline, "timed out waiting for the run to get going"
        assert proc.poll() is None, proc.stderr.read().decode() if proc.stderr else ""
        time.sleep(0.02)


def _stop(proc: subprocess.Popen[bytes], sig: int, within: float) -> tuple[int, str, float]:
    """Send ``sig``; return (exit status, stderr, seconds it took to exit)."""
    t0 = time.monotonic()
    proc.send_signal(sig)
    try:
        _, err = proc.communicate(timeout=within + 30)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.communicate(timeout=30)
        raise AssertionError(f"nzarc did not stop on signal {sig}") from None
    return proc.returncode, err.decode(), time.monotonic() - t0


def _cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _tmp_names(d: Path) -> list[str]:
    return [p.name for p in d.rglob("*") if "nzarc-tmp" in p.name]


@pytest.mark.parametrize(("sig", "status"), [(signal.SIGTERM, 143), (signal.SIGHUP, 129)])
def test_terminated_create_removes_its_temporary_archive(
    tmp_path: Path, sig: int, status: int
) -> None:
    out = tmp_path / "out"
    out.mkdir()
    arc = out / "a.nzarc"
    proc = _start(["create", "-o", str(arc), "-"], tmp_path / "home", stdin=subprocess.PIPE)
    assert proc.stdin is not None
    proc.stdin.write(b"x" * 100_000)
    proc.stdin.flush()
    _wait_for(lambda: _tmp_names(out), proc)
    time.sleep(0.3)
    rc, err, _ = _stop(proc, sig, 10)
    assert rc == status, err
    assert "Traceback" not in err and f"terminated by {signal.Signals(sig).name}" in err
    assert list(out.iterdir()) == []


def test_terminated_extract_leaves_no_temporary_files(tmp_path: Path) -> None:
    """The archive arrives on stdin and stops half way through a big file: the extractor
    holds a temporary file when SIGTERM comes, and must remove it."""
    home = tmp_path / "home"
    big = tmp_path / "big.bin"
    big.write_bytes(os.urandom(8 << 20))
    arc = tmp_path / "a.nzarc"
    subprocess.run(
        [nzarc_executable(), "create", "-c", "zstd", "--chunk-size", "64K", "-o", str(arc), str(big)],
        env=_env(home), check=True, timeout=120, stderr=subprocess.PIPE,
    )
    data = arc.read_bytes()
    dest = tmp_path / "dest"
    proc = _start(["extract", "-", "-C", str(dest)], home, stdin=subprocess.PIPE)
    assert proc.stdin is not None
    proc.stdin.write(data[: 3 * len(data) // 4])  # the rest never comes
    proc.stdin.flush()
    _wait_for(lambda: dest.is_dir() and _tmp_names(dest), proc)
    rc, err, _ = _stop(proc, signal.SIGTERM, 10)
    assert rc == 143, err
    assert "Traceback" not in err
    assert _tmp_names(dest) == [] and not (dest / "big.bin").exists()


@pytest.fixture(scope="module")
def tiny_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A model store whose default model is the tiny seeded model (slow enough per chunk)."""
    pytest.importorskip("gguf")
    pytest.importorskip("torch")
    from nzarc.neural.tiny import install_tiny_home

    return install_tiny_home(tmp_path_factory.mktemp("tiny-home"))


@pytest.mark.parametrize(("sig", "status"), [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_signal_stops_neural_create_within_two_seconds(
    tiny_home: Path, tmp_path: Path, sig: int, status: int
) -> None:
    words = b"the cat sat on a mat and then went home quickly".split()
    text = tmp_path / "text.txt"
    text.write_bytes(b" ".join(words[(i * 7) % len(words)] for i in range(300_000)))
    out = tmp_path / "out"
    out.mkdir()
    proc = _start(
        ["create", "--no-encrypt", "-c", "neural", "-o", str(out / "a.nzarc"), str(text)],
        tiny_home, stdin=subprocess.DEVNULL,
    )
    # Starting (torch, the model) takes about 2 s of CPU time; encoding the text about a
    # minute: past 6 s the single chunk is being encoded.
    _wait_for(lambda: _tmp_names(out) and _cpu_seconds(proc.pid) > 6, proc, timeout=120)
    assert proc.poll() is None, "the neural run ended before it could be interrupted"
    rc, err, took = _stop(proc, sig, 2)
    assert rc == status, err
    assert "Traceback" not in err
    assert took < 2.0, f"took {took:.1f} s to stop"
    assert list(out.iterdir()) == []


# -- library pieces -----------------------------------------------------------------------


def test_exit_status_is_128_plus_the_signal() -> None:
    assert exit_status(KeyboardInterrupt()) == 130
    assert exit_status(Terminated(signal.SIGTERM)) == 143
    assert exit_status(Terminated(signal.SIGHUP)) == 129
    assert Terminated(signal.SIGTERM).name == "SIGTERM"


def test_handlers_raise_terminated_and_are_restored() -> None:
    before = signal.getsignal(signal.SIGTERM)
    with pytest.raises(Terminated, match="15") as ei, terminate_as_interrupt():
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(5)  # the handler raises as soon as the signal is delivered
    assert ei.value.signum == signal.SIGTERM
    assert signal.getsignal(signal.SIGTERM) == before


def test_an_ignored_signal_stays_ignored() -> None:
    old = signal.signal(signal.SIGHUP, signal.SIG_IGN)
    try:
        with terminate_as_interrupt():
            assert signal.getsignal(signal.SIGHUP) == signal.SIG_IGN
            os.kill(os.getpid(), signal.SIGHUP)  # nothing happens
            time.sleep(0.05)
    finally:
        signal.signal(signal.SIGHUP, old)


def test_interrupted_wait_sets_the_cancel_token() -> None:
    import _thread
    from concurrent.futures import Future

    from nzarc.workers import wait_result

    never: Future[int] = Future()
    token = CancelToken()
    # interrupt_main does nothing while SIGINT is ignored, as it is for a runner started in
    # the background: Python's own handler for the length of the test
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    timer = threading.Timer(0.3, _thread.interrupt_main)
    timer.start()
    try:
        with pytest.raises(KeyboardInterrupt):
            wait_result(never, token)
    finally:
        timer.cancel()
        signal.signal(signal.SIGINT, previous)
    assert token.is_set


def test_aborted_executor_cancels_running_codec_work() -> None:
    """``shutdown(cancel_futures=True)`` (an aborted archive) sets the token the codecs see."""
    from nzarc.signals import Cancelled
    from nzarc.workers import make_executor

    ex = make_executor(1)
    started = threading.Event()

    def work() -> None:
        started.set()
        while True:
            ex.cancel.check()
            time.sleep(0.01)

    fut = ex.submit(work)
    assert started.wait(10)
    t0 = time.monotonic()
    ex.shutdown(cancel_futures=True)
    assert time.monotonic() - t0 < 2
    with pytest.raises(Cancelled):
        fut.result(timeout=1)


if not sys.platform.startswith("linux"):  # pragma: no cover
    pytestmark = pytest.mark.skip("POSIX signals and /proc")
