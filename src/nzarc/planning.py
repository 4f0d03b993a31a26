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
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from nzarc.codecopts import CodecParams, configured, param_names
from nzarc.codecs.context import CodecContext
from nzarc.codecs.contract import Codec
from nzarc.codecs.discovery import RESERVED_NAMESPACE
from nzarc.codecs.names import AUTO, NEURAL_ID, STORE_ID, XZ_ID, ZSTD_ID, resolve
from nzarc.codecs.registry import Registry, get_registry, registry_for
from nzarc.errors import CodecError, CodecOptionError, ModelMismatch, UnsupportedCodec
from nzarc.format.header import CodecEntry, Header, encode_header

__all__ = [
    "AUTO_CANDIDATES",
    "AUTO_ZSTD_LEVEL",
    "MAX_AUTO_PLUGINS",
    "auto_candidates",
    "CodecPlan",
    "CodecTable",
    "EncodedGroup",
    "check_level",
    "check_params",
    "plan_codecs",
    "smallest_table",
    "table_header",
    "table_header_len",
]

AUTO_ZSTD_LEVEL = 19
#: Most plugin codecs ``auto`` offers (the first by codec id): auto encodes every chunk with
#: every candidate, and :func:`smallest_table` tries every subset of them.
MAX_AUTO_PLUGINS = 4


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


#: What ``auto`` offers first, in order: ``(codec id, required, base params)``. A required
#: codec that is not installed fails the plan; the others are left out.
AUTO_CANDIDATES: tuple[tuple[str, bool, dict[str, Any]], ...] = (
    (ZSTD_ID, True, {"level": AUTO_ZSTD_LEVEL}),
    (XZ_ID, True, {}),
    (NEURAL_ID, False, {}),
)


def auto_candidates(registry: Registry | None = None) -> tuple[tuple[str, bool, dict[str, Any]], ...]:
    """What ``auto`` offers: :data:`AUTO_CANDIDATES`, then the installed plugin codecs whose
    latest version declares ``auto_eligible`` (the first :data:`MAX_AUTO_PLUGINS` by codec
    id, with their default params, not required). ``registry``: the full registry (default:
    :func:`~nzarc.codecs.registry.get_registry`)."""
    reg = registry if registry is not None else get_registry()
    eligible = sorted(
        {
            info.codec_id
            for info in reg.codecs()
            if not info.codec_id.startswith(RESERVED_NAMESPACE)
            and reg.latest(info.codec_id).auto_eligible
        }
    )
    return AUTO_CANDIDATES + tuple((cid, False, {}) for cid in eligible[:MAX_AUTO_PLUGINS])


def _wanted(codec: str) -> tuple[tuple[str, bool, dict[str, Any]], ...]:
    return auto_candidates() if codec == AUTO else ((resolve(codec), True, {}),)


def _classes(
    registry: Registry, wanted: Sequence[tuple[str, bool, dict[str, Any]]]
) -> dict[str, type[Codec]]:
    """The installed class of each wanted codec; a required one that is missing raises."""
    out: dict[str, type[Codec]] = {}
    for codec_id, required, _ in wanted:
        try:
            out[codec_id] = registry.latest(codec_id)
        except UnsupportedCodec:
            if required:
                raise
    return out


def _route(
    codec: str,
    wanted: Sequence[tuple[str, bool, dict[str, Any]]],
    classes: Mapping[str, type[Codec]],
    params: CodecParams,
) -> dict[str, dict[str, Any]]:
    """Each wanted codec's params: its base params and the caller's that go to it. A single
    codec gets every caller param; under ``auto`` a param goes to the first candidate that
    takes it, and one that no installed candidate takes raises CodecOptionError (unless a
    candidate that is not installed might have)."""
    out = {codec_id: dict(base) for codec_id, _, base in wanted}
    if codec != AUTO:
        out[wanted[0][0]].update(params)
        return out
    for key, value in params.items():
        taker = next((cid for cid, cls in classes.items() if key in (param_names(cls) or ())), None)
        if taker is not None:
            out[taker][key] = value
        elif len(classes) == len(wanted):
            takes = "; ".join(
                f"{cid}: {', '.join(sorted(param_names(cls) or ())) or 'none'}"
                for cid, cls in classes.items()
            )
            raise CodecOptionError(f"no codec of auto takes param {key!r}", hint=takes)
    return out


def check_params(codec: str, params: CodecParams | None = None) -> None:
    """Raise CodecOptionError unless ``params`` suit the codec choice ``codec`` as
    :func:`plan_codecs` uses them; builds only the codecs that receive params (under
    ``auto``, those of its candidates that are installed)."""
    if not params:
        return
    wanted = _wanted(codec)
    registry = registry_for(codec_id for codec_id, _, _ in wanted)
    classes = _classes(registry, wanted)
    routed = _route(codec, wanted, classes, params)
    for codec_id, required, _ in wanted:
        if codec_id not in classes or not set(routed[codec_id]) & set(params):
            continue
        try:
            configured(classes[codec_id], routed[codec_id])
        except (UnsupportedCodec, ModelMismatch, CodecError):
            if required:
                raise


def check_level(codec: str, level: int | None) -> None:
    """:func:`check_params` for a ``level`` alone (``None``: the default)."""
    check_params(codec, None if level is None else {"level": level})


def plan_codecs(
    codec: str = "auto",
    params: CodecParams | None = None,
    context: CodecContext | None = None,
) -> CodecPlan:
    """Resolve a codec choice (``store``, ``zstd``, ``xz``, ``neural``, ``auto`` or a codec
    id) and build its codecs, each through its class's ``from_params``
    (:func:`nzarc.codecopts.configured`).

    Slot 0 is always ``nzarc.store``. ``auto`` offers :func:`auto_candidates` (zstd at level
    19, xz at ``-9e``, the neural codec when it is installed with its model, and installed
    plugin codecs that declare ``auto_eligible``); each chunk
    takes the smallest output. Any other choice offers that codec. ``params`` go to the
    codec chosen; under ``auto`` each goes to the first candidate that takes it (``level``
    to zstd, ``window`` to the neural codec). ``context`` goes to the codecs that take one
    (``takes_context``; None: their default). A param that does not suit raises
    :class:`~nzarc.errors.CodecOptionError` naming the codec and the param.
    """
    params = params or {}
    auto = codec == AUTO
    wanted = _wanted(codec)
    registry = registry_for([STORE_ID, *(codec_id for codec_id, _, _ in wanted)])
    classes = _classes(registry, wanted)
    routed = _route(codec, wanted, classes, params)
    store = configured(registry.latest(STORE_ID), routed.get(STORE_ID))
    plan = CodecPlan(entries=[_entry(registry, store)], codecs=[store], auto=auto)
    for codec_id, required, _ in wanted:
        if codec_id == STORE_ID or codec_id not in classes:
            continue
        try:
            built = configured(classes[codec_id], routed[codec_id], context)
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
