"""What the ``-c auto`` size comparisons share (:mod:`bench.auto_vs_zstd`,
:mod:`bench.auto_vs_tools`): the corpus files, in-process archives, the skip rule for large
text when the neural model is installed, and the table cell of an archive's codecs.

Imports from bench/ only :mod:`bench.common`, so no cycle can form.
"""

from __future__ import annotations

import argparse
import io
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench.common import DEFAULT_CORPUS, DEFAULT_OUT

__all__ = ["archive_size", "codec_cell", "corpus_files", "corpus_rows", "neural_installed", "parse_args"]

Row = dict[str, Any]


def parse_args(description: str, out_name: str, argv: list[str] | None) -> argparse.Namespace | None:
    """``--max-text-bytes`` and ``--out`` (default ``bench/<out_name>``); None, after a message
    on stderr, when there is no corpus."""
    ap = argparse.ArgumentParser(description=description, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--max-text-bytes", type=int, default=30_000)
    ap.add_argument("--out", default=str(DEFAULT_OUT / out_name))
    args = ap.parse_args(argv)
    if not DEFAULT_CORPUS.is_dir():
        print(f"no corpus at {DEFAULT_CORPUS}", file=sys.stderr)
        return None
    return args


def corpus_files(corpus: Path = DEFAULT_CORPUS) -> list[Path]:
    """Every file under ``corpus`` but its manifest, sorted."""
    return sorted(p for p in corpus.rglob("*") if p.is_file() and p.name != "MANIFEST.tsv")


def archive_size(path: Path, **opts: Any) -> tuple[int, dict[str, int]]:
    """Size of the archive :func:`nzarc.create` writes of ``path`` with ``opts``, and its
    chunks per codec."""
    import nzarc

    out = io.BytesIO()
    stats = nzarc.create(out, [path], **opts)
    return len(out.getvalue()), dict(stats.chunks_per_codec)


def neural_installed() -> bool:
    """Whether the default neural model is installed (then ``-c auto`` tries it)."""
    from nzarc.neural.modelaccess import model_installed
    from nzarc.neural.store import SMOLLM2_MODEL_SHA256

    return bool(model_installed(SMOLLM2_MODEL_SHA256))


def corpus_rows(max_text_bytes: int, model: bool, row: Callable[[Path, str], Row]) -> tuple[list[Row], list[str]]:
    """``row(path, relative name)`` of every corpus file, each printed as a JSON line as it
    comes, and the files skipped: text over ``max_text_bytes`` when ``model`` is installed
    (the neural attempt runs at about 1 kB/s on a 2-core CPU)."""
    from nzarc.neural.textdetect import looks_like_text

    rows: list[Row] = []
    skipped: list[str] = []
    for path in corpus_files():
        rel = str(path.relative_to(DEFAULT_CORPUS))
        data = path.read_bytes()
        if model and len(data) > max_text_bytes and looks_like_text(data[: 1 << 20]):
            skipped.append(f"{rel} ({len(data)} bytes)")
            continue
        result = row(path, rel)
        print(json.dumps(result), flush=True)
        rows.append(result)
    return rows, skipped


def codec_cell(codecs: dict[str, int]) -> str:
    """``"neural 3, zstd 1"``: the chunks per codec of an archive, for a table."""
    return ", ".join(f"{k.split('.')[-1]} {v}" for k, v in sorted(codecs.items()))
