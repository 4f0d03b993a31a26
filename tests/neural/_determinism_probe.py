"""Prints the SHA-256 of frequency tables for a fixed mixed text+binary input.

Usage: python _determinism_probe.py MODEL(PATH|SHA) MODE(prefill|incremental) BATCH THREADS [NTOK]
Run in subprocesses with different environments by test_determinism.py.
"""

from __future__ import annotations

import hashlib
import sys

import torch


def sample_bytes() -> bytes:
    text = (
        b"It was the best of times, it was the worst of times, it was the age of wisdom, "
        b"it was the age of foolishness. 3.14159 26535 89793; <html><body>caf\xc3\xa9</body></html>\n"
    )
    binary = bytes((i * 73 + 41) % 256 for i in range(300)) + b"\x00\x00\x04\xff\xfe\xc0 \xe2\x82"
    return (text * 6 + binary + text * 4 + binary[::-1] + text * 8) * 2


def main() -> None:
    which, mode, batch, threads = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
    ntok = int(sys.argv[5]) if len(sys.argv) > 5 else 3000
    torch.set_num_threads(threads)
    from nzarc.neural.runtime import load_model

    m = load_model(which)
    win = min(512, m.max_len)
    ids = m.tokenizer.encode(sample_bytes())[:ntok]
    assert len(ids) == ntok, len(ids)
    windows = [[m.bos_id] + ids[i : i + win - 1] for i in range(0, ntok, win - 1)]
    h = hashlib.sha256()
    filler = [m.bos_id] + ids[::-1][: win - 1]
    for w in windows:
        rows = [w] + [filler[: len(w) - k] for k in range(1, batch)]
        T = len(w)
        if mode == "prefill":
            padded = torch.tensor([r + [0] * (T - len(r)) for r in rows], dtype=torch.int64)
            for _, f in m.prefill_freqs(padded, slab=128):
                h.update(f[0].contiguous().numpy().astype("<i4").tobytes())
        else:
            s = m.session(batch, T)
            # rows advance together except the fillers, which start later and stop early
            for t in range(T):
                active = [b for b in range(batch) if t < len(rows[b])]
                toks = torch.tensor([rows[b][t] for b in active], dtype=torch.int64)
                f = s.step(toks, torch.tensor(active, dtype=torch.int64))
                h.update(f[0].contiguous().numpy().astype("<i4").tobytes())
    print(h.hexdigest())


if __name__ == "__main__":
    main()
