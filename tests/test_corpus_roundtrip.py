"""The whole benchmark corpus through real archives (CI-only: needs ../shared/corpus).

Every corpus file must come back byte-identical, through a file and through a pipe, with
the codec settings users pick most, and the index must account for every byte.
"""

from __future__ import annotations

import hashlib
import io
import os
from pathlib import Path

import pytest

import nzarc
from nzarc.crypto.recipients import generate_identity

# Resolved, so a corpus reached through a symlink is archived as its files, not as a link.
CORPUS = (Path(__file__).resolve().parents[1].parent / "shared" / "corpus").resolve()

pytestmark = [
    pytest.mark.corpus,
    pytest.mark.skipif(not CORPUS.is_dir(), reason="needs ../shared/corpus next to the repository"),
]


def _digests(root: Path) -> dict[str, str]:
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def _manifest() -> dict[str, str]:
    rows = (CORPUS / "MANIFEST.tsv").read_text().splitlines()[1:]
    return {r.split("\t")[0]: r.split("\t")[2] for r in rows if r.strip()}


@pytest.mark.parametrize(("codec", "level"), [("zstd", 3), ("zstd", 19), ("store", None)])
def test_corpus_round_trip_file_and_pipe(codec: str, level: int | None, tmp_path: Path) -> None:
    identity, recipient = generate_identity()
    archive = tmp_path / "corpus.nzarc"
    nzarc.create(archive, [CORPUS], recipients=[recipient], codec=codec, level=level,
                 chunk_size=256 * 1024)
    expected = _digests(CORPUS)
    assert {k: v for k, v in expected.items() if k != "MANIFEST.tsv"} == _manifest()

    with nzarc.open(archive, identities=[identity]) as reader:
        info = reader.info()
        assert info.raw_size == sum((CORPUS / k).stat().st_size for k in expected)
        assert sum(info.chunks_per_codec.values()) == info.chunks
        reader.extract(tmp_path / "from-file")
    assert _digests(tmp_path / "from-file" / CORPUS.name) == expected

    pipe = io.BufferedReader(io.BytesIO(archive.read_bytes()))
    pipe.seekable = lambda: False  # type: ignore[method-assign]
    with nzarc.open(pipe, identities=[identity]) as reader:
        got = {md.member.name: hashlib.sha256(b"".join(md.chunks())).hexdigest()
               for md in reader.iter_members() if md.member.type == "file"}
    assert got == {f"{CORPUS.name}/{k}": v for k, v in expected.items()}
    if codec == "zstd" and level == 3:
        assert archive.stat().st_size < 0.4 * sum(os.path.getsize(CORPUS / k) for k in expected)
