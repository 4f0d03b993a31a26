"""Chunk pipeline: codec-table planning, per-chunk codec choice, batched parallel encode/decode.

Output bytes never depend on ``jobs`` or on how chunks are grouped: each chunk's codec is the
candidate with the smallest output (ties: lowest slot), computed independently per chunk;
for an archive short enough that the writer settles its codec table on all of its chunks,
:func:`smallest_table` may then move chunks off a codec whose table entry costs more than it
saves.
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Callable, Sequence
from concurrent.futures import Executor, Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from nzarc.codecs.context import CodecContext
from nzarc.codecs.contract import Codec
from nzarc.codecs.names import ALIASES as _ALIASES
from nzarc.codecs.names import NEURAL_ID, STORE_ID, XZ_ID, ZSTD_ID
from nzarc.codecs.registry import Registry, registry_for
from nzarc.errors import (
    CodecError,
    CodecParamsError,
    FormatError,
    ModelMismatch,
    NzarcError,
    UnsupportedCodec,
    UsageError,
)
from nzarc.format.header import CodecEntry
from nzarc.levels import level_codec
from nzarc.policy import DEFAULT_POLICY, DecodePolicy
from nzarc.signals import CancelToken

__all__ = [
    "ProgressEvent",
    "CodecPlan",
    "EncodedGroup",
    "plan_codecs",
    "check_level",
    "smallest_table",
    "build_decoders",
    "ChunkEncoder",
    "ChunkDecoder",
    "make_executor",
    "default_jobs",
    "tune_process_allocator",
]

AUTO_ZSTD_LEVEL = 19


@dataclass(frozen=True)
class ProgressEvent:
    """A progress report. ``kind``: ``member`` (a member starts), ``chunk`` (a chunk was
    written or read), ``skip`` (a special file was not archived), ``done``."""

    kind: str
    name: str | None = None
    bytes_in: int = 0
    bytes_out: int = 0
    chunks: int = 0


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


def default_jobs(jobs: int | None) -> int:
    if jobs is None:
        return max(1, os.cpu_count() or 1)
    if jobs < 1:
        raise UsageError("jobs must be at least 1")
    return jobs


#: glibc ``mallopt`` parameters (malloc.h) and the values :func:`tune_process_allocator` sets.
_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3
_MMAP_THRESHOLD = 32 << 20  # glibc's largest allowed value on 64-bit systems
_TRIM_THRESHOLD = 256 << 20


def tune_process_allocator() -> bool:
    """Let glibc's malloc reuse chunk-sized buffers instead of returning them to the kernel.

    Encoding and decoding allocate and free a few buffers of about ``chunk_size`` per chunk;
    by default glibc maps and unmaps (or trims) such blocks, so every chunk's memory is
    faulted in afresh (about 40 % of ``nzarc create``'s system time on 1 MiB chunks).
    Raising the mmap and trim thresholds keeps them in the heap; peak memory is unchanged,
    but freed memory is returned to the system only when the process exits. Meant for the
    ``nzarc`` command, which owns its process: the library never calls it. Does nothing
    (returns False) off glibc or when the user set ``MALLOC_*_`` / ``GLIBC_TUNABLES``.
    """
    if any(k.startswith("MALLOC_") or k == "GLIBC_TUNABLES" for k in os.environ):
        return False
    try:
        if not os.confstr("CS_GNU_LIBC_VERSION"):
            return False
        import ctypes

        libc = ctypes.CDLL(None)
        mallopt = libc.mallopt
    except (AttributeError, OSError, ValueError):
        return False
    mallopt.argtypes = (ctypes.c_int, ctypes.c_int)
    mallopt.restype = ctypes.c_int
    ok = mallopt(_M_MMAP_THRESHOLD, _MMAP_THRESHOLD) == 1
    return mallopt(_M_TRIM_THRESHOLD, _TRIM_THRESHOLD) == 1 and ok


#: Seconds between checks while the main thread waits for a worker (it sees signals meanwhile).
_WAIT_POLL = 0.2


class CancellingExecutor(ThreadPoolExecutor):
    """A thread pool with a :class:`~nzarc.signals.CancelToken`: ``shutdown(cancel_futures=True)``
    (an aborted archive) sets it, so that cancellable codec work already running stops at its
    next check instead of running to the end of its chunks."""

    def __init__(self, max_workers: int) -> None:
        super().__init__(max_workers=max_workers, thread_name_prefix="nzarc")
        self.cancel = CancelToken()

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        if cancel_futures:
            self.cancel.set()
        super().shutdown(wait=wait, cancel_futures=cancel_futures)


def make_executor(jobs: int) -> CancellingExecutor:
    return CancellingExecutor(jobs)


def _token(executor: Executor, cancel: CancelToken | None) -> CancelToken:
    if cancel is not None:
        return cancel
    token = getattr(executor, "cancel", None)
    return token if isinstance(token, CancelToken) else CancelToken()


def wait_result(fut: Future[Any], cancel: CancelToken) -> Any:
    """``fut.result()``, waited for in short steps; when the waiting thread is interrupted
    (KeyboardInterrupt, a termination signal), ``cancel`` is set before the exception goes on,
    so that the worker stops too."""
    try:
        while True:
            try:
                return fut.result(timeout=_WAIT_POLL)
            except TimeoutError:
                if fut.done():  # a worker's own TimeoutError
                    raise
    except Exception:
        raise
    except BaseException:
        cancel.set()
        raise


def _call_many(codec: Codec, method: str, items: Any, cancel: CancelToken) -> Any:
    """``codec.encode_many(items)`` / ``decode_many``, passing ``cancel`` to codecs that take it."""
    fn = getattr(codec, method)
    return fn(items, cancel=cancel) if codec.cancellable else fn(items)


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


def build_decoders(
    entries: Sequence[CodecEntry],
    slots: Sequence[int],
    policy: DecodePolicy | None = None,
    context: CodecContext | None = None,
) -> dict[int, Codec]:
    """Build the codecs of ``slots`` from header entries; check model pins. ``context``
    goes to the codecs that take one (``takes_context``; None: their default).

    Raises CodecRefused when ``policy`` does not allow one of them (before any is built),
    UnsupportedCodec (id, version, install hint) or ModelMismatch before any chunk
    is decoded.
    """
    (policy or DEFAULT_POLICY).check_codecs(entries[slot].codec_id for slot in slots)
    registry = registry_for(entries[slot].codec_id for slot in slots)
    out: dict[int, Codec] = {}
    for slot in slots:
        entry = entries[slot]
        cls = registry.codec_class(entry.codec_id, entry.version, distribution=entry.dist)
        codec = _guard_build(cls, entry, context)
        have = [p.to_wire() for p in _guard(codec, codec.required_models)]
        want = [p.to_wire() for p in entry.models]
        if have != want:
            names = ", ".join(p.name for p in entry.models) or "none"
            raise ModelMismatch(
                f"codec {entry.codec_id} v{entry.version} needs model(s) {names} with the "
                "hashes pinned in the archive; the installed model differs",
                hint="install the exact model the archive was written with",
            )
        out[slot] = codec
    return out


def _guard_build(cls: type[Codec], entry: CodecEntry, context: CodecContext | None = None) -> Codec:
    """``cls.from_params`` on header params (with ``context`` for codecs that take one);
    anything but an NzarcError becomes CodecParamsError."""
    try:
        if context is not None and cls.takes_context:
            return cls.from_params(entry.params, context=context)  # type: ignore[call-arg]
        return cls.from_params(entry.params)
    except NzarcError:
        raise
    except Exception as exc:  # hostile params must not surface as a plugin's traceback
        raise CodecParamsError(
            f"{entry.codec_id} v{entry.version}: bad params in the header "
            f"({type(exc).__name__}: {' '.join(str(exc).split())})"
        ) from None


def _parts(codec: Codec, items: list[Any], jobs: int) -> list[list[Any]]:
    """Split ``items`` into ``jobs`` contiguous parts for codecs that run well in threads; one
    part for codecs that batch internally or hold the GIL."""
    if not items:
        return []
    if codec.batches_internally or not (codec.releases_gil and codec.thread_safe) or jobs <= 1:
        return [items]
    n = min(jobs, len(items))
    size = -(-len(items) // n)
    return [items[i : i + size] for i in range(0, len(items), size)]


def _guard(codec: Codec, fn: Callable[[], Any]) -> Any:
    try:
        return fn()
    except (NzarcError, MemoryError):
        raise
    except Exception as exc:  # a codec must raise CodecError; anything else is a codec bug
        if isinstance(exc, RuntimeError) and "can't allocate memory" in str(exc):
            raise MemoryError(str(exc)) from None  # torch's CPU allocator failing
        raise CodecError(f"{codec.codec_id}: {type(exc).__name__}: {exc}") from None


class ChunkEncoder:
    """Encodes groups of chunks, choosing per chunk the smallest candidate output."""

    def __init__(
        self,
        plan: CodecPlan,
        executor: Executor,
        jobs: int,
        *,
        verify: bool = False,
        cancel: CancelToken | None = None,
    ) -> None:
        self.plan = plan
        self.executor = executor
        self.jobs = jobs
        self.verify = verify
        #: Set to stop cancellable codecs (default: the executor's token, see make_executor).
        self.cancel = _token(executor, cancel)

    def _run(self, slot: int, chunks: list[bytes]) -> list[tuple[list[bytes], Future[Any]]]:
        """One ``encode_many`` call per part; parts run in parallel for GIL-releasing codecs."""
        codec = self.plan.codecs[slot]
        return [
            (
                part,
                self.executor.submit(
                    _guard, codec, lambda p=part: _call_many(codec, "encode_many", p, self.cancel)
                ),
            )
            for part in _parts(codec, chunks, self.jobs)
        ]

    @property
    def overlaps(self) -> bool:
        """True when groups may be encoded while earlier ones still are: every candidate
        codec releases the GIL and is thread-safe."""
        return all(
            self.plan.codecs[s].releases_gil and self.plan.codecs[s].thread_safe
            for s in self.plan.candidates
        )

    def encode_group(self, chunks: Sequence[bytes]) -> list[tuple[int, bytes]]:
        """Return ``(slot, output)`` per chunk, in order; a chunk nothing shrinks is stored."""
        return self.start_group(chunks)().chosen

    def acceptable(self, slot: int, out: bytes, chunk: bytes) -> bool:
        """Whether ``out`` (slot ``slot``'s output for ``chunk``) may be written: it must
        decode back to ``chunk`` when ``--verify`` is on or the codec asks for the check."""
        codec = self.plan.codecs[slot]
        if slot == 0 or not (self.verify or codec.verify_after_encode):
            return True
        return self._roundtrips(codec, out, chunk)

    def start_group(self, chunks: Sequence[bytes]) -> Callable[[], EncodedGroup]:
        """Submit ``chunks`` for encoding now; the returned call waits and returns the
        :class:`EncodedGroup` (call it once, on the submitting thread)."""
        chunks = list(chunks)
        jobs: list[tuple[int, list[int], list[tuple[list[bytes], Future[Any]]]]] = []
        for slot in self.plan.candidates:
            codec = self.plan.codecs[slot]
            accepted = [i for i, c in enumerate(chunks) if codec.accepts(c)]
            if accepted:
                jobs.append((slot, accepted, self._run(slot, [chunks[i] for i in accepted])))

        def finish() -> EncodedGroup:
            best: list[tuple[int, bytes]] = [(0, bytes(c)) for c in chunks]
            every: list[dict[int, bytes]] = [{0: out} for _, out in best]
            for slot, accepted, futures in jobs:
                outputs = self._collect(self.plan.codecs[slot], futures, self.cancel)
                limit = self.plan.codecs[slot].max_ratio
                for i, out in zip(accepted, outputs, strict=True):
                    if out is None or (limit is not None and len(chunks[i]) > limit * len(out)):
                        continue  # declined, or above what a default reader accepts
                    every[i][slot] = out
                    if len(out) >= len(best[i][1]) or not self.acceptable(slot, out, chunks[i]):
                        continue
                    best[i] = (slot, out)
            return EncodedGroup(best, every)

        return finish

    @staticmethod
    def _collect(
        codec: Codec, futures: list[tuple[list[bytes], Future[Any]]], cancel: CancelToken
    ) -> list[bytes | None]:
        """Outputs in order; None where the codec declined that chunk: an
        :class:`~nzarc.errors.EncodeDeclined`, or any other CodecError (a third-party codec
        may decline with the plain class)."""
        results: list[bytes | None] = []
        for part, fut in futures:
            try:
                values = wait_result(fut, cancel)
                if not isinstance(values, list) or len(values) != len(part):
                    raise CodecError(
                        f"{codec.codec_id}: encode_many returned the wrong number of chunks"
                    )
                results.extend(values)
            except CodecError:  # EncodeDeclined or plain: isolate the chunk(s) declined
                for chunk in part:
                    try:
                        results.append(_guard(codec, lambda c=chunk: codec.encode(c)))
                    except CodecError:
                        results.append(None)
        return results

    @staticmethod
    def _roundtrips(codec: Codec, out: bytes, chunk: bytes) -> bool:
        try:
            return _guard(codec, lambda: codec.decode(out, len(chunk))) == chunk
        except NzarcError:
            return False


class ChunkDecoder:
    """Decodes groups of chunk frames, batching per codec slot through ``decode_many``."""

    def __init__(
        self,
        codecs: dict[int, Codec],
        executor: Executor,
        jobs: int,
        policy: DecodePolicy | None = None,
        *,
        cancel: CancelToken | None = None,
    ) -> None:
        self.codecs = codecs
        self.executor = executor
        self.jobs = jobs
        self.policy = policy or DEFAULT_POLICY
        #: Set to stop cancellable codecs (default: the executor's token, see make_executor).
        self.cancel = _token(executor, cancel)

    @property
    def overlaps(self) -> bool:
        """True when groups may be decoded while earlier ones still are (every codec
        releases the GIL and is thread-safe)."""
        return all(c.releases_gil and c.thread_safe for c in self.codecs.values())

    def decode_group(
        self, items: Sequence[tuple[int, bytes, int]], first: int | None = None
    ) -> list[bytes]:
        """``items``: (slot, codec output, raw_len). Returns exactly raw_len bytes each.
        ``first``: the number of the first chunk, for error messages."""
        return self.start_group(items, first)()

    def start_group(
        self, items: Sequence[tuple[int, bytes, int]], first: int | None = None
    ) -> Callable[[], list[bytes]]:
        """Submit ``items`` for decoding now; the returned call waits and returns what
        :meth:`decode_group` would (call it once, on the submitting thread). A chunk above
        its ratio limit (the policy's) raises LimitExceeded before any item is submitted."""
        items = list(items)
        self.policy.check_chunks(self.codecs, items, first)
        by_slot: dict[int, list[int]] = {}
        for i, (slot, _, _) in enumerate(items):
            by_slot.setdefault(slot, []).append(i)
        futures: list[tuple[list[int], Future[Any]]] = []
        for slot, idx in by_slot.items():
            codec = self.codecs.get(slot)
            if codec is None:
                raise FormatError(
                    f"a chunk uses codec slot {slot}, which the index lists as unused"
                )
            for part in _parts(codec, idx, self.jobs):
                pairs = [(items[i][1], items[i][2]) for i in part]
                fut = self.executor.submit(
                    _guard, codec, lambda p=pairs, c=codec: _call_many(c, "decode_many", p, self.cancel)
                )
                futures.append((part, fut))
        return lambda: self._finish(items, futures)

    def _finish(
        self, items: list[tuple[int, bytes, int]], futures: list[tuple[list[int], Future[Any]]]
    ) -> list[bytes]:
        out: list[bytes | None] = [None] * len(items)
        first_error: BaseException | None = None
        for idx, fut in futures:
            try:
                values = wait_result(fut, self.cancel)
            except Exception as exc:  # collect all futures before re-raising
                first_error = first_error or exc
                continue
            if not isinstance(values, list) or len(values) != len(idx):
                first_error = first_error or CodecError(
                    "decode_many returned the wrong number of chunks"
                )
                continue
            for i, v in zip(idx, values, strict=True):
                out[i] = v
        if first_error is not None:
            raise first_error
        result: list[bytes] = []
        for (slot, _, raw), value in zip(items, out, strict=True):
            if not isinstance(value, (bytes, bytearray, memoryview)) or len(value) != raw:
                codec_id = self.codecs[slot].codec_id
                raise CodecError(f"{codec_id}: chunk did not decode to exactly {raw} bytes")
            result.append(bytes(value))
        return result
