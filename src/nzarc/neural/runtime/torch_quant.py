"""Activation quantisation (spec/NEURAL.md section 3.1) on torch tensors, exactly.

Contract: for float64 tensors holding integers within the stated bounds, every function
returns the integers (or exact dyadic scales) the spec defines; float64 arithmetic is used
only where every intermediate is an integer or dyadic value below 2**53. Tensors may live
on any device: the operations used (products and sums of such values, IEEE division and
round-half-even, frexp, comparisons) are correctly rounded, hence exact, on the CPU and on
CUDA alike; the per-row integer scale arithmetic runs in numpy on the CPU.
"""

from __future__ import annotations

import numpy as np
import torch

from nzarc.neural.intops import FixedPoint

__all__ = ["bitlen_small", "isqrt_np", "pow2", "quant_levels"]

_F = FixedPoint


def bitlen_small(m: torch.Tensor) -> torch.Tensor:
    """Bit length of non-negative float64 integers < 2**53 (exact via frexp)."""
    return torch.frexp(m)[1].to(torch.int64)


def pow2(e: torch.Tensor) -> torch.Tensor:
    """``2.0 ** e`` for int64 ``e`` in [-1022, 1023] as float64, built from its bits (the
    biased exponent, a zero mantissa): exact on every device, with no library ``pow``."""
    return (e + 1023).bitwise_left_shift_(52).view(torch.float64)


def _bitlen_np(c: np.ndarray) -> np.ndarray:
    """Bit length of non-negative int64 values < 2**62."""
    bl = np.frexp(c.astype(np.float64))[1].astype(np.int64)
    # float64 rounding may bump c up to the next power of two: correct downwards
    too_big = (bl > 0) & ((np.int64(1) << np.maximum(bl - 1, 0)) > c)
    return bl - too_big


def _token_scale(c: np.ndarray, offset: int, device: torch.device) -> torch.Tensor:
    """Dyadic token scale xm * 2**(k - offset) (float64, exact) with (xm, k) = N(c), computed
    on the CPU and placed on ``device`` (a copy: the same values)."""
    k = np.maximum(_bitlen_np(c) - _F.TOK_BITS, 0)
    return torch.from_numpy(np.ldexp((c >> k).astype(np.float64), k - offset)).to(device)


def isqrt_np(n: np.ndarray) -> np.ndarray:
    """Exact floor(sqrt(n)) for int64 0 <= n < 2**62."""
    r = np.floor(np.sqrt(n.astype(np.float64))).astype(np.int64)
    for _ in range(2):
        r = np.where(r * r > n, r - 1, r)
        r = np.where((r + 1) * (r + 1) <= n, r + 1, r)
    return r


def _quant_act(v: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-row int8 quantisation of float64 integers (|v| < 2**45).

    Returns (q int8, m int64) with ``q = rne(127 v / m)``, ``m = max|v|`` (q = 0 when m = 0).
    """
    # (amax and amin separately: much faster than aminmax on CPU)
    m = torch.maximum(v.amax(dim=-1), v.amin(dim=-1).neg_())
    safe = torch.where(m > 0, m, torch.ones_like(m))
    q = (v * 127.0).div_(safe[:, None]).round_()
    return q.to(torch.int8), m.to(torch.int64)


def quant_levels(
    v: torch.Tensor, levels: int, r: np.ndarray | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """Q of float64 integer rows v [M, n] (|v| < 2**45) in ``levels`` (1 or 2) int8 levels.

    Returns (q int8 [levels·M, n], xd float64 [levels·M]), row i's levels at rows
    levels·i + k, with the token scales of spec section 3.1: AQ when ``r`` is None, else RQ
    with RMS denominators ``r`` (int64 [M]). Level 2 quantises the exact residual
    127·v - q1·m1 (|.| <= m1 / 2) with scale N((m2·2^20) // (127·r)) minus 20 (r = 1 for AQ).
    """
    dev = v.device
    q1, m1 = _quant_act(v)
    m1n = m1.cpu().numpy()  # the integer scale arithmetic runs in numpy, on the CPU
    xd1 = _token_scale(m1n, 0, dev) if r is None else _token_scale((m1n << _F.RMS_P) // r, _F.RMS_P, dev)
    if levels == 1:
        return q1, xd1
    res = v.mul(127.0).sub_(q1.double().mul_(m1.double()[:, None]))  # exact: < 2**52
    q2, m2 = _quant_act(res)
    rr = np.int64(127) if r is None else 127 * r
    xd2 = _token_scale((m2.cpu().numpy() << _F.RMS_P) // rr, _F.RMS_P, dev)
    return torch.stack([q1, q2], 1).flatten(0, 1), torch.stack([xd1, xd2], 1).flatten()
