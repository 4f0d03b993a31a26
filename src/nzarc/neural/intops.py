"""Exact integer building blocks of the nzarc-int-v1 runtime (see spec/NEURAL.md).

Two kinds of things live here:

* the deterministic construction of the integer tables a model file carries
  (exp tables, SiLU table, RoPE cos/sin tables). They are computed with Python
  integers and :mod:`decimal` only, never with the platform's libm, so every
  machine builds the same bytes;
* scalar/array helpers with exact integer semantics used by the numpy
  reference implementation and by the model converter (round-half-even
  division, integer square root, bit length, 12-bit dyadic normalisation).
"""

from __future__ import annotations

import decimal
from decimal import Decimal

import numpy as np

__all__ = [
    "RUNTIME_ID",
    "RUNTIME_V2",
    "RUNTIMES",
    "CACHE_BITS",
    "ACT_LEVELS",
    "FixedPoint",
    "DEFAULT_FIXED",
    "exp_table",
    "silu_table",
    "rope_tables",
    "rne_div",
    "rne_shift",
    "bitlen",
    "norm12",
    "isqrt_i64",
]

#: The runtime a model file names (its config's ``runtime_id``): every model file is made for it.
RUNTIME_ID = "nzarc-int-v1"
#: The compact-cache runtime (spec/NEURAL.md section 7): v1's model files and integers, with
#: keys and values rounded to 8 bits per position and KV head before attention uses them.
RUNTIME_V2 = "nzarc-int-v2"
#: Every runtime this package computes, oldest first.
RUNTIMES = (RUNTIME_ID, RUNTIME_V2)
#: nzarc-int-v2's cached keys and values: ``|k8|, |v8| <= 2**CACHE_BITS - 1`` (int8).
CACHE_BITS = 7

#: Activation precisions the runtime defines (spec/NEURAL.md section 3.4): 1 quantises each
#: linear layer's input to one int8 level (two for the FFN down projection), 2 to two levels.
ACT_LEVELS = (1, 2)


class FixedPoint:
    """The fixed-point constants of nzarc-int-v1 (fraction bits and table shapes).

    They are part of the runtime semantics and recorded in every model file.
    """

    FH = 10  # residual stream: h_real = h * 2**-FH
    FG = 12  # RMSNorm gains: g_real = G * 2**-FG
    FA = 10  # q/k projection outputs
    FV = 14  # v projection outputs and attention outputs
    FGU = 10  # gate/up projection outputs, SiLU table output
    FL = 8  # logits
    FZ = 8  # attention logits
    H_MAX = (1 << 26) - 1  # residual clamp
    QK_MAX = (1 << 20) - 1  # q/k projection clamp
    V_MAX = (1 << 22) - 1  # v projection clamp
    GU_MAX = (1 << 20) - 1  # gate/up clamp
    L_MAX = (1 << 20) - 1  # logit clamp
    SILU_HALF = 1 << 14  # SiLU table covers g in [-SILU_HALF, SILU_HALF)
    EXPA_BITS = 15  # attention exp table: round(2**15 * exp(-j / 2**FZ))
    EXPL_BITS = 24  # logit exp table:     round(2**24 * exp(-j / 2**FL))
    ROPE_BITS = 14  # cos/sin tables:      round(2**14 * cos(p * theta_i))
    MULT_BITS = 16  # per-row weight multiplier mantissa in [2**15, 2**16]
    TOK_BITS = 12  # per-token activation scale mantissa < 2**12
    RMS_P = 20  # RMSNorm token scale: c = floor(m * 2**RMS_P / isqrt(n))
    QK_BITS = 9  # attention operands: |q|, |k| <= 2**QK_BITS after power-of-two scaling
    FREQ_BITS = 24  # frequency tables sum to 2**FREQ_BITS
    FREQ_SHIFT = 28  # frequency multiplier precision

    @classmethod
    def as_dict(cls) -> dict[str, int]:
        return {k: int(v) for k, v in vars(cls).items() if k.isupper()}


DEFAULT_FIXED = FixedPoint.as_dict()

_CTX = decimal.Context(prec=60, rounding=decimal.ROUND_HALF_EVEN, Emax=10**6, Emin=-(10**6))


def _rne_decimal(x: Decimal) -> int:
    return int(x.to_integral_value(rounding=decimal.ROUND_HALF_EVEN, context=_CTX))


def exp_table(scale_bits: int, frac_bits: int) -> np.ndarray:
    """int32 table ``T[j] = round_half_even(2**scale_bits * exp(-j / 2**frac_bits))``.

    The table runs up to and including the first zero entry, padded with zeros
    to a multiple of 16 entries, so ``T[-1] == 0`` and every index past the
    end maps to 0 as well.
    """
    vals: list[int] = []
    one = Decimal(1 << scale_bits)
    step = Decimal(1) / Decimal(1 << frac_bits)  # exact: a power of two
    j = 0
    while True:
        v = _rne_decimal(_CTX.multiply(one, _CTX.exp(_CTX.multiply(Decimal(-j), step))))
        vals.append(v)
        if v == 0:
            break
        j += 1
    while len(vals) % 16:
        vals.append(0)
    return np.asarray(vals, dtype=np.int32)


def silu_table(half: int, frac_bits: int) -> np.ndarray:
    """int32 table ``S[i] = round_half_even(2**f * silu(g / 2**f))`` for ``g = i - half``.

    ``silu(x) = x / (1 + exp(-x))``; ``f = frac_bits``; ``i`` in ``[0, 2*half)``.
    """
    out = np.empty(2 * half, dtype=np.int64)
    scale = Decimal(1 << frac_bits)
    for i in range(2 * half):
        g = i - half
        x = _CTX.divide(Decimal(g), scale)
        s = _CTX.divide(x, _CTX.add(Decimal(1), _CTX.exp(-x)))
        out[i] = _rne_decimal(_CTX.multiply(s, scale))
    return out.astype(np.int32)


def _cos_sin_decimal(x: Decimal) -> tuple[Decimal, Decimal]:
    """cos and sin of ``x`` (|x| <= 4) by Taylor series at 60 digits."""
    c = Decimal(0)
    s = Decimal(0)
    term = Decimal(1)
    n = 0
    while True:
        # term = x**n / n!
        if n % 4 == 0:
            c = _CTX.add(c, term)
        elif n % 4 == 1:
            s = _CTX.add(s, term)
        elif n % 4 == 2:
            c = _CTX.subtract(c, term)
        else:
            s = _CTX.subtract(s, term)
        n += 1
        term = _CTX.divide(_CTX.multiply(term, x), Decimal(n))
        if term == 0 or abs(term) < Decimal("1e-70"):
            break
    return c, s


def rope_tables(
    max_len: int, half_dim: int, theta: int, bits: int
) -> tuple[np.ndarray, np.ndarray]:
    """int32 tables ``C[p, i] = rne(2**bits * cos(p * w_i))``, ``S`` likewise with sin.

    ``w_i = theta ** (-i / half_dim)`` for ``i`` in ``[0, half_dim)`` (so with
    ``half_dim = head_dim / 2`` this is ``theta ** (-2i / head_dim)``).
    Positions advance by exact complex multiplication in 160-bit fixed point
    starting from 60-digit values of ``cos w_i, sin w_i``; the accumulated error
    (< 2**-140) is far below what could change a rounded 2**-bits entry.
    """
    prec = 160
    one = 1 << prec
    lnt = _CTX.ln(Decimal(theta))
    cos_t = np.empty((max_len, half_dim), dtype=np.int32)
    sin_t = np.empty((max_len, half_dim), dtype=np.int32)
    sh = prec - bits
    half = 1 << (sh - 1)
    mask = (1 << sh) - 1

    def rnd(v: int) -> int:
        q = v >> sh
        r = v & mask
        if r > half or (r == half and (q & 1)):
            q += 1
        return q

    for i in range(half_dim):
        w = _CTX.exp(_CTX.multiply(-lnt, _CTX.divide(Decimal(i), Decimal(half_dim))))
        cw, sw = _cos_sin_decimal(w)
        c1 = _rne_decimal(_CTX.multiply(cw, Decimal(one)))
        s1 = _rne_decimal(_CTX.multiply(sw, Decimal(one)))
        c, s = one, 0
        for p in range(max_len):
            cos_t[p, i] = rnd(c)
            sin_t[p, i] = rnd(s)
            c, s = (c * c1 - s * s1) >> prec, (c * s1 + s * c1) >> prec
    return cos_t, sin_t


# ---------------------------------------------------------------- integer helpers


def rne_div(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Nearest integer to ``a / b`` (``b > 0``), ties to even. int64 arrays."""
    a = np.asarray(a, dtype=np.int64)
    b = np.asarray(b, dtype=np.int64)
    q = np.floor_divide(a, b)
    r = a - q * b  # 0 <= r < b
    twice = 2 * r
    up = (twice > b) | ((twice == b) & (q % 2 == 1))
    return q + up.astype(np.int64)


def rne_shift(a: np.ndarray, s: np.ndarray) -> np.ndarray:
    """``rne(a * 2**-s)`` for int64 ``a`` and integer ``s`` (any sign, elementwise)."""
    a = np.asarray(a, dtype=np.int64)
    s = np.broadcast_to(np.asarray(s, dtype=np.int64), a.shape)
    out = np.empty(a.shape, dtype=np.int64)
    neg = s <= 0
    out[neg] = a[neg] << (-s[neg])
    pos = ~neg
    if pos.any():
        out[pos] = rne_div(a[pos], np.int64(1) << s[pos])
    return out


def bitlen(x: np.ndarray) -> np.ndarray:
    """Bit length of non-negative int64 values (0 for 0)."""
    x = np.asarray(x, dtype=np.int64)
    out = np.zeros(x.shape, dtype=np.int64)
    v = x.copy()
    for k in (32, 16, 8, 4, 2, 1):
        big = v >= (np.int64(1) << k)
        out += np.where(big, k, 0)
        v = np.where(big, v >> k, v)
    out += (v > 0).astype(np.int64)
    return out


def norm12(c: np.ndarray, bits: int = FixedPoint.TOK_BITS) -> tuple[np.ndarray, np.ndarray]:
    """``(mant, k)`` with ``k = max(bitlen(c) - bits, 0)`` and ``mant = c >> k``."""
    c = np.asarray(c, dtype=np.int64)
    k = np.maximum(bitlen(c) - bits, 0)
    return c >> k, k


def isqrt_i64(n: np.ndarray) -> np.ndarray:
    """Exact ``floor(sqrt(n))`` for int64 ``0 <= n < 2**62``."""
    n = np.asarray(n, dtype=np.int64)
    r = np.floor(np.sqrt(n.astype(np.float64))).astype(np.int64)
    for _ in range(3):
        r = np.where(r * r > n, r - 1, r)
        r = np.where((r + 1) * (r + 1) <= n, r + 1, r)
    return r
