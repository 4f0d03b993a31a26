"""Golden vectors: every committed archive decodes to its manifest, and regenerates byte-identically."""

from __future__ import annotations

import hashlib
import importlib.util
import io
import json
import os
from pathlib import Path

import pytest
from helpers_format import Pipe

from nzarc.format.paths import is_utf8, text_bytes
from nzarc.reader import ArchiveReader

VECTORS = Path(__file__).resolve().parents[1] / "spec" / "vectors"
MANIFEST = json.loads((VECTORS / "manifest.json").read_text())
NAMES = [v["name"] for v in MANIFEST["vectors"]]
BY_NAME = {v["name"]: v for v in MANIFEST["vectors"]}


def _generator():
    spec = importlib.util.spec_from_file_location("nzarc_vector_generator", VECTORS / "generate.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_manifest_covers_the_required_cases():
    assert len(NAMES) >= 12
    required = {"passphrase", "x25519-one", "x25519-three", "unencrypted", "empty-archive", "empty-file",
                "exact-chunks", "chunks-257", "tree", "aes-gcm", "padded", "names"}
    assert required <= set(NAMES)
    assert sum((VECTORS / v["file"]).stat().st_size for v in MANIFEST["vectors"]) < 1_000_000


def _members(reader: ArchiveReader) -> list[dict]:
    rows = []
    for md in reader.iter_members():
        data = md.read()
        m = md.member
        row = {"name": m.name, "type": m.type, "mode": m.mode, "mtime_ns": m.mtime_ns,
               "size": len(data), "sha256": hashlib.sha256(data).hexdigest() if m.type == "file" else None,
               "link_target": m.link_target}
        for key in ("name", "link_target"):  # the manifest's exact bytes of text that is not UTF-8
            if row[key] is not None and not is_utf8(row[key]):
                row[f"{key}_hex"] = text_bytes(row[key]).hex()
        rows.append(row)
        assert m.size == len(data)
    return rows


@pytest.mark.parametrize("name", NAMES)
def test_vector_decodes(name):
    vec = BY_NAME[name]
    data = (VECTORS / vec["file"]).read_bytes()
    assert hashlib.sha256(data).hexdigest() == vec["sha256"]
    for source in (io.BytesIO(data), Pipe(data, step=1000)):
        with ArchiveReader(source, **vec["read"]) as r:
            assert _members(r) == vec["members"]
    with ArchiveReader(io.BytesIO(data), **vec["read"]) as r:
        info = r.info()
        assert info.members == len(vec["members"])
        assert info.encrypted == (vec["options"].get("encrypt", True))
        assert info.padded == vec["options"]["pad"]
        assert info.suite == ("none" if not info.encrypted else vec["options"]["suite"])
        assert info.raw_size == sum(m["size"] for m in vec["members"])
        assert sum(info.chunks_per_codec.values()) == info.chunks
    if name == "chunks-257":
        assert info.chunks == 257
    if name == "exact-chunks":
        assert info.chunks == 4
    if name == "mixed-codecs":
        assert set(info.chunks_per_codec) == {"nzarc.store", "nzarc.zstd"}
    if not info.encrypted:
        assert "not authenticated" in info.note


@pytest.mark.parametrize("name", NAMES)
def test_vector_regenerates_byte_identically(name):
    gen = _generator()
    spec = next(s for s in gen.VECTORS if s["name"] == name)
    for jobs in (1, 2):
        data, members, read = gen.build(spec, jobs=jobs)
        assert data == (VECTORS / BY_NAME[name]["file"]).read_bytes(), (
            f"differs (vectors made with zstd {MANIFEST['zstd_version']})"
        )
    assert members == BY_NAME[name]["members"]
    assert read == BY_NAME[name]["read"]


def test_names_vector_extracts_the_exact_bytes(tmp_path):
    """Each member lands under exactly the bytes the manifest gives (``*_hex`` or UTF-8)."""
    vec = BY_NAME["names"]
    with ArchiveReader(io.BytesIO((VECTORS / vec["file"]).read_bytes()), **vec["read"]) as r:
        r.extract(tmp_path / "out")
    base = bytes(tmp_path / "out")
    for m in vec["members"]:
        raw = bytes.fromhex(m["name_hex"]) if "name_hex" in m else m["name"].encode()
        path = base + b"/" + raw
        if m["type"] == "symlink":
            target = bytes.fromhex(m["link_target_hex"]) if "link_target_hex" in m else None
            assert os.readlink(path) == (target or m["link_target"].encode())
        elif m["type"] == "dir":
            assert os.path.isdir(path)
        else:
            with open(path, "rb") as fh:
                assert hashlib.sha256(fh.read()).hexdigest() == m["sha256"]
