"""``-c auto`` against ``-c zstd -l 19``: whole archives of single corpus files.

Usage (from the repository root)::

    python -m bench.auto_vs_zstd [--max-text-bytes N] [--out bench/RESULTS-auto-vs-zstd]

For every file listed in ``../shared/corpus/MANIFEST.tsv`` (or found under it) it writes an
unencrypted archive with ``codec="auto"`` and one with ``codec="zstd", level=19`` (in
process, through :func:`nzarc.create`) and reports both sizes, their ratio and the chunks
per codec of the auto archive. The neural codec takes part when its model is installed.
Text files larger than ``--max-text-bytes`` are skipped when the model is installed (the
neural attempt runs at about 1 kB/s on a 2-core CPU); they are listed as skipped.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from bench.corpus_sizes import archive_size, codec_cell, corpus_rows, neural_installed, parse_args


def _row(path: Path, rel: str) -> dict[str, Any]:
    t0 = time.perf_counter()
    auto, per = archive_size(path, codec="auto", encrypt=False)
    t_auto = time.perf_counter() - t0
    zstd, _ = archive_size(path, codec="zstd", level=19, encrypt=False)
    return {
        "file": rel, "bytes": path.stat().st_size, "auto": auto, "zstd19": zstd,
        "ratio": round(auto / zstd, 5), "codecs": per, "auto_s": round(t_auto, 1),
    }


def main(argv: list[str] | None = None) -> int:
    args = parse_args(__doc__ or "", "RESULTS-auto-vs-zstd", argv)
    if args is None:
        return 2
    model = neural_installed()
    rows, skipped = corpus_rows(args.max_text_bytes, model, _row)
    worst = max(rows, key=lambda r: r["ratio"])
    result = {"model_installed": model, "rows": rows, "skipped": skipped, "worst": worst}
    Path(args.out + ".json").write_text(json.dumps(result, indent=1) + "\n")
    lines = [
        "# `-c auto` against `-c zstd -l 19` (whole unencrypted archives of single files)",
        "",
        f"Made by `python -m bench.auto_vs_zstd`; neural model installed: {model}. "
        f"Largest auto/zstd ratio: {worst['ratio']:.5f} ({worst['file']}).",
        "",
        "| file | bytes | auto | zstd -19 | auto / zstd | auto chunks |",
        "|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['file']} | {r['bytes']} | {r['auto']} | {r['zstd19']} | {r['ratio']:.4f} | "
            f"{codec_cell(r['codecs'])} |"
        )
    if skipped:
        lines += ["", "Not run (text larger than the limit; the neural attempt is too slow for this CPU):", ""]
        lines += [f"- {s}" for s in skipped]
    Path(args.out + ".md").write_text("\n".join(lines) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
