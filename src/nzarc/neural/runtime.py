"""The nzarc-int-v1 language-model runtime: exact integer inference on torch tensors.

Semantics are defined in spec/NEURAL.md (and executable, slowly, in
:mod:`nzarc.neural.reference`). This module computes the *same integers*
with fast tensor operations: int8 GEMMs (``torch._int_mm`` when a start-up
self-test proves it exact here, else float32 GEMMs on integer values with
every partial sum below 2**24), then the element-wise work of each block
either in the fused CPU kernels of :mod:`nzarc.neural.cpu_kernels` (numba;
the default on CPU) or in torch operations (``NZARC_KERNELS=torch``, and
where numba is missing), with float64 arithmetic only where every
intermediate is an integer or dyadic value below 2**53. Results are
therefore identical across thread counts, ISAs, batch shapes, element-wise
routes and between prefill and incremental decoding.

Public API (shapes are exact)::

    m = load_model(sha256_or_path)          # IntModel, weights mmapped read-only
    m.name, m.weights_sha256, m.tokenizer_sha256, m.runtime_id == "nzarc-int-v1"
    m.vocab_size (V), m.freq_bits (24), m.bos_id, m.max_len (longest window, 8192)
    m.tokenizer.encode(data: bytes) -> list[int]; m.tokenizer.decode(ids) -> bytes
    m.act_levels (1 for a loaded model); m.with_act_levels(P) -> the same weights computing
        with activation precision P in (1, 2) (spec/NEURAL.md section 3.4; P = 2 costs two
        int8 GEMM rows per token in every linear layer). Everything below follows it.

    m.prefill_freqs(tokens, slab=256) -> Iterator[tuple[int, IntTensor]]
        tokens: LongTensor[B, T] (1 <= T <= max_len; ids in [0, V)); rows may be
        right-padded with any valid id (causal: padding never changes earlier rows).
        Yields (t0, F) with F: torch.int32 [B, n, V], n <= slab, covering
        t0 .. t0+n-1 in order. F[b, i] is the distribution of token t0+i+1 given
        tokens[b, :t0+i+1]: every entry >= 1, each row sums to 2**freq_bits.
    m.prefill_all(tokens) -> IntTensor[B, T, V]   (concatenation of the above)

    s = m.session(batch=B, max_len=L)         # L <= m.max_len; KV cache for B windows
    s.step(tokens: LongTensor[b], rows: LongTensor[b] | None = None) -> IntTensor[b, V]
        Appends tokens[i] to window rows[i] (all rows 0..B-1 when rows is None;
        rows distinct) and returns the table for the next token of each of those
        windows: identical to the prefill row for the same prefix. Rows are
        independent and may be at different positions.
    s.reset(rows: LongTensor | None = None)  # empty those windows (all when None)
    s.positions -> LongTensor[B]              # tokens held per window

Tensors are CPU tensors; inputs are validated (shape, dtype, id range, length)
and bad ones raise ValueError (programming errors, not input data). A model file
whose tensors do not match its config raises FormatError at load time.

An IntModel holds no per-call state and may be shared by threads; a Session
belongs to one thread at a time. ``matmul_backend()`` reports the exact GEMM
route (``NZARC_MATMUL=fp32|fp64`` forces a float route, for tests). Work per
call is linear in B*T (plus B*T*T/2 for attention); memory is about
B*T*(d*8*6) bytes for prefill activations plus about 128*V*4*2 bytes for the
output stage, and ``B*L*m.kv_bytes_per_token`` bytes for a session's caches.
"""

from __future__ import annotations

import copy
import os
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from nzarc.neural.intops import ACT_LEVELS, RUNTIME_ID, FixedPoint
from nzarc.neural.modelfile import ModelFile
from nzarc.neural.store import file_sha256

__all__ = ["load_model", "IntModel", "Session", "matmul_backend", "file_sha256"]

_F = FixedPoint


# ------------------------------------------------------------------ matmul backends

_BACKEND_LOCK = threading.Lock()
_BACKEND: str | None = None


def _int_mm_exact() -> bool:
    """Self-test of ``torch._int_mm`` on worst-case and random operands."""
    if not hasattr(torch, "_int_mm"):
        return False
    try:
        g = torch.Generator().manual_seed(1234)
        cases = []
        for m_, k_, n_ in (
            (1, 1536, 576),
            (8, 576, 960),
            (33, 1536, 64),
            (64, 576, 3072),
            (300, 576, 128),
        ):
            a = torch.randint(-127, 128, (m_, k_), generator=g, dtype=torch.int8)
            b = torch.randint(-127, 128, (n_, k_), generator=g, dtype=torch.int8)
            cases.append((a, b))
            cases.append(
                (
                    torch.full((m_, k_), 127, dtype=torch.int8),
                    torch.full((n_, k_), 127, dtype=torch.int8),
                )
            )
            cases.append(
                (
                    torch.full((m_, k_), -127, dtype=torch.int8),
                    torch.full((n_, k_), 127, dtype=torch.int8),
                )
            )
            alt = torch.tensor([127, -127], dtype=torch.int8).repeat(k_ // 2)
            cases.append((alt.repeat(m_, 1), torch.full((n_, k_), -127, dtype=torch.int8)))
        for a, b in cases:
            got = torch._int_mm(a, b.t())
            want = (a.double() @ b.double().t()).to(torch.int64)
            if got.dtype != torch.int32 or not torch.equal(got.to(torch.int64), want):
                return False
        return True
    except Exception:
        return False


def matmul_backend() -> str:
    """The exact int8 GEMM route used in this process: ``intmm``, ``fp32`` or ``fp64``.

    ``NZARC_MATMUL`` forces one (``intmm`` is still refused if its self-test fails).
    """
    global _BACKEND
    with _BACKEND_LOCK:
        if _BACKEND is None:
            forced = os.environ.get("NZARC_MATMUL", "").strip().lower()
            if forced in ("fp32", "fp64"):
                _BACKEND = forced
            else:
                _BACKEND = "intmm" if _int_mm_exact() else "fp32"
        return _BACKEND


_KERNELS_LOCK = threading.Lock()
_KERNELS: object | None = None
_KERNELS_CHECKED = False


def fused_kernels():  # -> module | None
    """The fused CPU kernel module (:mod:`nzarc.neural.cpu_kernels`), or None for the torch path.

    ``NZARC_KERNELS=torch`` forces the torch path; otherwise the fused kernels are used when
    numba is importable. Both paths compute the same integers (spec/NEURAL.md).
    """
    global _KERNELS, _KERNELS_CHECKED
    with _KERNELS_LOCK:
        if not _KERNELS_CHECKED:
            _KERNELS_CHECKED = True
            if os.environ.get("NZARC_KERNELS", "").strip().lower() != "torch":
                try:
                    from nzarc.neural import cpu_kernels

                    _KERNELS = cpu_kernels
                except ImportError:  # numba missing: the torch path computes the same integers
                    _KERNELS = None
                except OSError as exc:  # llvmlite's library failing to map: a memory limit
                    from nzarc.neural.resources import memory_failure

                    _KERNELS_CHECKED = False
                    raise (memory_failure("the fused CPU kernels (numba)", exc) or exc) from None
        return _KERNELS


def kernels_name() -> str:
    """``fused`` (numba CPU kernels) or ``torch``: the element-wise route of this process."""
    return "fused" if fused_kernels() is not None else "torch"


def _sync_threads() -> None:
    """Run the fused kernels on as many threads as torch uses."""
    import numba

    n = max(1, min(torch.get_num_threads(), numba.config.NUMBA_NUM_THREADS))
    if numba.get_num_threads() != n:
        numba.set_num_threads(n)


class _Linear:
    """int8 weight [N, K] with per-row dyadic multipliers; exact accumulation."""

    def __init__(self, w: np.ndarray, m: np.ndarray, e: np.ndarray) -> None:
        self.w = torch.from_numpy(w)  # int8 [N, K] (mmap, copy-on-write)
        self.n, self.k = self.w.shape
        # m * 2**-e as float64: exact (m < 2**17)
        self.mult = torch.from_numpy(np.ldexp(m.astype(np.float64), -e.astype(np.int64)))
        self.mult_np = self.mult.numpy()
        self._wf: torch.Tensor | None = None

    def acc(self, x: torch.Tensor) -> torch.Tensor:
        """Exact ``x @ w.T`` for int8 ``x`` [M, K]; int32 or float64 result holding integers."""
        be = matmul_backend()
        if be == "intmm":
            if x.shape[0] == 0:
                return torch.zeros((0, self.n), dtype=torch.int32)
            return torch._int_mm(x, self.w.t())
        if self._wf is None:
            dt = torch.float32 if be == "fp32" else torch.float64
            self._wf = self.w.to(dt)
        wf = self._wf
        xf = x.to(wf.dtype)
        if wf.dtype == torch.float64 or self.k <= 1024:
            return xf @ wf.t()
        # float32: split K so that every partial sum is below 127*127*1024 < 2**24
        out = None
        for k0 in range(0, self.k, 1024):
            part = (xf[:, k0 : k0 + 1024] @ wf[:, k0 : k0 + 1024].t()).double()
            out = part if out is None else out + part
        return out

    def requant(self, x: torch.Tensor, xd: torch.Tensor, levels: int = 1) -> torch.Tensor:
        """Lin: ``Σ_k rne(acc * m_r * 2**-e_r * xd)`` over the ``levels`` rows of each token
        (float64 integers [M, N]); ``x`` int8 [levels·M, K], ``xd`` [levels·M] dyadic."""
        return self.scale(self.acc(x), xd, levels)

    def scale(self, a: torch.Tensor, xd: torch.Tensor, levels: int = 1) -> torch.Tensor:
        """Lin from accumulators ``a`` [levels·M, N] (integers), as :meth:`requant`."""
        # ``a`` holds integers (|acc| < 2**25): the conversion is exact, and so are both
        # products (acc * m < 2**42; times xd's mantissa: below 2**53). The conversion
        # first, then in-place products: much faster than a mixed int32 * float64 product.
        out = a.to(torch.float64)
        if out is a:
            out = a.clone()
        out.mul_(self.mult)
        out.mul_(xd[:, None])
        out.round_()
        if levels == 1:
            return out
        # a sum of integers below 2**53 for a conforming model: exact
        return out.view(-1, levels, out.shape[1]).sum(dim=1)


def _score_shift(head_dim: int) -> int:
    """Exponent turning q10*k10 into attention logits in units 2**-FZ."""
    half_log = (head_dim.bit_length() - 1) // 2
    if head_dim not in (4, 16, 64):  # 64 * 512**2 = 2**24 bounds the float32 score sums
        from nzarc.errors import FormatError

        raise FormatError(f"head dimension {head_dim} is not supported (4, 16 or 64)")
    return 2 * (_F.FA + _F.ROPE_BITS) + half_log - _F.FZ


def _bitlen_small(m: torch.Tensor) -> torch.Tensor:
    """Bit length of non-negative float64 integers < 2**53 (exact via frexp)."""
    return torch.frexp(m)[1].to(torch.int64)


def _bitlen_np(c: np.ndarray) -> np.ndarray:
    """Bit length of non-negative int64 values < 2**62."""
    bl = np.frexp(c.astype(np.float64))[1].astype(np.int64)
    # float64 rounding may bump c up to the next power of two: correct downwards
    too_big = (bl > 0) & ((np.int64(1) << np.maximum(bl - 1, 0)) > c)
    return bl - too_big


def _token_scale(c: np.ndarray, offset: int) -> torch.Tensor:
    """Dyadic token scale xm * 2**(k - offset) (float64, exact) with (xm, k) = N(c)."""
    k = np.maximum(_bitlen_np(c) - _F.TOK_BITS, 0)
    return torch.from_numpy(np.ldexp((c >> k).astype(np.float64), k - offset))


def _isqrt_np(n: np.ndarray) -> np.ndarray:
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


def _quant_levels(
    v: torch.Tensor, levels: int, r: np.ndarray | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """Q of float64 integer rows v [M, n] (|v| < 2**45) in ``levels`` (1 or 2) int8 levels.

    Returns (q int8 [levels·M, n], xd float64 [levels·M]), row i's levels at rows
    levels·i + k, with the token scales of spec section 3.1: AQ when ``r`` is None, else RQ
    with RMS denominators ``r`` (int64 [M]). Level 2 quantises the exact residual
    127·v - q1·m1 (|.| <= m1 / 2) with scale N((m2·2^20) // (127·r)) minus 20 (r = 1 for AQ).
    """
    q1, m1 = _quant_act(v)
    m1n = m1.numpy()
    xd1 = _token_scale(m1n, 0) if r is None else _token_scale((m1n << _F.RMS_P) // r, _F.RMS_P)
    if levels == 1:
        return q1, xd1
    res = v.mul(127.0).sub_(q1.double().mul_(m1.double()[:, None]))  # exact: < 2**52
    q2, m2 = _quant_act(res)
    rr = np.int64(127) if r is None else 127 * r
    xd2 = _token_scale((m2.numpy() << _F.RMS_P) // rr, _F.RMS_P)
    return torch.stack([q1, q2], 1).flatten(0, 1), torch.stack([xd1, xd2], 1).flatten()


@dataclass
class _Layer:
    attn_gain: torch.Tensor
    qkv: _Linear
    o: _Linear
    ffn_gain: torch.Tensor
    gu: _Linear
    down: _Linear


class IntModel:
    """A loaded integer model (see the module docstring for the API)."""

    runtime_id = RUNTIME_ID

    def __init__(self, path: str | Path, weights_sha256: str | None = None) -> None:
        from nzarc.neural.tokenizer import Tokenizer

        self.path = Path(path)
        mf = ModelFile(self.path)
        self._mf = mf
        cfg = mf.config
        if cfg.get("runtime_id") != RUNTIME_ID:
            from nzarc.errors import UnsupportedVersion

            raise UnsupportedVersion(
                f"model file needs runtime {cfg.get('runtime_id')!r}, this is {RUNTIME_ID}"
            )
        if cfg.get("fixed") != _F.as_dict():
            from nzarc.errors import FormatError

            raise FormatError("model file fixed-point constants differ from this runtime's")
        self.config = cfg
        self.name: str = cfg["name"]
        self.weights_sha256 = weights_sha256 or file_sha256(self.path)
        self.n_layer: int = cfg["n_layer"]
        self.d: int = cfg["d_model"]
        self.n_head: int = cfg["n_head"]
        self.n_kv: int = cfg["n_kv_head"]
        self.hd: int = cfg["head_dim"]
        self.group = self.n_head // self.n_kv
        self.d_ffn: int = cfg["d_ffn"]
        self.vocab_size: int = cfg["vocab_size"]
        self.bos_id: int = cfg["bos_id"]
        self.max_len: int = cfg["max_len"]
        self.eps_int: int = cfg["eps_int"]
        self.freq_bits: int = _F.FREQ_BITS
        self.act_levels = 1
        self._variants: dict[int, IntModel] = {1: self}
        self._score_shift = _score_shift(self.hd)
        self._check_shapes(mf)
        t = mf.tensor

        def lin(p: str) -> _Linear:
            return _Linear(t(p + ".w"), t(p + ".m"), t(p + ".e"))

        self.embed = torch.from_numpy(t("embed"))
        self.layers = [
            _Layer(
                attn_gain=torch.from_numpy(t(f"blk.{i}.attn_gain").astype(np.float64)),
                qkv=lin(f"blk.{i}.qkv"),
                o=lin(f"blk.{i}.o"),
                ffn_gain=torch.from_numpy(t(f"blk.{i}.ffn_gain").astype(np.float64)),
                gu=lin(f"blk.{i}.gu"),
                down=lin(f"blk.{i}.down"),
            )
            for i in range(self.n_layer)
        ]
        self.out_gain = torch.from_numpy(t("out_gain").astype(np.float64))
        self.lm = lin("lm")
        rc = t("rope_cos").astype(np.float64)
        rs = t("rope_sin").astype(np.float64)
        self.rope_cos2 = torch.from_numpy(np.repeat(rc, 2, axis=1))
        self.rope_sin2 = torch.from_numpy(np.stack([-rs, rs], axis=2).reshape(rs.shape[0], -1))
        self.exp_attn = torch.from_numpy(t("exp_attn").astype(np.float64))
        self.exp_logit_i32 = torch.from_numpy(t("exp_logit").astype(np.int32))
        self.exp_logit_i64 = self.exp_logit_i32.to(torch.int64)
        self.silu = torch.from_numpy(t("silu").astype(np.float64))
        # int64 / float64 copies for the fused CPU kernels
        self._k_attn_gain = [np.ascontiguousarray(t(f"blk.{i}.attn_gain"), np.int64) for i in range(self.n_layer)]
        self._k_ffn_gain = [np.ascontiguousarray(t(f"blk.{i}.ffn_gain"), np.int64) for i in range(self.n_layer)]
        self._k_out_gain = np.ascontiguousarray(t("out_gain"), np.int64)
        self._k_cos = np.ascontiguousarray(rc, np.int64)
        self._k_sin = np.ascontiguousarray(rs, np.int64)
        self._k_exp_attn = np.ascontiguousarray(t("exp_attn"), np.int32)
        self._k_exp_logit = np.ascontiguousarray(t("exp_logit"), np.int64)
        self._k_silu = np.ascontiguousarray(t("silu"), np.int64)
        nq, nkv = self.n_head * self.hd, self.n_kv * self.hd
        self._qkv_lo = torch.tensor(
            [-_F.QK_MAX] * (nq + nkv) + [-_F.V_MAX] * nkv, dtype=torch.float64
        )
        self._qkv_hi = -self._qkv_lo
        tok_blob = bytes(t("tokenizer"))
        self.tokenizer = Tokenizer.from_json(tok_blob)
        self.tokenizer_sha256 = self.tokenizer.sha256

    def with_act_levels(self, levels: int) -> IntModel:
        """This model computing with activation precision ``levels`` (spec section 3.4: 1 or
        2); shares the weights. ``m.with_act_levels(m.act_levels) is m``."""
        if levels not in ACT_LEVELS:
            raise ValueError(f"activation levels must be one of {ACT_LEVELS}")
        base = self._variants[1]
        with _CACHE_LOCK:
            if levels not in base._variants:
                variant = copy.copy(base)
                variant.act_levels = levels
                base._variants[levels] = variant
            return base._variants[levels]

    @property
    def kv_bytes_per_token(self) -> int:
        """Bytes of KV cache a :class:`Session` holds per window position (all layers)."""
        if fused_kernels() is not None:  # k10 int16 + its shift int16 + v int32
            per_head = 2 * self.hd + 2 + 4 * self.hd
        else:  # float32 k operand + float64 v with its ones column
            per_head = 4 * self.hd + 8 * (self.hd + 1)
        return self.n_layer * self.n_kv * per_head

    def _check_shapes(self, mf: ModelFile) -> None:
        """Every tensor has the shape and dtype the config implies (FormatError otherwise)."""
        from nzarc.errors import FormatError

        d, hd, V, F, L = self.d, self.hd, self.vocab_size, self.d_ffn, self.max_len
        nq, nkv = self.n_head * hd, self.n_kv * hd
        if not (
            0 < self.n_kv <= self.n_head
            and self.n_head % self.n_kv == 0
            and 0 <= self.bos_id < V
            and 1 <= self.eps_int < (1 << 20)
        ):
            raise FormatError(f"{self.path}: inconsistent model configuration")
        want: dict[str, tuple[str, tuple[int, ...]]] = {
            "embed": ("int16", (V, d)),
            "out_gain": ("int32", (d,)),
            "rope_cos": ("int32", (L, hd // 2)),
            "rope_sin": ("int32", (L, hd // 2)),
            "silu": ("int32", (2 * _F.SILU_HALF,)),
        }
        for name, rows, cols in [("lm", V, d)] + [
            (f"blk.{i}.{n}", r, c)
            for i in range(self.n_layer)
            for n, r, c in (
                ("qkv", nq + 2 * nkv, d),
                ("o", d, nq),
                ("gu", 2 * F, d),
                ("down", d, F),
            )
        ]:
            want[name + ".w"] = ("int8", (rows, cols))
            want[name + ".m"] = ("int32", (rows,))
            want[name + ".e"] = ("int32", (rows,))
        for i in range(self.n_layer):
            want[f"blk.{i}.attn_gain"] = ("int32", (d,))
            want[f"blk.{i}.ffn_gain"] = ("int32", (d,))
        limits = {
            ".m": (0, 1 << 16),
            ".e": (-64, 200),
            "gain": (-(1 << 16) + 1, (1 << 16) - 1),
            "silu": (-(1 << 14), 1 << 14),
        }
        for name, (dt, shape) in want.items():
            a = mf.tensor(name)
            if a.dtype.name != dt or tuple(a.shape) != shape:
                raise FormatError(f"{self.path}: tensor {name} has the wrong shape or type")
            for suffix, (lo, hi) in limits.items():
                if name.endswith(suffix) and a.size and (int(a.min()) < lo or int(a.max()) > hi):
                    raise FormatError(f"{self.path}: tensor {name} has values outside [{lo}, {hi}]")
        for name in ("exp_attn", "exp_logit"):
            a = mf.tensor(name)
            top = 1 << (_F.EXPA_BITS if name == "exp_attn" else _F.EXPL_BITS)
            if (
                a.ndim != 1
                or a.shape[0] < 16
                or a.dtype.name != "int32"
                or a[-1] != 0
                or a[0] != top
                or a.min() < 0
            ):
                raise FormatError(f"{self.path}: bad table {name}")

    # ----------------------------------------------------------- per-token blocks

    def _rms_quant(self, h: torch.Tensor, gain: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """RMSNorm + int8 quantisation of residual rows h [M, d] -> (q int8 [levels·M, d],
        xd float64 [levels·M]) as :func:`_quant_levels`."""
        hl = h.to(torch.int64)
        ss = (hl * hl).sum(dim=-1).numpy()
        r = _isqrt_np(ss + self.d * self.eps_int)
        return _quant_levels(h * gain, self.act_levels, r)  # exact: |h| < 2**26, G < 2**16

    def _act_quant(self, v: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return _quant_levels(v, self.act_levels)

    def _qk_operand(self, y: torch.Tensor, bias: int) -> torch.Tensor:
        """Power-of-two scaled 10-bit operand: rne(y 2**-e) * 2**(e - bias), float32 (exact)."""
        m = torch.maximum(y.amax(dim=-1, keepdim=True), y.amin(dim=-1, keepdim=True).neg_())
        e = (_bitlen_small(m) - _F.QK_BITS).clamp_min(0).double()
        return torch.ldexp(torch.ldexp(y, -e).round_(), e - bias).float()

    def _rope(self, x: torch.Tensor, pos: torch.Tensor) -> torch.Tensor:
        """x [M, H, hd] float64 integers, pos [M] -> rotated (units * 2**ROPE_BITS)."""
        # y = x * [c, c] + swap_pairs(x) * [-s, s]: the same exact integers as the pairwise form
        c2 = self.rope_cos2[pos][:, None, :]
        s2 = self.rope_sin2[pos][:, None, :]
        sw = x.reshape(*x.shape[:-1], -1, 2).flip(-1).reshape(x.shape)
        return (x * c2).add_(sw.mul_(s2))

    def _qkv(
        self, layer: _Layer, h: torch.Tensor, pos: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """h [M, d], pos [M] -> (q operand f32 [M, H, hd], k operand f32 [M, KV, hd], v f64 [M, KV, hd])."""
        x, xd = self._rms_quant(h, layer.attn_gain)
        out = layer.qkv.requant(x, xd, self.act_levels)
        out = torch.clamp(out, self._qkv_lo, self._qkv_hi)
        nq, nkv = self.n_head * self.hd, self.n_kv * self.hd
        M = h.shape[0]
        q = self._rope(out[:, :nq].reshape(M, self.n_head, self.hd), pos)
        k = self._rope(out[:, nq : nq + nkv].reshape(M, self.n_kv, self.hd), pos)
        v = out[:, nq + nkv :].reshape(M, self.n_kv, self.hd)
        return (
            self._qk_operand(q, self._score_shift - self._score_shift // 2),
            self._qk_operand(k, self._score_shift // 2),
            v,
        )

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

    def _ffn(self, layer: _Layer, h: torch.Tensor) -> torch.Tensor:
        x, xd = self._rms_quant(h, layer.ffn_gain)
        gu = layer.gu.requant(x, xd, self.act_levels).clamp_(-_F.GU_MAX, _F.GU_MAX)
        g, u = gu[:, : self.d_ffn], gu[:, self.d_ffn :]
        half = _F.SILU_HALF
        idx = g.clamp(-half, half - 1).add_(half).to(torch.int32)
        s = self.silu.index_select(0, idx.view(-1)).view(idx.shape)
        s = torch.where(g >= half, g, s)
        a = s.mul_(u)  # exact: < 2**40
        # two levels always (the FFN activations carry large outliers), in one GEMM
        q, xd = _quant_levels(a, 2)
        return layer.down.requant(q, xd, 2)

    def _freqs(self, h: torch.Tensor, out: torch.Tensor | None = None) -> torch.Tensor:
        """Final residual rows h [M, d] -> int32 frequency tables [M, V] (written to ``out``)."""
        x, xd = self._rms_quant(h, self.out_gain)
        acc = self.lm.acc(x)
        V = self.vocab_size
        JL = self.exp_logit_i32.shape[0]
        total = 1 << self.freq_bits
        n, lv = h.shape[0], self.act_levels
        if out is None:
            out = torch.empty(n, V, dtype=torch.int32)
        # a few rows at a time, so that the float64 intermediates stay in cache
        for r0 in range(0, n, 16):
            r1 = min(n, r0 + 16)
            z = self.lm.scale(acc[lv * r0 : lv * r1], xd[lv * r0 : lv * r1], lv)
            # |z| <= L_MAX < 2**20 after the clamp: exact in int32, and so is zmax - z <= 2**21
            z = z.clamp_(-_F.L_MAX, _F.L_MAX).to(torch.int32)
            zmax, arg = z.max(dim=-1, keepdim=True)
            j = z.neg_().add_(zmax).clamp_max_(JL - 1)  # in [0, JL)
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
            j.add_(torch.arange(0, (r1 - r0) * JL, JL, dtype=torch.int32)[:, None])
            f = ftab.view(-1).index_select(0, j.view(-1)).view(j.shape)
            rest = total - f.sum(dim=-1, dtype=torch.int64)
            f.scatter_add_(1, arg, rest.to(torch.int32)[:, None])
            out[r0:r1] = f
        return out

    # ------------------------------------------------------------------- prefill

    def _check_tokens(self, tokens: torch.Tensor, max_len: int) -> torch.Tensor:
        if not isinstance(tokens, torch.Tensor) or tokens.dim() != 2 or tokens.dtype != torch.int64:
            raise ValueError("tokens must be a LongTensor [B, T]")
        if tokens.shape[1] < 1 or tokens.shape[1] > max_len:
            raise ValueError(f"window length must be in [1, {max_len}]")
        if tokens.numel() and (int(tokens.min()) < 0 or int(tokens.max()) >= self.vocab_size):
            raise ValueError("token id out of range")
        return tokens

    def _hidden(self, tokens: torch.Tensor, qblock: int = 128) -> torch.Tensor:
        B, T = tokens.shape
        M = B * T
        h = self.embed[tokens.reshape(-1)].to(torch.float64)
        pos = torch.arange(T).repeat(B)
        G, KV, hd = self.group, self.n_kv, self.hd
        for layer in self.layers:
            qop, kop, v = self._qkv(layer, h, pos)
            qop = qop.reshape(B, T, KV, G, hd).permute(0, 2, 3, 1, 4)  # [B, KV, G, T, hd]
            kop = kop.reshape(B, T, KV, hd).permute(0, 2, 1, 3)  # [B, KV, T, hd]
            vext = torch.cat([v, torch.ones(M, KV, 1, dtype=torch.float64)], dim=-1)
            vext = vext.reshape(B, T, KV, hd + 1).permute(0, 2, 1, 3)
            o = torch.empty(B, KV, G, T, hd, dtype=torch.float64)
            for t0 in range(0, T, qblock):
                t1 = min(T, t0 + qblock)
                qb = qop[:, :, :, t0:t1].reshape(B, KV, G * (t1 - t0), hd)
                qi = torch.arange(t0, t1).repeat(G)
                mask = torch.arange(t0, t1)[None, :] > qi[:, None]
                ob = self._attend(qb, kop[:, :, :t1], vext[:, :, :t1], mask, t0)
                o[:, :, :, t0:t1] = ob.reshape(B, KV, G, t1 - t0, hd)
            o = o.permute(0, 3, 1, 2, 4).reshape(M, self.n_head * hd)
            q, xd = self._act_quant(o)
            h = h.add_(layer.o.requant(q, xd, self.act_levels)).clamp_(-_F.H_MAX, _F.H_MAX)
            h = h.add_(self._ffn(layer, h)).clamp_(-_F.H_MAX, _F.H_MAX)
        return h.reshape(B, T, self.d)

    # ------------------------------------------------------- fused CPU kernels

    def _scratch(self, M: int, n: int | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Quantised rows (q int8 [levels·M, n], xm, xe int64 [levels·M]) for the kernels."""
        rows = self.act_levels * M
        return (
            np.empty((rows, self.d if n is None else n), np.int8),
            np.empty(rows, np.int64),
            np.empty(rows, np.int64),
        )

    def _fused_qkv(self, K, li: int, q: np.ndarray, xm: np.ndarray, xe: np.ndarray, pos: np.ndarray):  # noqa: ANN001, ANN202
        """qkv GEMM + steps 1-3: (q10, sq, k10, sk, v) as :func:`cpu_kernels.qkv_post`."""
        layer = self.layers[li]
        M = q.shape[0] // self.act_levels
        H, KV, hd = self.n_head, self.n_kv, self.hd
        acc = layer.qkv.acc(torch.from_numpy(q)).numpy()
        out = (
            np.empty((M, H, hd), np.int16),
            np.empty((M, H), np.int16),
            np.empty((M, KV, hd), np.int16),
            np.empty((M, KV), np.int16),
            np.empty((M, KV, hd), np.int32),
        )
        K.qkv_post(
            acc, layer.qkv.mult_np, xm, xe, pos, self._k_cos, self._k_sin, H, KV,
            _F.QK_MAX, _F.V_MAX, *out,
        )
        return out

    def _score_operands(self, q10: np.ndarray, sq: np.ndarray, k10: np.ndarray, sk: np.ndarray):  # noqa: ANN202
        """float32 GEMM operands q10·2^(sq-⌈σ/2⌉), k10·2^(sk-⌊σ/2⌋) (exact: 10-bit integers
        times powers of two), whose products sum to step 4's values before the floor."""
        sh = self._score_shift
        qop = np.ldexp(q10.astype(np.float32), (sq.astype(np.int32) - (sh - sh // 2))[..., None])
        kop = np.ldexp(k10.astype(np.float32), (sk.astype(np.int32) - sh // 2)[..., None])
        return qop, kop

    def _fused_attend(
        self, K, qb: torch.Tensor, kk: torch.Tensor, v: np.ndarray, vrow: np.ndarray, nvalid: np.ndarray
    ) -> np.ndarray:  # noqa: ANN001
        """qb f32 [B, KV, R, D], kk f32 [B, KV, Tk, D], v int32 [Bv, KV, Tk', D] with
        vrow [B] its row per batch entry, nvalid int64 [B*KV*R] (visible keys per query row)
        -> o int64 [B*KV*R, D]."""
        s = torch.matmul(qb, kk.transpose(-1, -2))  # exact: |partial sums| <= 2**24
        B, KV, R, Tk = s.shape
        o = np.empty((B * KV * R, self.hd), np.int64)
        K.attn_mix(s.numpy().reshape(-1, Tk), nvalid, self._k_exp_attn, v, vrow, KV, R, o)
        return o

    def _fused_mlp(self, K, li: int, h: np.ndarray, o: np.ndarray, q: np.ndarray, xm: np.ndarray, xe: np.ndarray) -> None:  # noqa: ANN001
        """Steps 6-9 for rows h int64 [M, d] (updated in place) given the attention output
        o int64 [M, H*D]; leaves RQ(h, next gain) in (q, xm, xe)."""
        layer = self.layers[li]
        M = h.shape[0]
        qo, xmo, xeo = self._scratch(M, o.shape[1])
        K.act_quant(o, qo, xmo, xeo)
        acc = layer.o.acc(torch.from_numpy(qo)).numpy()
        K.residual_add(h, acc, layer.o.mult_np, xmo, xeo, _F.H_MAX)
        d_eps = self.d * self.eps_int
        K.rms_quant(h, self._k_ffn_gain[li], d_eps, q, xm, xe)
        acc = layer.gu.acc(torch.from_numpy(q)).numpy()
        q12 = np.empty((2 * M, self.d_ffn), np.int8)
        xm12 = np.empty(2 * M, np.int64)
        xe12 = np.empty(2 * M, np.int64)
        K.ffn_mid(
            acc, layer.gu.mult_np, xm, xe, self._k_silu, _F.SILU_HALF, _F.GU_MAX, q12, xm12, xe12
        )
        acc = layer.down.acc(torch.from_numpy(q12)).numpy()
        K.residual_add(h, acc, layer.down.mult_np, xm12, xe12, _F.H_MAX)
        gain = self._k_attn_gain[li + 1] if li + 1 < self.n_layer else self._k_out_gain
        K.rms_quant(h, gain, d_eps, q, xm, xe)

    def _fused_hidden(self, K, tokens: torch.Tensor, qblock: int = 128):  # noqa: ANN001, ANN202
        """Prefill through all layers -> RQ(h_final, out_gain) as (q int8 [M, d], xm, xe)."""
        _sync_threads()
        B, T = tokens.shape
        M = B * T
        G, KV, hd = self.group, self.n_kv, self.hd
        h = self.embed[tokens.reshape(-1)].to(torch.int64).numpy()
        pos = np.tile(np.arange(T, dtype=np.int64), B)
        q, xm, xe = self._scratch(M)
        K.rms_quant(h, self._k_attn_gain[0], self.d * self.eps_int, q, xm, xe)
        o = np.empty((B, KV, G, T, hd), np.int64)
        for li in range(self.n_layer):
            q10, sq, k10, sk, v = self._fused_qkv(K, li, q, xm, xe, pos)
            qop, kop = self._score_operands(q10, sq, k10, sk)
            qop_t = torch.from_numpy(qop).reshape(B, T, KV, G, hd).permute(0, 2, 3, 1, 4)
            kop_t = torch.from_numpy(kop).reshape(B, T, KV, hd).permute(0, 2, 1, 3)
            v_t = np.ascontiguousarray(v.reshape(B, T, KV, hd).transpose(0, 2, 1, 3))
            vrow = np.arange(B, dtype=np.int64)
            for t0 in range(0, T, qblock):
                t1 = min(T, t0 + qblock)
                n = t1 - t0
                qb = qop_t[:, :, :, t0:t1].reshape(B, KV, G * n, hd)
                nvalid = np.tile(np.arange(t0 + 1, t1 + 1, dtype=np.int64), B * KV * G)
                ob = self._fused_attend(K, qb, kop_t[:, :, :t1], v_t, vrow, nvalid)
                o[:, :, :, t0:t1] = ob.reshape(B, KV, G, n, hd)
            o_tok = np.ascontiguousarray(o.transpose(0, 3, 1, 2, 4).reshape(M, self.n_head * hd))
            self._fused_mlp(K, li, h, o_tok, q, xm, xe)
        return q, xm, xe

    def _fused_freqs(self, K, q: np.ndarray, xm: np.ndarray, xe: np.ndarray, out: torch.Tensor) -> None:  # noqa: ANN001
        """Output stage for rows already RQ'd with out_gain (levels·M rows for out [M, V]),
        at most 128 tokens per GEMM."""
        o = out.numpy()
        lv = self.act_levels
        for i in range(0, o.shape[0], 128):
            j = min(o.shape[0], i + 128)
            acc = self.lm.acc(torch.from_numpy(q[lv * i : lv * j])).numpy()
            K.freqs(
                acc, self.lm.mult_np, xm[lv * i : lv * j], xe[lv * i : lv * j], self._k_exp_logit,
                _F.L_MAX, self.freq_bits, _F.FREQ_SHIFT, o[i:j],
            )

    # ------------------------------------------------------------------- prefill

    def prefill_freqs(
        self, tokens: torch.Tensor, slab: int = 256
    ) -> Iterator[tuple[int, torch.Tensor]]:
        """Yield ``(t0, F[B, n, V])`` slabs of frequency tables (see module docstring)."""
        tokens = self._check_tokens(tokens, self.max_len)
        if slab < 1:
            raise ValueError("slab must be >= 1")
        B, T = tokens.shape
        K = fused_kernels()
        if K is not None:
            q, xm, xe = self._fused_hidden(K, tokens)
            lv = self.act_levels
            q3 = q.reshape(B, T, lv, self.d)
            xm2, xe2 = xm.reshape(B, T, lv), xe.reshape(B, T, lv)
            for t0 in range(0, T, slab):
                t1 = min(T, t0 + slab)
                f = torch.empty((B * (t1 - t0), self.vocab_size), dtype=torch.int32)
                self._fused_freqs(
                    K,
                    np.ascontiguousarray(q3[:, t0:t1].reshape(-1, self.d)),
                    np.ascontiguousarray(xm2[:, t0:t1].reshape(-1)),
                    np.ascontiguousarray(xe2[:, t0:t1].reshape(-1)),
                    f,
                )
                yield t0, f.reshape(B, t1 - t0, self.vocab_size)
            return
        h = self._hidden(tokens)
        for t0 in range(0, T, slab):
            t1 = min(T, t0 + slab)
            rows = h[:, t0:t1].reshape(-1, self.d)
            # at most 128 rows per output GEMM: its int32 accumulators are 4*V bytes per row
            f = torch.empty(rows.shape[0], self.vocab_size, dtype=torch.int32)
            for i in range(0, rows.shape[0], 128):
                self._freqs(rows[i : i + 128], out=f[i : i + 128])
            yield t0, f.reshape(B, t1 - t0, self.vocab_size)

    def prefill_all(self, tokens: torch.Tensor) -> torch.Tensor:
        """All tables at once: int32 [B, T, V] (memory: 4*B*T*V bytes)."""
        return torch.cat([f for _, f in self.prefill_freqs(tokens)], dim=1)

    def session(self, batch: int, max_len: int) -> Session:
        return Session(self, batch, max_len)


class Session:
    """KV-cache state for ``batch`` independent windows (see the module docstring)."""

    def __init__(self, model: IntModel, batch: int, max_len: int) -> None:
        if batch < 1 or not (1 <= max_len <= model.max_len):
            raise ValueError(f"batch must be >= 1 and max_len in [1, {model.max_len}]")
        self.model = model
        self.batch = batch
        self.max_len = max_len
        L, KV, hd = model.n_layer, model.n_kv, model.hd
        self._fused = fused_kernels() is not None
        if self._fused:  # integer caches: k10 (transposed: positions contiguous) and its shift, v
            self._k = np.zeros((L, batch, KV, hd, max_len), np.int16)
            self._ks = np.zeros((L, batch, KV, max_len), np.int16)
            self._v = np.zeros((L, batch, KV, max_len, hd), np.int32)
        else:  # GEMM operands
            self._k = torch.zeros(L, batch, KV, max_len, hd, dtype=torch.float32)
            self._v = torch.zeros(L, batch, KV, max_len, hd + 1, dtype=torch.float64)
        self.positions = torch.zeros(batch, dtype=torch.int64)

    def reset(self, rows: torch.Tensor | None = None) -> None:
        if rows is None:
            self.positions.zero_()
        else:
            self.positions[rows] = 0

    def step(self, tokens: torch.Tensor, rows: torch.Tensor | None = None) -> torch.Tensor:
        mdl = self.model
        all_rows = rows is None or (
            rows.numel() == self.batch and bool((rows == torch.arange(self.batch)).all())
        )
        if rows is None:
            rows = torch.arange(self.batch)
        if tokens.dim() != 1 or tokens.dtype != torch.int64 or rows.shape != tokens.shape:
            raise ValueError("tokens and rows must be LongTensors [b] of equal length")
        if tokens.numel() == 0:
            return torch.empty(0, mdl.vocab_size, dtype=torch.int32)
        if int(tokens.min()) < 0 or int(tokens.max()) >= mdl.vocab_size:
            raise ValueError("token id out of range")
        if (
            int(rows.min()) < 0
            or int(rows.max()) >= self.batch
            or rows.unique().numel() != rows.numel()
        ):
            raise ValueError("rows must be distinct indices in [0, batch)")
        pos = self.positions[rows]
        if int(pos.max()) >= self.max_len:
            raise ValueError("a window is full (max_len reached)")
        b = tokens.shape[0]
        if self._fused:
            return self._fused_step(fused_kernels(), tokens, rows, pos)
        G, KV, hd = mdl.group, mdl.n_kv, mdl.hd
        lk = int(pos.max()) + 1
        mask = (torch.arange(lk)[None, :] > pos[:, None])[:, None, None, :]  # [b, 1, 1, lk]
        h = mdl.embed[tokens].to(torch.float64)
        for li, layer in enumerate(mdl.layers):
            qop, kop, v = mdl._qkv(layer, h, pos)
            self._k[li, rows, :, pos] = kop
            self._v[li, rows, :, pos, :hd] = v
            self._v[li, rows, :, pos, hd] = 1.0
            if all_rows:
                kk = self._k[li, :, :, :lk]  # views, no copy
                vv = self._v[li, :, :, :lk]
            else:
                kk = self._k[li, :, :, :lk].index_select(0, rows)  # [b, KV, lk, hd]
                vv = self._v[li, :, :, :lk].index_select(0, rows)
            qb = qop.reshape(b, KV, G, hd)
            o = mdl._attend(qb, kk, vv, mask)  # [b, KV, G, hd]
            o = o.reshape(b, mdl.n_head * hd)
            q, xd = mdl._act_quant(o)
            h = h.add_(layer.o.requant(q, xd, mdl.act_levels)).clamp_(-_F.H_MAX, _F.H_MAX)
            h = h.add_(mdl._ffn(layer, h)).clamp_(-_F.H_MAX, _F.H_MAX)
        self.positions[rows] = pos + 1
        return mdl._freqs(h)

    def _fused_step(self, K, tokens: torch.Tensor, rows: torch.Tensor, pos: torch.Tensor) -> torch.Tensor:  # noqa: ANN001
        mdl = self.model
        _sync_threads()
        b = tokens.shape[0]
        H, hd = mdl.n_head, mdl.hd
        pos_np = pos.numpy()
        rows_np = np.ascontiguousarray(rows.numpy())
        nvalid = pos_np + 1
        h = mdl.embed[tokens].to(torch.int64).numpy()
        q, xm, xe = mdl._scratch(b)
        K.rms_quant(h, mdl._k_attn_gain[0], mdl.d * mdl.eps_int, q, xm, xe)
        o = np.empty((b, H * hd), np.int64)
        for li in range(mdl.n_layer):
            q10, sq, k10, sk, v = mdl._fused_qkv(K, li, q, xm, xe, pos_np)
            self._k[li, rows_np, :, :, pos_np] = k10
            self._ks[li, rows_np, :, pos_np] = sk
            self._v[li, rows_np, :, pos_np] = v
            K.attn_step(
                q10, sq, self._k[li], self._ks[li], self._v[li], rows_np, nvalid,
                mdl._score_shift, mdl._k_exp_attn, o,
            )
            mdl._fused_mlp(K, li, h, o, q, xm, xe)
        self.positions[rows] = pos + 1
        out = torch.empty((b, mdl.vocab_size), dtype=torch.int32)
        mdl._fused_freqs(K, q, xm, xe, out)
        return out


_CACHE: dict[str, IntModel] = {}
_CACHE_LOCK = threading.Lock()


def load_model(sha256_or_path: str | Path) -> IntModel:
    """Load a model by SHA-256 (from the model store) or by file path; cached per process."""
    key = str(sha256_or_path)
    with _CACHE_LOCK:
        if key in _CACHE:
            return _CACHE[key]
        p = Path(key)
        if len(key) == 64 and all(ch in "0123456789abcdef" for ch in key) and not p.exists():
            from nzarc.neural.store import ModelStore

            path = ModelStore.default().path_for(key)
            model = IntModel(path, weights_sha256=key)
        else:
            model = IntModel(p)
        _CACHE[key] = model
        return model
