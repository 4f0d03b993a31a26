"""The range coder of nzarc.neural: golden streams, round trips, batch decoder, hostile input."""

from __future__ import annotations

import math
import time

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from nzarc.errors import CodecError
from nzarc.neural.coder import (
    MAX_FREQ_BITS,
    BatchRangeDecoder,
    RangeDecoder,
    RangeEncoder,
    decode_symbols,
    encode_symbols,
)


def encode_pairs(freq_bits: int, pairs: list[tuple[int, int]]) -> bytes:
    enc = RangeEncoder(freq_bits)
    for cum, freq in pairs:
        enc.encode(cum, freq)
    return enc.finish()


def decode_pairs(freq_bits: int, data: bytes, pairs: list[tuple[int, int]]) -> None:
    """Decode with the reference decoder and assert each target falls in the expected interval."""
    dec = RangeDecoder(data, freq_bits)
    for cum, freq in pairs:
        q = dec.target()
        assert cum <= q < cum + freq
        dec.consume(cum, freq)
    dec.finish()


def freqs_from_weights(weights: list[int], freq_bits: int) -> np.ndarray:
    """Integer frequencies >= 1 summing to exactly 2**freq_bits, shaped by ``weights``."""
    total = 1 << freq_bits
    v = len(weights)
    spare = total - v
    w = np.asarray(weights, dtype=object)
    s = int(sum(weights)) or 1
    extra = np.array([int(x) * spare // s for x in w], dtype=np.int64)
    extra[int(np.argmax(np.asarray(weights)))] += spare - int(extra.sum())
    out = extra + 1
    assert int(out.sum()) == total and int(out.min()) >= 1
    return out


# ---------------------------------------------------------------------------
# Golden streams. The first ones are derived by hand in the comments; the last
# ones pin the exact bytes of carry handling and a long mixed sequence.
# ---------------------------------------------------------------------------

GOLDEN = [
    # Nothing coded: no shift, and the flush value 0 is a multiple of TOP (k = 0).
    (8, [], ""),
    # One symbol [0x40/256, 0x80/256): the interval starts at 0x40 00.., one byte suffices.
    (8, [(0x40, 0x40)], "40"),
    # Sixteen times the upper half: [1 - 2**-16, 1) -> 0xFFFF, via the pending-0xFF path.
    (1, [(1, 1)] * 16, "ffff"),
    # A near-certain symbol at cum 0 keeps low at 0 and range above BOT: the stream is empty.
    (24, [(0, 2**24 - 1)] * 1000, ""),
    # The same at cum 1: low ends near 1000 * 2**-24, so the single byte 0x01 is in range.
    (24, [(1, 2**24 - 1)] * 1000, "01"),
    # The top symbol of frequency 1, thrice: [1 - 2**-72, 1) -> nine 0xFF bytes.
    (24, [(2**24 - 1, 1)] * 3, "ff" * 9),
    # A carry that runs through one pending 0xFF byte in the middle of the stream.
    (
        4,
        [(0, 1), (0, 15), (8, 1), (8, 1), (8, 1), (11, 3), (6, 1), (0, 15), (1, 15), (0, 1), (5, 3), (14, 2)],
        "0800361d0a",
    ),
    # The flush value (TOP) carries through two pending 0xFF bytes, which become zeros.
    (
        4,
        [(12, 3), (1, 1), (5, 3), (0, 15), (12, 3), (6, 1), (2, 1), (1, 15), (1, 15), (8, 2), (5, 2), (14, 1), (9, 1)],
        "c45f0000",
    ),
]


@pytest.mark.parametrize(("freq_bits", "pairs", "expected"), GOLDEN)
def test_golden_streams(freq_bits: int, pairs: list[tuple[int, int]], expected: str) -> None:
    data = encode_pairs(freq_bits, pairs)
    assert data.hex() == expected
    decode_pairs(freq_bits, data, pairs)


def _golden_mixed() -> list[tuple[int, int]]:
    """Forty (cum, freq) pairs from a 64-bit LCG, ``freq_bits = 16``."""
    pairs = []
    x = 12345
    for _ in range(40):
        x = (x * 6364136223846793005 + 1442695040888963407) % 2**64
        freq = 1 + (x >> 40) % 4000
        cum = (x >> 8) % (2**16 - freq + 1)
        pairs.append((cum, freq))
    return pairs


def test_golden_mixed_sequence() -> None:
    pairs = _golden_mixed()
    data = encode_pairs(16, pairs)
    assert data.hex() == GOLDEN_MIXED_HEX
    decode_pairs(16, data, pairs)


GOLDEN_MIXED_HEX = (
    "e5f49fe62d5e92675bb5f3202728c3f1ceb60ab9ea9edf45368f5e17d5"
    ""
)


# ---------------------------------------------------------------------------
# Round trips with random and extreme distributions.
# ---------------------------------------------------------------------------


@st.composite
def coded_sequences(draw: st.DrawFn) -> tuple[int, np.ndarray, list[int]]:
    freq_bits = draw(st.sampled_from([1, 2, 3, 4, 8, 12, 16, 20, 24, 28, 31, MAX_FREQ_BITS]))
    vocab = draw(st.integers(1, min(1 << freq_bits, 40)))
    n = draw(st.integers(0, 40))
    shape = st.one_of(
        st.lists(st.integers(0, 1000), min_size=vocab, max_size=vocab),  # arbitrary
        st.just([0] * vocab),  # uniform
        st.integers(0, vocab - 1).map(lambda k: [int(i == k) for i in range(vocab)]),  # near-certain
        st.lists(st.integers(0, 2**40), min_size=vocab, max_size=vocab),  # wild ratios
    )
    rows = [freqs_from_weights(draw(shape), freq_bits) for _ in range(n)]
    freqs = np.stack(rows) if rows else np.zeros((0, vocab), dtype=np.int64)
    symbols = [draw(st.integers(0, vocab - 1)) for _ in range(n)]
    return freq_bits, freqs, symbols


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(coded_sequences())
def test_round_trip_reference(case: tuple[int, np.ndarray, list[int]]) -> None:
    freq_bits, freqs, symbols = case
    cdfs = np.cumsum(freqs, axis=1)
    data = encode_symbols(symbols, cdfs, freq_bits)
    assert decode_symbols(data, cdfs, freq_bits) == symbols


@settings(max_examples=100, deadline=None)
@given(coded_sequences())
def test_code_length_close_to_information(case: tuple[int, np.ndarray, list[int]]) -> None:
    freq_bits, freqs, symbols = case
    cdfs = np.cumsum(freqs, axis=1)
    data = encode_symbols(symbols, cdfs, freq_bits)
    info = sum(-math.log2(int(freqs[i, s]) / (1 << freq_bits)) for i, s in enumerate(symbols))
    # At most one flush byte plus the loss of the unused interval (< 2**(bits-48) per symbol).
    waste = len(symbols) * -math.log2(1 - 2.0 ** (freq_bits - 48))
    assert 8 * len(data) <= info + waste + 8 + 1e-6


def test_near_certain_and_frequency_one_symbols() -> None:
    bits = 24
    vocab = 49152
    row = np.ones(vocab, dtype=np.int64)
    row[7] = (1 << bits) - (vocab - 1)
    cdf = np.cumsum(row)
    cdfs = np.broadcast_to(cdf, (600, vocab))
    symbols = [7] * 500 + [0, vocab - 1, 8, 6] * 25
    data = encode_symbols(symbols, cdfs, bits)
    assert decode_symbols(data, cdfs, bits) == symbols
    info = 100 * 24 + 600 * -math.log2(int(row[7]) / 2**24)
    assert len(data) <= info / 8 + 2


def test_encoder_rejects_bad_intervals() -> None:
    enc = RangeEncoder(8)
    for cum, freq in [(0, 0), (-1, 2), (255, 2), (0, 257)]:
        with pytest.raises(CodecError):
            enc.encode(cum, freq)
    with pytest.raises(ValueError):
        RangeEncoder(0)
    with pytest.raises(ValueError):
        RangeEncoder(MAX_FREQ_BITS + 1)


# ---------------------------------------------------------------------------
# Batched decoder against the reference.
# ---------------------------------------------------------------------------


def _batch_case(seed: int, batch: int, max_len: int, vocab: int, bits: int):
    gen = torch.Generator().manual_seed(seed)
    raw = torch.randint(0, 1000, (max_len, batch, vocab), generator=gen) ** 3
    spare = (1 << bits) - vocab
    freqs = raw * spare // raw.sum(-1, keepdim=True).clamp(min=1) + 1
    freqs[..., 0] += (1 << bits) - freqs.sum(-1)
    assert bool((freqs.sum(-1) == 1 << bits).all()) and int(freqs.min()) >= 1
    counts = torch.randint(0, max_len + 1, (batch,), generator=gen).tolist()
    counts[0] = max_len
    streams, symbols = [], []
    for b in range(batch):
        syms = torch.multinomial(freqs[: counts[b], b].double(), 1, generator=gen).squeeze(1).tolist() if counts[b] else []
        cdfs = np.cumsum(freqs[: counts[b], b].numpy(), axis=1)
        streams.append(encode_symbols(syms, cdfs, bits))
        symbols.append(syms)
    return freqs, counts, streams, symbols


@pytest.mark.parametrize(("seed", "bits"), [(1, 24), (2, 16), (3, 30), (4, 9), (7, 32)])
def test_batch_decoder_matches_reference(seed: int, bits: int) -> None:
    freqs, counts, streams, symbols = _batch_case(seed, batch=9, max_len=60, vocab=300, bits=bits)
    dec = BatchRangeDecoder(streams, counts, bits)
    got: list[list[int]] = [[] for _ in counts]
    for t in range(60):
        sym = dec.step(freqs[t])
        for b, s in enumerate(sym.tolist()):
            if t < counts[b]:
                got[b].append(s)
            else:
                assert s == -1
    dec.finish()
    assert got == symbols


def test_batch_decoder_steps_any_subset_of_rows() -> None:
    """Streams advanced at different times, in any row order, decode as on their own."""
    freqs, counts, streams, symbols = _batch_case(6, batch=7, max_len=30, vocab=120, bits=24)
    dec = BatchRangeDecoder(streams, counts, 24)
    gen = torch.Generator().manual_seed(6)
    got: list[list[int]] = [[] for _ in counts]
    while bool(dec.active().any()):
        live = dec.active().nonzero().squeeze(1)
        pick = live[torch.randperm(len(live), generator=gen)][: 1 + int(torch.randint(0, len(live), (1,), generator=gen))]
        table = torch.stack([freqs[len(got[int(b)]), int(b)] for b in pick])
        for b, s in zip(pick.tolist(), dec.step(table, pick).tolist(), strict=True):
            got[b].append(s)
    dec.finish()
    assert got == symbols
    with pytest.raises(ValueError):
        dec.step(freqs[0, :1], torch.tensor([0]))


def test_batch_decoder_flags_corrupt_stream_only_where_reference_fails() -> None:
    freqs, counts, streams, _ = _batch_case(5, batch=6, max_len=40, vocab=50, bits=16)
    gen = np.random.default_rng(5)
    corrupted = list(streams)
    for b in range(1, 6):
        data = bytearray(corrupted[b] or b"\x01")
        data[int(gen.integers(len(data)))] ^= 1 << int(gen.integers(8))
        corrupted[b] = bytes(data)
    dec = BatchRangeDecoder(corrupted, counts, 16)
    for t in range(40):
        dec.step(freqs[t])
    batch_ok = True
    try:
        dec.finish()
    except CodecError:
        batch_ok = False
    ref_ok = True
    for b in range(6):
        ref = RangeDecoder(corrupted[b], 16)
        try:
            for t in range(counts[b]):
                ref.decode_cdf(np.cumsum(freqs[t, b].numpy()))
            ref.finish()
        except CodecError:
            ref_ok = False
    assert batch_ok == ref_ok
    assert not batch_ok


# ---------------------------------------------------------------------------
# Hostile input: every byte string either fails fast or is the canonical encoding.
# ---------------------------------------------------------------------------


def _decode_or_none(data: bytes, cdfs: np.ndarray, bits: int) -> list[int] | None:
    try:
        return decode_symbols(data, cdfs, bits)
    except CodecError:
        return None


@settings(max_examples=400, deadline=None)
@given(st.binary(max_size=64), st.integers(0, 50), st.sampled_from([4, 16, 24]))
def test_any_bytes_fail_or_are_canonical(data: bytes, n: int, bits: int) -> None:
    vocab = 11
    weights = [(i * 37) % 11 + (i == 3) * 500 for i in range(vocab)]
    cdfs = np.broadcast_to(np.cumsum(freqs_from_weights(weights, bits)), (n, vocab))
    symbols = _decode_or_none(data, cdfs, bits)
    if symbols is not None:
        assert encode_symbols(symbols, cdfs, bits) == data


@settings(max_examples=150, deadline=None)
@given(st.lists(st.binary(max_size=24), min_size=1, max_size=5), st.integers(0, 30))
def test_batch_decoder_accepts_exactly_what_the_reference_accepts(streams: list[bytes], n: int) -> None:
    bits, vocab = 16, 9
    row = freqs_from_weights([5, 0, 300, 1, 40, 0, 0, 7, 2], bits)
    cdfs = np.broadcast_to(np.cumsum(row), (n, vocab))
    expected = [_decode_or_none(s, cdfs, bits) for s in streams]
    dec = BatchRangeDecoder(streams, [n] * len(streams), bits)
    got: list[list[int]] = [[] for _ in streams]
    table = torch.as_tensor(row).expand(len(streams), vocab)
    for _ in range(n):
        for b, sym in enumerate(dec.step(table).tolist()):
            got[b].append(sym)
    failed = dec.failed().tolist()
    for b, want in enumerate(expected):
        if want is not None:
            assert not failed[b] and got[b] == want
    try:
        dec.finish()
        batch_ok = True
    except CodecError:
        batch_ok = False
    assert batch_ok == all(e is not None for e in expected)


def test_truncated_and_extended_streams_are_rejected() -> None:
    bits, vocab = 24, 1000
    rng = np.random.default_rng(9)
    row = freqs_from_weights([int(x) for x in rng.integers(0, 10**6, vocab)], bits)
    cdfs = np.broadcast_to(np.cumsum(row), (300, vocab))
    symbols = [int(s) for s in rng.integers(0, vocab, 300)]
    data = encode_symbols(symbols, cdfs, bits)
    rejected = 0
    for cut in range(len(data)):
        got = _decode_or_none(data[:cut], cdfs, bits)
        assert got != symbols
        rejected += got is None
    # A truncated stream is another symbol sequence's canonical stream only by chance.
    assert rejected >= len(data) - 3
    for tail in (b"\x00", b"\x01", b"\xff" * 3):
        assert _decode_or_none(data + tail, cdfs, bits) is None


def test_garbage_is_rejected_quickly() -> None:
    bits, vocab, n = 24, 49152, 2000
    row = np.ones(vocab, dtype=np.int64)
    row[:100] += ((1 << bits) - vocab) // 100
    row[0] += (1 << bits) - int(row.sum())
    cdf = np.cumsum(row)
    rng = np.random.default_rng(3)
    start = time.perf_counter()
    failures = 0
    for size in (1, 7, 100, 5000):
        data = rng.integers(0, 256, size, dtype=np.uint8).tobytes()
        dec = RangeDecoder(data, bits)
        try:
            for _ in range(n):
                dec.decode_cdf(cdf)
            dec.finish()
        except CodecError:
            failures += 1
    assert failures == 4
    assert time.perf_counter() - start < 5.0
