"""Incremental decoding state: :class:`Session` and the KV caches its backend keeps.

Contract: a session holds ``batch`` independent windows of up to ``max_len`` tokens.
:meth:`Session.step` appends one token to each chosen window and returns the frequency
table of each window's next token, identical to the prefill row for the same prefix; rows
may sit at different positions and :meth:`Session.reset` empties windows.
:meth:`Session.extend` appends several tokens to a window in one call (one table per token,
each identical to what steps give), and :meth:`Session.rewind` forgets a window's latest
tokens, so a decoder may feed guessed tokens and keep only those that turn out right. Inputs are
validated here, before the backend sees them (ValueError: a programming error). The cache
layout is the backend's (:class:`TorchKV` or :class:`IntKV`); ``cache.nbytes`` is exactly
``batch * max_len * model.kv_bytes_per_token``. A session belongs to one thread at a time.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

import numpy as np
import torch

if TYPE_CHECKING:
    from nzarc.neural.runtime.model import IntModel

__all__ = ["IntKV", "KVCache", "Session", "TorchKV"]


class KVCache(Protocol):
    """What a session knows of its backend's caches."""

    @property
    def nbytes(self) -> int: ...


@dataclass
class TorchKV:
    """GEMM operands of the torch path: k float32 [L, B, KV, max_len, hd], v float64
    [L, B, KV, max_len, hd + 1] (the last column 1, for the weight sums)."""

    k: torch.Tensor
    v: torch.Tensor

    @classmethod
    def zeros(
        cls, n_layer: int, batch: int, n_kv: int, max_len: int, hd: int, device: torch.device | str = "cpu"
    ) -> TorchKV:
        return cls(
            k=torch.zeros(n_layer, batch, n_kv, max_len, hd, dtype=torch.float32, device=device),
            v=torch.zeros(n_layer, batch, n_kv, max_len, hd + 1, dtype=torch.float64, device=device),
        )

    @property
    def nbytes(self) -> int:
        return self.k.nbytes + self.v.nbytes


@dataclass
class IntKV:
    """Integer caches of the fused path: keys k [L, B, KV, hd, max_len] and values v
    [L, B, KV, hd, max_len] (both transposed: the positions of one dimension are
    contiguous), the keys' shift ks int16 and the values' shift vs int8 [L, B, KV, max_len].

    nzarc-int-v1 keeps k10 int16 and v int32 (vs 0); nzarc-int-v2 (``compact``) keeps 8-bit
    keys and values in int8, a position's value being ``v · 2**vs``."""

    k: np.ndarray
    ks: np.ndarray
    v: np.ndarray
    vs: np.ndarray

    @staticmethod
    def bytes_per_token(n_layer: int, n_kv: int, hd: int, compact: bool) -> int:
        """Bytes of :meth:`zeros` per window position (all layers)."""
        per_head = (2 * hd if compact else 6 * hd) + 2 + 1
        return n_layer * n_kv * per_head

    @classmethod
    def zeros(cls, n_layer: int, batch: int, n_kv: int, max_len: int, hd: int, compact: bool = False) -> IntKV:
        return cls(
            k=np.zeros((n_layer, batch, n_kv, hd, max_len), np.int8 if compact else np.int16),
            ks=np.zeros((n_layer, batch, n_kv, max_len), np.int16),
            v=np.zeros((n_layer, batch, n_kv, hd, max_len), np.int8 if compact else np.int32),
            vs=np.zeros((n_layer, batch, n_kv, max_len), np.int8),
        )

    @property
    def nbytes(self) -> int:
        return self.k.nbytes + self.ks.nbytes + self.v.nbytes + self.vs.nbytes


class Session:
    """KV-cache state for ``batch`` independent windows of ``model`` (see the module docstring)."""

    def __init__(self, model: IntModel, batch: int, max_len: int) -> None:
        if batch < 1 or not (1 <= max_len <= model.max_len):
            raise ValueError(f"batch must be >= 1 and max_len in [1, {model.max_len}]")
        self.model = model
        self.batch = batch
        self.max_len = max_len
        self.cache: KVCache = model.backend.new_cache(batch, max_len)
        self.positions = torch.zeros(batch, dtype=torch.int64)

    def reset(self, rows: torch.Tensor | None = None) -> None:
        """Empty the windows ``rows`` (all of them when None)."""
        if rows is None:
            self.positions.zero_()
        else:
            self.positions[rows] = 0

    def step(self, tokens: torch.Tensor, rows: torch.Tensor | None = None) -> torch.Tensor:
        """Append ``tokens[i]`` to window ``rows[i]`` (all windows when ``rows`` is None;
        rows distinct) -> int32 [b, V] on the model's device, the next token's table for each
        of those windows. ``tokens`` and ``rows`` are CPU tensors."""
        mdl = self.model
        all_rows = rows is None or (
            rows.numel() == self.batch and bool((rows == torch.arange(self.batch)).all())
        )
        if rows is None:
            rows = torch.arange(self.batch)
        if tokens.dim() != 1 or tokens.dtype != torch.int64 or rows.shape != tokens.shape:
            raise ValueError("tokens and rows must be LongTensors [b] of equal length")
        if tokens.numel() == 0:
            return torch.empty(0, mdl.vocab_size, dtype=torch.int32, device=mdl.device)
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
        out = mdl.backend.step(self.cache, tokens, rows, pos, mdl.act_levels, all_rows)
        self.positions[rows] = pos + 1
        return out

    def extend(self, tokens: torch.Tensor, rows: torch.Tensor) -> torch.Tensor:
        """Append ``tokens[e]`` to window ``rows[e]`` for every entry ``e`` (a row may repeat:
        its entries go to consecutive positions, in order) -> int32 [E, V]: entry ``e``'s row
        is the table of the token after the prefix through ``tokens[e]``, identical to the
        table :meth:`step` would return after feeding the same tokens one at a time."""
        mdl = self.model
        if tokens.dim() != 1 or tokens.dtype != torch.int64 or rows.shape != tokens.shape:
            raise ValueError("tokens and rows must be LongTensors [E] of equal length")
        if tokens.numel() == 0:
            return torch.empty(0, mdl.vocab_size, dtype=torch.int32, device=mdl.device)
        if int(tokens.min()) < 0 or int(tokens.max()) >= mdl.vocab_size:
            raise ValueError("token id out of range")
        if int(rows.min()) < 0 or int(rows.max()) >= self.batch:
            raise ValueError(f"rows must be indices in [0, {self.batch})")
        r = rows.numpy()
        order = np.argsort(r, kind="stable")
        first = np.searchsorted(r[order], r[order], side="left")
        rank = np.empty(len(r), dtype=np.int64)
        rank[order] = np.arange(len(r)) - first  # earlier entries of the same row
        pos = self.positions[rows] + torch.from_numpy(rank)
        if int(pos.max()) >= self.max_len:
            raise ValueError("a window is full (max_len reached)")
        out = mdl.backend.step(self.cache, tokens, rows, pos, mdl.act_levels, False)
        self.positions.index_add_(0, rows, torch.ones_like(rows))
        return out

    def rewind(self, rows: torch.Tensor, lengths: torch.Tensor) -> None:
        """Keep only the first ``lengths[i]`` tokens of window ``rows[i]`` (never more than
        it holds); the tokens after them are forgotten."""
        if bool((lengths < 0).any()) or bool((lengths > self.positions[rows]).any()):
            raise ValueError("a window cannot be rewound past its start or beyond its end")
        self.positions[rows] = lengths
