"""Bits per byte and speed of the ``nzarc.neural`` codec, per file slice and window size.

Usage (from the repository root)::

    python -m bench.neural_codec --files canterbury/alice29.txt enwik/enwik6 \\
        --bytes 20000 --windows 512 1024 2048 [--decode] [--threads 2] [--json out.json]
    python -m bench.neural_codec --tiny --bytes 3000 --windows 64 --decode   # smoke test

``bpb`` is ``8 * len(codec output) / len(input)`` for the whole slice coded as
one chunk (no container overhead); ``ideal`` is the model's own code length,
``sum(-log2(freq / 2**freq_bits))``, so ``bpb - ideal`` is what the range
coder and the chunk layout cost. ``--archive`` additionally writes a real archive with
``nzarc.create(codec="neural")`` (default window) and reports its size.
Files are read from ``../shared/corpus`` relative to the repository root.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
CORPUS = REPO.parent / "shared" / "corpus"


def _codec(window: int, tiny: bool):  # -> NeuralCodec
    from nzarc.neural.codec import NeuralCodec, register_model

    if tiny:
        from nzarc.neural.tiny import tiny_model

        return NeuralCodec(model=register_model(tiny_model(0)), window=window)
    return NeuralCodec(window=window)


class _InfoMeter:
    """Sums the model's ideal code length, -log2(freq / total), over everything encoded."""

    def __init__(self) -> None:
        import nzarc.neural.windowcode as module  # where the codec's window coding looks it up

        self.bits = 0.0
        self._module = module
        self._inner = module.window_intervals
        module.window_intervals = self._wrapped

    def _wrapped(self, model, windows, cancel=None, progress=None):  # type: ignore[no-untyped-def]
        total = float(1 << int(model.freq_bits))
        for wi, cums, freqs in self._inner(model, windows, cancel, progress):
            self.bits += sum(-math.log2(f / total) for f in freqs)
            yield wi, cums, freqs

    def take(self) -> float:
        bits, self.bits = self.bits, 0.0
        return bits


def _archive_bpb(path: Path, data_len: int) -> float:
    import nzarc

    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "a.nzarc"
        nzarc.create(out, [path], encrypt=False, codec="neural")
        return 8 * out.stat().st_size / data_len


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--files", nargs="+", default=["canterbury/alice29.txt", "calgary/book1", "enwik/enwik6"])
    ap.add_argument("--bytes", type=int, default=0, help="slice length (0: whole file)")
    ap.add_argument("--offset", type=int, default=0, help="slice start")
    ap.add_argument("--windows", type=int, nargs="+", default=[1024])
    ap.add_argument("--decode", action="store_true", help="also decode and verify (slow)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--tiny", action="store_true", help="use the tiny test model")
    ap.add_argument("--archive", action="store_true", help="also measure a whole-file archive")
    ap.add_argument("--json", type=Path, help="append results as JSON lines to this file")
    args = ap.parse_args(argv)

    import torch

    torch.set_num_threads(args.threads)
    rows = []
    meter = _InfoMeter()
    print(
        f"{'file':28} {'bytes':>8} {'win':>5} {'tokens':>7} {'out':>8} {'bpb':>6} {'ideal':>6} "
        f"{'enc kB/s':>9} {'dec kB/s':>9}"
    )
    for name in args.files:
        path = CORPUS / name
        if not path.is_file():
            print(f"{name}: not found under {CORPUS}", file=sys.stderr)
            return 2
        data = path.read_bytes()
        if args.bytes:
            data = data[args.offset : args.offset + args.bytes]
        for window in args.windows:
            codec = _codec(window, args.tiny)
            model = codec._model()
            tokens = len(model.tokenizer.encode(data))
            meter.take()
            t0, c0 = time.perf_counter(), time.process_time()
            encoded = codec.encode(data)
            enc_s, enc_cpu = time.perf_counter() - t0, time.process_time() - c0
            ideal_bits = meter.take()
            dec_s = dec_cpu = None
            if args.decode:
                t0, c0 = time.perf_counter(), time.process_time()
                back = codec.decode(encoded, len(data))
                dec_s, dec_cpu = time.perf_counter() - t0, time.process_time() - c0
                if back != data:
                    print(f"{name}: ROUND TRIP FAILED at window {window}", file=sys.stderr)
                    return 1
            row = {
                "file": name,
                "offset": args.offset,
                "bytes": len(data),
                "window": window,
                "tokens": tokens,
                "out_bytes": len(encoded),
                "bpb": 8 * len(encoded) / max(1, len(data)),
                "ideal_bpb": ideal_bits / max(1, len(data)),
                "enc_kBps": len(data) / 1000 / enc_s,
                "dec_kBps": None if dec_s is None else len(data) / 1000 / dec_s,
                # CPU seconds (all threads): what the work costs when the machine is not shared.
                "enc_cpu_s": enc_cpu,
                "dec_cpu_s": dec_cpu,
                "threads": args.threads,
                "model": codec.model_sha,
            }
            rows.append(row)
            dec = "-" if dec_s is None else f"{row['dec_kBps']:9.2f}"
            cpu = f"cpu: enc {len(data) / 1000 / enc_cpu:.2f} kB/cpu-s"
            if dec_cpu:
                cpu += f", dec {len(data) / 1000 / dec_cpu:.2f} kB/cpu-s"
            print(
                f"{name:28} {len(data):8} {window:5} {tokens:7} {len(encoded):8} {row['bpb']:6.3f} "
                f"{row['ideal_bpb']:6.3f} "
                f"{row['enc_kBps']:9.2f} {dec:>9}  ({cpu})",
                flush=True,
            )
        if args.archive:
            print(f"{name}: archive bpb {_archive_bpb(path, path.stat().st_size):.3f} (whole file)")
    if args.json:
        with open(args.json, "a") as f:
            for row in rows:
                f.write(json.dumps(row) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
