"""The torch element-wise path: every step of spec/NEURAL.md as torch tensor operations.

Contract: :class:`TorchBackend` implements :class:`~nzarc.neural.runtime.backend.Backend`
with the same integers as the fused path and the reference. Values travel as float64
tensors holding integers (or dyadic scales), every intermediate below 2**53; attention
scores are float32 GEMMs of 10-bit operands times powers of two whose partial sums stay
within 2**24 (exact in any order). It needs nothing but torch and numpy, so it is the route
where numba is missing, and the route on a GPU.

Devices: tensors live on ``device`` (the CPU, or CUDA). Every operation is exact there too:
int8 GEMMs accumulate in int32 (``torch._int_mm``, self-tested) or are float32 GEMMs of
integers whose partial sums stay below 2**24, float64 GEMMs sum integers below 2**53, so
any summation order (split-K, tensor cores) gives the same integers; float32 GEMMs are held
to IEEE float32 (never TF32). Element-wise steps are integer operations, table look-ups
(``index_select``), comparisons, IEEE float64 division and round-half-even, and products
by powers of two built from their bits (:func:`~.torch_quant.pow2`), all correctly rounded
on either device. The per-row scale arithmetic runs in numpy on the CPU. Tied maxima are
resolved to the lowest index explicitly, not by a reduction's order.

``compact`` selects nzarc-int-v2 (spec/NEURAL.md section 7): keys and values are rounded
to 8 bits per KV head before attention; the caches keep their float operands.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import cast

import numpy as np
import torch

from nzarc.neural.intops import CACHE_BITS, FixedPoint
from nzarc.neural.runtime.session import KVCache, TorchKV
from nzarc.neural.runtime.torch_quant import bitlen_small, isqrt_np, pow2, quant_levels
from nzarc.neural.runtime.weights import Layer, Weights

__all__ = ["TorchBackend"]

_F = FixedPoint


def _ieee_fp32(device: torch.device) -> None:
    """Hold float32 GEMMs on ``device`` to IEEE float32 (CUDA may otherwise use TF32, whose
    10-bit mantissa would round the attention scores)."""
    if device.type == "cuda":
        torch.set_float32_matmul_precision("highest")


class TorchBackend:
    """The torch path over ``w`` on ``device`` (tables converted and placed once, at load)."""

    name = "torch"

    def __init__(self, w: Weights, device: str = "cpu", compact: bool = False) -> None:
        self.w = w
        self.compact = compact
        self.dims = dm = w.dims
        self.device = dev = torch.device(device)
        _ieee_fp32(dev)

        def f64(a: np.ndarray) -> torch.Tensor:
            return torch.from_numpy(a.astype(np.float64)).to(dev)

        self.embed = w.embed.to(dev)  # the file's mmap itself on the CPU
        self.attn_gain = [f64(layer.attn_gain) for layer in w.layers]
        self.ffn_gain = [f64(layer.ffn_gain) for layer in w.layers]
        self.out_gain = f64(w.out_gain)
        rc = w.rope_cos.astype(np.float64)
        rs = w.rope_sin.astype(np.float64)
        self.rope_cos2 = f64(np.repeat(rc, 2, axis=1))
        self.rope_sin2 = f64(np.stack([-rs, rs], axis=2).reshape(rs.shape[0], -1))
        self.exp_attn = f64(w.exp_attn)
        self.exp_logit_i32 = torch.from_numpy(w.exp_logit.astype(np.int32)).to(dev)
        self.exp_logit_i64 = self.exp_logit_i32.to(torch.int64)
        self.silu = f64(w.silu)
        nq, nkv = dm.n_head * dm.hd, dm.n_kv * dm.hd
        self.qkv_lo = torch.tensor(
            [-_F.QK_MAX] * (nq + nkv) + [-_F.V_MAX] * nkv, dtype=torch.float64, device=dev
        )
        self.qkv_hi = -self.qkv_lo

    @property
    def kv_bytes_per_token(self) -> int:
        """float32 k operand + float64 v with its ones column, per KV head and layer."""
        return self.dims.n_layer * self.dims.n_kv * (4 * self.dims.hd + 8 * (self.dims.hd + 1))

    # ----------------------------------------------------------- per-token blocks

    def _rms_quant(self, h: torch.Tensor, gain: torch.Tensor, levels: int) -> tuple[torch.Tensor, torch.Tensor]:
        """RMSNorm + int8 quantisation of residual rows h [M, d] -> (q int8 [levels·M, d],
        xd float64 [levels·M]) as :func:`quant_levels`."""
        hl = h.to(torch.int64)
        ss = (hl * hl).sum(dim=-1).cpu().numpy()
        r = isqrt_np(ss + self.dims.d * self.dims.eps_int)
        return quant_levels(h * gain, levels, r)  # exact: |h| < 2**26, G < 2**16

    @staticmethod
    def _rounded(y: torch.Tensor, bits: int, bias: int) -> torch.Tensor:
        """Step 3 per head of y float64 integers: rne(y 2**-e) * 2**(e - bias) with
        e = max(bitlen(max|y|) - bits, 0), float64 (exact); v2's 8-bit rounding
        (bits = CACHE_BITS) clamps to 2**bits - 1 first."""
        m = torch.maximum(y.amax(dim=-1, keepdim=True), y.amin(dim=-1, keepdim=True).neg_())
        e = (bitlen_small(m) - bits).clamp_min(0)
        r = y.mul(pow2(-e)).round_()
        if bits == CACHE_BITS:
            r.clamp_(-(2**bits - 1), 2**bits - 1)
        return r.mul_(pow2(e - bias))

    def _qk_operand(self, y: torch.Tensor, bias: int, bits: int = _F.QK_BITS) -> torch.Tensor:
        """Power-of-two scaled operand of step 3 (10 bits, or v2's 8-bit keys), float32 (exact)."""
        return self._rounded(y, bits, bias).float()

    def _rope(self, x: torch.Tensor, pos: torch.Tensor) -> torch.Tensor:
        """x [M, H, hd] float64 integers, pos [M] -> rotated (units * 2**ROPE_BITS)."""
        # y = x * [c, c] + swap_pairs(x) * [-s, s]: the same exact integers as the pairwise form
        c2 = self.rope_cos2[pos][:, None, :]
        s2 = self.rope_sin2[pos][:, None, :]
        sw = x.reshape(*x.shape[:-1], -1, 2).flip(-1).reshape(x.shape)
        return (x * c2).add_(sw.mul_(s2))

    def _qkv(
        self, li: int, h: torch.Tensor, pos: torch.Tensor, levels: int
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """h [M, d], pos [M] -> (q operand f32 [M, H, hd], k operand f32 [M, KV, hd], v f64 [M, KV, hd])."""
        dm = self.dims
        x, xd = self._rms_quant(h, self.attn_gain[li], levels)
        out = self.w.layers[li].qkv.requant(x, xd, levels)
        out = torch.clamp(out, self.qkv_lo, self.qkv_hi)
        nq, nkv = dm.n_head * dm.hd, dm.n_kv * dm.hd
        M = h.shape[0]
        q = self._rope(out[:, :nq].reshape(M, dm.n_head, dm.hd), pos)
        k = self._rope(out[:, nq : nq + nkv].reshape(M, dm.n_kv, dm.hd), pos)
        v = out[:, nq + nkv :].reshape(M, dm.n_kv, dm.hd)
        sh = dm.score_shift
        if self.compact:  # v2: 8-bit keys, and values v8 · 2**s (integers below 2**22)
            return (
                self._qk_operand(q, sh - sh // 2),
                self._qk_operand(k, sh // 2, CACHE_BITS),
                self._rounded(v, CACHE_BITS, 0),
            )
        return self._qk_operand(q, sh - sh // 2), self._qk_operand(k, sh // 2), v

    def _attend(
        self,
        qop: torch.Tensor,
        kop: torch.Tensor,
        vext: torch.Tensor,
        mask: torch.Tensor | None,
        mask_from: int = 0,
    ) -> torch.Tensor:
        """qop [B, KV, G*Tq, hd] f32, kop [B, KV, Tk, hd] f32, vext [B, KV, Tk, hd+1] f64
        (last column 1), mask broadcastable bool [.., G*Tq, Tk - mask_from] (True = hidden) applied to the
        keys from ``mask_from`` on -> o f64 [B, KV, G*Tq, hd]."""
        s = torch.matmul(qop, kop.transpose(-1, -2))  # exact: |partial sums| <= 2**24
        s.floor_()
        if mask is not None:
            if mask_from:
                s[..., mask_from:].masked_fill_(mask, -float("inf"))
            else:
                s.masked_fill_(mask, -float("inf"))
        zmax = s.amax(dim=-1, keepdim=True)
        # zmax - s may round for differences above 2**24; the clamp below makes that irrelevant
        # (rounding is monotone and JA - 1 is representable).
        # in place: zmax + (-s) is the IEEE value of zmax - s
        j = s.neg_().add_(zmax).clamp_max_(float(self.exp_attn.shape[0] - 1)).to(torch.int32)
        e = self.exp_attn.index_select(0, j.view(-1)).view(j.shape)
        az = torch.matmul(e, vext)  # exact: integers < 2**53
        return torch.div(az[..., :-1], az[..., -1:]).floor_()

    def _ffn(self, li: int, layer: Layer, h: torch.Tensor, levels: int) -> torch.Tensor:
        x, xd = self._rms_quant(h, self.ffn_gain[li], levels)
        gu = layer.gu.requant(x, xd, levels).clamp_(-_F.GU_MAX, _F.GU_MAX)
        g, u = gu[:, : self.dims.d_ffn], gu[:, self.dims.d_ffn :]
        half = _F.SILU_HALF
        idx = g.clamp(-half, half - 1).add_(half).to(torch.int32)
        s = self.silu.index_select(0, idx.view(-1)).view(idx.shape)
        s = torch.where(g >= half, g, s)
        a = s.mul_(u)  # exact: < 2**40
        # two levels always (the FFN activations carry large outliers), in one GEMM
        q, xd = quant_levels(a, 2)
        return layer.down.requant(q, xd, 2)

    def _block_tail(self, li: int, h: torch.Tensor, o: torch.Tensor, levels: int) -> torch.Tensor:
        """Steps 6-9: h += Lin(AQ(o)), then h += FFN(h), each clamped to H_MAX."""
        layer = self.w.layers[li]
        q, xd = quant_levels(o, levels)
        h = h.add_(layer.o.requant(q, xd, levels)).clamp_(-_F.H_MAX, _F.H_MAX)
        return h.add_(self._ffn(li, layer, h, levels)).clamp_(-_F.H_MAX, _F.H_MAX)

    def _freqs(self, h: torch.Tensor, levels: int, out: torch.Tensor | None = None) -> torch.Tensor:
        """Final residual rows h [M, d] -> int32 frequency tables [M, V] (written to ``out``)."""
        x, xd = self._rms_quant(h, self.out_gain, levels)
        lm = self.w.lm
        acc = lm.acc(x)
        V = self.dims.vocab_size
        JL = self.exp_logit_i32.shape[0]
        total = 1 << _F.FREQ_BITS
        n, lv = h.shape[0], levels
        dev = h.device
        if out is None:
            out = torch.empty(n, V, dtype=torch.int32, device=dev)
        vocab = torch.arange(V, dtype=torch.int32, device=dev)
        # a few rows at a time, so that the float64 intermediates stay in cache
        for r0 in range(0, n, 16):
            r1 = min(n, r0 + 16)
            z = lm.scale(acc[lv * r0 : lv * r1], xd[lv * r0 : lv * r1], lv)
            # |z| <= L_MAX < 2**20 after the clamp: exact in int32, and so is zmax - z <= 2**21
            z = z.clamp_(-_F.L_MAX, _F.L_MAX).to(torch.int32)
            zmax = z.amax(dim=-1, keepdim=True)
            j = z.neg_().add_(zmax)  # >= 0, 0 at the maxima
            # the remainder goes to the lowest index of a maximum (the least of their indices)
            arg = torch.where(j == 0, vocab, V).amin(dim=-1, keepdim=True).to(torch.int64)
            j.clamp_max_(JL - 1)  # in [0, JL)
            e = self.exp_logit_i32.index_select(0, j.view(-1)).view(j.shape)
            E = e.sum(dim=-1, dtype=torch.int64)  # exact: < 2**24 * V < 2**40
            M = torch.div((total - V) << _F.FREQ_SHIFT, E, rounding_mode="floor")
            # f_v depends on j_v only: a per-row table 1 + (exp_logit[j] * M >> 28) over
            # j < JL (int64, exact: exp_logit * M <= 2**52), then one gather
            ftab = (
                (self.exp_logit_i64[None, :] * M[:, None])
                .bitwise_right_shift_(_F.FREQ_SHIFT)
                .add_(1)
                .to(torch.int32)
            )
            j.add_(torch.arange(0, (r1 - r0) * JL, JL, dtype=torch.int32, device=dev)[:, None])
            f = ftab.view(-1).index_select(0, j.view(-1)).view(j.shape)
            rest = total - f.sum(dim=-1, dtype=torch.int64)
            f.scatter_add_(1, arg, rest.to(torch.int32)[:, None])
            out[r0:r1] = f
        return out

    # ------------------------------------------------------------------- prefill

    def _hidden(
        self, tokens: torch.Tensor, levels: int, check: Callable[[], None] | None, qblock: int = 128
    ) -> torch.Tensor:
        B, T = tokens.shape
        M = B * T
        dm = self.dims
        dev = self.device
        h = self.embed[tokens.reshape(-1).to(dev)].to(torch.float64)
        pos = torch.arange(T, device=dev).repeat(B)
        G, KV, hd = dm.group, dm.n_kv, dm.hd
        for li in range(dm.n_layer):
            qop, kop, v = self._qkv(li, h, pos, levels)
            qop = qop.reshape(B, T, KV, G, hd).permute(0, 2, 3, 1, 4)  # [B, KV, G, T, hd]
            kop = kop.reshape(B, T, KV, hd).permute(0, 2, 1, 3)  # [B, KV, T, hd]
            vext = torch.cat([v, torch.ones(M, KV, 1, dtype=torch.float64, device=dev)], dim=-1)
            vext = vext.reshape(B, T, KV, hd + 1).permute(0, 2, 1, 3)
            o = torch.empty(B, KV, G, T, hd, dtype=torch.float64, device=dev)
            for t0 in range(0, T, qblock):
                if check is not None:
                    check()
                t1 = min(T, t0 + qblock)
                qb = qop[:, :, :, t0:t1].reshape(B, KV, G * (t1 - t0), hd)
                qi = torch.arange(t0, t1, device=dev).repeat(G)
                mask = torch.arange(t0, t1, device=dev)[None, :] > qi[:, None]
                ob = self._attend(qb, kop[:, :, :t1], vext[:, :, :t1], mask, t0)
                o[:, :, :, t0:t1] = ob.reshape(B, KV, G, t1 - t0, hd)
            o = o.permute(0, 3, 1, 2, 4).reshape(M, dm.n_head * hd)
            h = self._block_tail(li, h, o, levels)
            if check is not None:
                check()
        return h.reshape(B, T, dm.d)

    def prefill(
        self, tokens: torch.Tensor, slab: int, levels: int, check: Callable[[], None] | None = None
    ) -> Iterator[tuple[int, torch.Tensor]]:
        B, T = tokens.shape
        V = self.dims.vocab_size
        h = self._hidden(tokens, levels, check)
        for t0 in range(0, T, slab):
            t1 = min(T, t0 + slab)
            rows = h[:, t0:t1].reshape(-1, self.dims.d)
            # at most 128 rows per output GEMM: its int32 accumulators are 4*V bytes per row
            f = torch.empty(rows.shape[0], V, dtype=torch.int32, device=self.device)
            for i in range(0, rows.shape[0], 128):
                self._freqs(rows[i : i + 128], levels, out=f[i : i + 128])
            yield t0, f.reshape(B, t1 - t0, V)

    # --------------------------------------------------------------- incremental

    def new_cache(self, batch: int, max_len: int) -> TorchKV:
        dm = self.dims
        return TorchKV.zeros(dm.n_layer, batch, dm.n_kv, max_len, dm.hd, device=self.device)

    def step(
        self, cache: KVCache, tokens: torch.Tensor, rows: torch.Tensor, pos: torch.Tensor,
        levels: int, all_rows: bool,
    ) -> torch.Tensor:  # fmt: skip
        kv = cast(TorchKV, cache)
        dm = self.dims
        dev = self.device
        b = tokens.shape[0]
        G, KV, hd = dm.group, dm.n_kv, dm.hd
        lk = int(pos.max()) + 1
        tokens, rows, pos = tokens.to(dev), rows.to(dev), pos.to(dev)
        mask = (torch.arange(lk, device=dev)[None, :] > pos[:, None])[:, None, None, :]  # [b, 1, 1, lk]
        h = self.embed[tokens].to(torch.float64)
        for li in range(dm.n_layer):
            qop, kop, v = self._qkv(li, h, pos, levels)
            kv.k[li, rows, :, pos] = kop
            kv.v[li, rows, :, pos, :hd] = v
            kv.v[li, rows, :, pos, hd] = 1.0
            if all_rows:
                kk = kv.k[li, :, :, :lk]  # views, no copy
                vv = kv.v[li, :, :, :lk]
            else:
                kk = kv.k[li, :, :, :lk].index_select(0, rows)  # [b, KV, lk, hd]
                vv = kv.v[li, :, :, :lk].index_select(0, rows)
            qb = qop.reshape(b, KV, G, hd)
            o = self._attend(qb, kk, vv, mask)  # [b, KV, G, hd]
            h = self._block_tail(li, h, o.reshape(b, dm.n_head * hd), levels)
        return self._freqs(h, levels)
