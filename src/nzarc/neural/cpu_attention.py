"""Fused CPU attention kernels for the nzarc-int-v1 runtime (numba): steps 4-5 of
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
from nzarc.neural.cpu_kernels import Int64

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


@njit(inline="always", **_OPTS)
def _mix_row(mix: np.ndarray, w: np.ndarray, v: np.ndarray) -> None:
    """mix[h] += w[h] · v for every head h (float64; exact, see :func:`attn_step`)."""
    G, D = mix.shape
    if G == 3:  # SmolLM2's grouping: one pass over v, three accumulator rows
        m0, m1, m2 = mix[0], mix[1], mix[2]
        w0, w1, w2 = np.float64(w[0]), np.float64(w[1]), np.float64(w[2])
        for i in range(D):
            x = np.float64(v[i])
            m0[i] += w0 * x
            m1[i] += w1 * x
            m2[i] += w2 * x
        return
    for h in range(G):
        wf = np.float64(w[h])
        mh = mix[h]
        for i in range(D):
            mh[i] += wf * np.float64(v[i])


#: Keys scored per block in :func:`attn_step` (the block's float32 sums stay in L1).
_KEY_BLOCK = 512


@njit(parallel=True, **_OPTS)
def attn_step(
    q10: np.ndarray,
    sq: np.ndarray,
    kct: np.ndarray,
    skc: np.ndarray,
    vc: np.ndarray,
    rows: np.ndarray,
    nvalid: np.ndarray,
    sigma: Int64,
    table: np.ndarray,
    o: np.ndarray,
) -> None:
    """Steps 4-5 for one new position per window, reading the integer caches in place.

    q10 int16 [b, H, D], sq int16 [b, H]; kct int16 [Bc, KV, D, L] (k10, transposed: the key
    positions of one dimension are contiguous), skc int16 [Bc, KV, L]; vc int32 [Bc, KV, L, D];
    rows int64 [b]: cache row of each entry; nvalid int64 [b]: keys u < nvalid are visible;
    sigma: σ of step 4; table int32 [JA] -> o int64 [b, H·D].

    One task per (entry, KV head) serves the H/KV query heads that share the KV head, so each
    cached key and value is read once per step. Score sums are float32 multiply-adds
    vectorised over key positions: exact, as every partial sum of 10-bit by 10-bit products
    over D <= 64 terms stays within 2**24. Mixing sums are float64 multiply-adds: exact, as
    every partial sum stays below 2**13 · 2**15 · 2**22 = 2**50 (positions · weight · value).
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
        vv = vc[cb, g]
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
            s[:, :m] = 0.0
            for i in range(D):
                krow = kt[i, u0 : u0 + m]
                for h in range(G):
                    qv = qf[h, i]
                    sh = s[h]
                    for u in range(m):
                        sh[u] += qv * np.float32(krow[u])
            for h in range(G):
                bh = base[h]
                for u in range(m):
                    dot = np.int64(s[h, u])
                    e = bh + ks[u0 + u]
                    zu = (dot << e) if e >= 0 else (dot >> -e)  # floor(dot · 2**e)
                    z[h, u0 + u] = zu
                    if zu > zmax[h]:
                        zmax[h] = zu
        mix = np.zeros((G, D), np.float64)
        total = np.zeros(G, np.int64)
        w = np.empty(G, np.int64)
        for u in range(n):
            nonzero = False
            for h in range(G):
                j = zmax[h] - z[h, u]
                wh = np.int64(table[j]) if j < last else np.int64(0)  # exp_attn[last] is 0
                w[h] = wh
                total[h] += wh
                if wh != 0:
                    nonzero = True
            if nonzero:
                _mix_row(mix, w, vv[u])
        for h in range(G):
            c = (g * G + h) * D
            for i in range(D):
                o[bi, c + i] = np.int64(mix[h, i]) // total[h]
