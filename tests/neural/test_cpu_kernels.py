"""The fused CPU kernels compute spec/NEURAL.md's integers: equal to the torch path and the
numpy reference, whole-model and kernel by kernel, on edge values and at any thread count."""

from __future__ import annotations

import numba
import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from nzarc.neural import cpu_attention as A
from nzarc.neural import cpu_kernels as K
from nzarc.neural.intops import FixedPoint, exp_table
from nzarc.neural.reference import ReferenceModel
from nzarc.neural.runtime import IntModel, RuntimeOptions
from nzarc.neural.runtime.session import IntKV

_F = FixedPoint


def _on(m, fused: bool, threads: int | None = None):  # noqa: ANN001, ANN202
    """``m`` (same file, precision and runtime) on the fused or the torch path."""
    kernels = "fused" if fused else "torch"
    other = IntModel(m.path, options=RuntimeOptions(kernels=kernels, threads=threads))
    assert other.kernels == kernels
    return other.with_runtime(m.runtime_id).with_act_levels(m.act_levels)


def _prefill(m, tokens: torch.Tensor, fused: bool, threads: int | None = None) -> torch.Tensor:
    return _on(m, fused, threads).prefill_all(tokens)


@pytest.mark.parametrize("runtime", ["nzarc-int-v1", "nzarc-int-v2"])
@pytest.mark.parametrize("levels", [1, 2])
def test_paths_equal_reference(tiny, levels: int, runtime: str) -> None:
    tiny = tiny.with_runtime(runtime).with_act_levels(levels)
    g = torch.Generator().manual_seed(7)
    toks = torch.randint(0, tiny.vocab_size, (3, 150), generator=g)
    toks[:, 0] = tiny.bos_id
    fused = _prefill(tiny, toks, True)
    slow = _prefill(tiny, toks, False)
    assert torch.equal(fused, slow)
    ref = ReferenceModel(str(tiny.path), act_levels=levels, runtime=runtime).freqs(toks[1].tolist())
    assert np.array_equal(fused[1].numpy().astype(np.int64), ref)


@pytest.mark.parametrize("runtime", ["nzarc-int-v1", "nzarc-int-v2"])
@pytest.mark.parametrize("levels", [1, 2])
def test_fused_incremental_equals_prefill(tiny, levels: int, runtime: str) -> None:
    tiny = tiny.with_runtime(runtime).with_act_levels(levels)
    g = torch.Generator().manual_seed(3)
    toks = torch.randint(0, tiny.vocab_size, (4, 90), generator=g)
    want = _prefill(tiny, toks, False)
    fused = _on(tiny, True)
    s = fused.session(4, 90)
    assert isinstance(s.cache, IntKV)  # the integer caches
    assert s.cache.k.dtype == (np.int8 if runtime == "nzarc-int-v2" else np.int16)
    cache_bytes = s.cache.k.nbytes + s.cache.ks.nbytes + s.cache.v.nbytes + s.cache.vs.nbytes
    assert cache_bytes == s.cache.nbytes == 4 * 90 * fused.kv_bytes_per_token
    done = [0, 0, 0, 0]
    step = 0
    while min(done) < 90:
        # rows advance at different rates, so windows sit at different positions
        rows = [r for r in range(4) if done[r] < 90 and (step + r) % (r + 1) == 0]
        if not rows:
            step += 1
            continue
        f = s.step(toks[rows, [done[r] for r in rows]], torch.tensor(rows))
        for i, r in enumerate(rows):
            assert torch.equal(f[i], want[r, done[r]]), (r, done[r])
            done[r] += 1
        step += 1


@pytest.mark.parametrize(("threads", "levels"), [(1, 1), (2, 1), (1, 2), (2, 2)])
@pytest.mark.parametrize("runtime", ["nzarc-int-v1", "nzarc-int-v2"])
def test_thread_count_does_not_change_tables(tiny, threads: int, levels: int, runtime: str) -> None:
    tiny = tiny.with_runtime(runtime).with_act_levels(levels)
    g = torch.Generator().manual_seed(11)
    toks = torch.randint(0, tiny.vocab_size, (2, 64), generator=g)
    base = _prefill(tiny, toks, False)
    old = torch.get_num_threads()
    try:
        torch.set_num_threads(threads)
        got = _prefill(tiny, toks, True)
        assert numba.get_num_threads() == min(threads, numba.config.NUMBA_NUM_THREADS)
    finally:
        torch.set_num_threads(old)
    assert torch.equal(got, base)
    # an explicit thread count in the options, whatever torch uses
    top = 3 - threads
    got = _prefill(tiny, toks, True, threads=top)
    assert numba.get_num_threads() == min(top, numba.config.NUMBA_NUM_THREADS)
    assert torch.equal(got, base)


# ------------------------------------------------------------------ kernel by kernel

ints62 = st.integers(-(1 << 61), 1 << 61)


def _rne(num: int, den: int) -> int:
    """Round-half-even of num / den (den > 0), in Python integers."""
    q, r = divmod(num, den)
    return q + 1 if 2 * r > den or (2 * r == den and q % 2 == 1) else q


@settings(deadline=None)  # the first example pays for the kernel's compilation
@given(ints62, st.integers(0, 70))
def test_rne_shift(p: int, s: int) -> None:
    assert K._rne_shift(p, s) == _rne(p, 1 << s)


@settings(deadline=None)
@given(st.integers(0, (1 << 62) - 1))
def test_isqrt_and_bitlen(n: int) -> None:
    r = K._isqrt(n)
    assert r * r <= n < (r + 1) * (r + 1)
    assert K._bitlen(n) == n.bit_length()


@settings(max_examples=60, deadline=None)
@given(st.data())
def test_act_quant_matches_spec(data: st.DataObject) -> None:
    n = data.draw(st.integers(1, 40))
    levels = data.draw(st.sampled_from([1, 2]))
    bound = 1 << (45 if levels == 1 else 42)  # the kernel's precondition
    rows = data.draw(
        st.lists(
            st.lists(st.integers(-bound + 1, bound - 1), min_size=n, max_size=n),
            min_size=1,
            max_size=4,
        )
    )
    v = np.array(rows, dtype=np.int64)
    v[0, :] = v[0, :] // 2 * 2  # ties: even values against an even maximum
    M = v.shape[0]
    q = np.empty((levels * M, n), np.int8)
    xm = np.empty(levels * M, np.int64)
    xe = np.empty(levels * M, np.int64)
    v_in = v.copy()
    K.act_quant(v, q, xm, xe)
    assert np.array_equal(v, v_in)  # the input is not modified

    def quant(row: list[int]) -> tuple[list[int], int]:
        mi = max(abs(x) for x in row)
        return ([_rne(127 * x, mi) if mi else 0 for x in row], mi)

    def scale(c: int, offset: int) -> tuple[int, int]:
        k = max(c.bit_length() - 12, 0)
        return (c >> k, k - offset)

    for i, row in enumerate(v.tolist()):
        q1, m1 = quant(row)
        assert q[levels * i].tolist() == q1
        assert (xm[levels * i], xe[levels * i]) == scale(m1, 0)
        if levels == 2:
            q2, m2 = quant([127 * x - a * m1 for x, a in zip(row, q1, strict=True)])
            assert q[2 * i + 1].tolist() == q2
            assert (xm[2 * i + 1], xe[2 * i + 1]) == scale((m2 << 20) // 127, 20)


@pytest.mark.parametrize("cache_bits", [0, 7])
def test_qkv_post_rounds_keys_and_values_as_the_spec(cache_bits: int) -> None:
    """Steps 1-3 of one row per case, with an identity requantisation (m = 1, scale 1) and
    position 0 (cos 2**14, sin 0), so the kernel's inputs are the spec's values: v1 gives
    10-bit keys and the clamped values; v2 (``cache_bits`` 7, spec section 7) rounds both to
    8 bits per KV head, ties to even, and clamps a rounding up to 128 back to 127."""
    H, KV, D = 2, 1, 4
    edges = [
        [255, -1, 3, 0],  # s = 1: 127.5 -> 128 -> 127, -0.5 -> 0 (even), 1.5 -> 2
        [-255, 1, -3, 2],
        [127, -127, 0, 1],  # s = 0: unchanged
        [(1 << 22) - 1, -(1 << 22) + 1, 1 << 14, -(3 << 13)],  # at V_MAX: s = 15
        [0, 0, 0, 0],
    ]
    rng = np.random.default_rng(5)
    rows = edges + [list(r) for r in rng.integers(-(1 << 21), 1 << 21, (6, D)) >> rng.integers(0, 21, (6, 1))]
    M = len(rows)
    acc = np.zeros((M, (H + 2 * KV) * D), np.float64)
    for i, r in enumerate(rows):
        acc[i, : H * D] = np.tile(r, H) >> 2  # queries
        acc[i, H * D : (H + KV) * D] = r  # keys (QK_MAX >= 2**20 clamps the largest)
        acc[i, (H + KV) * D :] = r  # values
    mult = np.ones(acc.shape[1])
    cos = np.full((1, D // 2), 1 << 14, np.int64)
    sin = np.zeros((1, D // 2), np.int64)
    out = (
        np.empty((M, H, D), np.int16), np.empty((M, H), np.int16), np.empty((M, KV, D), np.int16),
        np.empty((M, KV), np.int16), np.empty((M, KV, D), np.int32), np.empty((M, KV), np.int8),
    )  # fmt: skip
    K.qkv_post(
        acc, mult, np.ones(M, np.int64), np.zeros(M, np.int64), np.zeros(M, np.int64), cos, sin,
        H, KV, _F.QK_MAX, _F.V_MAX, cache_bits, *out,
    )  # fmt: skip
    q10, sq, k10, sk, v, sv = out
    kin = np.clip(acc[:, H * D : (H + KV) * D].astype(np.int64), -_F.QK_MAX, _F.QK_MAX) << 14
    vin = np.clip(acc[:, (H + KV) * D :].astype(np.int64), -_F.V_MAX, _F.V_MAX)
    bits = 7 if cache_bits else _F.QK_BITS
    want_k, want_sk = ReferenceModel._qk10(kin.reshape(M, KV, D), bits)
    assert np.array_equal(k10, want_k) and np.array_equal(sk, want_sk)
    if cache_bits:
        want_v, want_sv = ReferenceModel._qk10(vin.reshape(M, KV, D), 7)
        assert np.abs(v).max() <= 127
        assert v[0, 0].tolist() == [127, 0, 2, 0] and sv[0, 0] == 1
    else:
        want_v, want_sv = vin.reshape(M, KV, D), np.zeros((M, KV), np.int64)
    assert np.array_equal(v, want_v) and np.array_equal(sv, want_sv)


def test_ffn_mid_matches_spec_on_extremes() -> None:
    rng = np.random.default_rng(5)
    M, F = 5, 48
    half = _F.SILU_HALF
    silu = rng.integers(-(1 << 14), 1 << 14, 2 * half).astype(np.int64)
    acc = rng.integers(-(1 << 30), 1 << 30, (M, 2 * F)).astype(np.int32)
    acc[0, :] = np.iinfo(np.int32).max  # saturates the clamps
    acc[1, :] = 0
    mult = np.ldexp(rng.integers(1 << 15, 1 << 16, 2 * F).astype(np.float64), -24)
    xm = rng.integers(1, 1 << 12, M).astype(np.int64)
    xe = rng.integers(-20, 4, M).astype(np.int64)
    q = np.empty((2 * M, F), np.int8)
    xm2 = np.empty(2 * M, np.int64)
    xe2 = np.empty(2 * M, np.int64)
    K.ffn_mid(acc, mult, xm, xe, silu, half, _F.GU_MAX, q, xm2, xe2)
    for i in range(M):
        scale = [int(mult[j] * 2**24) for j in range(2 * F)]  # m_r, with e_r = 24
        y = []
        for j in range(2 * F):
            num = int(acc[i, j]) * scale[j] * int(xm[i])
            s = 24 - int(xe[i])
            val = _rne(num, 1 << s)
            y.append(max(-_F.GU_MAX, min(_F.GU_MAX, val)))
        g, u = y[:F], y[F:]
        a = [(gj if gj >= half else int(silu[max(gj, -half) + half])) * uj for gj, uj in zip(g, u, strict=True)]
        m1 = max(abs(x) for x in a)
        q1 = [0] * F if m1 == 0 else [_rne(127 * x, m1) for x in a]
        r = [127 * x - qq * m1 for x, qq in zip(a, q1, strict=True)]
        m2 = max(abs(x) for x in r)
        q2 = [0] * F if m2 == 0 else [_rne(127 * x, m2) for x in r]
        assert q[2 * i].tolist() == q1 and q[2 * i + 1].tolist() == q2
        k1 = max(m1.bit_length() - 12, 0)
        c2 = (m2 << 20) // 127
        k2 = max(c2.bit_length() - 12, 0)
        assert (xm2[2 * i], xe2[2 * i]) == (m1 >> k1, k1)
        assert (xm2[2 * i + 1], xe2[2 * i + 1]) == (c2 >> k2, k2 - 20)


@pytest.mark.parametrize(
    ("H", "KV", "D", "n", "nvis", "extreme"),
    [
        (6, 2, 16, 40, 33, False),
        (9, 3, 64, 1100, 1037, False),
        (9, 3, 64, 600, 600, True),
        (4, 4, 64, 70, 64, False),
        (4, 2, 15, 50, 45, False),  # two heads a group, odd D: the kernels' general loops
        (3, 1, 7, 30, 30, False),  # three heads, D neither a multiple of 4 nor even
    ],
)
@pytest.mark.parametrize("compact", [False, True])
def test_attention_kernels_agree_with_the_spec(
    H: int, KV: int, D: int, n: int, nvis: int, extreme: bool, compact: bool
) -> None:
    """attn_mix (prefill operands) and attn_step (integer caches) both equal steps 4-5, for
    groups of 3 (SmolLM2's), 2 and 1 query heads per KV head, head sizes that do and do not
    take the kernels' unrolled loops, across attn_step's key blocks and at the bound of the
    float32 score sums (|dot| = 2**24); with nzarc-int-v1's caches (int16 keys, int32
    values) and with v2's (``compact``: int8 keys and values, a value being v8 · 2**s, at
    their largest in the extreme case)."""
    rng = np.random.default_rng(9 + n)
    G = H // KV
    sigma = 2 * (_F.FA + _F.ROPE_BITS) + (D.bit_length() - 1) // 2 - _F.FZ
    bias_q, bias_k = sigma - sigma // 2, sigma // 2
    table = exp_table(_F.EXPA_BITS, _F.FZ)  # int32
    q10 = rng.integers(-512, 513, (1, H, D)).astype(np.int16)
    sq = rng.integers(0, 26, (1, H)).astype(np.int16)
    k10 = rng.integers(-512, 513, (1, KV, n, D)).astype(np.int16)
    sk = rng.integers(0, 26, (1, KV, n)).astype(np.int16)
    v = rng.integers(-(1 << 22) + 1, 1 << 22, (1, KV, n, D)).astype(np.int32)
    sv = np.zeros((1, KV, n), np.int8)
    if compact:
        k10 = rng.integers(-127, 128, (1, KV, n, D)).astype(np.int16)
        v8 = rng.integers(-127, 128, (1, KV, n, D)).astype(np.int32)
        sv = rng.integers(0, 16, (1, KV, n)).astype(np.int8)
    if extreme:  # every product at its largest: score sums of exactly ±2**24
        q10[:] = 512
        q10[0, 1] = -512
        k10[:] = 127 if compact else 512
        k10[0, :, ::7] = -k10[0, 0, 0, 0]
        sq[:] = 0
        sk[:] = 0
        if compact:
            v8[:] = 127
            v8[0, :, ::5] = -127
            sv[:] = 15
    if compact:
        v = v8 << sv[..., None]
    want = np.empty((H, D), np.int64)
    for h in range(H):
        g = h // G
        z = []
        for u in range(nvis):
            dot = int(np.dot(q10[0, h].astype(np.int64), k10[0, g, u].astype(np.int64)))
            e = int(sq[0, h]) + int(sk[0, g, u]) - sigma
            z.append(dot << e if e >= 0 else dot >> -e)
        zmax = max(z)
        w = [int(table[min(zmax - zu, len(table) - 1)]) for zu in z]
        Z = sum(w)
        for i in range(D):
            want[h, i] = sum(wu * int(v[0, g, u, i]) for u, wu in enumerate(w)) // Z
    o = np.empty((1, H * D), np.int64)
    kt = np.ascontiguousarray(k10.transpose(0, 1, 3, 2))  # the session's layout [B, KV, D, L]
    vt = np.ascontiguousarray((v8 if compact else v).transpose(0, 1, 3, 2))  # likewise
    if compact:  # the int8 caches
        kt, vt = kt.astype(np.int8), vt.astype(np.int8)
    A.attn_step(q10, sq, kt, sk, vt, sv, np.zeros(1, np.int64), np.array([nvis]), sigma, table, o)
    assert np.array_equal(o.reshape(H, D), want)
    # the prefill route: float operands, score sums from a float32 GEMM
    qop = np.ldexp(q10[0].astype(np.float64), sq[0][:, None].astype(np.int64) - bias_q).astype(np.float32)
    kop = np.ldexp(k10[0].astype(np.float64), sk[0][:, :, None].astype(np.int64) - bias_k).astype(np.float32)
    s = np.stack([qop[h] @ kop[h // G].T for h in range(H)])  # [H, n] float32
    o2 = np.empty((H, D), np.int64)
    A.attn_mix(np.ascontiguousarray(s), np.full(H, nvis, np.int64), table, v, np.zeros(1, np.int64), KV, G, o2)
    assert np.array_equal(o2, want)
