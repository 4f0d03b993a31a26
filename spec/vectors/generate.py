"""Generate the nzarc v1 golden vectors and their manifest.

    python spec/vectors/generate.py          # rewrite *.nzarc and manifest.json here
    python spec/vectors/generate.py --check  # regenerate in memory and compare, exit 1 on a difference

Every byte comes from a seed: member contents and all randomness (file key, stanza salts and
ephemeral keys, payload salt) are drawn from a SHA-256 counter-mode stream, so the archives are
byte-identical on every run (given the same zstd library output for level 3).
Draw order inside the writer: file key (32), then per stanza the Argon2id salt (16) or the
X25519 ephemeral secret (32), then the payload salt (32).
"""

from __future__ import annotations

import hashlib
import io
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
MANIFEST = HERE / "manifest.json"
MTIME = 1_700_000_000_123_456_789
SMALL_ARGON2 = {"t": 1, "m_kib": 256, "p": 1}


class SeededRng:
    """Deterministic byte stream: SHA-256(seed || counter), concatenated."""

    def __init__(self, seed: bytes) -> None:
        self._seed = seed
        self._counter = 0
        self._buf = b""

    def __call__(self, n: int) -> bytes:
        while len(self._buf) < n:
            self._buf += hashlib.sha256(self._seed + self._counter.to_bytes(8, "big")).digest()
            self._counter += 1
        out, self._buf = self._buf[:n], self._buf[n:]
        return out


def text(rng: Callable[[int], bytes], n: int) -> bytes:
    """Compressible pseudo-text of n bytes."""
    words = [b"nzarc", b"archive", b"chunk", b"segment", b"header", b"stream", b"key", b"index"]
    out = bytearray()
    while len(out) < n:
        out += words[rng(1)[0] % len(words)] + b" "
    return bytes(out[:n])


def identity(seed: str, i: int) -> tuple[str, str]:
    from nzarc.crypto.recipients import generate_identity

    return generate_identity(SeededRng(f"{seed}/identity/{i}".encode()))


# Each vector: name, options for ArchiveWriter, and a list of members built from a content rng.
# Member spec: (kind, name, size_or_target, mode); contents come from the vector's content rng.
VECTORS: list[dict[str, Any]] = [
    {"name": "passphrase", "key": "passphrase", "members": [("f", "hello.txt", 3000, 0o644)]},
    {"name": "x25519-one", "key": "x25519:1", "members": [("f", "note.txt", 2000, 0o600)]},
    {"name": "x25519-three", "key": "x25519:3", "members": [("f", "shared.txt", 1500, 0o644)]},
    {"name": "unencrypted", "key": "none", "members": [("f", "plain.txt", 2500, 0o644)]},
    {"name": "empty-archive", "key": "x25519:1", "members": []},
    {"name": "empty-file", "key": "x25519:1", "members": [("f", "empty", 0, 0o644)]},
    {"name": "exact-chunks", "key": "x25519:1", "chunk_size": 256,
     "members": [("r", "four-chunks.bin", 4 * 256, 0o644)]},
    {"name": "chunks-257", "key": "x25519:1", "chunk_size": 256,
     "members": [("f", "long.txt", 257 * 256, 0o644)]},
    {"name": "tree", "key": "x25519:1", "chunk_size": 512, "members": [
        ("d", "tree", 0, 0o755), ("d", "tree/docs", 0, 0o750), ("f", "tree/docs/a.txt", 700, 0o644),
        ("f", "tree/docs/b.txt", 300, 0o640), ("d", "tree/empty-dir", 0, 0o700),
        ("r", "tree/random.bin", 900, 0o755), ("l", "tree/link-to-a", "docs/a.txt", 0o777),
        ("f", "tree/zero", 0, 0o644), ("f", "tree/\u00fcnicode \u2603.txt", 50, 0o1644)]},
    {"name": "aes-gcm", "key": "x25519:1", "suite": "aes-256-gcm", "members": [("f", "aes.txt", 2000, 0o644)]},
    {"name": "padded", "key": "x25519:1", "pad": True, "members": [("f", "padded.txt", 1234, 0o644)]},
    {"name": "store-only", "key": "x25519:1", "codec": "store", "members": [("f", "stored.txt", 1000, 0o644)]},
    {"name": "mixed-codecs", "key": "none", "chunk_size": 256, "segment_size": 64,
     "members": [("f", "t1.txt", 600, 0o644), ("r", "r.bin", 600, 0o644), ("f", "t2.txt", 600, 0o644)]},
    {"name": "padded-unencrypted", "key": "none", "pad": True, "segment_size": 128,
     "members": [("f", "p.txt", 777, 0o644), ("d", "dir", 0, 0o755)]},
    # Names that are not UTF-8 (bytes 0xff 0xfe and a Latin-1 0xe9, as lone surrogates in the
    # API) travel as msgpack bin; a backslash is an ordinary byte (FORMAT.md §8).
    {"name": "names", "key": "none", "members": [
        ("d", "raw-\udcff\udcfe", 0, 0o755), ("f", "raw-\udcff\udcfe/caf\udce9.txt", 120, 0o644),
        ("f", "system-systemd\\x2dcryptsetup.slice", 60, 0o644),
        ("l", "link-\udce9", "raw-\udcff\udcfe/caf\udce9.txt", 0o777)]},
]


def _writer_options(spec: dict[str, Any], seed: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """(ArchiveWriter kwargs, reader kwargs) of a vector."""
    from nzarc.crypto.recipients import Argon2Params

    opts: dict[str, Any] = {
        "codec": spec.get("codec", "zstd"),
        "level": None if spec.get("codec") == "store" else 3,
        "chunk_size": spec.get("chunk_size", 1024),
        "segment_size": spec.get("segment_size", 256),
        "suite": spec.get("suite", "chacha20-poly1305"),
        "pad": spec.get("pad", False),
        "jobs": 1,
    }
    read: dict[str, Any] = {}
    key = spec["key"]
    if key == "passphrase":
        opts["passphrase"] = f"correct horse {seed}"
        opts["argon2"] = Argon2Params(**SMALL_ARGON2)
        read["passphrase"] = opts["passphrase"]
    elif key == "none":
        opts["encrypt"] = False
    else:
        n = int(key.split(":")[1])
        pairs = [identity(seed, i) for i in range(n)]
        opts["recipients"] = [pub for _, pub in pairs]
        read["identities"] = [pairs[-1][0]]
    return opts, read


def _with_hex(row: dict[str, Any]) -> dict[str, Any]:
    """``row`` plus ``name_hex``/``link_target_hex`` (the exact bytes) for text that is not UTF-8."""
    for key in ("name", "link_target"):
        value = row[key]
        if value is not None and not _is_utf8(value):
            row[f"{key}_hex"] = value.encode("utf-8", "surrogateescape").hex()
    return row


def _is_utf8(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def build(spec: dict[str, Any], *, jobs: int = 1) -> tuple[bytes, list[dict[str, Any]], dict[str, Any]]:
    """Return (archive bytes, expected members, reader kwargs) of one vector."""
    from nzarc.writer import ArchiveWriter

    seed = f"nzarc-v1-vector/{spec['name']}"
    opts, read = _writer_options(spec, seed)
    opts["jobs"] = jobs
    content = SeededRng(f"{seed}/content".encode())
    out = io.BytesIO()
    expected: list[dict[str, Any]] = []
    with ArchiveWriter(out, rng=SeededRng(seed.encode()), **opts) as w:
        for kind, name, arg, mode in spec["members"]:
            row: dict[str, Any] = {"name": name, "mtime_ns": MTIME}
            if kind in ("f", "r"):
                data = text(content, arg) if kind == "f" else content(arg)
                w.add_bytes(name, data, mode=mode, mtime_ns=MTIME)
                row.update(type="file", mode=mode & 0o1777, size=len(data),
                           sha256=hashlib.sha256(data).hexdigest(), link_target=None)
            elif kind == "d":
                w.add_dir(name, mode=mode, mtime_ns=MTIME)
                row.update(type="dir", mode=mode, size=0, sha256=None, link_target=None)
            else:
                w.add_symlink(name, arg, mtime_ns=MTIME)
                row.update(type="symlink", mode=0o777, size=0, sha256=None, link_target=arg)
            expected.append(_with_hex(row))
    return out.getvalue(), expected, read


def manifest() -> dict[str, Any]:
    entries = []
    for spec in VECTORS:
        data, members, read = build(spec)
        seed = f"nzarc-v1-vector/{spec['name']}"
        opts, _ = _writer_options(spec, seed)
        shown = {k: v for k, v in opts.items() if k not in ("argon2",)}
        if "argon2" in opts:
            shown["argon2"] = SMALL_ARGON2
        entries.append({
            "name": spec["name"],
            "file": f"{spec['name']}.nzarc",
            "seed": seed,
            "size": len(data),
            "sha256": hashlib.sha256(data).hexdigest(),
            "options": shown,
            "read": read,
            "members": members,
        })
    import zstandard

    return {"format": "nzarc v1", "generator": "spec/vectors/generate.py",
            "zstd_version": ".".join(map(str, zstandard.ZSTD_VERSION)), "vectors": entries}


def main(argv: list[str]) -> int:
    sys.path.insert(0, str(HERE.parents[1] / "src"))
    check = "--check" in argv
    differ = 0
    for spec in VECTORS:
        data, _, _ = build(spec)
        path = HERE / f"{spec['name']}.nzarc"
        if check:
            if not path.exists() or path.read_bytes() != data:
                print(f"DIFFERS: {path.name}")
                differ += 1
        else:
            path.write_bytes(data)
    if not check:
        MANIFEST.write_text(json.dumps(manifest(), indent=1, sort_keys=True) + "\n")
        total = sum((HERE / f"{s['name']}.nzarc").stat().st_size for s in VECTORS)
        print(f"wrote {len(VECTORS)} vectors, {total} bytes")
    return 1 if differ else 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
