"""What every command shares: exit statuses, usage errors, and the lines written to the user."""

from __future__ import annotations

import argparse
import os
import sys
from dataclasses import asdict, is_dataclass
from typing import TYPE_CHECKING

from nzarc.display import one_line
from nzarc.errors import NzarcError, UsageError
from nzarc.progress import DEFAULT_PERIOD, Progress

if TYPE_CHECKING:
    from nzarc.codecs.context import CodecContext

__all__ = [
    "EXIT_OK",
    "EXIT_FAILURE",
    "EXIT_USAGE",
    "EXIT_SKIPPED",
    "EXIT_INTERRUPTED",
    "PROG",
    "UsageError",
    "NotADirectory",
    "err",
    "warn",
    "write_line",
    "make_progress",
    "with_progress",
    "codec_context",
    "cuda_available",
    "jsonable",
    "print_json",
]

EXIT_OK = 0
EXIT_FAILURE = 1
EXIT_USAGE = 2
EXIT_SKIPPED = 3
EXIT_INTERRUPTED = 130

PROG = "nzarc"


class NotADirectory(NzarcError):
    """A ``-C DIR`` that is not a directory (exit status 1, as for extract)."""


def err(message: str, hint: str | None = None) -> None:
    line = one_line(message) or "unknown error"
    sys.stderr.write(f"{PROG}: error: {line}\n")
    if hint:
        sys.stderr.write(f"hint: {one_line(hint)}\n")
    sys.stderr.flush()


def warn(message: str) -> None:
    sys.stderr.write(f"{PROG}: warning: {one_line(message)}\n")


def write_line(text: str) -> None:
    """Write one human-readable line of output (``text`` may end in its newline): any
    untrusted part (a name, a codec id from an archive) is shown escaped, on this line."""
    sys.stdout.write(one_line(text) + "\n")


def make_progress(args: argparse.Namespace) -> Progress:
    period = getattr(args, "progress_interval", None)
    if period is None and getattr(args, "progress", False):
        period = DEFAULT_PERIOD
    prog = Progress(
        quiet=getattr(args, "quiet", False),
        verbose=getattr(args, "verbose", False),
        period=period,
        model="decode" if getattr(args, "command", None) == "extract" else "encode",
    )
    return prog


def with_progress(context: CodecContext, prog: Progress) -> CodecContext:
    """``context`` with ``prog`` as the sink of its codecs' model work when the line is
    drawn (model work is slow on a CPU: the line shows it moving, in tokens, rate and ETA);
    ``context`` unchanged otherwise."""
    if not prog.show_bar:
        return context
    import dataclasses

    return dataclasses.replace(context, progress=prog.model_event)


def cuda_available() -> bool:
    """Whether torch is installed and sees a CUDA device (imports torch: call only when
    CUDA was asked for)."""
    try:
        import torch
    except ImportError:
        return False
    return bool(torch.cuda.is_available())


def codec_context(args: argparse.Namespace) -> CodecContext:
    """The codec context of a command: ``--device`` from ``args`` and the routes and budget
    from the environment (``NZARC_KERNELS``, ``NZARC_MATMUL``, ``NZARC_NEURAL_MEMORY``), read
    here, at the edge. A device that is not there is a :class:`UsageError`, raised before
    any work or prompt."""
    from nzarc.codecs.context import CodecContext

    device = getattr(args, "device", None) or "cpu"
    if device == "cuda" and not cuda_available():
        raise UsageError(
            "--device cuda: no CUDA device is available (torch.cuda.is_available() is false)",
            hint="leave out --device (the CPU computes the same bytes), or run on a machine with a CUDA GPU",
        )
    try:
        return CodecContext.from_env(os.environ, device=device)
    except ValueError as exc:  # e.g. NZARC_KERNELS=fused with --device cuda
        raise UsageError(str(exc), hint="unset NZARC_KERNELS, or use --device cpu") from None


def jsonable(obj: object) -> object:
    """``obj`` as JSON values: dataclasses and objects as maps of their public fields, bytes
    as hex, anything else as its string."""
    if is_dataclass(obj) and not isinstance(obj, type):
        return jsonable(asdict(obj))
    if isinstance(obj, dict):
        return {str(k): jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple, set, frozenset)):
        return [jsonable(v) for v in obj]
    if isinstance(obj, (bytes, bytearray, memoryview)):
        return bytes(obj).hex()
    if isinstance(obj, (str, int, float, bool)) or obj is None:
        return obj
    if hasattr(obj, "__dict__"):
        return jsonable({k: v for k, v in vars(obj).items() if not k.startswith("_")})
    return str(obj)


def print_json(obj: object) -> None:
    import json

    sys.stdout.write(json.dumps(jsonable(obj), indent=2, sort_keys=True) + "\n")
