"""The binary range coder the version-2 mixer drives (numba): spec/NEURAL-CODEC.md
section 1's coder at ``freq_bits = 16``, one binary symbol per coded decision, over int64
state arrays so that it runs inside compiled lane loops.

Contract: encoding then decoding the same probabilities returns the same bits; the stream
bytes are exactly those of the section-1 coder given the symbols ``(0, f0)`` / ``(f0, 65536 - f0)``.
"""

from __future__ import annotations

import numpy as np
from numba import njit

# Range coder (spec/NEURAL-CODEC.md section 1) at freq_bits = 16.
_TOP = 1 << 56
_BOT = 1 << 48
_MASK = _TOP - 1
_FB = 16

# ----------------------------------------------------------------------------- range coder


@njit(cache=True)
def _rc_shift(rc: np.ndarray, out: np.ndarray) -> None:
    # rc: 0 low, 1 range, 2 cache (-1: none), 3 pending, 4 shifts, 5 out length
    rc[4] += 1
    low = rc[0]
    if rc[2] < 0:
        rc[2] = low >> 48
    elif low < (0xFF << 48) or low >= _TOP:
        carry = low >> 56
        n = rc[5]
        out[n] = (rc[2] + carry) & 0xFF
        n += 1
        for _ in range(rc[3]):
            out[n] = (0xFF + carry) & 0xFF
            n += 1
        rc[5] = n
        rc[3] = 0
        rc[2] = (low >> 48) & 0xFF
    else:
        rc[3] += 1
    rc[0] = (low << 8) & _MASK


@njit(cache=True)
def _rc_encode(rc: np.ndarray, out: np.ndarray, cum: int, freq: int) -> None:
    r = rc[1] >> _FB
    rc[0] += r * cum
    rng = r * freq
    while rng < _BOT:
        rng <<= 8
        _rc_shift(rc, out)
    rc[1] = rng


@njit(cache=True)
def _flush_value(low: int, rng: int) -> int:
    v = ((low + _TOP - 1) >> 56) << 56
    if v < low + rng:
        return v
    return ((low + _BOT - 1) >> 48) << 48


@njit(cache=True)
def _rc_finish(rc: np.ndarray, out: np.ndarray) -> int:
    v = _flush_value(rc[0], rc[1])
    length = rc[4] + (1 if (v & _MASK) != 0 else 0)
    rc[0] = v
    for _ in range(7):
        _rc_shift(rc, out)
    n = rc[5]
    if rc[2] >= 0:
        out[n] = rc[2]
        n += 1
    for _ in range(rc[3]):
        out[n] = 0xFF
        n += 1
    return length


@njit(cache=True)
def _rd_byte(data: np.ndarray, start: int, length: int, pos: int) -> int:
    return data[start + pos] if pos < length else 0


@njit(cache=True)
def _rd_bit(rd: np.ndarray, data: np.ndarray, p1: int) -> int:
    # rd: 0 code, 1 low, 2 range, 3 pos, 4 bad, 5 stream start, 6 stream length
    if rd[4] != 0:  # an error is recorded: decode nothing more (the caller raises)
        return 0
    r = rd[2] >> _FB
    q = rd[0] // r
    if q >= 65536:
        rd[4] = 1
        q = 0
    split = 65536 - p1
    if q >= split:
        bit, cum, freq = 1, split, p1
    else:
        bit, cum, freq = 0, 0, split
    rd[0] -= r * cum
    rd[1] += r * cum
    rng = r * freq
    while rng < _BOT:
        if rd[3] >= rd[6] + 7:
            rd[4] = 1
        rng <<= 8
        rd[0] = (rd[0] << 8) | _rd_byte(data, rd[5], rd[6], rd[3])
        rd[1] = (rd[1] << 8) & _MASK
        rd[3] += 1
    rd[2] = rng
    return bit
