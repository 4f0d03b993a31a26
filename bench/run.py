"""The corpus benchmark: every tool on every input, measured once, round-trip checked.

Suites
    ``corpus``  every file of the corpus, whole; slow settings (the neural
                codec, and ``auto`` when the model is installed) join only
                with ``full=True``.
    ``sample``  the first ``sample_bytes`` of ``sample_files`` text files, at most one
                per group (:data:`PREFERRED_SAMPLES` first, then each group's largest), run by
                every tool including the slow ones (so slow settings are
                compared pair by pair on the same bytes). Only when slow
                settings exist and ``full`` is off.
    ``quick``   the first ``quick_bytes`` of the first file of each group (at
                most ``quick_files``); slow settings get only the first text
                file, cut to ``quick_slow_bytes``. For CI.

Each measurement compresses, restores, and compares the restored bytes with
the input; a tool that fails or restores different bytes is recorded with
its error and excluded from aggregates.
"""

from __future__ import annotations

import filecmp
import fnmatch
import os
import platform
import shutil
import sys
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

from bench.corpus import InputFile, discover, is_text, write_prefix_sample
from bench.nzarc_runner import NzarcSetup, detect, fixed_costs
from bench.tools import Tool, external_tools, render, run_timed, time_binary, tool_version

__all__ = ["Measurement", "RunOptions", "measure", "run_benchmark"]

#: Files preferred for the text sample (the neural codec's acceptance files).
PREFERRED_SAMPLES = frozenset({"canterbury/alice29.txt", "calgary/book1", "enwik/enwik6"})


@dataclass
class Measurement:
    """One tool on one input. Sizes in bytes, times in seconds, RSS in KiB."""

    suite: str
    tool: str
    family: str
    file: str
    group: str
    raw_bytes: int
    comp_bytes: int | None = None
    comp_s: float | None = None
    decomp_s: float | None = None
    comp_rss_kib: int | None = None
    decomp_rss_kib: int | None = None
    comp_cpu_s: float | None = None
    decomp_cpu_s: float | None = None
    ok: bool = False
    error: str = ""


@dataclass(frozen=True)
class RunOptions:
    """What to run. ``only`` keeps tools whose name contains any of its strings; ``files``
    keeps inputs whose corpus-relative path matches any of its ``fnmatch`` patterns."""

    corpus: Path
    quick: bool = False
    full: bool = False
    neural: bool | None = None
    sample_bytes: int = 64 * 1024
    sample_files: int = 4
    quick_bytes: int = 16 * 1024
    quick_files: int = 4
    quick_slow_bytes: int = 8 * 1024
    only: tuple[str, ...] = ()
    files: tuple[str, ...] = ()
    timeout: float = 1800.0


def _last_line(text: str) -> str:
    lines = [ln for ln in text.strip().splitlines() if ln.strip()]
    return lines[-1][:300] if lines else "(no message)"


def measure(tool: Tool, inp: InputFile, suite: str, work: Path, timeout: float) -> Measurement:
    """Compress ``inp`` with ``tool``, restore it, verify, and clean up."""
    m = Measurement(suite, tool.name, tool.family, inp.rel, inp.group, inp.size)
    slot = work / "slot"
    shutil.rmtree(slot, ignore_errors=True)
    slot.mkdir(parents=True)
    arc = slot / "compressed"
    outdir = slot / "restored"
    outdir.mkdir()
    out = outdir / inp.path.name
    names = {
        "src": inp.path, "srcdir": inp.path.parent, "srcname": inp.path.name,
        "arc": arc, "out": out, "outdir": outdir, **tool.values,
    }
    try:
        c = run_timed(render(tool.compress, **names), env=tool.env, timeout=timeout)
        m.comp_s, m.comp_rss_kib, m.comp_cpu_s = c.seconds, c.max_rss_kib, c.cpu_s
        if c.returncode != 0 or not arc.is_file():
            m.error = f"compress exit {c.returncode}: {_last_line(c.stderr)}"
            return m
        m.comp_bytes = arc.stat().st_size
        d = run_timed(render(tool.decompress, **names), env=tool.env, timeout=timeout)
        m.decomp_s, m.decomp_rss_kib, m.decomp_cpu_s = d.seconds, d.max_rss_kib, d.cpu_s
        if d.returncode != 0:
            m.error = f"decompress exit {d.returncode}: {_last_line(d.stderr)}"
            return m
        if not out.is_file():
            m.error = f"restored file {inp.path.name!r} not found"
            return m
        if not filecmp.cmp(out, inp.path, shallow=False):
            m.error = "restored bytes differ from the input"
            return m
        m.ok = True
        return m
    finally:
        shutil.rmtree(slot, ignore_errors=True)


def _selected(tools: Iterable[Tool], only: Sequence[str]) -> list[Tool]:
    if not only:
        return list(tools)
    return [t for t in tools if any(s in t.name for s in only)]


def _suites(
    opts: RunOptions, files: list[InputFile], tools: list[Tool], work: Path
) -> list[tuple[str, list[InputFile], list[InputFile]]]:
    """``(suite, inputs for ordinary tools, inputs for slow tools)`` in run order."""
    has_slow = any(t.slow for t in tools)
    text = [f for f in files if f.size > 0 and is_text(f.path)]
    if opts.quick:
        firsts: dict[str, InputFile] = {}
        for f in files:
            if f.size > 0:
                firsts.setdefault(f.group, f)
        chosen = list(firsts.values())[: opts.quick_files]
        inputs = [write_prefix_sample(f, work / "quick", opts.quick_bytes, "[:quick]")
                  for f in chosen]
        slow = [write_prefix_sample(f, work / "quick-slow", opts.quick_slow_bytes, "[:8k]")
                for f in text[:1]]
        return [("quick", inputs, slow)]
    suites = [("corpus", files, files if opts.full else [])]
    if has_slow and not opts.full:
        per_group: dict[str, InputFile] = {}
        # one text file per group: a file the neural targets name, else the group's largest
        for f in sorted(text, key=lambda f: (f.rel not in PREFERRED_SAMPLES, -f.size, f.rel)):
            per_group.setdefault(f.group, f)
        kib = opts.sample_bytes // 1024
        chosen = list(per_group.values())[: opts.sample_files]
        sample = [write_prefix_sample(f, work / "sample", opts.sample_bytes, f"[:{kib}k]")
                  for f in chosen]
        suites.append(("sample", sample, sample))
    return suites


def _versions() -> dict[str, str]:
    probes = {
        "gzip": ["gzip", "--version"], "bzip2": ["bzip2", "--help"], "xz": ["xz", "--version"],
        "zstd": ["zstd", "--version"], "brotli": ["brotli", "--version"],
        "age": ["age", "--version"], "tar": ["tar", "--version"],
    }
    return {k: v for k, v in ((k, tool_version(a)) for k, a in probes.items()) if v}


def run_benchmark(
    opts: RunOptions, work: Path, log: Callable[[str], None] = print
) -> dict[str, object]:
    """Run the selected suites; return the ``results.json`` document."""
    t_start = time.time()
    load_start = os.getloadavg()
    work.mkdir(parents=True, exist_ok=True)
    files = discover(opts.corpus)
    if opts.files:
        files = [f for f in files if any(fnmatch.fnmatchcase(f.rel, p) for p in opts.files)]
    if not files:
        raise FileNotFoundError(f"no input files under {opts.corpus}"
                                + (f" match {', '.join(opts.files)}" if opts.files else ""))
    ext_tools, notes = external_tools(work)
    setup: NzarcSetup = detect()
    notes.extend(setup.problems)
    tools = _selected([*setup.tools(neural=opts.neural), *ext_tools], opts.only)
    suites = _suites(opts, files, tools, work)
    measurements: list[Measurement] = []
    for suite, inputs, slow_inputs in suites:
        for tool in tools:
            todo = slow_inputs if tool.slow else inputs
            if not todo:
                continue
            t0 = time.perf_counter()
            rows = [measure(tool, f, suite, work, opts.timeout) for f in todo]
            measurements.extend(rows)
            good = [r for r in rows if r.ok]
            raw = sum(r.raw_bytes for r in good)
            comp = sum(r.comp_bytes or 0 for r in good)
            bpb = f"{8 * comp / raw:.3f} bpb" if raw else "-"
            failed = len(rows) - len(good)
            log(f"[{suite}] {tool.name:28s} {len(rows):3d} files  {bpb:>10s}  "
                f"{time.perf_counter() - t0:7.1f} s" + (f"  {failed} FAILED" if failed else ""))
            for r in rows:
                if not r.ok:
                    log(f"    {r.file}: {r.error}")
    fixed = fixed_costs(setup, work) if setup.available and not opts.only else {}
    return {
        "meta": {
            "date_utc": time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(t_start)),
            "wall_s": round(time.time() - t_start, 1),
            "loadavg_start_end": [load_start[0], os.getloadavg()[0]],
            "mode": "quick" if opts.quick else ("full" if opts.full else "default"),
            "corpus": str(opts.corpus),
            "machine": {
                "platform": platform.platform(), "python": sys.version.split()[0],
                "cpus": _cpu_count(), "processor": platform.processor() or platform.machine(),
            },
            "rss_method": "GNU time -v" if time_binary() else "getrusage(RUSAGE_CHILDREN)",
            "versions": _versions(),
            "nzarc": {
                "command": setup.command, "codecs": list(setup.codec_ids),
                "ppmd": setup.ppmd_id, "model_installed": setup.model_installed,
            },
            "nzarc_fixed_costs": fixed,
            "sample_bytes": opts.sample_bytes, "sample_files": opts.sample_files,
            "notes": notes,
            "tools": [{"name": t.name, "family": t.family, "slow": t.slow,
                       "compress": t.compress, "decompress": t.decompress, "note": t.note}
                      for t in tools],
        },
        "measurements": [asdict(m) for m in measurements],
    }


def _cpu_count() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - non-Linux
        return os.cpu_count() or 1
