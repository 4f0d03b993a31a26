"""Exact integer helpers and deterministic table construction."""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from nzarc.neural.intops import (
    bitlen,
    exp_table,
    isqrt_i64,
    norm12,
    rne_div,
    rne_shift,
    rope_tables,
    silu_table,
)


def _rne(fr: Fraction) -> int:
    fl = math.floor(fr)
    rem = fr - fl
    if rem > Fraction(1, 2) or (rem == Fraction(1, 2) and fl % 2 == 1):
        return fl + 1
    return fl


@given(st.integers(-(2**50), 2**50), st.integers(1, 2**40))
def test_rne_div_matches_exact_rational_rounding(a: int, b: int) -> None:
    assert int(rne_div(np.int64(a), np.int64(b))) == _rne(Fraction(a, b))


@given(st.integers(-(2**50), 2**50), st.integers(-8, 40))
def test_rne_shift_matches_exact(a: int, s: int) -> None:
    assert int(rne_shift(np.array([a]), np.array([s]))[0]) == _rne(Fraction(a) / Fraction(2) ** s)


def test_rne_shift_ties_go_to_even() -> None:
    assert list(rne_shift(np.array([1, 3, 5, -1, -3, 2, 6]), 1)) == [0, 2, 2, 0, -2, 1, 3]


@given(st.integers(0, 2**62 - 1))
def test_isqrt_and_bitlen_are_exact(n: int) -> None:
    assert int(isqrt_i64(np.array([n]))[0]) == math.isqrt(n)
    assert int(bitlen(np.array([n]))[0]) == n.bit_length()
    m, k = norm12(np.array([n]))
    assert int(k[0]) == max(n.bit_length() - 12, 0) and int(m[0]) == n >> int(k[0])


def test_isqrt_near_perfect_squares() -> None:
    for r in (1, 2**20 - 1, 2**26 + 3, 2**31 - 1):
        for n in (r * r - 1, r * r, r * r + 1):
            assert int(isqrt_i64(np.array([n]))[0]) == math.isqrt(n)


def test_exp_tables_are_correct_monotone_and_end_in_zero() -> None:
    t = exp_table(15, 8)
    assert t[0] == 2**15 and t[-1] == 0 and len(t) % 16 == 0
    assert np.all(np.diff(t.astype(np.int64)) <= 0)
    for j in (1, 100, 1000, 2000):
        assert abs(int(t[j]) - 2**15 * math.exp(-j / 256)) <= 0.5 + 1e-9
    assert exp_table(15, 8).tobytes() == t.tobytes()


def test_silu_table_values() -> None:
    t = silu_table(1 << 14, 10)
    for g in (-16384, -1000, -1, 0, 1, 500, 16383):
        x = g / 1024
        assert abs(int(t[g + 16384]) - 1024 * x / (1 + math.exp(-x))) <= 0.5 + 1e-9


def test_rope_tables_match_float_within_rounding() -> None:
    c, s = rope_tables(300, 8, 10000, 14)
    p = np.arange(300)[:, None] * 10000.0 ** (-np.arange(8) / 8)
    assert np.abs(c - np.cos(p) * 16384).max() <= 0.5 + 1e-6
    assert np.abs(s - np.sin(p) * 16384).max() <= 0.5 + 1e-6
    c2, s2 = rope_tables(300, 8, 10000, 14)
    assert c.tobytes() == c2.tobytes() and s.tobytes() == s2.tobytes()
