"""Fixed distributions and seeds for the range-decoder fuzz target.

Input layout: ``selector (u8) || count (u8) || stream``. The selector picks ``freq_bits``
from :data:`FREQ_BITS` and the count (mod :data:`MAX_SYMBOLS` + 1) the number of symbols;
the distributions are fixed pseudo-random tables (every entry >= 1, each row summing to
``2**freq_bits``), the same on every run.
"""

from __future__ import annotations

import random
import struct
from collections.abc import Iterator
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from nzarc.codecs.context import CodecContext

FREQ_BITS = (1, 2, 8, 12, 16, 24, 32)
MAX_SYMBOLS = 48
VOCAB = 24


def cdf_table(freq_bits: int) -> np.ndarray:
    """Inclusive cumulative rows, ``MAX_SYMBOLS`` x ``min(VOCAB, 2**freq_bits)``."""
    rng = random.Random(freq_bits)
    total = 1 << freq_bits
    vocab = min(VOCAB, total)
    rows = []
    for i in range(MAX_SYMBOLS):
        skew = i % 4  # flat rows, a dominant symbol, and very unequal tails
        weights = [rng.randint(1, 1000) ** (1 + skew) for _ in range(vocab)]
        spare = total - vocab
        scale = sum(weights)
        freqs = [1 + (w * spare) // scale for w in weights]
        freqs[rng.randrange(vocab)] += total - sum(freqs)
        rows.append(np.cumsum(freqs))
    return np.array(rows, dtype=np.int64)


TABLES = {fb: cdf_table(fb) for fb in FREQ_BITS}


def parse(data: bytes) -> tuple[int, int, bytes] | None:
    if len(data) < 2:
        return None
    sel, count = struct.unpack(">BB", data[:2])
    return FREQ_BITS[sel % len(FREQ_BITS)], count % (MAX_SYMBOLS + 1), data[2:]


def seeds() -> Iterator[bytes]:
    from nzarc.neural.coder import encode_symbols

    rng = random.Random(7)
    for sel, fb in enumerate(FREQ_BITS):
        table = TABLES[fb]
        for count in (0, 1, 5, MAX_SYMBOLS):
            symbols = [rng.randrange(table.shape[1]) for _ in range(count)]
            yield struct.pack(">BB", sel, count) + encode_symbols(symbols, table[:count], fb)


# -- the neural codec with the tiny test model ---------------------------------------------

#: Largest raw_len the codec target decodes. The decoder takes at most ``2 * raw_len`` tokens
#: (spec/NEURAL-CODEC.md) in windows of :data:`TINY_WINDOW`, decoded side by side: one decode
#: is at most TINY_WINDOW batched model steps over at most ``2 * MAX_RAW / TINY_WINDOW`` rows.
#: A fuzz input runs two decodes and one encode, well under 100 ms on an idle machine, so the
#: one-second limit of fuzz/run holds with room for a loaded CI machine.
MAX_RAW = 64
#: Tokens per window: the number of sequential model steps of one decode.
TINY_WINDOW = 8
#: The seed texts (each at most MAX_RAW bytes): text, bytes without a token (escapes),
#: control bytes, an empty and a one-byte chunk, several windows.
CODEC_SEED_TEXTS = (
    b"",
    b"a",
    b"hello world\n",
    b"the cat and the hat " * 3,
    bytes(range(40)),
    b"\xf5\xff\x04 escape bytes",
    b"in the end, and then it was over. And then",
)


def raw_len_of(data: bytes) -> int:
    """The raw length a codec-target input asks for: its first byte, reduced to 0 .. MAX_RAW."""
    return data[0] % (MAX_RAW + 1)


def tiny_codec(context: CodecContext | None = None) -> object:
    """``nzarc.neural`` over the tiny model of seed 0, window :data:`TINY_WINDOW`, built
    with ``context`` (None: the default context)."""
    from nzarc.neural.codec import NeuralCodec, register_model
    from nzarc.neural.tiny import tiny_model

    return NeuralCodec(model=register_model(tiny_model(0)), window=TINY_WINDOW, context=context)


def codec_seeds() -> Iterator[bytes]:
    codec = tiny_codec()
    for text in CODEC_SEED_TEXTS:
        assert len(text) <= MAX_RAW, text
        yield bytes([len(text)]) + codec.encode(text)  # type: ignore[attr-defined]
