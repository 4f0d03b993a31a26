"""The fused CPU path: the numba kernels of :mod:`nzarc.neural.cpu_kernels` and
:mod:`nzarc.neural.cpu_attention` chained between the exact int8 GEMMs.

Contract: :class:`FusedBackend` implements :class:`~nzarc.neural.runtime.backend.Backend`
with the same integers as the torch path and the reference. Activations between GEMMs are
int64 rows with their int8 quantisations and token scales ``(q, xm, xe)``; the incremental
caches are integers (:class:`~nzarc.neural.runtime.session.IntKV`). The kernels run on
``threads`` threads (None: as many as torch uses), which never changes a result.
``compact`` selects nzarc-int-v2 (spec/NEURAL.md section 7): 8-bit keys and values, which
the incremental caches hold as int8.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from types import ModuleType
from typing import cast

import numpy as np
import torch

from nzarc.neural.intops import CACHE_BITS, FixedPoint
from nzarc.neural.runtime.session import IntKV, KVCache
from nzarc.neural.runtime.weights import Weights

__all__ = ["FusedBackend"]

_F = FixedPoint

Rows = tuple[np.ndarray, np.ndarray, np.ndarray]


def _i64(a: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(a, np.int64)


class FusedBackend:
    """The fused path over ``w``: ``kernels`` and ``attention`` are the two kernel modules."""

    name = "fused"

    def __init__(
        self, w: Weights, kernels: ModuleType, attention: ModuleType, threads: int | None, compact: bool = False
    ) -> None:
        self.w = w
        self.compact = compact
        self.cache_bits = CACHE_BITS if compact else 0
        self.dims = w.dims
        self.K = kernels
        self.A = attention
        self.threads = threads
        self.attn_gain = [_i64(layer.attn_gain) for layer in w.layers]
        self.ffn_gain = [_i64(layer.ffn_gain) for layer in w.layers]
        self.out_gain = _i64(w.out_gain)
        self.cos = _i64(w.rope_cos)
        self.sin = _i64(w.rope_sin)
        self.exp_attn = np.ascontiguousarray(w.exp_attn, np.int32)
        self.exp_logit = _i64(w.exp_logit)
        self.silu = _i64(w.silu)

    @property
    def kv_bytes_per_token(self) -> int:
        """Keys, values and their shifts (:class:`IntKV`), per KV head and layer."""
        return IntKV.bytes_per_token(self.dims.n_layer, self.dims.n_kv, self.dims.hd, self.compact)

    def _sync_threads(self) -> None:
        import numba

        want = torch.get_num_threads() if self.threads is None else self.threads
        # numba.config sets its attributes at import time from the environment.
        n = max(1, min(want, numba.config.NUMBA_NUM_THREADS))  # type: ignore[attr-defined]
        if numba.get_num_threads() != n:
            numba.set_num_threads(n)

    def _scratch(self, M: int, levels: int, n: int | None = None) -> Rows:
        """Quantised rows (q int8 [levels·M, n], xm, xe int64 [levels·M]) for the kernels."""
        rows = levels * M
        return (
            np.empty((rows, self.dims.d if n is None else n), np.int8),
            np.empty(rows, np.int64),
            np.empty(rows, np.int64),
        )

    def _qkv(
        self, li: int, q: np.ndarray, xm: np.ndarray, xe: np.ndarray, pos: np.ndarray, levels: int
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """qkv GEMM + steps 1-3: (q10, sq, k10, sk, v, sv) as :func:`cpu_kernels.qkv_post`
        (in v2, keys and values of 8 bits, a value being v · 2**sv)."""
        layer = self.w.layers[li]
        M = q.shape[0] // levels
        H, KV, hd = self.dims.n_head, self.dims.n_kv, self.dims.hd
        acc = layer.qkv.acc(torch.from_numpy(q)).numpy()
        out = (
            np.empty((M, H, hd), np.int16),
            np.empty((M, H), np.int16),
            np.empty((M, KV, hd), np.int16),
            np.empty((M, KV), np.int16),
            np.empty((M, KV, hd), np.int32),
            np.empty((M, KV), np.int8),
        )
        self.K.qkv_post(
            acc, layer.qkv.mult_np, xm, xe, pos, self.cos, self.sin, H, KV, _F.QK_MAX, _F.V_MAX,
            self.cache_bits, *out,
        )  # fmt: skip
        return out

    def _score_operands(
        self, q10: np.ndarray, sq: np.ndarray, k10: np.ndarray, sk: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """float32 GEMM operands q10·2^(sq-⌈σ/2⌉), k10·2^(sk-⌊σ/2⌋) (exact: 10-bit integers
        times powers of two), whose products sum to step 4's values before the floor."""
        sh = self.dims.score_shift
        qop = np.ldexp(q10.astype(np.float32), (sq.astype(np.int32) - (sh - sh // 2))[..., None])
        kop = np.ldexp(k10.astype(np.float32), (sk.astype(np.int32) - sh // 2)[..., None])
        return qop, kop

    def _attend(
        self, qb: torch.Tensor, kk: torch.Tensor, v: np.ndarray, vrow: np.ndarray, nvalid: np.ndarray
    ) -> np.ndarray:
        """qb f32 [B, KV, R, D], kk f32 [B, KV, Tk, D], v int32 [Bv, KV, Tk', D] with
        vrow [B] its row per batch entry, nvalid int64 [B*KV*R] (visible keys per query row)
        -> o int64 [B*KV*R, D]."""
        s = torch.matmul(qb, kk.transpose(-1, -2))  # exact: |partial sums| <= 2**24
        B, KV, R, Tk = s.shape
        o = np.empty((B * KV * R, self.dims.hd), np.int64)
        self.A.attn_mix(s.numpy().reshape(-1, Tk), nvalid, self.exp_attn, v, vrow, KV, R, o)
        return o

    def _mlp(self, li: int, h: np.ndarray, o: np.ndarray, q: np.ndarray, xm: np.ndarray, xe: np.ndarray, levels: int) -> None:
        """Steps 6-9 for rows h int64 [M, d] (updated in place) given the attention output
        o int64 [M, H*D]; leaves RQ(h, next gain) in (q, xm, xe)."""
        K, dm = self.K, self.dims
        layer = self.w.layers[li]
        M = h.shape[0]
        qo, xmo, xeo = self._scratch(M, levels, o.shape[1])
        K.act_quant(o, qo, xmo, xeo)
        acc = layer.o.acc(torch.from_numpy(qo)).numpy()
        K.residual_add(h, acc, layer.o.mult_np, xmo, xeo, _F.H_MAX)
        d_eps = dm.d * dm.eps_int
        K.rms_quant(h, self.ffn_gain[li], d_eps, q, xm, xe)
        acc = layer.gu.acc(torch.from_numpy(q)).numpy()
        q12 = np.empty((2 * M, dm.d_ffn), np.int8)
        xm12 = np.empty(2 * M, np.int64)
        xe12 = np.empty(2 * M, np.int64)
        K.ffn_mid(acc, layer.gu.mult_np, xm, xe, self.silu, _F.SILU_HALF, _F.GU_MAX, q12, xm12, xe12)
        acc = layer.down.acc(torch.from_numpy(q12)).numpy()
        K.residual_add(h, acc, layer.down.mult_np, xm12, xe12, _F.H_MAX)
        gain = self.attn_gain[li + 1] if li + 1 < dm.n_layer else self.out_gain
        K.rms_quant(h, gain, d_eps, q, xm, xe)

    def _hidden(
        self, tokens: torch.Tensor, levels: int, check: Callable[[], None] | None, qblock: int = 128
    ) -> Rows:
        """Prefill through all layers -> RQ(h_final, out_gain) as (q int8 [M, d], xm, xe)."""
        self._sync_threads()
        dm = self.dims
        B, T = tokens.shape
        M = B * T
        G, KV, hd = dm.group, dm.n_kv, dm.hd
        h = self.w.embed[tokens.reshape(-1)].to(torch.int64).numpy()
        pos = np.tile(np.arange(T, dtype=np.int64), B)
        q, xm, xe = self._scratch(M, levels)
        self.K.rms_quant(h, self.attn_gain[0], dm.d * dm.eps_int, q, xm, xe)
        o = np.empty((B, KV, G, T, hd), np.int64)
        for li in range(dm.n_layer):
            q10, sq, k10, sk, v, sv = self._qkv(li, q, xm, xe, pos, levels)
            if self.compact:
                v = v << sv[..., None]  # the values v8 · 2**sv, |v| < 2**22
            qop, kop = self._score_operands(q10, sq, k10, sk)
            qop_t = torch.from_numpy(qop).reshape(B, T, KV, G, hd).permute(0, 2, 3, 1, 4)
            kop_t = torch.from_numpy(kop).reshape(B, T, KV, hd).permute(0, 2, 1, 3)
            v_t = np.ascontiguousarray(v.reshape(B, T, KV, hd).transpose(0, 2, 1, 3))
            vrow = np.arange(B, dtype=np.int64)
            for t0 in range(0, T, qblock):
                if check is not None:
                    check()
                t1 = min(T, t0 + qblock)
                n = t1 - t0
                qb = qop_t[:, :, :, t0:t1].reshape(B, KV, G * n, hd)
                nvalid = np.tile(np.arange(t0 + 1, t1 + 1, dtype=np.int64), B * KV * G)
                ob = self._attend(qb, kop_t[:, :, :t1], v_t, vrow, nvalid)
                o[:, :, :, t0:t1] = ob.reshape(B, KV, G, n, hd)
            o_tok = np.ascontiguousarray(o.transpose(0, 3, 1, 2, 4).reshape(M, dm.n_head * hd))
            self._mlp(li, h, o_tok, q, xm, xe, levels)
            if check is not None:
                check()
        return q, xm, xe

    def _freqs(self, q: np.ndarray, xm: np.ndarray, xe: np.ndarray, out: torch.Tensor, levels: int) -> None:
        """Output stage for rows already RQ'd with out_gain (levels·M rows for out [M, V]),
        at most 128 tokens per GEMM."""
        o = out.numpy()
        lv = levels
        lm = self.w.lm
        for i in range(0, o.shape[0], 128):
            j = min(o.shape[0], i + 128)
            acc = lm.acc(torch.from_numpy(q[lv * i : lv * j])).numpy()
            self.K.freqs(
                acc, lm.mult_np, xm[lv * i : lv * j], xe[lv * i : lv * j], self.exp_logit,
                _F.L_MAX, _F.FREQ_BITS, _F.FREQ_SHIFT, o[i:j],
            )  # fmt: skip

    def prefill(
        self, tokens: torch.Tensor, slab: int, levels: int, check: Callable[[], None] | None = None
    ) -> Iterator[tuple[int, torch.Tensor]]:
        B, T = tokens.shape
        d, V = self.dims.d, self.dims.vocab_size
        q, xm, xe = self._hidden(tokens, levels, check)
        q3 = q.reshape(B, T, levels, d)
        xm2, xe2 = xm.reshape(B, T, levels), xe.reshape(B, T, levels)
        for t0 in range(0, T, slab):
            t1 = min(T, t0 + slab)
            f = torch.empty((B * (t1 - t0), V), dtype=torch.int32)
            self._freqs(
                np.ascontiguousarray(q3[:, t0:t1].reshape(-1, d)),
                np.ascontiguousarray(xm2[:, t0:t1].reshape(-1)),
                np.ascontiguousarray(xe2[:, t0:t1].reshape(-1)),
                f,
                levels,
            )
            yield t0, f.reshape(B, t1 - t0, V)

    def new_cache(self, batch: int, max_len: int) -> IntKV:
        dm = self.dims
        return IntKV.zeros(dm.n_layer, batch, dm.n_kv, max_len, dm.hd, self.compact)

    def step(
        self, cache: KVCache, tokens: torch.Tensor, rows: torch.Tensor, pos: torch.Tensor,
        levels: int, all_rows: bool,
    ) -> torch.Tensor:  # fmt: skip
        kv = cast(IntKV, cache)
        dm = self.dims
        self._sync_threads()
        b = tokens.shape[0]
        pos_np = pos.numpy()
        rows_np = np.ascontiguousarray(rows.numpy())
        nvalid = pos_np + 1
        h = self.w.embed[tokens].to(torch.int64).numpy()
        q, xm, xe = self._scratch(b, levels)
        self.K.rms_quant(h, self.attn_gain[0], dm.d * dm.eps_int, q, xm, xe)
        o = np.empty((b, dm.n_head * dm.hd), np.int64)
        for li in range(dm.n_layer):
            q10, sq, k10, sk, v, sv = self._qkv(li, q, xm, xe, pos_np, levels)
            kv.k[li, rows_np, :, :, pos_np] = k10  # v2: |k10|, |v| <= 127 fit int8
            kv.ks[li, rows_np, :, pos_np] = sk
            kv.v[li, rows_np, :, :, pos_np] = v
            kv.vs[li, rows_np, :, pos_np] = sv
            self.A.attn_step(
                q10, sq, kv.k[li], kv.ks[li], kv.v[li], kv.vs[li], rows_np, nvalid, dm.score_shift,
                self.exp_attn, o,
            )  # fmt: skip
            self._mlp(li, h, o, q, xm, xe, levels)
        out = torch.empty((b, dm.vocab_size), dtype=torch.int32)
        self._freqs(q, xm, xe, out, levels)
        return out
