"""Chunk pipeline: per-chunk choice, fallbacks, batching and jobs independence."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any, ClassVar

import pytest

from nzarc.codecs.contract import Codec
from nzarc.errors import CodecError, FormatError, LimitExceeded
from nzarc.format.header import CodecEntry
from nzarc.pipeline import ChunkDecoder, ChunkEncoder
from nzarc.planning import CodecPlan, plan_codecs


class Halver(Codec):
    """Toy codec: keeps every other byte if all odd bytes are zero; declines chunks starting with 'X'."""

    codec_id: ClassVar[str] = "test.halver"
    version: ClassVar[int] = 1
    releases_gil: ClassVar[bool] = True
    calls: ClassVar[list[int]] = []

    def get_params(self) -> dict[str, Any]:
        return {}

    def encode(self, chunk: bytes) -> bytes:
        if chunk.startswith(b"X"):
            raise CodecError("declined")
        return bytes(chunk[::2]) if not any(chunk[1::2]) else bytes(chunk) + b"!"

    def encode_many(self, chunks):
        Halver.calls.append(len(chunks))
        return [self.encode(c) for c in chunks]

    def decode(self, data: bytes, raw_len: int) -> bytes:
        out = bytearray(raw_len)
        out[::2] = data
        return bytes(out)


class Liar(Halver):
    codec_id: ClassVar[str] = "test.liar"
    verify_after_encode: ClassVar[bool] = True

    def decode(self, data: bytes, raw_len: int) -> bytes:
        return bytes(raw_len)  # wrong on purpose


def plan(*codecs: Codec) -> CodecPlan:
    base = plan_codecs("store")
    entries = base.entries + [CodecEntry(c.codec_id, 1, {}, None) for c in codecs]
    return CodecPlan(entries, base.codecs + list(codecs), list(range(1, 1 + len(codecs))))


CHUNKS = [b"a\x00b\x00" * 8, b"random bytes here", b"X\x00" * 8, b"", b"q\x00" * 3]


@pytest.mark.parametrize("jobs", [1, 2, 3])
def test_choice_fallback_and_jobs_independence(jobs):
    Halver.calls.clear()
    with ThreadPoolExecutor(jobs) as ex:
        out = ChunkEncoder(plan(Halver()), ex, jobs).encode_group(CHUNKS)
    assert [slot for slot, _ in out] == [1, 0, 0, 0, 1]
    assert out[0][1] == b"ab" * 8 and out[1][1] == CHUNKS[1]
    assert sum(Halver.calls) >= len(CHUNKS) and len(Halver.calls) >= min(jobs, len(CHUNKS))
    with ThreadPoolExecutor(jobs) as ex:
        dec = ChunkDecoder({0: plan().codecs[0], 1: Halver()}, ex, jobs)
        assert dec.decode_group([(s, d, len(c)) for (s, d), c in zip(out, CHUNKS, strict=True)]) == CHUNKS


def test_verify_after_encode_falls_back_to_store():
    with ThreadPoolExecutor(1) as ex:
        out = ChunkEncoder(plan(Liar()), ex, 1).encode_group([b"a\x00" * 10])
    assert out == [(0, b"a\x00" * 10)]


def test_decoder_checks_length_and_slots():
    with ThreadPoolExecutor(1) as ex:
        dec = ChunkDecoder({0: plan().codecs[0], 1: Halver()}, ex, 1)
        with pytest.raises(CodecError, match="expected exactly 4"):
            dec.decode_group([(0, b"abcde", 4)])
        with pytest.raises(LimitExceeded, match="above the limit 1"):  # store's max_ratio
            dec.decode_group([(0, b"abc", 4)])
        with pytest.raises(FormatError):
            dec.decode_group([(5, b"abc", 3)])


def test_auto_plan_has_store_and_zstd():
    p = plan_codecs("auto")
    ids = [e.codec_id for e in p.entries]
    assert ids[:2] == ["nzarc.store", "nzarc.zstd"] and p.entries[1].params == {"level": 19}
    assert p.candidates and 0 not in p.candidates


class Batcher(Halver):
    """Batches internally: the pipeline must hand it each group in one call."""

    codec_id: ClassVar[str] = "test.batcher"
    batches_internally: ClassVar[bool] = True
    decode_calls: ClassVar[list[int]] = []

    def decode_many(self, items):
        Batcher.decode_calls.append(len(items))
        return [self.decode(d, n) for d, n in items]


@pytest.mark.parametrize("jobs", [1, 2, 4])
def test_internally_batching_codec_gets_whole_groups(jobs):
    chunks = [b"a\x00b\x00" * 8, b"c\x00" * 5, b"d\x00e\x00", b"f\x00" * 9, b"g\x00"]
    Halver.calls.clear()
    Batcher.decode_calls.clear()
    with ThreadPoolExecutor(jobs) as ex:
        out = ChunkEncoder(plan(Batcher()), ex, jobs).encode_group(chunks)
        assert [slot for slot, _ in out] == [1] * len(chunks)
        assert Halver.calls == [len(chunks)]
        dec = ChunkDecoder({0: plan().codecs[0], 1: Batcher()}, ex, jobs)
        assert dec.decode_group([(s, d, len(c)) for (s, d), c in zip(out, chunks, strict=True)]) == chunks
    assert Batcher.decode_calls == [len(chunks)]
