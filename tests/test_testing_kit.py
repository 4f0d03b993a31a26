"""The conformance kit (nzarc.testing) rejects codecs that break the contract."""

from __future__ import annotations

import os
import zlib
from collections.abc import Mapping
from typing import Any, ClassVar

import pytest

from nzarc.codecs.contract import Codec
from nzarc.codecs.params import check_keys
from nzarc.errors import CodecError
from nzarc.testing import (
    CheckReport,
    adversarial_inputs,
    check_codec,
    check_determinism,
    check_hostile_decode,
    check_params,
    check_roundtrip,
    check_stress,
    conformance_suite,
    stress_inputs,
    text_sample,
)

SMALL = 1 << 16  # chunk size for these tests: keeps them fast


class DeflateCodec(Codec):
    """A correct toy codec: zlib with the length checked before allocating."""

    codec_id: ClassVar[str] = "kit.deflate"
    version: ClassVar[int] = 1

    @classmethod
    def from_params(cls, params: Mapping[str, Any]) -> Codec:
        check_keys(cls.codec_id, params, ())
        return cls()

    def get_params(self) -> dict[str, Any]:
        return {}

    def encode(self, chunk: bytes) -> bytes:
        return zlib.compress(chunk, 6)

    def decode(self, data: bytes, raw_len: int) -> bytes:
        d = zlib.decompressobj()
        try:
            out = d.decompress(data, raw_len + 1)
        except zlib.error as exc:
            raise CodecError(f"kit.deflate: {exc}") from None
        if len(out) != raw_len or not d.eof or d.unused_data or d.unconsumed_tail:
            raise CodecError("kit.deflate: stream length does not match")
        return out


class DropsByteAtBoundary(DeflateCodec):
    """Loses one byte of output once it passes 32 KiB, like pyppmd's encoder."""

    def encode(self, chunk: bytes) -> bytes:
        out = super().encode(chunk)
        return out[:32768] + out[32769:] if len(out) > 32768 else out


class RaisesValueError(DeflateCodec):
    def decode(self, data: bytes, raw_len: int) -> bytes:
        return zlib.decompress(data)  # zlib.error escapes, length unchecked


class OverAllocates(DeflateCodec):
    def decode(self, data: bytes, raw_len: int) -> bytes:
        scratch = bytearray(8 * raw_len + (2 << 20))
        del scratch
        return super().decode(data, raw_len)


class NonDeterministic(DeflateCodec):
    def encode(self, chunk: bytes) -> bytes:
        return super().encode(chunk) + os.urandom(1)

    def decode(self, data: bytes, raw_len: int) -> bytes:
        return super().decode(data[:-1], raw_len)


class FloatParam(DeflateCodec):
    def get_params(self) -> dict[str, Any]:
        return {"ratio": 0.5}

    @classmethod
    def from_params(cls, params: Mapping[str, Any]) -> Codec:
        check_keys(cls.codec_id, params, ("ratio",))
        return cls()


class AcceptsUnknownParams(DeflateCodec):
    @classmethod
    def from_params(cls, params: Mapping[str, Any]) -> Codec:
        return cls()


class LenientStore(DeflateCodec):
    """Pads short input with zeros: garbage-tolerant but cannot detect truncation."""

    def encode(self, chunk: bytes) -> bytes:
        return bytes(chunk)

    def decode(self, data: bytes, raw_len: int) -> bytes:
        return bytes(data[:raw_len]).ljust(raw_len, b"\0")


def test_correct_codec_passes_everything() -> None:
    report = check_codec(DeflateCodec, [{}], chunk_size=SMALL, stress=3)
    assert report.roundtrips == len(adversarial_inputs(SMALL)) + 3
    assert report.hostile_decodes > 40 and report.rejected > 20
    assert report.stress == 3


def test_boundary_byte_loss_is_caught_by_roundtrip_and_stress() -> None:
    codec = DropsByteAtBoundary()
    with pytest.raises(AssertionError, match="round trip of random-65536"):
        check_roundtrip(codec, adversarial_inputs(SMALL))
    with pytest.raises(AssertionError, match="stress round trips failed"):
        check_stress(codec, 4, chunk_size=1 << 17)


def test_foreign_exception_from_decode_is_caught() -> None:
    with pytest.raises(AssertionError, match="raised error.*instead of CodecError"):
        check_hostile_decode(RaisesValueError(), chunk_size=SMALL)


def test_over_allocation_is_caught() -> None:
    with pytest.raises(AssertionError, match=r"allocated \d+ bytes, above max_decode_memory"):
        check_roundtrip(OverAllocates(), [("text", text_sample(5000))])


def test_nondeterminism_is_caught() -> None:
    with pytest.raises(AssertionError, match="encode differently"):
        check_determinism(NonDeterministic, {})


def test_float_params_are_caught() -> None:
    with pytest.raises(AssertionError, match=r"params\['ratio'\] is a float"):
        check_params(FloatParam, {"ratio": 0.5})


def test_unknown_params_must_be_rejected() -> None:
    with pytest.raises(AssertionError, match="from_params accepted"):
        check_params(AcceptsUnknownParams, {})


def test_truncation_must_be_detected_unless_relaxed() -> None:
    with pytest.raises(AssertionError, match="truncated.*did not raise"):
        check_hostile_decode(LenientStore(), chunk_size=SMALL)
    report = check_hostile_decode(LenientStore(), chunk_size=SMALL, strict_errors=False)
    assert report.hostile_decodes > 0


def test_declining_every_input_fails() -> None:
    class DeclinesAll(DeflateCodec):
        def encode(self, chunk: bytes) -> bytes:
            raise CodecError("kit.deflate: declined")

    with pytest.raises(AssertionError, match="declined every input"):
        check_roundtrip(DeclinesAll(), adversarial_inputs(SMALL), CheckReport())


def test_inputs_are_deterministic_and_sized() -> None:
    assert text_sample(1000, 4) == text_sample(1000, 4)
    assert len(text_sample(12345, 1)) == 12345
    first = list(stress_inputs(5, SMALL, seed=9))
    assert first == list(stress_inputs(5, SMALL, seed=9))
    assert all(0 < len(data) <= SMALL for _, data in first)
    sizes = {len(data) for _, data in adversarial_inputs(SMALL)}
    assert {0, 1, 32767, 32768, 32769, SMALL - 1, SMALL} <= sizes


def test_conformance_suite_builds_a_pytest_class() -> None:
    suite = conformance_suite(DeflateCodec, [{}], chunk_size=SMALL, stress=2)
    assert suite.__name__ == "TestConformance_kit_deflate"
    for name in (
        "test_class",
        "test_params",
        "test_roundtrip",
        "test_determinism",
        "test_hostile_decode",
        "test_stress",
    ):
        assert callable(getattr(suite, name))
    assert not hasattr(conformance_suite(DeflateCodec, [{}], chunk_size=SMALL), "test_stress")


TestDeflateThroughSuite = conformance_suite(DeflateCodec, [{}], chunk_size=SMALL, stress=2)
