"""``nzarc create``: walk the inputs into an archive written atomically (or to stdout)."""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import os
import sys
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, cast

from nzarc.atomic import AtomicOutput as _AtomicOutput
from nzarc.atomic import OutputIsDirectory, check_target
from nzarc.cli.cluster import cluster_scope
from nzarc.cli.common import (
    EXIT_OK,
    EXIT_SKIPPED,
    NotADirectory,
    UsageError,
    codec_context,
    make_progress,
    warn,
    with_progress,
)
from nzarc.cli.info import model_store
from nzarc.cli.keys import create_keys
from nzarc.display import printable
from nzarc.events import ProgressEvent, ProgressSink
from nzarc.inputscan import tree_size
from nzarc.progress import Progress, format_bytes
from nzarc.ratebook import RateBook, RateMeter
from nzarc.walk import WalkOptions

if TYPE_CHECKING:
    from nzarc.codecs.context import CodecContext
    from nzarc.writer import WriteStats

__all__ = ["cmd_create"]


def _source(args: argparse.Namespace, path: str) -> str:
    """Where PATH is read from: inside -C DIR when it is relative."""
    return path if args.directory is None else os.path.join(args.directory, path)


def _arcname(args: argparse.Namespace, path: str) -> str:
    """The member name PATH is stored under: with -C DIR a relative PATH as given (normalized;
    ``.`` puts DIR's entries at the top), otherwise PATH's last component."""
    if args.directory is None or os.path.isabs(path):
        return _default_arcname(path)
    name = os.path.normpath(path).replace(os.sep, "/")
    if name == ".":
        return ""
    if name == ".." or name.startswith("../"):
        raise UsageError(
            f"{path!r} is outside -C {args.directory}",
            hint="with -C DIR a relative PATH names something inside DIR",
        )
    return name


def _check_create_paths(args: argparse.Namespace) -> None:
    if args.paths.count("-") > 1:
        raise UsageError("stdin ('-') can be given only once")
    if args.name is not None and "-" not in args.paths:
        raise UsageError("--name names the stdin member; it needs '-' among the paths")
    if args.directory is not None and not os.path.isdir(args.directory):
        raise NotADirectory(f"-C {printable(args.directory)} is not a directory",
                            hint="give the directory that the PATHs are relative to")
    for p in args.paths:
        if p != "-":
            _arcname(args, p)
            if not os.path.lexists(_source(args, p)):
                raise UsageError(f"no such file or directory: {_source(args, p)!r}")


def _codec_params(args: argparse.Namespace) -> dict[str, tuple[str, int | str]]:
    """The codec params of ``-m KEY=VALUE`` (a later one wins), ``-l`` (``level``) and
    ``--window`` (``window``), each with the option that gave it, for messages."""
    params: dict[str, tuple[str, int | str]] = {
        key: (f"-m {key}={value}", value) for key, value in args.codec_opts
    }
    for flag, key, value in (("-l", "level", args.level), ("--window", "window", args.window)):
        if value is None:
            continue
        if key in params and params[key][1] != value:
            raise UsageError(f"{flag} {value} contradicts {params[key][0]}")
        params[key] = (f"{flag} {value}", value)
    for key, value in args.preset_params.items():  # what the caller gives overrides a preset
        params.setdefault(key, (f"--{args.preset}", value))
    return params


def _apply_preset(args: argparse.Namespace) -> None:
    """Settle ``args.codec`` and ``args.preset_params`` from ``--fast`` / ``--best`` (which
    choose the codec, so ``-c`` is refused beside them) or ``-c`` (default ``auto``)."""
    from nzarc.presets import PRESETS

    name = getattr(args, "preset", None)
    args.preset = name
    args.preset_params = {}
    if name is None:
        args.codec = args.codec or "auto"
        return
    if args.codec is not None:
        raise UsageError(f"--{name} chooses the codec; leave out -c {args.codec}")
    args.codec = PRESETS[name].codec
    args.preset_params = dict(PRESETS[name].params)


def _check_create_options(args: argparse.Namespace, to_stdout: bool) -> None:
    """Refuse bad codec params or an existing output before any input is read or passphrase
    asked."""
    from nzarc.levels import CodecOptionError
    from nzarc.planning import check_params

    given = _codec_params(args)
    try:
        check_params(args.codec, {key: value for key, (_, value) in given.items()})
    except CodecOptionError as e:
        culprit = next(  # name the option at fault when one alone is refused
            (flag for key, (flag, value) in given.items() if _refused(args.codec, key, value)),
            None,
        )
        message = f"{culprit}: {e.message}" if culprit else e.message
        raise UsageError(message, hint=e.hint) from None
    if not to_stdout:
        try:
            check_target(args.output, force=args.force)
        except OutputIsDirectory as e:
            raise UsageError(e.message) from None


def _refused(codec: str, key: str, value: int | str) -> bool:
    from nzarc.levels import CodecOptionError
    from nzarc.planning import check_params

    try:
        check_params(codec, {key: value})
    except CodecOptionError:
        return True
    return False


def _create_progress(prog: Progress) -> ProgressSink:
    """Adapt the writer's progress events (member / chunk / skip / done) to the display."""

    def on_event(event: ProgressEvent) -> None:
        kind = event.kind
        if kind == "member" and event.name:
            prog.member(event.name)
        elif kind == "chunk":
            prog.advance(event.bytes_in)
        elif kind == "skip":
            warn(f"skipped {event.name!r}: not a regular file, directory or symlink")

    return on_event


def _exclude_patterns(args: argparse.Namespace) -> list[str]:
    """--exclude patterns, then those of each --exclude-from FILE (one a line, as written;
    blank lines and lines starting with ``#`` ignored)."""
    patterns = list(args.exclude)
    for path in args.exclude_from:
        with open(path, encoding=sys.getfilesystemencoding(), errors="surrogateescape") as f:
            for line in f.read().splitlines():
                if line.strip() and not line.startswith("#"):
                    patterns.append(line)
    return patterns


def _default_arcname(path: str) -> str:
    name = os.path.basename(os.path.normpath(path))
    return "" if name in ("", ".", "..", os.sep) else name


def cmd_create(args: argparse.Namespace) -> int:
    from nzarc.workers import tune_process_allocator

    tune_process_allocator()

    _apply_preset(args)
    _check_create_paths(args)
    to_stdout = args.output == "-"
    if to_stdout and sys.stdout.isatty() and not args.force_tty:
        raise UsageError(
            "refusing to write a binary archive to a terminal",
            hint="redirect stdout, use -o FILE, or pass --force-tty",
        )
    _check_create_options(args, to_stdout)
    # a missing device or an unreachable cluster fails before any work or prompt
    with cluster_scope(args, codec_context(args)) as context:
        return _create(args, context, to_stdout)


def _create(args: argparse.Namespace, context: CodecContext, to_stdout: bool) -> int:
    import nzarc

    patterns = _exclude_patterns(args)  # an unreadable FILE fails before a passphrase is asked
    inputs = [(_source(args, p), _arcname(args, p)) for p in args.paths if p != "-"]
    codec_params = {key: value for key, (_, value) in _codec_params(args).items()}
    rates = _NeuralRate.start(args, codec_params, context, inputs, patterns)  # before a prompt
    keys = create_keys(args)
    prog = make_progress(args)
    context = with_progress(context, prog)
    if rates is not None:
        context = rates.metered(context)
    options: dict[str, Any] = dict(
        codec=args.codec,
        codec_params=codec_params,
        chunk_size=args.chunk_size,
        jobs=args.jobs,
        pad=args.pad,
        suite=args.suite,
        progress=_create_progress(prog),
        verify=args.verify,
        codec_context=context,
        **keys,
    )
    if prog.show_bar:
        prog.set_total(tree_size(inputs, patterns) or None)
    out: _AtomicOutput | None = None
    skip: set[tuple[int, int]] = set()
    if to_stdout:
        sink: IO[bytes] = sys.stdout.buffer
    else:
        with contextlib.suppress(OSError):
            old = os.stat(args.output)
            skip.add((old.st_dev, old.st_ino))
        out = _AtomicOutput(args.output, force=args.force)
        sink = cast(IO[bytes], out.file)  # a NamedOutput: the binary-file methods the writer uses
        tmp = os.fstat(sink.fileno())
        skip.add((tmp.st_dev, tmp.st_ino))
    walk = WalkOptions(
        strict=args.strict,
        exclude=skip,
        exclude_patterns=patterns,
        on_special=lambda name: warn(f"skipped {name!r}: not a regular file, directory or symlink"),
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
                    writer.add_path(Path(_source(args, path)), _arcname(args, path), walk=walk)
            stats = writer.close()
        if out is not None:
            out.commit()
        else:
            sys.stdout.buffer.flush()
        if rates is not None:
            rates.record()
    except BaseException:
        if out is not None:
            out.discard()
        raise
    finally:
        prog.finish()
    if args.verbose:
        _summary_create(stats)
    for gone in walk.skipped:
        warn(f"skipped {gone.path!r}: {gone.reason}")
    for path in walk.changed:
        warn(f"{path!r} changed while it was read; its member holds what was read")
    if walk.skipped:
        warn(f"{len(walk.skipped)} input(s) skipped; the archive holds everything else")
    if walk.skipped or walk.changed:
        return EXIT_SKIPPED
    return EXIT_OK


class _NeuralRate:
    """The neural forecast line (printed unless ``-q``) and the measurement recorded after a
    create that runs the neural model (:mod:`nzarc.forecast`, :mod:`nzarc.ratebook`)."""

    def __init__(self, book: RateBook, key: str) -> None:
        self.book, self.key = book, key
        self.meter = RateMeter()

    @classmethod
    def start(
        cls,
        args: argparse.Namespace,
        codec_params: dict[str, Any],
        context: CodecContext,
        inputs: list[tuple[str, str]],
        patterns: list[str],
    ) -> _NeuralRate | None:
        """Plan the codecs (a codec that cannot be built fails here, before any prompt) and,
        when the neural codec is among them, print its forecast."""
        from nzarc.codecs.names import NEURAL_ID
        from nzarc.forecast import neural_forecast, rate_key
        from nzarc.planning import plan_codecs
        from nzarc.workers import default_jobs

        plan = plan_codecs(args.codec, codec_params, context)
        neural = next((c for c in plan.codecs if c.codec_id == NEURAL_ID), None)
        if neural is None:
            return None
        where = "cluster" if getattr(args, "scheduler", None) else context.device
        key = rate_key(neural, default_jobs(args.jobs), where)
        book = RateBook.in_home(model_store().root)
        forecast = neural_forecast(plan.codecs, inputs, patterns, "-" in args.paths, book.get(key))
        if forecast is not None and not forecast.empty and not args.quiet:
            sys.stderr.write(forecast.line() + "\n")
        return cls(book, key)

    def metered(self, context: CodecContext) -> CodecContext:
        """``context`` with the meter in front of its progress sink."""
        self.meter = RateMeter(context.progress)
        return dataclasses.replace(context, progress=self.meter)

    def record(self) -> None:
        self.book.record(self.key, self.meter.nbytes, self.meter.stop())


def _summary_create(stats: WriteStats) -> None:
    raw, arc = stats.raw_bytes, stats.archive_bytes
    pct = f" ({100.0 * arc / raw:.1f}% of the input)" if raw else ""
    sys.stderr.write(f"{stats.members} members, {format_bytes(raw)} -> {format_bytes(arc)}{pct}\n")
