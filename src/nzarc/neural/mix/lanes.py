"""Version-2 chunks: the lane layout, and encoding and decoding of chunks with the mixer.

Contracts. A chunk of ``T`` tokens has ``W = ceil(T / N)`` windows of ``N`` tokens (the LM
restarts from ``BOS`` in each, as in version 1); lane ``j`` of ``L`` holds windows
``[j W // L, (j + 1) W // L)`` (:func:`lane_windows`), and the mixer's state runs through the
windows of one lane in order and never crosses lanes. Each window is one range-coder stream.
:func:`encode_chunks` returns the streams of each chunk in window order;
:func:`decode_chunks` decodes the streams of several chunks, every lane of every chunk in
lockstep rounds (round ``r`` decodes the ``r``-th window of every lane), and raises
:class:`CodecError` on a stream that is not canonical. The model is duck-typed
(``prefill_freqs``, ``session``, ``vocab_size``, ``bos_id``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from nzarc.errors import CodecError
from nzarc.events import ProgressSink, report_model
from nzarc.neural.mix import kernel
from nzarc.neural.mix.lmnodes import id_bits, path_counts
from nzarc.neural.modelwork import decode_groups
from nzarc.signals import CancelToken

__all__ = ["lane_windows", "stream_limit", "encode_chunks", "decode_chunks", "decode_state_bytes"]

#: Tokens prefilled per model call when encoding (windows of one length are batched up to this).
PREFILL_TOKENS = 4096
#: Rows of tables per prefill slab (bounds the slab memory).
PREFILL_ROWS = 256


def lane_windows(windows: int, lanes: int) -> list[range]:
    """The windows of each lane: lane ``j`` holds ``range(j W // L, (j + 1) W // L)``."""
    return [range(j * windows // lanes, (j + 1) * windows // lanes) for j in range(lanes)]


def stream_limit(vocab_size: int, symbols: int) -> int:
    """Longest valid stream of a window of ``symbols`` tokens: ``2 B symbols + 1`` bytes
    (a decision at ``freq_bits = 16`` shifts the coder at most twice)."""
    return 2 * id_bits(vocab_size) * symbols + 1


def _lane_capacity(total: int, window: int, lanes: int) -> int:
    count = -(-total // window)
    return max((len(r) for r in lane_windows(count, lanes)), default=0) * window


def _used_lanes(total: int, window: int, lanes: int) -> list[int]:
    """The lanes of a chunk of ``total`` tokens that hold windows: only they get state."""
    return [j for j, r in enumerate(lane_windows(-(-total // window), lanes)) if len(r)]


def decode_state_bytes(vocab_size: int, total_tokens: int, window: int, lanes: int) -> int:
    """Bytes of mixer state a chunk of at most ``total_tokens`` tokens needs when decoding:
    one lane state per lane that holds a window (at most ``min(L, W)``)."""
    used = min(lanes, -(-total_tokens // window))
    return kernel.state_bytes(max(1, used), vocab_size, _lane_capacity(total_tokens, window, lanes))


def _prefill_counts(
    model: Any,
    windows: list[list[int]],
    cancel: CancelToken | None,
    progress: ProgressSink | None = None,
) -> list[tuple[np.ndarray, np.ndarray]]:
    """Node counts ``[n, B, 2]`` and table tops ``[n]`` of every token of every window;
    ``progress`` gets an ``encode`` event of the tokens of each slab the model finishes."""
    import torch

    out: list[tuple[np.ndarray, np.ndarray]] = [(np.zeros(0), np.zeros(0))] * len(windows)
    order = sorted(range(len(windows)), key=lambda i: -len(windows[i]))
    bos = int(model.bos_id)
    check = cancel.check if cancel is not None else None
    k = 0
    while k < len(order):
        if cancel is not None:
            cancel.check()
        length = len(windows[order[k]])
        group = order[k : k + max(1, PREFILL_TOKENS // length)]
        k += len(group)
        inputs = torch.full((len(group), length), bos, dtype=torch.int64)
        targets = torch.zeros((len(group), length), dtype=torch.int64)
        for row, wi in enumerate(group):
            toks = torch.as_tensor(windows[wi], dtype=torch.int64)
            inputs[row, 1 : len(toks)] = toks[:-1]
            targets[row, : len(toks)] = toks
        bits = id_bits(int(model.vocab_size))
        counts = np.zeros((len(group), length, bits, 2), dtype=np.int32)
        tops = np.zeros((len(group), length), dtype=np.int32)
        slab = max(1, PREFILL_ROWS // len(group))
        for t0, table in model.prefill_freqs(inputs, slab=slab, check=check):
            span = table.shape[1]
            c, top = path_counts(table, targets[:, t0 : t0 + span])
            counts[:, t0 : t0 + span] = c.cpu().numpy()
            tops[:, t0 : t0 + span] = top.cpu().numpy()
            done = sum(max(0, min(len(windows[wi]), t0 + span) - t0) for wi in group)
            report_model(progress, "encode", done)
        for row, wi in enumerate(group):
            n = len(windows[wi])
            out[wi] = (counts[row, :n], tops[row, :n])
    return out


def encode_chunks(
    model: Any,
    token_lists: Sequence[list[int]],
    window: int,
    lanes: int,
    cancel: CancelToken | None = None,
    progress: ProgressSink | None = None,
) -> list[list[bytes]]:
    """The window streams of each chunk (see the module docstring); ``progress`` gets the
    ``encode-planned`` tokens, then ``encode`` events as the model finishes them (the
    model's work; the mixer's that follows costs about 0.1% of it)."""
    vocab = int(model.vocab_size)
    windows: list[list[int]] = []
    first: list[int] = []
    for toks in token_lists:
        first.append(len(windows))
        windows.extend(toks[s : s + window] for s in range(0, len(toks), window))
    report_model(progress, "encode-planned", sum(len(w) for w in windows))
    lm = _prefill_counts(model, windows, cancel, progress)
    result: list[list[bytes]] = []
    for ci, toks in enumerate(token_lists):
        count = -(-len(toks) // window)
        streams: list[bytes] = []
        used = _used_lanes(len(toks), window, lanes)
        state = kernel.new_state(max(1, len(used)), vocab, _lane_capacity(len(toks), window, lanes))
        plan = lane_windows(count, lanes)
        for lane, j in enumerate(used):
            for w in plan[j]:
                if cancel is not None:
                    cancel.check()
                counts, tops = lm[first[ci] + w]
                tokens = np.asarray(windows[first[ci] + w], dtype=np.int64)
                streams.append(kernel.encode_window(state, lane, vocab, tokens, counts, tops))
        result.append(streams)
    return result


def decode_chunks(
    model: Any,
    chunks: Sequence[tuple[int, list[bytes]]],
    window: int,
    lanes: int,
    budget: int,
    cancel: CancelToken | None = None,
    progress: ProgressSink | None = None,
) -> list[list[int]]:
    """The tokens of each ``(T, streams)`` chunk; the streams passed their length checks.
    ``progress`` gets the ``decode-planned`` tokens, then ``decode`` events as steps finish."""
    vocab = int(model.vocab_size)
    report_model(progress, "decode-planned", sum(t for t, _ in chunks))
    tokens: list[list[list[int]]] = [[[] for _ in s] for _, s in chunks]
    for group in _state_groups(vocab, [t for t, _ in chunks], window, lanes):
        _decode_group(model, chunks, group, tokens, window, lanes, budget, cancel, progress)
    return [[t for win in chunk for t in win] for chunk in tokens]


def _state_groups(vocab: int, totals: list[int], window: int, lanes: int) -> list[list[int]]:
    """Consecutive chunks whose lanes share one state allocation: a group's state (its lanes
    at the group's largest capacity) never exceeds the sum of its chunks' own
    :func:`decode_state_bytes`, so decoding stays within ``max_decode_memory``."""
    groups: list[list[int]] = []
    rows = cap = bound = 0
    for ci, total in enumerate(totals):
        n = max(1, len(_used_lanes(total, window, lanes)))
        c = _lane_capacity(total, window, lanes)
        own = kernel.state_bytes(n, vocab, c)
        if groups and kernel.state_bytes(rows + n, vocab, max(cap, c)) <= bound + own:
            groups[-1].append(ci)
            rows, cap, bound = rows + n, max(cap, c), bound + own
        else:
            groups.append([ci])
            rows, cap, bound = n, c, own
    return groups


def _decode_group(
    model: Any,
    chunks: Sequence[tuple[int, list[bytes]]],
    group: list[int],
    tokens: list[list[list[int]]],
    window: int,
    lanes: int,
    budget: int,
    cancel: CancelToken | None,
    progress: ProgressSink | None,
) -> None:
    """Decode the chunks ``group`` in lockstep rounds into ``tokens[ci][w]``."""
    import torch

    vocab = int(model.vocab_size)
    bos = int(model.bos_id)
    lane_base: dict[int, int] = {}
    plans: dict[int, list[range]] = {}
    n_lanes = capacity = 0
    for ci in group:
        total, streams = chunks[ci]
        full = lane_windows(len(streams), lanes)
        plans[ci] = [full[j] for j in _used_lanes(total, window, lanes)]
        lane_base[ci] = n_lanes
        n_lanes += len(plans[ci])
        capacity = max(capacity, _lane_capacity(total, window, lanes))
    state = kernel.new_state(max(1, n_lanes), vocab, capacity)
    rounds = max((len(r) for ci in group for r in plans[ci]), default=0)
    for rnd in range(rounds):
        jobs: list[tuple[int, int, int, int]] = []  # (chunk, window, global lane, symbols)
        for ci in group:
            total = chunks[ci][0]
            for lane, wins in enumerate(plans[ci]):
                if rnd < len(wins):
                    w = wins[rnd]
                    jobs.append((ci, w, lane_base[ci] + lane, min(window, total - w * window)))
        jobs.sort(key=lambda j: -j[3])
        for batch in decode_groups(model, [j[3] for j in jobs], budget):
            sel = [jobs[k] for k in batch]
            rd, data = kernel.decode_start([chunks[ci][1][w] for ci, w, _, _ in sel])
            counts = [j[3] for j in sel]
            session = model.session(batch=len(sel), max_len=counts[0])
            out = np.zeros((len(sel), counts[0]), dtype=np.int64)
            feed = torch.full((len(sel),), bos, dtype=torch.int64)
            lane_ids = np.asarray([j[2] for j in sel], dtype=np.int64)
            for t in range(counts[0]):
                if cancel is not None:
                    cancel.check()
                live = sum(1 for c in counts if c > t)
                rows = torch.arange(live)
                table = session.step(feed[:live], None if live == len(sel) else rows).cpu()
                cdf = torch.cumsum(table, dim=1, dtype=torch.int32).numpy()
                tops = table.max(dim=1).values.numpy()
                sym = kernel.decode_step(
                    state, lane_ids[:live], np.arange(live), vocab, cdf, tops, rd, data
                )
                if rd[:live, 4].any():
                    raise CodecError(
                        "nzarc.neural: corrupt range-coded stream (invalid value or overrun)"
                    )
                out[:live, t] = sym
                feed[:live] = torch.as_tensor(sym, dtype=torch.int64)
                report_model(progress, "decode", live)
            if not kernel.decode_finish(rd).all():
                raise CodecError("nzarc.neural: corrupt range-coded stream (bad termination)")
            for (ci, w, _, n), row in zip(sel, out, strict=True):
                tokens[ci][w] = row[:n].tolist()
