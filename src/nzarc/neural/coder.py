"""The range coder of ``nzarc.neural``: exact integer arithmetic, byte output.

A symbol is coded from its ``(cum, freq)`` pair under a distribution whose
frequencies sum to ``total = 2**freq_bits``: ``cum`` is the sum of the
frequencies of all smaller symbols, ``freq >= 1``, ``cum + freq <= total``.
Everything is integer arithmetic on values below ``2**58``, so Python ints,
numpy int64 and torch int64 on any device give identical results.
``spec/NEURAL-CODEC.md`` ("Range coding and the nzarc.neural bitstream") is the
normative description; this docstring restates it.

State and constants
    ``STATE_BITS = 56``; ``TOP = 2**56``; ``BOT = 2**48``;
    ``1 <= freq_bits <= MAX_FREQ_BITS = 32``.
    The encoder keeps ``low`` (an integer below ``2**57``; bit 56 is a pending
    carry), ``range`` (``BOT <= range <= TOP`` between symbols), a one-byte
    ``cache`` that is not yet final (absent at the start) and a count
    ``pending`` of ``0xFF`` bytes that follow the cache. It starts with
    ``low = 0``, ``range = TOP``, no cache, ``pending = 0``.

Encoding one symbol
    ``r = range >> freq_bits; low += r * cum; range = r * freq``; then, while
    ``range < BOT``: ``range <<= 8`` and *shift*. The interval
    ``[r * total, range)`` is never used (the decoder rejects it).

Shift (commit the top byte of ``low``)
    If there is no cache: ``cache = low >> 48`` (no carry is possible yet).
    Else if ``low < 0xFF << 48`` or ``low >= TOP``: with ``carry = low >> 56``,
    output ``(cache + carry) & 0xFF``, then ``pending`` bytes
    ``(0xFF + carry) & 0xFF``; set ``pending = 0``, ``cache = (low >> 48) & 0xFF``.
    Else ``pending += 1``. In every case ``low = (low << 8) & (TOP - 1)``.

Flush (after the last symbol)
    Pick ``v = ceil(low / TOP) * TOP`` if that is ``< low + range``, else
    ``v = ceil(low / BOT) * BOT`` (always ``< low + range`` as ``range >= BOT``):
    the value in the final interval with the fewest significant bytes. With ``R`` the number of shifts done so far and
    ``k = 0`` if ``v`` is a multiple of ``TOP``, else ``k = 1``: set ``low = v``,
    shift 7 times, output the cache (if any) and then ``pending`` bytes
    ``0xFF``; the stream is the first ``R + k`` bytes output (every later byte
    is ``0x00``). Zero symbols give ``b""``.

Decoding
    The decoder reads the stream as if followed by ``0x00`` bytes (so it never
    reads past the end of its buffer). It keeps ``range`` and ``low`` exactly
    as the encoder does, ``code`` (``0 <= code < range``
    for a valid stream) and ``pos``, the number of bytes consumed. Start:
    ``code`` = first 7 bytes big-endian, ``pos = 7``. Per symbol:
    ``r = range >> freq_bits; q = code // r``; ``q >= total`` means the stream
    is not a valid stream (the unused interval or beyond): :class:`CodecError`.
    The symbol is the one with ``cum <= q < cum + freq`` (a binary search over
    the inclusive cumulative sums); then ``code -= r * cum; low += r * cum;
    range = r * freq``; while ``range < BOT``: ``range <<= 8;
    code = (code << 8) | next byte; low = (low << 8) & (TOP - 1); pos += 1``.
    A valid stream is ``R + k >= R`` bytes long, so a decoder about to read
    byte ``len(stream) + 7`` (more shifts than the stream has bytes) has
    found an invalid stream (*overrun*): :class:`CodecError`.

Termination check (makes every stream canonical)
    After the last symbol the decoder computes the encoder's ``v`` from its
    ``low`` and ``range`` and requires ``(code + low) & (TOP - 1) == v & (TOP - 1)``,
    and ``len(stream) == pos - 7 + k`` (``k`` as in the flush). A stream
    passes iff it is byte-identical to the encoder's output for the decoded
    symbols; anything else raises :class:`CodecError`. (Corruption can still
    yield another canonical stream; the codec's length checks and the
    archive's authentication and member SHA-256 cover that.)
    The number of symbols is always known to the decoder from elsewhere, so
    decoding time is linear in that count whatever the stream holds.

Two decoders are provided: :class:`RangeDecoder` (one stream, Python ints;
the reference) and :class:`BatchRangeDecoder` (many independent streams
advanced in lockstep with torch int64 operations, one vectorised step for
the whole batch: cumulative sums, ``searchsorted``, state update and
renormalisation). They are tested to agree exactly.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np
import torch

from nzarc.errors import CodecError

__all__ = [
    "STATE_BITS",
    "MAX_FREQ_BITS",
    "RangeEncoder",
    "RangeDecoder",
    "BatchRangeDecoder",
    "encode_symbols",
    "decode_symbols",
]

STATE_BITS = 56
MAX_FREQ_BITS = 32
_TOP = 1 << STATE_BITS
_BOT = 1 << (STATE_BITS - 8)
_MASK = _TOP - 1
_SHIFT = STATE_BITS - 8
_FF_THRESHOLD = 0xFF << _SHIFT
_INIT_BYTES = STATE_BITS // 8


def _check_freq_bits(freq_bits: int) -> int:
    if not isinstance(freq_bits, int) or not 1 <= freq_bits <= MAX_FREQ_BITS:
        raise ValueError(f"freq_bits must be an int in 1..{MAX_FREQ_BITS}, got {freq_bits!r}")
    return freq_bits


def _flush_value(low: int, rng: int) -> int:
    """The value the encoder's flush settles on, from its final ``low`` and ``range``."""
    v = -(-low // _TOP) * _TOP
    if v < low + rng:
        return v
    return -(-low // _BOT) * _BOT


class RangeEncoder:
    """Encode symbols given as ``(cum, freq)`` pairs; :meth:`finish` returns the stream."""

    __slots__ = ("_bits", "_total", "_low", "_range", "_cache", "_pending", "_out", "_shifts", "_done")

    def __init__(self, freq_bits: int) -> None:
        self._bits = _check_freq_bits(freq_bits)
        self._total = 1 << freq_bits
        self._low = 0
        self._range = _TOP
        self._cache = -1
        self._pending = 0
        self._out = bytearray()
        self._shifts = 0
        self._done = False

    def encode(self, cum: int, freq: int) -> None:
        """Code one symbol; raise CodecError if ``(cum, freq)`` is not a valid interval."""
        self.encode_many((cum,), (freq,))

    def encode_many(self, cums: Iterable[int], freqs: Iterable[int]) -> None:
        """Code a sequence of symbols (same as calling :meth:`encode` on each pair)."""
        total = self._total
        bits = self._bits
        if self._done:
            raise ValueError("encoder already finished")
        for cum, freq in zip(cums, freqs, strict=True):
            if freq < 1 or cum < 0 or cum + freq > total:
                raise CodecError(f"nzarc.neural: symbol interval ({cum}, {freq}) is outside 0..{total}")
            r = self._range >> bits
            self._low += r * cum
            rng = r * freq
            while rng < _BOT:
                rng <<= 8
                self._shift()
            self._range = rng

    def _shift(self) -> None:
        self._shifts += 1
        low = self._low
        if self._cache < 0:
            self._cache = low >> _SHIFT
        elif low < _FF_THRESHOLD or low >= _TOP:
            carry = low >> STATE_BITS
            out = self._out
            out.append((self._cache + carry) & 0xFF)
            if self._pending:
                out += bytes(((0xFF + carry) & 0xFF,)) * self._pending
                self._pending = 0
            self._cache = (low >> _SHIFT) & 0xFF
        else:
            self._pending += 1
        self._low = (low << 8) & _MASK

    def finish(self) -> bytes:
        """Flush and return the canonical stream; the encoder cannot be used afterwards."""
        if self._done:
            raise ValueError("encoder already finished")
        self._done = True
        v = _flush_value(self._low, self._range)
        length = self._shifts + (1 if v & _MASK else 0)
        self._low = v
        for _ in range(_INIT_BYTES):
            self._shift()
        out = self._out
        if self._cache >= 0:
            out.append(self._cache)
        out += b"\xff" * self._pending
        if any(out[length:]):
            raise AssertionError("range coder flush left significant bytes")  # pragma: no cover
        return bytes(out[:length])


class RangeDecoder:
    """Decode one stream with Python ints (the reference decoder).

    Per symbol: ``q = target()`` (raises CodecError on an invalid stream), find
    the symbol whose interval contains ``q``, then ``consume(cum, freq)``.
    After the last symbol call :meth:`finish`.
    """

    __slots__ = ("_bits", "_total", "_data", "_pos", "_code", "_low", "_range", "_r")

    def __init__(self, data: bytes, freq_bits: int) -> None:
        self._bits = _check_freq_bits(freq_bits)
        self._total = 1 << freq_bits
        self._data = bytes(data)
        head = self._data[:_INIT_BYTES]
        self._code = int.from_bytes(head + bytes(_INIT_BYTES - len(head)), "big")
        self._pos = _INIT_BYTES
        self._low = 0
        self._range = _TOP
        self._r = 0

    def target(self) -> int:
        """The value in ``[0, total)`` that selects the next symbol."""
        self._r = r = self._range >> self._bits
        q = self._code // r
        if q >= self._total:
            raise CodecError("nzarc.neural: corrupt range-coded stream (value outside the coding interval)")
        return q

    def consume(self, cum: int, freq: int) -> None:
        """Remove the symbol ``(cum, freq)`` chosen from the last :meth:`target`."""
        r = self._r
        if r == 0:
            raise ValueError("consume() without target()")
        self._r = 0
        self._code -= r * cum
        if not 0 <= self._code < r * freq:
            raise ValueError("symbol interval does not contain the target")
        self._low += r * cum
        rng = r * freq
        while rng < _BOT:
            rng <<= 8
            pos = self._pos
            if pos >= len(self._data) + _INIT_BYTES:
                raise CodecError("nzarc.neural: corrupt range-coded stream (overrun)")
            byte = self._data[pos] if pos < len(self._data) else 0
            self._pos = pos + 1
            self._code = (self._code << 8) | byte
            self._low = (self._low << 8) & _MASK
        self._range = rng

    def decode_cdf(self, cdf: np.ndarray) -> int:
        """Decode one symbol given the inclusive cumulative frequencies ``cdf`` (1-D)."""
        q = self.target()
        sym = int(np.searchsorted(cdf, q, side="right"))
        hi = int(cdf[sym])
        lo = int(cdf[sym - 1]) if sym else 0
        self.consume(lo, hi - lo)
        return sym

    def finish(self) -> None:
        """Check that the stream ended exactly where its encoder would have ended it."""
        v = _flush_value(self._low, self._range)
        if (self._code + self._low) & _MASK != v & _MASK:
            raise CodecError("nzarc.neural: corrupt range-coded stream (bad termination)")
        if len(self._data) != self._pos - _INIT_BYTES + (1 if v & _MASK else 0):
            raise CodecError("nzarc.neural: corrupt range-coded stream (wrong length)")


def encode_symbols(symbols: Sequence[int], cdfs: np.ndarray, freq_bits: int) -> bytes:
    """Encode ``symbols[i]`` under the inclusive cumulative row ``cdfs[i]`` (test helper)."""
    enc = RangeEncoder(freq_bits)
    for i, s in enumerate(symbols):
        hi = int(cdfs[i, s])
        lo = int(cdfs[i, s - 1]) if s else 0
        enc.encode(lo, hi - lo)
    return enc.finish()


def decode_symbols(data: bytes, cdfs: np.ndarray, freq_bits: int) -> list[int]:
    """Decode ``len(cdfs)`` symbols with the reference decoder (test helper)."""
    dec = RangeDecoder(data, freq_bits)
    out = [dec.decode_cdf(cdfs[i]) for i in range(len(cdfs))]
    dec.finish()
    return out


class BatchRangeDecoder:
    """Decode many independent streams in lockstep, one vectorised step per symbol.

    ``streams[i]`` holds ``counts[i]`` symbols. Each :meth:`step` takes the
    frequency tables (an integer tensor ``[rows, V]``) of the next symbol of
    every stream, or of a chosen subset of streams, and returns the decoded
    symbols. Streams are independent and may be at different positions. All
    state lives on ``device``; results are identical on every device.
    Invalid streams are recorded, not raised, inside :meth:`step` (so a GPU
    step needs no host synchronisation); :meth:`check` raises CodecError if
    any stream has failed so far and :meth:`finish` adds the termination check.
    """

    def __init__(
        self,
        streams: Sequence[bytes],
        counts: Sequence[int],
        freq_bits: int,
        device: torch.device | str = "cpu",
    ) -> None:
        if len(streams) != len(counts):
            raise ValueError("streams and counts differ in length")
        self.freq_bits = _check_freq_bits(freq_bits)
        self.device = dev = torch.device(device)
        self.batch = n = len(streams)
        lengths = [len(s) for s in streams]
        offsets = np.zeros(n, dtype=np.int64)
        if n:
            offsets[1:] = np.cumsum(lengths[:-1])
        flat = b"".join(streams) + b"\x00"  # the last byte is what a read past any end sees
        self._flat = torch.frombuffer(bytearray(flat), dtype=torch.uint8).to(dev)
        self._pad_index = len(flat) - 1
        self._offsets = torch.as_tensor(offsets, dtype=torch.int64, device=dev)
        self._lengths = torch.as_tensor(lengths, dtype=torch.int64, device=dev)
        self.counts = torch.as_tensor(list(counts), dtype=torch.int64, device=dev)
        self.decoded = torch.zeros(n, dtype=torch.int64, device=dev)
        self._pos = torch.zeros(n, dtype=torch.int64, device=dev)
        code = torch.zeros(n, dtype=torch.int64, device=dev)
        for _ in range(_INIT_BYTES):
            code = (code << 8) | self._bytes_at(self._pos, self._offsets, self._lengths)
            self._pos += 1
        self._code = code
        self._low = torch.zeros(n, dtype=torch.int64, device=dev)
        self._range = torch.full((n,), _TOP, dtype=torch.int64, device=dev)
        self._bad = torch.zeros(n, dtype=torch.bool, device=dev)

    def _bytes_at(self, pos: torch.Tensor, offsets: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """The byte at ``pos`` of each selected stream, 0 at or past its end."""
        idx = torch.where(pos < lengths, offsets + pos, self._pad_index)
        return self._flat[idx].to(torch.int64)

    def active(self) -> torch.Tensor:
        """Boolean ``[B]``: streams that still have symbols to decode."""
        return self.decoded < self.counts

    def step(self, freqs: torch.Tensor, rows: torch.Tensor | None = None) -> torch.Tensor:
        """Decode the next symbol of several streams in one vectorised step.

        Without ``rows``, ``freqs`` is ``[B, V]`` (one row per stream; rows of
        finished streams are ignored and give ``-1``). With ``rows`` (distinct
        indices of unfinished streams, a LongTensor ``[b]``), ``freqs`` is
        ``[b, V]`` for those streams only. Returns int64 symbols, one per row.
        """
        if rows is None:
            if freqs.dim() != 2 or freqs.shape[0] != self.batch:
                raise ValueError(f"freqs must be [{self.batch}, V], got {tuple(freqs.shape)}")
            idx = torch.arange(self.batch, device=self.device)
            active = self.active()
        else:
            idx = rows.to(device=self.device, dtype=torch.int64)
            if freqs.dim() != 2 or idx.dim() != 1 or freqs.shape[0] != idx.shape[0]:
                raise ValueError("freqs must be [b, V] for b = len(rows)")
            active = self.decoded[idx] < self.counts[idx]
            if not bool(active.all()):
                raise ValueError("step() on a finished stream")
        bits = self.freq_bits
        f = freqs.to(device=self.device)
        # Cumulative sums are at most 2**bits: int32 is exact (and faster) up to 30 bits.
        cdt = torch.int32 if bits <= 30 else torch.int64
        cdf = torch.cumsum(f, dim=1, dtype=cdt)
        code, rng, low = self._code[idx], self._range[idx], self._low[idx]
        pos, offs, lens = self._pos[idx], self._offsets[idx], self._lengths[idx]
        r = rng >> bits
        q = torch.div(code, r, rounding_mode="floor")
        bad = active & (q >= (1 << bits))
        q = torch.where(bad, 0, q)
        sym = torch.searchsorted(cdf, q.unsqueeze(1).to(cdt), right=True).clamp_(max=f.shape[1] - 1)
        hi = cdf.gather(1, sym).squeeze(1).to(torch.int64)
        fs = f.gather(1, sym).squeeze(1).to(torch.int64)
        lo = hi - fs
        ok = active & ~bad
        code = torch.where(ok, code - r * lo, code)
        low = torch.where(ok, low + r * lo, low)
        rng = torch.where(ok, r * fs, rng)
        for _ in range(bits // 8 + 2):
            need = ok & (rng < _BOT)
            byte = self._bytes_at(pos, offs, lens)
            rng = torch.where(need, rng << 8, rng)
            code = torch.where(need, (code << 8) | byte, code)
            low = torch.where(need, (low & (_BOT - 1)) << 8, low)
            pos = pos + need.to(torch.int64)
        self._code[idx], self._range[idx], self._low[idx], self._pos[idx] = code, rng, low, pos
        self._bad[idx] |= bad | (pos - _INIT_BYTES > lens)
        self.decoded[idx] += active.to(torch.int64)
        return torch.where(active, sym.squeeze(1), -1)

    def failed(self) -> torch.Tensor:
        """Boolean ``[B]``: streams found invalid so far."""
        return self._bad

    def check(self) -> None:
        """Raise CodecError if any stream has been found invalid."""
        if bool(self._bad.any()):
            raise CodecError("nzarc.neural: corrupt range-coded stream (invalid value or overrun)")

    def finish(self) -> None:
        """After every stream is done: raise CodecError unless each ended canonically."""
        self.check()
        if bool(self.active().any()):
            raise ValueError("finish() before every stream is decoded")
        low, rng = self._low, self._range
        v_top = torch.div(low + (_TOP - 1), _TOP, rounding_mode="floor") * _TOP
        v_bot = torch.div(low + (_BOT - 1), _BOT, rounding_mode="floor") * _BOT
        v = torch.where(v_top < low + rng, v_top, v_bot)
        term_ok = ((self._code + low) & _MASK) == (v & _MASK)
        len_ok = self._lengths == self._pos - _INIT_BYTES + ((v & _MASK) != 0).to(torch.int64)
        if not bool((term_ok & len_ok).all()):
            raise CodecError("nzarc.neural: corrupt range-coded stream (bad termination)")
