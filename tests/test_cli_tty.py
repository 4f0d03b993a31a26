"""Passphrase prompts on a real (pseudo-)terminal: asked twice on create, once on extract."""

from __future__ import annotations

import os
import pty
import select
import time
from pathlib import Path

import pytest
from cli_support import nzarc_executable, run_nzarc


def _run_on_tty(argv: list[str], answers: list[str], env: dict[str, str], cwd: Path) -> tuple[int, str]:
    """Run nzarc with a pty as controlling terminal, typing ``answers`` at each prompt."""
    pid, fd = pty.fork()
    if pid == 0:  # child
        try:
            os.chdir(cwd)
            os.execve(nzarc_executable(), [nzarc_executable(), *argv], env)
        finally:
            os._exit(127)
    out = _converse(fd, answers)
    _, status = os.waitpid(pid, 0)
    os.close(fd)
    return os.waitstatus_to_exitcode(status), out.decode("utf-8", "replace")


def _converse(fd: int, answers: list[str], timeout: float = 120) -> bytes:
    """Read the terminal until the child closes it, answering each new prompt once.

    An answer is typed only after a prompt that appeared since the previous
    answer (text ending in ': '), never on the echo of the previous answer.
    """
    out = b""
    since_answer = b""
    pending = list(answers)
    deadline = time.monotonic() + timeout
    while True:
        ready, _, _ = select.select([fd], [], [], max(0.0, deadline - time.monotonic()))
        if not ready:
            raise AssertionError(f"no progress on the terminal; output so far: {out!r}")
        try:
            chunk = os.read(fd, 4096)
        except OSError:  # EIO: the child closed the terminal
            break
        if not chunk:
            break
        out += chunk
        since_answer += chunk
        if pending and since_answer.endswith(b": ") and b"Passphrase" in since_answer:
            os.write(fd, pending.pop(0).encode() + b"\n")
            since_answer = b""
    return out


@pytest.fixture
def env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    e = {k: v for k, v in os.environ.items() if not k.startswith("NZARC_")}
    e["NZARC_HOME"] = str(tmp_path_factory.mktemp("home"))
    return e


def test_prompt_twice_on_create_once_on_extract(env: dict[str, str], tmp_path: Path) -> None:
    (tmp_path / "f.txt").write_text("secret stuff")
    rc, out = _run_on_tty(["create", "-o", "a.nzarc", "f.txt"], ["s3cret", "s3cret"], env, tmp_path)
    assert rc == 0, out
    assert out.count("Passphrase") == 2 and "s3cret" not in out  # no echo
    rc, out = _run_on_tty(["extract", "a.nzarc", "-C", "out"], ["s3cret"], env, tmp_path)
    assert rc == 0, out
    assert out.count("Passphrase") == 1
    assert (tmp_path / "out" / "f.txt").read_text() == "secret stuff"
    r = run_nzarc("test", tmp_path / "a.nzarc", home=Path(env["NZARC_HOME"]),
                  env={"NZARC_PASSPHRASE": "s3cret"})
    r.assert_ok()


def test_prompt_mismatch_is_usage_error(env: dict[str, str], tmp_path: Path) -> None:
    (tmp_path / "f.txt").write_text("x")
    rc, out = _run_on_tty(["create", "-o", "a.nzarc", "f.txt"], ["one", "two"], env, tmp_path)
    assert rc == 2, out
    assert "nzarc: error: the two passphrases differ" in out and "Traceback" not in out
    assert sorted(p.name for p in tmp_path.iterdir()) == ["f.txt"]


def test_prompt_from_pipe_input(env: dict[str, str], tmp_path: Path) -> None:
    """extract - reads the archive from stdin and still prompts on the terminal."""
    (tmp_path / "f.txt").write_text("piped")
    home = Path(env["NZARC_HOME"])
    arc = run_nzarc("create", "-o", "-", tmp_path / "f.txt", home=home,
                    env={"NZARC_PASSPHRASE": "pw"}).assert_ok().stdout
    (tmp_path / "a.nzarc").write_bytes(arc)
    # stdin is a pipe from a file (not seekable through cat), the terminal is the pty.
    script = f"cat a.nzarc | {nzarc_executable()} extract - -C out"
    pid, fd = pty.fork()
    if pid == 0:
        try:
            os.chdir(tmp_path)
            os.execve("/bin/sh", ["/bin/sh", "-c", script], env)
        finally:
            os._exit(127)
    out = _converse(fd, ["pw"])
    _, status = os.waitpid(pid, 0)
    os.close(fd)
    assert os.waitstatus_to_exitcode(status) == 0, out
    assert (tmp_path / "out" / "f.txt").read_text() == "piped"
