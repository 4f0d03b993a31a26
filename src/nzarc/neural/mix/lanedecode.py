"""Decoding a group of version-2 lanes in lockstep, with guessed tokens checked in batches.

Contract. :func:`decode_group` decodes the lanes of one state group (row ``g`` of the state
is the group's ``g``-th lane) round by round, round ``r`` holding every lane's ``r``-th window,
into ``tokens[lane][r]``, and raises :class:`CodecError` on a stream that is not canonical.
The tokens are exactly those of one model step per token: guessing only changes how many
tables one model call computes.

How. To decode a window's token ``x_n`` the decoder needs the model's table after
``BOS, x_0 … x_{n-1}``. Each model call feeds every unfinished window its last decoded token
and, after it, up to ``MAX_DRAFTS`` guessed tokens ``d_1 … d_k`` (:class:`Drafter`: the
continuation of the latest earlier occurrence, in this lane, of the last three or two
tokens); :meth:`~nzarc.neural.runtime.session.Session.extend` returns one table per fed
token, each identical to the table single steps would give for the same prefix. The decoder
decodes ``x_n`` with the first table; while the token it decoded equals the guess fed after
it, the next table is the true one and it decodes the next token too. The first wrong guess
ends the call; :meth:`~nzarc.neural.runtime.session.Session.rewind` then forgets the guessed
positions (the next call overwrites them). Every call decodes at least one token of each
window, so a call costs no more model steps than plain decoding, and on repetitive text (logs,
JSON) one call decodes several tokens of a window. A guessed row costs about what a decoded
one does, so the number of guesses follows their success (:class:`_GuessBudget`); on text
that does not repeat (prose) few rows are wasted.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from nzarc.errors import CodecError
from nzarc.events import ProgressSink, report_model
from nzarc.neural.mix import kernel
from nzarc.neural.modelwork import decode_groups
from nzarc.signals import CancelToken

__all__ = ["Drafter", "MAX_DRAFTS", "decode_group"]

#: Most guessed tokens fed after a window's last decoded token in one model call.
MAX_DRAFTS = 8
#: Longest pause, in calls, of a window's guessing after its first guesses proved wrong.
MAX_PAUSE = 32
#: Context lengths the drafter matches, longest first.
DRAFT_ORDERS = (3, 2)


class Drafter:
    """Guesses of a lane's next tokens from its own history (they never change the bytes:
    a wrong guess only costs a table that is thrown away)."""

    def __init__(self) -> None:
        self.hist: list[int] = []
        self._seen: dict[int, dict[tuple[int, ...], int]] = {k: {} for k in DRAFT_ORDERS}

    def push(self, token: int) -> None:
        """Record the lane's next decoded token."""
        h = self.hist
        n = len(h)
        for k, seen in self._seen.items():
            if n >= k:
                seen[tuple(h[n - k : n])] = n  # the context ending before ``token`` -> its index
        h.append(token)

    def draft(self, limit: int) -> list[int]:
        """Up to ``limit`` guesses of the tokens after the history: what followed the latest
        earlier occurrence of its last ``k`` tokens (the longest ``k`` that occurred)."""
        h = self.hist
        n = len(h)
        if limit <= 0:
            return []
        for k, seen in self._seen.items():
            if n >= k:
                at = seen.get(tuple(h[n - k : n]))
                if at is not None:
                    return h[at : at + limit]
        return []


class _GuessBudget:
    """How many guesses each window of a batch may feed a call: the cap doubles (up to
    :data:`MAX_DRAFTS`) while all its guesses prove right and falls to the count that did;
    when the first is wrong the window feeds none for the next 1, 2, 4 … :data:`MAX_PAUSE`
    calls (back to 1 after a right guess)."""

    def __init__(self, windows: int) -> None:
        self.cap = [1] * windows  # guesses a call may feed
        self.pause = [0] * windows  # calls left without guesses
        self.backoff = [1] * windows  # the next pause after a first guess fails

    def allow(self, i: int) -> int:
        """Guesses window ``i`` may feed this call (counts a paused call)."""
        if self.pause[i]:
            self.pause[i] -= 1
            return 0
        return self.cap[i]

    def settle(self, i: int, fed: int, right: int) -> None:
        """Window ``i`` fed ``fed`` guesses, of which the first ``right`` proved right."""
        if not fed:
            return
        if right:
            self.cap[i] = min(MAX_DRAFTS, 2 * self.cap[i]) if right == fed else right
            self.backoff[i] = 1
        else:
            self.cap[i] = 1
            self.pause[i] = self.backoff[i]
            self.backoff[i] = min(MAX_PAUSE, 2 * self.backoff[i])


def decode_group(
    model: Any,
    lanes: Sequence[Sequence[tuple[bytes, int]]],
    group: list[int],
    tokens: list[list[list[int]]],
    budget: int,
    cancel: CancelToken | None,
    progress: ProgressSink | None,
) -> None:
    """Decode the lanes ``group`` (see the module docstring) into ``tokens[lane][w]``; KV
    caches within ``budget`` bytes a batch."""
    vocab = int(model.vocab_size)
    capacity = max(sum(n for _, n in lanes[li]) for li in group)
    state = kernel.new_state(len(group), vocab, capacity)
    drafters = {li: Drafter() for li in group}
    rounds = max(len(lanes[li]) for li in group)
    for rnd in range(rounds):
        jobs = [(li, row, lanes[li][rnd]) for row, li in enumerate(group) if rnd < len(lanes[li])]
        jobs.sort(key=lambda j: -j[2][1])
        for batch in decode_groups(model, [j[2][1] for j in jobs], budget):
            sel = [jobs[k] for k in batch]
            out = _decode_batch(
                model, state, [job for _, _, job in sel], [row for _, row, _ in sel],
                [drafters[li] for li, _, _ in sel], cancel, progress,
            )  # fmt: skip
            for (li, _, (_, n)), row in zip(sel, out, strict=True):
                tokens[li][rnd] = row[:n].tolist()


def _decode_batch(
    model: Any,
    state: tuple[np.ndarray, ...],
    windows: list[tuple[bytes, int]],
    state_rows: list[int],
    drafters: list[Drafter],
    cancel: CancelToken | None,
    progress: ProgressSink | None,
) -> np.ndarray:
    """Tokens int64 [b, longest] of ``windows`` (``(stream, symbols)``, longest first),
    window ``i`` decoded with mixer state row ``state_rows[i]`` and guesses from
    ``drafters[i]``."""
    import torch

    vocab = int(model.vocab_size)
    bos = int(model.bos_id)
    counts = np.asarray([n for _, n in windows], dtype=np.int64)
    rd, data = kernel.decode_start([s for s, _ in windows])
    lane_rows = np.asarray(state_rows, dtype=np.int64)
    session = model.session(batch=len(windows), max_len=int(counts[0]))
    out = np.zeros((len(windows), int(counts[0])), dtype=np.int64)
    done = np.zeros(len(windows), dtype=np.int64)
    budget = _GuessBudget(len(windows))
    while True:
        live = np.flatnonzero(done < counts)
        if live.size == 0:
            break
        if cancel is not None:
            cancel.check()
        feed: list[int] = []
        feed_rows: list[int] = []
        spans: list[tuple[int, int, list[int]]] = []  # (window, its first entry, its guesses)
        before = done.copy()
        for i in live.tolist():
            last = bos if done[i] == 0 else int(out[i, done[i] - 1])
            guesses = drafters[i].draft(min(budget.allow(i), int(counts[i] - done[i] - 1)))
            spans.append((i, len(feed), guesses))
            feed.append(last)
            feed.extend(guesses)
            feed_rows.extend([i] * (1 + len(guesses)))
        tables = session.extend(torch.tensor(feed, dtype=torch.int64), torch.tensor(feed_rows)).cpu()
        active = spans
        j = 0
        while active:
            rows = np.asarray([i for i, _, _ in active], dtype=np.int64)
            table = tables[[first + j for _, first, _ in active]]
            cdf = torch.cumsum(table, dim=1, dtype=torch.int32).numpy()
            tops = table.max(dim=1).values.numpy()
            sym = kernel.decode_step(state, lane_rows[rows], rows, vocab, cdf, tops, rd, data)
            if rd[rows, 4].any():
                raise CodecError("nzarc.neural: corrupt range-coded stream (invalid value or overrun)")
            out[rows, done[rows]] = sym
            done[rows] += 1
            report_model(progress, "decode", len(active))
            kept = []
            for (i, first, guesses), t in zip(active, sym.tolist(), strict=True):
                drafters[i].push(t)
                if j < len(guesses) and guesses[j] == t:
                    kept.append((i, first, guesses))
            active = kept
            j += 1
        for i, _, guesses in spans:  # a call decodes one token, then one per right guess
            budget.settle(i, len(guesses), int(done[i] - before[i]) - 1)
        session.rewind(torch.from_numpy(live), torch.from_numpy(done[live]))
    if not kernel.decode_finish(rd).all():
        raise CodecError("nzarc.neural: corrupt range-coded stream (bad termination)")
    return out
