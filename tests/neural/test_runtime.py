"""The fast runtime equals the integer reference, in prefill and incremental mode."""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys

import numpy as np
import pytest
import torch

from nzarc.neural.reference import ReferenceModel
from nzarc.neural.runtime import IntModel, RuntimeOptions
from nzarc.neural.runtime.weights import int_mm_exact

TEXTS = [
    b"It is a truth universally acknowledged, that a single man in possession of a good fortune",
    b"\x00\x01\x02 binary \xff\xfe\x04\x06 and 12345 digits <tag attr='1'>caf\xc3\xa9</tag>\n\n",
]


def _ids(m, data: bytes) -> list[int]:
    return [m.bos_id] + m.tokenizer.encode(data)


def _check_tables(f: torch.Tensor, freq_bits: int) -> None:
    assert f.dtype == torch.int32
    assert int(f.min()) >= 1
    assert torch.all(f.sum(dim=-1, dtype=torch.int64) == (1 << freq_bits))


RUNTIMES = ["nzarc-int-v1", "nzarc-int-v2"]


@pytest.mark.parametrize("runtime", RUNTIMES)
@pytest.mark.parametrize("levels", [1, 2])
@pytest.mark.parametrize("data", TEXTS)
def test_prefill_equals_reference(tiny, data: bytes, levels: int, runtime: str) -> None:
    tiny = tiny.with_runtime(runtime).with_act_levels(levels)
    ids = _ids(tiny, data)
    ref = ReferenceModel(str(tiny.path), act_levels=levels, runtime=runtime).freqs(ids)
    got = tiny.prefill_all(torch.tensor([ids]))[0]
    _check_tables(got, tiny.freq_bits)
    assert np.array_equal(got.numpy().astype(np.int64), ref)


@pytest.mark.parametrize("runtime", RUNTIMES)
@pytest.mark.parametrize("levels", [1, 2])
def test_incremental_equals_prefill_at_mixed_positions(tiny, levels: int, runtime: str) -> None:
    tiny = tiny.with_runtime(runtime).with_act_levels(levels)
    seqs = [_ids(tiny, TEXTS[0]), _ids(tiny, TEXTS[1]), _ids(tiny, TEXTS[0][::-1])]
    want = [tiny.prefill_all(torch.tensor([s]))[0] for s in seqs]
    sess = tiny.session(batch=3, max_len=128)
    # window 1 starts 5 steps late; window 2 is stepped only every other round
    cursor = [0, 0, 0]
    for rnd in range(400):
        rows = [
            b
            for b in range(3)
            if cursor[b] < len(seqs[b]) and not (b == 1 and rnd < 5) and not (b == 2 and rnd % 2)
        ]
        if not rows and all(cursor[b] >= len(seqs[b]) for b in range(3)):
            break
        if not rows:
            continue
        toks = torch.tensor([seqs[b][cursor[b]] for b in rows])
        out = sess.step(toks, torch.tensor(rows))
        _check_tables(out, tiny.freq_bits)
        for i, b in enumerate(rows):
            assert torch.equal(out[i], want[b][cursor[b]]), (b, cursor[b])
            cursor[b] += 1
    assert cursor == [len(s) for s in seqs]
    assert sess.positions.tolist() == cursor
    sess.reset(torch.tensor([0]))
    assert torch.equal(sess.step(torch.tensor([seqs[0][0]]), torch.tensor([0]))[0], want[0][0])


def test_prefill_rows_are_independent_of_batch_and_padding(tiny) -> None:
    a = _ids(tiny, TEXTS[0])
    b = _ids(tiny, TEXTS[1])
    T = max(len(a), len(b))
    alone = tiny.prefill_all(torch.tensor([a]))[0]
    batch = torch.tensor([a + [7] * (T - len(a)), b + [0] * (T - len(b))])
    slabs = list(tiny.prefill_freqs(batch, slab=7))
    assert [t0 for t0, _ in slabs] == list(range(0, T, 7))
    both = torch.cat([f for _, f in slabs], dim=1)
    assert torch.equal(both[0, : len(a)], alone)


@pytest.mark.parametrize("runtime", RUNTIMES)
@pytest.mark.parametrize("levels", [1, 2])
@pytest.mark.parametrize("backend", ["fp32", "fp64", "intmm"])
def test_backends_agree(tiny, backend: str, levels: int, runtime: str) -> None:
    tiny = tiny.with_runtime(runtime).with_act_levels(levels)
    if backend == "intmm" and not int_mm_exact():
        pytest.skip("torch._int_mm is not exact on this machine")
    ids = torch.tensor([_ids(tiny, TEXTS[0])])
    want = tiny.prefill_all(ids)
    other = IntModel(tiny.path, options=RuntimeOptions(matmul=backend)).with_runtime(runtime).with_act_levels(levels)
    assert other.matmul == backend and {lin.route for lin in (other.lm, other.layers[0].qkv)} == {backend}
    assert torch.equal(other.prefill_all(ids), want)


_AVX2_PROBE = """
import json, torch
from nzarc.neural.runtime import RuntimeOptions, matmul_backend
from nzarc.neural.runtime.weights import int_mm_exact
a = torch.full((64, 4096), 127, dtype=torch.int8)
exact = torch._int_mm(a, a.t())[0, 0].item() == 127 * 127 * 4096
out = {"kernel_exact": exact, "self_test": int_mm_exact(), "backend": matmul_backend()}
# forcing it does not bypass the self-test
out["forced"] = matmul_backend(RuntimeOptions.from_env({"NZARC_MATMUL": "intmm"}))
print(json.dumps(out))
"""


@pytest.mark.skipif(
    platform.machine().lower() not in ("x86_64", "amd64"), reason="AVX2 kernels exist on x86 only"
)
def test_int_mm_self_test_rejects_avx2_kernels() -> None:
    """With oneDNN and ATen capped at AVX2, ``torch._int_mm`` saturates its int16 pair sums
    (127 * 127 * 2 > 32767), so the self-test must fail and the runtime must use fp32."""
    env = dict(os.environ, ONEDNN_MAX_CPU_ISA="AVX2", ATEN_CPU_CAPABILITY="avx2")
    env.pop("NZARC_MATMUL", None)
    out = subprocess.run(
        [sys.executable, "-c", _AVX2_PROBE], env=env, capture_output=True, text=True, timeout=300
    )
    assert out.returncode == 0, out.stderr
    got = json.loads(out.stdout)
    # the premise: the AVX2 kernel really is inexact on the worst-case operands
    assert got["kernel_exact"] is False, got
    assert got == {"kernel_exact": False, "self_test": False, "backend": "fp32", "forced": "fp32"}


def test_bad_inputs_raise_value_error(tiny) -> None:
    with pytest.raises(ValueError, match="token id out of range"):
        next(tiny.prefill_freqs(torch.tensor([[tiny.vocab_size]])))
    with pytest.raises(ValueError, match="window length must be in"):
        next(tiny.prefill_freqs(torch.zeros((1, tiny.max_len + 1), dtype=torch.int64)))
    with pytest.raises(ValueError, match=r"tokens must be a LongTensor \[B, T\]"):
        next(tiny.prefill_freqs(torch.zeros((2,), dtype=torch.int64)))
    s = tiny.session(batch=2, max_len=2)
    with pytest.raises(ValueError, match="rows must be distinct"):
        s.step(torch.tensor([1, 2]), torch.tensor([0, 0]))
    s.step(torch.tensor([1, 2]))
    s.step(torch.tensor([1, 2]))
    with pytest.raises(ValueError, match="a window is full"):
        s.step(torch.tensor([1, 2]))


def test_model_attributes(tiny) -> None:
    assert tiny.runtime_id == "nzarc-int-v1"
    assert tiny.freq_bits == 24
    assert len(tiny.weights_sha256) == 64 and len(tiny.tokenizer_sha256) == 64
    assert tiny.vocab_size == tiny.tokenizer.vocab_size


@pytest.mark.realmodel
@pytest.mark.slow
@pytest.mark.parametrize("runtime", RUNTIMES)
def test_real_model_equals_reference_on_a_few_positions(real_model, runtime: str) -> None:
    real_model = real_model.with_runtime(runtime)
    ids = _ids(real_model, b"The quick brown fox \x04 jumps over 13 lazy dogs.\n")[:24]
    ref = ReferenceModel(str(real_model.path), runtime=runtime).freqs(ids)
    got = real_model.prefill_all(torch.tensor([ids]))[0]
    assert np.array_equal(got.numpy().astype(np.int64), ref)
    sess = real_model.session(batch=2, max_len=32)
    for t, tok in enumerate(ids):
        out = sess.step(torch.tensor([tok]), torch.tensor([1]))
        assert torch.equal(out[0], got[t])


#: Golden values for the tiny model (seed 0): its file hash and the hash of its tables for GOLDEN_TEXT.
#: They pin the converter and the runtime semantics; update only with a deliberate semantic change.
TINY_FILE_SHA256 = "56ea333599109bc3647edcf0b845fead7ea27738ba91d6de511b323267cbe0af"
TINY_TABLES_SHA256 = "36c59c940288dade815b8edb7fd4076d86f72252a9b0f8ff83e87667b1e84a57"
TINY_TABLES2_SHA256 = "7a7f2a58be7c2d4d2e524c8aa4f716ace450fe73e7ca4e34a1b90a70f8dc57e2"
#: The same for nzarc-int-v2 (8-bit caches, spec/NEURAL.md section 7), precisions 1 and 2.
TINY_V2_TABLES_SHA256 = "61ca34874ae05ec4782e211a224a6694a97a84203218ae612404c48eeb9f8fa6"
TINY_V2_TABLES2_SHA256 = "cbc78305b15d35a5f7e560f6a88030dad77f8acc71ec1b17a37872ecaec91a6e"
GOLDEN_TEXT = (
    b"It is a truth universally acknowledged \x00\x04\xff\xfe 0123456789 <a href='x'>caf\xc3\xa9</a>\n"
    * 3
)


def test_tiny_golden_hashes(tiny) -> None:
    import hashlib

    assert tiny.weights_sha256 == TINY_FILE_SHA256
    ids = _ids(tiny, GOLDEN_TEXT)
    assert len(ids) == 211
    for runtime, levels, want in (
        ("nzarc-int-v1", 1, TINY_TABLES_SHA256),
        ("nzarc-int-v1", 2, TINY_TABLES2_SHA256),
        ("nzarc-int-v2", 1, TINY_V2_TABLES_SHA256),
        ("nzarc-int-v2", 2, TINY_V2_TABLES2_SHA256),
    ):
        f = tiny.with_runtime(runtime).with_act_levels(levels).prefill_all(torch.tensor([ids]))[0]
        assert hashlib.sha256(f.numpy().astype("<i4").tobytes()).hexdigest() == want, (runtime, levels)


def test_act_levels_variants(tiny) -> None:
    two = tiny.with_act_levels(2)
    assert (tiny.act_levels, two.act_levels) == (1, 2)
    assert tiny.with_act_levels(1) is tiny and two.with_act_levels(2) is two
    assert two.with_act_levels(1) is tiny and two.layers is tiny.layers
    ids = torch.tensor([_ids(tiny, GOLDEN_TEXT)])
    assert not torch.equal(two.prefill_all(ids), tiny.prefill_all(ids))
    with pytest.raises(ValueError, match="activation levels"):
        tiny.with_act_levels(3)


def test_runtime_variants(tiny) -> None:
    """A runtime variant shares the weights, keeps its precision across with_act_levels, has
    its own backend and caches a third of v1's bytes, and computes other tables."""
    v2 = tiny.with_runtime("nzarc-int-v2")
    two = tiny.with_act_levels(2)
    assert (v2.runtime_id, v2.act_levels, tiny.runtime_id) == ("nzarc-int-v2", 1, "nzarc-int-v1")
    assert v2.with_runtime("nzarc-int-v2") is v2 and v2.with_runtime("nzarc-int-v1") is tiny
    assert two.with_runtime("nzarc-int-v2").with_act_levels(1) is v2
    v22 = v2.with_act_levels(2)
    assert (v22.runtime_id, v22.act_levels) == ("nzarc-int-v2", 2) and two.with_runtime("nzarc-int-v2") is v22
    assert v22.backend is v2.backend and v2.backend is not tiny.backend and v2.layers is tiny.layers
    if tiny.kernels == "fused":  # the integer caches (the torch path keeps float operands)
        assert 2.5 * v2.kv_bytes_per_token < tiny.kv_bytes_per_token
    assert v2.session(2, 16).cache.nbytes == 2 * 16 * v2.kv_bytes_per_token
    ids = torch.tensor([_ids(tiny, GOLDEN_TEXT)])
    assert not torch.equal(v2.prefill_all(ids), tiny.prefill_all(ids))
    with pytest.raises(ValueError, match="runtime must be one of"):
        tiny.with_runtime("nzarc-int-v3")


@pytest.mark.parametrize("runtime", RUNTIMES)
@pytest.mark.parametrize("kernels", ["fused", "torch"])
def test_extend_equals_steps_and_rewind_forgets_guesses(tiny, kernels: str, runtime: str) -> None:
    """Several tokens a window in one call give the tables of single steps, whatever else
    the call holds; a rewound window continues as if the forgotten tokens were never fed."""
    model = IntModel(tiny.path, options=RuntimeOptions(kernels=kernels)).with_runtime(runtime).with_act_levels(2)
    seqs = [_ids(model, TEXTS[0])[:40], _ids(model, TEXTS[1])[:40]]
    want = [model.prefill_all(torch.tensor([s]))[0] for s in seqs]
    sess = model.session(batch=2, max_len=64)
    first = sess.extend(torch.tensor(seqs[0][:5] + seqs[1][:2]), torch.tensor([0] * 5 + [1] * 2))
    assert torch.equal(first[:5], want[0][:5]) and torch.equal(first[5:], want[1][:2])
    assert sess.positions.tolist() == [5, 2]
    # rows interleaved, and wrong guesses after each window's true tokens
    feed = [seqs[1][2], seqs[0][5], seqs[1][3], 9, seqs[0][6], 9, 9]
    rows = [1, 0, 1, 1, 0, 0, 0]
    out = sess.extend(torch.tensor(feed), torch.tensor(rows))
    assert torch.equal(out[0], want[1][2]) and torch.equal(out[2], want[1][3])
    assert torch.equal(out[1], want[0][5]) and torch.equal(out[4], want[0][6])
    assert sess.positions.tolist() == [9, 5]
    sess.rewind(torch.tensor([0, 1]), torch.tensor([7, 4]))
    step = sess.step(torch.tensor([seqs[0][7], seqs[1][4]]))
    assert torch.equal(step[0], want[0][7]) and torch.equal(step[1], want[1][4])
    with pytest.raises(ValueError, match="rewound"):
        sess.rewind(torch.tensor([0]), torch.tensor([9]))
    with pytest.raises(ValueError, match="full"):
        sess.extend(torch.tensor([1] * 60), torch.tensor([0] * 60))
