"""Conformance kit for nzarc codecs: run it under pytest before shipping a codec.

Two ways to use it::

    # tests/test_conformance.py of a codec distribution
    from nzarc.testing import conformance_suite
    from acme_codecs import FooCodec

    TestFoo = conformance_suite(FooCodec, params_list=[{}, {"level": 9}], stress=40)

    # or, anywhere (raises AssertionError naming the first failure):
    from nzarc.testing import check_codec
    check_codec(FooCodec, params_list=[{}], stress=40)

What it checks, for every params mapping in ``params_list``:

* the class shape (:func:`nzarc.codecs.contract.validate_codec_class`), and that
  ``error_class`` is a :class:`~nzarc.errors.CodecError` subclass;
* params: ``get_params()`` is msgpack-serialisable without floats, survives a
  msgpack round trip through ``from_params`` to an equal codec that encodes
  identically; a non-map or an unknown key raises the codec's error class;
* round trip on adversarial inputs: empty, 1 byte, all zeros, all 0xFF, every
  byte value, random, text, UTF-8, structured binary, and sizes at the block
  and chunk-size boundaries (4 KiB, 32 KiB, 64 KiB, ``chunk_size`` -1/0);
* determinism: two instances, repeated calls and concurrent threads give the
  same bytes; ``encode_many``/``decode_many`` equal the single calls;
* hostile decoding: truncated streams, bit flips, garbage and wrong ``raw_len``
  values raise the codec's error class and nothing else (garbage may instead
  decode to exactly ``raw_len`` bytes), and no decode allocates more than
  ``max_decode_memory(raw_len)`` (measured with :mod:`tracemalloc`, which sees
  Python allocations and those of C code using Python's allocators);
* stress (``stress=N``): N round trips of varied inputs of up to ``chunk_size``
  bytes (generated prose, code, logs, tables, binary records, concatenations;
  files under ``corpus`` when given), the kind of run that catches a coder
  which fails only when its output crosses an internal buffer boundary.

A codec that declines a chunk (``encode`` raising its error class) is allowed
to; the kit only requires that it encodes some of the inputs.
"""

from __future__ import annotations

import functools
import random
import threading
import tracemalloc
import zlib
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import msgpack

from nzarc.codecs.contract import Codec, ModelPin, validate_codec_class
from nzarc.errors import CodecError, LimitExceeded, ModelMismatch

__all__ = [
    "CheckReport",
    "adversarial_inputs",
    "check_codec",
    "check_class",
    "check_params",
    "check_roundtrip",
    "check_determinism",
    "check_hostile_decode",
    "check_stress",
    "conformance_suite",
    "stress_inputs",
    "text_sample",
]

DEFAULT_CHUNK_SIZE = 1 << 20
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


# -- input generators ------------------------------------------------------------------------

_SYLLABLES = (
    "th e an in er on re at ou it is en ha ve st al or ar le ng ed nd to of ly "
    "ti me co de ra si pe lo ma no ca di mi se ta wo ri un be fo la ne ho"
).split()
_PUNCT = [", ", ". ", "; ", " ", " ", " ", " ", " ", "! ", "? ", ".\n", ".\n\n"]


def _make_vocabulary() -> tuple[str, ...]:
    rng = random.Random(0x766F6361)
    return tuple(
        "".join(rng.choice(_SYLLABLES) for _ in range(rng.choice((1, 1, 2, 2, 3, 4))))
        for _ in range(2000)
    )


_VOCABULARY = _make_vocabulary()


def _words(rng: random.Random, count: int) -> list[str]:
    # Zipf-like ranks: small indices are frequent, as in natural language.
    last = len(_VOCABULARY) - 1
    return [_VOCABULARY[min(last, int(rng.paretovariate(1.1)) - 1)] for _ in range(count)]


def text_sample(size: int, seed: int = 0) -> bytes:
    """Deterministic prose-like ASCII text of exactly ``size`` bytes."""
    rng = random.Random(seed)
    out: list[str] = []
    total = 0
    while total < size:
        sentence = _words(rng, rng.randint(4, 24))
        sentence[0] = sentence[0].capitalize()
        piece = " ".join(sentence) + rng.choice(_PUNCT)
        out.append(piece)
        total += len(piece)
    return "".join(out).encode("ascii")[:size]


def _utf8_sample(size: int, seed: int) -> bytes:
    rng = random.Random(seed)
    alphabet = "aäöüßéèçñ漢字かなカナ한국어Ελληνικάкириллица😀🚀 \n"
    data = "".join(rng.choices(alphabet, k=size)).encode("utf-8")
    return data[:size]


def _code_sample(size: int, seed: int) -> bytes:
    rng = random.Random(seed)
    names = [w.lower() for w in _words(rng, 300)]
    lines: list[str] = []
    total = 0
    while total < size:
        depth = rng.randint(0, 3)
        a, b = rng.choice(names), rng.choice(names)
        line = "    " * depth + rng.choice(
            (
                f"def {a}_{b}(x, y={rng.randint(0, 99)}):",
                f"if {a} > {rng.randint(0, 999)}:",
                f"return {a}({b}, {rng.randint(0, 9)})",
                f"{a} = {b}[{rng.randint(0, 15)}] + 0x{rng.getrandbits(16):04x}",
                f"# {' '.join(_words(rng, 6))}",
            )
        )
        lines.append(line)
        total += len(line) + 1
    return "\n".join(lines).encode("ascii")[:size]


def _log_sample(size: int, seed: int) -> bytes:
    rng = random.Random(seed)
    levels = ("INFO", "INFO", "INFO", "WARN", "DEBUG", "ERROR")
    out: list[bytes] = []
    total, t = 0, 1_700_000_000
    while total < size:
        t += rng.randint(0, 3)
        line = (
            f"{t} host{rng.randint(1, 9)} {rng.choice(levels)} pid={rng.randint(100, 9999)} "
            f"{' '.join(_words(rng, rng.randint(3, 10)))} id={rng.getrandbits(32):08x}\n"
        ).encode("ascii")
        out.append(line)
        total += len(line)
    return b"".join(out)[:size]


def _records_sample(size: int, seed: int) -> bytes:
    rng = random.Random(seed)
    out = bytearray()
    counter = rng.getrandbits(20)
    while len(out) < size:
        counter += rng.randint(1, 5)
        out += counter.to_bytes(4, "little")
        out += rng.getrandbits(16).to_bytes(2, "big")
        out += bytes([rng.randint(0, 3), 0, 0, rng.choice((0, 0, 0, 255))])
        out += rng.choice((b"OK\0\0", b"FAIL", b"\0\0\0\0"))
    return bytes(out[:size])


def _mixed_sample(size: int, seed: int) -> bytes:
    rng = random.Random(seed)
    makers = (text_sample, _code_sample, _log_sample, _records_sample, _utf8_sample)
    out = bytearray()
    while len(out) < size:
        part = rng.randint(1, max(1, size // 3))
        kind = rng.randrange(len(makers) + 2)
        if kind == len(makers):
            out += rng.randbytes(min(part, 4096))
        elif kind == len(makers) + 1:
            out += bytes([rng.randrange(256)]) * min(part, 8192)
        else:
            out += makers[kind](part, rng.getrandbits(32))
    return bytes(out[:size])


def _compressed_sample(size: int, seed: int) -> bytes:
    """Already-compressed data: nearly incompressible but not uniform random."""
    out = bytearray()
    n = 0
    while len(out) < size:
        out += zlib.compress(text_sample(65536, seed + n), 9)
        n += 1
    return bytes(out[:size])


@functools.lru_cache(maxsize=4)
def adversarial_inputs(chunk_size: int = DEFAULT_CHUNK_SIZE) -> tuple[tuple[str, bytes], ...]:
    """Named inputs every codec must round-trip (sizes capped at ``chunk_size``)."""
    rng = random.Random(0x6E7A6172)
    items: list[tuple[str, bytes]] = [
        ("empty", b""),
        ("one-zero-byte", b"\x00"),
        ("one-ff-byte", b"\xff"),
        ("one-letter", b"a"),
        ("two-bytes", b"\x00\xff"),
        ("every-byte-value", bytes(range(256))),
        ("every-byte-value-reversed-x16", bytes(range(255, -1, -1)) * 16),
        ("zeros-4096", bytes(4096)),
        ("ff-4096", b"\xff" * 4096),
        ("alternating-8192", b"\x00\xff" * 4096),
        ("random-1000", rng.randbytes(1000)),
        ("random-65536", rng.randbytes(65536)),
        ("text-10000", text_sample(10_000, 1)),
        ("utf8-5000", _utf8_sample(5000, 2)),
        ("code-20000", _code_sample(20_000, 3)),
        ("records-20000", _records_sample(20_000, 4)),
        ("compressed-20000", _compressed_sample(20_000, 5)),
    ]
    for size in (4095, 4096, 4097, 32767, 32768, 32769, 65536):
        items.append((f"text-{size}", text_sample(size, size)))
    for size in (chunk_size - 1, chunk_size):
        items.append((f"zeros-{size}", bytes(size)))
        items.append((f"mixed-{size}", _mixed_sample(size, size)))
    return tuple((name, data) for name, data in items if len(data) <= chunk_size)


def stress_inputs(
    count: int,
    chunk_size: int = DEFAULT_CHUNK_SIZE,
    *,
    seed: int = 1,
    corpus: Path | None = None,
) -> Iterator[tuple[str, bytes]]:
    """``count`` varied inputs of up to ``chunk_size`` bytes, deterministic for ``seed``.

    Sizes are spread over the whole range, with extra weight on large ones
    (buffer-boundary bugs need long outputs). With ``corpus``, every other
    input is a window of the concatenation of the files found there.
    """
    rng = random.Random(seed)
    blob = b""
    if corpus is not None and corpus.is_dir():
        files = sorted(p for p in corpus.rglob("*") if p.is_file() and p.suffix != ".tsv")
        blob = b"".join(p.read_bytes() for p in files)
    makers: Sequence[tuple[str, Callable[[int, int], bytes]]] = (
        ("text", text_sample),
        ("code", _code_sample),
        ("log", _log_sample),
        ("records", _records_sample),
        ("mixed", _mixed_sample),
        ("utf8", _utf8_sample),
    )
    for i in range(count):
        size = chunk_size if rng.random() < 0.25 else rng.randint(chunk_size // 8, chunk_size)
        size = max(1, size)
        if blob and i % 2:
            start = rng.randrange(max(1, len(blob) - size))
            yield f"stress-{i}-corpus@{start}+{size}", blob[start : start + size]
            continue
        name, make = makers[rng.randrange(len(makers))]
        sub = rng.getrandbits(32)
        yield f"stress-{i}-{name}(size={size},seed={sub})", make(size, sub)


# -- helpers ---------------------------------------------------------------------------------


def _label(codec: Codec) -> str:
    return f"{codec.codec_id} v{codec.version} {codec.get_params()!r}"


def _build(codec_cls: type[Codec], params: Mapping[str, Any]) -> Codec:
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
    codec = _build(codec_cls, params)
    got = codec.get_params()
    assert isinstance(got, dict), (
        f"{codec_cls.__qualname__}.get_params() returned {type(got).__name__}"
    )
    float_at = _find_float(got)
    assert float_at is None, f"{_label(codec)}: {float_at} is a float; params must not hold floats"
    wire = msgpack.packb(got, use_bin_type=True)
    back = msgpack.unpackb(wire, raw=False, strict_map_key=False)
    again = _build(codec_cls, back)
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


def _roundtrip_one(codec: Codec, name: str, data: bytes, report: CheckReport) -> bytes | None:
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
        _roundtrip_one(codec, name, data, report)
    assert report.declined - before < len(inputs), f"{_label(codec)}: encode declined every input"
    return report


def check_determinism(codec_cls: type[Codec], params: Mapping[str, Any]) -> None:
    """Two instances, repeated calls, threads and the batch API all agree byte for byte."""
    first, second = _build(codec_cls, params), _build(codec_cls, params)
    samples = [b"", b"x", text_sample(20_000, 11), _records_sample(9000, 12), bytes(5000)]
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
            _roundtrip_one(codec, name, data, report)
        except AssertionError as exc:
            failures.append(str(exc))
        report.stress += 1
    assert not failures, f"{len(failures)} of {count} stress round trips failed:\n" + "\n".join(
        failures
    )
    return report


def check_codec(
    codec_cls: type[Codec],
    params_list: Sequence[Mapping[str, Any]] = ({},),
    *,
    chunk_size: int = DEFAULT_CHUNK_SIZE,
    stress: int = 0,
    corpus: Path | None = None,
    strict_errors: bool = True,
) -> CheckReport:
    """Run every check for every params mapping; raise AssertionError on the first failure."""
    report = CheckReport()
    check_class(codec_cls)
    inputs = adversarial_inputs(chunk_size)
    for params in params_list:
        codec = check_params(codec_cls, params)
        check_roundtrip(codec, inputs, report)
        check_determinism(codec_cls, params)
        check_hostile_decode(
            codec, chunk_size=chunk_size, strict_errors=strict_errors, report=report
        )
        if stress:
            check_stress(codec, stress, chunk_size=chunk_size, corpus=corpus, report=report)
    return report


def conformance_suite(
    codec_cls: type[Codec],
    params_list: Sequence[Mapping[str, Any]] = ({},),
    *,
    chunk_size: int = DEFAULT_CHUNK_SIZE,
    stress: int = 0,
    corpus: Path | None = None,
    strict_errors: bool = True,
    stress_marks: Sequence[Any] = (),
) -> type:
    """A pytest test class running the kit, one test per (check, params).

    Assign it to a module-level name starting with ``Test``. ``stress_marks``
    (for example ``[pytest.mark.slow]``) are applied to the stress test,
    which exists only when ``stress`` > 0.
    """
    import pytest

    params_list = [dict(p) for p in params_list]
    ids = [",".join(f"{k}={v}" for k, v in sorted(p.items())) or "defaults" for p in params_list]
    each = pytest.mark.parametrize("params", params_list, ids=ids)
    inputs = adversarial_inputs(chunk_size)

    class ConformanceSuite:
        codec = codec_cls

        def test_class(self) -> None:
            check_class(codec_cls)

        @each
        def test_params(self, params: dict[str, Any]) -> None:
            check_params(codec_cls, params)

        @each
        @pytest.mark.parametrize("case", [name for name, _ in inputs])
        def test_roundtrip(self, params: dict[str, Any], case: str) -> None:
            codec = _build(codec_cls, params)
            report = CheckReport()
            _roundtrip_one(codec, case, dict(inputs)[case], report)

        @each
        def test_determinism(self, params: dict[str, Any]) -> None:
            check_determinism(codec_cls, params)

        @each
        def test_hostile_decode(self, params: dict[str, Any]) -> None:
            check_hostile_decode(
                _build(codec_cls, params), chunk_size=chunk_size, strict_errors=strict_errors
            )

    if stress > 0:

        @each
        def test_stress(self: Any, params: dict[str, Any]) -> None:
            check_stress(_build(codec_cls, params), stress, chunk_size=chunk_size, corpus=corpus)

        for mark in stress_marks:
            test_stress = mark(test_stress)
        ConformanceSuite.test_stress = test_stress  # type: ignore[attr-defined]

    ConformanceSuite.__name__ = ConformanceSuite.__qualname__ = (
        "TestConformance_" + codec_cls.codec_id.replace(".", "_").replace("-", "_")
    )
    return ConformanceSuite
