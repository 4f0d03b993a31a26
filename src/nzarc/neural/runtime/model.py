"""A loaded model: :class:`IntModel`, and :func:`load_model`, its per-process cache.

Contract: an :class:`IntModel` is immutable after construction and may be shared by
threads. Construction checks the file (runtime id, fixed-point constants, every tensor;
UnsupportedVersion or FormatError), then resolves its GEMM route and its backend from its
:class:`~nzarc.neural.runtime.options.RuntimeOptions`, once. ``prefill_freqs`` and
``session`` validate their inputs (ValueError) and give the tables spec/NEURAL.md defines,
whatever the options.
"""

from __future__ import annotations

import copy
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import torch

from nzarc.errors import FormatError, ResourceError, UnsupportedVersion
from nzarc.neural.intops import ACT_LEVELS, RUNTIME_ID, RUNTIME_V2, RUNTIMES, FixedPoint
from nzarc.neural.modelfile import ModelFile
from nzarc.neural.runtime.backend import Backend, select_backend
from nzarc.neural.runtime.digest import file_sha256
from nzarc.neural.runtime.options import RuntimeOptions
from nzarc.neural.runtime.session import Session
from nzarc.neural.runtime.weights import Layer, Linear, Weights, load_weights, matmul_backend
from nzarc.neural.tokenizer import Tokenizer

__all__ = ["IntModel", "load_model"]

_F = FixedPoint
_LOCK = threading.Lock()


class IntModel:
    """A loaded integer model (the API is in :mod:`nzarc.neural.runtime`'s docstring)."""

    def __init__(
        self, path: str | Path, weights_sha256: str | None = None, options: RuntimeOptions | None = None
    ) -> None:
        self.path = Path(path)
        self.options = options or RuntimeOptions()
        if self.options.device == "cuda" and not torch.cuda.is_available():
            raise ResourceError(
                "the neural runtime was asked to run on CUDA, and no CUDA device is available",
                hint="run on the CPU (--device cpu), or on a machine with a CUDA GPU",
            )
        mf = ModelFile(self.path)
        cfg = mf.config
        if cfg.get("runtime_id") != RUNTIME_ID:
            raise UnsupportedVersion(f"model file needs runtime {cfg.get('runtime_id')!r}, this is {RUNTIME_ID}")
        if cfg.get("fixed") != _F.as_dict():
            raise FormatError("model file fixed-point constants differ from this runtime's")
        self.config: dict[str, Any] = cfg
        self.name: str = cfg["name"]
        self.weights_sha256 = weights_sha256 or file_sha256(self.path)
        self.matmul = matmul_backend(self.options)
        self.weights: Weights = load_weights(mf, self.path, self.matmul, self.options.device)
        dm = self.weights.dims
        self.n_layer, self.d, self.n_head, self.n_kv = dm.n_layer, dm.d, dm.n_head, dm.n_kv
        self.hd, self.group, self.d_ffn = dm.hd, dm.group, dm.d_ffn
        self.vocab_size, self.bos_id = dm.vocab_size, dm.bos_id
        self.max_len, self.eps_int = dm.max_len, dm.eps_int
        self.freq_bits: int = _F.FREQ_BITS
        self.act_levels = 1
        #: The runtime computed: the file's (nzarc-int-v1), or a variant's (:meth:`with_runtime`).
        self.runtime_id: str = RUNTIME_ID
        self._variants: dict[tuple[int, str], IntModel] = {(1, RUNTIME_ID): self}
        self._base = self
        self.tokenizer = Tokenizer.from_json(self.weights.tokenizer)
        self.tokenizer_sha256 = self.tokenizer.sha256
        self.backend: Backend = select_backend(self.weights, self.options)

    @property
    def layers(self) -> list[Layer]:
        return self.weights.layers

    @property
    def lm(self) -> Linear:
        return self.weights.lm

    @property
    def embed(self) -> torch.Tensor:
        return self.weights.embed

    @property
    def device(self) -> str:
        """Where the tables are computed and live (``options.device``)."""
        return self.options.device

    @property
    def kernels(self) -> str:
        """The element-wise route: ``fused`` or ``torch``."""
        return self.backend.name

    @property
    def kv_bytes_per_token(self) -> int:
        """Bytes of KV cache a :class:`Session` holds per window position (all layers)."""
        return self.backend.kv_bytes_per_token

    def with_act_levels(self, levels: int) -> IntModel:
        """This model computing with activation precision ``levels`` (spec section 3.4: 1 or
        2) under the same runtime; shares the weights and the backend.
        ``m.with_act_levels(m.act_levels) is m``."""
        if levels not in ACT_LEVELS:
            raise ValueError(f"activation levels must be one of {ACT_LEVELS}")
        return self._variant(levels, self.runtime_id)

    def with_runtime(self, runtime_id: str) -> IntModel:
        """This model computing runtime ``runtime_id`` (one of :data:`~nzarc.neural.intops.RUNTIMES`:
        ``nzarc-int-v2`` rounds keys and values to 8 bits, spec/NEURAL.md section 7) at the
        same precision; shares the weights. ``m.with_runtime(m.runtime_id) is m``."""
        if runtime_id not in RUNTIMES:
            raise ValueError(f"runtime must be one of {RUNTIMES}, got {runtime_id!r}")
        return self._variant(self.act_levels, runtime_id)

    def _variant(self, levels: int, runtime_id: str) -> IntModel:
        """The shared variant computing ``runtime_id`` at precision ``levels`` (made once: a
        runtime's variants share its backend, all of them the weights)."""
        base = self._base
        with _LOCK:
            twin = base._variants.get((1, runtime_id))
            if twin is None:
                twin = copy.copy(base)
                twin.runtime_id = runtime_id
                twin.backend = select_backend(base.weights, base.options, runtime_id == RUNTIME_V2)
                base._variants[(1, runtime_id)] = twin
            key = (levels, runtime_id)
            if key not in base._variants:
                variant = copy.copy(twin)
                variant.act_levels = levels
                base._variants[key] = variant
            return base._variants[key]

    def _check_tokens(self, tokens: torch.Tensor, max_len: int) -> torch.Tensor:
        if not isinstance(tokens, torch.Tensor) or tokens.dim() != 2 or tokens.dtype != torch.int64:
            raise ValueError("tokens must be a LongTensor [B, T]")
        if tokens.shape[1] < 1 or tokens.shape[1] > max_len:
            raise ValueError(f"window length must be in [1, {max_len}]")
        if tokens.numel() and (int(tokens.min()) < 0 or int(tokens.max()) >= self.vocab_size):
            raise ValueError("token id out of range")
        return tokens

    def prefill_freqs(
        self, tokens: torch.Tensor, slab: int = 256, check: Callable[[], None] | None = None
    ) -> Iterator[tuple[int, torch.Tensor]]:
        """Yield ``(t0, F[B, n, V])`` slabs of frequency tables (see the package docstring),
        on the model's device. ``check`` (a cancel token's ``check``) is called between
        layers and between query blocks of the prefill: what it raises stops the call."""
        tokens = self._check_tokens(tokens, self.max_len)
        if slab < 1:
            raise ValueError("slab must be >= 1")
        yield from self.backend.prefill(tokens, slab, self.act_levels, check)

    def prefill_all(self, tokens: torch.Tensor) -> torch.Tensor:
        """All tables at once: int32 [B, T, V] (memory: 4*B*T*V bytes)."""
        return torch.cat([f for _, f in self.prefill_freqs(tokens)], dim=1)

    def session(self, batch: int, max_len: int) -> Session:
        """Incremental state for ``batch`` windows of up to ``max_len`` tokens."""
        return Session(self, batch, max_len)


_CACHE: dict[tuple[str, str | None, RuntimeOptions], IntModel] = {}
_LOAD_LOCK = threading.Lock()


def load_model(
    path: str | Path, options: RuntimeOptions | None = None, weights_sha256: str | None = None
) -> IntModel:
    """The model in the file ``path`` run with ``options``, loaded once per process (per
    path, stated hash and options). ``weights_sha256``, when given, is the caller's word
    for the file's SHA-256 (the model store names files by it), saving a hash of the file."""
    options = options or RuntimeOptions()
    key = (str(path), weights_sha256, options)
    with _LOAD_LOCK:
        if key not in _CACHE:
            _CACHE[key] = IntModel(path, weights_sha256=weights_sha256, options=options)
        return _CACHE[key]
