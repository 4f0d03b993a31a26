"""Prints the SHA-256 of frequency tables for a fixed mixed text+binary input.

Usage: python _determinism_probe.py MODEL(PATH|SHA) NTOK ACT_LEVELS[@RUNTIME] [BACKEND,...]
Prints a JSON object {variant: sha256}: prefill/incremental, batch 1/8, 1/2 threads, and
the listed extra GEMM backends, at activation precision ACT_LEVELS (1 or 2) under RUNTIME
(default nzarc-int-v1). test_determinism.py runs it under several environments.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
from dataclasses import replace

import torch


def sample_bytes() -> bytes:
    text = (
        b"It was the best of times, it was the worst of times, it was the age of wisdom, "
        b"it was the age of foolishness. 3.14159 26535 89793; <html><body>caf\xc3\xa9</body></html>\n"
    )
    binary = bytes((i * 73 + 41) % 256 for i in range(300)) + b"\x00\x00\x04\xff\xfe\xc0 \xe2\x82"
    return (text * 6 + binary + text * 4 + binary[::-1] + text * 8) * 2


def tables_hash(m, ids: list[int], mode: str, batch: int, threads: int) -> str:
    torch.set_num_threads(threads)
    win = min(512, m.max_len)
    windows = [[m.bos_id] + ids[i : i + win - 1] for i in range(0, len(ids), win - 1)]
    h = hashlib.sha256()
    filler = [m.bos_id] + ids[::-1][: win - 1]
    for w in windows:
        rows = [w] + [filler[: max(1, len(w) - k)] for k in range(1, batch)]
        T = len(w)
        if mode == "prefill":
            padded = torch.tensor([r + [0] * (T - len(r)) for r in rows], dtype=torch.int64)
            for _, f in m.prefill_freqs(padded, slab=128):
                h.update(f[0].contiguous().numpy().astype("<i4").tobytes())
        else:
            s = m.session(batch, T)
            # the filler windows start with the main one but stop early
            for t in range(T):
                active = [b for b in range(batch) if t < len(rows[b])]
                toks = torch.tensor([rows[b][t] for b in active], dtype=torch.int64)
                f = s.step(toks, torch.tensor(active, dtype=torch.int64))
                h.update(f[0].contiguous().numpy().astype("<i4").tobytes())
    return h.hexdigest()


def main() -> None:
    from nzarc.neural.runtime import RuntimeOptions
    from nzarc.neural.store import load_model

    which, ntok = sys.argv[1], int(sys.argv[2])
    levels_arg, _, runtime = sys.argv[3].partition("@")
    levels, runtime = int(levels_arg), runtime or "nzarc-int-v1"
    backends = sys.argv[4].split(",") if len(sys.argv) > 4 else []
    options = RuntimeOptions.from_env(os.environ)
    m = load_model(which, options).with_runtime(runtime).with_act_levels(levels)
    ids = m.tokenizer.encode(sample_bytes())[:ntok]
    assert len(ids) == ntok, len(ids)
    out = {"backend": m.matmul, "kernels": m.kernels}
    out["prefill-b1-t1"] = tables_hash(m, ids, "prefill", 1, 1)
    out["prefill-b8-t2"] = tables_hash(m, ids, "prefill", 8, 2)
    out["incremental-b8-t1"] = tables_hash(m, ids, "incremental", 8, 1)
    out["incremental-b1-t2"] = tables_hash(m, ids[: ntok // 3], "incremental", 1, 2)
    out["prefill-b1-t1-short"] = tables_hash(m, ids[: ntok // 3], "prefill", 1, 1)
    for be in backends:  # other exact GEMM routes, in this process
        other = load_model(which, replace(options, matmul=be)).with_runtime(runtime).with_act_levels(levels)
        assert other.matmul == be, (other.matmul, be)
        out[f"prefill-b1-t1-{be}"] = tables_hash(other, ids, "prefill", 1, 1)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
