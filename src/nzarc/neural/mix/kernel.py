"""The exact integer mixer of version 2 (numba): lane state, per-bit prediction and update,
and the binary range coder it drives.

Contract: every function here is integer arithmetic on int64 values bounded as noted, so the
same inputs give the same bytes on every machine. A *lane* is one row of the state tuple
made by :func:`new_state`; its models learn from every token coded or decoded in it, in
order. :func:`encode_window` codes one window of a lane into a fresh range-coder stream
(the spec/NEURAL-CODEC.md section 1 coder at ``freq_bits = 16``, one binary symbol per
coded decision); :func:`decode_step` decodes one token for each of several lanes from the
LM's inclusive cumulative table; both go through the same :func:`_code_token`, so the
decoder updates every model exactly as the encoder did. spec/NEURAL-MIX.md defines the
models, constants and update order.
"""

from __future__ import annotations

import numpy as np
from numba import njit

__all__ = [
    "PARAMS",
    "new_state",
    "state_bytes",
    "encode_window",
    "decode_start",
    "decode_step",
    "decode_finish",
    "squash_table",
    "stretch_table",
]

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
    "mixer_lr": 12,  # mixer learning rate (see _update)
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
#: Mixer inputs: LM, orders 0..NORD-1, match, bias.
_NIN = _NORD + 3
_MLB = 32  # match length buckets of the match model's strength table
#: Scalars per lane: 0 position (tokens so far), 1 match pointer, 2 match length.
_NSC = 4

# Range coder (spec/NEURAL-CODEC.md section 1) at freq_bits = 16.
_TOP = 1 << 56
_BOT = 1 << 48
_MASK = _TOP - 1
_FB = 16


def _mixer_sets(bits: int) -> int:
    return 4 * 4 * bits


def new_state(lanes: int, vocab_size: int, capacity: int) -> tuple[np.ndarray, ...]:
    """Fresh state for ``lanes`` lanes of at most ``capacity`` tokens each."""
    bits = max(1, (int(vocab_size) - 1).bit_length())
    ctab = np.zeros((lanes, _NORD, 1 << _TB), dtype=np.uint32)
    ctab[:] = np.uint32(32768 << 16)
    hist = np.zeros((lanes, max(1, capacity)), dtype=np.int32)
    mtab = np.zeros((lanes, 1 << _MB), dtype=np.int32)
    mm = np.full((lanes, _MLB * bits), 49152, dtype=np.int32)
    w = np.zeros((lanes, _mixer_sets(bits), _NIN), dtype=np.int32)
    w[:, :, 0] = 65536
    w[:, :, 1:] = 16384
    w[:, :, _NIN - 1] = 0
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
    """``floor(65536 * log2(x))`` for ``1 <= x < 2**31``, by repeated squaring (exact)."""
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


# ----------------------------------------------------------------------------- the models


@njit(cache=True)
def _code_token(
    st: tuple,
    lane: int,
    bits: int,
    vocab: int,
    counts: np.ndarray,
    cdf: np.ndarray,
    top: int,
    token: int,
    rc: np.ndarray,
    out: np.ndarray,
    rd: np.ndarray,
    data: np.ndarray,
    sq: np.ndarray,
    stt: np.ndarray,
    rate: np.ndarray,
    tmp: np.ndarray,
) -> int:
    """Code (``token >= 0``: encode into ``rc``/``out``, node counts from ``counts[bits, 2]``)
    or decode (``token < 0``: from ``rd``/``data``, node counts from the inclusive ``cdf``)
    one token of ``lane``; update every model; return the token."""
    ctab, hist, mtab, mm, w, apm, sc = st
    pos = sc[lane, 0]
    # ---- per-token contexts
    hs = tmp[0:_NORD]
    h = 0x2545F491
    hs[0] = h
    for k in range(1, _NORD):
        t = hist[lane, pos - k] if pos >= k else vocab
        h = _mix32(h * 0x01000193 + t + 1 + k)
        hs[k] = h
    prev = hist[lane, pos - 1] if pos >= 1 else vocab
    mlen = sc[lane, 2]
    mtok = hist[lane, sc[lane, 1]] if mlen > 0 else -1
    if top >= (1 << 24) - (1 << 21):
        conf = 3
    elif top >= (1 << 23):
        conf = 2
    elif top >= (1 << 21):
        conf = 1
    else:
        conf = 0
    if mlen == 0:
        mb = 0
    elif mlen < 16:
        mb = 1
    elif mlen < 32:
        mb = 2
    else:
        mb = 3
    mlb = mlen if mlen < 16 else min(_MLB - 1, 16 + ((mlen - 16) >> 3))
    slots = tmp[_NORD : 2 * _NORD]
    x = tmp[2 * _NORD : 2 * _NORD + _NIN]
    node = 1
    lo = 0
    on_match = mlen > 0
    amask = (1 << _AB) - 1
    ahash = _mix32(prev * 0x9E3779B1 + 77)
    for b in range(bits):
        shift = bits - 1 - b
        mid = lo + (1 << shift)
        if mid >= vocab:
            node = node * 2
            continue  # the 1-side holds no id: bit 0, nothing coded or learnt
        hi = min(lo + (2 << shift), vocab)
        if token >= 0:
            n0 = counts[b, 0]
            n1 = counts[b, 1]
        else:
            c_lo = cdf[lo - 1] if lo > 0 else 0
            c_mid = cdf[mid - 1]
            n0 = c_mid - c_lo
            n1 = cdf[hi - 1] - c_mid
        # ---- inputs
        d = ((_log2q16(n1) - _log2q16(n0)) * 5678) >> 22
        x[0] = max(-2047, min(2047, d))
        for k in range(_NORD):
            v = _mix32((hs[k] + node * 0x9E3779B1 + k * 0x632BE5AB) & M32)
            i = v >> (32 - _TB)
            chk = v & 255
            e = np.int64(ctab[lane, k, i])
            if (e & 255) != chk:
                e = np.int64((32768 << 16) | chk)
                ctab[lane, k, i] = np.uint32(e)
            slots[k] = i
            x[1 + k] = stt[e >> 16] if ((e >> 8) & 255) > 0 else 0
        if on_match:
            ebit = (mtok >> shift) & 1
            mctx = mlb * bits + b
            s = stt[mm[lane, mctx]]
            x[_NORD + 1] = s if ebit == 1 else -s
        else:
            ebit = -1
            mctx = 0
            x[_NORD + 1] = 0
        x[_NORD + 2] = 256
        # ---- mixer
        ws = (mb * 4 + conf) * bits + b
        dot = 0
        for j in range(_NIN):
            dot += w[lane, ws, j] * x[j]
        dot = dot >> 16
        dot = max(-2047, min(2047, dot))
        pm = _squash(dot, sq)
        # ---- APM on (previous token, node)
        actx = _mix32(ahash + node) & amask
        apos = dot + 2048
        aj = apos >> 7
        aw = apos & 127
        pa = (apm[lane, actx, aj] * (128 - aw) + apm[lane, actx, aj + 1] * aw) >> 7
        p = (pm + 3 * pa) >> 2
        p = max(1, min(65535, p))
        # ---- code the decision
        if token >= 0:
            bit = (token >> shift) & 1
            if bit == 1:
                _rc_encode(rc, out, 65536 - p, p)
            else:
                _rc_encode(rc, out, 0, 65536 - p)
        else:
            bit = _rd_bit(rd, data, p)
        # ---- update, in a fixed order: mixer, APM, context slots, match strength
        err = (bit << 16) - pm
        for j in range(_NIN):
            w[lane, ws, j] += (x[j] * err * _LR) >> 20
        target = 65535 * bit
        ak = aj + (aw >> 6)
        apm[lane, actx, ak] += (target - apm[lane, actx, ak]) >> _AR
        for k in range(_NORD):
            i = slots[k]
            e = np.int64(ctab[lane, k, i])
            pp = e >> 16
            n = (e >> 8) & 255
            pp += ((target - pp) * rate[n]) >> 16
            if n < _LIMIT:
                n += 1
            ctab[lane, k, i] = np.uint32((pp << 16) | (n << 8) | (e & 255))
        if ebit >= 0:
            mm[lane, mctx] += (65535 * (1 if bit == ebit else 0) - mm[lane, mctx]) >> 6
            if bit != ebit:
                on_match = False
        node = node * 2 + bit
        if bit == 1:
            lo = mid
    tok = node - (1 << bits)
    # ---- token end: history, match state, match table
    hist[lane, pos] = tok
    if mlen > 0:
        if mtok == tok:
            sc[lane, 1] += 1
            sc[lane, 2] = min(mlen + 1, 65535)
        else:
            sc[lane, 2] = 0
    pos += 1
    sc[lane, 0] = pos
    if pos >= _MMIN:
        mh = 0
        for k in range(1, _MMIN + 1):
            mh = _mix32(mh * 0x01000193 + hist[lane, pos - k] + 1)
        mi = mh >> (32 - _MB)
        if sc[lane, 2] == 0:
            cand = mtab[lane, mi]
            if cand > 0:
                n = np.int64(0)
                while (
                    n < 64
                    and cand - 1 - n >= 0
                    and hist[lane, cand - 1 - n] == hist[lane, pos - 1 - n]
                ):
                    n += 1
                if n > 0:
                    sc[lane, 1] = cand
                    sc[lane, 2] = n
        mtab[lane, mi] = pos
    return tok


@njit(cache=True)
def _encode_window(
    st: tuple,
    lane: int,
    bits: int,
    vocab: int,
    tokens: np.ndarray,
    counts: np.ndarray,
    top: np.ndarray,
    out: np.ndarray,
    sq: np.ndarray,
    stt: np.ndarray,
    rate: np.ndarray,
) -> int:
    rc = np.zeros(6, dtype=np.int64)
    rc[1] = _TOP
    rc[2] = -1
    rd = np.zeros(7, dtype=np.int64)
    data = np.zeros(1, dtype=np.uint8)
    cdf = np.zeros(1, dtype=np.int32)
    tmp = np.zeros(2 * _NORD + _NIN, dtype=np.int64)
    for t in range(tokens.shape[0]):
        _code_token(
            st,
            lane,
            bits,
            vocab,
            counts[t],
            cdf,
            top[t],
            tokens[t],
            rc,
            out,
            rd,
            data,
            sq,
            stt,
            rate,
            tmp,
        )
    if tokens.shape[0] == 0:
        return 0
    return _rc_finish(rc, out)


def encode_window(
    state: tuple[np.ndarray, ...],
    lane: int,
    vocab_size: int,
    tokens: np.ndarray,
    counts: np.ndarray,
    top: np.ndarray,
) -> bytes:
    """Code ``tokens`` (int, ``[n]``) of ``lane`` with their node counts (``[n, B, 2]``,
    :func:`~nzarc.neural.mix.lmnodes.path_counts`) and table tops (``[n]``): one stream."""
    bits = max(1, (int(vocab_size) - 1).bit_length())
    n = int(tokens.shape[0])
    out = np.zeros(2 * bits * n + 16, dtype=np.uint8)
    length = _encode_window(
        state,
        lane,
        bits,
        int(vocab_size),
        np.ascontiguousarray(tokens, dtype=np.int64),
        np.ascontiguousarray(counts, dtype=np.int64),
        np.ascontiguousarray(top, dtype=np.int64),
        out,
        _SQ,
        _ST,
        _RATE,
    )
    return out[:length].tobytes()


def decode_start(streams: list[bytes]) -> tuple[np.ndarray, np.ndarray]:
    """Decoder state for one stream per row: ``(rd [rows, 7], flat stream bytes)``."""
    rows = len(streams)
    rd = np.zeros((rows, 7), dtype=np.int64)
    data = np.frombuffer(b"".join(streams) + b"\x00", dtype=np.uint8).copy()
    start = 0
    for r, s in enumerate(streams):
        rd[r, 5], rd[r, 6] = start, len(s)
        start += len(s)
        code = 0
        for i in range(7):
            code = (code << 8) | (s[i] if i < len(s) else 0)
        rd[r, 0], rd[r, 2], rd[r, 3] = code, _TOP, 7
    return rd, data


@njit(cache=True)
def _decode_step(
    st: tuple,
    lanes: np.ndarray,
    rows: np.ndarray,
    bits: int,
    vocab: int,
    cdfs: np.ndarray,
    tops: np.ndarray,
    rd: np.ndarray,
    data: np.ndarray,
    sq: np.ndarray,
    stt: np.ndarray,
    rate: np.ndarray,
    out: np.ndarray,
) -> None:
    rc = np.zeros(6, dtype=np.int64)
    ob = np.zeros(1, dtype=np.uint8)
    counts = np.zeros((1, 2), dtype=np.int64)
    tmp = np.zeros(2 * _NORD + _NIN, dtype=np.int64)
    for i in range(lanes.shape[0]):
        out[i] = _code_token(
            st,
            lanes[i],
            bits,
            vocab,
            counts,
            cdfs[i],
            tops[i],
            -1,
            rc,
            ob,
            rd[rows[i]],
            data,
            sq,
            stt,
            rate,
            tmp,
        )


def decode_step(
    state: tuple[np.ndarray, ...],
    lanes: np.ndarray,
    rows: np.ndarray,
    vocab_size: int,
    cdfs: np.ndarray,
    tops: np.ndarray,
    rd: np.ndarray,
    data: np.ndarray,
) -> np.ndarray:
    """Decode one token for each ``lanes[i]`` from stream row ``rows[i]`` of ``rd``, with the
    LM's inclusive cumulative table ``cdfs[i]`` (int32 ``[V]``) and top entry ``tops[i]``."""
    bits = max(1, (int(vocab_size) - 1).bit_length())
    out = np.zeros(len(lanes), dtype=np.int64)
    _decode_step(
        state,
        np.ascontiguousarray(lanes, dtype=np.int64),
        np.ascontiguousarray(rows, dtype=np.int64),
        bits,
        int(vocab_size),
        np.ascontiguousarray(cdfs, dtype=np.int32),
        np.ascontiguousarray(tops, dtype=np.int64),
        rd,
        data,
        _SQ,
        _ST,
        _RATE,
        out,
    )
    return out


def decode_finish(rd: np.ndarray) -> np.ndarray:
    """Boolean per row: the stream decoded without error and ended canonically."""
    ok = np.zeros(rd.shape[0], dtype=bool)
    for r in range(rd.shape[0]):
        code, low, rng, pos, bad, _, length = (int(v) for v in rd[r])
        if bad:
            continue
        v = _flush_value(low, rng)
        ok[r] = (code + low) & _MASK == v & _MASK and length == pos - 7 + (1 if v & _MASK else 0)
    return ok
