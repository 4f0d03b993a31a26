"""Structure-aware mutators for the atheris targets.

Byte-level mutation rarely turns a msgpack map into a well-formed map with one field of the
wrong type, or moves whole frames of an archive. These mutators do that half of the time and
leave the other half to libFuzzer's own mutations (``atheris.Mutate``):

* msgpack bodies (header, entry frames, index): replace one node by a value of another type or
  an edge value, delete or duplicate an array element or map key, or wrap a node in arrays;
* plaintext frames of unsealed archives (see fuzz/common.py): drop, duplicate or swap frames,
  edit chunk slots and lengths, finish sizes, trailer offsets.

Every mutator falls back to ``atheris.Mutate`` when its input does not parse.
"""

from __future__ import annotations

import random
import struct
from collections.abc import Callable
from typing import Any

import atheris
import msgpack

from fuzz import surgery

EDGE_INTS = [0, 1, -1, 7, 255, 256, 65535, 65536, 2**31, 2**32 - 1, 2**32, 2**63 - 1, 2**64 - 1, -(2**63)]


def _random_value(rng: random.Random, depth: int = 0) -> Any:
    kind = rng.randrange(9 if depth < 3 else 6)
    if kind == 0:
        return rng.choice(EDGE_INTS)
    if kind == 1:
        return rng.choice(["", "f", "d", "l", "x25519", "argon2id", "nzarc.zstd", "a/b", "../x", "\x00"])
    if kind == 2:
        return bytes(rng.randrange(256) for _ in range(rng.choice([0, 1, 16, 31, 32, 33, 48])))
    if kind == 3:
        return None
    if kind == 4:
        return rng.random() < 0.5
    if kind == 5:
        return 1.5
    if kind == 6:
        return [_random_value(rng, depth + 1) for _ in range(rng.randrange(4))]
    if kind == 7:
        return {rng.choice(["t", "a", "b", "p", "o", "m", "id", "ver", "z"]): _random_value(rng, depth + 1)}
    return [[[]]]


def _nodes(value: Any, path: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [path]
    if isinstance(value, dict):
        for k, v in value.items():
            out += _nodes(v, path + (k,))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            out += _nodes(v, path + (i,))
    return out


def _get(value: Any, path: tuple[Any, ...]) -> Any:
    for p in path:
        value = value[p]
    return value


def mutate_value(value: Any, rng: random.Random) -> Any:
    """Return ``value`` with one structural change somewhere inside it."""
    paths = _nodes(value)
    path = rng.choice(paths)
    op = rng.randrange(5)
    if not path:
        return _random_value(rng) if op == 0 else [value] if op == 1 else value
    parent = _get(value, path[:-1])
    key = path[-1]
    if op == 0:
        parent[key] = _random_value(rng)
    elif op == 1 and isinstance(parent, list):
        del parent[key]
    elif op == 1 and isinstance(parent, dict):
        del parent[key]
    elif op == 2 and isinstance(parent, list):
        parent.insert(key, parent[key])
    elif op == 2 and isinstance(parent, dict):
        parent[str(key) + "x"] = parent[key]
    elif op == 3:
        parent[key] = [parent[key]]
    else:
        current = parent[key]
        if isinstance(current, int) and not isinstance(current, bool):
            parent[key] = current + rng.choice([-1, 1, 2**32, -(2**31)])
        else:
            parent[key] = _random_value(rng)
    return value


def mutate_msgpack(body: bytes, rng: random.Random) -> bytes | None:
    try:
        value = msgpack.unpackb(body, raw=False, strict_map_key=False)
    except Exception:
        return None
    try:
        return msgpack.packb(mutate_value(value, rng), use_bin_type=True)
    except Exception:
        return None


def _fallback(data: bytes, max_size: int) -> bytes:
    return atheris.Mutate(data, max_size)


def header_mutator(data: bytes, max_size: int, seed: int) -> bytes:
    """For ``prelude || header || mac ...``: mutate the header map, fix ``header_len``."""
    rng = random.Random(seed)
    if rng.random() < 0.5 or len(data) < 16:
        return _fallback(data, max_size)
    magic, version, hlen = surgery.PRELUDE.unpack(data[:16])
    body = mutate_msgpack(data[16 : 16 + hlen], rng)
    if body is None:
        return _fallback(data, max_size)
    out = surgery.PRELUDE.pack(magic, version, len(body)) + body + data[16 + hlen :]
    return out[:max_size]


def index_mutator(data: bytes, max_size: int, seed: int) -> bytes:
    """For ``chunk_size u32 || slots u8 || index body``."""
    rng = random.Random(seed)
    if rng.random() < 0.5 or len(data) < 5:
        return _fallback(data, max_size)
    body = mutate_msgpack(data[5:], rng)
    return _fallback(data, max_size) if body is None else (data[:5] + body)[:max_size]


def _mutate_frames(frames: list[surgery.Frame], rng: random.Random) -> None:
    if not frames:
        return
    i = rng.randrange(len(frames))
    f = frames[i]
    op = rng.randrange(6)
    if op == 0:
        del frames[i]
    elif op == 1:
        frames.insert(i, surgery.Frame(f.tag, dict(f.fields)))
    elif op == 2:
        j = rng.randrange(len(frames))
        frames[i], frames[j] = frames[j], frames[i]
    elif f.tag in (b"E", b"I"):
        body = mutate_msgpack(f.fields["body"], rng)
        if body is not None:
            f.fields = {"body": body}
    elif f.tag == b"C":
        field = rng.choice(["slot", "raw_len", "out"])
        if field == "out":
            out = bytearray(f.fields["out"])
            if out:
                out[rng.randrange(len(out))] ^= 1 << rng.randrange(8)
            f.fields = {**f.fields, "out": bytes(out)}
        else:
            f.fields = {**f.fields, field: rng.choice([0, 1, 2, 255, 256, 257, f.fields[field] + 1])}
    elif f.tag == b"F":
        f.fields = {**f.fields, "size": max(0, f.fields["size"] + rng.choice([-1, 1, 256]))}
    elif f.tag == b"Z":
        key = rng.choice(["index_offset", "own_offset"])
        f.fields = {**f.fields, key: max(0, f.fields[key] + rng.choice([-1, 1]))}


def reader_mutator(data: bytes, max_size: int, seed: int) -> bytes:
    """For the reader targets: structural edits of unsealed inputs (flag bit 0 set)."""
    rng = random.Random(seed)
    if rng.random() < 0.5 or len(data) < 17 or not data[0] & 1:
        return _fallback(data, max_size)
    flag, body = data[:1], data[1:]
    magic, version, hlen = surgery.PRELUDE.unpack(body[:16])
    header = body[16 : 16 + hlen]
    plaintext = body[16 + hlen :]
    if rng.random() < 0.25:
        mutated = mutate_msgpack(header, rng)
        if mutated is None:
            return _fallback(data, max_size)
        header = mutated
    else:
        try:
            frames = surgery.parse_frames(plaintext)
        except (ValueError, struct.error, KeyError):
            return _fallback(data, max_size)
        _mutate_frames(frames, rng)
        if rng.random() < 0.5:
            try:
                surgery.fix_offsets(frames)
            except Exception:
                pass
        try:
            plaintext = surgery.join_frames(frames)
        except (struct.error, KeyError, TypeError):
            return _fallback(data, max_size)
    out = flag + surgery.PRELUDE.pack(magic, version, len(header)) + header + plaintext
    return out[:max_size]


MUTATORS: dict[str, Callable[[bytes, int, int], bytes]] = {
    "header": header_mutator,
    "index": index_mutator,
    "reader": reader_mutator,
}
