"""Chunk pipeline: batched parallel encode and decode of chunks by the planned codecs.

Output bytes never depend on ``jobs`` or on how chunks are grouped: each chunk's codec is the
candidate with the smallest output (ties: lowest slot), computed independently per chunk
(:mod:`nzarc.planning` says which codecs are candidates, :mod:`nzarc.workers` runs them).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from concurrent.futures import Executor, Future
from typing import Any, TypeVar

from nzarc.codecs.context import CodecContext
from nzarc.codecs.contract import Codec
from nzarc.codecs.registry import registry_for
from nzarc.errors import CodecError, CodecParamsError, FormatError, ModelMismatch, NzarcError
from nzarc.format.header import CodecEntry
from nzarc.planning import CodecPlan, EncodedGroup
from nzarc.policy import DEFAULT_POLICY, DecodePolicy
from nzarc.signals import CancelToken
from nzarc.workers import cancel_token, wait_result

__all__ = ["build_decoders", "ChunkEncoder", "ChunkDecoder"]

_T = TypeVar("_T")


def _call_many(
    codec: Codec, method: str, items: Sequence[bytes] | Sequence[tuple[bytes, int]], cancel: CancelToken
) -> list[bytes]:
    """``codec.encode_many(items)`` / ``decode_many``, passing ``cancel`` to codecs that take it."""
    fn = getattr(codec, method)
    out: list[bytes] = fn(items, cancel=cancel) if codec.cancellable else fn(items)
    return out


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


def _parts(codec: Codec, items: list[_T], jobs: int) -> list[list[_T]]:
    """Split ``items`` into ``jobs`` contiguous parts for codecs that run well in threads; one
    part for codecs that batch internally or hold the GIL."""
    if not items:
        return []
    if codec.batches_internally or not (codec.releases_gil and codec.thread_safe) or jobs <= 1:
        return [items]
    n = min(jobs, len(items))
    size = -(-len(items) // n)
    return [items[i : i + size] for i in range(0, len(items), size)]


def _guard(codec: Codec, fn: Callable[[], _T]) -> _T:
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
        self.cancel = cancel_token(executor, cancel)

    def _run(self, slot: int, chunks: list[bytes]) -> list[tuple[list[bytes], Future[Any]]]:
        """One ``encode_many`` call per part; parts run in parallel for GIL-releasing codecs."""
        codec = self.plan.codecs[slot]
        return [
            (
                part,
                self.executor.submit(
                    _guard, codec, functools.partial(_call_many, codec, "encode_many", part, self.cancel)
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
                        results.append(_guard(codec, functools.partial(codec.encode, chunk)))
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
        self.cancel = cancel_token(executor, cancel)

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
                    _guard, codec, functools.partial(_call_many, codec, "decode_many", pairs, self.cancel)
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
