"""bench/neural_floor.py: the work it charges per token is the model's, counted exactly."""

from __future__ import annotations

import torch

from bench import neural_floor


def test_macs_per_token_counts_every_linear_layer_per_level(tiny) -> None:
    per_level = sum(
        getattr(layer, name).n * getattr(layer, name).k for layer in tiny.layers for name in ("qkv", "o", "gu")
    ) + tiny.lm.n * tiny.lm.k
    down = sum(layer.down.n * layer.down.k for layer in tiny.layers)
    # FFN down's input has two levels at either precision (spec/NEURAL.md 3.4)
    assert neural_floor.macs_per_token(tiny, 1) == per_level + 2 * down
    assert neural_floor.macs_per_token(tiny, 2) == 2 * per_level + 2 * down


def test_packed_keys_hold_every_cached_key(tiny) -> None:
    # 11 bits for |k10| <= 512 and 5 bits for a shift <= 26, per KV head and layer
    assert (1 << 11) >= 2 * 512 + 1 and (1 << 5) > 26
    bits = tiny.n_layer * tiny.n_kv * (tiny.hd * 11 + 5)
    assert neural_floor.packed_key_bytes_per_token(tiny) == bits / 8
    assert neural_floor.packed_key_bytes_per_token(tiny) < tiny.kv_bytes_per_token


def test_gemm_rate_is_measured_on_the_models_shapes(tiny) -> None:
    torch.set_num_threads(1)
    rate = neural_floor.gemm_rate(tiny, rows=64, repeats=1)
    assert rate > 0


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
