#!/usr/bin/env python3
"""Fuzz target: the neural codec's range decoder.

Input: see fuzz/neural_support.py. Invariants: the reference decoder raises CodecError or
returns symbols whose encoding is byte-identical to the input (every valid stream is
canonical); the batched torch decoder agrees with it exactly, including on rejection.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import atheris

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

with atheris.instrument_imports(include=["nzarc"]):
    import torch

    from fuzz import neural_support
    from nzarc.errors import CodecError
    from nzarc.neural.coder import decode_symbols, encode_symbols


def _uninstrumented_coder() -> ModuleType:
    """A second, uninstrumented copy of nzarc.neural.coder for the batched decoder: atheris's
    comparison tracing of torch tensors grows memory by ~90 KB per input (measured; none without
    instrumentation), which would reach the RSS bound in a long run."""
    spec = importlib.util.find_spec("nzarc.neural.coder")
    assert spec is not None and spec.origin is not None
    copy_spec = importlib.util.spec_from_file_location("_nzarc_coder_plain", spec.origin)
    assert copy_spec is not None and copy_spec.loader is not None
    module = importlib.util.module_from_spec(copy_spec)
    copy_spec.loader.exec_module(module)
    return module


BatchRangeDecoder = _uninstrumented_coder().BatchRangeDecoder
torch.set_num_threads(1)


def _batch(stream: bytes, table: object, count: int, freq_bits: int) -> list[int] | None:
    freqs = torch.as_tensor(table)
    freqs = torch.diff(freqs, dim=1, prepend=torch.zeros(freqs.shape[0], 1, dtype=freqs.dtype))
    dec = BatchRangeDecoder([stream], [count], freq_bits)
    out = []
    try:
        for i in range(count):
            out.append(int(dec.step(freqs[i : i + 1])[0]))
        dec.finish()
    except CodecError:
        return None
    return out


def one_input(data: bytes) -> None:
    parsed = neural_support.parse(data)
    if parsed is None:
        return
    freq_bits, count, stream = parsed
    table = neural_support.TABLES[freq_bits][:count]
    try:
        symbols: list[int] | None = decode_symbols(stream, table, freq_bits)
    except CodecError:
        symbols = None
    if symbols is not None and encode_symbols(symbols, table, freq_bits) != stream:
        raise AssertionError("a stream accepted by the decoder is not the encoder's output")
    if _batch(stream, table, count, freq_bits) != symbols:
        raise AssertionError("batched and reference range decoders disagree")


if __name__ == "__main__":
    atheris.Setup(sys.argv, one_input)
    atheris.Fuzz()
