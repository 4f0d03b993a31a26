"""A tiny model of the nzarc-int-v1 architecture, built deterministically from a seed.

Same code paths as the real model (GQA attention, SwiGLU, RMSNorm, RoPE,
tied embeddings, escape-capable byte-level BPE), small dimensions, so the
unit tests run in seconds. Weights come from numpy's PCG64 generator, which
produces the same stream on every platform, and are converted with the
same quantiser as GGUF imports.
"""

from __future__ import annotations

import hashlib
import tempfile
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from nzarc.neural.gguf_import import build_model_file
from nzarc.neural.tokenizer import byte_to_unicode

if TYPE_CHECKING:
    from nzarc.neural.runtime.model import IntModel

__all__ = [
    "install_tiny_home",
    "TINY_MISSING_BYTES",
    "tiny_tokenizer_spec",
    "build_tiny_model",
    "tiny_model",
    "write_tiny_gguf",
]

#: Bytes without a single-byte token (the same set as SmolLM2's vocabulary).
TINY_MISSING_BYTES = (
    0x04,
    0x06,
    0x13,
    0x14,
    0x16,
    0x1D,
    0xC0,
    0xC1,
    0xF1,
    0xF2,
    *range(0xF5, 0x100),
)

_MERGES = [
    "Ġ t", "h e", "Ġt he", "i n", "Ġ a", "e r", "o n", "r e", "a n", "Ġ s", "e d", "Ġ w",
    "o u", "Ġ o", "i s", "e n", "Ġ c", "a t", "Ġ b", "i t", "Ġ f", "o r", "Ġ m", "a r",
    "Ġ p", "e s", "Ġ d", "l l", "Ġ h", "Ġa n", "Ġan d", "Ġ i", "Ġo f", "Ġt o", "Ġ l",
    "in g", "Ċ Ċ", "Ġ Ġ", "Ġ n", "o m",
]  # fmt: skip


def tiny_tokenizer_spec() -> dict[str, Any]:
    """A small byte-level BPE vocabulary: 2 specials, 235 byte tokens, 40 merges."""
    b2u = byte_to_unicode()
    vocab = ["<|endoftext|>", "<|escape|>"]
    vocab += [b2u[b] for b in range(256) if b not in TINY_MISSING_BYTES]
    for m in _MERGES:
        a, b = m.split(" ")
        assert a in vocab and b in vocab, m
        vocab.append(a + b)
    return {
        "kind": "byte-bpe",
        "pretokenizer": "smollm",
        "vocab": vocab,
        "merges": list(_MERGES),
        "special": [0, 1],
        "escape_id": 1,
        "escape_xor": 32,
    }


def build_tiny_model(seed: int, path: str | Path, *, n_layer: int = 2, max_len: int = 512) -> Path:
    """Write the tiny model for ``seed`` to ``path`` (byte-identical for equal arguments)."""
    spec = tiny_tokenizer_spec()
    V = len(spec["vocab"])
    d, nh, nkv, hd, dff = 64, 4, 2, 16, 128
    rng = np.random.Generator(np.random.PCG64(seed))

    def mat(rows: int, cols: int, gain: float) -> np.ndarray:
        return (rng.standard_normal((rows, cols)) * (gain / np.sqrt(cols))).astype(np.float32)

    def norm() -> np.ndarray:
        return (1.0 + 0.3 * rng.standard_normal(d)).astype(np.float32)

    floats: dict[str, np.ndarray] = {
        "embed": (rng.standard_normal((V, d)) * 0.8).astype(np.float32)
    }
    for i in range(n_layer):
        p = f"{i}."
        floats[p + "attn_norm"] = norm()
        floats[p + "wq"] = mat(nh * hd, d, 3.0)
        floats[p + "wk"] = mat(nkv * hd, d, 3.0)
        floats[p + "wv"] = mat(nkv * hd, d, 1.0)
        floats[p + "wo"] = mat(d, nh * hd, 1.0)
        floats[p + "ffn_norm"] = norm()
        floats[p + "wg"] = mat(dff, d, 2.0)
        floats[p + "wu"] = mat(dff, d, 1.0)
        floats[p + "wd"] = mat(d, dff, 1.0)
    floats["out_norm"] = (2.0 + 0.5 * rng.standard_normal(d)).astype(np.float32)
    cfg = {
        "n_layer": n_layer,
        "d_model": d,
        "n_head": nh,
        "n_kv_head": nkv,
        "head_dim": hd,
        "d_ffn": dff,
        "vocab_size": V,
        "rope_theta": 10000,
        "eps": 1e-5,
        "bos_id": 0,
        "name": f"tiny-{seed}",
        "source_sha256": hashlib.sha256(f"nzarc tiny model seed {seed}".encode()).hexdigest(),
    }
    path = Path(path)
    with open(path, "wb") as f:
        build_model_file(f, cfg, floats, spec, max_len=max_len)
    return path


_TINY: dict[int, IntModel] = {}
_TINY_LOCK = threading.Lock()
_TINY_DIR: tempfile.TemporaryDirectory[str] | None = None


def tiny_model(seed: int = 0) -> IntModel:
    """The tiny model for ``seed`` as a loaded IntModel (built once per process)."""
    global _TINY_DIR
    from nzarc.neural.runtime import IntModel

    with _TINY_LOCK:
        if seed not in _TINY:
            if _TINY_DIR is None:
                _TINY_DIR = tempfile.TemporaryDirectory(prefix="nzarc-tiny-")
            p = build_tiny_model(seed, Path(_TINY_DIR.name) / f"tiny-{seed}.nzm")
            _TINY[seed] = IntModel(p)
        return _TINY[seed]


def write_tiny_gguf(seed: int, path: str | Path, *, n_layer: int = 1) -> Path:
    """A llama-architecture GGUF of a tiny model (Q4_1 matrices, Q8_0 embedding, F32 norms).

    Used to test the GGUF import path end to end without the real model.
    """
    from gguf import GGMLQuantizationType, GGUFWriter, quants

    spec = tiny_tokenizer_spec()
    V = len(spec["vocab"])
    d, nh, nkv, hd, dff = 64, 4, 2, 16, 128
    rng = np.random.Generator(np.random.PCG64(seed))

    def mat(rows: int, cols: int) -> np.ndarray:
        return (rng.standard_normal((rows, cols)) * (2.0 / np.sqrt(cols))).astype(np.float32)

    path = Path(path)
    w = GGUFWriter(str(path), "llama")
    w.add_name(f"tiny-gguf-{seed}")
    w.add_block_count(n_layer)
    w.add_context_length(512)
    w.add_embedding_length(d)
    w.add_feed_forward_length(dff)
    w.add_head_count(nh)
    w.add_head_count_kv(nkv)
    w.add_rope_freq_base(10000.0)
    w.add_layer_norm_rms_eps(1e-5)
    w.add_rope_dimension_count(hd)
    w.add_tokenizer_model("gpt2")
    w.add_tokenizer_pre("smollm")
    w.add_token_list(spec["vocab"])
    w.add_token_types([3 if i in spec["special"] else 1 for i in range(V)])
    w.add_token_merges(spec["merges"])

    def q(name: str, arr: np.ndarray, kind: GGMLQuantizationType) -> None:
        w.add_tensor(name, quants.quantize(arr, kind), raw_dtype=kind)

    q(
        "token_embd.weight",
        (rng.standard_normal((V, d)) * 0.8).astype(np.float32),
        GGMLQuantizationType.Q8_0,
    )
    w.add_tensor("output_norm.weight", (1.0 + 0.2 * rng.standard_normal(d)).astype(np.float32))
    for i in range(n_layer):
        p = f"blk.{i}."
        w.add_tensor(
            p + "attn_norm.weight", (1.0 + 0.2 * rng.standard_normal(d)).astype(np.float32)
        )
        w.add_tensor(p + "ffn_norm.weight", (1.0 + 0.2 * rng.standard_normal(d)).astype(np.float32))
        for name, rows, cols in (("attn_q", nh * hd, d), ("attn_k", nkv * hd, d), ("attn_v", nkv * hd, d),
                                 ("attn_output", d, nh * hd), ("ffn_gate", dff, d), ("ffn_up", dff, d),
                                 ("ffn_down", d, dff)):  # fmt: skip
            q(p + name + ".weight", mat(rows, cols), GGMLQuantizationType.Q4_1)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    return path


def install_tiny_home(root: str | Path, seed: int = 0) -> Path:
    """``root/home``: an nzarc home (``NZARC_HOME``) whose default model is the tiny seeded
    model of :func:`write_tiny_gguf` (written to ``root/tiny.gguf``), installed as a user
    installs one."""
    from nzarc.neural.codec import DEFAULT_MODEL_NAME
    from nzarc.neural.store import ModelStore

    root = Path(root)
    ModelStore(root / "home").install_gguf(write_tiny_gguf(seed, root / "tiny.gguf"), name=DEFAULT_MODEL_NAME)
    return root / "home"
