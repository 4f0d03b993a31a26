"""The neural codec's model work: prefill for encoding, batches and lockstep steps for
decoding, and progress reports of both (model-work events sent to the
:class:`~nzarc.events.ProgressSink` a caller passes, never to a global hook).

Contracts: :func:`window_intervals` gives, for every token of every window, the interval
the range coder codes it with (the window's model input is ``BOS, t_0, ..., t_{n-2}``);
:func:`decode_groups` splits windows into batches whose KV caches and tables fit a byte
budget; :func:`decode_windows` decodes one batch in lockstep through a model session,
checking its streams as it goes (CodecError from the range decoder). Every loop checks a
:class:`~nzarc.signals.CancelToken` when given one. The model is any
:class:`LanguageModel` (the runtime's ``IntModel``), so this module imports no model code.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Protocol

from nzarc.events import ProgressSink, report_model
from nzarc.signals import CancelToken

__all__ = [
    "CodecModel",
    "LanguageModel",
    "ModelSession",
    "decode_groups",
    "decode_windows",
    "window_intervals",
]

if TYPE_CHECKING:
    import torch

    from nzarc.neural.tokenizer import Tokenizer


class ModelSession(Protocol):
    """Incremental decoding state of a batch of windows."""

    def step(self, tokens: torch.Tensor, rows: torch.Tensor | None = None) -> torch.Tensor:
        """Append ``tokens[i]`` to window ``rows[i]`` (every window when ``rows`` is None)
        and return the next token's frequency table of each of those windows, on the
        model's device."""
        ...


class LanguageModel(Protocol):
    """What the model work needs of a model: its token ids and table size, batched
    frequency tables for prefill, and sessions for step-by-step decoding."""

    @property
    def bos_id(self) -> int: ...

    @property
    def vocab_size(self) -> int: ...

    @property
    def freq_bits(self) -> int:
        """Every frequency table sums to ``2**freq_bits``."""
        ...

    @property
    def device(self) -> str:
        """Where the model's tables live (``"cpu"``, ``"cuda:0"``, ...)."""
        ...

    @property
    def kv_bytes_per_token(self) -> int:
        """Bytes of KV cache one token of one window takes in a session."""
        ...

    def prefill_freqs(
        self, tokens: torch.Tensor, slab: int = ..., check: Callable[[], None] | None = ...
    ) -> Iterator[tuple[int, torch.Tensor]]:
        """Yield ``(t0, tables[B, n, V])`` for the inputs ``tokens[B, T]``; ``check`` is
        called between pieces of work and what it raises stops the call."""
        ...

    def session(self, batch: int, max_len: int) -> ModelSession: ...


class CodecModel(LanguageModel, Protocol):
    """A loaded model as the neural codec uses it: the model work's interface, the identity
    an archive pins (name, hashes, runtime), its longest window, its tokenizer, and its
    variants at another activation precision or runtime."""

    name: str
    weights_sha256: str
    tokenizer_sha256: str
    runtime_id: str
    max_len: int
    tokenizer: Tokenizer

    def with_act_levels(self, levels: int) -> CodecModel: ...

    def with_runtime(self, runtime_id: str) -> CodecModel: ...


#: Tokens prefilled per model call when encoding (windows are batched up to this).
PREFILL_TOKENS = 4096
#: Rows of frequency tables held at once when encoding (bounds the slab memory).
PREFILL_ROWS = 256
#: Decoding checks for corrupt streams every this many steps (an early exit).
_CHECK_EVERY = 64

def window_intervals(
    model: LanguageModel,
    windows: list[list[int]],
    cancel: CancelToken | None = None,
    progress: ProgressSink | None = None,
) -> Iterator[tuple[int, list[int], list[int]]]:
    """Yield ``(window index, cums, freqs)`` of every token of every window (prefill),
    sending ``progress`` an ``encode`` event of each window's tokens after it is yielded;
    ``cancel`` is checked before every model call, and inside each (between the model's
    layers and query blocks, through ``prefill_freqs(check=...)``), so that a long prefill
    stops within one layer's work."""
    import torch

    if not windows:
        return
    order = sorted(range(len(windows)), key=lambda i: -len(windows[i]))
    bos = int(model.bos_id)
    k = 0
    while k < len(order):
        if cancel is not None:
            cancel.check()
        length = len(windows[order[k]])
        per_call = max(1, PREFILL_TOKENS // length)
        group = order[k : k + per_call]
        k += len(group)
        inputs = torch.full((len(group), length), bos, dtype=torch.int64)
        targets = torch.zeros((len(group), length), dtype=torch.int64)
        for row, wi in enumerate(group):
            toks = torch.as_tensor(windows[wi], dtype=torch.int64)
            inputs[row, 1 : len(toks)] = toks[:-1]
            targets[row, : len(toks)] = toks
        slab = max(1, PREFILL_ROWS // len(group))
        cums = torch.empty_like(targets)
        freqs = torch.empty_like(targets)
        check = cancel.check if cancel is not None else None
        for t0, table in model.prefill_freqs(inputs, slab=slab, check=check):
            if cancel is not None:
                cancel.check()
            span = table.shape[1]
            tgt = targets[:, t0 : t0 + span].unsqueeze(2).to(table.device)
            # int32 is exact: a table sums to 2**freq_bits <= 2**30 (and int32 is 3x faster).
            cdf = torch.cumsum(table, dim=2, dtype=torch.int32)
            hi = cdf.gather(2, tgt).squeeze(2).to(torch.int64).cpu()
            f = table.gather(2, tgt).squeeze(2).to(torch.int64).cpu()
            cums[:, t0 : t0 + span] = hi - f
            freqs[:, t0 : t0 + span] = f
        for row, wi in enumerate(group):
            n = len(windows[wi])
            yield wi, cums[row, :n].tolist(), freqs[row, :n].tolist()
            report_model(progress, "encode", n)


def decode_groups(model: LanguageModel, counts: list[int], budget: int) -> list[list[int]]:
    """Split windows (sorted by decreasing length) into batches that fit ``budget`` bytes.

    Batches are balanced: with ``g`` batches needed, each holds about ``len / g``
    windows, so no batch runs a full window's steps for a handful of rows.
    """
    kv = model.kv_bytes_per_token
    tables = 4 * 8 * int(model.vocab_size)  # int32 table, cumulative sums, temporaries
    groups: list[list[int]] = []
    k = 0
    while k < len(counts):
        cap = max(1, budget // (counts[k] * kv + tables))  # counts[k] is the longest left
        rest = len(counts) - k
        size = -(-rest // -(-rest // cap))  # balanced: ceil(rest / ceil(rest / cap)) <= cap
        groups.append(list(range(k, k + size)))
        k += size
    return groups


def decode_windows(
    model: LanguageModel,
    streams: list[bytes],
    counts: list[int],
    cancel: CancelToken | None = None,
    progress: ProgressSink | None = None,
) -> list[list[int]]:
    """Decode windows (sorted by decreasing symbol count) in one lockstep batch; ``cancel``
    is checked before every model step, and ``progress`` gets ``decode`` events of the
    tokens decoded (every few steps, and at the end)."""
    import torch

    from nzarc.neural.coder import BatchRangeDecoder

    batch = len(streams)
    longest = counts[0]
    session = model.session(batch=batch, max_len=longest)
    decoder = BatchRangeDecoder(streams, counts, int(model.freq_bits), device=model.device)
    counts_t = torch.as_tensor(counts, dtype=torch.int64)
    out = torch.zeros((batch, longest), dtype=torch.int64)
    tokens = torch.full((batch,), int(model.bos_id), dtype=torch.int64)
    done = 0
    for t in range(longest):
        if cancel is not None:
            cancel.check()
        live = int((counts_t > t).sum())  # windows are sorted: rows 0..live-1 are unfinished
        if live == batch:
            symbols = decoder.step(session.step(tokens)).cpu()
        else:
            rows = torch.arange(live)
            symbols = decoder.step(session.step(tokens[:live], rows), rows).cpu()
        out[:live, t] = symbols
        tokens[:live] = symbols
        done += live
        if t % _CHECK_EVERY == _CHECK_EVERY - 1:
            decoder.check()
            report_model(progress, "decode", done)
            done = 0
    decoder.finish()
    report_model(progress, "decode", done)
    return [out[b, : counts[b]].tolist() for b in range(batch)]
