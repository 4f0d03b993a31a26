"""nzarc.neural bitstream version 2 with the tiny model: round trips, lanes, golden bytes,
determinism across CPU targets, hostile input, params."""

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
from nzarc.errors import CodecError, CodecParamsError
from nzarc.events import ProgressEvent
from nzarc.neural.codec import DEFAULT_LANES, DEFAULT_RUNTIME, NeuralCodec, register_model
from nzarc.neural.mix import kernel
from nzarc.neural.mix import lanes as lanes_module
from nzarc.neural.mix.lanes import decode_state_bytes, lane_windows
from nzarc.neural.mix.lmnodes import id_bits, path_counts
from nzarc.neural.mix.tables import state_bytes

REPO = Path(__file__).resolve().parents[2]
WINDOW = 32
LOG = b"".join(
    b"[Sun Dec 04 04:%02d:%02d 2005] [notice] workerEnv.init() ok /etc/httpd/conf/workers2.properties\n"
    % (i // 7, (i * 13) % 60)
    for i in range(6)
)


@pytest.fixture(scope="module", autouse=True)
def _one_torch_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def _codec(tiny, lanes: int, context: CodecContext | None = None) -> NeuralCodec:
    return NeuralCodec.from_params(
        {"model": register_model(tiny), "window": WINDOW, "version": 2, "lanes": lanes},
        context=context,
    )


def test_path_counts_match_the_table(tiny) -> None:
    torch.manual_seed(1)
    table = torch.randint(1, 1000, (3, tiny.vocab_size), dtype=torch.int32)
    targets = torch.tensor([0, tiny.vocab_size - 1, 137])
    counts, top = path_counts(table, targets)
    bits = id_bits(tiny.vocab_size)
    assert counts.shape == (3, bits, 2)
    for r, t in enumerate(targets.tolist()):
        assert int(top[r]) == int(table[r].max())
        lo = 0
        for b in range(bits):
            size = 1 << (bits - 1 - b)
            mid, hi = min(lo + size, tiny.vocab_size), min(lo + 2 * size, tiny.vocab_size)
            assert int(counts[r, b, 0]) == int(table[r, lo:mid].sum())
            assert int(counts[r, b, 1]) == int(table[r, mid:hi].sum())
            lo = lo + size if (t >> (bits - 1 - b)) & 1 else lo
        assert lo == t


def test_squash_and_stretch_are_monotone_inverses() -> None:
    sq, st = kernel.squash_table(), kernel.stretch_table()
    assert sq[0] == 1 and sq[-1] == 65535 and sq[2047] == 32768
    assert np.all(np.diff(sq) >= 0) and np.all(np.diff(st) >= 0)
    d = np.arange(-600, 601)  # where squash rises by at least 1 per step
    assert np.all(np.abs(st[sq[d + 2047]] - d) <= 1)


def test_lane_layout() -> None:
    assert [list(r) for r in lane_windows(5, 2)] == [[0, 1], [2, 3, 4]]
    assert [list(r) for r in lane_windows(2, 4)] == [[], [0], [], [1]]
    assert sum(len(r) for r in lane_windows(37, 8)) == 37


@pytest.mark.parametrize("lanes", [1, 3])
def test_round_trip(tiny, lanes: int) -> None:
    codec = _codec(tiny, lanes)
    chunks = [LOG, b"", LOG[:50], bytes(range(256))]
    encoded = codec.encode_many(chunks)
    assert codec.decode_many(list(zip(encoded, map(len, chunks), strict=True))) == chunks


def test_model_work_is_reported_to_the_context(tiny) -> None:
    seen: dict[str, int] = {}

    def sink(event: ProgressEvent) -> None:
        seen[event.kind] = seen.get(event.kind, 0) + event.tokens

    codec = _codec(tiny, 3, CodecContext(progress=sink))
    codec.decode(codec.encode(LOG), len(LOG))
    tokens = len(tiny.tokenizer.encode(LOG))
    assert seen == {"encode-bytes": len(LOG), "encode-planned": tokens, "encode": tokens,
                    "decode-bytes": len(LOG), "decode-planned": tokens, "decode": tokens}


def test_encode_reports_the_models_tokens_as_it_goes(tiny, monkeypatch: pytest.MonkeyPatch) -> None:
    """The model's work (all but ~0.1% of an encode) is reported slab by slab, all of it
    before the mixer codes the first window, so the progress line moves while the model runs."""
    done: list[int] = []

    def sink(event: ProgressEvent) -> None:
        if event.kind == "encode":
            done.append(event.tokens)

    at_first_window: list[int] = []
    real = kernel.encode_window

    def encode_window(*args, **kwargs):  # type: ignore[no-untyped-def]
        at_first_window.append(sum(done))
        return real(*args, **kwargs)

    monkeypatch.setattr(kernel, "encode_window", encode_window)
    monkeypatch.setattr(lanes_module, "PREFILL_TOKENS", WINDOW)  # one window per model call
    _codec(tiny, 2, CodecContext(progress=sink)).encode(LOG)
    tokens = len(tiny.tokenizer.encode(LOG))
    assert len(done) >= -(-tokens // WINDOW) and sum(done) == tokens
    assert at_first_window[0] == tokens


def test_mixing_learns_the_chunks_repeats(tiny) -> None:
    v1 = NeuralCodec(model=register_model(tiny), window=WINDOW, version=1)
    v2 = _codec(tiny, 1)
    assert len(v2.encode(LOG)) < 0.6 * len(v1.encode(LOG))
    # Lanes never share state: a chunk of two lanes codes worse than one lane.
    assert len(_codec(tiny, 2).encode(LOG)) > len(v2.encode(LOG))


#: Exact bytes of version 2 for the tiny seeded model (window 32, 2 lanes); see
#: spec/NEURAL-CODEC.md section 5. Any change to the mixer, its constants or the layout changes them.
GOLDEN_TEXT = b"abc abc abcd abcd abcde abcde, the cat sat on the mat; the cat sat on the hat.\n" * 2
GOLDEN_HEX = (
    "60464d3810c184c9915a09721fdfbaa6d01db912c21f57b32345df0338b9843ff8451d7ddf06e0e1"
    "e80655e18b8b2a811d5191aa78f1305f72259b68f86f25f6a62879d8949787a8c25bfffdf34cf3d8"
    "f7221ebe55b08cfb1bf793612adb464995cbe6b701aae132268e3290e93ba1c05f4698ba3a0edc43"
    "6838906c093770ff36206161270339c18fc4481d537377ad9a8551985163b32ee02f3474ffabd0a7"
    "38431c1604a45e41ac3a4e640c3869388caa4e3e7479b2f8d732dfa907a4ba654f93595eb02ea982"
    "234c6378020cb4"
)
GOLDEN_LOG_SHA256 = "a09778117490c02e3e6c233d5bc8b3fa1b99cae3ba51b504abc2fe12005ef7a6"


#: The same under runtime nzarc-int-v2 (param "runtime": 2, spec/NEURAL.md section 7).
GOLDEN_V2_HEX = (
    "60454e3919d34d38f90140ec4bd5dec5d2f516667ef6425fea783e0d703400106282724e69e51bfc"
    "24bf9276551fbf67e7dc990f956c04992e550d2f1baa3a0b47a80f008b3414e5c6fffdfd7d0be02d"
    "72ef75d59fef2a4c072ee9d3e130e706a24e8ff85e2528f528ca320879ea7844bec10be0bdb71d2a"
    "6f67c9bf61612b732ed67da3e35d6c17d480fb1298acbf49f3769050fb72943ffaa04ca0152fe483"
    "504986c925d3c08de65095cf2c1d44e15d0e71744b9599f05185abca1a52b276eec806557e8f4d33"
    "adbc31c61b562afd"
)
GOLDEN_V2_LOG_SHA256 = "12ed4074c438d941d6dddda7bbeeee12a7ab3abc313d2465ca57be34fb0bc3d7"


def test_golden_vectors(tiny) -> None:
    codec = _codec(tiny, 2)
    assert codec.encode(GOLDEN_TEXT).hex() == GOLDEN_HEX
    assert hashlib.sha256(codec.encode(LOG)).hexdigest() == GOLDEN_LOG_SHA256
    params = {**codec.get_params(), "runtime": 2}
    v2 = NeuralCodec.from_params(params)
    assert v2.encode(GOLDEN_TEXT).hex() == GOLDEN_V2_HEX
    assert hashlib.sha256(v2.encode(LOG)).hexdigest() == GOLDEN_V2_LOG_SHA256
    assert v2.decode(bytes.fromhex(GOLDEN_V2_HEX), len(GOLDEN_TEXT)) == GOLDEN_TEXT


_PROBE = textwrap.dedent(
    """
    import hashlib, sys
    import torch
    torch.set_num_threads(1)
    sys.path.insert(0, sys.argv[1])
    from test_mix import LOG, WINDOW
    from nzarc.neural.codec import DEFAULT_LANES, NeuralCodec, register_model
    from nzarc.neural.tiny import tiny_model
    codec = NeuralCodec.from_params(
        {"model": register_model(tiny_model(0)), "window": WINDOW, "version": 2, "lanes": 2}
    )
    print(hashlib.sha256(codec.encode(LOG)).hexdigest())
    """
)


def test_same_bytes_under_another_cpu_target(tiny, tmp_path) -> None:
    env = dict(os.environ)
    env["NUMBA_CPU_NAME"] = "haswell"
    env["NUMBA_CACHE_DIR"] = str(tmp_path / "numba")  # compile afresh for that target
    env["PYTHONPATH"] = str(REPO / "src")
    run = subprocess.run(
        [sys.executable, "-c", _PROBE, str(Path(__file__).parent)],
        env=env, capture_output=True, text=True, timeout=600, check=True,
    )
    assert run.stdout.strip() == hashlib.sha256(_codec(tiny, 2).encode(LOG)).hexdigest()


def test_corrupt_streams_are_rejected(tiny) -> None:
    codec = _codec(tiny, 2)
    sample = LOG[:120]
    data = codec.encode(sample)
    with pytest.raises(CodecError):
        codec.decode(data[:-1], len(sample))
    failures = 0
    for i in range(len(data) - 1, len(data) - 13, -2):
        bad = bytearray(data)
        bad[i] ^= 0x5A
        try:
            out = codec.decode(bytes(bad), len(sample))
        except CodecError:
            failures += 1
        else:
            assert out != sample
    assert failures >= 4


def test_stream_length_bound_is_checked_before_model_work(tiny) -> None:
    codec = _codec(tiny, 1)
    bits = id_bits(tiny.vocab_size)
    # One token, a stream longer than 2 B + 1 bytes.
    data = bytes([1, 2 * bits + 2]) + bytes(2 * bits + 2)
    with pytest.raises(CodecError, match="window length"):
        codec.decode(data, 1)


def test_params(tiny) -> None:
    sha = register_model(tiny)
    codec = _codec(tiny, 5)
    assert codec.get_params() == {"model": sha, "window": WINDOW, "act_levels": 2, "version": 2, "lanes": 5} or (
        codec.get_params() == {"model": sha, "window": WINDOW, "version": 2, "lanes": 5}
    )
    again = NeuralCodec.from_params(codec.get_params())
    assert again.bitstream == 2 and again.lanes == 5
    for bad in (
        {"window": WINDOW, "version": 1},
        {"window": WINDOW, "version": 3, "lanes": 1},
        {"window": WINDOW, "lanes": 2},
        {"window": WINDOW, "version": 2},
        {"window": WINDOW, "version": 2, "lanes": 0},
        {"window": WINDOW, "version": 2, "lanes": 65},
        {"window": WINDOW, "version": 2.0, "lanes": 2},
        {"window": WINDOW, "version": True, "lanes": 2},
    ):
        with pytest.raises(CodecParamsError, match="param '(version|lanes)'"):
            NeuralCodec.from_params({"model": sha} | bad)
    # a writer's default is version 2 in DEFAULT_LANES lanes; version 1 is written without the key
    runtime = {} if DEFAULT_RUNTIME == 1 else {"runtime": DEFAULT_RUNTIME}  # the writers' runtime
    assert NeuralCodec(model=sha, window=WINDOW).get_params() == {
        "model": sha, "window": WINDOW, "act_levels": 2, "version": 2, "lanes": DEFAULT_LANES} | runtime
    assert NeuralCodec(model=sha, window=WINDOW, version=1).get_params().get("version") is None


def test_decode_memory_counts_the_mixer_state(tiny) -> None:
    sha = register_model(tiny)
    v1 = NeuralCodec(model=sha, window=WINDOW, version=1)
    v2 = _codec(tiny, 4)
    assert v2.max_decode_memory(10_000) - v1.max_decode_memory(10_000) >= 4 * 4 * (1 << 18)


def test_lanes_without_windows_cost_no_state(tiny) -> None:
    """A small chunk declares, and a decoder allocates, state for the lanes that hold a
    window only: a hostile ``lanes = 64`` on a one-window chunk costs one lane, not 64."""
    vocab = tiny.vocab_size
    one_lane = state_bytes(1, vocab, WINDOW)
    slack = lanes_module.STATE_SLACK
    assert decode_state_bytes(vocab, 10, WINDOW, 64) == one_lane + one_lane // slack
    three = state_bytes(3, vocab, WINDOW)
    assert decode_state_bytes(vocab, 3 * WINDOW, WINDOW, 64) == three + three // slack
    codec = _codec(tiny, 64)
    data = b"tiny text, one window"
    encoded = codec.encode(data)
    assert codec.decode(encoded, len(data)) == data
    v1 = NeuralCodec(model=register_model(tiny), window=WINDOW, version=1)
    assert codec.max_decode_memory(len(data)) - v1.max_decode_memory(len(data)) < 8 * one_lane


def test_state_groups_stay_within_the_chunks_bounds(tiny) -> None:
    """Lanes decoded together never allocate more than the sum of their own states plus
    1/STATE_SLACK of it, so never more than their chunks' bounds (what max_decode_memory
    counts), and lanes of nearly equal length (the lanes of a chunk) form one group."""
    vocab = tiny.vocab_size
    rng = np.random.default_rng(7)
    for _ in range(200):
        lanes = int(rng.integers(1, 9))
        totals = [int(t) for t in rng.integers(1, 40 * WINDOW, size=int(rng.integers(1, 7)))]
        units, owner = lanes_module.split_tokens([[0] * t for t in totals], WINDOW, lanes)
        caps = [sum(len(w) for w in lane) for lane in units]
        groups = lanes_module._state_groups(vocab, caps)
        assert [li for g in groups for li in g] == list(range(len(units)))
        slack = lanes_module.STATE_SLACK
        for g in groups:
            own = sum(state_bytes(1, vocab, caps[li]) + state_bytes(1, vocab, caps[li]) // slack for li in g)
            assert state_bytes(len(g), vocab, max(caps[li] for li in g)) <= own
        bounds = 0
        for ci, total in enumerate(totals):
            own = sum(state_bytes(1, vocab, c) for c, o in zip(caps, owner, strict=True) if o == ci)
            assert own + own // slack <= decode_state_bytes(vocab, total, WINDOW, lanes)
            bounds += decode_state_bytes(vocab, total, WINDOW, lanes)
        merged = sum(state_bytes(len(g), vocab, max(caps[li] for li in g)) for g in groups)
        assert merged <= bounds
    # the lanes of a chunk, of unequal lengths (2 and 3 windows), share one allocation
    caps = [sum(len(w) for w in lane) for lane in lanes_module.split_tokens([[0] * 20 * WINDOW], WINDOW, 8)[0]]
    assert len(set(caps)) == 2
    assert lanes_module._state_groups(vocab, caps) == [list(range(8))]
    # lanes of one size share one allocation
    assert lanes_module._state_groups(vocab, [5 * WINDOW] * 4) == [[0, 1, 2, 3]]


def test_decoded_lanes_of_the_wrong_shape_are_a_codec_error() -> None:
    lanes = [[(b"x", 3), (b"y", 2)], [(b"z", 1)]]
    lanes_module.check_decoded(lanes, [[[1, 2, 3], [4, 5]], [[6]]])
    with pytest.raises(CodecError, match="1 lanes decoded, expected 2"):
        lanes_module.check_decoded(lanes, [[[1, 2, 3], [4, 5]]])
    with pytest.raises(CodecError, match="wrong token counts"):
        lanes_module.check_decoded(lanes, [[[1, 2, 3], [4]], [[6]]])


def test_split_and_join_keep_each_chunks_window_order() -> None:
    chunks = [list(range(t)) for t in (1, WINDOW, 7 * WINDOW + 3, 2 * WINDOW)]
    units, owner = lanes_module.split_tokens(chunks, WINDOW, 3)
    assert owner == [0, 1, 2, 2, 2, 3, 3]  # only lanes that hold a window
    joined = lanes_module.join_lanes(units, owner, len(chunks))
    assert [[t for w in c for t in w] for c in joined] == chunks
    streams = [(len(c), [bytes([i]) for i in range(-(-len(c) // WINDOW))]) for c in chunks]
    jobs, owner2 = lanes_module.split_streams(streams, WINDOW, 3)
    assert owner2 == owner
    assert [[n for _, n in lane] for lane in jobs] == [[len(w) for w in lane] for lane in units]


def test_chunks_of_different_sizes_round_trip_in_one_call(tiny) -> None:
    codec = _codec(tiny, 3)
    parts = [LOG[: 40 + 37 * i] for i in range(4)] + [LOG * 2]
    encoded = codec.encode_many(parts)
    assert codec.decode_many([(e, len(p)) for e, p in zip(encoded, parts, strict=True)]) == parts
