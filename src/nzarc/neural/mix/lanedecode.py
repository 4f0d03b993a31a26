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
one does, so the number of guesses follows their success: a window's cap doubles (up to
``MAX_DRAFTS``) while all its guesses prove right, falls to the count that did, and when its
first guess is wrong the window feeds none for the next 1, 2, 4 … ``MAX_PAUSE`` calls (back to
1 after a right guess); on text that does not repeat (prose) few rows are wasted.
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
    cap = np.ones(len(windows), dtype=np.int64)  # guesses a call may feed
    pause = np.zeros(len(windows), dtype=np.int64)  # calls left without guesses
    backoff = np.ones(len(windows), dtype=np.int64)  # the next pause after a first guess fails
    while True:
        live = np.flatnonzero(done < counts)
        if live.size == 0:
            break
        if cancel is not None:
            cancel.check()
        feed: list[int] = []
        feed_rows: list[int] = []
        spans: list[tuple[int, int, list[int]]] = []  # (window, its first entry, its guesses)
        for i in live.tolist():
            last = bos if done[i] == 0 else int(out[i, done[i] - 1])
            if pause[i]:
                pause[i] -= 1
                guesses = []
            else:
                guesses = drafters[i].draft(min(int(cap[i]), int(counts[i] - done[i] - 1)))
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
                elif not guesses:
                    pass
                elif j == len(guesses):  # every guess was right: guess more
                    cap[i] = min(MAX_DRAFTS, 2 * cap[i])
                    backoff[i] = 1
                elif j:  # some were right
                    cap[i] = j
                    backoff[i] = 1
                else:  # the first was wrong: pause, longer each time in a row
                    cap[i] = 1
                    pause[i] = backoff[i]
                    backoff[i] = min(MAX_PAUSE, 2 * backoff[i])
            active = kept
            j += 1
        session.rewind(torch.from_numpy(live), torch.from_numpy(done[live]))
    if not kernel.decode_finish(rd).all():
        raise CodecError("nzarc.neural: corrupt range-coded stream (bad termination)")
    return out
