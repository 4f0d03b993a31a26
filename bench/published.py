"""Published compression figures for files of the benchmark corpus.

PUBLISHED, NOT MEASURED HERE. Every figure below is copied from the cited
source, with the file it was measured on. Bits per byte are computed from the
published byte counts where the source gives bytes. ``enwik8``/``enwik9``
figures are for the whole 10^8/10^9-byte files; the corpus holds ``enwik6``,
the first 10^6 bytes of enwik8, which is not the same file (a model-based
compressor does better on longer inputs), so those rows are context only.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

__all__ = ["PublishedFigure", "PUBLISHED", "published_rows"]

TS_ZIP_URL = "https://bellard.org/ts_zip/"
LTCB_URL = "https://www.mattmahoney.net/dc/text.html"
NACRITH_URL = "https://arxiv.org/abs/2602.19626"


@dataclass(frozen=True)
class PublishedFigure:
    """One published result: tool, the file it was measured on, size and source.

    ``corpus_file`` names the same file in the corpus, if it is there;
    ``related_corpus_file`` a different but related one (enwik6 for enwik8).
    """

    tool: str
    file: str
    corpus_file: str | None
    raw_bytes: int
    comp_bytes: int | None
    bpb: float
    source: str
    note: str = ""
    related_corpus_file: str | None = None


def _fig(tool: str, file: str, corpus_file: str | None, raw: int, comp: int,
         source: str, note: str = "") -> PublishedFigure:
    related = "enwik/enwik6" if file == "enwik8" else None
    return PublishedFigure(tool, file, corpus_file, raw, comp, round(8 * comp / raw, 3),
                           source, note, related)


PUBLISHED: tuple[PublishedFigure, ...] = (
    # ts_zip page: "Compression Ratio" table (RWKV 169M v4, 8-bit weights), with xz.
    _fig("ts_zip", "alice29.txt", "canterbury/alice29.txt", 152089, 21713, TS_ZIP_URL),
    _fig("ts_zip", "book1", "calgary/book1", 768771, 137477, TS_ZIP_URL),
    _fig("ts_zip", "enwik8", None, 100_000_000, 13825741, TS_ZIP_URL,
         "whole enwik8; the corpus has enwik6 (its first 10^6 bytes)"),
    _fig("ts_zip", "enwik9", None, 1_000_000_000, 135443237, TS_ZIP_URL),
    _fig("xz", "alice29.txt", "canterbury/alice29.txt", 152089, 48492, TS_ZIP_URL,
         "xz column of the ts_zip table (options not stated there)"),
    _fig("xz", "book1", "calgary/book1", 768771, 261116, TS_ZIP_URL,
         "xz column of the ts_zip table (options not stated there)"),
    _fig("xz", "enwik8", None, 100_000_000, 24865244, TS_ZIP_URL,
         "xz column of the ts_zip table"),
    # Large Text Compression Benchmark, results table (page dated Sept 19, 2024).
    _fig("NNCP v3.2", "enwik8", None, 100_000_000, 14915298, LTCB_URL,
         "LTCB table; Transformer trained online while compressing"),
    _fig("NNCP v3.2", "enwik9", None, 1_000_000_000, 106632363, LTCB_URL, "LTCB table"),
    _fig("cmix v21 -t", "enwik8", None, 100_000_000, 14623723, LTCB_URL, "LTCB table"),
    _fig("cmix v21 -t", "enwik9", None, 1_000_000_000, 107963380, LTCB_URL, "LTCB table"),
    # A third-party measurement of cmix on alice29.txt, stated as bpb only.
    PublishedFigure("cmix v21", "alice29.txt", "canterbury/alice29.txt", 152089, None, 1.63,
                    NACRITH_URL, "measured by the paper's author, stated in its abstract"),
)


def published_rows() -> list[dict[str, object]]:
    """The figures as JSON-ready dicts, each marked ``published: true``."""
    return [{**asdict(f), "published": True} for f in PUBLISHED]
