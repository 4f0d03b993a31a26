"""Scale figure: a 2 GiB stream through ``nzarc create`` and ``nzarc extract`` via pipes.

``python -m bench scale [--size 2G] [--no-encrypt]`` runs, in one shell pipeline::

    generator | nzarc create -o - -c zstd -l 3 --name stream.bin - \\
              | tee >(wc -c > archive-bytes) | nzarc extract - -C DEST

with ``/usr/bin/time -v`` around each nzarc process, so the peak RSS of
create and of extract are reported separately (the generator is not
counted). The generator streams a deterministic mix (16 MiB of text-like,
repetitive and random content, each MiB tagged with its index) and records
the SHA-256 of what it wrote; the extracted file must match it. The archive
never touches the disk; the extracted file does (and is deleted after).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import shlex
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from bench.common import DEFAULT_OUT, REPO_ROOT, parse_size
from bench.nzarc_runner import BENCH_PASSPHRASE, detect
from bench.tools import TIME_BIN, time_binary
from bench.treegen import mixed_bytes

__all__ = ["generate", "main", "render_markdown", "run_scale"]

_RSS_RE = re.compile(r"Maximum resident set size \(kbytes\):\s*(\d+)")
_BLOCK = 1 << 20


def _base_block(seed: int = 2) -> bytes:
    return mixed_bytes(np.random.default_rng(seed), 16 << 20)


def generate(size: int, digest_path: str) -> None:
    """Write ``size`` bytes of the benchmark stream to stdout; its SHA-256 to ``digest_path``."""
    base = _base_block()
    nblocks = len(base) // _BLOCK
    out = sys.stdout.buffer
    h = hashlib.sha256()
    written = 0
    i = 0
    while written < size:
        j = i % nblocks
        block = bytearray(base[j * _BLOCK:(j + 1) * _BLOCK])
        block[:16] = f"{i:015d}\n".encode()
        chunk = bytes(block[: size - written])
        out.write(chunk)
        h.update(chunk)
        written += len(chunk)
        i += 1
    out.flush()
    Path(digest_path).write_text(h.hexdigest())


def _rss_mib(path: Path) -> float | None:
    if not path.exists():
        return None
    m = _RSS_RE.search(path.read_text(errors="replace"))
    return int(m.group(1)) / 1024 if m else None


def run_scale(size: int, work: Path, *, encrypt: bool = True) -> dict[str, Any]:
    """Run the pipeline once in ``work``; return sizes, seconds, peak RSS and verification."""
    setup = detect()
    if setup.command is None:
        raise RuntimeError("nzarc is not usable: " + "; ".join(setup.problems))
    if time_binary() is None:
        raise RuntimeError("GNU time (/usr/bin/time -v) is needed for per-process RSS")
    q = shlex.quote
    dest = work / "dest"
    dest.mkdir(parents=True, exist_ok=True)
    gen = (f"{q(sys.executable)} -c {q('import sys; from bench.scale import generate; generate(int(sys.argv[1]), sys.argv[2])')}"  # noqa: E501
           f" {size} {q(str(work / 'sha256'))}")
    enc_opt = "" if encrypt else " --no-encrypt"
    nz = setup.command
    cmd = (
        f"{gen} | {TIME_BIN} -v -o {q(str(work / 'rss-create'))} {nz} create -q -o -"
        f" -c zstd -l 3{enc_opt} --name stream.bin -"
        f" | tee >(wc -c > {q(str(work / 'archive-bytes'))})"
        f" | {TIME_BIN} -v -o {q(str(work / 'rss-extract'))} {nz} extract -q - -C {q(str(dest))}"
    )
    env = {"NZARC_PASSPHRASE": BENCH_PASSPHRASE, "PYTHONPATH": str(REPO_ROOT)}
    t0 = time.perf_counter()
    proc = subprocess.run(["bash", "-o", "pipefail", "-c", cmd], cwd=REPO_ROOT,
                          env={**os.environ, **env}, capture_output=True, text=True, check=False)
    seconds = time.perf_counter() - t0
    time.sleep(0.2)  # let the tee side-process finish writing its count
    out = dest / "stream.bin"
    verified = False
    if proc.returncode == 0 and out.is_file() and (work / "sha256").is_file():
        h = hashlib.sha256()
        with out.open("rb") as fh:
            for block in iter(lambda: fh.read(8 << 20), b""):
                h.update(block)
        verified = h.hexdigest() == (work / "sha256").read_text().strip()
    arc_bytes_txt = (work / "archive-bytes").read_text().strip() if (
        work / "archive-bytes").exists() else ""
    out.unlink(missing_ok=True)
    return {
        "date_utc": time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime()),
        "size_bytes": size, "encrypted": encrypt, "command": cmd,
        "returncode": proc.returncode, "stderr_tail": proc.stderr.strip()[-500:],
        "seconds": seconds, "mbps": size / 1e6 / seconds,
        "archive_bytes": int(arc_bytes_txt) if arc_bytes_txt.isdigit() else None,
        "create_peak_rss_mib": _rss_mib(work / "rss-create"),
        "extract_peak_rss_mib": _rss_mib(work / "rss-extract"),
        "verified": verified,
    }


def _size_text(n: int) -> str:
    return f"{n / 2**30:g} GiB" if n >= 1 << 30 else f"{n / 2**20:g} MiB"


def render_markdown(rec: dict[str, Any]) -> list[str]:
    """The scale section of ``RESULTS.md``."""
    def f(v: float | None, spec: str = ".0f") -> str:
        return "–" if v is None else format(v, spec)

    return [
        f"## Scale: {_size_text(rec['size_bytes'])} through create and extract via pipes",
        "",
        f"Measured {rec['date_utc']} UTC, encryption {'on' if rec['encrypted'] else 'off'}, "
        f"`-c zstd -l 3`, generator → `nzarc create -o - … -` → `nzarc extract - -C DIR`.",
        "",
        "| peak RSS create | peak RSS extract | wall s | MB/s | archive bytes | verified |",
        "|---|---|---|---|---|---|",
        f"| {f(rec['create_peak_rss_mib'])} MiB | {f(rec['extract_peak_rss_mib'])} MiB | "
        f"{rec['seconds']:.1f} | {rec['mbps']:.1f} | "
        f"{'–' if rec['archive_bytes'] is None else format(rec['archive_bytes'], ',')} | "
        f"{'yes' if rec['verified'] else 'NO'} |",
    ]


def main(argv: Sequence[str]) -> int:
    """``python -m bench scale``; exit 1 unless the stream round-trips."""
    p = argparse.ArgumentParser(prog="python -m bench scale",
                                description="2 GiB through nzarc create | nzarc extract.")
    p.add_argument("--size", type=parse_size, default=2 << 30, help="stream bytes (default 2G)")
    p.add_argument("--no-encrypt", dest="encrypt", action="store_false",
                   help="measure without encryption")
    p.add_argument("--out", type=Path, default=DEFAULT_OUT,
                   help="folder for scale.json (default: bench/)")
    args = p.parse_args(argv)
    try:
        with tempfile.TemporaryDirectory(prefix="nzarc-scale-") as tmp:
            rec = run_scale(args.size, Path(tmp), encrypt=args.encrypt)
    except RuntimeError as exc:
        print(f"bench: error: {exc}", file=sys.stderr)
        return 1
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "scale.json").write_text(json.dumps(rec, indent=1) + "\n")
    print("\n".join(render_markdown(rec)))
    if rec["returncode"] != 0:
        print(f"bench: scale pipeline failed: {rec['stderr_tail']}", file=sys.stderr)
    return 0 if rec["verified"] else 1
