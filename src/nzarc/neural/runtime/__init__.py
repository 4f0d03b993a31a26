"""The nzarc-int-v1 and nzarc-int-v2 language-model runtimes: exact integer inference on the
CPU (or CUDA).

Semantics are defined in spec/NEURAL.md (and executable, slowly, in
:mod:`nzarc.neural.reference`). This package computes the *same integers* with fast
tensor operations. Results are identical across thread counts, ISAs, batch shapes,
GEMM routes, element-wise routes and between prefill and incremental decoding.

Design
    A model is loaded once from its file and then only read::

        ModelFile ──► weights.load_weights ──► Weights ──► backend.select_backend ──► Backend
          (mmap)        checks every tensor     int8 GEMMs     once, from the options      fused | torch
                                                + tables
        IntModel = Weights + Tokenizer + Backend   (model.py)
        Session  = KV caches made by the Backend   (session.py)

    * ``options.py``: :class:`RuntimeOptions` (device, threads, element-wise and GEMM
      routes), an explicit frozen value; nothing in the runtime reads the environment.
    * ``weights.py``: the checked integer tensors, :class:`~weights.Linear` (exact int8
      GEMMs: ``torch._int_mm`` once its start-up self-test proves it exact here, else
      float32 GEMMs with every partial sum below 2**24, or float64) and the self-test.
    * ``backend.py``: the :class:`Backend` protocol and the choice of one per model.
      ``fused_backend.py`` chains the numba kernels of :mod:`nzarc.neural.cpu_kernels` and
      :mod:`nzarc.neural.cpu_attention` (the default on CPU); ``torch_backend.py`` does the
      same work in torch operations (``kernels="torch"``, and where numba is missing), with
      ``torch_quant.py``'s quantisation. Both use float64 only where every intermediate is
      an integer or dyadic value below 2**53.
    * ``session.py``: incremental decoding state and input checks.
    * ``model.py``: :class:`IntModel` and :func:`load_model` (by file path, cached per
      process); ``digest.py``: :func:`file_sha256`, a model file's identity.

    The model store (:mod:`nzarc.neural.store`) finds files by SHA-256 and loads them
    through this package; this package never imports the store. Importing the package
    is cheap: its names load their modules (and torch) on first use.

Public API (shapes are exact)::

    m = load_model(path, RuntimeOptions())  # IntModel, weights mmapped read-only
    m.name, m.weights_sha256, m.tokenizer_sha256, m.runtime_id ("nzarc-int-v1" for a loaded model)
    m.vocab_size (V), m.freq_bits (24), m.bos_id, m.max_len (longest window, 8192)
    m.options, m.matmul ("intmm" | "fp32" | "fp64"), m.kernels ("fused" | "torch")
    m.tokenizer.encode(data: bytes) -> list[int]; m.tokenizer.decode(ids) -> bytes
    m.act_levels (1 for a loaded model); m.with_act_levels(P) -> the same weights computing
        with activation precision P in (1, 2) (spec/NEURAL.md section 3.4; P = 2 costs two
        int8 GEMM rows per token in every linear layer). Everything below follows it.
    m.with_runtime(R) -> the same weights computing runtime R, "nzarc-int-v1" or "nzarc-int-v2"
        (spec/NEURAL.md section 7: 8-bit keys and values, caches a third of v1's), at the same
        precision; variants of one runtime share its backend. Everything below follows it.

    m.prefill_freqs(tokens, slab=256, check=None) -> Iterator[tuple[int, IntTensor]]
        check: called between layers and query blocks (a cancel token's check; it raises to stop).
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

Inputs are CPU tensors; tables are returned on ``m.device`` (``options.device``: ``cpu``, or
``cuda`` through the torch path, whose docstring says why each operation is exact there);
inputs are validated (shape, dtype, id range, length)
and bad ones raise ValueError (programming errors, not input data). A model file
whose tensors do not match its config raises FormatError at load time.

An IntModel holds no per-call state and may be shared by threads; a Session belongs to
one thread at a time. ``matmul_backend(options)`` and ``kernels_name(options)`` report the
routes options resolve to. Work per call is linear in B*T (plus B*T*T/2 for attention);
memory is about B*T*(d*8*6) bytes for prefill activations plus about 128*V*4*2 bytes for
the output stage, and ``B*L*m.kv_bytes_per_token`` bytes for a session's caches.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from nzarc.neural.runtime.backend import Backend, kernels_name
    from nzarc.neural.runtime.digest import file_sha256
    from nzarc.neural.runtime.model import IntModel, load_model
    from nzarc.neural.runtime.options import RuntimeOptions
    from nzarc.neural.runtime.session import Session
    from nzarc.neural.runtime.weights import matmul_backend

__all__ = [
    "Backend",
    "IntModel",
    "RuntimeOptions",
    "Session",
    "file_sha256",
    "kernels_name",
    "load_model",
    "matmul_backend",
]


#: The submodule that defines each public name.
_HOMES = {
    "IntModel": "model",
    "load_model": "model",
    "Backend": "backend",
    "kernels_name": "backend",
    "matmul_backend": "weights",
    "Session": "session",
    "RuntimeOptions": "options",
    "file_sha256": "digest",
}


def __getattr__(name: str) -> Any:
    """Load a public name's module on first access (so that importing the package, or its
    torch-free modules ``options`` and ``digest``, does not import torch)."""
    module = _HOMES.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    home = importlib.import_module(f"{__name__}.{module}")
    value = getattr(home, name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
