"""Upper bounds on the neural codec's speed on this machine, from measured hardware rates.

Usage (from the repository root, with ``nzarc model install smollm2-135m`` done)::

    python -m bench.neural_floor [--file enwik/enwik6] [--threads 2] [--windows 2048 4096 8192]
        [--out bench/RESULTS-neural-floor]

The bounds leave out everything but two costs that no implementation of spec/NEURAL.md can
avoid, and charge each at the best rate this machine was measured to reach:

* **Multiply-adds (creation and extraction).** Every token passes through every linear layer
  once per activation level (spec/NEURAL.md 3.4): ``Σ N·K`` multiply-adds per level, counted
  from the model file's shapes. Every token's query is scored against every earlier key of
  its window (step 4): ``H·D`` multiply-adds per key and layer, ``(n + 1) / 2`` keys on
  average over a window of ``n`` tokens. Both are charged at the best int8 GEMM rate
  measured here (the runtime's own exact backend, the model's own shapes, 4096 rows per
  call, best of several runs): the vendor library's large-batch rate, not a rate the
  runtime reaches per token, and generous for the scores, whose 11-bit operands do not fit
  int8.
* **Key reads (extraction).** Decoding is sequential within a window: the token at position
  ``t`` is known only after step ``t``, so step ``t`` scores the new query against every
  cached key of its window (spec/NEURAL.md 3.2 step 4) and must read them all from memory
  (a window's cache is far larger than the CPU caches). Over a window of ``n`` tokens that
  is ``(n + 1) / 2`` key positions per token on average. Keys are charged at their smallest
  lossless size (an 11-bit ``k10`` per dimension, ``|k10| <= 512``, and a 5-bit shift per
  head, in every layer and KV head) and the best streaming read rate measured here; values
  are charged nothing (a value whose weight is 0 need not be read). A second column charges
  the caches as this runtime stores them (int16 keys and shifts, int32 values).

The attention weights and mixing (step 5), the element-wise steps, range coding and Python are
charged nothing, and extraction's reads are assumed to overlap its arithmetic perfectly, so
each figure is an upper bound on any implementation. Bytes per token come from the model's
tokenizer on the named file. Results go to ``OUT.json`` (one record per run, newest last) and
``OUT.md``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

import nzarc.neural  # noqa: F401  (sets the OpenMP wait policy before torch loads)

# isort: split
import torch

REPO = Path(__file__).resolve().parents[1]
CORPUS = REPO.parent / "shared" / "corpus"

#: The issue's speed requirements on enwik6, input kB (1000 bytes) per second.
TARGET_CREATE_KBS = 8.0
TARGET_EXTRACT_KBS = 4.0


def _model():  # noqa: ANN202
    from nzarc.neural.runtime import RuntimeOptions
    from nzarc.neural.store import SMOLLM2_NAME, ModelStore

    store = ModelStore.default()
    e = store.find(SMOLLM2_NAME)
    if e is None:
        sys.exit("model not installed: run `nzarc model install smollm2-135m`")
    return store.load(e.sha256, RuntimeOptions.from_env(os.environ))


def _linears(m) -> list:  # noqa: ANN001
    return [getattr(layer, name) for layer in m.layers for name in ("qkv", "o", "gu", "down")] + [m.lm]


def macs_per_token(m, levels: int) -> int:  # noqa: ANN001
    """int8 multiply-adds of the linear layers per token at activation precision ``levels``.

    At precision 1 the FFN down input already has two levels (spec/NEURAL.md 3.4)."""
    total = 0
    for layer in m.layers:
        for name in ("qkv", "o", "gu"):
            lin = getattr(layer, name)
            total += levels * lin.n * lin.k
        total += 2 * layer.down.n * layer.down.k
    return total + levels * m.lm.n * m.lm.k


def gemm_rate(m, rows: int = 4096, repeats: int = 3) -> float:  # noqa: ANN001
    """Best measured multiply-adds per second of the runtime's exact int8 GEMM over the
    model's distinct layer shapes (``rows`` activation rows per call)."""
    g = torch.Generator().manual_seed(0)
    x = torch.randint(-127, 128, (rows, max(lin.k for lin in _linears(m))), generator=g, dtype=torch.int8)
    shapes: dict[tuple[int, int], object] = {}
    for lin in _linears(m):
        shapes.setdefault((lin.n, lin.k), lin)
    best = 0.0
    for (n, k), lin in shapes.items():
        xk = x[:, :k].contiguous()
        lin.acc(xk[:64])  # warm-up (self-test, allocation)
        for _ in range(repeats):
            t = time.perf_counter()
            lin.acc(xk)
            dt = time.perf_counter() - t
            best = max(best, rows * n * k / dt)
    return best


def read_rate(nbytes: int = 1 << 29, repeats: int = 5) -> float:
    """Best measured bytes per second of a streaming read (a parallel float32 sum over
    ``nbytes``, far more than the CPU caches hold)."""
    x = torch.ones(nbytes // 4, dtype=torch.float32)
    x.sum()
    best = 0.0
    for _ in range(repeats):
        t = time.perf_counter()
        x.sum()
        best = max(best, nbytes / (time.perf_counter() - t))
    return best


def packed_key_bytes_per_token(m) -> float:  # noqa: ANN001
    """Smallest lossless size of one position's cached keys: 11 bits per dimension
    (``|k10| <= 512``) and a 5-bit shift per KV head (``sk <= 26``), in every layer."""
    return m.n_layer * m.n_kv * (m.hd * 11 + 5) / 8


def bounds(args: argparse.Namespace) -> dict:
    torch.set_num_threads(args.threads)
    m = _model()
    path = CORPUS / args.file
    if not path.is_file():
        sys.exit(f"{path} not found: the corpus lives in ../shared/corpus")
    data = path.read_bytes()
    tokens = len(m.tokenizer.encode(data))
    bpt = len(data) / tokens
    gemm = gemm_rate(m)
    bw = read_rate()
    kv = int(m.kv_bytes_per_token)
    key_packed = packed_key_bytes_per_token(m)
    rows = []
    for levels in (1, 2):
        macs = macs_per_token(m, levels)
        for window in args.windows:
            mean_ctx = (window + 1) / 2
            score_macs = m.n_layer * m.n_head * m.hd * mean_ctx
            compute_tok_s = gemm / (macs + score_macs)
            kv_tok_s = bw / (kv * mean_ctx)
            key_packed_tok_s = bw / (key_packed * mean_ctx)
            rows.append(
                {
                    "act_levels": levels,
                    "window": window,
                    "linear_macs_per_token": macs,
                    "score_macs_per_token": round(score_macs),
                    "create_kbs_max": round(compute_tok_s * bpt / 1000, 2),
                    "extract_kbs_max_packed": round(min(compute_tok_s, key_packed_tok_s) * bpt / 1000, 2),
                    "extract_kbs_max_runtime_layout": round(min(compute_tok_s, kv_tok_s) * bpt / 1000, 2),
                    "kv_mb_per_token": round(kv * mean_ctx / 1e6, 1),
                }
            )
    return {
        "file": args.file,
        "bytes": len(data),
        "tokens": tokens,
        "bytes_per_token": round(bpt, 4),
        "threads": args.threads,
        "gemm_gmac_s": round(gemm / 1e9, 1),
        "read_gb_s": round(bw / 1e9, 1),
        "kv_bytes_per_token_runtime": kv,
        "key_bytes_per_token_packed": key_packed,
        "targets_kbs": {"create": TARGET_CREATE_KBS, "extract": TARGET_EXTRACT_KBS},
        "machine": platform.processor() or platform.machine(),
        "torch": torch.__version__,
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "rows": rows,
    }


def render(rec: dict) -> str:
    t = rec["targets_kbs"]
    lines = [
        "# nzarc.neural: speed upper bounds on this machine",
        "",
        "Made by `python -m bench.neural_floor` (method in its docstring). Every figure below is",
        "an upper bound: only the multiply-adds of the linear layers and of the attention scores",
        "(all at the best int8 GEMM rate measured here) and, for extraction, the key reads (at",
        "the best read rate measured here, overlapping the arithmetic perfectly) are charged;",
        "attention mixing, element-wise steps and range coding are free.",
        "",
        f"- file: `{rec['file']}`, {rec['bytes']} bytes, {rec['tokens']} tokens "
        f"({rec['bytes_per_token']} bytes per token)",
        f"- best exact int8 GEMM rate: {rec['gemm_gmac_s']} GMAC/s; best read rate: "
        f"{rec['read_gb_s']} GB/s ({rec['threads']} threads, {rec['date']})",
        f"- cache per window position: {rec['key_bytes_per_token_packed']:.0f} bytes of keys "
        f"packed to the bit; {rec['kv_bytes_per_token_runtime']} bytes of keys and values as "
        "this runtime stores them",
        f"- required: create ≥ {t['create']} kB/s, extract ≥ {t['extract']} kB/s",
        "",
        "| precision | window | linear MAC/token | score MAC/token | create ≤ kB/s "
        "| extract ≤ kB/s (packed keys) | extract ≤ kB/s (runtime's caches) "
        "| runtime's cache read per token |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in rec["rows"]:
        lines.append(
            f"| {r['act_levels']} | {r['window']} | {r['linear_macs_per_token'] / 1e6:.1f} M "
            f"| {r['score_macs_per_token'] / 1e6:.1f} M "
            f"| {r['create_kbs_max']} | {r['extract_kbs_max_packed']} "
            f"| {r['extract_kbs_max_runtime_layout']} | {r['kv_mb_per_token']} MB |"
        )
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--file", default="enwik/enwik6")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--windows", type=int, nargs="+", default=[2048, 4096, 8192])
    ap.add_argument("--out", type=Path, default=REPO / "bench" / "RESULTS-neural-floor")
    args = ap.parse_args(argv)
    rec = bounds(args)
    print(json.dumps(rec, indent=1))
    js = args.out.with_suffix(".json")
    old = json.loads(js.read_text()) if js.exists() else []
    old.append(rec)
    js.write_text(json.dumps(old, indent=1) + "\n")
    args.out.with_suffix(".md").write_text(render(rec))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
