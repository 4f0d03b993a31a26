"""Constants and state of the version-2 mixer: the squash/stretch tables, the fixed
bitstream parameters, the lane state arrays, and the integer helpers the models share.

Contract: every value here is fixed by the bitstream (changing one changes the bytes);
:func:`new_state` and :func:`state_bytes` agree exactly on the bytes a lane state holds.
spec/NEURAL-CODEC.md section 5 defines the models these feed.
"""

from __future__ import annotations

import numpy as np
from numba import njit

# ----------------------------------------------------------------------------- constants

M32 = 0xFFFFFFFF
#: squash(d) = 65536 / (1 + exp(-d / 128)) at d = 32 i - 2048, rounded, clamped to 1..65535.
SQUASH_KNOTS = np.array(
    [
        1,
        1,
        1,
        1,
        1,
        1,
        1,
        1,
        1,
        1,
        1,
        1,
        1,
        1,
        1,
        1,
        1,
        1,
        1,
        1,
        1,
        1,
        2,
        2,
        3,
        4,
        5,
        6,
        8,
        10,
        13,
        17,
        22,
        28,
        36,
        47,
        60,
        77,
        98,
        126,
        162,
        208,
        267,
        342,
        439,
        562,
        720,
        922,
        1179,
        1506,
        1921,
        2446,
        3108,
        3938,
        4971,
        6249,
        7812,
        9702,
        11955,
        14595,
        17625,
        21025,
        24743,
        28693,
        32768,
        36843,
        40793,
        44511,
        47911,
        50941,
        53581,
        55834,
        57724,
        59287,
        60565,
        61598,
        62428,
        63090,
        63615,
        64030,
        64357,
        64614,
        64816,
        64974,
        65097,
        65194,
        65269,
        65328,
        65374,
        65410,
        65438,
        65459,
        65476,
        65489,
        65500,
        65508,
        65514,
        65519,
        65523,
        65526,
        65528,
        65530,
        65531,
        65532,
        65533,
        65534,
        65534,
        65535,
        65535,
        65535,
        65535,
        65535,
        65535,
        65535,
        65535,
        65535,
        65535,
        65535,
        65535,
        65535,
        65535,
        65535,
        65535,
        65535,
        65535,
        65535,
        65535,
        65535,
        65535,
    ],
    dtype=np.int64,
)
assert len(SQUASH_KNOTS) == 129

#: Tunable constants (all fixed by the bitstream; changing one changes the bytes).
PARAMS = {
    "table_bits": 20,  # slots per context table (per order, per lane): 2**table_bits
    "orders": 5,  # context orders 0..orders-1 (order 0: the node alone)
    "count_limit": 60,  # adaptation-count cap of a context slot
    "match_min": 5,  # tokens hashed to find a match
    "match_bits": 18,  # slots of the match table: 2**match_bits
    "mixer_lr": 128,  # mixer learning rate (see kernel._code_token's update)
    "apm_bits": 14,  # APM contexts: 2**apm_bits
    "apm_rate": 6,  # APM update shift
}


def squash_table() -> np.ndarray:
    """``squash(d)`` for ``d = -2047..2047`` (int64, index ``d + 2047``), 1..65535."""
    d = np.arange(-2047, 2048, dtype=np.int64) + 2048
    i, w = d >> 5, d & 31
    p = (SQUASH_KNOTS[i] * (32 - w) + SQUASH_KNOTS[np.minimum(i + 1, 128)] * w + 16) >> 5
    return np.clip(p, 1, 65535)


def stretch_table() -> np.ndarray:
    """``stretch(p)`` for ``p = 0..65535``: the smallest ``d`` with ``squash(d) >= p``."""
    sq = squash_table()
    idx = np.searchsorted(sq, np.arange(65536, dtype=np.int64), side="left")
    return np.clip(idx, 0, 4094).astype(np.int64) - 2047


_SQ = squash_table()
_ST = stretch_table()
#: Adaptation rate of a context slot after n updates: 65536 / (n + 1.5).
_RATE = np.array([131072 // (2 * n + 3) for n in range(256)], dtype=np.int64)

_TB = PARAMS["table_bits"]
_NORD = PARAMS["orders"]
_LIMIT = PARAMS["count_limit"]
_MMIN = PARAMS["match_min"]
_MB = PARAMS["match_bits"]
_LR = PARAMS["mixer_lr"]
_AB = PARAMS["apm_bits"]
_AR = PARAMS["apm_rate"]
# The bounds of spec/NEURAL-CODEC.md section 5.13 need these (a retuning must keep them).
assert 1 <= _TB <= 24 and 1 <= _NORD and 1 <= _LIMIT <= 255 and 1 <= _MMIN
assert 1 <= _MB <= 24 and 1 <= _LR <= 1024 and 1 <= _AB <= 24 and 0 <= _AR <= 16
#: Mixer inputs: LM, orders 0..NORD-1, match, bias.
_NIN = _NORD + 3
#: Mixer weights are clamped to ``[-W_LIMIT, W_LIMIT - 1]`` (16.16 fixed point: +-8.0).
W_LIMIT = 1 << 19
#: Initial weights: the LM input, every context and the match input, the bias input.
W_LM, W_MODEL, W_BIAS = 65536, 4096, 0
#: Weight sets of the second mixer, selected by the previous token's low bits.
MIX2_SETS = 256
_MLB = 32  # match length buckets of the match model's strength table
#: Scalars per lane: 0 position (tokens so far), 1 match pointer, 2 match length.
_NSC = 4



def _mixer_sets(bits: int) -> int:
    """Weight sets: ``16 B`` of the first mixer, then ``MIX2_SETS B`` of the second."""
    return 4 * 4 * bits + MIX2_SETS * bits


def new_state(lanes: int, vocab_size: int, capacity: int) -> tuple[np.ndarray, ...]:
    """Fresh state for ``lanes`` lanes of at most ``capacity`` tokens each."""
    bits = max(1, (int(vocab_size) - 1).bit_length())
    ctab = np.zeros((lanes, _NORD, 1 << _TB), dtype=np.uint32)
    ctab[:] = np.uint32(32768 << 16)
    hist = np.zeros((lanes, max(1, capacity)), dtype=np.int32)
    mtab = np.zeros((lanes, 1 << _MB), dtype=np.int32)
    mm = np.full((lanes, _MLB * bits), 49152, dtype=np.int32)
    w = np.zeros((lanes, _mixer_sets(bits), _NIN), dtype=np.int32)
    w[:, :, 0] = W_LM
    w[:, :, 1:] = W_MODEL
    w[:, :, _NIN - 1] = W_BIAS
    apm = np.zeros((lanes, 1 << _AB, 33), dtype=np.int32)
    apm[:] = _SQ[np.clip(np.arange(33) * 128 - 2048, -2047, 2047) + 2047].astype(np.int32)
    sc = np.zeros((lanes, _NSC), dtype=np.int64)
    return (ctab, hist, mtab, mm, w, apm, sc)


def state_bytes(lanes: int, vocab_size: int, capacity: int) -> int:
    """Bytes :func:`new_state` allocates (for memory budgets)."""
    bits = max(1, (int(vocab_size) - 1).bit_length())
    per = (
        4 * _NORD * (1 << _TB)
        + 4 * max(1, capacity)
        + 4 * (1 << _MB)
        + 4 * _MLB * bits
        + 4 * _mixer_sets(bits) * _NIN
        + 4 * 33 * (1 << _AB)
        + 8 * _NSC
    )
    return lanes * per


# ----------------------------------------------------------------------------- integer helpers


@njit(cache=True, inline="always")
def _mix32(x: int) -> int:
    x = x & M32
    x = ((x ^ (x >> 16)) * 0x45D9F3B) & M32
    x = ((x ^ (x >> 16)) * 0x45D9F3B) & M32
    return x ^ (x >> 16)


@njit(cache=True)
def _log2q16(x: int) -> int:
    """``65536 * log2(x)`` for ``1 <= x < 2**31`` by 16 truncated squarings: integer-exact
    (the bitstream defines this procedure), within one unit below the true floor."""
    e = 0
    while (x >> (e + 1)) > 0:
        e += 1
    m = x << (30 - e)  # Q30 in [1, 2)
    frac = 0
    for i in range(16):
        m = (m * m) >> 30
        if m >= (1 << 31):
            m >>= 1
            frac |= 1 << (15 - i)
    return (e << 16) | frac


@njit(cache=True, inline="always")
def _squash(d: int, sq: np.ndarray) -> int:
    if d > 2047:
        d = 2047
    elif d < -2047:
        d = -2047
    return sq[d + 2047]
