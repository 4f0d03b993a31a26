"""Codec planning: which codecs an archive may use, and which of them its table declares.

:func:`plan_codecs` turns a codec choice into a :class:`CodecPlan` (the candidate codecs,
built). Each chunk is then encoded by every candidate and takes the smallest output; for an
archive short enough that the writer settles its codec table on all of its chunks,
:func:`smallest_table` may move chunks off a codec whose table entry costs more than it
saves. :class:`CodecTable` is the table finally declared: the plan slots it holds, each
chunk's slot on the wire, and the chunks each slot carries. Nothing here writes bytes.
"""

from __future__ import annotations

import dataclasses
import itertools
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from nzarc.codecs.context import CodecContext
from nzarc.codecs.contract import Codec
from nzarc.codecs.names import ALIASES as _ALIASES
from nzarc.codecs.names import NEURAL_ID, STORE_ID, XZ_ID, ZSTD_ID
from nzarc.codecs.registry import Registry, registry_for
from nzarc.errors import CodecError, ModelMismatch, UnsupportedCodec
from nzarc.format.header import CodecEntry, Header, encode_header
from nzarc.levels import level_codec

__all__ = [
    "AUTO_ZSTD_LEVEL",
    "CodecPlan",
    "CodecTable",
    "EncodedGroup",
    "check_level",
    "plan_codecs",
    "smallest_table",
    "table_header",
    "table_header_len",
]

AUTO_ZSTD_LEVEL = 19


@dataclass
class CodecPlan:
    """The codec table an archive may declare, the built codecs, and the candidate slots.

    ``auto``: the codecs were chosen by ``auto``, so a writer may leave a candidate out of
    the table where that makes the archive smaller (see :func:`smallest_table`).
    """

    entries: list[CodecEntry]
    codecs: list[Codec]
    candidates: list[int] = field(default_factory=list)
    auto: bool = False


@dataclass
class EncodedGroup:
    """An encoded group: per chunk the chosen ``(slot, output)``, and every output a
    candidate produced for it (by slot; slot 0, the chunk itself, always). Only the
    chosen output has been round-trip checked where that is required
    (:meth:`ChunkEncoder.acceptable` checks any other)."""

    chosen: list[tuple[int, bytes]]
    outputs: list[dict[int, bytes]]


def _entry(registry: Registry, codec: Codec) -> CodecEntry:
    return CodecEntry(
        codec_id=codec.codec_id,
        version=codec.version,
        params=codec.get_params(),
        dist=registry.distribution_of(codec.codec_id),
        models=tuple(codec.required_models()),
    )


def check_level(codec: str, level: int | None) -> None:
    """Raise :class:`~nzarc.levels.CodecOptionError` unless ``level`` (``None``: the default)
    suits the codec choice ``codec`` as :func:`plan_codecs` uses it; builds that codec alone
    (zstd under ``auto``)."""
    if level is not None:
        codec_id = ZSTD_ID if codec == "auto" else _ALIASES.get(codec, codec)
        level_codec(registry_for([codec_id]), codec_id, level)


def _build(
    registry: Registry,
    codec_id: str,
    level: int | None,
    window: int | None = None,
    context: CodecContext | None = None,
) -> Codec:
    if level is not None:
        return level_codec(registry, codec_id, level)
    cls = registry.latest(codec_id)
    kwargs: dict[str, Any] = {}
    if codec_id == NEURAL_ID and window is not None:
        kwargs["window"] = window
    if context is not None and cls.takes_context:
        kwargs["context"] = context
    return cls(**kwargs)  # the codec's defaults (params read from a header go through from_params)


def plan_codecs(
    codec: str = "auto",
    level: int | None = None,
    window: int | None = None,
    context: CodecContext | None = None,
) -> CodecPlan:
    """Resolve a codec choice (``store``, ``zstd``, ``neural``, ``auto`` or a codec id).

    Slot 0 is always ``nzarc.store``. ``auto`` offers zstd (level ``level`` or 19), xz (``-9e``)
    and the neural codec when it is installed with its model; each chunk takes the smallest
    output. Any other choice offers that codec.
    ``window`` sets the neural codec's window (tokens); ``None`` keeps its default.
    ``context`` goes to the codecs that take one (``takes_context``; None: their default). A
    ``level`` that does not suit the choice raises :class:`~nzarc.levels.CodecOptionError` (see
    :func:`check_level`).
    """
    check_level(codec, level)
    auto = codec == "auto"
    if auto:
        wanted: list[tuple[str, bool]] = [(ZSTD_ID, True), (XZ_ID, True), (NEURAL_ID, False)]
        level = AUTO_ZSTD_LEVEL if level is None else level
    else:
        wanted = [(_ALIASES.get(codec, codec), True)]
    registry = registry_for([STORE_ID, *(codec_id for codec_id, _ in wanted)])
    store = _build(registry, STORE_ID, None)
    plan = CodecPlan(entries=[_entry(registry, store)], codecs=[store], auto=auto)
    for codec_id, required in wanted:
        if codec_id == STORE_ID:
            continue
        try:  # under auto the level is the zstd candidate's
            built = _build(registry, codec_id, level if codec_id == ZSTD_ID or not auto else None,
                           window, context)
        except (UnsupportedCodec, ModelMismatch, CodecError):
            if required:
                raise
            continue
        plan.candidates.append(len(plan.codecs))
        plan.codecs.append(built)
        plan.entries.append(_entry(registry, built))
    return plan


def smallest_table(
    plan: CodecPlan,
    chunks: Sequence[bytes],
    group: EncodedGroup,
    acceptable: Callable[[int, bytes, bytes], bool],
    header_len: Callable[[list[int]], int],
) -> tuple[list[int], list[tuple[int, bytes]]]:
    """The codec table for an archive whose chunks are all in ``group``, and each chunk's
    ``(plan slot, output)`` under it.

    The table holds slot 0 and the slots the chunks use. Without ``plan.auto`` each chunk
    keeps its chosen output. With ``plan.auto`` every subset of the slots that produced
    outputs is tried: each chunk takes its smallest acceptable output among the subset
    (slot 0, the chunk itself, is always acceptable), and the subset whose header plus
    chunk outputs is smallest wins, so a codec whose table entry costs more than it saves
    is left out. ``header_len(table)`` is the header size for a table. Ties go to the
    larger subset, and within a chunk to the lower slot.
    """
    chosen = list(group.chosen)
    if not plan.auto:
        return sorted({slot for slot, _ in chosen} | {0}), chosen
    checked: dict[tuple[int, int], bool] = {}

    def ok(i: int, slot: int) -> bool:
        if (i, slot) not in checked:
            checked[(i, slot)] = acceptable(slot, group.outputs[i][slot], chunks[i])
        return checked[(i, slot)]

    candidates = sorted({slot for outputs in group.outputs for slot in outputs} - {0})
    best: tuple[int, list[int], list[tuple[int, bytes]]] | None = None
    for size in range(len(candidates), -1, -1):
        for kept in itertools.combinations(candidates, size):
            allowed = {0, *kept}
            choice = []
            for i, ((slot, out), outputs) in enumerate(zip(chosen, group.outputs, strict=True)):
                if slot not in allowed:
                    slot, out = 0, bytes(chunks[i])
                    for _, alt in sorted((len(o), s) for s, o in outputs.items() if s in allowed):
                        if alt == 0 or ok(i, alt):
                            slot, out = alt, outputs[alt]
                            break
                choice.append((slot, out))
            table = sorted({slot for slot, _ in choice} | {0})
            cost = header_len(table) + sum(len(out) for _, out in choice)
            if best is None or cost < best[0]:
                best = (cost, table, choice)
    assert best is not None
    return best[1], best[2]


def table_header(header: Header, plan: CodecPlan, table: Sequence[int]) -> Header:
    """``header`` declaring the plan slots ``table`` (in that order) as its codec table."""
    return dataclasses.replace(header, codecs=tuple(plan.entries[s] for s in table))


def table_header_len(header: Header, plan: CodecPlan) -> Callable[[list[int]], int]:
    """The cost of a table for :func:`smallest_table`: the bytes of ``header`` declaring it,
    plus each slot's count in the index (one byte: a table is settled on few chunks)."""

    def cost(table: list[int]) -> int:
        return len(encode_header(table_header(header, plan, table))) + len(table)

    return cost


class CodecTable:
    """The codec table an archive declares: the plan slots it holds (``slots``, sorted, slot
    0 first), and how many chunks each carries (``counts``, in table order)."""

    def __init__(self, plan: CodecPlan, slots: Sequence[int]) -> None:
        if not slots or slots[0] != 0 or list(slots) != sorted(set(slots)):
            raise ValueError("a codec table holds slot 0 and sorted, distinct plan slots")
        self.plan = plan
        self.slots = list(slots)
        self._wire = {slot: i for i, slot in enumerate(self.slots)}
        self.counts = [0] * len(self.slots)

    def entries(self) -> list[CodecEntry]:
        return [self.plan.entries[slot] for slot in self.slots]

    def count(self, plan_slot: int) -> int:
        """Record one chunk encoded by ``plan_slot``; return its slot in the table."""
        slot = self._wire[plan_slot]
        self.counts[slot] += 1
        return slot

    def chunks_per_codec(self) -> dict[str, int]:
        """Chunks per codec id, for the codecs that carry any."""
        per: dict[str, int] = {}
        for entry, count in zip(self.entries(), self.counts, strict=True):
            if count:
                per[entry.codec_id] = per.get(entry.codec_id, 0) + count
        return per
