"""nzarc.neural with the tiny model: round trips, bitstream layout, batching, hostile input."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import torch

from nzarc.codecs.context import CodecContext
from nzarc.errors import CodecError, ModelMismatch
from nzarc.events import ProgressEvent
from nzarc.neural.codec import DEFAULT_MODEL_SHA256, DEFAULT_RUNTIME, NeuralCodec, register_model
from nzarc.neural.coder import RangeDecoder

REPO = Path(__file__).resolve().parents[2]
ALICE = (
    b"Alice was beginning to get very tired of sitting by her sister on the bank, and of having "
    b"nothing to do: once or twice she had peeped into the book her sister was reading, but it had "
    b"no pictures or conversations in it, 'and what is the use of a book,' thought Alice 'without "
    b"pictures or conversations?'\n\nSo she was considering in her own mind (as well as she could, "
    b"for the hot day made her feel very sleepy and stupid), whether the pleasure of making a "
    b"daisy-chain would be worth the trouble of getting up and picking the daisies.\n"
)
WINDOW = 32
#: The runtime param writers add by default (none while it is 1).
RT = {} if DEFAULT_RUNTIME == 1 else {"runtime": DEFAULT_RUNTIME}


@pytest.fixture(scope="module", autouse=True)
def _one_torch_thread():
    """Keep this module fast on a busy machine; other thread counts run in subprocesses."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def codec(tiny) -> NeuralCodec:
    return NeuralCodec(model=register_model(tiny), window=WINDOW, version=1, runtime=1)


def _split(data: bytes) -> tuple[int, list[int], int]:
    """(token count, window lengths, header size) of an encoded chunk."""
    pos = 0

    def varint() -> int:
        nonlocal pos
        value = shift = 0
        while True:
            byte = data[pos]
            pos += 1
            value |= (byte & 0x7F) << shift
            shift += 7
            if not byte & 0x80:
                return value

    total = varint()
    lengths = [varint() for _ in range(-(-total // WINDOW))]
    return total, lengths, pos


CASES = {
    "empty": b"",
    "one byte": b"x",
    "one escaped byte": b"\x04",
    "text": ALICE,
    "invalid utf-8": b"caf\xe9 \xff\xfe\xc3\x28 na\xefve \xed\xa0\x80 \xf5\x80",
    "every byte": bytes(range(256)),
    "zeros": bytes(300),
    "exactly one window": None,  # filled in below: a text whose token count is WINDOW
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_round_trip(codec: NeuralCodec, tiny, name: str) -> None:
    data = CASES[name]
    if data is None:
        data = tiny.tokenizer.decode(tiny.tokenizer.encode(ALICE)[:WINDOW])
    encoded = codec.encode(data)
    assert codec.decode(encoded, len(data)) == data
    assert codec.encode(data) == encoded


def test_layout_matches_tokens_and_windows(codec: NeuralCodec, tiny) -> None:
    encoded = codec.encode(ALICE)
    tokens = tiny.tokenizer.encode(ALICE)
    total, lengths, header = _split(encoded)
    assert total == len(tokens)
    assert len(lengths) == -(-len(tokens) // WINDOW) > 2
    assert header + sum(lengths) == len(encoded)
    assert codec.encode(b"") == b"\x00"


def test_prefill_tables_decode_the_streams(codec: NeuralCodec, tiny) -> None:
    """Each window's stream decodes with the reference decoder from prefill tables."""
    encoded = codec.encode(ALICE)
    tokens = tiny.tokenizer.encode(ALICE)
    total, lengths, pos = _split(encoded)
    for w, length in enumerate(lengths):
        window = tokens[w * WINDOW : (w + 1) * WINDOW]
        inputs = torch.tensor([[tiny.bos_id, *window[:-1]]], dtype=torch.int64)
        tables = tiny.with_act_levels(codec.act_levels).prefill_all(inputs)[0]
        cdfs = np.cumsum(tables.numpy().astype(np.int64), axis=1)
        dec = RangeDecoder(encoded[pos : pos + length], tiny.freq_bits)
        assert [dec.decode_cdf(cdfs[i]) for i in range(len(window))] == window
        dec.finish()
        pos += length


def test_decode_many_equals_one_by_one(codec: NeuralCodec, monkeypatch: pytest.MonkeyPatch) -> None:
    chunks = [ALICE, b"", ALICE[:50], b"\x00\x04\xff", ALICE[100:250], b"z"]
    encoded = codec.encode_many(chunks)
    assert encoded == [codec.encode(c) for c in chunks]
    items = list(zip(encoded, map(len, chunks), strict=True))
    assert codec.decode_many(items) == chunks
    assert [codec.decode(e, n) for e, n in items] == chunks
    # A memory budget that allows a single window per batch gives the same result. The
    # budget comes with the codec's context; the environment is not read.
    monkeypatch.setenv("NZARC_NEURAL_MEMORY", "1")
    assert NeuralCodec(model=codec.model_sha, window=codec.window).max_decode_memory(0) > (1 << 30)
    tight = NeuralCodec(
        model=codec.model_sha, window=codec.window, act_levels=codec.act_levels, version=1,
        runtime=codec.runtime, context=CodecContext(decode_memory=1),
    )  # fmt: skip
    assert tight.max_decode_memory(0) == 1 + (64 << 20)
    small = [ALICE[:120], b"", ALICE[300:400]]
    assert tight.decode_many([(codec.encode(c), len(c)) for c in small]) == small


def _fresh_process_digest(isa_env: dict[str, str], threads: int) -> str:
    script = textwrap.dedent(
        f"""
        import hashlib, torch
        torch.set_num_threads({threads})
        from nzarc.neural.tiny import tiny_model
        from nzarc.neural.codec import NeuralCodec, register_model
        c = NeuralCodec(model=register_model(tiny_model(0)), window={WINDOW}, version=1, runtime=1)
        data = {ALICE!r} + bytes(range(256))
        enc = c.encode(data)
        assert c.decode(enc, len(data)) == data
        print(hashlib.sha256(c.encode({ALICE!r})).hexdigest())
        """
    )
    env = dict(os.environ, **isa_env)
    env["PYTHONPATH"] = str(REPO / "src") + os.pathsep + env.get("PYTHONPATH", "")
    done = subprocess.run(
        [sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=600
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout.strip().splitlines()[-1]


@pytest.mark.parametrize(
    ("isa_env", "threads"),
    [
        ({"ONEDNN_MAX_CPU_ISA": "AVX2", "ATEN_CPU_CAPABILITY": "avx2", "OMP_NUM_THREADS": "1"}, 1),
        ({}, 2),
    ],
    ids=["avx2-1thread", "default-2threads"],
)
def test_fresh_process_gives_identical_bytes(
    codec: NeuralCodec, isa_env: dict[str, str], threads: int
) -> None:
    digest = hashlib.sha256(codec.encode(ALICE)).hexdigest()
    assert _fresh_process_digest(isa_env, threads) == digest


def test_context_progress_counts_every_token(tiny) -> None:
    seen: dict[str, int] = {"encode": 0, "decode": 0, "encode-planned": 0, "decode-planned": 0,
                            "encode-bytes": 0, "decode-bytes": 0}
    order: list[str] = []

    def sink(event: ProgressEvent) -> None:
        seen[event.kind] += event.tokens
        order.append(event.kind)
        assert event.workers == 0  # in-process

    codec = NeuralCodec(model=register_model(tiny), window=WINDOW, context=CodecContext(progress=sink))
    encoded = codec.encode(ALICE)
    codec.decode(encoded, len(ALICE))
    tokens = len(tiny.tokenizer.encode(ALICE))
    assert seen == {**dict.fromkeys(seen, tokens), "encode-bytes": len(ALICE), "decode-bytes": len(ALICE)}
    assert order[:2] == ["encode-bytes", "encode-planned"]  # a call's raw bytes come first
    assert order[order.index("decode-bytes") + 1] == "decode-planned"


def test_a_codec_without_a_progress_sink_reports_to_no_other(tiny) -> None:
    seen: list[ProgressEvent] = []
    NeuralCodec(model=register_model(tiny), window=WINDOW, context=CodecContext(progress=seen.append))
    quiet = NeuralCodec(model=register_model(tiny), window=WINDOW)
    quiet.decode(quiet.encode(ALICE), len(ALICE))
    assert seen == []  # no route through process-global state


# ---------------------------------------------------------------------------- hostile input


def test_truncated_chunks_are_rejected(codec: NeuralCodec) -> None:
    encoded = codec.encode(ALICE)
    for cut in sorted({0, 1, 2, 3, len(encoded) // 2, len(encoded) - 1}):
        with pytest.raises(CodecError):
            codec.decode(encoded[:cut], len(ALICE))


def test_wrong_raw_len_and_trailing_bytes_are_rejected(codec: NeuralCodec) -> None:
    encoded = codec.encode(ALICE)
    for raw_len in (0, 1, len(ALICE) - 1, len(ALICE) + 1, 10 * len(ALICE)):
        with pytest.raises(CodecError):
            codec.decode(encoded, raw_len)
    with pytest.raises(CodecError):
        codec.decode(encoded + b"\x00", len(ALICE))
    with pytest.raises(CodecError):
        codec.decode(b"", 0)
    with pytest.raises(CodecError):
        codec.decode(b"\x00\x00", 0)
    with pytest.raises(CodecError):
        codec.decode(b"\x00", -1)


def test_header_limits_are_checked_before_model_work(codec: NeuralCodec) -> None:
    # Token count above 2 * raw_len; a non-shortest varint; a window longer than 3 bytes/token + 1.
    for data, raw_len in [
        (b"\x05\x01\x00", 2),
        (b"\x80\x00", 5),
        (b"\x81\x00\x01\x00", 5),
        (b"\x01\x05" + bytes(5), 1),
        (b"\xff\xff\xff\xff\xff\xff\xff\xff\xff\x01", 1 << 20),
    ]:
        with pytest.raises(CodecError):
            codec.decode(data, raw_len)


def test_bit_flips_and_garbage_raise_only_codec_error(codec: NeuralCodec) -> None:
    encoded = codec.encode(ALICE)
    rng = np.random.default_rng(4)
    rejected = 0
    for _ in range(6):
        flipped = bytearray(encoded)
        i = int(rng.integers(len(flipped)))
        flipped[i] ^= 1 << int(rng.integers(8))
        try:
            out = codec.decode(bytes(flipped), len(ALICE))
        except CodecError:
            rejected += 1
        else:
            assert len(out) == len(ALICE)
    assert rejected >= 5
    for size in (1, 7, 100, 3000):
        junk = rng.integers(0, 256, size, dtype=np.uint8).tobytes()
        for raw_len in (0, 1, 1000):
            try:
                out = codec.decode(junk, raw_len)
            except CodecError:
                continue
            assert len(out) == raw_len


# ---------------------------------------------------------------------------- params and models


def test_params_round_trip_and_validation(codec: NeuralCodec) -> None:
    params = codec.get_params()
    assert params == {"model": codec.model_sha, "window": WINDOW, "act_levels": 2}
    assert NeuralCodec.from_params(params) == codec
    # params without "act_levels" (archives written before it existed) mean precision 1
    old = NeuralCodec.from_params({"model": codec.model_sha, "window": WINDOW})
    assert old.act_levels == 1 and old.get_params() == {"model": codec.model_sha, "window": WINDOW}
    for bad in [
        {"model": codec.model_sha, "window": WINDOW, "act_levels": 1},  # must be left out
        {"model": codec.model_sha, "window": WINDOW, "act_levels": 3},
        {"model": codec.model_sha, "window": WINDOW, "act_levels": True},
        {"model": codec.model_sha, "window": WINDOW, "act_levels": "2"},
        {"model": codec.model_sha},
        {},
        {"model": codec.model_sha, "window": 4},
        {"model": codec.model_sha, "window": 1 << 20},
        {"model": codec.model_sha, "window": True},
        {"model": codec.model_sha.upper(), "window": WINDOW},
        {"model": "abc", "window": WINDOW},
        {"model": codec.model_sha, "window": WINDOW, "device": "cuda"},
        {"model": codec.model_sha, "window": WINDOW, "runtime": 1},  # must be left out
        {"model": codec.model_sha, "window": WINDOW, "runtime": 3},
        {"model": codec.model_sha, "window": WINDOW, "runtime": True},
        {"model": codec.model_sha, "window": WINDOW, "runtime": "2"},
        ["model"],
    ]:
        with pytest.raises(CodecError):
            NeuralCodec.from_params(bad)  # type: ignore[arg-type]


def test_window_longer_than_the_model_allows(tiny) -> None:
    big = NeuralCodec(model=register_model(tiny), window=tiny.max_len + 1)
    with pytest.raises(CodecError):
        big.encode(b"hello")


def test_missing_model_names_the_install_command(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NZARC_HOME", str(tmp_path))
    with pytest.raises(ModelMismatch) as info:
        NeuralCodec.from_params({"model": "ab" * 32, "window": 1024})
    assert "nzarc model install smollm2-135m" in (info.value.hint or "")
    with pytest.raises(ModelMismatch) as info:  # no "model": the pinned default model
        NeuralCodec.from_params({"window": 1024})
    assert DEFAULT_MODEL_SHA256 in (info.value.hint or "")
    with pytest.raises(ModelMismatch) as info:
        NeuralCodec()
    assert "nzarc model install smollm2-135m" in (info.value.hint or "")


def test_required_models_pin_the_window(codec: NeuralCodec, tiny) -> None:
    (pin,) = codec.required_models()
    assert pin.weights_sha256 == codec.model_sha == tiny.weights_sha256
    assert pin.tokenizer_sha256 == tiny.tokenizer_sha256
    assert pin.runtime_id == "nzarc-int-v1"
    assert dict(pin.extra) == {"window": WINDOW, "act_levels": 2}
    (pin1,) = NeuralCodec(model=codec.model_sha, window=WINDOW, act_levels=1, runtime=1).required_models()
    assert dict(pin1.extra) == {"window": WINDOW}


def test_runtime_2_round_trips_pins_its_runtime_and_differs(codec: NeuralCodec, tiny) -> None:
    """``runtime`` 2 (nzarc-int-v2's 8-bit caches) is a recorded param and the pinned runtime
    id; its streams decode only with its own tables, in both bitstream versions."""
    params = {"model": codec.model_sha, "window": WINDOW, "act_levels": 2, "runtime": 2}
    two = NeuralCodec.from_params(params)
    assert two.get_params() == params and (two.runtime, two.runtime_id) == (2, "nzarc-int-v2")
    (pin,) = two.required_models()
    assert pin.runtime_id == "nzarc-int-v2" and dict(pin.extra) == {"window": WINDOW, "act_levels": 2, "runtime": 2}
    assert two._model().runtime_id == "nzarc-int-v2" and two._model().weights is tiny.weights
    data = ALICE[:400]
    enc1, enc2 = codec.encode(data), two.encode(data)
    assert enc1 != enc2 and two.decode(enc2, len(data)) == data
    with pytest.raises(CodecError):  # v1's tables do not decode a v2 stream
        assert codec.decode(enc2, len(data)) != data
    mixed = NeuralCodec(model=codec.model_sha, window=WINDOW, version=2, lanes=2, runtime=2)
    assert mixed.get_params()["runtime"] == 2
    enc = mixed.encode(ALICE)
    assert mixed.decode(enc, len(ALICE)) == ALICE
    assert NeuralCodec.from_params(mixed.get_params()).decode(enc, len(ALICE)) == ALICE


def test_both_precisions_round_trip_and_differ(codec: NeuralCodec) -> None:
    one = NeuralCodec(model=codec.model_sha, window=WINDOW, act_levels=1)
    data = ALICE[:400]
    enc1, enc2 = one.encode(data), codec.encode(data)
    assert enc1 != enc2
    assert one.decode(enc1, len(data)) == data and codec.decode(enc2, len(data)) == data
    with pytest.raises(CodecError):  # the other precision's tables do not decode the stream
        assert codec.decode(enc1, len(data)) != data


def test_accepts_text_and_rejects_binary(codec: NeuralCodec) -> None:
    assert codec.accepts(ALICE * 100)
    assert codec.accepts(b"")
    assert codec.accepts("naïve café, Grüße — ok\n".encode() * 50)
    assert not codec.accepts(np.random.default_rng(1).integers(0, 256, 1 << 20, dtype=np.uint8).tobytes())
    assert not codec.accepts(b"\x00\x01\x02\x03" * 5000)


def test_importing_the_codec_does_not_import_torch() -> None:
    script = (
        "import sys\n"
        "from nzarc.codecs.registry import get_registry\n"
        "ids = [c.codec_id for c in get_registry().codecs()]\n"
        "assert 'nzarc.neural' in ids, ids\n"
        "assert 'torch' not in sys.modules\n"
    )
    env = dict(os.environ)
    env["PYTHONPATH"] = str(REPO / "src") + os.pathsep + env.get("PYTHONPATH", "")
    done = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]



def test_plan_takes_the_window_and_writes_the_default_model_once(
    tiny, monkeypatch: pytest.MonkeyPatch
) -> None:
    import nzarc.neural.codec as codec_module
    from nzarc.planning import plan_codecs

    sha = register_model(tiny)
    monkeypatch.setattr(codec_module, "default_model_sha", lambda: sha)
    for codec, window in (("neural", 64), ("auto", 32)):
        plan = plan_codecs(codec, {"window": window})
        (entry,) = [e for e in plan.entries if e.codec_id == "nzarc.neural"]
        assert entry.params == {"model": sha, "window": window, "act_levels": 2, "version": 2, "lanes": 8} | RT
        assert entry.models[0].extra == {"window": window, "act_levels": 2} | RT
    # the pinned default model's hash is left out of the params (it is in the pin)
    monkeypatch.setattr(codec_module, "DEFAULT_MODEL_SHA256", sha)
    plan = plan_codecs("neural", {"window": 64})
    (entry,) = [e for e in plan.entries if e.codec_id == "nzarc.neural"]
    assert entry.params == {"window": 64, "act_levels": 2, "version": 2, "lanes": 8} | RT
    assert entry.models[0].weights_sha256 == sha
