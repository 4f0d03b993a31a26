"""spec/NEURAL-CODEC.md section 5 against the version-2 code, so that neither drifts silently.

The constants table, the squash knots, the initial APM row and the test vectors are read from
the spec text itself. A small encoder written from the spec alone (constants taken from the
spec's table) codes synthetic LM tables and must give exactly the kernel's streams, which the
kernel's decoder must turn back into the tokens.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
import torch

from nzarc.neural import codec
from nzarc.neural.mix import binrc, kernel, tables
from nzarc.neural.mix.lmnodes import id_bits, path_counts

SPEC = (Path(__file__).resolve().parents[2] / "spec" / "NEURAL-CODEC.md").read_text()
SEC5 = SPEC[SPEC.index("## 5. Chunk bitstream, version 2") :]


def _constants() -> dict[str, tuple[int, str]]:
    """``name -> (value, code column)`` of the section 5.2 table."""
    out = {}
    for line in SEC5[: SEC5.index("### 5.3")].splitlines():
        m = re.match(r"^\| `(\w+)` \| (0x[0-9A-Fa-f]+|-?\d+) \| .* \| (.*) \|$", line)
        if m:
            out[m.group(1)] = (int(m.group(2), 0), m.group(3))
    return out


def _int_list(after: str, end: str) -> list[int]:
    start = SEC5.index(after) + len(after)
    return [int(v) for v in re.findall(r"\d+", SEC5[start : SEC5.index(end, start)])]


C = {k: v for k, (v, _) in _constants().items()}
KNOTS = _int_list("K = ", "```")
APM_ROW = _int_list("The initial APM\nrow is, for `j = 0 .. 32`:", "A lane's state")


# ----------------------------------------------------------------------------- stated facts


def test_constants_table_matches_the_code() -> None:
    found = _constants()
    assert len(found) >= 40
    checked = 0
    for name, (value, where) in found.items():
        m = re.fullmatch(r"`tables\.PARAMS\[\"(\w+)\"\]`", where)
        if m:
            assert tables.PARAMS[m.group(1)] == value, name
            checked += 1
            continue
        m = re.fullmatch(r"`(tables|binrc|codec)\.([A-Z_][A-Z0-9_]*)`", where)
        if m:
            module = {"tables": tables, "binrc": binrc, "codec": codec}[m.group(1)]
            assert getattr(module, m.group(2)) == value, name
            checked += 1
    assert checked >= 16
    assert set(tables.PARAMS) == {n for n, (_, w) in found.items() if "PARAMS" in w}
    assert C["NIN"] == C["orders"] + 3
    assert C["CONF3"] == (1 << 24) - (1 << 21) and C["CONF2"] == 1 << 23 and C["CONF1"] == 1 << 21
    assert round(128 * np.log(2) * 2 ** C["LM_SHIFT"] / 2**16) == C["LM_SCALE"]
    assert C["count_limit"] <= 255  # the 8-bit count field of a context slot


def test_squash_knots_and_tables() -> None:
    assert KNOTS == tables.SQUASH_KNOTS.tolist()
    made = [
        min(65535, max(1, int(np.floor(65536 / (1 + np.exp(-(32 * i - 2048) / 128)) + 0.5))))
        for i in range(129)
    ]
    assert made == KNOTS
    sq, st = tables.squash_table(), tables.stretch_table()
    d = np.arange(-2047, 2048)
    u = d + 2048
    k = np.asarray(KNOTS)
    assert np.array_equal(sq, np.clip((k[u >> 5] * (32 - (u & 31)) + k[(u >> 5) + 1] * (u & 31) + 16) >> 5, 1, 65535))
    assert np.array_equal(st, np.searchsorted(sq, np.arange(65536), side="left") - 2047)
    assert st.min() == -2047 and st.max() == 1360
    assert sq[-1361 + 2047] == 1 and sq[-1360 + 2047] > 1 and sq[1360 + 2047] == 65535 > sq[1359 + 2047]


def _vectors() -> list[tuple[str, int, int]]:
    rows = []
    for line in SEC5[SEC5.index("### 5.14") :].splitlines():
        m = re.match(r"^\| `(\w+)` \| (0x[0-9A-Fa-f]+|-?\d+) \| (-?\d+) \|$", line)
        if m:
            rows.append((m.group(1), int(m.group(2), 0), int(m.group(3))))
    return rows


def test_vectors_of_section_5_14() -> None:
    funcs = {
        "mix32": tables._mix32,
        "squash": lambda d: int(tables._SQ[d + 2047]),
        "stretch": lambda p: int(tables._ST[p]),
        "log2q16": tables._log2q16,
        "RATE": lambda n: int(tables._RATE[n]),
    }
    rows = _vectors()
    assert {f for f, _, _ in rows} == set(funcs) and len(rows) >= 25
    for f, arg, value in rows:
        assert funcs[f](arg) == value, (f, arg)
        assert _REF[f](arg) == value, (f, arg)
    # log2q16 is its procedure, not floor(65536 log2 a): 14917 is one below.
    assert int(np.floor(65536 * np.log2(14917))) == tables._log2q16(14917) + 1


def test_rate_table_and_slot_bounds() -> None:
    n = np.arange(256)
    assert np.array_equal(tables._RATE, 131072 // (2 * n + 3))
    # The slot update keeps q in 0..65535 for every q and count (section 5.13).
    q = np.arange(65536, dtype=np.int64)[:, None]
    r = tables._RATE[None, : C["count_limit"] + 1]
    for target in (0, 65535):
        nq = q + (((target - q) * r) >> 16)
        assert nq.min() >= 0 and nq.max() <= 65535


def test_initial_state_and_its_size() -> None:
    vocab, cap = 49152, 1000
    bits = id_bits(vocab)
    ctab, hist, mtab, mm, w, apm, sc = tables.new_state(1, vocab, cap)
    assert APM_ROW == apm[0, 0].tolist() and len(APM_ROW) == C["APM_KNOTS"]
    assert np.all(ctab == C["P_INIT"] << 16) and np.all(mm == C["MM_INIT"]) and not mtab.any()
    assert w.shape == (1, (16 + C["MIX2_SETS"]) * bits, C["NIN"])
    assert np.all(w[0, :, 0] == C["W_LM"]) and np.all(w[0, :, 1:-1] == C["W_MODEL"])
    assert np.all(w[0, :, -1] == C["W_BIAS"])
    per_lane = (
        4 * C["orders"] * 2 ** C["table_bits"] + 4 * cap + 4 * 2 ** C["match_bits"]
        + 4 * C["MLB"] * bits + 4 * (16 + C["MIX2_SETS"]) * bits * C["NIN"] + 4 * C["APM_KNOTS"] * 2 ** C["apm_bits"]
        + 8 * C["NSC"]
    )
    assert tables.state_bytes(3, vocab, cap) == 3 * per_lane
    assert sum(a.nbytes for a in (ctab, hist, mtab, mm, w, apm, sc)) == per_lane
    assert "24,324,128" in SEC5 and per_lane - 4 * cap == 24_324_128


def test_weight_step_bound() -> None:
    worst = 2047 * 65535 * C["mixer_lr"]
    step = -((-worst) >> C["LR_SHIFT"])  # the negative extreme, floor of the shift
    assert step == -(-worst // 2 ** C["LR_SHIFT"])
    assert f"({step} at `mixer_lr = {C['mixer_lr']}`" in SEC5
    # the clamp keeps every weight, and every weight plus one step, inside int32
    assert C["W_LIMIT"] + step + 1 < 2**20 < 2**31 and worst < 2**38
    assert C["NIN"] * C["W_LIMIT"] * 2047 < 2**34


# ----------------------------------------------------------------------------- spec-driven encoder

M32 = C["M32"]


def _mix32(x: int) -> int:
    x &= M32
    x = ((x ^ (x >> 16)) * C["MIXM"]) & M32
    x = ((x ^ (x >> 16)) * C["MIXM"]) & M32
    return x ^ (x >> 16)


def _clamp(a: int, lo: int, hi: int) -> int:
    return min(hi, max(lo, a))


def _squash_list() -> list[int]:
    out = []
    for d in range(-2047, 2048):
        u = d + 2048
        i, f = u >> 5, u & 31
        out.append(_clamp((KNOTS[i] * (32 - f) + KNOTS[i + 1] * f + 16) >> 5, 1, 65535))
    return out


SQ = _squash_list()
ST = [int(v) - 2047 for v in np.searchsorted(np.asarray(SQ), np.arange(65536), side="left")]


def _log2q16(a: int) -> int:
    e = a.bit_length() - 1
    m = a << (30 - e)
    f = 0
    for i in range(16):
        m = (m * m) >> 30
        if m >= 1 << 31:
            m >>= 1
            f |= 1 << (15 - i)
    return (e << 16) | f


RATE = [131072 // (2 * n + 3) for n in range(256)]
_REF = {
    "mix32": _mix32,
    "squash": lambda d: SQ[d + 2047],
    "stretch": lambda p: ST[p],
    "log2q16": _log2q16,
    "RATE": lambda n: RATE[n],
}


class _Encoder:
    """Section 1.2 at ``freq_bits = FB``."""

    def __init__(self) -> None:
        self.low, self.range, self.cache, self.pending, self.shifts = 0, C["TOP"], -1, 0, 0
        self.out = bytearray()

    def _shift(self) -> None:
        self.shifts += 1
        if self.cache < 0:
            self.cache = self.low >> 48
        elif self.low < 0xFF << 48 or self.low >= C["TOP"]:
            carry = self.low >> 56
            self.out.append((self.cache + carry) & 0xFF)
            self.out += bytes([(0xFF + carry) & 0xFF]) * self.pending
            self.pending = 0
            self.cache = (self.low >> 48) & 0xFF
        else:
            self.pending += 1
        self.low = (self.low << 8) & (C["TOP"] - 1)

    def encode(self, cum: int, freq: int) -> None:
        r = self.range >> C["FB"]
        self.low += r * cum
        self.range = r * freq
        while self.range < C["BOT"]:
            self.range <<= 8
            self._shift()

    def finish(self) -> bytes:
        top, bot = C["TOP"], C["BOT"]
        v = -(-self.low // top) * top
        if not v < self.low + self.range:
            v = -(-self.low // bot) * bot
        n = self.shifts + (0 if v & (top - 1) == 0 else 1)
        self.low = v
        for _ in range(7):
            self._shift()
        if self.cache >= 0:
            self.out.append(self.cache)
        self.out += b"\xff" * self.pending
        return bytes(self.out[:n])


class _Lane:
    """One lane's state (section 5.4) and the coding of a token (sections 5.7-5.10)."""

    def __init__(self, vocab: int, cap: int) -> None:
        self.V, self.B = vocab, id_bits(vocab)
        self.ctab: list[dict[int, int]] = [{} for _ in range(C["orders"])]
        self.hist = [0] * cap
        self.mtab: dict[int, int] = {}
        self.mm = [C["MM_INIT"]] * (C["MLB"] * self.B)
        first = [C["W_LM"]] + [C["W_MODEL"]] * (C["NIN"] - 2) + [C["W_BIAS"]]
        self.w = [list(first) for _ in range((16 + C["MIX2_SETS"]) * self.B)]
        self.apm: dict[int, list[int]] = {}
        self.pos = self.mptr = self.mlen = 0
        self.buckets: set[int] = set()  # match length buckets used

    def code(self, table: list[int], tok: int, enc: _Encoder) -> None:
        V, B, orders = self.V, self.B, C["orders"]
        cum = [0]
        for f in table:
            cum.append(cum[-1] + f)
        h = C["H0"]
        hs = [h]
        for k in range(1, orders):
            t = self.hist[self.pos - k] if self.pos >= k else V
            h = _mix32(h * C["FNV"] + t + 1 + k)
            hs.append(h)
        prev = self.hist[self.pos - 1] if self.pos >= 1 else V
        mlen = self.mlen
        mtok = self.hist[self.mptr] if mlen > 0 else -1
        top = max(table)
        conf = 3 if top >= C["CONF3"] else 2 if top >= C["CONF2"] else 1 if top >= C["CONF1"] else 0
        mb = 0 if mlen == 0 else 1 if mlen < 16 else 2 if mlen < 32 else 3
        self.buckets.add(mb)
        mlb = mlen if mlen < 16 else min(C["MLB"] - 1, 16 + ((mlen - 16) >> 3))
        ahash = _mix32(prev * C["GOLD"] + C["ASALT"])
        node, lo, on_match = 1, 0, mlen > 0
        fresh = C["P_INIT"] << 16
        for b in range(B):
            shift = B - 1 - b
            mid = lo + (1 << shift)
            if mid >= V:
                node *= 2
                continue
            hi = min(lo + (2 << shift), V)
            n0, n1 = cum[mid] - cum[lo], cum[hi] - cum[mid]
            lm = ((_log2q16(n1) - _log2q16(n0)) * C["LM_SCALE"]) >> C["LM_SHIFT"]
            x = [_clamp(lm, -2047, 2047)]
            slots = []
            for k in range(orders):
                v = _mix32((hs[k] + node * C["GOLD"] + k * C["KSALT"]) & M32)
                i, c = v >> (32 - C["table_bits"]), v & 255
                e = self.ctab[k].get(i, fresh)
                if e & 255 != c:
                    e = fresh | c
                    self.ctab[k][i] = e
                slots.append(i)
                x.append(ST[e >> 16] if (e >> 8) & 255 > 0 else 0)
            ebit, mctx = -1, 0
            if on_match:
                ebit, mctx = (mtok >> shift) & 1, mlb * B + b
                s = ST[self.mm[mctx]]
                x.append(s if ebit == 1 else -s)
            else:
                x.append(0)
            x.append(C["BIAS"])
            ws1 = (mb * 4 + conf) * B + b
            ws2 = (16 + prev % C["MIX2_SETS"]) * B + b
            dots = [
                _clamp(sum(wj * xj for wj, xj in zip(self.w[ws], x, strict=True)) >> C["DOT_SHIFT"], -2047, 2047)
                for ws in (ws1, ws2)
            ]
            dot = (dots[0] + dots[1]) >> 1
            pm = SQ[dot + 2047]
            actx = _mix32(ahash + node) & ((1 << C["apm_bits"]) - 1)
            row = self.apm.setdefault(actx, list(APM_ROW))
            aj, aw = (dot + 2048) >> 7, (dot + 2048) & 127
            pa = (row[aj] * (128 - aw) + row[aj + 1] * aw) >> 7
            p = _clamp((pm + 3 * pa) >> 2, 1, 65535)
            bit = (tok >> shift) & 1
            if bit:
                enc.encode(65536 - p, p)
            else:
                enc.encode(0, 65536 - p)
            for ws, d in zip((ws1, ws2), dots, strict=True):
                err = bit * 65536 - SQ[d + 2047]
                self.w[ws] = [
                    _clamp(wj + ((xj * err * C["mixer_lr"]) >> C["LR_SHIFT"]), -C["W_LIMIT"], C["W_LIMIT"] - 1)
                    for wj, xj in zip(self.w[ws], x, strict=True)
                ]
            target = 65535 * bit
            ak = aj + (aw >> 6)
            row[ak] += (target - row[ak]) >> C["apm_rate"]
            for k in range(orders):
                e = self.ctab[k].get(slots[k], fresh)
                q, n = e >> 16, (e >> 8) & 255
                q += ((target - q) * RATE[n]) >> 16
                n += 1 if n < C["count_limit"] else 0
                self.ctab[k][slots[k]] = (q << 16) | (n << 8) | (e & 255)
            if ebit >= 0:
                self.mm[mctx] += ((65535 if bit == ebit else 0) - self.mm[mctx]) >> C["MM_RATE"]
                on_match = on_match and bit == ebit
            node = 2 * node + bit
            lo = mid if bit else lo
        assert node - (1 << B) == lo == tok
        self._token_end(tok, mtok)

    def _token_end(self, tok: int, mtok: int) -> None:
        self.hist[self.pos] = tok
        if self.mlen > 0:
            if mtok == tok:
                self.mptr += 1
                self.mlen = min(self.mlen + 1, C["MATCH_CAP"])
            else:
                self.mlen = 0
        self.pos += 1
        pos = self.pos
        if pos < C["match_min"]:
            return
        mh = 0
        for k in range(1, C["match_min"] + 1):
            mh = _mix32(mh * C["FNV"] + self.hist[pos - k] + 1)
        mi = mh >> (32 - C["match_bits"])
        cand = self.mtab.get(mi, 0)
        if self.mlen == 0 and cand > 0:
            n = 0
            while (
                n < C["MATCH_VERIFY"]
                and cand - 1 - n >= 0
                and self.hist[cand - 1 - n] == self.hist[pos - 1 - n]
            ):
                n += 1
            if n > 0:
                self.mptr, self.mlen = cand, n
        self.mtab[mi] = pos


# ----------------------------------------------------------------------------- against the kernel

VOCAB = 300  # not a power of two: some decisions are skipped
WINDOW = 24
LANES = 2


def _sample() -> tuple[list[int], np.ndarray]:
    """Tokens with long repeats, and peaked LM tables (every confidence bucket) summing to 2**24."""
    rng = np.random.default_rng(18)
    phrase = rng.integers(0, VOCAB, 45).tolist()
    tokens = phrase * 3 + rng.integers(0, VOCAB, 10).tolist() + phrase[:30] + [VOCAB - 1] * 12
    raw = rng.pareto(0.7, (len(tokens), VOCAB)) + 1e-3
    for t, peak in enumerate(rng.choice([1, 30, 300, 3000], len(tokens))):
        raw[t, rng.integers(0, VOCAB) if t % 3 else tokens[t]] *= peak
    table = np.floor(raw / raw.sum(axis=1, keepdims=True) * ((1 << 24) - VOCAB)).astype(np.int64) + 1
    rows = np.arange(len(tokens))
    table[rows, table.argmax(axis=1)] += (1 << 24) - table.sum(axis=1)
    assert np.all(table >= 1) and np.all(table.sum(axis=1) == 1 << 24)
    return tokens, table


def test_spec_encoder_gives_the_kernels_bytes() -> None:
    tokens, table = _sample()
    T, W = len(tokens), -(-len(tokens) // WINDOW)
    cap = -(-W // LANES) * WINDOW
    tops = table.max(axis=1)
    assert {int(np.searchsorted([C["CONF1"], C["CONF2"], C["CONF3"]], t, side="right")) for t in tops} == {0, 1, 2, 3}
    counts, top = path_counts(torch.as_tensor(table, dtype=torch.int32), torch.as_tensor(tokens))
    assert np.array_equal(top.numpy(), tops)
    state = kernel.new_state(LANES, VOCAB, cap)
    buckets: set[int] = set()
    mine: dict[int, bytes] = {}
    theirs: dict[int, bytes] = {}
    for j in range(LANES):
        lane = _Lane(VOCAB, cap)
        for w in range(j * W // LANES, (j + 1) * W // LANES):
            s, e = w * WINDOW, min(T, (w + 1) * WINDOW)
            enc = _Encoder()
            for t in range(s, e):
                lane.code(table[t].tolist(), tokens[t], enc)
            mine[w] = enc.finish()
            theirs[w] = kernel.encode_window(
                state, j, VOCAB, np.asarray(tokens[s:e]), counts[s:e].numpy(), top[s:e].numpy()
            )
        buckets |= lane.buckets
    assert buckets == {0, 1, 2, 3}  # every match length bucket was used
    assert [mine[w] for w in range(W)] == [theirs[w] for w in range(W)]
    assert all(len(mine[w]) <= 2 * id_bits(VOCAB) * WINDOW + 1 for w in range(W))
    _decode_back(tokens, table, [mine[w] for w in range(W)], cap)


def _decode_back(tokens: list[int], table: np.ndarray, streams: list[bytes], cap: int) -> None:
    """The kernel's lockstep decoder (round r: the r-th window of each lane) returns the tokens."""
    W = len(streams)
    plan = [range(j * W // LANES, (j + 1) * W // LANES) for j in range(LANES)]
    state = kernel.new_state(LANES, VOCAB, cap)
    cdf = np.cumsum(table, axis=1).astype(np.int32)
    got: list[int] = [-1] * len(tokens)
    for rnd in range(max(len(p) for p in plan)):
        jobs = [(j, p[rnd]) for j, p in enumerate(plan) if rnd < len(p)]
        rd, data = kernel.decode_start([streams[w] for _, w in jobs])
        for i in range(WINDOW):
            live = [(r, j, w) for r, (j, w) in enumerate(jobs) if w * WINDOW + i < len(tokens)]
            at = [w * WINDOW + i for _, _, w in live]
            sym = kernel.decode_step(
                state, np.asarray([j for _, j, _ in live]), np.asarray([r for r, _, _ in live]),
                VOCAB, cdf[at], table[at].max(axis=1), rd, data,
            )
            assert not rd[:, 4].any()
            for t, s in zip(at, sym, strict=True):
                got[t] = int(s)
        assert kernel.decode_finish(rd).all()
    assert got == tokens


@pytest.mark.parametrize("flip", [0, 5])
def test_kernel_decoder_flags_a_damaged_stream(flip: int) -> None:
    tokens, table = _sample()
    tokens, table = tokens[:WINDOW], table[:WINDOW]
    enc = _Encoder()
    lane = _Lane(VOCAB, WINDOW)
    for t, tok in enumerate(tokens):
        lane.code(table[t].tolist(), tok, enc)
    stream = bytearray(enc.finish())
    stream[flip] ^= 0x40
    state = kernel.new_state(1, VOCAB, WINDOW)
    cdf = np.cumsum(table, axis=1).astype(np.int32)
    rd, data = kernel.decode_start([bytes(stream)])
    out = []
    for t in range(WINDOW):
        sym = kernel.decode_step(
            state, np.zeros(1, np.int64), np.zeros(1, np.int64), VOCAB, cdf[t : t + 1],
            table[t : t + 1].max(axis=1), rd, data,
        )
        out.append(int(sym[0]))
    assert out != tokens or not kernel.decode_finish(rd).all() or bool(rd[0, 4])
