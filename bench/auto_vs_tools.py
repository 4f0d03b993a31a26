"""``-c auto`` against the best of the real ``xz -9e`` and ``zstd -19``, file by file.

Usage (from the repository root)::

    python -m bench.auto_vs_tools [--max-text-bytes N] [--out bench/RESULTS-auto-vs-tools]

For every file under ``../shared/corpus`` it writes, in process through :func:`nzarc.create`,
an unencrypted and an encrypted (one X25519 recipient) ``-c auto`` archive and unencrypted
``-c zstd -l 19`` and ``-c xz`` archives, and runs the real ``xz -9e`` and ``zstd -19`` on the
file. It reports every size and two ratios, measured in the same run:

* ``auto / best tool``: the encrypted auto archive (container and header included) against
  the smaller of the two tools' outputs;
* ``auto / best nzarc``: the unencrypted auto archive against the smaller of the unencrypted
  ``-c zstd`` and ``-c xz`` archives (the same container on both sides, so only codec choice
  differs).

The neural codec takes part when its model is installed (run with ``NZARC_HOME`` pointing at
an empty directory to leave it out); text larger than ``--max-text-bytes`` is then skipped and
listed, because the neural attempt runs at about 1 kB/s on a 2-core CPU.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from bench.corpus_sizes import archive_size, codec_cell, corpus_rows, neural_installed, parse_args


def _tool(argv: list[str], path: Path) -> int:
    return len(subprocess.run([*argv, str(path)], capture_output=True, check=True).stdout)


def _row(path: Path, rel: str, recipient: str) -> dict[str, Any]:
    t0 = time.perf_counter()
    auto_plain, per = archive_size(path, codec="auto", encrypt=False)
    t_auto = time.perf_counter() - t0
    auto_enc, _ = archive_size(path, codec="auto", recipients=[recipient])
    zstd_n, _ = archive_size(path, codec="zstd", level=19, encrypt=False)
    xz_n, _ = archive_size(path, codec="xz", encrypt=False)
    xz_t = _tool(["xz", "-9e", "-c", "-k"], path)
    zstd_t = _tool(["zstd", "-19", "-c", "-q"], path)
    return {
        "file": rel, "bytes": path.stat().st_size, "auto": auto_enc, "auto_plain": auto_plain,
        "nzarc_zstd19": zstd_n, "nzarc_xz": xz_n, "xz_9e": xz_t, "zstd_19": zstd_t,
        "vs_tools": round(auto_enc / min(xz_t, zstd_t), 5),
        "vs_nzarc": round(auto_plain / min(zstd_n, xz_n), 5),
        "codecs": per, "auto_s": round(t_auto, 2),
    }


def _markdown(result: dict[str, Any]) -> str:
    rows = result["rows"]
    over = [r for r in rows if r["vs_tools"] > 1.005]
    lines = [
        "# `-c auto` against the best of `xz -9e` and `zstd -19` (single files)",
        "",
        f"Made by `python -m bench.auto_vs_tools`; neural model installed: "
        f"{result['model_installed']}; plugin codecs tried by auto: "
        f"{', '.join(result.get('auto_plugins', [])) or 'none'};",
        f"xz {result['xz_version']}, zstd {result['zstd_version']}.",
        "`auto` is the encrypted archive (one X25519 recipient, container included);",
        "`auto / nzarc` compares the unencrypted auto archive with the smaller unencrypted",
        "`-c zstd -l 19` / `-c xz` archive.",
        "",
        f"Largest auto / best-nzarc ratio: {max(r['vs_nzarc'] for r in rows):.5f}. Files where the",
        f"encrypted auto archive is more than 0.5% over the best tool: {len(over)} of {len(rows)}",
        "(the container costs a fixed few hundred bytes, which dominates small files).",
        "",
        "| file | bytes | auto | xz -9e | zstd -19 | auto / best tool | auto / nzarc | auto chunks |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['file']} | {r['bytes']} | {r['auto']} | {r['xz_9e']} | {r['zstd_19']} | "
            f"{r['vs_tools']:.4f} | {r['vs_nzarc']:.4f} | {codec_cell(r['codecs'])} |"
        )
    if result["skipped"]:
        lines += ["", "Not run (text over the limit; the neural attempt is too slow here):", ""]
        lines += [f"- {s}" for s in result["skipped"]]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    args = parse_args(__doc__ or "", "RESULTS-auto-vs-tools", argv)
    if args is None:
        return 2
    if not (shutil.which("xz") and shutil.which("zstd")):
        print("xz and zstd must be on PATH", file=sys.stderr)
        return 2
    from nzarc.crypto.recipients import generate_identity

    _, recipient = generate_identity()
    model = neural_installed()
    rows, skipped = corpus_rows(args.max_text_bytes, model, lambda path, rel: _row(path, rel, recipient))

    def version(tool: str) -> str:
        out = subprocess.run([tool, "--version"], capture_output=True, text=True).stdout
        return out.splitlines()[0] if out else "?"

    from nzarc.planning import AUTO_CANDIDATES, auto_candidates

    plugins = [cid for cid, _, _ in auto_candidates()[len(AUTO_CANDIDATES):]]
    result = {"model_installed": model, "auto_plugins": plugins, "rows": rows, "skipped": skipped,
              "xz_version": version("xz"), "zstd_version": version("zstd")}
    Path(args.out + ".json").write_text(json.dumps(result, indent=1) + "\n")
    Path(args.out + ".md").write_text(_markdown(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
