"""Integer weights of a model file, and the exact int8 GEMM they are multiplied with.

Contracts:

* :func:`load_weights` checks every tensor of a :class:`~nzarc.neural.modelfile.ModelFile`
  against the shapes, dtypes and value ranges its config implies and raises FormatError
  otherwise; the arrays it returns are the file's (mmapped, read-only, never copied).
* :meth:`Linear.acc` returns ``x @ w.T`` *exactly* (integers, int32 or float64 holding
  integers) on the route :func:`matmul_backend` resolved when the model was loaded:
  ``intmm`` (``torch._int_mm``, only after :func:`int_mm_exact` proved it exact in this
  process), ``fp32`` (float32 GEMMs over K slices of at most 1024, so every partial sum is
  an integer below 127·127·1024 < 2**24) or ``fp64``. :meth:`Linear.scale` applies the
  per-row dyadic multipliers with one rounding (spec/NEURAL.md section 3.2).
"""

from __future__ import annotations

import functools
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from nzarc.errors import FormatError
from nzarc.neural.intops import FixedPoint
from nzarc.neural.modelfile import ModelFile
from nzarc.neural.runtime.options import RuntimeOptions

__all__ = [
    "Dims", "Layer", "Linear", "Weights", "int_mm", "int_mm_exact", "load_weights", "matmul_backend",
]  # fmt: skip

_F = FixedPoint
_SELF_TEST_LOCK = threading.Lock()


#: ``torch._int_mm`` on CUDA needs more than this many rows; fewer are padded with zero rows.
_CUDA_MIN_ROWS = 17


def int_mm(x: torch.Tensor, wt: torch.Tensor) -> torch.Tensor:
    """``torch._int_mm(x, wt)``: int8 [M, K] times int8 [K, N] into int32 [M, N].

    On CUDA the kernel wants ``M >= 17`` rows: fewer are padded with zero rows and the
    padding's (zero) results are dropped, which leaves every kept entry as it is. Exactness
    is the caller's to establish (:func:`int_mm_exact`).
    """
    m = x.shape[0]
    if x.is_cuda and m < _CUDA_MIN_ROWS:
        pad = torch.zeros((_CUDA_MIN_ROWS - m, x.shape[1]), dtype=x.dtype, device=x.device)
        return torch._int_mm(torch.cat([x, pad]), wt)[:m]
    return torch._int_mm(x, wt)


@functools.cache
def _int_mm_self_test(device: str) -> bool:
    if not hasattr(torch, "_int_mm"):
        return False
    try:
        g = torch.Generator().manual_seed(1234)
        cases = []
        for m_, k_, n_ in ((1, 1536, 576), (8, 576, 960), (33, 1536, 64), (64, 576, 3072), (300, 576, 128)):
            a = torch.randint(-127, 128, (m_, k_), generator=g, dtype=torch.int8)
            b = torch.randint(-127, 128, (n_, k_), generator=g, dtype=torch.int8)
            cases.append((a, b))
            top = torch.full((n_, k_), 127, dtype=torch.int8)
            cases.append((torch.full((m_, k_), 127, dtype=torch.int8), top))
            cases.append((torch.full((m_, k_), -127, dtype=torch.int8), top))
            alt = torch.tensor([127, -127], dtype=torch.int8).repeat(k_ // 2)
            cases.append((alt.repeat(m_, 1), torch.full((n_, k_), -127, dtype=torch.int8)))
        for a, b in cases:
            # the exact products (float64: below 2**53), on the CPU; the tested GEMM on ``device``
            want = (a.double() @ b.double().t()).to(torch.int64)
            got = int_mm(a.to(device), b.to(device).t()).cpu()
            if got.dtype != torch.int32 or not torch.equal(got.to(torch.int64), want):
                return False
        return True
    except Exception:
        return False


def int_mm_exact(device: str = "cpu") -> bool:
    """Whether :func:`int_mm` is exact on ``device``, on worst-case and random operands
    (run once per process and device). On CUDA the int8 tensor-core GEMM accumulates in
    int32, whose range holds every sum of 127·127·K products for K < 2**17: when the
    kernel works at all it is exact, and the test catches a kernel that does not."""
    with _SELF_TEST_LOCK:
        return _int_mm_self_test(device)


def matmul_backend(options: RuntimeOptions | None = None) -> str:
    """The exact int8 GEMM route ``options`` resolve to: ``intmm``, ``fp32`` or ``fp64``.

    ``fp32`` and ``fp64`` are taken as asked; ``auto`` and ``intmm`` give ``intmm`` when
    :func:`int_mm_exact` holds on the options' device, else ``fp32``.
    """
    options = options or RuntimeOptions()
    if options.matmul in ("fp32", "fp64"):
        return options.matmul
    return "intmm" if int_mm_exact(options.device) else "fp32"


class Linear:
    """int8 weight [N, K] with per-row dyadic multipliers; exact accumulation on ``route``."""

    def __init__(
        self, w: np.ndarray, m: np.ndarray, e: np.ndarray, route: str, device: str = "cpu"
    ) -> None:
        # int8 [N, K]: the file's mmap on the CPU (copy-on-write), else a copy on ``device``
        self.w = torch.from_numpy(w).to(device)
        self.n, self.k = self.w.shape
        # int8 GEMMs on CUDA need K and N multiples of 8; otherwise the (exact) fp32 route
        odd = device != "cpu" and (self.k % 8 or self.n % 8)
        self.route = "fp32" if route == "intmm" and odd else route
        # m * 2**-e as float64: exact (m < 2**17)
        mult = np.ldexp(m.astype(np.float64), -e.astype(np.int64))
        self.mult_np = mult
        self.mult = torch.from_numpy(mult).to(device)
        self._wf: torch.Tensor | None = None

    def acc(self, x: torch.Tensor) -> torch.Tensor:
        """Exact ``x @ w.T`` for int8 ``x`` [M, K]; int32 or float64 result holding integers."""
        if self.route == "intmm":
            if x.shape[0] == 0:
                return torch.zeros((0, self.n), dtype=torch.int32, device=x.device)
            return int_mm(x, self.w.t())
        if self._wf is None:
            dt = torch.float32 if self.route == "fp32" else torch.float64
            self._wf = self.w.to(dt)
        wf = self._wf
        xf = x.to(wf.dtype)
        if wf.dtype == torch.float64 or self.k <= 1024:
            return xf @ wf.t()
        # float32: split K so that every partial sum is below 127*127*1024 < 2**24
        out = (xf[:, :1024] @ wf[:, :1024].t()).double()
        for k0 in range(1024, self.k, 1024):
            out = out + (xf[:, k0 : k0 + 1024] @ wf[:, k0 : k0 + 1024].t()).double()
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


@dataclass(frozen=True)
class Dims:
    """The sizes of a model (its config), checked for consistency by :meth:`from_config`."""

    n_layer: int
    d: int
    n_head: int
    n_kv: int
    hd: int
    d_ffn: int
    vocab_size: int
    bos_id: int
    max_len: int
    eps_int: int

    @property
    def group(self) -> int:
        """Query heads per KV head."""
        return self.n_head // self.n_kv

    @property
    def score_shift(self) -> int:
        """Exponent σ turning q10*k10 into attention logits in units 2**-FZ."""
        return 2 * (_F.FA + _F.ROPE_BITS) + (self.hd.bit_length() - 1) // 2 - _F.FZ

    @classmethod
    def from_config(cls, cfg: dict[str, Any], path: Path) -> Dims:
        dims = cls(
            n_layer=cfg["n_layer"], d=cfg["d_model"], n_head=cfg["n_head"], n_kv=cfg["n_kv_head"],
            hd=cfg["head_dim"], d_ffn=cfg["d_ffn"], vocab_size=cfg["vocab_size"],
            bos_id=cfg["bos_id"], max_len=cfg["max_len"], eps_int=cfg["eps_int"],
        )  # fmt: skip
        if dims.hd not in (4, 16, 64):  # 64 * 512**2 = 2**24 bounds the float32 score sums
            raise FormatError(f"head dimension {dims.hd} is not supported (4, 16 or 64)")
        if not (
            0 < dims.n_kv <= dims.n_head
            and dims.n_head % dims.n_kv == 0
            and 0 <= dims.bos_id < dims.vocab_size
            and 1 <= dims.eps_int < (1 << 20)
        ):
            raise FormatError(f"{path}: inconsistent model configuration")
        return dims


@dataclass(frozen=True)
class Layer:
    """One block: its gains (int32 [d], as stored) and its four linear maps."""

    attn_gain: np.ndarray
    qkv: Linear
    o: Linear
    ffn_gain: np.ndarray
    gu: Linear
    down: Linear


@dataclass(frozen=True)
class Weights:
    """Every tensor of a checked model file, as stored (int dtypes of spec/NEURAL.md)."""

    dims: Dims
    embed: torch.Tensor  # int16 [V, d]
    layers: list[Layer]
    out_gain: np.ndarray  # int32 [d]
    lm: Linear
    rope_cos: np.ndarray  # int32 [L, hd/2]
    rope_sin: np.ndarray
    exp_attn: np.ndarray  # int32 [JA]
    exp_logit: np.ndarray  # int32 [JL]
    silu: np.ndarray  # int32 [2·SILU_HALF]
    tokenizer: bytes  # the tokenizer specification (JSON)


def _check_tensors(mf: ModelFile, dims: Dims, path: Path) -> None:
    """Every tensor has the shape and dtype the config implies (FormatError otherwise)."""
    d, hd, V, F, L = dims.d, dims.hd, dims.vocab_size, dims.d_ffn, dims.max_len
    nq, nkv = dims.n_head * hd, dims.n_kv * hd
    want: dict[str, tuple[str, tuple[int, ...]]] = {
        "embed": ("int16", (V, d)),
        "out_gain": ("int32", (d,)),
        "rope_cos": ("int32", (L, hd // 2)),
        "rope_sin": ("int32", (L, hd // 2)),
        "silu": ("int32", (2 * _F.SILU_HALF,)),
    }
    for name, rows, cols in [("lm", V, d)] + [
        (f"blk.{i}.{n}", r, c)
        for i in range(dims.n_layer)
        for n, r, c in (("qkv", nq + 2 * nkv, d), ("o", d, nq), ("gu", 2 * F, d), ("down", d, F))
    ]:
        want[name + ".w"] = ("int8", (rows, cols))
        want[name + ".m"] = ("int32", (rows,))
        want[name + ".e"] = ("int32", (rows,))
    for i in range(dims.n_layer):
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
            raise FormatError(f"{path}: tensor {name} has the wrong shape or type")
        for suffix, (lo, hi) in limits.items():
            if name.endswith(suffix) and a.size and (int(a.min()) < lo or int(a.max()) > hi):
                raise FormatError(f"{path}: tensor {name} has values outside [{lo}, {hi}]")
    for name in ("exp_attn", "exp_logit"):
        a = mf.tensor(name)
        top = 1 << (_F.EXPA_BITS if name == "exp_attn" else _F.EXPL_BITS)
        if a.ndim != 1 or a.shape[0] < 16 or a.dtype.name != "int32" or a[-1] != 0 or a[0] != top or a.min() < 0:
            raise FormatError(f"{path}: bad table {name}")


def load_weights(mf: ModelFile, path: Path, route: str, device: str = "cpu") -> Weights:
    """The checked weights of ``mf`` (whose config the caller accepted), GEMMs on ``route``;
    the linear maps' weights on ``device`` (the other tensors stay the file's, on the CPU)."""
    dims = Dims.from_config(mf.config, path)
    _check_tensors(mf, dims, path)
    t = mf.tensor

    def lin(p: str) -> Linear:
        return Linear(t(p + ".w"), t(p + ".m"), t(p + ".e"), route, device)

    layers = [
        Layer(
            attn_gain=t(f"blk.{i}.attn_gain"),
            qkv=lin(f"blk.{i}.qkv"),
            o=lin(f"blk.{i}.o"),
            ffn_gain=t(f"blk.{i}.ffn_gain"),
            gu=lin(f"blk.{i}.gu"),
            down=lin(f"blk.{i}.down"),
        )
        for i in range(dims.n_layer)
    ]
    return Weights(
        dims=dims, embed=torch.from_numpy(t("embed")), layers=layers, out_gain=t("out_gain"),
        lm=lin("lm"), rope_cos=t("rope_cos"), rope_sin=t("rope_sin"), exp_attn=t("exp_attn"),
        exp_logit=t("exp_logit"), silu=t("silu"), tokenizer=bytes(t("tokenizer")),
    )  # fmt: skip
