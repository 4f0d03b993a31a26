"""Conversion of float weights (a GGUF file, or the tiny test model) into an nzarc model file.

Every step uses exact integer arithmetic or single IEEE-754 basic operations
(+, -, *, /, sqrt) in a fixed order, so the same input bytes always give the
same output bytes. See spec/NEURAL.md, "Conversion".
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np

from nzarc.errors import FormatError
from nzarc.neural.intops import (
    DEFAULT_FIXED,
    RUNTIME_ID,
    FixedPoint,
    exp_table,
    rope_tables,
    silu_table,
)
from nzarc.neural.modelfile import write_model_file

__all__ = [
    "SMOLLM2_SHAPE",
    "dequantize_q4_1",
    "dequantize_q8_0",
    "read_gguf_floats",
    "quantize_rows",
    "row_multipliers",
    "build_model_file",
    "convert_gguf",
]

#: Shape facts the converter checks for the SmolLM2-135M GGUF.
SMOLLM2_SHAPE = {
    "n_layer": 30,
    "d_model": 576,
    "n_head": 9,
    "n_kv_head": 3,
    "head_dim": 64,
    "d_ffn": 1536,
    "vocab_size": 49152,
    "rope_theta": 100000,
}

# kinds of matmul input: "norm" = RMSNorm output, otherwise the fraction bits of the activation
_F = FixedPoint


def dequantize_q4_1(raw: np.ndarray, rows: int, cols: int) -> np.ndarray:
    """Q4_1 blocks of 32 (fp16 d, fp16 m, 16 bytes of nibbles) -> float32 ``d*q + m``."""
    b = np.asarray(raw, dtype=np.uint8).reshape(rows, cols // 32, 20)
    d = b[:, :, 0:2].copy().view("<f2").astype(np.float32)
    m = b[:, :, 2:4].copy().view("<f2").astype(np.float32)
    qs = b[:, :, 4:20]
    q = np.concatenate([qs & 15, qs >> 4], axis=2).astype(np.float32)
    return (d * q + m).reshape(rows, cols)


def dequantize_q8_0(raw: np.ndarray, rows: int, cols: int) -> np.ndarray:
    """Q8_0 blocks of 32 (fp16 d, 32 int8) -> float32 ``d*q``."""
    b = np.asarray(raw, dtype=np.uint8).reshape(rows, cols // 32, 34)
    d = b[:, :, 0:2].copy().view("<f2").astype(np.float32)
    q = b[:, :, 2:34].copy().view(np.int8).astype(np.float32)
    return (d * q).reshape(rows, cols)


def quantize_rows(w: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-row symmetric int8: ``q = rne(127 * w / a)`` with ``a = max|w_row|`` (float32).

    Returns ``(q int8 [N, K], a float64 [N])``; rows of zeros give ``a = 0, q = 0``.
    """
    w64 = np.asarray(w, dtype=np.float32).astype(np.float64)
    a = np.max(np.abs(w64), axis=1)
    safe = np.where(a > 0, a, 1.0)
    q = np.rint((w64 * 127.0) / safe[:, None])
    return q.astype(np.int8), a


def row_multipliers(a: np.ndarray, kappa: float, out_bits: int) -> tuple[np.ndarray, np.ndarray]:
    """Per-row dyadic multipliers ``m * 2**-e`` ~= ``(a / 127) * kappa * 2**out_bits``.

    ``m`` is an integer in ``[2**15, 2**16]`` (0 for zero rows).
    """
    f = ((np.asarray(a, dtype=np.float64) / 127.0) * kappa) * (2.0**out_bits)
    mant, ex = np.frexp(f)
    m = np.rint(mant * 65536.0).astype(np.int64)
    e = (16 - ex).astype(np.int64)
    e = np.where(m == 0, 0, e)
    return m.astype(np.int32), e.astype(np.int32)


def _kappa_norm(d: int) -> float:
    return float(np.sqrt(np.float64(d)) / 127.0 / (2.0**_F.FG))


def _kappa_act(frac_bits: int) -> float:
    return float(1.0 / 127.0 / (2.0**frac_bits))


def _gain(g: np.ndarray) -> np.ndarray:
    return np.rint(np.asarray(g, dtype=np.float32).astype(np.float64) * (2.0**_F.FG)).astype(
        np.int32
    )


def _linear(
    prefix: str, w: np.ndarray, kappa: float, out_bits: np.ndarray | int, out: dict[str, np.ndarray]
) -> None:
    q, a = quantize_rows(w)
    if isinstance(out_bits, int):
        m, e = row_multipliers(a, kappa, out_bits)
    else:
        parts = [row_multipliers(a[i : i + 1], kappa, int(b)) for i, b in enumerate(out_bits)]
        m = np.concatenate([p[0] for p in parts])
        e = np.concatenate([p[1] for p in parts])
    out[prefix + ".w"] = q
    out[prefix + ".m"] = m
    out[prefix + ".e"] = e


def build_model_file(
    out: BinaryIO,
    cfg: Mapping[str, Any],
    floats: Mapping[str, np.ndarray],
    tokenizer_spec: Mapping[str, Any],
    *,
    max_len: int = 8192,
) -> None:
    """Quantise float32 weights and write the integer model file.

    ``cfg`` holds n_layer, d_model, n_head, n_kv_head, head_dim, d_ffn,
    vocab_size, rope_theta (int), eps (float32 value), bos_id, name,
    source_sha256. ``floats`` holds ``embed`` [V, d], ``out_norm`` [d] and per
    layer ``l``: ``{l}.attn_norm, {l}.wq, {l}.wk, {l}.wv, {l}.wo, {l}.ffn_norm,
    {l}.wg, {l}.wu, {l}.wd`` with rows = output features, Q/K rows in the
    adjacent-pair RoPE layout.
    """
    n_layer = int(cfg["n_layer"])
    d = int(cfg["d_model"])
    hd = int(cfg["head_dim"])
    nq = int(cfg["n_head"]) * hd
    nkv = int(cfg["n_kv_head"]) * hd
    dff = int(cfg["d_ffn"])
    eps = np.float64(np.float32(cfg["eps"]))
    eps_int = int(np.rint(eps * (2.0 ** (2 * _F.FH))))
    config = {
        "runtime_id": RUNTIME_ID,
        "name": str(cfg["name"]),
        "source_sha256": str(cfg["source_sha256"]),
        "n_layer": n_layer,
        "d_model": d,
        "n_head": int(cfg["n_head"]),
        "n_kv_head": int(cfg["n_kv_head"]),
        "head_dim": hd,
        "d_ffn": dff,
        "vocab_size": int(cfg["vocab_size"]),
        "rope_theta": int(cfg["rope_theta"]),
        "eps_int": eps_int,
        "bos_id": int(cfg["bos_id"]),
        "max_len": int(max_len),
        "fixed": DEFAULT_FIXED,
    }
    t: dict[str, np.ndarray] = {}
    kn = _kappa_norm(d)
    emb = np.asarray(floats["embed"], dtype=np.float32)
    e_fix = np.rint(emb.astype(np.float64) * (2.0**_F.FH))
    if np.abs(e_fix).max() > 32767:
        raise FormatError("embedding values too large for the int16 residual table")
    t["embed"] = e_fix.astype(np.int16)
    qkv_bits = np.array([_F.FA] * (nq + nkv) + [_F.FV] * nkv)
    for layer in range(n_layer):
        p = f"{layer}."
        t[f"blk.{layer}.attn_gain"] = _gain(floats[p + "attn_norm"])
        wqkv = np.concatenate([floats[p + "wq"], floats[p + "wk"], floats[p + "wv"]], axis=0)
        _linear(f"blk.{layer}.qkv", wqkv, kn, qkv_bits, t)
        _linear(f"blk.{layer}.o", floats[p + "wo"], _kappa_act(_F.FV), _F.FH, t)
        t[f"blk.{layer}.ffn_gain"] = _gain(floats[p + "ffn_norm"])
        wgu = np.concatenate([floats[p + "wg"], floats[p + "wu"]], axis=0)
        _linear(f"blk.{layer}.gu", wgu, kn, _F.FGU, t)
        _linear(f"blk.{layer}.down", floats[p + "wd"], _kappa_act(2 * _F.FGU), _F.FH, t)
        assert wgu.shape == (2 * dff, d)
    t["out_gain"] = _gain(floats["out_norm"])
    _linear("lm", emb, kn, _F.FL, t)
    cos_t, sin_t = rope_tables(max_len, hd // 2, int(cfg["rope_theta"]), _F.ROPE_BITS)
    t["rope_cos"] = cos_t
    t["rope_sin"] = sin_t
    t["exp_attn"] = exp_table(_F.EXPA_BITS, _F.FZ)
    t["exp_logit"] = exp_table(_F.EXPL_BITS, _F.FL)
    t["silu"] = silu_table(_F.SILU_HALF, _F.FGU)
    tok = json.dumps(
        dict(tokenizer_spec), sort_keys=True, separators=(",", ":"), ensure_ascii=True
    ).encode("ascii")
    t["tokenizer"] = np.frombuffer(tok, dtype=np.uint8)
    write_model_file(out, config, t)


# ------------------------------------------------------------------------- GGUF


def _field(reader: Any, key: str) -> Any:
    f = reader.fields.get(key)
    if f is None:
        raise FormatError(f"GGUF file lacks metadata {key!r}")
    return f.contents()


def read_gguf_floats(
    path: str | Path,
) -> tuple[dict[str, Any], dict[str, np.ndarray], dict[str, Any]]:
    """Read a llama-architecture GGUF (Q4_1/Q8_0/F32 tensors) into float32 arrays.

    Returns ``(cfg, floats, tokenizer_spec)`` for :func:`build_model_file`
    (``cfg`` lacks ``source_sha256``). Raises :class:`FormatError` when the
    file is not a GGUF of the supported architecture and types.
    """
    try:
        from gguf import GGUFReader
    except ImportError as e:  # pragma: no cover - gguf is a dependency
        raise FormatError("the 'gguf' package is required to import GGUF files") from e
    try:
        r = GGUFReader(str(path))
    except Exception as e:  # the gguf package raises assorted errors on garbage
        raise FormatError(f"{path}: not a readable GGUF file ({type(e).__name__})") from e
    if _field(r, "general.architecture") != "llama":
        raise FormatError(
            f"{path}: unsupported GGUF architecture",
            hint="only llama-architecture models are supported",
        )
    cfg: dict[str, Any] = {
        "n_layer": int(_field(r, "llama.block_count")),
        "d_model": int(_field(r, "llama.embedding_length")),
        "n_head": int(_field(r, "llama.attention.head_count")),
        "n_kv_head": int(_field(r, "llama.attention.head_count_kv")),
        "d_ffn": int(_field(r, "llama.feed_forward_length")),
        "rope_theta": float(_field(r, "llama.rope.freq_base")),
        "eps": float(_field(r, "llama.attention.layer_norm_rms_epsilon")),
        "name": str(_field(r, "general.name")),
    }
    if cfg["rope_theta"] != int(cfg["rope_theta"]):
        raise FormatError(f"{path}: non-integer RoPE base is not supported")
    cfg["rope_theta"] = int(cfg["rope_theta"])
    cfg["head_dim"] = cfg["d_model"] // cfg["n_head"]
    if int(_field(r, "llama.rope.dimension_count")) != cfg["head_dim"]:
        raise FormatError(f"{path}: partial RoPE is not supported")
    tokens = [str(x) for x in _field(r, "tokenizer.ggml.tokens")]
    types = [int(x) for x in _field(r, "tokenizer.ggml.token_type")]
    merges = [str(x) for x in _field(r, "tokenizer.ggml.merges")]
    if _field(r, "tokenizer.ggml.model") != "gpt2" or _field(r, "tokenizer.ggml.pre") != "smollm":
        raise FormatError(
            f"{path}: unsupported tokenizer (need gpt2 BPE with the smollm pre-tokenizer)"
        )
    cfg["vocab_size"] = len(tokens)
    special = [i for i, ty in enumerate(types) if ty == 3]
    cfg["bos_id"] = 0  # <|endoftext|>: the document separator the model was trained with
    tensors = {t.name: t for t in r.tensors}

    def get(name: str, rows: int, cols: int | None = None) -> np.ndarray:
        t = tensors.get(name)
        if t is None:
            raise FormatError(f"{path}: GGUF lacks tensor {name!r}")
        kind = t.tensor_type.name
        shape = [int(x) for x in t.shape]
        want = [rows] if cols is None else [cols, rows]
        if shape != want:
            raise FormatError(f"{path}: tensor {name} has shape {shape}, expected {want}")
        if kind == "F32":
            return np.asarray(t.data, dtype=np.float32).reshape(-1).copy()
        assert cols is not None
        if kind == "Q4_1":
            return dequantize_q4_1(t.data, rows, cols)
        if kind == "Q8_0":
            return dequantize_q8_0(t.data, rows, cols)
        raise FormatError(f"{path}: tensor {name} has unsupported type {kind}")

    d, dff, hd = cfg["d_model"], cfg["d_ffn"], cfg["head_dim"]
    nkv = cfg["n_kv_head"] * hd
    floats: dict[str, np.ndarray] = {"embed": get("token_embd.weight", cfg["vocab_size"], d)}
    if "output.weight" in tensors:
        raise FormatError(f"{path}: untied output embeddings are not supported")
    floats["out_norm"] = get("output_norm.weight", d)
    for layer in range(cfg["n_layer"]):
        p = f"blk.{layer}."
        q = f"{layer}."
        floats[q + "attn_norm"] = get(p + "attn_norm.weight", d)
        floats[q + "wq"] = get(p + "attn_q.weight", cfg["n_head"] * hd, d)
        floats[q + "wk"] = get(p + "attn_k.weight", nkv, d)
        floats[q + "wv"] = get(p + "attn_v.weight", nkv, d)
        floats[q + "wo"] = get(p + "attn_output.weight", d, cfg["n_head"] * hd)
        floats[q + "ffn_norm"] = get(p + "ffn_norm.weight", d)
        floats[q + "wg"] = get(p + "ffn_gate.weight", dff, d)
        floats[q + "wu"] = get(p + "ffn_up.weight", dff, d)
        floats[q + "wd"] = get(p + "ffn_down.weight", d, dff)
    tok_spec = {
        "kind": "byte-bpe",
        "pretokenizer": "smollm",
        "vocab": tokens,
        "merges": merges,
        "special": special,
        "escape_id": special[-1] if special else -1,
        "escape_xor": 32,
    }
    return cfg, floats, tok_spec


def convert_gguf(src: str | Path, out: BinaryIO, source_sha256: str) -> dict[str, Any]:
    """Convert a GGUF file into a model file written to ``out``; returns the cfg used."""
    cfg, floats, tok_spec = read_gguf_floats(src)
    cfg["source_sha256"] = source_sha256
    build_model_file(out, cfg, floats, tok_spec)
    return cfg
