"""``main``: run one command, and turn every failure into a message and an exit status."""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
import traceback
import warnings
from collections.abc import Callable, Sequence
from typing import Any

from nzarc.cli.common import EXIT_FAILURE, EXIT_USAGE, UsageError, err, warn
from nzarc.cli.create import cmd_create
from nzarc.cli.info import cmd_info
from nzarc.cli.keys import cmd_keygen
from nzarc.cli.parser import build_parser, parse
from nzarc.cli.read import cmd_extract, cmd_list, cmd_test
from nzarc.cli.tools import cmd_bench, cmd_codecs, cmd_model
from nzarc.display import os_error_message
from nzarc.errors import DecryptionError, NzarcError
from nzarc.signals import Terminated, exit_status, terminate_as_interrupt

__all__ = ["COMMANDS", "DEBUG_VAR", "main"]

COMMANDS: dict[str, Callable[[argparse.Namespace], int]] = {
    "create": cmd_create,
    "extract": cmd_extract,
    "list": cmd_list,
    "test": cmd_test,
    "info": cmd_info,
    "keygen": cmd_keygen,
    "codecs": cmd_codecs,
    "model": cmd_model,
    "bench": cmd_bench,
}


def _command_word(argv: Sequence[str]) -> str | None:
    for a in argv:
        if not a.startswith("-"):
            return a
    return None


def _silence_stdout() -> None:
    """After a closed pipe, point stdout at /dev/null so the exit flush is quiet."""
    with contextlib.suppress(OSError, ValueError):
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)


_MEMORY_HINT = "free memory, or raise the process's memory limit (ulimit -v)"
#: The out-of-memory hint per command: only options that command has.
_MEMORY_HINTS = {
    "create": "use a smaller --chunk-size, fewer --jobs, or -c zstd",
    "extract": "free memory or raise the limit (ulimit -v); --codecs zstd refuses neural archives",
    "test": "free memory or raise the limit (ulimit -v); --codecs zstd refuses neural archives",
}


def _cli_hint(e: NzarcError) -> str | None:
    """The library's hint, phrased for the command line where it names API arguments."""
    if isinstance(e, DecryptionError) and e.hint and "passphrase=" in e.hint:
        return "set NZARC_PASSPHRASE, use --passphrase-file FILE, or run on a terminal to be asked"
    return e.hint


def _show_warning(message: Warning | str, category: type[Warning], *rest: Any, **kw: Any) -> None:
    """Print a warning as one ``nzarc: warning:`` line (no source line, no path)."""
    warn(str(message))


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; return the exit status."""
    args_list = list(sys.argv[1:] if argv is None else argv)
    warnings.showwarning = _show_warning
    with terminate_as_interrupt():
        return _main(args_list)


def _main(args_list: list[str]) -> int:
    try:
        word = _command_word(args_list)
        if word == "bench":  # everything after 'bench' belongs to the harness
            rest = args_list[args_list.index("bench") + 1 :]
            return cmd_bench(argparse.Namespace(command="bench", rest=rest))
        parser = build_parser(with_model=word == "model")
        args = parse(parser, args_list)
        return COMMANDS[args.command](args)
    except UsageError as e:  # before NzarcError: a usage error is one, with its own status
        err(e.message, e.hint)
        return EXIT_USAGE
    except NzarcError as e:
        err(e.message, _cli_hint(e))
        return EXIT_FAILURE
    except KeyboardInterrupt as e:
        sys.stderr.write("\n")
        err(f"terminated by {e.name}" if isinstance(e, Terminated) else "interrupted")
        return exit_status(e)
    except BrokenPipeError:
        _silence_stdout()
        if args_list and _command_word(args_list) in ("create", "keygen"):
            err("output closed before the archive was complete")
        return EXIT_FAILURE
    except OSError as e:
        msg = os_error_message(e)  # names the file(s), escaped
        err(msg, getattr(e, "hint", None))
        return EXIT_FAILURE
    except MemoryError:
        err("out of memory", hint=_MEMORY_HINTS.get(_command_word(args_list) or "", _MEMORY_HINT))
        return EXIT_FAILURE
    except Exception as e:  # not an NzarcError: a bug, never the user's input
        return _internal_error(e)


#: Set to a non-empty value to see the traceback of an internal error.
DEBUG_VAR = "NZARC_DEBUG"


def _internal_error(e: Exception) -> int:
    """Report an exception nzarc did not raise on purpose as one line (its traceback with
    ``NZARC_DEBUG=1``); the exit status is that of any failure."""
    if os.environ.get(DEBUG_VAR):
        traceback.print_exception(e)
    err(
        f"internal error: {type(e).__name__}: {e}",
        hint=f"please report it, with the output of the same command under {DEBUG_VAR}=1",
    )
    return EXIT_FAILURE
