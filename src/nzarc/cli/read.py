"""``nzarc extract``, ``list`` and ``test``: the commands that read members."""

from __future__ import annotations

import argparse
import os
import stat
import sys
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TYPE_CHECKING

from nzarc.cli.cluster import cluster_scope
from nzarc.cli.common import (
    EXIT_FAILURE,
    EXIT_OK,
    UsageError,
    codec_context,
    err,
    make_progress,
    print_json,
    with_progress,
)
from nzarc.cli.source import decode_policy, open_reader
from nzarc.display import non_utf8_hex, printable
from nzarc.progress import Progress, format_bytes
from nzarc.selection import Selection

if TYPE_CHECKING:
    from nzarc.codecs.context import CodecContext
    from nzarc.format.index import MemberListing
    from nzarc.format.member import Member

__all__ = ["cmd_extract", "cmd_list", "cmd_test"]

def cmd_extract(args: argparse.Namespace) -> int:
    from nzarc.workers import tune_process_allocator

    tune_process_allocator()

    # a missing device or an unreachable cluster fails before any work or prompt
    with cluster_scope(args, codec_context(args)) as context:
        return _extract(args, context)


def _extract(args: argparse.Namespace, context: CodecContext) -> int:
    from nzarc.extract import extract_members

    prog = make_progress(args)
    context = with_progress(context, prog)

    def on_progress(member: Member, nbytes: int) -> None:
        if nbytes == 0:
            prog.member(member.name)
        else:
            prog.advance(nbytes)

    wanted = [_normalize_member_arg(m) for m in args.members] or None
    if args.to_stdout:
        return _extract_to_stdout(args, wanted, on_progress, prog, context)
    if args.directory is None:
        args.directory = "."
    if os.path.lexists(args.directory) and not os.path.isdir(args.directory):
        err(f"-C {printable(args.directory)} is not a directory",
             hint="give a directory to extract into (it is created if it does not exist)")
        return EXIT_FAILURE
    with open_reader(args, context) as reader:
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
    return _report_unmatched(wanted, (m.name for m in done))


def _extract_to_stdout(
    args: argparse.Namespace,
    wanted: list[str] | None,
    on_progress: Callable[[Member, int], None],
    prog: Progress,
    context: CodecContext | None,
) -> int:
    """extract -O: the selected files' contents on stdout; nothing on the file system."""
    from nzarc.tostream import copy_members

    given = [opt for opt, on in (("-C", args.directory is not None), ("--force", args.force),
                                 ("-p", args.same_permissions), ("--sync", args.sync)) if on]
    if given:
        raise UsageError(f"-O writes to stdout: {', '.join(given)} "
                         f"{'does' if len(given) == 1 else 'do'} not apply",
                         hint="drop them, or extract to a directory without -O")
    with open_reader(args, context) as reader:
        if prog.show_bar and args.archive != "-" and wanted is None:
            prog.set_total(reader.info().raw_size)  # seekable: reads only the index
        try:
            done = copy_members(reader, sys.stdout.buffer, wanted, progress=on_progress)
        finally:
            prog.finish()
    return _report_unmatched(wanted, (m.name for m in done))


def _report_unmatched(wanted: list[str] | None, names: Iterable[str]) -> int:
    """Exit 1, naming them, when requested MEMBERs (names or patterns) selected nothing."""
    if wanted:
        missing = Selection(wanted).unmatched(names)
        if missing:
            err(f"not found in archive: {', '.join(repr(m) for m in missing)}")
            return EXIT_FAILURE
    return EXIT_OK


def _normalize_member_arg(name: str) -> str:
    """Accept ``./a/b/`` for the member ``a/b``, as tar does."""
    while name.startswith("./"):
        name = name[2:]
    return name.rstrip("/") or name


def _mode_string(member: Member) -> str:
    kind = {"dir": "d", "symlink": "l"}.get(member.type, "-")
    return kind + stat.filemode(member.mode & 0o7777)[1:]


def _mtime_string(mtime_ns: int) -> str:
    import datetime as _dt

    t = _dt.datetime.fromtimestamp(mtime_ns / 1e9, tz=_dt.UTC).astimezone()
    return t.strftime("%Y-%m-%d %H:%M")


def _member_dict(m: Member) -> dict[str, str | int | None]:
    """A member for ``--json``; a name or link target that is not UTF-8 also gets
    ``name_hex``/``link_target_hex``, its exact bytes (``name`` then holds them as
    ``\\udcXX`` escapes, the ``surrogateescape`` form)."""
    out: dict[str, str | int | None] = {
        "name": m.name,
        "type": m.type,
        "mode": m.mode,
        "size": m.size,
        "mtime_ns": m.mtime_ns,
        "sha256": m.sha256.hex() if m.sha256 is not None else None,
        "link_target": m.link_target,
    }
    for key, text in (("name", m.name), ("link_target", m.link_target)):
        exact = non_utf8_hex(text)
        if exact is not None:
            out[f"{key}_hex"] = exact
    return out


def cmd_list(args: argparse.Namespace) -> int:
    with open_reader(args) as reader:
        policy = decode_policy(args)
        if policy is not None:  # refuse as extract would, though listing decodes nothing
            policy.check_reader(reader)
        members: MemberListing | list[Member] = reader.listing()  # decoded row by row, on each pass below
    wanted = [_normalize_member_arg(m) for m in args.members] or None
    if wanted is not None:
        selection = Selection(wanted)
        members = [m for m in members if selection.select(m.name) is not None]
    _print_listing(args, members)
    return _report_unmatched(wanted, (m.name for m in members))


def _print_listing(args: argparse.Namespace, members: MemberListing | list[Member]) -> None:
    if args.json:
        print_json([_member_dict(m) for m in members])
        return
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


def cmd_test(args: argparse.Namespace) -> int:
    # a missing device or an unreachable cluster fails before any work or prompt
    with cluster_scope(args, codec_context(args)) as context, open_reader(args, context) as reader:
        report = reader.test()
    if args.json:
        print_json(report)
    elif not args.quiet:
        sys.stdout.write(
            f"OK: {report.members} members ({report.files} files, {format_bytes(report.bytes)}), "
            f"{report.chunks} chunks verified\n"
        )
    return EXIT_OK
