"""bench/neural_floor.py: the work it charges per token is the model's, counted exactly."""

from __future__ import annotations

import pytest
import torch

from bench import neural_floor

#: The tiny model's dimensions, as src/nzarc/neural/tiny.py builds it (seed 0, defaults):
#: layers, model width, query heads, KV heads, head dimension, FFN width.
L, D, NH, NKV, HD, DFF = 2, 64, 4, 2, 16, 128


def _vocab() -> int:
    from nzarc.neural.tiny import tiny_tokenizer_spec

    return len(tiny_tokenizer_spec()["vocab"])


def test_tiny_dimensions_are_the_ones_counted_below(tiny) -> None:
    assert (tiny.n_layer, tiny.d, tiny.n_head, tiny.n_kv, tiny.hd, tiny.d_ffn) == (L, D, NH, NKV, HD, DFF)
    assert tiny.vocab_size == _vocab() == 277


def test_macs_per_token_counts_every_linear_layer_per_level(tiny) -> None:
    # per layer: fused q,k,v [(NH + 2 NKV) HD, D], output [D, NH HD], fused gate+up [2 DFF, D]
    # at every level; FFN down [D, DFF] always at two levels (spec/NEURAL.md 3.4); the tied
    # output head [V, D] at every level.
    per_level = L * ((NH + 2 * NKV) * HD * D + D * NH * HD + 2 * DFF * D) + _vocab() * D
    down = L * D * DFF
    assert per_level + 2 * down == 107_840
    assert neural_floor.macs_per_token(tiny, 1) == per_level + 2 * down
    assert neural_floor.macs_per_token(tiny, 2) == 2 * per_level + 2 * down == 182_912


def test_packed_keys_hold_every_cached_key(tiny) -> None:
    # 11 bits per key dimension and a 5-bit shift, per KV head and layer: 2 * 2 * 181 bits
    assert neural_floor.packed_key_bytes_per_token(tiny) == L * NKV * (HD * 11 + 5) / 8 == 90.5
    # below the runtime's own layout (int16 keys and shift, int32 values and an int8 value
    # shift: 396 bytes with the fused kernels; float32 keys and float64 values with a ones
    # column otherwise)
    assert neural_floor.packed_key_bytes_per_token(tiny) < tiny.kv_bytes_per_token
    assert tiny.kv_bytes_per_token in (L * NKV * (6 * HD + 3), L * NKV * (4 * HD + 8 * (HD + 1)))


class _Clock:
    """A perf_counter that advances one second per call: every timed GEMM takes 1 s."""

    def __init__(self) -> None:
        self.t = 0.0

    def perf_counter(self) -> float:
        self.t += 1.0
        return self.t


def test_gemm_rate_is_measured_on_the_models_shapes(tiny, monkeypatch: pytest.MonkeyPatch) -> None:
    from nzarc.neural.runtime.weights import Linear

    seen: list[tuple[int, int, tuple[int, ...]]] = []
    acc = Linear.acc

    def recording_acc(self, x: torch.Tensor) -> torch.Tensor:  # noqa: ANN001
        seen.append((self.n, self.k, tuple(x.shape)))
        return acc(self, x)

    monkeypatch.setattr(Linear, "acc", recording_acc)
    monkeypatch.setattr(neural_floor, "time", _Clock())
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        rate = neural_floor.gemm_rate(tiny, rows=100, repeats=2)
    finally:
        torch.set_num_threads(threads)
    shapes = {((NH + 2 * NKV) * HD, D), (D, NH * HD), (2 * DFF, D), (D, DFF), (_vocab(), D)}
    assert {(n, k) for n, k, _ in seen} == shapes
    # per distinct shape: one 64-row warm-up call, then ``repeats`` timed calls of all rows
    assert sorted(seen) == sorted([(n, k, (64, k)) for n, k in shapes] + [(n, k, (100, k)) for n, k in shapes] * 2)
    # each timed call took 1 s on the fake clock: the best rate is the largest shape's work
    assert rate == 100 * max(n * k for n, k in shapes) == 100 * _vocab() * D


def test_render_lists_every_row() -> None:
    rec = {
        "file": "f", "bytes": 10, "tokens": 4, "bytes_per_token": 2.5, "threads": 2,
        "gemm_gmac_s": 1.0, "read_gb_s": 2.0, "kv_bytes_per_token_runtime": 100,
        "key_bytes_per_token_packed": 20.0, "targets_kbs": {"create": 8.0, "extract": 4.0},
        "date": "d",
        "rows": [
            {"act_levels": p, "window": w, "linear_macs_per_token": 5e6, "score_macs_per_token": 1e6,
             "create_kbs_max": 1.0, "extract_kbs_max_packed": 0.5,
             "extract_kbs_max_runtime_layout": 0.25, "kv_mb_per_token": 0.1}
            for p in (1, 2) for w in (16, 32)
        ],
    }
    md = neural_floor.render(rec)
    assert md.count("\n| 1 | ") == 2 and md.count("\n| 2 | ") == 2
    assert "create ≥ 8.0 kB/s" in md
