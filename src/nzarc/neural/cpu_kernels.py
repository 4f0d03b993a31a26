"""Fused CPU kernels for the nzarc-int-v1 and v2 runtimes (numba): the element-wise work between
the GEMMs (quantisation, steps 1-3 after the qkv GEMM, residuals, the FFN middle, the output
stage). The attention kernels are in :mod:`nzarc.neural.cpu_attention`.

Contract: every kernel computes, row by row, exactly the integers that spec/NEURAL.md defines
for its step; the runtime's fused backend chains them between the exact int8 GEMMs, and the
tests compare the chain with the torch path and with the numpy reference (``reference.py``)
bit for bit. Rows are independent, so the kernels run rows in parallel (``prange``) and the
result does not depend on the thread count.

Arithmetic rules that keep them exact on every ISA (both kernel modules follow them):

* integers are int64; every sum and product below stays under 2**62 (bounds in the comments
  and in spec/NEURAL.md section 4);
* float64 is used for a product or a quotient of exact operands, followed by ``rint``
  (round half to even) or ``floor``: the spec proves each such value is computed exactly or
  never crosses a rounding boundary. Apart from that, floats only add up integer products
  whose every partial sum is an integer below 2**24 (float32) or 2**53 (float64) by a proved
  bound (the attention sums): such sums are exact in any order, with or without fused
  multiply-add. Kernels are compiled without fast-math (:data:`NJIT_OPTIONS`), except the
  attention's two sum loops, which allow reassociation and contraction only (so that they
  vectorise), as those sums are exact in any order;
* a requantised value is ``rint(acc * mult_r * xd)`` with ``mult_r = m_r * 2**-e_r`` and
  ``xd = xm * 2**xe`` (both exact dyadics): the spec's ``rne(acc·m_r·xm·2^(xe-e_r))``.

Shapes and dtypes are documented per kernel; inputs are trusted (the runtime validated the
model file and the tokens). Compilation is cached on disk by numba (``cache=True``).
"""

from __future__ import annotations

import math
from typing import Literal, TypedDict

import numpy as np
from numba import njit, prange


class NjitOptions(TypedDict):
    """Keyword options of ``numba.njit`` that every kernel is compiled with."""

    cache: bool
    nogil: bool
    error_model: Literal["python", "numpy"]
    fastmath: bool | set[str]


#: An integer scalar of a kernel: numba types a Python int and a numpy int64 alike (int64).
Int64 = int | np.int64

#: numba options of every kernel: cached compilation, no GIL, IEEE semantics (no fast-math).
NJIT_OPTIONS: NjitOptions = {"cache": True, "nogil": True, "error_model": "numpy", "fastmath": False}
_OPTS = NJIT_OPTIONS


@njit(inline="always", **_OPTS)
def _bitlen(c: Int64) -> Int64:
    n = 0
    while c >> n:
        n += 1
    return n


@njit(inline="always", **_OPTS)
def _isqrt(n: Int64) -> Int64:
    r = np.int64(math.sqrt(np.float64(n)))
    while r * r > n:
        r -= 1
    while (r + 1) * (r + 1) <= n:
        r += 1
    return r


@njit(inline="always", **_OPTS)
def _rne_shift(p: Int64, s: Int64) -> Int64:
    """rne(p / 2**s) for s >= 0 and |p| <= 2**61."""
    if s == 0:
        return p
    if s >= 62:
        return 0  # |p / 2**s| <= 1/2, and a tie rounds to the even 0
    # p = q·2**s + r (0 <= r < 2**s): adding 2**(s-1) - 1 + (q & 1) carries into q exactly
    # when r > 2**(s-1), or r = 2**(s-1) and q is odd
    return (p + (np.int64(1) << (s - 1)) - 1 + ((p >> s) & 1)) >> s


@njit(inline="always", **_OPTS)
def _clamp(x: float, c: float) -> float:
    if x > c:
        return c
    if x < -c:
        return -c
    return x


@njit(inline="always", **_OPTS)
def _token_scale(c: Int64, offset: Int64) -> tuple[Int64, Int64]:
    """N(c) = (xm, k); returns (xm, k - offset)."""
    k = _bitlen(c) - 12
    if k < 0:
        k = 0
    return c >> k, k - offset


@njit(**_OPTS)
def _quant_row(v: np.ndarray, m: Int64, q: np.ndarray) -> None:
    """q = rne(127 v / m) (int8) for int64 v with |v| <= m < 2**45; q = 0 when m = 0."""
    n = v.shape[0]
    if m == 0:
        for j in range(n):
            q[j] = 0
        return
    mf = np.float64(m)
    for j in range(n):
        q[j] = np.int8(np.rint(np.float64(v[j] * 127) / mf))


@njit(inline="always", **_OPTS)
def _quant_levels(
    v: np.ndarray, mx: Int64, r: Int64, levels: Int64, q: np.ndarray, xm: np.ndarray, xe: np.ndarray, row: Int64
) -> None:
    """Quantise one row v (int64, |v| <= mx < 2**45, < 2**42 for two levels; overwritten)
    into ``levels`` (1 or 2) int8 rows ``q[row]``, ``q[row + 1]`` with their token scales
    (spec section 3.1).

    r = 0: AQ, level 1 scaled by N(mx); r > 0: RQ with RMS denominator r (always >= 1, as
    the model's eps_int >= 1), level 1 scaled by
    N((mx·2^20) // r) minus 20. Level 2 quantises the residual 127·v - q1·mx (exact,
    |.| <= mx / 2) and is scaled by N((m2·2^20) // (127·r')) minus 20, r' = max(r, 1).
    """
    q1 = q[row]
    _quant_row(v, mx, q1)
    if r == 0:
        xm[row], xe[row] = _token_scale(mx, 0)
    else:
        xm[row], xe[row] = _token_scale((mx << 20) // r, 20)  # mx < 2**42 here
    if levels == 1:
        return
    n = v.shape[0]
    m2 = np.int64(0)
    for j in range(n):
        t = v[j] * 127 - np.int64(q1[j]) * mx  # exact: |127 v|, |q1 mx| < 2**52
        v[j] = t
        t = t if t >= 0 else -t
        if t > m2:
            m2 = t
    _quant_row(v, m2, q[row + 1])
    rr = r if r > 0 else 1
    xm[row + 1], xe[row + 1] = _token_scale((m2 << 20) // (127 * rr), 20)  # m2 < 2**41


@njit(parallel=True, **_OPTS)
def rms_quant(
    h: np.ndarray, gain: np.ndarray, d_eps: Int64, q: np.ndarray, xm: np.ndarray, xe: np.ndarray
) -> None:
    """RQ(h, G) per row: h int64 [M, d], gain int64 [d] -> q int8 [levels·M, d], xm/xe int64
    [levels·M]; row i's levels are rows levels·i + k (k < levels = q.shape[0] // M)."""
    M, d = h.shape
    levels = q.shape[0] // M
    for i in prange(M):
        v = np.empty(d, np.int64)
        ss = np.int64(0)
        mx = np.int64(0)
        for j in range(d):
            x = h[i, j]
            ss += x * x  # |h| < 2**26: ss < d * 2**52 < 2**62
            y = x * gain[j]  # < 2**42
            v[j] = y
            a = y if y >= 0 else -y
            if a > mx:
                mx = a
        _quant_levels(v, mx, _isqrt(ss + d_eps), levels, q, xm, xe, levels * i)


@njit(parallel=True, **_OPTS)
def act_quant(v: np.ndarray, q: np.ndarray, xm: np.ndarray, xe: np.ndarray) -> None:
    """AQ(v) per row: v int64 [M, n] (|v| < 2**45, < 2**42 with two levels) -> q int8
    [levels·M, n], xm/xe int64 [levels·M] (rows as in :func:`rms_quant`)."""
    M, n = v.shape
    levels = q.shape[0] // M
    for i in prange(M):
        t = np.empty(n, np.int64)
        mx = np.int64(0)
        for j in range(n):
            t[j] = v[i, j]
            a = v[i, j] if v[i, j] >= 0 else -v[i, j]
            if a > mx:
                mx = a
        _quant_levels(t, mx, 0, levels, q, xm, xe, levels * i)


@njit(inline="always", **_OPTS)
def _scales(xm: np.ndarray, xe: np.ndarray, row: Int64, levels: Int64, xd: np.ndarray) -> None:
    """xd[k] = xm·2^xe of rows row + k, k < levels (exact dyadics)."""
    for k in range(levels):
        xd[k] = math.ldexp(np.float64(xm[row + k]), xe[row + k])


@njit(inline="always", **_OPTS)
def _requant(acc: np.ndarray, row: Int64, levels: Int64, col: Int64, mult: np.ndarray, xd: np.ndarray) -> Int64:
    """Σ_k rne(acc[row + k, col] · m_col · xd_k): the Lin output of one level group.

    Each term is exact (spec section 4); |y| < 2**53 for a conforming model, and the clamp
    keeps the int64 sum safe for any input."""
    y = np.int64(0)
    for k in range(levels):
        y += np.int64(_clamp(np.rint(acc[row + k, col] * mult[col] * xd[k]), 2.0**60))
    return y


@njit(inline="always", **_OPTS)
def _shift_bits(mx: Int64, bits: Int64) -> Int64:
    """max(bitlen(mx) - bits, 0): the operand shift of step 3."""
    sh = _bitlen(mx) - bits
    return sh if sh > 0 else 0


@njit(inline="always", **_OPTS)
def _rope_head(
    acc: np.ndarray, row: Int64, levels: Int64, mult: np.ndarray, base: Int64, xd: np.ndarray,
    qmax: Int64, cos: np.ndarray, sin: np.ndarray, p: Int64, y: np.ndarray, r: np.ndarray,
    bits: Int64,
) -> Int64:
    """Steps 1-3 for one q or k head of one row: requantise + clamp into y, rotate into r
    (units 2^-(FA+14)); returns the operand shift s = max(bitlen(max|r|) - bits, 0)."""
    D = y.shape[0]
    for j in range(D):
        x = _requant(acc, row, levels, base + j, mult, xd)
        y[j] = qmax if x > qmax else (-qmax if x < -qmax else x)
    mx = np.int64(0)
    for t in range(D // 2):
        a = y[2 * t]
        b = y[2 * t + 1]
        c = cos[p, t]
        s = sin[p, t]
        r0 = a * c - b * s  # |a|, |b| < 2**20, |c|, |s| <= 2**14
        r1 = a * s + b * c
        r[2 * t] = r0
        r[2 * t + 1] = r1
        r0 = r0 if r0 >= 0 else -r0
        r1 = r1 if r1 >= 0 else -r1
        if r0 > mx:
            mx = r0
        if r1 > mx:
            mx = r1
    return _shift_bits(mx, bits)


@njit(parallel=True, **_OPTS)
def qkv_post(
    acc: np.ndarray,
    mult: np.ndarray,
    xm: np.ndarray,
    xe: np.ndarray,
    pos: np.ndarray,
    cos: np.ndarray,
    sin: np.ndarray,
    n_head: Int64,
    n_kv: Int64,
    qk_max: Int64,
    v_max: Int64,
    cache_bits: Int64,
    q10: np.ndarray,
    sq: np.ndarray,
    k10: np.ndarray,
    sk: np.ndarray,
    v: np.ndarray,
    sv: np.ndarray,
) -> None:
    """Steps 1-3 after the qkv GEMM, per row, as integers.

    acc [levels·M, (H+2KV)·D] (int32 or float holding integers; rows as in :func:`rms_quant`),
    mult f64 [N], xm/xe int64 [levels·M],
    pos int64 [M], cos/sin int64 [L, D/2] -> q10 int16 [M, H, D], sq int16 [M, H],
    k10 int16 [M, KV, D], sk int16 [M, KV], v int32 [M, KV, D], sv int8 [M, KV].

    ``cache_bits`` 0 is nzarc-int-v1: 10-bit keys, and v the clamped values (|v| <= V_MAX)
    with sv 0. ``cache_bits`` 7 is nzarc-int-v2 (spec/NEURAL.md section 7): keys and values
    are rounded to 8 bits per KV head, |k10|, |v| <= 127, and the value is v · 2**sv.
    """
    M = q10.shape[0]
    D = q10.shape[2]
    levels = acc.shape[0] // M
    kbits = cache_bits if cache_bits > 0 else 9
    lim = (1 << cache_bits) - 1
    for i in prange(M):
        row = levels * i
        xd = np.empty(levels, np.float64)
        _scales(xm, xe, row, levels, xd)
        y = np.empty(D, np.int64)
        r = np.empty(D, np.int64)
        for hh in range(n_head + n_kv):
            bits = 9 if hh < n_head else kbits
            sh = _rope_head(acc, row, levels, mult, hh * D, xd, qk_max, cos, sin, pos[i], y, r, bits)
            if hh < n_head:
                sq[i, hh] = sh
                for j in range(D):
                    q10[i, hh, j] = _rne_shift(r[j], sh)
            else:
                sk[i, hh - n_head] = sh
                for j in range(D):
                    x = _rne_shift(r[j], sh)
                    if cache_bits > 0:
                        x = lim if x > lim else (-lim if x < -lim else x)
                    k10[i, hh - n_head, j] = x
        for g in range(n_kv):
            base = (n_head + n_kv + g) * D
            mx: Int64 = 0
            for j in range(D):
                x = _requant(acc, row, levels, base + j, mult, xd)
                x = v_max if x > v_max else (-v_max if x < -v_max else x)
                y[j] = x
                ax = x if x >= 0 else -x
                if ax > mx:
                    mx = ax
            sh = _shift_bits(mx, cache_bits) if cache_bits > 0 else 0
            sv[i, g] = sh
            for j in range(D):
                x = y[j]
                if cache_bits > 0:
                    x = _rne_shift(x, sh)
                    x = lim if x > lim else (-lim if x < -lim else x)
                v[i, g, j] = np.int32(x)


@njit(parallel=True, **_OPTS)
def residual_add(
    h: np.ndarray, acc: np.ndarray, mult: np.ndarray, xm: np.ndarray, xe: np.ndarray, h_max: Int64
) -> None:
    """h = clamp(h + Lin, H_MAX) where Lin sums the requantised level rows acc[levels·i + k]
    (k < levels = acc.shape[0] / M; rows as in :func:`rms_quant`)."""
    M, d = h.shape
    levels = acc.shape[0] // M
    for i in prange(M):
        row = levels * i
        xd = np.empty(levels, np.float64)
        _scales(xm, xe, row, levels, xd)
        for j in range(d):
            x = h[i, j] + _requant(acc, row, levels, j, mult, xd)
            if x > h_max:
                x = h_max
            elif x < -h_max:
                x = -h_max
            h[i, j] = x


@njit(parallel=True, **_OPTS)
def ffn_mid(
    acc: np.ndarray,
    mult: np.ndarray,
    xm: np.ndarray,
    xe: np.ndarray,
    silu: np.ndarray,
    silu_half: Int64,
    gu_max: Int64,
    q: np.ndarray,
    xm2: np.ndarray,
    xe2: np.ndarray,
) -> None:
    """Steps 7 (after the GEMM) to 9 (before the down GEMM), per row.

    acc [levels·M, 2F] with xm/xe int64 [levels·M] (rows as in :func:`rms_quant`), mult
    f64 [2F], silu int64 [2·half] -> q int8 [2M, F] (row 2i: q1, row 2i+1: q2 of step 9),
    xm2/xe2 int64 [2M] (their token scales).
    """
    M = q.shape[0] // 2
    F = q.shape[1]
    levels = acc.shape[0] // M
    for i in prange(M):
        row = levels * i
        xd = np.empty(levels, np.float64)
        _scales(xm, xe, row, levels, xd)
        a = np.empty(F, np.int64)
        m1: Int64 = np.int64(0)
        for j in range(F):
            g = _requant(acc, row, levels, j, mult, xd)
            g = gu_max if g > gu_max else (-gu_max if g < -gu_max else g)
            u = _requant(acc, row, levels, F + j, mult, xd)
            u = gu_max if u > gu_max else (-gu_max if u < -gu_max else u)
            if g >= silu_half:
                sv = g
            else:
                gi = g if g >= -silu_half else -silu_half
                sv = silu[gi + silu_half]
            t = sv * u  # |s|, |u| <= 2**20
            a[j] = t
            t = t if t >= 0 else -t
            if t > m1:
                m1 = t
        _quant_levels(a, m1, 0, 2, q, xm2, xe2, 2 * i)


@njit(parallel=True, **_OPTS)
def freqs(
    acc: np.ndarray,
    mult: np.ndarray,
    xm: np.ndarray,
    xe: np.ndarray,
    table: np.ndarray,
    l_max: Int64,
    freq_bits: Int64,
    freq_shift: Int64,
    out: np.ndarray,
) -> None:
    """Section 3.3 after the lm GEMM: acc [levels·M, V] with xm/xe [levels·M] (rows as in
    :func:`rms_quant`), mult f64 [V], table int64 [JL] -> out int32 [M, V]."""
    M, V = out.shape
    levels = acc.shape[0] // M
    last = table.shape[0] - 1
    total = np.int64(1) << freq_bits
    for i in prange(M):
        row = levels * i
        xd = np.empty(levels, np.float64)
        _scales(xm, xe, row, levels, xd)
        z = np.empty(V, np.int64)
        zmax: Int64 = np.int64(-(1 << 40))
        arg = 0
        for v in range(V):
            t = _requant(acc, row, levels, v, mult, xd)
            t = l_max if t > l_max else (-l_max if t < -l_max else t)
            z[v] = t
            if t > zmax:
                zmax = t
                arg = v
        S = np.int64(0)
        for v in range(V):
            j = zmax - z[v]
            if j > last:
                j = last
            e = table[j]
            z[v] = e
            S += e  # < 2**24 · V < 2**40
        mm = ((total - V) << freq_shift) // S
        fsum = np.int64(0)
        row = out[i]
        for v in range(V):
            f = 1 + ((z[v] * mm) >> freq_shift)  # e·M <= 2**52
            row[v] = np.int32(f)
            fsum += f
        row[arg] += np.int32(total - fsum)
