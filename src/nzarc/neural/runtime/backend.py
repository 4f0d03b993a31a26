"""The element-wise route of a loaded model: the :class:`Backend` protocol and its choice.

Contract: a backend computes, between the exact int8 GEMMs of its
:class:`~nzarc.neural.runtime.weights.Weights`, the integers spec/NEURAL.md defines, for
prefill and for one incremental step, at activation precision ``levels`` (1 or 2). Two
implement it: :class:`~nzarc.neural.runtime.fused_backend.FusedBackend` (numba kernels,
the default on CPU) and :class:`~nzarc.neural.runtime.torch_backend.TorchBackend`, each
for one runtime (nzarc-int-v1, or v2's compact caches). Both give identical results, so
the choice is a matter of speed and of what is installed. :func:`select_backend` makes it
once per model and runtime (at load, and for v2 at the first
:meth:`~nzarc.neural.runtime.model.IntModel.with_runtime`); calls never re-decide it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from types import ModuleType
from typing import Protocol

import torch

from nzarc.neural.runtime.options import RuntimeOptions
from nzarc.neural.runtime.session import KVCache
from nzarc.neural.runtime.weights import Weights

__all__ = ["Backend", "fused_kernels", "kernels_name", "select_backend"]


class Backend(Protocol):
    """What :class:`~nzarc.neural.runtime.model.IntModel` and its sessions ask of a route.

    Inputs were validated by the caller (shapes, dtypes, id ranges, positions).
    """

    #: ``"fused"`` or ``"torch"``.
    name: str

    @property
    def kv_bytes_per_token(self) -> int:
        """Bytes of :meth:`new_cache` per window position (all layers)."""
        ...

    def prefill(
        self, tokens: torch.Tensor, slab: int, levels: int, check: Callable[[], None] | None = None
    ) -> Iterator[tuple[int, torch.Tensor]]:
        """tokens int64 [B, T] -> ``(t0, F int32 [B, n, V])`` slabs in order, n <= slab;
        ``check()`` is called after every layer and every query block (it raises to stop)."""
        ...

    def new_cache(self, batch: int, max_len: int) -> KVCache:
        """Empty caches for ``batch`` windows of ``max_len`` positions."""
        ...

    def step(
        self, cache: KVCache, tokens: torch.Tensor, rows: torch.Tensor, pos: torch.Tensor,
        levels: int, all_rows: bool,
    ) -> torch.Tensor:  # fmt: skip
        """Write ``tokens[i]`` at position ``pos[i]`` of window ``rows[i]`` into ``cache``
        (made by this backend; ``all_rows``: rows are exactly 0..batch-1 in order) and return
        int32 [b, V], the tables of the next tokens."""
        ...


def fused_kernels(options: RuntimeOptions | None = None) -> tuple[ModuleType, ModuleType] | None:
    """The fused kernel modules (:mod:`nzarc.neural.cpu_kernels`, :mod:`nzarc.neural.cpu_attention`)
    ``options`` select, or None for the torch path.

    ``kernels="torch"`` and any device but the CPU give None; ``"auto"`` gives None when numba is missing; ``"fused"``
    raises ImportError then. A kernel library that cannot be mapped (a memory limit) raises
    ResourceError.
    """
    options = options or RuntimeOptions()
    kernels = options.kernels
    if kernels == "torch" or options.device != "cpu":  # the numba kernels are CPU code
        return None
    try:
        from nzarc.neural import cpu_attention, cpu_kernels
    except ImportError:  # numba missing: the torch path computes the same integers
        if kernels == "fused":
            raise
        return None
    except OSError as exc:  # llvmlite's library failing to map: a memory limit
        from nzarc.neural.resources import memory_failure

        raise (memory_failure("the fused CPU kernels (numba)", exc) or exc) from None
    return cpu_kernels, cpu_attention


def kernels_name(options: RuntimeOptions | None = None) -> str:
    """``fused`` (numba CPU kernels) or ``torch``: the element-wise route ``options`` give."""
    return "fused" if fused_kernels(options) is not None else "torch"


def select_backend(weights: Weights, options: RuntimeOptions, compact: bool = False) -> Backend:
    """The backend ``options`` give for ``weights`` (see :func:`fused_kernels`), computing
    nzarc-int-v2's 8-bit caches when ``compact`` (else nzarc-int-v1)."""
    modules = fused_kernels(options)
    if modules is None:
        from nzarc.neural.runtime.torch_backend import TorchBackend

        return TorchBackend(weights, device=options.device, compact=compact)
    from nzarc.neural.runtime.fused_backend import FusedBackend

    return FusedBackend(weights, *modules, threads=options.threads, compact=compact)
