"""The decode policy on neural archives (tiny model): refused before any model work, and the
neural codec's expansion limit (max_ratio) on read and on write."""

from __future__ import annotations

import io

import pytest

import nzarc
import nzarc.neural.codec as codec_module
from fuzz import surgery
from nzarc.errors import CodecRefused, LimitExceeded
from nzarc.neural.codec import MAX_RATIO, NeuralCodec, register_model
from nzarc.policy import DecodePolicy

TEXT = b"the " * 64  # the tiny model codes it to about 150 bytes: a neural chunk


@pytest.fixture
def neural_archive(tiny, monkeypatch: pytest.MonkeyPatch) -> bytes:
    sha = register_model(tiny)
    monkeypatch.setattr(codec_module, "default_model_sha", lambda: sha)
    buf = io.BytesIO()
    w = nzarc.ArchiveWriter(
        buf, encrypt=False, codec="neural", codec_params={"version": 1}, window=64, chunk_size=256, jobs=1
    )  # version 1: its ratio limit (32) is the one these tests cross
    w.add_file("f.txt", io.BytesIO(TEXT), mode=0o644)
    w.close()
    with nzarc.open(io.BytesIO(buf.getvalue())) as reader:
        assert reader.info().chunks_per_codec == {"nzarc.neural": 1}
    return buf.getvalue()


def _no_model_work(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args: object, **kw: object) -> object:
        raise AssertionError("model work before the policy check")

    monkeypatch.setattr(NeuralCodec, "_model", refuse)
    monkeypatch.setattr(NeuralCodec, "decode_many", refuse)


@pytest.mark.parametrize("pipe", [True, False])
def test_neural_refused_before_model_work(
    neural_archive: bytes, pipe: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    _no_model_work(monkeypatch)
    policy = DecodePolicy(codecs=frozenset({"nzarc.zstd"}))
    src = surgery.NonSeekable(neural_archive) if pipe else io.BytesIO(neural_archive)
    with nzarc.open(src, policy=policy) as reader:
        with pytest.raises(CodecRefused, match=r"needs codec nzarc\.neural, which is not allowed"):
            reader.test()


def test_neural_allowed_reads(neural_archive: bytes) -> None:
    policy = DecodePolicy(codecs=frozenset({"nzarc.neural"}))
    with nzarc.open(io.BytesIO(neural_archive), policy=policy) as reader:
        assert [item.read() for item in reader.iter_members()] == [TEXT]


def _shrunk(data: bytes, out: bytes) -> bytes:
    opened = surgery.unseal(data)
    frames = surgery.parse_frames(opened.plaintext)
    chunk = next(f for f in frames if f.tag == b"C")
    chunk.fields = {**chunk.fields, "out": out}
    surgery.fix_offsets(frames)
    return surgery.seal(opened, plaintext=surgery.join_frames(frames))


@pytest.mark.parametrize("pipe", [True, False])
def test_neural_chunk_above_its_ratio_is_refused_before_decoding(
    neural_archive: bytes, pipe: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    bad = _shrunk(neural_archive, b"\x82\x04\x01\x00")  # 256 bytes declared from 4: ratio 64
    monkeypatch.setattr(NeuralCodec, "decode_many", lambda self, items: pytest.fail("decoded"))
    src = surgery.NonSeekable(bad) if pipe else io.BytesIO(bad)
    with nzarc.open(src) as reader:
        with pytest.raises(LimitExceeded, match=r"chunk 0 \(nzarc\.neural\) declares 256 bytes "
                           rf"from 4 coded bytes: ratio 64, above the limit {MAX_RATIO}"):
            if pipe:
                reader.test()
            else:
                for item in reader.iter_members(["f.txt"]):
                    item.read()


def test_writer_keeps_neural_output_within_its_ratio(
    tiny, monkeypatch: pytest.MonkeyPatch
) -> None:
    sha = register_model(tiny)
    monkeypatch.setattr(codec_module, "default_model_sha", lambda: sha)
    monkeypatch.setattr(codec_module, "MAX_RATIO", 1.5)  # TEXT codes at about 1.7 (v1 limit)
    buf = io.BytesIO()
    w = nzarc.ArchiveWriter(
        buf, encrypt=False, codec="neural", codec_params={"version": 1}, window=64, chunk_size=256, jobs=1
    )  # version 1: its ratio limit (32) is the one these tests cross
    w.add_file("f.txt", io.BytesIO(TEXT), mode=0o644)
    w.close()
    with nzarc.open(io.BytesIO(buf.getvalue())) as reader:
        assert reader.info().chunks_per_codec == {"nzarc.store": 1}
        assert [item.read() for item in reader.iter_members()] == [TEXT]
