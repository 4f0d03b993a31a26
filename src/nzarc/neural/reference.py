"""Slow reference implementation of nzarc-int-v1 and nzarc-int-v2 in numpy int64 (the
executable spec).

It follows spec/NEURAL.md literally, one sequence at a time, with integer
operations only (floor division, shifts, round-half-even division). The
fast runtime in :mod:`nzarc.neural.runtime` is tested against it.
"""

from __future__ import annotations

import numpy as np

from nzarc.neural.intops import (
    CACHE_BITS,
    RUNTIME_ID,
    RUNTIME_V2,
    FixedPoint,
    isqrt_i64,
    norm12,
    rne_div,
    rne_shift,
)
from nzarc.neural.modelfile import ModelFile

__all__ = ["ReferenceModel"]

_F = FixedPoint
#: One quantisation level of a row block: (q int8 values, xm, xe) as in spec section 3.1.
_Level = tuple[np.ndarray, np.ndarray, np.ndarray]


def _bitlen(x: np.ndarray) -> np.ndarray:
    from nzarc.neural.intops import bitlen

    return bitlen(x)


class ReferenceModel:
    """Integer-only forward pass over a model file: ``freqs(tokens) -> int64 [T, V]``, at
    activation precision ``act_levels`` under runtime ``runtime`` (v1, or v2's 8-bit caches)."""

    def __init__(self, path: str, act_levels: int = 1, runtime: str = RUNTIME_ID) -> None:
        if runtime not in (RUNTIME_ID, RUNTIME_V2):
            raise ValueError(f"unknown runtime {runtime!r}")
        mf = ModelFile(path)
        self.levels = act_levels
        self.compact = runtime == RUNTIME_V2
        self.cfg = cfg = mf.config
        self.t = {
            n: np.asarray(mf.tensor(n)).astype(np.int64) for n in mf.names() if n != "tokenizer"
        }
        self.L = cfg["n_layer"]
        self.d = cfg["d_model"]
        self.H = cfg["n_head"]
        self.KV = cfg["n_kv_head"]
        self.hd = cfg["head_dim"]
        self.dff = cfg["d_ffn"]
        self.V = cfg["vocab_size"]
        self.E = cfg["eps_int"]

    # y = rne(acc * m_r * xm_t * 2**(xe_t - e_r))
    def _linear1(self, name: str, q: np.ndarray, xm: np.ndarray, xe: np.ndarray) -> np.ndarray:
        w = self.t[name + ".w"]
        acc = q @ w.T  # int64, exact
        prod = acc * self.t[name + ".m"][None, :] * xm[:, None]
        return rne_shift(prod, self.t[name + ".e"][None, :] - xe[:, None])

    def _linear(self, name: str, levels: list[_Level]) -> np.ndarray:
        """Lin2 / Lin: the sum of Lin over the quantisation levels of the input."""
        first, *rest = (self._linear1(name, *lv) for lv in levels)
        for part in rest:
            first = first + part
        return first

    @staticmethod
    def _quant(v: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        m = np.abs(v).max(axis=-1)
        safe = np.where(m > 0, m, 1)
        return rne_div(127 * v, safe[:, None]), m

    def _levels(self, v: np.ndarray, levels: int, r: np.ndarray | None) -> list[_Level]:
        """RQ (r = RMS denominators) or AQ (r None) of rows v, then a second level (3.4)."""
        q1, m1 = self._quant(v)
        if r is None:
            xm1, k1 = norm12(m1)
            out = [(q1, xm1, k1)]
        else:
            xm1, k1 = norm12((m1 << _F.RMS_P) // r)
            out = [(q1, xm1, k1 - _F.RMS_P)]
        if levels == 2:
            q2, m2 = self._quant(127 * v - q1 * m1[:, None])
            xm2, k2 = norm12((m2 << _F.RMS_P) // (127 * (1 if r is None else r)))
            out.append((q2, xm2, k2 - _F.RMS_P))
        return out

    def _rms_quant(self, h: np.ndarray, gain: np.ndarray) -> list[_Level]:
        ss = (h * h).sum(axis=-1)
        r = isqrt_i64(ss + self.d * self.E)
        return self._levels(h * gain[None, :], self.levels, r)

    def _act_quant(self, v: np.ndarray, levels: int | None = None) -> list[_Level]:
        return self._levels(v, self.levels if levels is None else levels, None)

    def _rope(self, x: np.ndarray, pos: np.ndarray) -> np.ndarray:
        c = self.t["rope_cos"][pos][:, None, :]
        s = self.t["rope_sin"][pos][:, None, :]
        y = np.empty_like(x)
        y[..., 0::2] = x[..., 0::2] * c - x[..., 1::2] * s
        y[..., 1::2] = x[..., 0::2] * s + x[..., 1::2] * c
        return y

    @staticmethod
    def _qk10(y: np.ndarray, bits: int = _F.QK_BITS) -> tuple[np.ndarray, np.ndarray]:
        """Step 3 per head: (rne(y / 2**s), s) with s = max(bitlen(max|y|) - bits, 0); for
        v2's 8-bit caches (bits = CACHE_BITS) the result is clamped to 2**bits - 1."""
        m = np.abs(y).max(axis=-1)
        e = np.maximum(_bitlen(m) - bits, 0)
        r = rne_shift(y, e[..., None])
        if bits == CACHE_BITS:
            r = np.clip(r, -(2**bits - 1), 2**bits - 1)
        return r, e

    def freqs(self, tokens: list[int]) -> np.ndarray:
        T = len(tokens)
        H, KV, hd = self.H, self.KV, self.hd
        G = H // KV
        t = self.t
        pos = np.arange(T)
        h = t["embed"][np.asarray(tokens)]
        expa = t["exp_attn"]
        JA = len(expa)
        nq, nkv = H * hd, KV * hd
        shift = 2 * (_F.FA + _F.ROPE_BITS) + (hd.bit_length() - 1) // 2 - _F.FZ
        for li in range(self.L):
            p = f"blk.{li}."
            out = self._linear(p + "qkv", self._rms_quant(h, t[p + "attn_gain"]))
            q = np.clip(out[:, :nq], -_F.QK_MAX, _F.QK_MAX).reshape(T, H, hd)
            k = np.clip(out[:, nq : nq + nkv], -_F.QK_MAX, _F.QK_MAX).reshape(T, KV, hd)
            v = np.clip(out[:, nq + nkv :], -_F.V_MAX, _F.V_MAX).reshape(T, KV, hd)
            q10, eq = self._qk10(self._rope(q, pos))  # [T, H, hd], [T, H]
            if self.compact:  # v2, section 7: 8-bit keys, and values v8 * 2**s
                k10, ek = self._qk10(self._rope(k, pos), CACHE_BITS)
                v8, ev = self._qk10(v, CACHE_BITS)
                v = v8 << ev[..., None]
            else:
                k10, ek = self._qk10(self._rope(k, pos))
            o = np.empty((T, H, hd), dtype=np.int64)
            for head in range(H):
                kv = head // G
                acc = q10[:, head, :] @ k10[:, kv, :].T  # [T, T]
                ex = eq[:, head][:, None] + ek[:, kv][None, :] - shift
                z = np.where(ex >= 0, acc << np.maximum(ex, 0), acc >> np.maximum(-ex, 0))  # floor
                causal = pos[None, :] <= pos[:, None]
                zmax = np.where(causal, z, np.iinfo(np.int64).min).max(axis=1)
                j = np.minimum(zmax[:, None] - z, JA - 1)
                e = np.where(causal, expa[np.where(causal, j, JA - 1)], 0)
                A = e @ v[:, kv, :]
                Z = e.sum(axis=1)
                o[:, head, :] = A // Z[:, None]
            y = self._linear(p + "o", self._act_quant(o.reshape(T, nq)))
            h = np.clip(h + y, -_F.H_MAX, _F.H_MAX)
            gu = np.clip(self._linear(p + "gu", self._rms_quant(h, t[p + "ffn_gain"])), -_F.GU_MAX, _F.GU_MAX)
            g, u = gu[:, : self.dff], gu[:, self.dff :]
            half = _F.SILU_HALF
            s = np.where(g >= half, g, t["silu"][np.clip(g, -half, half - 1) + half])
            y = self._linear(p + "down", self._act_quant(s * u, levels=2))
            h = np.clip(h + y, -_F.H_MAX, _F.H_MAX)
        z = np.clip(self._linear("lm", self._rms_quant(h, t["out_gain"])), -_F.L_MAX, _F.L_MAX)
        expl = t["exp_logit"]
        j = np.minimum(z.max(axis=1)[:, None] - z, len(expl) - 1)
        e = expl[j]
        E = e.sum(axis=1)
        total = 1 << _F.FREQ_BITS
        M = ((total - self.V) << _F.FREQ_SHIFT) // E
        f = 1 + ((e * M[:, None]) >> _F.FREQ_SHIFT)
        rest = total - f.sum(axis=1)
        f[np.arange(T), np.argmax(z, axis=1)] += rest
        return f
