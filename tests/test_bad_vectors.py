"""The bad-archive corpus (spec/vectors/bad/): every vector fails as recorded, releasing exactly
the recorded plaintext, and the corpus is what its generator builds.

Each vector is read the way its manifest says (a pipe, jobs=1, every member's chunks in
order). The error class must be exactly the recorded one (a subclass does not count), and the
SHA-256 and length of everything released before the error must match. A seekable read
(info, list, a full pass) must fail only with NzarcError, with the recorded class when given.
"""

from __future__ import annotations

import hashlib
import importlib.util
import io
import json
import sys
from pathlib import Path
from typing import Any

import pytest

import nzarc
from fuzz.surgery import join_frames, parse_frames, read_everything, seal, unseal

BAD = Path(__file__).resolve().parents[1] / "spec" / "vectors" / "bad"
MANIFEST = json.loads((BAD / "manifest.json").read_text())
VECTORS: list[dict[str, Any]] = MANIFEST["vectors"]

# Error classes the spec's rejection lists require the corpus to cover.
REQUIRED_CLASSES = {
    "FormatError",
    "UnsupportedVersion",
    "UnsafePath",
    "IntegrityError",
    "CodecError",
    "DecryptionError",
    "UnsupportedCodec",
    "ModelMismatch",
    "LimitExceeded",
}


def _data(vector: dict[str, Any]) -> bytes:
    data = (BAD / vector["file"]).read_bytes()
    assert hashlib.sha256(data).hexdigest() == vector["sha256"], "vector file differs from manifest"
    return data


def test_corpus_shape() -> None:
    names = [v["name"] for v in VECTORS]
    assert len(names) >= 40
    assert len(set(names)) == len(names)
    assert REQUIRED_CLASSES <= {v["expect"] for v in VECTORS}
    for count in (0, 1, 255, 256, 257):
        assert f"chunks-{count}" in names
    for v in VECTORS:
        assert v["expect"] is None or hasattr(nzarc.errors, v["expect"])
        assert set(v) >= {"name", "file", "description", "key", "expect", "released_sha256"}


@pytest.mark.parametrize("vector", VECTORS, ids=[v["name"] for v in VECTORS])
def test_pipe_read(vector: dict[str, Any]) -> None:
    outcome = read_everything(_data(vector), **vector["key"])
    assert outcome.error_name == vector["expect"], str(outcome.error)
    assert len(outcome.released) == vector["released_len"]
    assert hashlib.sha256(outcome.released).hexdigest() == vector["released_sha256"]
    if outcome.error is not None:
        assert str(outcome.error) and "\n" not in str(outcome.error)


@pytest.mark.parametrize("vector", VECTORS, ids=[v["name"] for v in VECTORS])
def test_seekable_read(vector: dict[str, Any]) -> None:
    data = _data(vector)
    error: BaseException | None = None
    try:
        with nzarc.open(io.BytesIO(data), jobs=1, **vector["key"]) as reader:
            reader.header_info()
            info = reader.info()
            members = reader.members()
            assert info.members == len(members)
            wanted = [m.name for m in members]
            for item in reader.iter_members(wanted):
                digest = hashlib.sha256(item.read()).digest()
                if item.member.type == "file":
                    assert digest == item.member.sha256
    except nzarc.NzarcError as exc:
        error = exc
    expected = vector.get("expect_seekable")
    if expected is not None:
        assert type(error).__name__ == expected, str(error)
    if vector["expect"] is None:
        assert error is None, str(error)


def test_generator_reproduces_corpus() -> None:
    spec = importlib.util.spec_from_file_location("bad_vectors_generate", BAD / "generate.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up by name
    try:
        spec.loader.exec_module(module)
    finally:
        del sys.modules[spec.name]
    files, manifest, problems = module.build_all()
    assert not problems  # the reader's class, and released bytes a prefix of authentic content
    assert sorted(files) == sorted(v["file"] for v in VECTORS)
    for name, data in files.items():
        assert (BAD / name).read_bytes() == data, f"{name} is not what the generator builds"
    assert manifest["vectors"] == VECTORS


EXTRACT = [v for v in VECTORS if "expect_extract" in v]


def test_corpus_has_extraction_vectors() -> None:
    assert {"symlink-chain-escape", "symlink-chain-escape-deep"} <= {v["name"] for v in EXTRACT}


@pytest.mark.parametrize("vector", EXTRACT, ids=[v["name"] for v in EXTRACT])
def test_extract_refused(vector: dict[str, Any], tmp_path: Path) -> None:
    """A vector with ``expect_extract`` reads fine but a full extraction into an empty
    directory must fail with that class, leaving nothing under the destination that
    resolves outside it."""
    import os

    dest = tmp_path / "a" / "b" / "c" / "dest"
    with pytest.raises(nzarc.NzarcError, match="^refusing ") as info:
        with nzarc.open(io.BytesIO(_data(vector)), jobs=1, **vector["key"]) as reader:
            reader.extract(dest)
    assert type(info.value).__name__ == vector["expect_extract"], str(info.value)
    root = os.path.realpath(dest)
    for dirpath, dirnames, filenames in os.walk(dest):
        for n in dirnames + filenames:
            real = os.path.realpath(os.path.join(dirpath, n))
            assert os.path.commonpath([real, root]) == root, n


GOLDEN = json.loads((BAD.parent / "manifest.json").read_text())["vectors"]


@pytest.mark.parametrize("vector", GOLDEN, ids=[v["name"] for v in GOLDEN])
def test_spec_sealer_rebuilds_golden_vectors(vector: dict[str, Any]) -> None:
    """fuzz/surgery.py seals from spec/FORMAT.md alone (pyca primitives, not nzarc's writer); it
    must rebuild every golden vector byte for byte, so the corpus's resealed edits differ from a
    real archive only by the edit."""
    data = (BAD.parent / vector["file"]).read_bytes()
    opened = unseal(data, **vector["read"])
    assert seal(opened) == data
    assert join_frames(parse_frames(opened.plaintext)) == opened.plaintext
