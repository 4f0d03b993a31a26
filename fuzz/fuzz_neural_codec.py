#!/usr/bin/env python3
"""Fuzz target: ``nzarc.neural`` decode (layout checks, range decoder, model steps,
detokenisation) with the tiny test model.

Input: ``raw_len (u8, reduced to 0 .. MAX_RAW) || codec output``; ``raw_len`` and the window
stay small (fuzz/neural_support.py) so that one input takes well under 100 ms, far below
the one-second limit even on a loaded machine. Invariant: CodecError (or
ModelMismatch/LimitExceeded), or exactly raw_len bytes that encode and decode back to
themselves.
"""

from __future__ import annotations

import sys
from pathlib import Path

import atheris

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

# Only the codec's own layer is instrumented: atheris's comparison tracing of torch tensors in
# the range decoder and the runtime grows memory with every input (the range decoder has its
# own target, neural_coder), and numba cannot compile instrumented kernels. atheris instruments
# every module of an included top-level package that is imported inside the block, so the
# runtime, its kernels and the range coder are imported before it.
import nzarc.neural.coder  # noqa: E402,F401
import nzarc.neural.cpu_attention  # noqa: E402,F401
import nzarc.neural.cpu_kernels  # noqa: E402,F401
import nzarc.neural.runtime.fused_backend  # noqa: E402,F401
import nzarc.neural.runtime.model  # noqa: E402,F401
import nzarc.neural.runtime.torch_backend  # noqa: E402,F401

with atheris.instrument_imports(include=["nzarc.neural.codec", "nzarc.neural.tokenizer"]):
    import torch

    from fuzz import neural_support
    from nzarc.errors import CodecError, LimitExceeded, ModelMismatch

    CODEC = neural_support.tiny_codec()

torch.set_num_threads(1)
ALLOWED = (CodecError, ModelMismatch, LimitExceeded)
# compile (or load from numba's cache) the runtime kernels before libFuzzer's per-input timer
assert CODEC.decode(CODEC.encode(b"warm-up \x00\xff"), 10) == b"warm-up \x00\xff"


def one_input(data: bytes) -> None:
    if not data:
        return
    raw_len = neural_support.raw_len_of(data)
    try:
        out = CODEC.decode(data[1:], raw_len)
    except ALLOWED:
        return
    if not isinstance(out, bytes) or len(out) != raw_len:
        raise AssertionError(f"nzarc.neural: decode returned {len(out)} bytes, not {raw_len}")
    if CODEC.decode(CODEC.encode(out), raw_len) != out:
        raise AssertionError("nzarc.neural: decoded output does not re-encode consistently")


if __name__ == "__main__":
    atheris.Setup(sys.argv, one_input)
    atheris.Fuzz()
