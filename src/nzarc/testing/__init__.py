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

Everything listed in ``__all__`` is importable from ``nzarc.testing``; the checks
live in :mod:`nzarc.testing.checks` and the generated inputs in
:mod:`nzarc.testing.inputs`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from nzarc.codecs.contract import Codec
from nzarc.testing.checks import (
    CheckReport,
    build,
    check_class,
    check_determinism,
    check_hostile_decode,
    check_params,
    check_roundtrip,
    check_stress,
    roundtrip_one,
)
from nzarc.testing.inputs import (
    DEFAULT_CHUNK_SIZE,
    adversarial_inputs,
    stress_inputs,
    text_sample,
)

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
            codec = build(codec_cls, params)
            report = CheckReport()
            roundtrip_one(codec, case, dict(inputs)[case], report)

        @each
        def test_determinism(self, params: dict[str, Any]) -> None:
            check_determinism(codec_cls, params)

        @each
        def test_hostile_decode(self, params: dict[str, Any]) -> None:
            check_hostile_decode(
                build(codec_cls, params), chunk_size=chunk_size, strict_errors=strict_errors
            )

    if stress > 0:

        @each
        def test_stress(self: Any, params: dict[str, Any]) -> None:
            check_stress(build(codec_cls, params), stress, chunk_size=chunk_size, corpus=corpus)

        for mark in stress_marks:
            test_stress = mark(test_stress)
        ConformanceSuite.test_stress = test_stress  # type: ignore[attr-defined]

    ConformanceSuite.__name__ = ConformanceSuite.__qualname__ = (
        "TestConformance_" + codec_cls.codec_id.replace(".", "_").replace("-", "_")
    )
    return ConformanceSuite
