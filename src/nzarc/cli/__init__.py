"""The ``nzarc`` command line: argument parsing and user-facing messages.

Everything about the archive format lives in the library (:mod:`nzarc.api`
and below); this package turns arguments into library calls and library
errors into one-line messages and exit statuses:

* 0: success;
* 1: the operation failed because of data, integrity, a key or the
  filesystem (any :class:`~nzarc.errors.NzarcError`, or an ``OSError``):
  a wrong key, or a key file (passphrase, recipients or identity file) that
  is unreadable, malformed or holds an ssh key, a ``-C`` that is not a
  directory, a disk full (the message names the file); also an internal
  error (any other exception: a bug), ``nzarc: error: internal error: <Type>:
  <message>``, whose traceback ``NZARC_DEBUG=1`` shows;
* 2: usage error (bad arguments, no passphrase available, binary output to
  a terminal; any :class:`~nzarc.errors.UsageError`);
* 3: ``create`` wrote the archive, but inputs that vanished or could not be read were
  skipped (each named in a warning); ``--strict`` makes that a failure (1, no archive);
* 128 + N: stopped by signal N, the partial output removed: 130 for Ctrl-C (SIGINT),
  143 for SIGTERM, 129 for SIGHUP.

Errors are printed as ``nzarc: error: <message>`` and, when useful, a second
line ``hint: <what to do>``. Tracebacks are never shown for these.

Every human-readable line shows untrusted text (member names, link targets,
file names, codec ids, recipient types) through :mod:`nzarc.display`, with
control, separator and bidi characters escaped; ``--json`` keeps exact names.
"""

from __future__ import annotations

from nzarc.atomic import AtomicOutput as _AtomicOutput
from nzarc.cli.common import (
    EXIT_FAILURE,
    EXIT_INTERRUPTED,
    EXIT_OK,
    EXIT_SKIPPED,
    EXIT_USAGE,
    UsageError,
)
from nzarc.cli.common import warn as _warn
from nzarc.cli.info import print_info_human as _print_info_human
from nzarc.cli.main import COMMANDS, main
from nzarc.cli.parser import EPILOG, build_parser
from nzarc.cli.parser import parse as _parse
from nzarc.cli.parser import size as _size
from nzarc.cli.source import Replay as _Replay

__all__ = [
    "main",
    "build_parser",
    "UsageError",
    "COMMANDS",
    "EPILOG",
    "EXIT_OK",
    "EXIT_FAILURE",
    "EXIT_USAGE",
    "EXIT_SKIPPED",
    "EXIT_INTERRUPTED",
    "_AtomicOutput",
    "_Replay",
    "_parse",
    "_print_info_human",
    "_size",
    "_warn",
]
