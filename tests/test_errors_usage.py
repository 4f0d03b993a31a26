"""Usage errors are part of the one hierarchy, and an exception that is not an NzarcError
is reported by the command line as an internal error, never as a data problem."""

from __future__ import annotations

import argparse
import importlib
import io
from typing import Any

import pytest

import nzarc
from nzarc import errors
from nzarc.api import generate_identity
from nzarc.cli.common import EXIT_FAILURE, EXIT_USAGE

cli_main = importlib.import_module("nzarc.cli.main")  # the module, not the function


def test_usage_errors_join_the_hierarchy() -> None:
    from nzarc.cli import UsageError as CliUsageError
    from nzarc.levels import CodecOptionError
    from nzarc.passphrase import PassphraseInputError

    assert CliUsageError is errors.UsageError
    assert issubclass(errors.UsageError, errors.NzarcError)
    assert issubclass(errors.UsageError, ValueError)
    for cls in (CodecOptionError, PassphraseInputError):
        assert issubclass(cls, errors.UsageError)
    e = PassphraseInputError("no passphrase entered", hint="use --passphrase-file")
    assert (str(e), e.message, e.hint) == ("no passphrase entered", "no passphrase entered",
                                           "use --passphrase-file")


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"segment_size": 3 << 16, "encrypt": False}, "power of two"),
        ({"passphrase": "pw", "recipients": "REC"}, "cannot be combined"),
        ({}, "needs a passphrase"),
        ({"passphrase": "pw", "encrypt": False}, "encrypt=False"),
        ({"suite": "rot13", "encrypt": False}, "suite must be"),
    ],
)
def test_writer_argument_checks_are_usage_errors(kwargs: dict, message: str) -> None:
    if kwargs.get("recipients") == "REC":
        kwargs = {**kwargs, "recipients": [generate_identity()[1]]}
    with pytest.raises(errors.UsageError, match=message):
        nzarc.ArchiveWriter(io.BytesIO(), **kwargs)


def test_pipeline_and_policy_checks_are_usage_errors() -> None:
    from nzarc.codecs.context import CodecContext
    from nzarc.policy import parse_codec_list
    from nzarc.workers import default_jobs

    with pytest.raises(errors.UsageError, match="jobs must be at least 1"):
        default_jobs(0)
    with pytest.raises(errors.UsageError, match="codec list is empty"):
        parse_codec_list(" , ")
    with pytest.raises(errors.UsageError, match="device must be"):
        CodecContext(device="tpu")


def _run_with(monkeypatch: pytest.MonkeyPatch, exc: BaseException) -> int:
    def broken(args: argparse.Namespace) -> int:
        raise exc

    monkeypatch.setitem(cli_main.COMMANDS, "codecs", broken)
    return cli_main.main(["codecs"])


@pytest.mark.parametrize("exc", [ValueError("bad thing"), TypeError("bad thing"),
                                 AttributeError("bad thing"), KeyError("bad thing")])
def test_a_bug_is_an_internal_error(monkeypatch: pytest.MonkeyPatch,
                                    capsys: pytest.CaptureFixture[str], exc: Exception) -> None:
    monkeypatch.delenv(cli_main.DEBUG_VAR, raising=False)
    assert _run_with(monkeypatch, exc) == EXIT_FAILURE
    err = capsys.readouterr().err
    lines = err.splitlines()
    assert lines[0] == f"nzarc: error: internal error: {type(exc).__name__}: {exc}"
    assert lines[1].startswith("hint: ") and "NZARC_DEBUG=1" in lines[1]
    assert len(lines) == 2 and "Traceback" not in err


def test_debug_shows_the_traceback(monkeypatch: pytest.MonkeyPatch,
                                   capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv(cli_main.DEBUG_VAR, "1")
    assert _run_with(monkeypatch, ValueError("bad thing")) == EXIT_FAILURE
    err = capsys.readouterr().err
    assert "Traceback (most recent call last)" in err and "in broken" in err
    assert "nzarc: error: internal error: ValueError: bad thing" in err


def test_a_library_usage_error_exits_2(monkeypatch: pytest.MonkeyPatch,
                                       capsys: pytest.CaptureFixture[str]) -> None:
    from nzarc.levels import CodecOptionError

    exc = CodecOptionError("nzarc.store takes no level", hint="a level applies to zstd")
    assert _run_with(monkeypatch, exc) == EXIT_USAGE
    assert capsys.readouterr().err.splitlines() == [
        "nzarc: error: nzarc.store takes no level", "hint: a level applies to zstd"]


def test_an_nzarc_error_still_exits_1(monkeypatch: pytest.MonkeyPatch,
                                      capsys: pytest.CaptureFixture[str]) -> None:
    assert _run_with(monkeypatch, errors.IntegrityError("chunk 3 fails")) == EXIT_FAILURE
    assert capsys.readouterr().err == "nzarc: error: chunk 3 fails\n"


def test_reading_a_pipe_twice_is_a_usage_error() -> None:
    class Pipe(io.RawIOBase):
        def __init__(self, data: bytes) -> None:
            self._b = io.BytesIO(data)

        def readable(self) -> bool:
            return True

        def readinto(self, buf: Any) -> int:
            chunk = self._b.read(len(buf))
            buf[: len(chunk)] = chunk
            return len(chunk)

    out = io.BytesIO()
    with nzarc.ArchiveWriter(out, encrypt=False) as w:
        w.add_bytes("a", b"abc")
    with nzarc.open(Pipe(out.getvalue())) as r:
        list(r.iter_members())
        with pytest.raises(errors.UsageError, match="read only once"):
            list(r.iter_members())
