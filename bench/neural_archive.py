"""The neural codec's acceptance figures: whole files through ``nzarc create`` / ``nzarc extract``.

Usage (from the repository root, with ``nzarc model install smollm2-135m`` done)::

    python -m bench.neural_archive --files canterbury/alice29.txt calgary/book1 enwik/enwik6 \\
        [--window 4096] [--version 1] [--runtime 2] [--no-extract] [--jobs 2] [--out bench/RESULTS-neural-archive]

For each file it runs ``nzarc create -c neural --no-encrypt`` in a fresh process, then
``nzarc extract`` into an empty directory, compares the extracted bytes with the input and
reports: the archive size in bytes and in bits per input byte (container overhead included;
the codec's default activation precision, recorded as ``act_levels``, and its bitstream
``version`` and model ``runtime``: the codec's defaults unless ``--version`` or ``--runtime``
asks for another),
the wall-clock time of each command and its rate in input kB/s (1 kB = 1000 bytes), and
``xz -9`` and ``zstd -19`` bpb of the same file for comparison. Results are appended to
``OUT.json`` (one record per file and window, newest last) and ``OUT.md`` is regenerated.
Files are read from ``../shared/corpus`` relative to the repository root.
"""

from __future__ import annotations

import argparse
import json
import lzma
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from nzarc.neural.codec import DEFAULT_ACT_LEVELS, DEFAULT_RUNTIME, DEFAULT_VERSION

REPO = Path(__file__).resolve().parents[1]
CORPUS = REPO.parent / "shared" / "corpus"

#: The issue's bar (bits per byte, container included): file -> (required, goal).
BAR = {
    "canterbury/alice29.txt": (1.16, 1.10),
    "calgary/book1": (1.52, 1.40),
    "enwik/enwik6": (1.00, 0.95),
}


def _nzarc(args: list[str], jobs: int | None) -> float:
    if jobs is not None and args[0] == "create":
        args = [args[0], "-j", str(jobs), *args[1:]]
    cmd = [sys.executable, "-m", "nzarc", *args, "-q"]
    t0 = time.perf_counter()
    subprocess.run(cmd, check=True)
    return time.perf_counter() - t0


def _classic_bpb(data: bytes) -> dict[str, float]:
    import zstandard

    n = 8 / len(data)
    return {
        "xz-9": round(len(lzma.compress(data, preset=9 | lzma.PRESET_EXTREME)) * n, 4),
        "zstd-19": round(len(zstandard.ZstdCompressor(level=19).compress(data)) * n, 4),
    }


def measure(
    rel: str, window: int | None, extract: bool, jobs: int | None, version: int | None = None,
    runtime: int | None = None,
) -> dict[str, Any]:
    src = CORPUS / rel
    data = src.read_bytes()
    with tempfile.TemporaryDirectory(prefix="nzarc-bench-") as tmp:
        archive = Path(tmp) / "a.nzarc"
        create = ["create", "-c", "neural", "--no-encrypt", "-o", str(archive), str(src)]
        if window is not None:
            create[3:3] = ["--window", str(window)]
        if version is not None:
            create[3:3] = ["-m", f"version={version}"]
        if runtime is not None:
            create[3:3] = ["-m", f"runtime={runtime}"]
        t_create = _nzarc(create, jobs)
        size = archive.stat().st_size
        rec: dict[str, Any] = {
            "file": rel,
            "bytes": len(data),
            "window": window,
            "act_levels": DEFAULT_ACT_LEVELS,
            "version": DEFAULT_VERSION if version is None else version,
            "runtime": DEFAULT_RUNTIME if runtime is None else runtime,
            "archive_bytes": size,
            "bpb": round(8 * size / len(data), 4),
            "create_s": round(t_create, 1),
            "create_kBps": round(len(data) / 1000 / t_create, 3),
            **_classic_bpb(data),
        }
        if extract:
            dest = Path(tmp) / "out"
            dest.mkdir()
            t_extract = _nzarc(["extract", "-C", str(dest), str(archive)], jobs)
            got = (dest / src.name).read_bytes()
            rec["extract_s"] = round(t_extract, 1)
            rec["extract_kBps"] = round(len(data) / 1000 / t_extract, 3)
            rec["identical"] = got == data
    required, goal = BAR.get(rel, (None, None))
    rec["required"], rec["goal"] = required, goal
    rec["cpus"] = os.cpu_count()
    rec["machine"] = platform.processor() or platform.machine()
    return rec


def render(records: list[dict[str, Any]]) -> str:
    lines = [
        "# nzarc.neural: whole files through `nzarc create -c neural` (container included)",
        "",
        "Made by `python -m bench.neural_archive`; newest run of each file and window. "
        "Unencrypted archives (an X25519 recipient adds about 120 bytes). "
        "Rates are input kB (1000 bytes) per second of wall-clock time, model load included.",
        "",
        "| file | window | precision | version | runtime | bytes | archive | bpb | required | goal | xz -9 "
        "| zstd -19 | create kB/s | extract kB/s | identical | cpus |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    latest: dict[tuple[str, Any, int, int, int], dict[str, Any]] = {}
    for r in records:  # records older than a field were written with act_levels, version, runtime 1
        latest[(r["file"], r["window"], r.get("act_levels", 1), r.get("version", 1), r.get("runtime", 1))] = r
    for (_, _, levels, version, runtime), r in latest.items():
        lines.append(
            f"| {r['file']} | {r['window'] or 'default'} | {levels} | {version} | {runtime} | {r['bytes']} "
            f"| {r['archive_bytes']} "
            f"| {r['bpb']:.4f} | {r.get('required') or '–'} | {r.get('goal') or '–'} "
            f"| {r['xz-9']:.3f} | {r['zstd-19']:.3f} | {r['create_kBps']:.2f} "
            f"| {r.get('extract_kBps', '–')} | {r.get('identical', '–')} | {r['cpus']} |"
        )
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--files", nargs="+", default=list(BAR))
    ap.add_argument("--window", type=int, default=None, help="neural window (default: the codec's)")
    ap.add_argument("--version", type=int, default=None, help="bitstream version (default: the codec's)")
    ap.add_argument("--runtime", type=int, default=None, help="model runtime, 1 or 2 (default: the codec's)")
    ap.add_argument("--no-extract", action="store_true")
    ap.add_argument("--jobs", type=int, default=None)
    ap.add_argument("--out", default=str(REPO / "bench" / "RESULTS-neural-archive"))
    args = ap.parse_args(argv)
    if not CORPUS.is_dir():
        print(f"no corpus at {CORPUS}", file=sys.stderr)
        return 2
    out_json = Path(args.out + ".json")
    records = json.loads(out_json.read_text()) if out_json.exists() else []
    for rel in args.files:
        rec = measure(rel, args.window, not args.no_extract, args.jobs, args.version, args.runtime)
        print(json.dumps(rec), flush=True)
        records.append(rec)
        out_json.write_text(json.dumps(records, indent=1) + "\n")
        Path(args.out + ".md").write_text(render(records))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
