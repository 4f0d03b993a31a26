"""The argument parser: every command's options, their types and the help text."""

from __future__ import annotations

import argparse
from types import ModuleType
from typing import Any, NoReturn

from nzarc.cli.common import PROG, UsageError
from nzarc.options import (
    DEFAULT_CHUNK_SIZE,
    DEFAULT_SUITE,
    DEVICES,
    ENCRYPTION_SUITES,
    MAX_CHUNK_SIZE,
    MIN_CHUNK_SIZE,
)
from nzarc.progress import DEFAULT_PERIOD, progress_period

__all__ = ["EPILOG", "build_parser", "parse", "size", "model_module"]

EPILOG = """\
exit status:
  0  success
  1  data, integrity, key or filesystem problem (corrupt or forged archive,
     wrong passphrase or identity, unreadable or malformed key file, missing
     codec or model, refused overwrite, -C not a directory, disk full);
     also an internal error (a bug: NZARC_DEBUG=1 shows its traceback)
  2  usage error (bad arguments, no passphrase available, binary to a terminal)
  3  create: archive written, but inputs that vanished or could not be read were
     skipped (each named in a warning); with --strict this is a failure (1)
  128+N  stopped by signal N, partial output removed (130 Ctrl-C, 143 SIGTERM,
     129 SIGHUP)

Passphrases come from --passphrase-file, the NZARC_PASSPHRASE environment
variable, or a prompt on the terminal (asked twice on create); never stdin.
"""


class _Parser(argparse.ArgumentParser):
    """ArgumentParser whose errors become :class:`UsageError` (one line + hint).
    ``commands`` maps each subcommand to its parser (set by :func:`build_parser`)."""

    commands: dict[str, argparse.ArgumentParser]

    def error(self, message: str) -> NoReturn:
        raise UsageError(message, hint=f"see '{self.prog} --help'")


def size(text: str) -> int:
    """Parse ``4096``, ``64K``, ``64KiB``, ``1M``, ``1MiB`` (binary multiples)."""
    t = text.strip().lower().removesuffix("ib").removesuffix("b")
    mult = 1
    if t and t[-1] in "kmg":
        mult = 1 << (10 * ("kmg".index(t[-1]) + 1))
        t = t[:-1]
    try:
        value = int(t) * mult
    except ValueError:
        raise argparse.ArgumentTypeError(f"invalid size {text!r} (examples: 65536, 64K, 1M)") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"size must be positive, not {text!r}")
    return value


def _chunk_size(text: str) -> int:
    value = size(text)
    if not MIN_CHUNK_SIZE <= value <= MAX_CHUNK_SIZE:
        raise argparse.ArgumentTypeError(
            f"chunk size must be between {MIN_CHUNK_SIZE} and {MAX_CHUNK_SIZE} bytes, not {text!r}"
        )
    return value


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"invalid number {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, not {text!r}")
    return value


def codec_option(text: str) -> tuple[str, int | str]:
    """Parse ``-m KEY=VALUE``: the value is an int when it looks like one (``-3``, ``19``),
    else the string as given."""
    key, sep, value = text.partition("=")
    if not sep or not key.strip():
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE, not {text!r}")
    digits = value[1:] if value[:1] in "+-" else value
    return key.strip(), int(value) if digits.isdigit() and digits.isascii() else value


def _add_verbosity(p: argparse.ArgumentParser) -> None:
    g = p.add_mutually_exclusive_group()
    g.add_argument("-q", "--quiet", action="store_true", help="no progress display")
    g.add_argument("-v", "--verbose", action="store_true", help="list members on stderr")


def _add_progress(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--progress",
        action="store_true",
        help="show progress even when stderr is not a terminal: one line every "
        f"{DEFAULT_PERIOD:g} seconds (wins over -q)",
    )
    p.add_argument(
        "--progress-interval",
        type=progress_period,
        metavar="SECONDS",
        help="seconds between two --progress lines (implies --progress)",
    )


def _add_device(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--device",
        choices=DEVICES,
        help="where the neural codec runs: cpu (default) or cuda (needs a CUDA GPU; GPU runs are "
        "untested until bench/gpu_check.sh has passed on one)",
    )


def _add_cluster(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--scheduler",
        metavar="ADDRESS",
        help="run the neural codec's window coding on the workers of the Dask cluster whose "
        "scheduler is ADDRESS (tcp://host:8786, tls://host:8786; default: $NZARC_SCHEDULER, "
        "else locally); needs pip install 'nzarc[dask]' and the model on every worker",
    )
    p.add_argument(
        "--cluster-inflight",
        type=_positive_int,
        metavar="N",
        help="with --scheduler: most window tasks outstanding at once (default: twice the "
        "cluster's worker threads)",
    )
    p.add_argument(
        "--scheduler-timeout",
        type=_seconds,
        metavar="SECONDS",
        help="with --scheduler: seconds to reach the scheduler and a worker (default 30)",
    )


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number of seconds: {text!r}") from None
    if not value > 0 or value != value or value == float("inf"):
        raise argparse.ArgumentTypeError(f"must be a number of seconds > 0, got {text!r}")
    return value


def _add_decode_jobs(p: argparse.ArgumentParser) -> None:
    p.add_argument("-j", "--jobs", type=_positive_int, metavar="JOBS",
                   help="decoding threads (default: one per CPU); the output never depends on it")


def _add_read_keys(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "-i",
        "--identity",
        action="append",
        default=[],
        metavar="IDENTITY_FILE",
        help="file of AGE-SECRET-KEY-1... identities (repeatable)",
    )
    p.add_argument("--passphrase-file", metavar="FILE", help="read the passphrase from FILE's first line")


def _codec_list(text: str) -> frozenset[str]:
    from nzarc.policy import parse_codec_list

    try:
        return parse_codec_list(text)
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e)) from None


def _ratio(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"invalid ratio {text!r} (a number; inf for no limit)") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"ratio must be positive, not {text!r}")
    return value


def _add_decode_policy(p: argparse.ArgumentParser) -> None:
    p.add_argument("--codecs", type=_codec_list, metavar="LIST",
                   help="decode only these codecs (comma-separated: store, zstd, xz, neural or ids; "
                        "store is always allowed); refuse an archive that needs another")
    p.add_argument("--max-ratio", type=_ratio, metavar="N",
                   help="refuse chunks declaring more than N times their coded size (default: "
                        "each codec's own limit: neural 32, store 1, zstd and xz none; inf: no limit)")


def build_parser(*, with_model: bool = False) -> argparse.ArgumentParser:
    """The full parser. ``with_model`` asks the neural model module to add
    its ``model`` subcommand (imported only when that command is used)."""
    parser = _Parser(
        prog=PROG,
        description="Encrypted archives with pluggable codecs, including an exact neural one.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {_version()}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    sub.required = True

    def add(name: str, help_text: str, **kw: Any) -> argparse.ArgumentParser:
        return sub.add_parser(
            name,
            help=help_text,
            description=help_text,
            epilog=EPILOG,
            formatter_class=argparse.RawDescriptionHelpFormatter,
            **kw,
        )

    # create
    p = add("create", "create an archive (encrypted unless --no-encrypt)")
    p.add_argument(
        "-o",
        "--output",
        required=True,
        metavar="ARCHIVE",
        help="archive to write ('-' for stdout); written to a temporary file, fsync-ed, "
        "then renamed into place; an existing ARCHIVE is replaced only with --force",
    )
    p.add_argument("-f", "--force", action="store_true", help="replace an existing ARCHIVE")
    p.add_argument(
        "-p",
        "--passphrase",
        action="store_true",
        help="encrypt with a passphrase (the default when no -r/-R is given)",
    )
    p.add_argument("--passphrase-file", metavar="FILE", help="read the passphrase from FILE's first line")
    p.add_argument("-r", "--recipient", action="append", default=[], metavar="age1...",
                   help="encrypt to this X25519 public key (repeatable)")
    p.add_argument("-R", "--recipients-file", action="append", default=[], metavar="RECIPIENTS_FILE",
                   help="encrypt to every age1... key in this file (repeatable)")
    p.add_argument("--no-encrypt", action="store_true",
                   help="do not encrypt (corruption is still detected, forgery is not)")
    p.add_argument("-c", "--codec", metavar="CODEC",
                   help="auto (default), neural, zstd, xz, store, or a codec id")
    preset = p.add_mutually_exclusive_group()
    preset.add_argument("--fast", action="store_const", const="fast", dest="preset",
                        help="-c zstd -l 3: fastest, never the neural model")
    preset.add_argument("--best", action="store_const", const="best", dest="preset",
                        help="-c auto -m version=2 -m lanes=1: the neural codec's mixing "
                             "bitstream, smallest and slowest to extract")
    p.add_argument("-l", "--level", type=int,
                   help="zstd level (-7..22; default 19) or xz level (0..9; default 9, extreme); "
                        "under auto it is that of the zstd candidate; -c neural and -c store "
                        "take no level")
    p.add_argument("--window", type=_positive_int, metavar="TOKENS",
                   help="tokens per window of the neural codec (default 4096): longer windows "
                        "compress text better and run slower")
    p.add_argument("-m", "--codec-opt", action="append", default=[], type=codec_option,
                   metavar="KEY=VALUE", dest="codec_opts",
                   help="a param of the codec (repeatable; any codec's, a plugin's too): VALUE "
                        "is an int when it looks like one, else a string; under auto it goes "
                        "to the first candidate that takes KEY; -l N is -m level=N and "
                        "--window N is -m window=N")
    p.add_argument("--chunk-size", type=_chunk_size, default=DEFAULT_CHUNK_SIZE, metavar="SIZE",
                   help="solid-mode chunk size (default 1M)")
    p.add_argument("-j", "--jobs", type=_positive_int, metavar="JOBS", help="parallel jobs")
    p.add_argument("--pad", action="store_true", help="pad the payload length (Padme) to hide the exact size")
    p.add_argument("--suite", choices=ENCRYPTION_SUITES, default=DEFAULT_SUITE, help="AEAD suite")
    p.add_argument("--verify", action="store_true", help="decode every chunk again before writing it")
    p.add_argument(
        "--strict", action="store_true",
        help="fail (exit 1, no archive) when an input vanishes or cannot be read, "
        "instead of skipping it with a warning (exit 3)",
    )
    p.add_argument("--exclude", action="append", default=[], metavar="PATTERN",
                   help="leave out every input whose member name, or a tail of it after a '/', "
                        "matches the shell PATTERN ('*' matches '/' too, as in tar; repeatable)")
    p.add_argument("--exclude-from", action="append", default=[], metavar="FILE",
                   help="--exclude each pattern in FILE, one a line (blank lines and lines "
                        "starting with '#' ignored; repeatable)")
    p.add_argument("-C", "--directory", metavar="DIR",
                   help="read relative PATHs inside DIR and store them under the PATH as given "
                        "('.' for DIR's entries at the top), as tar -C does; ARCHIVE stays "
                        "relative to the current directory")
    p.add_argument("--name", metavar="NAME", help="member name for data read from stdin ('-')")
    p.add_argument("--force-tty", action="store_true",
                   help="write the binary archive to stdout even when it is a terminal")
    _add_device(p)
    _add_cluster(p)
    _add_verbosity(p)
    _add_progress(p)
    p.add_argument("paths", nargs="+", metavar="PATH", help="files or directories; '-' for stdin")

    # extract
    p = add("extract", "extract members into a directory")
    p.add_argument("archive", metavar="ARCHIVE", help="archive to read; '-' for stdin")
    p.add_argument("-C", "--directory", metavar="DIR", help="extract into DIR (default .)")
    p.add_argument("-O", "--to-stdout", action="store_true",
                   help="write the selected files' contents to stdout, concatenated in archive "
                        "order, and nothing to disk (a member failing its SHA-256 check ends "
                        "the output with exit 1)")
    _add_read_keys(p)
    _add_decode_policy(p)
    p.add_argument("--force", action="store_true", help="replace existing files")
    p.add_argument(
        "-p",
        "--same-permissions",
        action="store_true",
        help="keep the archived permission bits, ignoring the umask (the default for root, as tar)",
    )
    p.add_argument(
        "--sync",
        action="store_true",
        help="fsync every extracted file and directory before finishing (default: like tar, "
        "leave writeback to the OS; files still appear only once verified)",
    )
    _add_decode_jobs(p)
    _add_device(p)
    _add_cluster(p)
    _add_verbosity(p)
    _add_progress(p)
    p.add_argument("members", nargs="*", metavar="MEMBER",
                   help="only these members, the members below these directories, or those "
                        "matching these shell patterns ('*' matches '/' too, as in tar)")

    # list
    p = add("list", "list the members of an archive")
    p.add_argument("archive", metavar="ARCHIVE", help="archive to read; '-' for stdin")
    p.add_argument("-l", "--long", action="store_true", help="mode, size and mtime too")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    _add_read_keys(p)
    _add_decode_policy(p)
    p.add_argument("members", nargs="*", metavar="MEMBER",
                   help="only these members, the members below these directories, or those "
                        "matching these shell patterns ('*' matches '/' too, as in tar)")

    # test
    p = add("test", "decrypt, decode and verify everything; write nothing")
    p.add_argument("archive", metavar="ARCHIVE", help="archive to read; '-' for stdin")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    _add_read_keys(p)
    _add_decode_policy(p)
    _add_decode_jobs(p)
    _add_device(p)
    _add_cluster(p)
    _add_verbosity(p)

    # info
    p = add("info", "describe an archive: format, encryption, codecs, models, sizes")
    p.add_argument("archive", metavar="ARCHIVE", help="archive to read; '-' for stdin")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    _add_read_keys(p)

    # keygen
    p = add("keygen", "make a new X25519 identity (public key printed on stderr)")
    p.add_argument("-o", "--output", metavar="FILE", help="write the identity to FILE (mode 0600)")

    # codecs
    p = add("codecs", "list installed codecs and where each comes from")
    p.add_argument("--json", action="store_true", help="machine-readable output")

    # model (neural model management; module loaded only when used)
    if with_model:
        model_module().add_parser(sub)
    else:
        p = add("model", "manage neural models (install, list, verify)", add_help=False)
        p.add_argument("rest", nargs=argparse.REMAINDER)

    # bench (benchmark harness from the source tree; loaded only when used)
    p = add("bench", "run the benchmark harness (source checkout only)", add_help=False)
    p.add_argument("rest", nargs=argparse.REMAINDER)
    parser.commands = dict(sub.choices)
    return parser


def _version() -> str:
    try:
        from nzarc import __version__

        return __version__
    except ImportError:  # pragma: no cover - partial installs
        return "unknown"


def model_module() -> ModuleType:
    """The ``model`` command's module (it imports the neural model store)."""
    from nzarc.neural import model_cli

    return model_cli


def parse(parser: argparse.ArgumentParser, argv: list[str]) -> argparse.Namespace:
    """Parse, letting the MEMBER names of extract and list follow their options
    (``extract A -C DIR m1 m2``), which plain argparse does not allow."""
    args, extra = parser.parse_known_args(argv)
    if not extra:
        return args
    command = getattr(args, "command", None)
    options = [e for e in extra if e.startswith("-") and e != "-"]
    if command in ("extract", "list") and not options:
        args.members = list(args.members) + extra
        return args
    commands: dict[str, argparse.ArgumentParser] = getattr(parser, "commands", {})
    where = commands.get(command, parser) if command else parser
    raise UsageError(f"unrecognized arguments: {' '.join(options or extra)}",
                     hint=_did_you_mean(where, options))


def _did_you_mean(parser: argparse.ArgumentParser, options: list[str]) -> str:
    """``see 'nzarc CMD --help'``, after the closest option of ``parser`` to the first
    unknown one when there is a close one."""
    import difflib

    see = f"see '{parser.prog} --help'"
    if not options:
        return see
    known = [o for action in parser._actions for o in action.option_strings if o.startswith("--")]
    close = difflib.get_close_matches(options[0].split("=", 1)[0], known, n=1, cutoff=0.7)
    return f"did you mean {close[0]}? {see}" if close else see
