"""The LM's side of a version-2 decision: the counts of the two halves of each id-bit node.

A token id is coded as ``B = id_bits(V)`` binary decisions, most significant bit first. At
bit ``b`` (``0 <= b < B``) the id range of the node is ``[lo, hi)`` with
``lo = (id >> (B - b)) << (B - b)`` and ``hi = lo + 2**(B - b)``, split at
``mid = lo + 2**(B - b - 1)``; ``mid`` and ``hi`` are clamped to ``V``. With ``C(x)`` the sum
of the table's first ``x`` entries, the node's counts are ``n0 = C(mid) - C(lo)`` and
``n1 = C(hi) - C(mid)`` (``n1 = 0`` exactly when ``mid >= V``: the decision is not coded).
"""

from __future__ import annotations

import torch

__all__ = ["id_bits", "path_counts"]


def id_bits(vocab_size: int) -> int:
    """``B = ceil(log2 V)`` (at least 1): the number of binary decisions per token."""
    return max(1, (int(vocab_size) - 1).bit_length())


def path_counts(table: torch.Tensor, targets: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Node counts along each target's own path, and each table's largest entry.

    ``table`` is an integer tensor ``[..., V]`` (entries >= 1), ``targets`` the ids ``[...]``.
    Returns ``(counts, top)``: int32 ``[..., B, 2]`` holding ``(n0, n1)`` per bit (see the
    module docstring), and int32 ``[...]``, the maximum of each table.
    """
    v = int(table.shape[-1])
    bits = id_bits(v)
    cdf = torch.cumsum(table, dim=-1, dtype=torch.int32)
    zero = torch.zeros(cdf.shape[:-1] + (1,), dtype=torch.int32, device=cdf.device)
    excl = torch.cat([zero, cdf], dim=-1)  # excl[x] = C(x), x in 0..V
    tgt = targets.to(device=cdf.device, dtype=torch.int64).unsqueeze(-1)
    shifts = torch.arange(bits - 1, -1, -1, device=cdf.device, dtype=torch.int64)  # B-b-1
    lo = (tgt >> (shifts + 1)) << (shifts + 1)
    mid = torch.clamp(lo + (1 << shifts), max=v)
    hi = torch.clamp(lo + (2 << shifts), max=v)
    c_lo, c_mid, c_hi = (excl.gather(-1, x) for x in (lo, mid, hi))
    counts = torch.stack([c_mid - c_lo, c_hi - c_mid], dim=-1).to(torch.int32)
    top = table.max(dim=-1).values.to(torch.int32)
    return counts, top
