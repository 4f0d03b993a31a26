"""The checks of the conformance kit, each usable alone.

Each ``check_*`` function raises :class:`AssertionError` whose message names
the codec (id, version, params) and the first thing found wrong, and returns
normally otherwise; those that take a :class:`CheckReport` add what they ran to
it. What each one checks is listed in :mod:`nzarc.testing`. :func:`build` and
:func:`roundtrip_one` are the single steps the pytest suite of
:func:`nzarc.testing.conformance_suite` runs as separate tests.
"""

from __future__ import annotations

import random
import threading
import tracemalloc
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import msgpack

from nzarc.codecs.contract import Codec, ModelPin, validate_codec_class
from nzarc.errors import CodecError, LimitExceeded, ModelMismatch
from nzarc.testing.inputs import (
    DEFAULT_CHUNK_SIZE,
    records_sample,
    stress_inputs,
    text_sample,
)

_ALLOWED_DECODE_ERRORS = (CodecError, ModelMismatch, LimitExceeded)


@dataclass
class CheckReport:
    """What :func:`check_codec` ran: counts per kind of check."""

    roundtrips: int = 0
    declined: int = 0
    hostile_decodes: int = 0
    rejected: int = 0
    stress: int = 0
    notes: list[str] = field(default_factory=list)


# -- helpers ---------------------------------------------------------------------------------


def _label(codec: Codec) -> str:
    return f"{codec.codec_id} v{codec.version} {codec.get_params()!r}"


def build(codec_cls: type[Codec], params: Mapping[str, Any]) -> Codec:
    return codec_cls.from_params(dict(params))


def _measured(
    codec: Codec, data: bytes, raw_len: int, what: str
) -> tuple[bytes | None, BaseException | None]:
    """Decode under tracemalloc; fail if the peak exceeds the codec's bound."""
    started = not tracemalloc.is_tracing()
    if started:
        tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        base = tracemalloc.get_traced_memory()[0]
        result: bytes | None = None
        error: BaseException | None = None
        try:
            result = codec.decode(data, raw_len)
        except Exception as exc:
            error = exc
        peak = tracemalloc.get_traced_memory()[1] - base
    finally:
        if started:
            tracemalloc.stop()
    bound = codec.max_decode_memory(raw_len)
    # The decoded bytes object may be counted once more by the interpreter's own bookkeeping.
    assert peak <= bound, (
        f"{_label(codec)}: decoding {what} (raw_len={raw_len}) allocated {peak} bytes, "
        f"above max_decode_memory({raw_len}) = {bound}"
    )
    return result, error


def _expect_decode_error(codec: Codec, error: BaseException | None, what: str) -> None:
    if error is None:
        return
    allowed = (codec.error_class, *_ALLOWED_DECODE_ERRORS)
    if not isinstance(error, allowed):
        raise AssertionError(
            f"{_label(codec)}: decoding {what} raised {type(error).__name__}: {error} "
            f"instead of {codec.error_class.__name__}"
        ) from error


def _find_float(value: object, path: str = "params") -> str | None:
    if isinstance(value, float):
        return path
    if isinstance(value, Mapping):
        for k, v in value.items():
            found = _find_float(v, f"{path}[{k!r}]")
            if found:
                return found
    if isinstance(value, (list, tuple)):
        for i, v in enumerate(value):
            found = _find_float(v, f"{path}[{i}]")
            if found:
                return found
    return None


# -- checks ----------------------------------------------------------------------------------


def check_class(codec_cls: type[Codec]) -> None:
    """The class has a valid id and version, implements the contract, and has a sane error class."""
    validate_codec_class(codec_cls)
    assert isinstance(codec_cls.error_class, type) and issubclass(
        codec_cls.error_class, CodecError
    ), f"{codec_cls.__qualname__}.error_class must subclass nzarc.errors.CodecError"


def check_params(codec_cls: type[Codec], params: Mapping[str, Any]) -> Codec:
    """Params validate, survive msgpack, rebuild an equal codec; bad params raise the error class."""
    codec = build(codec_cls, params)
    got = codec.get_params()
    assert isinstance(got, dict), (
        f"{codec_cls.__qualname__}.get_params() returned {type(got).__name__}"
    )
    float_at = _find_float(got)
    assert float_at is None, f"{_label(codec)}: {float_at} is a float; params must not hold floats"
    wire = msgpack.packb(got, use_bin_type=True)
    back = msgpack.unpackb(wire, raw=False, strict_map_key=False)
    again = build(codec_cls, back)
    assert again == codec, (
        f"{_label(codec)}: from_params(msgpack(get_params())) is a different codec"
    )
    assert again.get_params() == got, (
        f"{_label(codec)}: params changed across msgpack: {again.get_params()!r}"
    )
    sample = text_sample(3000, 7)
    assert again.encode(sample) == codec.encode(sample), (
        f"{_label(codec)}: a codec rebuilt from its params encodes differently"
    )
    bad: object
    for bad in ([], "level", None):
        _expect_rejected(codec_cls, bad, f"params {bad!r}")
    _expect_rejected(codec_cls, {**got, "__nzarc_no_such_param__": 1}, "an unknown param")
    pins = codec.required_models()
    assert isinstance(pins, list) and all(isinstance(p, ModelPin) for p in pins), (
        f"{_label(codec)}: required_models() must return a list of ModelPin"
    )
    return codec


def _expect_rejected(codec_cls: type[Codec], params: object, what: str) -> None:
    try:
        codec_cls.from_params(params)  # type: ignore[arg-type]
    except codec_cls.error_class:
        return
    except Exception as exc:
        raise AssertionError(
            f"{codec_cls.codec_id}: from_params({what}) raised {type(exc).__name__}: {exc} "
            f"instead of {codec_cls.error_class.__name__}"
        ) from exc
    raise AssertionError(f"{codec_cls.codec_id}: from_params accepted {what}")


def roundtrip_one(codec: Codec, name: str, data: bytes, report: CheckReport) -> bytes | None:
    try:
        encoded = codec.encode(data)
    except codec.error_class:
        report.declined += 1
        return None
    assert isinstance(encoded, bytes), (
        f"{_label(codec)}: encode({name}) returned {type(encoded).__name__}, not bytes"
    )
    decoded, error = _measured(codec, encoded, len(data), name)
    if error is not None:
        raise AssertionError(
            f"{_label(codec)}: round trip of {name} ({len(data)} bytes) failed: "
            f"decode raised {type(error).__name__}: {error}"
        ) from error
    assert isinstance(decoded, bytes), (
        f"{_label(codec)}: decode({name}) returned {type(decoded).__name__}"
    )
    if decoded != data:
        at = next((i for i, (a, b) in enumerate(zip(decoded, data, strict=False)) if a != b), None)
        raise AssertionError(
            f"{_label(codec)}: round trip of {name} ({len(data)} bytes) returned "
            f"{len(decoded)} bytes, first difference at {at if at is not None else min(len(decoded), len(data))}"
        )
    report.roundtrips += 1
    return encoded


def check_roundtrip(
    codec: Codec, inputs: Sequence[tuple[str, bytes]], report: CheckReport | None = None
) -> CheckReport:
    """decode(encode(x), len(x)) == x for every input, within the memory bound."""
    report = report if report is not None else CheckReport()
    before = report.declined
    for name, data in inputs:
        assert isinstance(codec.accepts(data), bool), (
            f"{_label(codec)}: accepts() must return a bool"
        )
        roundtrip_one(codec, name, data, report)
    assert report.declined - before < len(inputs), f"{_label(codec)}: encode declined every input"
    return report


def check_determinism(codec_cls: type[Codec], params: Mapping[str, Any]) -> None:
    """Two instances, repeated calls, threads and the batch API all agree byte for byte."""
    first, second = build(codec_cls, params), build(codec_cls, params)
    samples = [b"", b"x", text_sample(20_000, 11), records_sample(9000, 12), bytes(5000)]
    try:
        expected = [first.encode(s) for s in samples]
    except first.error_class:
        return  # declining codecs are covered by check_roundtrip
    assert [second.encode(s) for s in samples] == expected, (
        f"{_label(first)}: two instances with equal params encode differently"
    )
    assert [first.encode(s) for s in samples] == expected, (
        f"{_label(first)}: encode is not repeatable"
    )
    assert first.encode_many(samples) == expected, (
        f"{_label(first)}: encode_many differs from encode"
    )
    items = [(e, len(s)) for e, s in zip(expected, samples, strict=True)]
    assert first.decode_many(items) == samples, f"{_label(first)}: decode_many differs from decode"
    if codec_cls.thread_safe:
        results: dict[int, list[bytes]] = {}
        failures: list[BaseException] = []

        def work(slot: int) -> None:
            try:
                results[slot] = [first.encode(s) for s in samples]
                assert [first.decode(e, n) for e, n in items] == samples
            except BaseException as exc:
                failures.append(exc)

        threads = [threading.Thread(target=work, args=(i,)) for i in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert not failures, f"{_label(first)}: concurrent use failed: {failures[0]!r}"
        assert all(r == expected for r in results.values()), (
            f"{_label(first)}: concurrent encodes differ; set thread_safe = False"
        )


def _garbage(rng: random.Random) -> list[tuple[str, bytes]]:
    return [
        ("empty data", b""),
        ("one zero byte", b"\x00"),
        ("five zero bytes", bytes(5)),
        ("4 KiB of zeros", bytes(4096)),
        ("4 KiB of 0xff", b"\xff" * 4096),
        ("random 7 bytes", rng.randbytes(7)),
        ("random 100 bytes", rng.randbytes(100)),
        ("random 5000 bytes", rng.randbytes(5000)),
    ]


def check_hostile_decode(
    codec: Codec,
    *,
    chunk_size: int = DEFAULT_CHUNK_SIZE,
    seed: int = 5,
    strict_errors: bool = True,
    report: CheckReport | None = None,
) -> CheckReport:
    """Truncation, bit flips, garbage and wrong raw_len: only the error class, bounded memory.

    With ``strict_errors`` (the default) truncated streams and wrong ``raw_len``
    must be *rejected*; garbage and bit flips may also decode to exactly
    ``raw_len`` bytes (a codec without redundancy cannot tell).
    """
    report = report if report is not None else CheckReport()
    rng = random.Random(seed)
    original = text_sample(min(chunk_size, 40_000), seed)
    try:
        encoded = codec.encode(original)
    except codec.error_class:
        report.notes.append(f"{_label(codec)}: declined the hostile-decode sample")
        return report
    n = len(original)

    def attempt(data: bytes, raw_len: int, what: str, must_reject: bool) -> None:
        result, error = _measured(codec, data, raw_len, what)
        report.hostile_decodes += 1
        _expect_decode_error(codec, error, what)
        if error is not None:
            report.rejected += 1
            return
        assert isinstance(result, bytes) and len(result) == raw_len, (
            f"{_label(codec)}: decoding {what} returned "
            f"{len(result) if isinstance(result, bytes) else type(result).__name__} "
            f"bytes for raw_len={raw_len}"
        )
        if must_reject and strict_errors:
            raise AssertionError(
                f"{_label(codec)}: decoding {what} did not raise {codec.error_class.__name__}"
            )

    cuts = sorted(
        {0, 1, len(encoded) // 2, max(0, len(encoded) - 1)}
        | {rng.randrange(len(encoded) or 1) for _ in range(6)}
    )
    for cut in cuts:
        if cut < len(encoded):
            attempt(
                encoded[:cut], n, f"the stream truncated to {cut} of {len(encoded)} bytes", True
            )
    for wrong in sorted({0, max(0, n - 1), n + 1, 2 * n + 1, min(chunk_size, 4 * n + 3)} - {n}):
        attempt(encoded, wrong, f"a {n}-byte stream with raw_len={wrong}", True)
    attempt(encoded + b"\x00", n, "the stream with one byte appended", False)
    for _ in range(12):
        flipped = bytearray(encoded)
        if flipped:
            i = rng.randrange(len(flipped))
            flipped[i] ^= 1 << rng.randrange(8)
        attempt(bytes(flipped), n, "the stream with one bit flipped", False)
    for what, junk in _garbage(rng):
        for raw_len in (0, 1, 1000, chunk_size):
            attempt(junk, raw_len, f"{what} as raw_len={raw_len}", False)
    # A tiny stream claiming a big output must not be trusted to size allocations.
    big = bytes(min(chunk_size, 1 << 20))
    try:
        big_encoded = codec.encode(big)
    except codec.error_class:
        return report
    attempt(big_encoded, 10, f"a {len(big)}-byte stream with raw_len=10", True)
    return report


def check_stress(
    codec: Codec,
    count: int,
    *,
    chunk_size: int = DEFAULT_CHUNK_SIZE,
    seed: int = 1,
    corpus: Path | None = None,
    report: CheckReport | None = None,
) -> CheckReport:
    """Round-trip ``count`` varied inputs (see :func:`stress_inputs`); report every failure."""
    report = report if report is not None else CheckReport()
    failures: list[str] = []
    for name, data in stress_inputs(count, chunk_size, seed=seed, corpus=corpus):
        try:
            roundtrip_one(codec, name, data, report)
        except AssertionError as exc:
            failures.append(str(exc))
        report.stress += 1
    assert not failures, f"{len(failures)} of {count} stress round trips failed:\n" + "\n".join(
        failures
    )
    return report
