"""Version-2 chunks: the lane layout, and encoding and decoding of lanes with the mixer.

Contracts. A chunk of ``T`` tokens has ``W = ceil(T / N)`` windows of ``N`` tokens (the LM
restarts from ``BOS`` in each, as in version 1); lane ``j`` of ``L`` holds windows
``[j W // L, (j + 1) W // L)`` (:func:`lane_windows`), and the mixer's state runs through the
windows of one lane in order and never crosses lanes. Each window is one range-coder stream.

A lane is therefore the unit of work: :func:`split_tokens` / :func:`split_streams` cut chunks
into their lanes that hold windows (with the owning chunk of each), :func:`encode_lanes` codes
lanes (a list of window token lists each) into their window streams, :func:`decode_lanes`
decodes lanes (a list of ``(stream, symbols)`` windows each) into their windows' tokens, every
lane in lockstep rounds (round ``r`` decodes the ``r``-th window of every lane), and raises
:class:`CodecError` on a stream that is not canonical; :func:`join_lanes` puts the per-lane
results back in each chunk's window order. A lane's results depend on nothing but its own
windows, so any grouping of lanes into calls, processes or cluster tasks gives the same
bytes. :func:`encode_chunks` / :func:`decode_chunks` do a codec call's whole work, the lanes
coded here or by a :class:`~nzarc.codecs.context.WindowRunner`. The model is duck-typed (``prefill_freqs``, ``session``, ``vocab_size``, ``bos_id``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

import numpy as np

from nzarc.errors import CodecError
from nzarc.events import ProgressSink, report_model
from nzarc.neural.mix import kernel
from nzarc.neural.mix.lanedecode import decode_group
from nzarc.neural.mix.lmnodes import id_bits, path_counts
from nzarc.signals import CancelToken

if TYPE_CHECKING:
    from nzarc.codecs.context import WindowRunner

__all__ = [
    "decode_lanes",
    "decode_state_bytes",
    "encode_chunks",
    "encode_lanes",
    "join_lanes",
    "check_decoded",
    "lane_windows",
    "split_streams",
    "split_tokens",
    "stream_limit",
]

#: Tokens prefilled per model call when encoding (windows of one length are batched up to this).
PREFILL_TOKENS = 4096
#: Rows of tables per prefill slab (bounds the slab memory).
PREFILL_ROWS = 256
#: Lanes decoded together share one state, at most ``1 + 1 / STATE_SLACK`` times their own.
STATE_SLACK = 16

_T = TypeVar("_T")


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


def decode_state_bytes(vocab_size: int, total_tokens: int, window: int, lanes: int) -> int:
    """Bytes of mixer state a chunk of at most ``total_tokens`` tokens needs when decoding:
    one lane state per lane that holds a window (at most ``min(L, W)``), each of the longest
    lane's capacity, plus :data:`STATE_SLACK` of it (lanes of several chunks share one
    allocation, their histories padded to the longest)."""
    used = min(lanes, -(-total_tokens // window))
    own = kernel.state_bytes(max(1, used), vocab_size, _lane_capacity(total_tokens, window, lanes))
    return own + own // STATE_SLACK


def _split(items: Sequence[_T], window_count: int, lanes: int) -> list[list[_T]]:
    return [list(items[r.start : r.stop]) for r in lane_windows(window_count, lanes) if len(r)]


def split_tokens(
    token_lists: Sequence[Sequence[int]], window: int, lanes: int
) -> tuple[list[list[list[int]]], list[int]]:
    """The lanes that hold windows of every chunk, in chunk and lane order (each a list of
    its windows' token lists), and the chunk index of each lane."""
    units: list[list[list[int]]] = []
    owner: list[int] = []
    for ci, toks in enumerate(token_lists):
        windows = [list(toks[s : s + window]) for s in range(0, len(toks), window)]
        for lane in _split(windows, len(windows), lanes):
            units.append(lane)
            owner.append(ci)
    return units, owner


def split_streams(
    chunks: Sequence[tuple[int, Sequence[bytes]]], window: int, lanes: int
) -> tuple[list[list[tuple[bytes, int]]], list[int]]:
    """The lanes of every ``(T, streams)`` chunk as :func:`split_tokens` makes them, each a
    list of its windows' ``(stream, symbols)``, and the chunk index of each lane."""
    units: list[list[tuple[bytes, int]]] = []
    owner: list[int] = []
    for ci, (total, streams) in enumerate(chunks):
        jobs = [(bytes(s), min(window, total - w * window)) for w, s in enumerate(streams)]
        for lane in _split(jobs, len(jobs), lanes):
            units.append(lane)
            owner.append(ci)
    return units, owner


def join_lanes(per_lane: Sequence[Sequence[_T]], owner: Sequence[int], chunks: int) -> list[list[_T]]:
    """Each chunk's per-window results in window order, from the results of its lanes."""
    out: list[list[_T]] = [[] for _ in range(chunks)]
    for items, ci in zip(per_lane, owner, strict=True):
        out[ci].extend(items)
    return out


def check_decoded(lanes: Sequence[Sequence[tuple[bytes, int]]], per_lane: Sequence[Sequence[Sequence[int]]]) -> None:
    """CodecError unless ``per_lane`` has, for every lane, one token list of each window's
    symbol count (what a decoder, in-process or remote, must return)."""
    if len(per_lane) != len(lanes):
        raise CodecError(f"nzarc.neural: {len(per_lane)} lanes decoded, expected {len(lanes)}")
    for lane, got in zip(lanes, per_lane, strict=True):
        if [len(t) for t in got] != [n for _, n in lane]:
            raise CodecError("nzarc.neural: a lane decoded to windows of the wrong token counts")


def encode_chunks(
    model: Any,
    token_lists: Sequence[Sequence[int]],
    window: int,
    lanes: int,
    runner: WindowRunner | None = None,
    key: tuple[str, int, str] = ("", 1, ""),
    cancel: CancelToken | None = None,
    progress: ProgressSink | None = None,
) -> list[list[bytes]]:
    """The window streams of each chunk; its lanes coded here, or by ``runner`` (the work
    named ``key``); ``progress`` gets the ``encode-planned`` tokens, then ``encode`` events."""
    units, owner = split_tokens(token_lists, window, lanes)
    report_model(progress, "encode-planned", sum(len(t) for t in token_lists))
    if runner is None or not units:
        coded = encode_lanes(model, units, cancel, progress)
    else:
        coded = runner.encode_lanes(key, units, progress, _check(cancel))
    return join_lanes(coded, owner, len(token_lists))


def decode_chunks(
    model: Any,
    chunks: Sequence[tuple[int, Sequence[bytes]]],
    window: int,
    lanes: int,
    budget: int,
    runner: WindowRunner | None = None,
    key: tuple[str, int, str] = ("", 1, ""),
    cancel: CancelToken | None = None,
    progress: ProgressSink | None = None,
) -> list[list[int]]:
    """The tokens of each ``(T, streams)`` chunk (the streams passed their length checks);
    its lanes decoded here within ``budget`` bytes of KV cache a batch, or by ``runner``;
    ``progress`` gets the ``decode-planned`` tokens, then ``decode`` events."""
    units, owner = split_streams(chunks, window, lanes)
    report_model(progress, "decode-planned", sum(t for t, _ in chunks))
    if runner is None or not units:
        per_lane = decode_lanes(model, units, budget, cancel, progress)
    else:
        per_lane = runner.decode_lanes(key, units, progress, _check(cancel))
    check_decoded(units, per_lane)
    return [[t for win in chunk for t in win] for chunk in join_lanes(per_lane, owner, len(chunks))]


def _check(cancel: CancelToken | None) -> Callable[[], None] | None:
    return cancel.check if cancel is not None else None


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


def encode_lanes(
    model: Any,
    lanes: Sequence[Sequence[Sequence[int]]],
    cancel: CancelToken | None = None,
    progress: ProgressSink | None = None,
) -> list[list[bytes]]:
    """The window streams of each lane (see the module docstring); ``progress`` gets
    ``encode`` events as the model finishes tokens (the model's work; the mixer's that
    follows costs about 0.1% of it)."""
    vocab = int(model.vocab_size)
    windows = [list(w) for lane in lanes for w in lane]
    lm = _prefill_counts(model, windows, cancel, progress)
    result: list[list[bytes]] = []
    k = 0
    for lane in lanes:
        state = kernel.new_state(1, vocab, sum(len(w) for w in lane))
        streams: list[bytes] = []
        for _ in lane:
            if cancel is not None:
                cancel.check()
            counts, tops = lm[k]
            tokens = np.asarray(windows[k], dtype=np.int64)
            streams.append(kernel.encode_window(state, 0, vocab, tokens, counts, tops))
            k += 1
        result.append(streams)
    return result


def decode_lanes(
    model: Any,
    lanes: Sequence[Sequence[tuple[bytes, int]]],
    budget: int,
    cancel: CancelToken | None = None,
    progress: ProgressSink | None = None,
) -> list[list[list[int]]]:
    """The tokens of each window of each lane of ``(stream, symbols)`` windows (the streams
    passed their length checks); KV caches within ``budget`` bytes a batch, mixer state of at
    most the lanes' own :func:`~nzarc.neural.mix.kernel.state_bytes`. ``progress`` gets
    ``decode`` events as steps finish."""
    vocab = int(model.vocab_size)
    tokens: list[list[list[int]]] = [[[] for _ in lane] for lane in lanes]
    for group in _state_groups(vocab, [sum(n for _, n in lane) for lane in lanes]):
        decode_group(model, lanes, group, tokens, budget, cancel, progress)
    return tokens


def _state_groups(vocab: int, capacities: list[int]) -> list[list[int]]:
    """Consecutive lanes that share one state allocation, decoded in one lockstep batch: a
    group's state (its lanes at the group's largest capacity) never exceeds the sum over its
    lanes of ``own + own // STATE_SLACK`` (so never their chunks' :func:`decode_state_bytes`);
    only the histories, 4 bytes a token, depend on the capacity, so lanes of similar length
    form one group."""
    groups: list[list[int]] = []
    rows = cap = bound = 0
    for li, c in enumerate(capacities):
        own = kernel.state_bytes(1, vocab, c)
        own += own // STATE_SLACK
        if groups and kernel.state_bytes(rows + 1, vocab, max(cap, c)) <= bound + own:
            groups[-1].append(li)
            rows, cap, bound = rows + 1, max(cap, c), bound + own
        else:
            groups.append([li])
            rows, cap, bound = 1, c, own
    return groups
