"""Code length of the version-2 mixer against the LM alone and ``xz -9e``, from cached LM output.

Usage (from the repository root)::

    python -m bench.neural_mix cache [--files ...] [--bytes 60000]   # slow: runs the real model
    python -m bench.neural_mix run [--files ...] [--bytes 60000] [--lanes 1] [--json out.json]

``cache`` runs the installed model (default window, precision 2) over the first ``--bytes``
bytes of each file and stores, per token, the id-bit node counts of the token's own path
(:func:`nzarc.neural.mix.lmnodes.path_counts`) and the table's top entry, under
``--cache`` (default ``/tmp/nzarc-mix-cache``). ``run`` codes the cached tokens with the
version-2 kernel (real range-coded bytes, one stream per window) and reports bits per byte
of: the LM alone (version 1's code length, ``sum -log2(F[t] / 2**24)``), the mixer, and
``xz -9e`` on the same bytes, and the time of the mixer per token. Files are read from
``../shared/corpus`` relative to the repository root.
"""

from __future__ import annotations

import argparse
import json
import lzma
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
CORPUS = REPO.parent / "shared" / "corpus"
FILES = [
    "logs/loghub_Apache_2k.log",
    "logs/loghub_HDFS_2k.log",
    "json/twitter.json",
    "json/github_events.json",
    "canterbury/alice29.txt",
]


def _cache_path(cache: Path, name: str, nbytes: int, window: int) -> Path:
    return cache / f"{name.replace('/', '_')}.{nbytes}.w{window}.npz"


def build_cache(name: str, nbytes: int, window: int, cache: Path) -> Path:
    """Run the model over the slice once; store tokens, path counts, top entries, LM seconds."""
    import torch

    from nzarc.neural.codec import NeuralCodec
    from nzarc.neural.mix.lmnodes import path_counts

    out = _cache_path(cache, name, nbytes, window)
    if out.is_file():
        return out
    model = NeuralCodec(window=window)._model()
    data = (CORPUS / name).read_bytes()[:nbytes]
    tokens = model.tokenizer.encode(data)
    counts_parts, top_parts = [], []
    t0 = time.perf_counter()
    for start in range(0, len(tokens), window):
        win = torch.as_tensor(tokens[start : start + window], dtype=torch.int64)
        inputs = torch.full((1, len(win)), int(model.bos_id), dtype=torch.int64)
        inputs[0, 1:] = win[:-1]
        for s0, table in model.prefill_freqs(inputs, slab=256):
            span = table.shape[1]
            c, top = path_counts(table[0], win[s0 : s0 + span])
            counts_parts.append(c.cpu().numpy())
            top_parts.append(top.cpu().numpy())
        print(f"  {name}: {min(len(tokens), start + window)}/{len(tokens)} tokens", flush=True)
    lm_s = time.perf_counter() - t0
    cache.mkdir(parents=True, exist_ok=True)
    np.savez(
        out,
        tokens=np.asarray(tokens, dtype=np.int32),
        counts=np.concatenate(counts_parts),
        top=np.concatenate(top_parts),
        lm_seconds=np.float64(lm_s),
        nbytes=np.int64(len(data)),
        vocab=np.int64(model.vocab_size),
    )
    return out


def lm_bits(tokens: np.ndarray, counts: np.ndarray) -> float:
    """Version 1's code length ``sum -log2(F[t] / total)``: ``F[t]`` is the count of the side
    the token takes at its last bit (a one-id side), the total is the first node's sum."""
    total = counts[:, 0, :].astype(np.float64).sum(axis=1)
    leaf = counts[np.arange(len(tokens)), -1, tokens & 1].astype(np.float64)
    return float(np.sum(np.log2(total) - np.log2(leaf)))


def mix_bytes(
    tokens: np.ndarray, counts: np.ndarray, top: np.ndarray, vocab: int, window: int, lanes: int
) -> tuple[int, float]:
    """Bytes of the version-2 streams (chunk layout without varints) and kernel seconds."""
    from nzarc.neural.mix import kernel

    n = len(tokens)
    starts = list(range(0, n, window))
    w = len(starts)
    state = kernel.new_state(lanes, vocab, n)
    total = 0
    t0 = time.perf_counter()
    for lane in range(lanes):
        for wi in range(lane * w // lanes, (lane + 1) * w // lanes):
            s = slice(starts[wi], min(n, starts[wi] + window))
            total += len(kernel.encode_window(state, lane, vocab, tokens[s], counts[s], top[s]))
    return total, time.perf_counter() - t0


def run(args: argparse.Namespace) -> list[dict[str, object]]:
    rows = []
    print(
        f"{'file':28} {'bytes':>7} {'tokens':>7} {'LM bpb':>7} {'mix bpb':>7} {'xz bpb':>7} "
        f"{'mix/xz':>6} {'us/tok':>7} {'mix/LM time':>11}"
    )
    for name in args.files:
        path = _cache_path(args.cache, name, args.bytes, args.window)
        if not path.is_file():
            print(f"{name}: no cache at {path} (run `cache` first)", file=sys.stderr)
            continue
        z = np.load(path)
        tokens, counts, top = z["tokens"].astype(np.int64), z["counts"], z["top"]
        nbytes, vocab, lm_s = int(z["nbytes"]), int(z["vocab"]), float(z["lm_seconds"])
        data = (CORPUS / name).read_bytes()[:nbytes]
        xz = len(lzma.compress(data, preset=9 | lzma.PRESET_EXTREME))
        mix_bytes(tokens[:50], counts[:50], top[:50], vocab, args.window, 1)  # compile
        out, mix_s = mix_bytes(tokens, counts, top, vocab, args.window, args.lanes)
        row = {
            "file": name,
            "bytes": nbytes,
            "tokens": len(tokens),
            "lanes": args.lanes,
            "lm_bpb": lm_bits(tokens, counts) / nbytes,
            "mix_bpb": 8 * out / nbytes,
            "xz_bpb": 8 * xz / nbytes,
            "mix_us_per_token": 1e6 * mix_s / len(tokens),
            "lm_us_per_token": 1e6 * lm_s / len(tokens),
        }
        rows.append(row)
        print(
            f"{name:28} {nbytes:7} {len(tokens):7} {row['lm_bpb']:7.3f} {row['mix_bpb']:7.3f} "
            f"{row['xz_bpb']:7.3f} {row['mix_bpb'] / row['xz_bpb']:6.3f} "
            f"{row['mix_us_per_token']:7.1f} {mix_s / lm_s:11.3f}",
            flush=True,
        )
    return rows


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("command", choices=["cache", "run"])
    ap.add_argument("--files", nargs="+", default=FILES)
    ap.add_argument("--bytes", type=int, default=60000)
    ap.add_argument("--window", type=int, default=4096)
    ap.add_argument("--cache", type=Path, default=Path("/tmp/nzarc-mix-cache"))
    ap.add_argument("--lanes", type=int, default=1)
    ap.add_argument("--json", type=Path)
    args = ap.parse_args(argv)
    if args.command == "cache":
        for name in args.files:
            print(build_cache(name, args.bytes, args.window, args.cache), flush=True)
        return 0
    rows = run(args)
    if args.json:
        with open(args.json, "a") as f:
            for row in rows:
                f.write(json.dumps(row) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
