"""The ``nzarc`` command line: argument parsing and user-facing messages.

Everything about the archive format lives in the library (:mod:`nzarc.api`
and below); this module turns arguments into library calls and library
errors into one-line messages and exit statuses:

* 0: success;
* 1: the operation failed because of data, integrity, a key or the
  filesystem (any :class:`~nzarc.errors.NzarcError`, or an ``OSError``):
  a wrong key, or a key file (passphrase, recipients or identity file) that
  is unreadable, malformed or holds an ssh key, a ``-C`` that is not a
  directory, a disk full (the message names the file);
* 2: usage error (bad arguments, no passphrase available, binary output to
  a terminal);
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

import argparse
import contextlib
import io
import os
import stat
import sys
import warnings
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, is_dataclass
from pathlib import Path
from typing import IO, Any, NoReturn

from nzarc.atomic import AtomicOutput as _AtomicOutput
from nzarc.atomic import OutputIsDirectory, check_target
from nzarc.display import non_utf8_hex, one_line, os_error_message, printable
from nzarc.errors import DecryptionError, NzarcError
from nzarc.passphrase import (
    PassphraseInputError,
    read_identity_file,
    read_recipients_file,
    resolve_passphrase,
    tty_available,
)
from nzarc.progress import DEFAULT_PERIOD, Progress, format_bytes, progress_period
from nzarc.signals import Terminated, exit_status, terminate_as_interrupt
from nzarc.walk import WalkOptions

__all__ = ["main", "build_parser", "UsageError", "EXIT_OK", "EXIT_FAILURE", "EXIT_USAGE"]

EXIT_OK = 0
EXIT_FAILURE = 1
EXIT_USAGE = 2
EXIT_SKIPPED = 3
EXIT_INTERRUPTED = 130

PROG = "nzarc"

EPILOG = """\
exit status:
  0  success
  1  data, integrity, key or filesystem problem (corrupt or forged archive,
     wrong passphrase or identity, unreadable or malformed key file, missing
     codec or model, refused overwrite, -C not a directory, disk full)
  2  usage error (bad arguments, no passphrase available, binary to a terminal)
  3  create: archive written, but inputs that vanished or could not be read were
     skipped (each named in a warning); with --strict this is a failure (1)
  128+N  stopped by signal N, partial output removed (130 Ctrl-C, 143 SIGTERM,
     129 SIGHUP)

Passphrases come from --passphrase-file, the NZARC_PASSPHRASE environment
variable, or a prompt on the terminal (asked twice on create); never stdin.
"""

SUITES = ("chacha20-poly1305", "aes-256-gcm")
DEVICES = ("cpu", "cuda")


class _CreateFailed(NzarcError):
    """The writer refused the input (a duplicate name, a limit) with a plain ValueError."""


class UsageError(Exception):
    """The command line is wrong or incomplete (exit status 2)."""

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint


class _Parser(argparse.ArgumentParser):
    """ArgumentParser whose errors become :class:`UsageError` (one line + hint)."""

    def error(self, message: str) -> NoReturn:
        raise UsageError(message, hint=f"see '{self.prog} --help'")


# --------------------------------------------------------------------------- parsing


def _size(text: str) -> int:
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
    from nzarc.format.limits import MAX_CHUNK, MIN_CHUNK

    value = _size(text)
    if not MIN_CHUNK <= value <= MAX_CHUNK:
        raise argparse.ArgumentTypeError(
            f"chunk size must be between {MIN_CHUNK} and {MAX_CHUNK} bytes, not {text!r}"
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
        help="where the neural codec runs (sets NZARC_DEVICE; output is identical on every device)",
    )


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
                   help="decode only these codecs (comma-separated: store, zstd, neural or ids; "
                        "store is always allowed); refuse an archive that needs another")
    p.add_argument("--max-ratio", type=_ratio, metavar="N",
                   help="refuse chunks declaring more than N times their coded size (default: "
                        "each codec's own limit: neural 32, store 1, zstd none; inf: no limit)")


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
    p.add_argument("-c", "--codec", default="auto", metavar="CODEC",
                   help="auto (default), neural, zstd, store, or a codec id")
    p.add_argument("-l", "--level", type=int,
                   help="zstd level (-7..22; default 19); under auto it is that of the zstd "
                        "candidate; -c neural and -c store take no level")
    p.add_argument("--window", type=_positive_int, metavar="TOKENS",
                   help="tokens per window of the neural codec (default 4096): longer windows "
                        "compress text better and run slower")
    p.add_argument("--chunk-size", type=_chunk_size, default=1 << 20, metavar="SIZE",
                   help="solid-mode chunk size (default 1M)")
    p.add_argument("-j", "--jobs", type=_positive_int, metavar="JOBS", help="parallel jobs")
    p.add_argument("--pad", action="store_true", help="pad the payload length (Padme) to hide the exact size")
    p.add_argument("--suite", choices=SUITES, default="chacha20-poly1305", help="AEAD suite")
    p.add_argument("--verify", action="store_true", help="decode every chunk again before writing it")
    p.add_argument(
        "--strict", action="store_true",
        help="fail (exit 1, no archive) when an input vanishes or cannot be read, "
        "instead of skipping it with a warning (exit 3)",
    )
    p.add_argument("--name", metavar="NAME", help="member name for data read from stdin ('-')")
    p.add_argument("--force-tty", action="store_true",
                   help="write the binary archive to stdout even when it is a terminal")
    _add_device(p)
    _add_verbosity(p)
    _add_progress(p)
    p.add_argument("paths", nargs="+", metavar="PATH", help="files or directories; '-' for stdin")

    # extract
    p = add("extract", "extract members into a directory")
    p.add_argument("archive", metavar="ARCHIVE", help="archive to read; '-' for stdin")
    p.add_argument("-C", "--directory", default=".", metavar="DIR", help="extract into DIR (default .)")
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
    _add_device(p)
    _add_verbosity(p)
    _add_progress(p)
    p.add_argument("members", nargs="*", metavar="MEMBER", help="only these members (or directories)")

    # list
    p = add("list", "list the members of an archive")
    p.add_argument("archive", metavar="ARCHIVE", help="archive to read; '-' for stdin")
    p.add_argument("-l", "--long", action="store_true", help="mode, size and mtime too")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    _add_read_keys(p)
    _add_decode_policy(p)

    # test
    p = add("test", "decrypt, decode and verify everything; write nothing")
    p.add_argument("archive", metavar="ARCHIVE", help="archive to read; '-' for stdin")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    _add_read_keys(p)
    _add_decode_policy(p)
    _add_device(p)
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
    model_mod = _model_module() if with_model else None
    if model_mod is not None:
        model_mod.add_parser(sub)
    else:
        p = add("model", "manage neural models (install, list, verify)", add_help=False)
        p.add_argument("rest", nargs=argparse.REMAINDER)

    # bench (benchmark harness from the source tree; loaded only when used)
    p = add("bench", "run the benchmark harness (source checkout only)", add_help=False)
    p.add_argument("rest", nargs=argparse.REMAINDER)
    return parser


def _version() -> str:
    try:
        from nzarc import __version__

        return __version__
    except ImportError:  # pragma: no cover - partial installs
        return "unknown"


def _model_module() -> Any | None:
    try:
        from nzarc.neural import model_cli
    except ImportError:
        return None
    if not (hasattr(model_cli, "add_parser") and hasattr(model_cli, "run")):
        return None
    return model_cli


# --------------------------------------------------------------------------- helpers


def _err(message: str, hint: str | None = None) -> None:
    line = one_line(message) or "unknown error"
    sys.stderr.write(f"{PROG}: error: {line}\n")
    if hint:
        sys.stderr.write(f"hint: {one_line(hint)}\n")
    sys.stderr.flush()


def _warn(message: str) -> None:
    sys.stderr.write(f"{PROG}: warning: {one_line(message)}\n")


def _write_line(text: str) -> None:
    """Write one human-readable line of output (``text`` may end in its newline): any
    untrusted part (a name, a codec id from an archive) is shown escaped, on this line."""
    sys.stdout.write(one_line(text) + "\n")


def _progress(args: argparse.Namespace) -> Progress:
    period = getattr(args, "progress_interval", None)
    if period is None and getattr(args, "progress", False):
        period = DEFAULT_PERIOD
    prog = Progress(
        quiet=getattr(args, "quiet", False),
        verbose=getattr(args, "verbose", False),
        period=period,
        model="decode" if getattr(args, "command", None) == "extract" else "encode",
    )
    if prog.show_bar:  # model work is slow on a CPU: show it moving (tokens, rate, ETA)
        from nzarc.neural.codec import set_progress_hook

        set_progress_hook(prog.model_work)
    return prog


def _apply_device(args: argparse.Namespace) -> None:
    device = getattr(args, "device", None)
    if device:
        os.environ["NZARC_DEVICE"] = device


def _read_keys(args: argparse.Namespace) -> tuple[str | None, list[str]]:
    """Passphrase (file/env only, no prompt yet) and identities for reading."""
    identities: list[str] = []
    for path in args.identity:
        identities.extend(read_identity_file(path))
    passphrase = resolve_passphrase(file=args.passphrase_file, confirm=False, interactive=False)
    return passphrase, identities


@contextlib.contextmanager
def _input_archive(name: str) -> Iterator[IO[bytes]]:
    if name == "-":
        if sys.stdin.isatty():
            raise UsageError(
                "refusing to read an archive from a terminal",
                hint="pipe the archive into nzarc, or give its file name",
            )
        yield sys.stdin.buffer
        return
    try:
        f = open(name, "rb")
    except IsADirectoryError:
        raise UsageError(f"{name!r} is a directory, not an archive") from None
    with f:
        yield f


class _Replay(io.RawIOBase):
    """A non-seekable stream whose first bytes can be read twice.

    Used on a pipe to look at the archive header, ask for a passphrase if it
    wants one, and open it again from the start. Replays at most what was
    read before :meth:`rewind` (the header: about 1 MiB at most).
    """

    def __init__(self, raw: IO[bytes]) -> None:
        super().__init__()
        self._raw = raw
        self._seen = bytearray()
        self._pos: int | None = None  # None: recording; else: replay position

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return False

    def rewind(self) -> None:
        if self._pos is not None:
            raise ValueError("a replay stream can be rewound once")
        self._pos = 0

    def read(self, n: int | None = -1) -> bytes:
        """Like ``BufferedReader.read``: ``n`` bytes unless the stream ends first."""
        out = b""
        if self._pos is not None and self._pos < len(self._seen):
            end = len(self._seen) if n is None or n < 0 else min(len(self._seen), self._pos + n)
            out = bytes(self._seen[self._pos : end])
            self._pos = end
            if end == len(self._seen):
                self._seen = bytearray()
                self._pos = 0
            if n is not None and 0 <= n == len(out):
                return out
        want = -1 if n is None or n < 0 else n - len(out)
        data = self._raw.read(want)
        if self._pos is None:
            self._seen += data
        return out + data

    def readinto(self, b: Any) -> int:
        data = self.read(len(b))
        b[: len(data)] = data
        return len(data)


def _wants_passphrase(reader: Any) -> bool:
    """True if the header carries a passphrase stanza (readable without a key)."""
    return "argon2id" in [str(k) for k in reader.header_info().recipients]


def _open(
    src: Any, passphrase: str | None, identities: list[str], jobs: int | None, policy: Any = None
) -> Any:
    import nzarc

    opener = getattr(nzarc, "open", None)
    if opener is None:  # the package-level helper is optional; the class is the API
        from nzarc.reader import ArchiveReader as opener
    return opener(src, passphrase=passphrase, identities=identities, jobs=jobs, policy=policy)


def _decode_policy(args: argparse.Namespace) -> Any:
    """The DecodePolicy from --codecs/--max-ratio (None when neither is given)."""
    codecs, ratio = getattr(args, "codecs", None), getattr(args, "max_ratio", None)
    if codecs is None and ratio is None:
        return None
    from nzarc.policy import DecodePolicy

    return DecodePolicy(codecs=codecs, max_ratio=ratio)


@contextlib.contextmanager
def _open_reader(args: argparse.Namespace) -> Iterator[Any]:
    """Open ARCHIVE with the keys from -i/--passphrase-file/NZARC_PASSPHRASE; with
    none of those, prompt on the terminal when the archive wants a passphrase."""
    passphrase, identities = _read_keys(args)
    jobs = getattr(args, "jobs", None)
    with _input_archive(args.archive) as raw:
        src: Any = raw
        if passphrase is None and not identities and tty_available():
            seekable = _is_seekable(raw)
            if not seekable:
                src = _Replay(raw)
            start = raw.tell() if seekable else 0
            probe = _open(src, None, [], jobs)
            wants = _wants_passphrase(probe)
            if wants:
                passphrase = resolve_passphrase(file=None, confirm=False, environ={})
            probe.close()
            if seekable:
                raw.seek(start)
            else:
                src.rewind()
        args.have_key = passphrase is not None or bool(identities)
        reader = _open(src, passphrase, identities, jobs, _decode_policy(args))
        with reader:
            _check_authenticated(args, reader)
            yield reader


def _check_authenticated(args: argparse.Namespace, reader: Any) -> None:
    """A key given on the command line means the user expects authenticated data: refuse
    an unencrypted archive then (it could be a forgery); only warn for NZARC_PASSPHRASE."""
    if reader.header_info().authenticated or not args.have_key:
        return
    if getattr(args, "identity", None) or getattr(args, "passphrase_file", None):
        raise DecryptionError(
            "the archive is not encrypted, but a key was given: its contents are not "
            "authenticated and could have been forged",
            hint="if you trust its source, run again without -i/--passphrase-file",
        )
    _warn("the archive is not encrypted; NZARC_PASSPHRASE was ignored and its contents "
          "are not authenticated against a forger")


def _is_seekable(f: IO[bytes]) -> bool:
    try:
        return bool(f.seekable())
    except (OSError, ValueError, AttributeError):
        return False


def _jsonable(obj: Any) -> Any:
    if is_dataclass(obj) and not isinstance(obj, type):
        return _jsonable(asdict(obj))
    if isinstance(obj, dict):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple, set, frozenset)):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, (bytes, bytearray, memoryview)):
        return bytes(obj).hex()
    if isinstance(obj, (str, int, float, bool)) or obj is None:
        return obj
    if hasattr(obj, "__dict__"):
        return _jsonable({k: v for k, v in vars(obj).items() if not k.startswith("_")})
    return str(obj)


def _print_json(obj: Any) -> None:
    import json

    sys.stdout.write(json.dumps(_jsonable(obj), indent=2, sort_keys=True) + "\n")


# --------------------------------------------------------------------------- create


def _create_keys(args: argparse.Namespace) -> dict[str, Any]:
    """Encryption keyword arguments for the writer, from -p/-r/-R/--no-encrypt."""
    if args.no_encrypt:
        if args.recipient or args.recipients_file or args.passphrase or args.passphrase_file:
            raise UsageError("--no-encrypt cannot be combined with -p, --passphrase-file, -r or -R")
        return {"encrypt": False}
    recipients = list(args.recipient)
    for path in args.recipients_file:
        recipients.extend(read_recipients_file(path))
    if recipients and (args.passphrase or args.passphrase_file):
        raise UsageError(
            "a passphrase cannot be combined with -r/-R recipients",
            hint="encrypt either to public keys or with a passphrase",
        )
    passphrase = None
    if not recipients:
        passphrase = resolve_passphrase(file=args.passphrase_file, confirm=True)
        if passphrase is None:
            raise UsageError(
                "no passphrase: there is no terminal to ask on and NZARC_PASSPHRASE is not set",
                hint="use --passphrase-file FILE, set NZARC_PASSPHRASE, encrypt to a key with -r, "
                "or pass --no-encrypt",
            )
    return {"encrypt": True, "passphrase": passphrase, "recipients": recipients}


def _check_create_paths(args: argparse.Namespace) -> None:
    if args.paths.count("-") > 1:
        raise UsageError("stdin ('-') can be given only once")
    if args.name is not None and "-" not in args.paths:
        raise UsageError("--name names the stdin member; it needs '-' among the paths")
    for p in args.paths:
        if p != "-" and not os.path.lexists(p):
            raise UsageError(f"no such file or directory: {p!r}")
    if args.window is not None:
        from nzarc.neural.codec import MAX_WINDOW, MIN_WINDOW

        if args.codec not in ("auto", "neural", "nzarc.neural"):
            raise UsageError(f"--window applies to the neural codec, not to -c {args.codec}")
        if not MIN_WINDOW <= args.window <= MAX_WINDOW:
            raise UsageError(f"--window must be between {MIN_WINDOW} and {MAX_WINDOW} tokens")


def _check_create_options(args: argparse.Namespace, to_stdout: bool) -> None:
    """Refuse a bad level or an existing output before any input is read or passphrase asked."""
    from nzarc.levels import CodecOptionError
    from nzarc.pipeline import check_level

    try:
        check_level(args.codec, args.level)
    except CodecOptionError as e:
        raise UsageError(f"-l {args.level}: {e}", hint=e.hint) from None
    if not to_stdout:
        try:
            check_target(args.output, force=args.force)
        except OutputIsDirectory as e:
            raise UsageError(e.message) from None


def _create_progress(prog: Progress) -> Callable[[Any], None]:
    """Adapt the writer's progress events (member / chunk / skip / done) to the display."""

    def on_event(event: Any) -> None:
        kind = getattr(event, "kind", None)
        if kind == "member" and event.name:
            prog.member(event.name)
        elif kind == "chunk":
            prog.advance(int(getattr(event, "bytes_in", 0)))
        elif kind == "skip":
            _warn(f"skipped {event.name!r}: not a regular file, directory or symlink")

    return on_event


def _tree_size(paths: Sequence[str]) -> int:
    """Total bytes of the regular files under ``paths`` (for the progress ETA)."""
    total = 0
    for top in paths:
        if top == "-":
            continue
        with contextlib.suppress(OSError):
            st = os.lstat(top)
            if stat.S_ISREG(st.st_mode):
                total += st.st_size
            elif stat.S_ISDIR(st.st_mode):
                for dirpath, _dirs, files in os.walk(top):
                    for name in files:
                        with contextlib.suppress(OSError):
                            fst = os.lstat(os.path.join(dirpath, name))
                            if stat.S_ISREG(fst.st_mode):
                                total += fst.st_size
    return total


def _default_arcname(path: str) -> str:
    name = os.path.basename(os.path.normpath(path))
    return "" if name in ("", ".", "..", os.sep) else name


def cmd_create(args: argparse.Namespace) -> int:
    import nzarc
    from nzarc.pipeline import tune_process_allocator

    tune_process_allocator()

    _check_create_paths(args)
    to_stdout = args.output == "-"
    if to_stdout and sys.stdout.isatty() and not args.force_tty:
        raise UsageError(
            "refusing to write a binary archive to a terminal",
            hint="redirect stdout, use -o FILE, or pass --force-tty",
        )
    _check_create_options(args, to_stdout)
    keys = _create_keys(args)
    _apply_device(args)
    prog = _progress(args)
    options: dict[str, Any] = dict(
        codec=args.codec,
        level=args.level,
        window=args.window,
        chunk_size=args.chunk_size,
        jobs=args.jobs,
        pad=args.pad,
        suite=args.suite,
        progress=_create_progress(prog),
        verify=args.verify,
        **keys,
    )
    if prog.show_bar:
        prog.set_total(_tree_size(args.paths) or None)
    out: _AtomicOutput | None = None
    skip: set[tuple[int, int]] = set()
    if to_stdout:
        sink: IO[bytes] = sys.stdout.buffer
    else:
        with contextlib.suppress(OSError):
            old = os.stat(args.output)
            skip.add((old.st_dev, old.st_ino))
        out = _AtomicOutput(args.output, force=args.force)
        sink = out.file
        tmp = os.fstat(sink.fileno())
        skip.add((tmp.st_dev, tmp.st_ino))
    walk = WalkOptions(
        strict=args.strict,
        exclude=skip,
        on_special=lambda name: _warn(f"skipped {name!r}: not a regular file, directory or symlink"),
        on_excluded=lambda path: prog.member(f"(skipped the output archive {path!r})"),
    )
    try:
        writer = nzarc.ArchiveWriter(sink, **options)
        with writer:
            for path in args.paths:
                if path == "-":
                    name = args.name if args.name is not None else "-"
                    writer.add_file(name, sys.stdin.buffer, mode=0o644)
                else:
                    writer.add_path(Path(path), _default_arcname(path), walk=walk)
            stats = writer.close()
        if out is not None:
            out.commit()
        else:
            sys.stdout.buffer.flush()
    except ValueError as e:  # the writer reports over-limit input this way
        if out is not None:
            out.discard()
        raise _CreateFailed(str(e)) from None
    except BaseException:
        if out is not None:
            out.discard()
        raise
    finally:
        prog.finish()
    if args.verbose:
        _summary_create(stats)
    for gone in walk.skipped:
        _warn(f"skipped {gone.path!r}: {gone.reason}")
    if walk.skipped:
        _warn(f"{len(walk.skipped)} input(s) skipped; the archive holds everything else")
        return EXIT_SKIPPED
    return EXIT_OK


def _summary_create(stats: Any) -> None:
    raw, arc = stats.raw_bytes, stats.archive_bytes
    pct = f" ({100.0 * arc / raw:.1f}% of the input)" if raw else ""
    sys.stderr.write(f"{stats.members} members, {format_bytes(raw)} -> {format_bytes(arc)}{pct}\n")


# --------------------------------------------------------------------------- extract / list / test


def cmd_extract(args: argparse.Namespace) -> int:
    from nzarc.extract import extract_members, select_members
    from nzarc.pipeline import tune_process_allocator

    tune_process_allocator()

    _apply_device(args)
    prog = _progress(args)

    def on_progress(member: Any, nbytes: int) -> None:
        if nbytes == 0:
            prog.member(member.name)
        else:
            prog.advance(nbytes)

    wanted = [_normalize_member_arg(m) for m in args.members] or None
    if os.path.lexists(args.directory) and not os.path.isdir(args.directory):
        _err(f"-C {printable(args.directory)} is not a directory",
             hint="give a directory to extract into (it is created if it does not exist)")
        return EXIT_FAILURE
    with _open_reader(args) as reader:
        if prog.show_bar and args.archive != "-" and wanted is None:
            prog.set_total(reader.info().raw_size)  # seekable: reads only the index
        try:
            done = extract_members(
                reader,
                Path(args.directory),
                wanted,
                force=args.force,
                progress=on_progress,
                sync=args.sync,
                same_permissions=True if args.same_permissions else None,
            )
        finally:
            prog.finish()
    if wanted:
        found = {select_members(wanted, m.name) for m in done}
        missing = [w for w in wanted if w not in found]
        if missing:
            _err(f"not found in archive: {', '.join(repr(m) for m in missing)}")
            return EXIT_FAILURE
    return EXIT_OK


def _normalize_member_arg(name: str) -> str:
    """Accept ``./a/b/`` for the member ``a/b``, as tar does."""
    while name.startswith("./"):
        name = name[2:]
    return name.rstrip("/") or name


def _mode_string(member: Any) -> str:
    kind = {"dir": "d", "symlink": "l"}.get(member.type, "-")
    return kind + stat.filemode(member.mode & 0o7777)[1:]


def _mtime_string(mtime_ns: int) -> str:
    import datetime as _dt

    t = _dt.datetime.fromtimestamp(mtime_ns / 1e9, tz=_dt.UTC).astimezone()
    return t.strftime("%Y-%m-%d %H:%M")


def _member_dict(m: Any) -> dict[str, Any]:
    """A member for ``--json``; a name or link target that is not UTF-8 also gets
    ``name_hex``/``link_target_hex``, its exact bytes (``name`` then holds them as
    ``\\udcXX`` escapes, the ``surrogateescape`` form)."""
    sha = getattr(m, "sha256", None)
    out = {
        "name": m.name,
        "type": m.type,
        "mode": m.mode,
        "size": m.size,
        "mtime_ns": m.mtime_ns,
        "sha256": sha.hex() if isinstance(sha, (bytes, bytearray)) else None,
        "link_target": getattr(m, "link_target", None),
    }
    for key in ("name", "link_target"):
        exact = non_utf8_hex(out[key])
        if exact is not None:
            out[f"{key}_hex"] = exact
    return out


def cmd_list(args: argparse.Namespace) -> int:
    with _open_reader(args) as reader:
        policy = _decode_policy(args)
        if policy is not None:  # refuse as extract would, though listing decodes nothing
            policy.check_reader(reader)
        members = reader.listing()  # decoded row by row, on each pass below
    if args.json:
        _print_json([_member_dict(m) for m in members])
        return EXIT_OK
    out = sys.stdout
    if args.long:
        width = max((len(str(m.size)) for m in members), default=1)
        for m in members:
            link = f" -> {printable(m.link_target)}" if m.type == "symlink" and m.link_target else ""
            out.write(
                f"{_mode_string(m)} {m.size:>{width}} {_mtime_string(m.mtime_ns)} "
                f"{printable(m.name)}{link}\n"
            )
    else:
        for m in members:
            out.write(printable(m.name) + "\n")
    return EXIT_OK


def cmd_test(args: argparse.Namespace) -> int:
    _apply_device(args)
    with _open_reader(args) as reader:
        report = reader.test()
    if args.json:
        _print_json(report)
    elif not args.quiet:
        sys.stdout.write(
            f"OK: {report.members} members ({report.files} files, {format_bytes(report.bytes)}), "
            f"{report.chunks} chunks verified\n"
        )
    return EXIT_OK


# --------------------------------------------------------------------------- info


_UNAUTH = "NOT authenticated against a forger (unencrypted: corruption is detected, forgery is not)"


def _model_store() -> Any:
    from nzarc.neural.store import ModelStore

    return ModelStore.default()


def _pinned_models(info: Any) -> list[dict[str, Any]]:
    """Every model pin of the codec table, once each, with the codec that pins it and
    ``install_name``, the name it is installed under (None when unknown)."""
    seen: dict[tuple[Any, ...], dict[str, Any]] = {}
    store = _model_store()
    for codec in info.codecs:
        for pin in codec.get("models") or []:
            key = (pin.get("name"), pin.get("weights_sha256"), pin.get("tokenizer_sha256"))
            if key not in seen:
                install = store.install_name_of(pin.get("weights_sha256"))
                seen[key] = {**pin, "codec": codec.get("id"), "install_name": install}
    return list(seen.values())


def cmd_info(args: argparse.Namespace) -> int:
    with _open_reader(args) as reader:
        header = reader.header_info()
        full = reader.info() if args.have_key or not header.encrypted else None
    info = full if full is not None else header
    data = _jsonable(info)
    data["index_read"] = full is not None
    data["pinned_models"] = _pinned_models(info)
    if not info.encrypted:
        data["note"] = _UNAUTH
    if args.json:
        _print_json(data)
    else:
        _print_info_human(info, full is not None)
    return EXIT_OK


def _print_info_human(info: Any, full: bool) -> None:
    w = _write_line  # codec ids, recipient types, model names come from the archive
    w(f"{'format:':<12} nzarc v{info.version}\n")
    if info.encrypted:
        kinds = ", ".join(info.recipients) or "-"
        w(f"{'encryption:':<12} {info.suite}; {len(info.recipients)} recipient(s): {kinds}\n")
    else:
        w(f"{'encryption:':<12} none; {_UNAUTH}\n")
    for i, c in enumerate(info.codecs):
        params = c.get("params") or {}
        import json

        ptxt = f" {json.dumps(params, sort_keys=True)}" if params else ""
        dist = f" (from {c['dist']})" if c.get("dist") else ""
        w(f"{'codecs:' if i == 0 else '':<12} {c.get('id')} v{c.get('ver')}{ptxt}{dist}\n")
    for i, m in enumerate(_pinned_models(info)):
        w(
            f"{'models:' if i == 0 else '':<12} {m.get('install_name') or m.get('name')} (weights {str(m.get('weights_sha256'))[:16]}, "
            f"tokenizer {str(m.get('tokenizer_sha256'))[:16]}, runtime {m.get('runtime')})\n"
        )
    w(f"{'chunk size:':<12} {info.chunk_size} ({format_bytes(info.chunk_size)})"
      f"{', padded' if info.padded else ''}\n")
    if not full:
        w(f"{'index:':<12} encrypted; give a key (-i, --passphrase-file, NZARC_PASSPHRASE) "
          "for member and chunk counts\n")
        return
    w(f"{'members:':<12} {info.members} ({info.files} files)\n")
    per = ", ".join(f"{k}: {v}" for k, v in sorted(info.chunks_per_codec.items()))
    w(f"{'chunks:':<12} {info.chunks}{f' ({per})' if per else ''}\n")
    w(f"{'raw size:':<12} {info.raw_size} ({format_bytes(info.raw_size or 0)})\n")
    if info.archive_size is not None:
        w(f"{'archive:':<12} {info.archive_size} ({format_bytes(info.archive_size)})\n")
    if info.ratio is not None:
        w(f"{'ratio:':<12} {info.ratio:.4f} (archive size / raw size)\n")


# --------------------------------------------------------------------------- keygen / codecs


def _generate_identity() -> tuple[str, str]:
    """Return ``(AGE-SECRET-KEY-1..., age1...)`` for a fresh X25519 key."""
    from nzarc.crypto import recipients  # the crypto layer owns Bech32 and key forms

    return recipients.generate_identity()


def cmd_keygen(args: argparse.Namespace) -> int:
    secret, public = _generate_identity()
    import datetime as _dt

    created = _dt.datetime.now(_dt.UTC).replace(microsecond=0).isoformat()
    text = f"# created: {created}\n# public key: {public}\n{secret}\n"
    if args.output and args.output != "-":
        try:
            fd = os.open(args.output, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
        except FileExistsError:
            raise UsageError(
                f"refusing to overwrite {args.output!r}",
                hint="an identity file may be the only key to existing archives; choose a new name",
            ) from None
        with os.fdopen(fd, "w", encoding="ascii") as f:
            os.fchmod(f.fileno(), 0o600)
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
    else:
        sys.stdout.write(text)
        sys.stdout.flush()
    sys.stderr.write(f"Public key: {public}\n")
    return EXIT_OK


def cmd_codecs(args: argparse.Namespace) -> int:
    from nzarc.codecs.registry import describe_codecs, get_registry

    reg = get_registry()
    rows = describe_codecs(reg)
    installed = _model_store().installed_status(
        (m for r in rows for m in r["models"]), {d.name: d.weights_sha256 for d in reg.models()}
    )
    for r in rows:
        r["models_installed"] = {m: installed[m] for m in r["models"]}
    if args.json:
        _print_json({"codecs": rows, "warnings": list(reg.warnings)})
        return EXIT_OK
    width = max((len(str(r["id"])) for r in rows), default=8)
    for r in rows:
        origin = r.get("distribution") or "built in"
        dv = r.get("distribution_version")
        if dv and r.get("distribution"):
            origin += f" {dv}"
        state = {True: "installed", False: "not installed"}
        models = ", ".join(f"{m} ({state[ok]})" for m, ok in r["models_installed"].items())
        models = f"  models: {models}" if models else ""
        _write_line(f"{r['id']:<{width}}  v{r['version']}  {origin} ({r.get('plugin')}){models}")
    return EXIT_OK


# --------------------------------------------------------------------------- model / bench


def cmd_model(args: argparse.Namespace) -> int:
    mod = _model_module()
    if mod is None:
        raise UsageError("model management is not available in this installation")
    result = mod.run(args)
    return EXIT_OK if result is None else int(result)


def _repo_root() -> Path | None:
    here = Path(__file__).resolve()
    for parent in here.parents:
        if (parent / "pyproject.toml").is_file() and (parent / "bench").is_dir():
            return parent
    return None


def cmd_bench(args: argparse.Namespace) -> int:
    root = _repo_root()
    if root is None:
        raise UsageError(
            "the benchmark harness is only available from a source checkout",
            hint="run it from a clone of the nzarc repository (installed with pip install -e .)",
        )
    if str(root) not in sys.path:
        sys.path.insert(0, str(root))
    try:
        import bench  # type: ignore[import-not-found]
    except ImportError as e:
        raise UsageError(f"the benchmark harness cannot be loaded: {e}") from None
    entry = getattr(bench, "main", None)
    if entry is None:
        raise UsageError("the benchmark harness has no entry point (bench.main)")
    return int(entry(list(args.rest)) or 0)


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


# --------------------------------------------------------------------------- main


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


def _parse(parser: argparse.ArgumentParser, argv: list[str]) -> argparse.Namespace:
    """Parse, letting extract's MEMBER names follow its options
    (``extract A -C DIR m1 m2``), which plain argparse does not allow."""
    args, extra = parser.parse_known_args(argv)
    if extra:
        if getattr(args, "command", None) == "extract" and not any(
            e.startswith("-") and e != "-" for e in extra
        ):
            args.members = list(args.members) + extra
        else:
            parser.error(f"unrecognized arguments: {' '.join(extra)}")
    return args


def _show_warning(message: Warning | str, category: type[Warning], *rest: Any, **kw: Any) -> None:
    """Print a warning as one ``nzarc: warning:`` line (no source line, no path)."""
    _warn(str(message))


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
        args = _parse(parser, args_list)
        return COMMANDS[args.command](args)
    except UsageError as e:
        _err(e.message, e.hint)
        return EXIT_USAGE
    except PassphraseInputError as e:
        _err(e.message, e.hint)
        return EXIT_USAGE
    except NzarcError as e:
        _err(e.message, _cli_hint(e))
        return EXIT_FAILURE
    except KeyboardInterrupt as e:
        sys.stderr.write("\n")
        _err(f"terminated by {e.name}" if isinstance(e, Terminated) else "interrupted")
        return exit_status(e)
    except BrokenPipeError:
        _silence_stdout()
        if args_list and _command_word(args_list) in ("create", "keygen"):
            _err("output closed before the archive was complete")
        return EXIT_FAILURE
    except OSError as e:
        msg = os_error_message(e)  # names the file(s), escaped
        _err(msg, getattr(e, "hint", None))
        return EXIT_FAILURE
    except MemoryError:
        _err("out of memory", hint=_MEMORY_HINTS.get(_command_word(args_list) or "", _MEMORY_HINT))
        return EXIT_FAILURE
