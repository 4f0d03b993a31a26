"""Command line of the benchmark suite (``python -m bench`` / ``nzarc bench``).

Exit status: 0 when every measurement succeeded and round-tripped, 1 when
any tool failed or restored different bytes, 2 for usage errors.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

from bench.common import DEFAULT_CORPUS, DEFAULT_OUT, REPO_ROOT, parse_size

__all__ = ["main", "parse_size", "REPO_ROOT", "DEFAULT_CORPUS", "DEFAULT_OUT"]


def _run_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m bench",
        description="Compare nzarc settings with gzip, bzip2, xz, zstd, brotli and "
                    "tar|zstd|age on a corpus folder. Subcommands: throughput, scale, report, all.",
    )
    p.add_argument("corpus", nargs="?", type=Path, default=DEFAULT_CORPUS,
                   help="folder of input files (default: ../shared/corpus from the repo root)")
    p.add_argument("--quick", action="store_true",
                   help="small prefixes of a few files: a smoke run for CI")
    p.add_argument("--full", action="store_true",
                   help="run slow settings (neural, auto with the model) on whole files")
    neural = p.add_mutually_exclusive_group()
    neural.add_argument("--neural", dest="neural", action="store_true", default=None,
                        help="measure the neural codec even if no model is detected")
    neural.add_argument("--no-neural", dest="neural", action="store_false",
                        help="skip the neural codec")
    p.add_argument("--sample-bytes", type=parse_size, default=64 * 1024,
                   help="prefix size of the text sample for slow settings (default 64K)")
    p.add_argument("--sample-files", type=int, default=4,
                   help="how many text files the sample takes, one per group (default 4)")
    p.add_argument("--files", default="",
                   help="comma-separated patterns (fnmatch) of corpus-relative paths to keep, "
                        "e.g. 'canterbury/alice29.txt,calgary/book1,enwik/*'")
    p.add_argument("--only", default="",
                   help="comma-separated substrings: keep only tools whose name contains one")
    p.add_argument("--out", type=Path, default=DEFAULT_OUT,
                   help="where RESULTS.md, results.json and plot.png go (default: bench/)")
    p.add_argument("--timeout", type=float, default=1800.0,
                   help="seconds allowed per command (default 1800)")
    return p


def _cmd_run(argv: Sequence[str]) -> int:
    from bench.report import write_reports
    from bench.run import RunOptions, run_benchmark

    args = _run_parser().parse_args(argv)
    if not args.corpus.is_dir():
        print(f"bench: error: corpus folder not found: {args.corpus}", file=sys.stderr)
        print("hint: pass a folder of files, e.g. `python -m bench path/to/files`",
              file=sys.stderr)
        return 2
    opts = RunOptions(
        corpus=args.corpus, quick=args.quick, full=args.full, neural=args.neural,
        sample_bytes=args.sample_bytes, sample_files=args.sample_files,
        only=tuple(s.strip() for s in args.only.split(",") if s.strip()),
        files=tuple(s.strip() for s in args.files.split(",") if s.strip()),
        timeout=args.timeout,
    )
    with tempfile.TemporaryDirectory(prefix="nzarc-bench-") as tmp:
        try:
            doc = run_benchmark(opts, Path(tmp),
                                log=lambda s: print(s, file=sys.stderr, flush=True))
        except FileNotFoundError as exc:
            print(f"bench: error: {exc}", file=sys.stderr)
            return 2
    for msg in write_reports(doc, args.out):
        print(f"bench: {msg}", file=sys.stderr)
    print(f"bench: wrote {args.out / 'RESULTS.md'}", file=sys.stderr)
    failed = [m for m in doc["measurements"] if not m["ok"]]  # type: ignore[index]
    return 1 if failed else 0


def _cmd_report(argv: Sequence[str]) -> int:
    import json

    from bench.report import write_reports

    p = argparse.ArgumentParser(prog="python -m bench report",
                                description="Re-render RESULTS.md and plot.png from results.json.")
    p.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = p.parse_args(argv)
    src = args.out / "results.json"
    if not src.is_file():
        print(f"bench: error: {src} not found; run `python -m bench` first", file=sys.stderr)
        return 2
    doc = json.loads(src.read_text())
    for msg in write_reports(doc, args.out):
        print(f"bench: {msg}", file=sys.stderr)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point; ``argv`` excludes the program name. Returns the exit status."""
    args = list(sys.argv[1:] if argv is None else argv)
    if args and args[0] == "throughput":
        from bench.throughput import main as tp_main

        return tp_main(args[1:])
    if args and args[0] == "scale":
        from bench.scale import main as scale_main

        return scale_main(args[1:])
    if args and args[0] == "report":
        return _cmd_report(args[1:])
    if args and args[0] == "all":
        return _cmd_all(args[1:])
    if args and args[0] == "run":
        args = args[1:]
    return _cmd_run(args)


def _cmd_all(argv: Sequence[str]) -> int:
    """Throughput, then scale, then the corpus run (whose report includes both)."""
    from bench.scale import main as scale_main
    from bench.throughput import main as tp_main

    run_args = _run_parser().parse_args(argv)  # validate before the long steps
    out = ["--out", str(run_args.out)]
    status = [tp_main(["--profile", *out]), scale_main(out), _cmd_run(argv)]
    return max(status)
