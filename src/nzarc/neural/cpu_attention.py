"""Fused CPU attention kernels for the nzarc-int-v1 and v2 runtimes (numba): steps 4-5 of
spec/NEURAL.md (scores, weights, the weighted mix of values).

Contract: as :mod:`nzarc.neural.cpu_kernels` (whose arithmetic rules these kernels follow):
every kernel gives exactly the spec's integers, rows run in parallel and the result does not
depend on the thread count. :func:`attn_mix` serves prefill (score sums from a float32 GEMM);
:func:`attn_step` serves one incremental step, reading a session's integer caches in place.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit, prange

from nzarc.neural.cpu_kernels import NJIT_OPTIONS as _OPTS
from nzarc.neural.cpu_kernels import Int64, NjitOptions

__all__ = ["attn_mix", "attn_step"]


@njit(parallel=True, **_OPTS)
def attn_mix(
    s: np.ndarray,
    nvalid: np.ndarray,
    table: np.ndarray,
    v: np.ndarray,
    vrow: np.ndarray,
    n_kv: Int64,
    rows_per_head: Int64,
    o: np.ndarray,
) -> None:
    """Step 5 for query rows whose score sums come from a float32 GEMM (prefill).

    s f32 [N, Tk]: score sums of row r = (b, g, i) flattened (b < N / (KV·R), g < KV,
    i < R = rows_per_head), floored to attention logits; nvalid int64 [N]:
    keys u < nvalid[r] are visible; table int32 [JA] (exp_attn); v int32 [Bv, KV, Tk', D];
    vrow int64 [B] maps b to its row of v -> o int64 [N, D] = floor(Σ_u w_u·v_u / Σ_u w_u).
    Keys whose weight is 0 are skipped (exp_attn is 0 from its first zero on).
    """
    N, Tk = s.shape
    last = table.shape[0] - 1
    for r in prange(N):
        b = r // (n_kv * rows_per_head)
        g = (r // rows_per_head) % n_kv
        vb = vrow[b]
        n = nvalid[r]
        z = np.empty(n, np.int64)
        zmax = np.int64(-(1 << 62))
        for u in range(n):
            zu = np.int64(math.floor(np.float64(s[r, u])))  # |s| < 2**53: exact
            z[u] = zu
            if zu > zmax:
                zmax = zu
        _mix(z, zmax, n, table, last, v[vb, g], o[r])


@njit(inline="always", **_OPTS)
def _mix(z: np.ndarray, zmax: Int64, n: Int64, table: np.ndarray, last: Int64, v: np.ndarray, o: np.ndarray) -> None:
    """o = floor(Σ_u w_u·v_u / Σ_u w_u) with w_u = table[min(zmax - z_u, last)], u < n."""
    D = o.shape[0]
    mix = np.zeros(D, np.int64)
    total = np.int64(0)
    for u in range(n):
        j = zmax - z[u]
        if j >= last:
            continue
        w = np.int64(table[j])
        if w == 0:
            continue
        total += w
        vu = v[u]
        for i in range(D):
            mix[i] += w * np.int64(vu[i])  # Σ < 2**13 · 2**15 · 2**22 = 2**50
    for i in range(D):
        o[i] = mix[i] // total


#: Options of the sum loops :func:`_mix_dots` and :func:`_score_sums`: :data:`NJIT_OPTIONS`
#: plus reassociation and contraction only, which let the sums vectorise. They cannot change
#: a result: every term is an exact integer product and every partial sum, in any order,
#: stays within the exact range of its type (their docstrings).
_SUM_OPTS: NjitOptions = {**_OPTS, "fastmath": {"reassoc", "contract"}}


@njit(**_SUM_OPTS)
def _mix_dots(wf: np.ndarray, vt: np.ndarray, n: Int64, mix: np.ndarray) -> None:
    """mix[h, i] = Σ_{u<n} wf[h, u] · vt[i, u] for every head h and dimension i.

    wf float64 [G, >=n] (integer weights, each of the form w · 2**s), vt int32 or int8
    [D, >=n], mix float64 [G, D], such that every product |wf · vt| is below 2**37: v1's
    weights (w <= 2**15, s = 0) times values below 2**22, or v2's (s <= 15) times 8-bit
    values. Each term is below 2**37 and there are at most
    2**13 of them, so every partial sum, in whatever order it is taken, is an integer below
    2**50 and exact in float64. With three heads, each pass sums two dimensions of all three,
    so that a weight is loaded once for six sums.
    """
    G, D = mix.shape
    if G == 3:  # SmolLM2's grouping: each pass reads the three heads' weights once
        w0, w1, w2 = wf[0], wf[1], wf[2]
        for i in range(0, D - 1, 2):
            va = vt[i]
            vb = vt[i + 1]
            a0 = a1 = a2 = b0 = b1 = b2 = 0.0
            for u in range(n):
                x = np.float64(va[u])
                y = np.float64(vb[u])
                p, q, r = w0[u], w1[u], w2[u]
                a0 += p * x
                a1 += q * x
                a2 += r * x
                b0 += p * y
                b1 += q * y
                b2 += r * y
            mix[0, i], mix[1, i], mix[2, i] = a0, a1, a2
            mix[0, i + 1], mix[1, i + 1], mix[2, i + 1] = b0, b1, b2
        first = D - D % 2  # an odd D leaves its last dimension to the loop below
    else:
        first = 0
    for h in range(G):
        wh = wf[h]
        for i in range(first, D):
            va = vt[i]
            a = 0.0
            for u in range(n):
                a += wh[u] * np.float64(va[u])
            mix[h, i] = a


@njit(**_SUM_OPTS)
def _score_sums(qf: np.ndarray, kt: np.ndarray, u0: Int64, m: Int64, s: np.ndarray) -> None:
    """s[h, u] = Σ_i qf[h, i] · kt[i, u0 + u] for u < m (float32).

    qf float32 [G, D] (10-bit integers), kt int16 or int8 [D, >= u0 + m] (10- or 8-bit integers), s float32
    [G, >= m]. Every term is at most 2**18 in magnitude and D <= 64, so every partial sum, in
    whatever order it is taken, is an integer of at most 2**24 and exact in float32. With
    three heads and D a multiple of 4, each pass adds four dimensions to all three heads.
    """
    G, D = qf.shape
    s[:, :m] = 0.0
    if G == 3 and D % 4 == 0:
        s0, s1, s2 = s[0], s[1], s[2]
        for i in range(0, D, 4):
            k0, k1, k2, k3 = kt[i, u0:], kt[i + 1, u0:], kt[i + 2, u0:], kt[i + 3, u0:]
            a0, a1, a2, a3 = qf[0, i], qf[0, i + 1], qf[0, i + 2], qf[0, i + 3]
            b0, b1, b2, b3 = qf[1, i], qf[1, i + 1], qf[1, i + 2], qf[1, i + 3]
            c0, c1, c2, c3 = qf[2, i], qf[2, i + 1], qf[2, i + 2], qf[2, i + 3]
            for u in range(m):
                x0 = np.float32(k0[u])
                x1 = np.float32(k1[u])
                x2 = np.float32(k2[u])
                x3 = np.float32(k3[u])
                s0[u] += a0 * x0 + a1 * x1 + a2 * x2 + a3 * x3
                s1[u] += b0 * x0 + b1 * x1 + b2 * x2 + b3 * x3
                s2[u] += c0 * x0 + c1 * x1 + c2 * x2 + c3 * x3
        return
    for i in range(D):
        krow = kt[i, u0:]
        for h in range(G):
            qv = qf[h, i]
            sh = s[h]
            for u in range(m):
                sh[u] += qv * np.float32(krow[u])


#: Keys scored per block in :func:`attn_step` (the block's float32 sums stay in L1).
_KEY_BLOCK = 512


@njit(parallel=True, **_OPTS)
def attn_step(
    q10: np.ndarray,
    sq: np.ndarray,
    kct: np.ndarray,
    skc: np.ndarray,
    vct: np.ndarray,
    svc: np.ndarray,
    rows: np.ndarray,
    nvalid: np.ndarray,
    sigma: Int64,
    table: np.ndarray,
    o: np.ndarray,
) -> None:
    """Steps 4-5 for one new position per window, reading the integer caches in place.

    q10 int16 [b, H, D], sq int16 [b, H]; kct int16 or int8 [Bc, KV, D, L] (k10, or v2's
    8-bit keys; transposed: the key positions of one dimension are contiguous), skc int16
    [Bc, KV, L]; vct int32 or int8 [Bc, KV, D, L] (values, transposed the same way) and svc
    int8 [Bc, KV, L], the value at a position being vct · 2**svc (svc 0 in nzarc-int-v1);
    rows int64 [b]: cache row of each entry; nvalid int64 [b]: keys u < nvalid are visible;
    sigma: σ of step 4; table int32 [JA] -> o int64 [b, H·D].

    One task per (entry, KV head) serves the H/KV query heads that share the KV head, so each
    cached key and value is read once per step. Score sums are float32 multiply-adds
    vectorised over key positions: exact, as every partial sum of 10-bit by 10-bit products
    over D <= 64 terms stays within 2**24. The weights of all keys are then tabled, and the
    mixing sums are float64 dot products over key positions (:func:`_mix_dots`): exact, as
    every partial sum stays below 2**13 · 2**15 · 2**22 = 2**50 (positions · weight · value;
    a value's shift is folded into its weight, w · 2**svc <= 2**30, and |vct| · 2**svc < 2**22
    still holds).
    """
    b, H, D = q10.shape
    KV = kct.shape[1]
    G = H // KV
    last = table.shape[0] - 1
    for r in prange(b * KV):
        bi = r // KV
        g = r % KV
        cb = rows[bi]
        n = nvalid[bi]
        kt = kct[cb, g]
        ks = skc[cb, g]
        vv = vct[cb, g]
        vs = svc[cb, g]
        qf = np.empty((G, D), np.float32)
        base = np.empty(G, np.int64)
        for h in range(G):
            base[h] = np.int64(sq[bi, g * G + h]) - sigma
            for i in range(D):
                qf[h, i] = np.float32(q10[bi, g * G + h, i])
        z = np.empty((G, n), np.int64)
        zmax = np.full(G, np.int64(-(1 << 62)))
        s = np.empty((G, _KEY_BLOCK), np.float32)
        for u0 in range(0, n, _KEY_BLOCK):
            m = min(_KEY_BLOCK, n - u0)
            _score_sums(qf, kt, u0, m, s)
            for h in range(G):
                bh = base[h]
                zh = z[h]
                zm = zmax[h]
                for u in range(m):
                    e = bh + ks[u0 + u]
                    zu = (np.int64(s[h, u]) << max(e, 0)) >> max(-e, 0)  # floor(dot · 2**e)
                    zh[u0 + u] = zu
                    zm = max(zm, zu)
                zmax[h] = zm
        wf = np.empty((G, n), np.float64)
        total = np.zeros(G, np.int64)
        for h in range(G):
            zh = z[h]
            zm = zmax[h]
            th = np.int64(0)
            for u in range(n):
                wh = np.int64(table[min(zm - zh[u], last)])  # exp_attn[last] is 0
                wf[h, u] = np.float64(wh << vs[u])
                th += wh
            total[h] = th
        mix = np.empty((G, D), np.float64)
        _mix_dots(wf, vv, n, mix)
        for h in range(G):
            c = (g * G + h) * D
            for i in range(D):
                o[bi, c + i] = np.int64(mix[h, i]) // total[h]
