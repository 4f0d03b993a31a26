"""The exact integer mixer of version 2 (numba): lane state, per-bit prediction and update,
and the binary range coder it drives.

Contract: every function here is integer arithmetic on int64 values bounded as noted, so the
same inputs give the same bytes on every machine. A *lane* is one row of the state tuple
made by :func:`new_state`; its models learn from every token coded or decoded in it, in
order. :func:`encode_window` codes one window of a lane into a fresh range-coder stream
(the spec/NEURAL-CODEC.md section 1 coder at ``freq_bits = 16``, one binary symbol per
coded decision); :func:`decode_step` decodes one token for each of several lanes from the
LM's inclusive cumulative table; both go through the same :func:`_code_token`, so the
decoder updates every model exactly as the encoder did. spec/NEURAL-CODEC.md section 5 defines the
models, constants and update order.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from nzarc.neural.mix.binrc import (
    _MASK,
    _TOP,
    _flush_value,
    _rc_encode,
    _rc_finish,
    _rd_bit,
)
from nzarc.neural.mix.tables import (
    _AB,
    _AR,
    _LIMIT,
    _LR,
    _MB,
    _MLB,
    _MMIN,
    _NIN,
    _NORD,
    _RATE,
    _SQ,
    _ST,
    _TB,
    M32,
    MIX2_SETS,
    PARAMS,
    W_LIMIT,
    _log2q16,
    _mix32,
    _squash,
    new_state,
    squash_table,
    state_bytes,
    stretch_table,
)

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
        dot1 = max(-2047, min(2047, dot >> 16))
        ws2 = (16 + (prev & (MIX2_SETS - 1))) * bits + b
        dot = 0
        for j in range(_NIN):
            dot += w[lane, ws2, j] * x[j]
        dot2 = max(-2047, min(2047, dot >> 16))
        dot = (dot1 + dot2) >> 1
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
        err = (bit << 16) - _squash(dot1, sq)
        for j in range(_NIN):
            w[lane, ws, j] = max(-W_LIMIT, min(W_LIMIT - 1, w[lane, ws, j] + ((x[j] * err * _LR) >> 20)))
        err = (bit << 16) - _squash(dot2, sq)
        for j in range(_NIN):
            w[lane, ws2, j] = max(-W_LIMIT, min(W_LIMIT - 1, w[lane, ws2, j] + ((x[j] * err * _LR) >> 20)))
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
