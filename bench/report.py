"""Turn benchmark results into ``RESULTS.md``, ``results.json`` and ``plot.png``.

Aggregates are computed here from the per-input measurements, so a report can
be re-rendered from a saved ``results.json``:

* bits per byte of a group = 8 × Σ compressed ÷ Σ raw over its inputs;
* throughput (MB/s, 10^6 bytes) = Σ raw ÷ Σ seconds, process start-up included;
* peak RSS = the largest single-process peak seen in the group;
* size ÷ zstd = geometric mean, over the inputs both tools restored
  correctly, of the per-input ratio (pair by pair, same file).
"""

from __future__ import annotations

import json
import math
from collections import defaultdict
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from bench.published import published_rows

__all__ = ["aggregate", "render_markdown", "write_plot", "write_reports"]

REFS = ("zstd -3 -T0", "zstd -19")
ALL = "(all)"


def _fmt(value: float | None, spec: str = ".3f") -> str:
    return "–" if value is None else format(value, spec)


def _mbps(raw: int, seconds: float) -> float | None:
    return raw / seconds / 1e6 if seconds > 0 else None


def _sum_known(values: Iterable[float | None]) -> float | None:
    """Sum, or ``None`` when any value is unknown."""
    total = 0.0
    for v in values:
        if v is None:
            return None
        total += v
    return total


def aggregate(measurements: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per (suite, tool, group) and per (suite, tool, ALL) figures over successful rows."""
    rows = list(measurements)
    ok = [m for m in rows if m["ok"]]
    by_key: dict[tuple[str, str, str], list[dict[str, Any]]] = defaultdict(list)
    for m in ok:
        by_key[(m["suite"], m["tool"], m["group"])].append(m)
        by_key[(m["suite"], m["tool"], ALL)].append(m)
    sizes = {(m["suite"], m["tool"], m["file"]): m["comp_bytes"] for m in ok}
    failed: dict[tuple[str, str], int] = defaultdict(int)
    for m in rows:
        if not m["ok"]:
            failed[(m["suite"], m["tool"])] += 1
    out = []
    for (suite, tool, group), ms in sorted(by_key.items()):
        raw = sum(m["raw_bytes"] for m in ms)
        comp = sum(m["comp_bytes"] for m in ms)
        cs = sum(m["comp_s"] for m in ms)
        ds = sum(m["decomp_s"] for m in ms)
        agg: dict[str, Any] = {
            "suite": suite, "tool": tool, "family": ms[0]["family"], "group": group,
            "files": len(ms), "raw_bytes": raw, "comp_bytes": comp,
            "bpb": 8 * comp / raw if raw else None,
            "comp_mbps": _mbps(raw, cs), "decomp_mbps": _mbps(raw, ds),
            "comp_s": cs, "decomp_s": ds,
            "comp_cpu_s": _sum_known(m.get("comp_cpu_s") for m in ms),
            "decomp_cpu_s": _sum_known(m.get("decomp_cpu_s") for m in ms),
            "comp_rss_mib": max((m["comp_rss_kib"] or 0) for m in ms) / 1024,
            "decomp_rss_mib": max((m["decomp_rss_kib"] or 0) for m in ms) / 1024,
            "failed": failed.get((suite, tool), 0) if group == ALL else None,
        }
        for ref in REFS:
            logs = []
            for m in ms:
                r = sizes.get((suite, ref, m["file"]))
                if r and m["comp_bytes"]:
                    logs.append(math.log(m["comp_bytes"] / r))
            agg[f"vs {ref}"] = math.exp(sum(logs) / len(logs)) if logs else None
        out.append(agg)
    return out


def _table(header: Sequence[str], rows: Iterable[Sequence[str]]) -> list[str]:
    def cells(values: Sequence[str]) -> str:
        return "| " + " | ".join(v.replace("|", "\\|") for v in values) + " |"

    lines = [cells(header), "|" + "|".join("---" for _ in header) + "|"]
    lines += [cells(r) for r in rows]
    return lines


def _tool_order(meta: dict[str, Any], aggs: list[dict[str, Any]]) -> list[str]:
    named = [t["name"] for t in meta.get("tools", [])]
    seen = {a["tool"] for a in aggs}
    return [t for t in named if t in seen] + sorted(seen - set(named))


def _suite_sections(doc: dict[str, Any], aggs: list[dict[str, Any]]) -> list[str]:
    meta = doc["meta"]
    order = _tool_order(meta, aggs)
    lines: list[str] = []
    titles = {
        "corpus": "Whole files",
        "sample": f"Text sample: first {meta.get('sample_bytes', 0) // 1024} KiB of "
                  f"{meta.get('sample_files', '')} text files (slow settings run here by default)",
        "quick": "Quick mode (small prefixes; CI smoke run, not a benchmark)",
    }
    for suite in ("corpus", "sample", "quick"):
        sa = [a for a in aggs if a["suite"] == suite]
        if not sa:
            continue
        lines += ["", f"## {titles[suite]}", ""]
        totals = {a["tool"]: a for a in sa if a["group"] == ALL}
        header = ["tool", "files", "bpb", "size ÷ zstd -3", "size ÷ zstd -19",
                  "compress MB/s", "decompress MB/s", "CPU s c/d", "peak RSS c/d MiB",
                  "failed"]
        body = []
        for tool in order:
            a = totals.get(tool)
            if a is None:
                continue
            body.append([
                f"`{tool}`", str(a["files"]), _fmt(a["bpb"]),
                _fmt(a["vs zstd -3 -T0"]), _fmt(a["vs zstd -19"]),
                _fmt(a["comp_mbps"], ".2f"), _fmt(a["decomp_mbps"], ".2f"),
                f"{_fmt(a.get('comp_cpu_s'), '.1f')} / {_fmt(a.get('decomp_cpu_s'), '.1f')}",
                f"{a['comp_rss_mib']:.0f} / {a['decomp_rss_mib']:.0f}", str(a["failed"]),
            ])
        lines += _table(header, body)
        groups = sorted({a["group"] for a in sa} - {ALL})
        if len(groups) > 1:
            lines += ["", "Bits per byte per group:", ""]
            cell = {(a["tool"], a["group"]): a for a in sa}
            lines += _table(["tool", *groups], (
                [f"`{t}`", *[_fmt(cell[(t, g)]["bpb"]) if (t, g) in cell else "–"
                             for g in groups]]
                for t in order if (t, ALL) in cell))
        lines += ["", "<details><summary>Bits per byte per file</summary>", ""]
        files: dict[str, dict[str, float]] = defaultdict(dict)
        for m in doc["measurements"]:
            if m["suite"] == suite and m["ok"]:
                files[m["file"]][m["tool"]] = 8 * m["comp_bytes"] / max(m["raw_bytes"], 1)
        tools_here = [t for t in order if t in totals]
        lines += _table(["file", *tools_here], (
            [f, *[_fmt(files[f].get(t)) for t in tools_here]] for f in sorted(files)))
        lines += ["", "</details>"]
    return lines


def _published_section(doc: dict[str, Any]) -> list[str]:
    measured: dict[tuple[str, str], float] = {}
    for m in doc["measurements"]:
        if m["suite"] == "corpus" and m["ok"]:
            measured[(m["file"], m["tool"])] = 8 * m["comp_bytes"] / max(m["raw_bytes"], 1)
    lines = ["", "## Published figures (published, not measured here)", "",
             "Copied from the cited sources for context; none of these was run on this "
             "machine. enwik8/enwik9 are the whole Wikipedia extracts, not the corpus's "
             "enwik6 (its first 10^6 bytes), so compare those rows with care.", ""]
    body = []
    for p in published_rows():
        here = ""
        cf = p["corpus_file"] or p.get("related_corpus_file")
        if cf:
            vals = [f"{t} {v:.3f}" for (f, t), v in sorted(measured.items())
                    if f == cf and t in ("xz -9e", "nzarc neural", "nzarc auto")]
            here = "; ".join(vals)
            if here and not p["corpus_file"]:
                here = f"on {cf.rsplit('/', 1)[-1]}: {here}"
        body.append([p["tool"] + " *(published)*", p["file"], f"{p['bpb']:.3f}",
                     f"{p['comp_bytes']:,}" if p["comp_bytes"] else "–",
                     here or "–", f"<{p['source']}>", p["note"] or ""])
    lines += _table(["tool", "file", "bpb", "bytes", "measured here (same file)", "source",
                     "note"], body)
    return lines


NEURAL_TARGETS = {  # file: (required bpb, goal bpb), from the neural codec's acceptance table
    "canterbury/alice29.txt": (1.16, 1.10),
    "calgary/book1": (1.52, 1.40),
    "enwik/enwik6": (1.00, 0.95),
}


def _checks_section(doc: dict[str, Any]) -> list[str]:
    """Acceptance checks that this run's data can answer."""
    ok = {(m["suite"], m["tool"], m["file"]): m for m in doc["measurements"] if m["ok"]}
    lines: list[str] = []
    auto = [(f, m["comp_bytes"] / ok[(s, "nzarc zstd -l 19", f)]["comp_bytes"])
            for (s, t, f), m in ok.items()
            if s == "corpus" and t == "nzarc auto" and (s, "nzarc zstd -l 19", f) in ok]
    if auto:
        worst = max(auto, key=lambda x: x[1])
        over = [f for f, r in auto if r > 1.005]
        lines += [f"- `nzarc auto` vs `nzarc zstd -l 19`, per file ({len(auto)} files): "
                  f"largest ratio {worst[1]:.4f} ({worst[0]}); "
                  f"{len(over)} file(s) more than 0.5% larger"
                  + (f": {', '.join(over)}" if over else "") + "."]
    for file, (req, goal) in NEURAL_TARGETS.items():
        m = ok.get(("corpus", "nzarc neural", file))
        if m is None:
            continue
        bpb = 8 * m["comp_bytes"] / m["raw_bytes"]
        verdict = "meets goal" if bpb <= goal else ("meets requirement" if bpb <= req
                                                     else "MISSES requirement")
        lines.append(f"- `nzarc neural` on {file} (whole file): {bpb:.3f} bpb; required "
                     f"≤ {req}, goal ≤ {goal}: {verdict}.")
    m = ok.get(("corpus", "nzarc neural", "enwik/enwik6"))
    if m is not None:
        ck, dk = m["raw_bytes"] / m["comp_s"] / 1e3, m["raw_bytes"] / m["decomp_s"] / 1e3
        lines.append(f"- `nzarc neural` speed on enwik6: compress {ck:.1f} kB/s (target ≥ 8), "
                     f"decompress {dk:.1f} kB/s (target ≥ 4).")
    if any(s == "sample" and t == "nzarc neural" for (s, t, _f) in ok):
        lines.append("- The neural codec ran on the text sample only; its acceptance figures "
                     "need whole files: `python -m bench --full`.")
    return ["", "## Acceptance checks from this run", "", *lines] if lines else []


def _extra_sections(out_dir: Path) -> list[str]:
    lines: list[str] = []
    tp = out_dir / "throughput.json"
    if tp.exists():
        from bench.throughput import render_markdown as tp_md

        lines += ["", *tp_md(json.loads(tp.read_text()))]
    sc = out_dir / "scale.json"
    if sc.exists():
        from bench.scale import render_markdown as sc_md

        lines += ["", *sc_md(json.loads(sc.read_text()))]
    return lines


def render_markdown(doc: dict[str, Any], out_dir: Path) -> str:
    """The whole ``RESULTS.md`` text for ``doc`` (plus throughput/scale files in ``out_dir``)."""
    meta = doc["meta"]
    aggs = aggregate(doc["measurements"])
    mach = meta["machine"]
    lines = [
        "# nzarc benchmark results",
        "",
        f"Generated by `python -m bench` ({meta['mode']} mode) on {meta['date_utc']} UTC, "
        f"{mach['cpus']} CPUs ({mach['processor']}), Python {mach['python']}; "
        f"corpus `{Path(meta['corpus']).name}`; the run took {meta['wall_s']} s"
        + (f" (1-minute load average {meta['loadavg_start_end'][0]:.1f} at the start, "
           f"{meta['loadavg_start_end'][1]:.1f} at the end)" if meta.get("loadavg_start_end")
           else "") + ".",
        "",
        "Every figure comes from one run of each tool on each input, round-trip verified. "
        "bpb = 8 × compressed bytes ÷ input bytes. Throughput is input MB (10^6 B) per "
        "wall-clock second of the whole command, process start-up included, so small "
        "files favour tools that start fast. Peak RSS is the largest single process "
        f"({meta['rss_method']}). CPU s is user + system time summed over the files (GNU time "
        "reports 0.01 s steps per command). Size ratios vs zstd are geometric means of "
        "per-file ratios.",
        "",
        "nzarc rows run the `nzarc` command with encryption on (passphrase from "
        "`NZARC_PASSPHRASE`); Argon2id runs once per archive on create and again on extract, "
        "so on small files its fixed cost dominates the throughput.",
    ]
    fixed = meta.get("nzarc_fixed_costs") or {}
    if fixed:
        lines += ["", "Fixed cost per nzarc command on an empty file: "
                  f"create {_fmt(fixed.get('create_plain_s'), '.2f')} s unencrypted / "
                  f"{_fmt(fixed.get('create_passphrase_s'), '.2f')} s with a passphrase; "
                  f"extract {_fmt(fixed.get('extract_plain_s'), '.2f')} s / "
                  f"{_fmt(fixed.get('extract_passphrase_s'), '.2f')} s. The difference is the "
                  "Argon2id passphrase cost."]
    if meta.get("notes"):
        lines += ["", "Not measured in this run:", ""] + [f"- {n}" for n in meta["notes"]]
    lines += _suite_sections(doc, aggs)
    lines += _checks_section(doc)
    lines += _published_section(doc)
    lines += _extra_sections(out_dir)
    versions = meta.get("versions", {})
    if versions:
        lines += ["", "## Tool versions", ""] + [f"- {k}: {v}" for k, v in versions.items()]
    lines += [
        "", "## Reproduce", "",
        "From the repository root (`pip install -e '.[bench]'`; optional `apt-get install brotli "
        "age`, `pip install py-spy` for the profile):",
        "",
        "- `python -m bench all`: throughput (256 MiB tree, with profile), scale (2 GiB via "
        "pipes), then this corpus run; writes `bench/RESULTS.md`, `results.json`, `plot.png`.",
        "- `python -m bench` (corpus only), `--quick` (CI smoke run), `--full` (slow settings "
        "on whole files), `python -m bench report` (re-render from `results.json`).",
        "- Neural acceptance figures (whole files): `python -m bench --full --only "
        "'nzarc neural,nzarc auto,xz -9e,zstd -19' --files "
        "'canterbury/alice29.txt,calgary/book1,enwik/enwik6' --out /tmp/neural`.",
    ]
    lines += ["", "## Commands", ""]
    nz = (meta.get("nzarc") or {}).get("command") or "\0"
    for t in meta.get("tools", []):
        comp, decomp = (t[k].replace(nz, "nzarc") for k in ("compress", "decompress"))
        lines.append(f"- `{t['name']}`: `{comp}` / `{decomp}`"
                     + (" (slow: sampled unless `--full`)" if t["slow"] else ""))
    return "\n".join(lines) + "\n"


def write_plot(doc: dict[str, Any], path: Path) -> str | None:
    """Bits per byte against compression MB/s (log x), one point per tool.

    Returns a message instead of writing when matplotlib is missing.
    """
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        import matplotlib.ticker
    except ImportError:
        return "matplotlib is not installed (pip install 'nzarc[bench]'): plot skipped"
    aggs = [a for a in aggregate(doc["measurements"]) if a["group"] == ALL]
    main_suite = "quick" if any(a["suite"] == "quick" for a in aggs) else "corpus"
    points = [(a, False) for a in aggs if a["suite"] == main_suite]
    shown = {a["tool"] for a, _ in points}
    points += [(a, True) for a in aggs if a["suite"] == "sample" and a["tool"] not in shown]
    fig, ax = plt.subplots(figsize=(9, 6), dpi=120)
    colours = {"nzarc": "tab:red", "external": "tab:blue", "pipeline": "tab:green"}
    pts = [(a, sampled) for a, sampled in points if a["comp_mbps"] and a["bpb"] is not None]
    # keep the y axis on the compressors: a single point far above the rest (nzarc store
    # sits at ~8 bpb) is drawn at the top edge with its value in the label
    ys = sorted(a["bpb"] for a, _ in pts)
    cap = max(ys[: max(1, len(ys) - 1)]) * 1.15 if len(ys) > 2 else None
    placed: list[tuple[float, float, float, float]] = []
    labels: dict[tuple[float, float], list[tuple[str, float, float]]] = {}
    for a, sampled in pts:
        y = a["bpb"] if cap is None or a["bpb"] <= cap else cap
        key = (round(math.log10(a["comp_mbps"]), 2), round(y, 3))
        text = a["tool"] + (" (text sample)" if sampled else "")
        if y != a["bpb"]:
            text += f" ({a['bpb']:.2f} bpb, off scale)"
        labels.setdefault(key, []).append((text, a["comp_mbps"], y))
        ax.scatter(a["comp_mbps"], y, c=colours.get(a["family"], "tab:grey"),
                   marker="^" if sampled else "o", s=40, zorder=3)
    ax.set_xscale("log")
    if cap is not None:
        ax.set_ylim(min(ys) - 0.1, cap + 0.15)
    fig.canvas.draw()
    for _key, group in sorted(labels.items()):
        text = " = ".join(t for t, _, _ in group)
        x, y = group[0][1], group[0][2]
        px, py = ax.transData.transform((x, y))
        w, h = 4.6 * len(text), 10.0
        for dx, dy in ((6, 3), (6, -12), (6, 15), (6, -24), (6, 27), (-w - 6, 3),
                       (-w - 6, -12), (6, -36), (6, 39)):
            box = (px + dx, py + dy, px + dx + w, py + dy + h)
            if not any(b[0] < box[2] and box[0] < b[2] and b[1] < box[3] and box[1] < b[3]
                       for b in placed):
                break
        placed.append(box)
        ax.annotate(text, (x, y), textcoords="offset points", fontsize=7,
                    xytext=(dx * 72 / fig.dpi, dy * 72 / fig.dpi))
    ax.xaxis.set_major_formatter(matplotlib.ticker.FuncFormatter(lambda v, _: f"{v:g}"))
    ax.set_xlabel("compression throughput, MB/s (log scale; process start-up included)")
    ax.set_ylabel("bits per byte (lower is better)")
    ax.set_title(f"nzarc vs common tools, {main_suite} suite: red nzarc (encrypted), "
                 "blue CLIs, green tar|zstd|age", fontsize=9)
    ax.grid(True, which="both", alpha=0.3)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return None


def write_reports(doc: dict[str, Any], out_dir: Path) -> list[str]:
    """Write ``results.json``, ``RESULTS.md`` and ``plot.png`` under ``out_dir``.

    Returns messages about anything skipped.
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    full = dict(doc)
    full["aggregates"] = aggregate(doc["measurements"])
    full["published"] = published_rows()
    (out_dir / "results.json").write_text(json.dumps(full, indent=1) + "\n")
    (out_dir / "RESULTS.md").write_text(render_markdown(doc, out_dir))
    msg = write_plot(doc, out_dir / "plot.png")
    return [msg] if msg else []
