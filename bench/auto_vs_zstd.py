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

import argparse
import io
import json
import sys
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
CORPUS = REPO.parent / "shared" / "corpus"


def _files() -> list[Path]:
    return sorted(p for p in CORPUS.rglob("*") if p.is_file() and p.name != "MANIFEST.tsv")


def _archive(path: Path, **opts: Any) -> tuple[int, dict[str, int]]:
    import nzarc

    out = io.BytesIO()
    stats = nzarc.create(out, [path], encrypt=False, **opts)
    return len(out.getvalue()), dict(stats.chunks_per_codec)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--max-text-bytes", type=int, default=30_000)
    ap.add_argument("--out", default=str(REPO / "bench" / "RESULTS-auto-vs-zstd"))
    args = ap.parse_args(argv)
    if not CORPUS.is_dir():
        print(f"no corpus at {CORPUS}", file=sys.stderr)
        return 2
    from nzarc.neural.codec import _model_installed
    from nzarc.neural.store import SMOLLM2_MODEL_SHA256
    from nzarc.neural.textdetect import looks_like_text

    model = _model_installed(SMOLLM2_MODEL_SHA256)
    rows: list[dict[str, Any]] = []
    skipped: list[str] = []
    for path in _files():
        rel = str(path.relative_to(CORPUS))
        data = path.read_bytes()
        if model and len(data) > args.max_text_bytes and looks_like_text(data[: 1 << 20]):
            skipped.append(f"{rel} ({len(data)} bytes)")
            continue
        t0 = time.perf_counter()
        auto, per = _archive(path, codec="auto")
        t_auto = time.perf_counter() - t0
        zstd, _ = _archive(path, codec="zstd", level=19)
        row = {
            "file": rel, "bytes": len(data), "auto": auto, "zstd19": zstd,
            "ratio": round(auto / zstd, 5), "codecs": per, "auto_s": round(t_auto, 1),
        }
        print(json.dumps(row), flush=True)
        rows.append(row)
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
        codecs = ", ".join(f"{k.split('.')[-1]} {v}" for k, v in sorted(r["codecs"].items()))
        lines.append(f"| {r['file']} | {r['bytes']} | {r['auto']} | {r['zstd19']} | {r['ratio']:.4f} | {codecs} |")
    if skipped:
        lines += ["", "Not run (text larger than the limit; the neural attempt is too slow for this CPU):", ""]
        lines += [f"- {s}" for s in skipped]
    Path(args.out + ".md").write_text("\n".join(lines) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
