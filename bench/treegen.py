"""Deterministic generated trees for throughput runs.

:func:`make_tree` writes a folder of ``total`` bytes mixing three kinds of
content, by bytes roughly 45% text-like (Zipf-distributed pseudo-words), 25%
random (incompressible) and 30% repetitive (log-like records). Sizes are
log-uniform: seven files in ten are small (16 B to 64 KiB), the rest large
(64 KiB to 16 MiB), spread over nested directories. The same ``seed`` and
``total`` give the same tree, byte for byte.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

__all__ = ["TreeInfo", "existing_tree", "make_tree", "mixed_bytes"]

_KINDS = ("text", "random", "repetitive")
_KIND_P = (0.45, 0.25, 0.30)


@dataclass(frozen=True)
class TreeInfo:
    """What was generated: file count, bytes in all and per kind, and a digest of it all."""

    root: Path
    files: int
    total_bytes: int
    bytes_by_kind: dict[str, int]
    digest: str


def _vocabulary(rng: np.random.Generator, n: int = 4096) -> tuple[np.ndarray, np.ndarray]:
    letters = np.frombuffer(b"etaoinshrdlcumwfgypbvkjxqz", dtype=np.uint8)
    weights = 1.0 / np.arange(1, len(letters) + 1)
    weights /= weights.sum()
    words = []
    for _ in range(n):
        length = int(rng.integers(1, 11))
        words.append(bytes(rng.choice(letters, size=length, p=weights)) + b" ")
    words += [b".\n", b", ", b"The ", b"\n\n"]
    p = 1.0 / (np.arange(len(words)) + 2.7)
    p[-4:] = [0.04, 0.05, 0.02, 0.005]
    p /= p.sum()
    return np.array(words, dtype=object), p


def _text(rng: np.random.Generator, vocab: tuple[np.ndarray, np.ndarray], size: int) -> bytes:
    words, p = vocab
    out = bytearray()
    while len(out) < size:
        ids = rng.choice(len(words), size=max(16, (size - len(out)) // 5 + 16), p=p)
        out += b"".join(words[ids].tolist())
    return bytes(out[:size])


def _repetitive(rng: np.random.Generator, size: int) -> bytes:
    start = int(rng.integers(0, 10**6))
    hosts = [f"node{i:02d}" for i in range(int(rng.integers(2, 9)))]
    lines = []
    total = 0
    i = start
    while total < size:
        line = (f"2026-03-{1 + i % 28:02d}T{i % 24:02d}:{i % 60:02d}:{(i * 7) % 60:02d}Z "
                f"{hosts[i % len(hosts)]} svc=api req={i} status={200 if i % 17 else 503} "
                f"path=/v1/items/{i % 997} bytes={(i * 131) % 65536}\n")
        lines.append(line)
        total += len(line)
        i += 1
    return "".join(lines).encode()[:size]


def _sizes(rng: np.random.Generator, total: int) -> list[int]:
    sizes: list[int] = []
    remaining = total
    while remaining > 0:
        if rng.random() < 0.7:
            s = int(np.exp(rng.uniform(np.log(16), np.log(64 << 10))))
        else:
            s = int(np.exp(rng.uniform(np.log(64 << 10), np.log(16 << 20))))
        s = min(s, remaining)
        sizes.append(s)
        remaining -= s
    return sizes


def mixed_bytes(rng: np.random.Generator, size: int, piece: int = 1 << 20) -> bytes:
    """``size`` bytes made of ``piece``-sized runs of the three kinds, in the tree's mix."""
    vocab = _vocabulary(rng)
    parts = []
    for start in range(0, size, piece):
        n = min(piece, size - start)
        kind = _KINDS[int(rng.choice(3, p=_KIND_P))]
        if kind == "text":
            parts.append(_text(rng, vocab, n))
        elif kind == "random":
            parts.append(rng.bytes(n))
        else:
            parts.append(_repetitive(rng, n))
    return b"".join(parts)


def make_tree(root: Path, total: int, seed: int = 8) -> TreeInfo:
    """Write the tree under ``root`` (created; must not exist) and describe it.

    A ``.treeinfo.json`` next to ``root`` records what was written, so a
    later call with the same arguments can reuse the tree (see
    :func:`existing_tree`).
    """
    rng = np.random.default_rng(seed)
    vocab = _vocabulary(rng)
    root.mkdir(parents=True)
    digest = hashlib.sha256()
    by_kind = dict.fromkeys(_KINDS, 0)
    count = 0
    for n, size in enumerate(_sizes(rng, total)):
        kind = _KINDS[int(rng.choice(3, p=_KIND_P))]
        if kind == "text":
            data = _text(rng, vocab, size)
        elif kind == "random":
            data = rng.bytes(size)
        else:
            data = _repetitive(rng, size)
        sub = root / f"d{n % 13:02d}" / f"s{(n // 13) % 5}"
        sub.mkdir(parents=True, exist_ok=True)
        name = f"f{n:05d}.{ {'text': 'txt', 'random': 'bin', 'repetitive': 'log'}[kind] }"
        (sub / name).write_bytes(data)
        digest.update(name.encode() + len(data).to_bytes(8, "big") + data)
        by_kind[kind] += size
        count += 1
    info = TreeInfo(root, count, total, by_kind, digest.hexdigest())
    _marker(root).write_text(json.dumps(
        {"total": total, "seed": seed, "files": count, "bytes_by_kind": by_kind,
         "digest": info.digest}))
    return info


def _marker(root: Path) -> Path:
    return root.parent / (root.name + ".treeinfo.json")


def existing_tree(root: Path, total: int, seed: int = 8) -> TreeInfo | None:
    """The tree already at ``root`` if it was made by :func:`make_tree` with these arguments."""
    marker = _marker(root)
    if not (root.is_dir() and marker.is_file()):
        return None
    try:
        rec = json.loads(marker.read_text())
    except (OSError, ValueError):
        return None
    if rec.get("total") != total or rec.get("seed") != seed:
        return None
    return TreeInfo(root, rec["files"], total, rec["bytes_by_kind"], rec["digest"])
