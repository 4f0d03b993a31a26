"""Throughput of ``nzarc create/extract -c zstd -l 3`` against ``tar | zstd -3 -T2``.

``python -m bench throughput [--size 256M] [--repeat 5] [--profile]`` generates a
mixed tree (:mod:`bench.treegen`), then times, each ``--repeat`` times in
interleaved order, keeping the fastest run of each:

* ``tar -cf - tree | zstd -3 -T2 > out``  vs  ``nzarc create -c zstd -l 3`` in
  three encryption settings (:data:`MODES`): none (``--no-encrypt``), one
  X25519 recipient (``-r age1...``, what ``tar | zstd | age -r`` users do) and
  a passphrase (Argon2id, a fixed cost per archive);
* ``zstd -d | tar -x``  vs  ``nzarc extract`` of each of the three archives.

Ratios are baseline seconds ÷ nzarc seconds (throughput relative to the
baseline; the targets are ≥ 0.8) and encrypted ÷ unencrypted seconds − 1
(the encryption overhead; target ≤ 10%), for each setting, from the best run
of each step and (``paired_ratios``) as the median over rounds of the ratios
within each round, which load from other work disturbs less. Every extraction
is checked against the tree. nzarc's bytecode caches are written first, as
``pip install`` does. ``--profile`` samples both nzarc commands with py-spy
(or cProfile in-process when py-spy is missing) and records where the
time goes.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from bench.common import DEFAULT_OUT, parse_size
from bench.nzarc_runner import BENCH_PASSPHRASE, detect, fixed_costs
from bench.tools import render, run_timed, tool_version
from bench.treegen import existing_tree, make_tree

__all__ = ["main", "render_markdown", "run_throughput"]

TARGET_SPEED = 0.8
TARGET_ENC = 0.10
PROFILE_RATE = 250  # py-spy samples per second


def _tree_digest(root: Path) -> dict[str, str]:
    """Relative path → SHA-256 of every regular file under ``root``."""
    out: dict[str, str] = {}
    for dirpath, _dirs, files in os.walk(root):
        for name in files:
            p = Path(dirpath) / name
            h = hashlib.sha256()
            with p.open("rb") as fh:
                for block in iter(lambda fh=fh: fh.read(1 << 20), b""):
                    h.update(block)
            out[p.relative_to(root).as_posix()] = h.hexdigest()
    return out


#: The encryption settings timed, with what each means (recorded in the JSON and the table).
MODES: dict[str, str] = {
    "plain": "no encryption (--no-encrypt): corruption is detected, forgery is not",
    "x25519": "encrypted to one X25519 public key (-r age1..., read with -i IDENTITY), "
              "as `tar | zstd | age -r` users do",
    "passphrase": "encrypted with a passphrase (NZARC_PASSPHRASE): Argon2id t=3, 64 MiB, p=4 "
                  "(RFC 9106), paid once on create and once on extract",
}


def _keys(nz: str, w: Path) -> str:
    """Make ``w/identity.txt`` with ``nzarc keygen``; return its public key."""
    ident = w / "identity.txt"
    ident.unlink(missing_ok=True)
    proc = subprocess.run(render(f"{nz} keygen -o {{i}}", i=ident), shell=True,
                          capture_output=True, text=True, check=False)
    for line in proc.stderr.splitlines():
        if line.startswith("Public key: "):
            return line.split(": ", 1)[1].strip()
    raise RuntimeError(f"nzarc keygen printed no public key: {proc.stderr.strip()[-200:]}")


def _commands(nz: str, w: Path, recipient: str) -> dict[str, tuple[str, dict[str, str], str]]:
    """name → (shell command, extra env, phase) for every timed step."""
    env = {"plain": {}, "x25519": {}, "passphrase": {"NZARC_PASSPHRASE": BENCH_PASSPHRASE}}
    create_opts = {"plain": "--no-encrypt", "x25519": f"-r {shlex.quote(recipient)}",
                   "passphrase": ""}
    extract_opts = {"plain": "", "x25519": f"-i {shlex.quote(str(w / 'identity.txt'))}",
                    "passphrase": ""}
    out: dict[str, tuple[str, dict[str, str], str]] = {
        "tar|zstd create": (render("tar -C {w} -cf - tree | zstd -q -3 -T2 -c > {o}",
                                   w=w, o=w / "base.tar.zst"), {}, "create"),
    }
    for mode in MODES:
        opts = f"{create_opts[mode]} " if create_opts[mode] else ""
        out[f"nzarc create {mode}"] = (
            render(f"cd {{w}} && {nz} create -q -o {{o}} -c zstd -l 3 {opts}tree",
                   w=w, o=w / f"{mode}.nz"), env[mode], "create")
    out["zstd|tar extract"] = (render("zstd -q -d -c {o} | tar -C {d} -xf -",
                                      o=w / "base.tar.zst", d=w / "x-base"), {}, "extract")
    for mode in MODES:
        opts = f"{extract_opts[mode]} " if extract_opts[mode] else ""
        out[f"nzarc extract {mode}"] = (
            render(f"{nz} extract -q {opts}{{o}} -C {{d}}", o=w / f"{mode}.nz",
                   d=w / f"x-{mode}"), env[mode], "extract")
    return out


def _prepare(name: str, w: Path) -> None:
    """Remove the output of step ``name`` so each run starts from the same state."""
    outputs = {"tar|zstd create": w / "base.tar.zst",
               **{f"nzarc create {m}": w / f"{m}.nz" for m in MODES}}
    dests = {"zstd|tar extract": w / "x-base",
             **{f"nzarc extract {m}": w / f"x-{m}" for m in MODES}}
    if name in outputs:
        outputs[name].unlink(missing_ok=True)
    if name in dests:
        shutil.rmtree(dests[name], ignore_errors=True)
        dests[name].mkdir()
    subprocess.run(["sync"], check=False)


def _compile_bytecode() -> bool:
    """Write nzarc's bytecode caches, as ``pip install`` does, so that no timed run pays
    for compiling stale sources (``PYTHONDONTWRITEBYTECODE`` would otherwise make every
    run recompile what changed since the caches were last written)."""
    import nzarc

    pkg = Path(nzarc.__file__).resolve().parent
    proc = subprocess.run([sys.executable, "-m", "compileall", "-q", str(pkg)],
                          capture_output=True, check=False)
    return proc.returncode == 0


def run_throughput(size: int, repeat: int, workdir: Path, *, profile: bool = False,
                   log=print) -> dict[str, Any]:  # noqa: ANN001 - a print-like callable
    """Generate (or reuse) the tree under ``workdir``, time every step, return the record."""
    setup = detect()
    if setup.command is None:
        raise RuntimeError("nzarc is not usable: " + "; ".join(setup.problems))
    tree = workdir / "tree"
    info = existing_tree(tree, size)
    if info is None:
        shutil.rmtree(tree, ignore_errors=True)
        t0 = time.perf_counter()
        info = make_tree(tree, size)
        log(f"generated {info.files} files, {size / 2**20:.0f} MiB in "
            f"{time.perf_counter() - t0:.1f} s: {info.bytes_by_kind}")
    compiled = _compile_bytecode()
    subprocess.run(render("tar -C {w} -cf - tree > /dev/null", w=workdir), shell=True,
                   check=True)  # warm the page cache for every contender alike
    cmds = _commands(setup.command, workdir, _keys(setup.command, workdir))
    creates = [k for k in cmds if cmds[k][2] == "create"]
    extracts = [k for k in cmds if cmds[k][2] == "extract"]
    runs: dict[str, list[dict[str, Any]]] = {k: [] for k in cmds}
    for r in range(repeat):
        # creates must precede the extracts that read their archives; odd runs reverse
        order = creates + extracts if r % 2 == 0 else [*reversed(creates), *reversed(extracts)]
        for name in order:
            cmd, env, _phase = cmds[name]
            _prepare(name, workdir)
            res = run_timed(cmd, env=env)
            runs[name].append({"s": res.seconds, "cpu_s": res.cpu_s, "rss_kib": res.max_rss_kib,
                               "rc": res.returncode,
                               "err": res.stderr.strip().splitlines()[-1:] if res.returncode
                               else []})
            log(f"  run {r + 1}/{repeat} {name:24s} {res.seconds:7.2f} s "
                f"rss {(res.max_rss_kib or 0) / 1024:6.0f} MiB"
                + (f"  FAILED: {res.stderr.strip()[-200:]}" if res.returncode else ""))
    expected = _tree_digest(tree)
    verified = {}
    for name in extracts:
        dest = "x-base" if name == "zstd|tar extract" else f"x-{name.rsplit(' ', 1)[1]}"
        got = _tree_digest(workdir / dest / "tree") if (workdir / dest / "tree").is_dir() else {}
        verified[name] = got == expected
    best = {k: min((x["s"] for x in v if x["rc"] == 0), default=None) for k, v in runs.items()}
    cpu = {k: min((x["cpu_s"] for x in v if x["rc"] == 0 and x.get("cpu_s") is not None),
                  default=None) for k, v in runs.items()}
    files = {"tar|zstd": "base.tar.zst", **{f"nzarc {m}": f"{m}.nz" for m in MODES}}
    sizes = {k: (workdir / f).stat().st_size if (workdir / f).exists() else None
             for k, f in files.items()}
    record: dict[str, Any] = {
        "date_utc": time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime()),
        "size_bytes": size, "files": info.files, "bytes_by_kind": info.bytes_by_kind,
        "repeat": repeat, "cpus": len(os.sched_getaffinity(0)),
        "loadavg_after": os.getloadavg(), "zstd": tool_version(["zstd", "--version"]),
        "bytecode_compiled": compiled, "encryption_modes": MODES,
        "workdir": str(workdir), "nzarc_command": setup.command, "commands": {k: v[0] for k, v in cmds.items()},
        "runs": runs, "best_s": best, "min_cpu_s": cpu, "archive_bytes": sizes, "verified": verified,
        "ratios": _ratios(best, size),
        "paired_ratios": _paired_ratios(runs),
    }
    fixed = fixed_costs(setup, workdir / "fixed-cost")
    record["nzarc_fixed_costs"] = fixed
    kdf = {p: fixed.get(f"{p}_passphrase_s", 0.0) - fixed.get(f"{p}_plain_s", 0.0)
           for p in ("create", "extract")}
    record["kdf_s"] = kdf
    for phase in ("create", "extract"):
        enc, plain = best[f"nzarc {phase} passphrase"], best[f"nzarc {phase} plain"]
        record["ratios"][f"{phase}_passphrase_overhead_without_kdf"] = (
            (enc - kdf[phase]) / plain - 1 if enc and plain and fixed else None)
    if profile:
        record["profile"] = profile_nzarc(setup.command, workdir, log=log)
        record["no_fsync"] = no_fsync_diagnostic(workdir, repeat, log=log)
    return record


def _ratios(best: dict[str, float | None], size: int) -> dict[str, Any]:
    """Throughput ratios against the baseline and encryption overheads, per mode.

    ``<phase>_<mode>_vs_base`` = baseline seconds ÷ nzarc seconds (target ≥ 0.8);
    ``<phase>_<mode>_overhead`` = nzarc ``mode`` seconds ÷ unencrypted seconds − 1
    (target ≤ 10%) for the encrypted modes.
    """
    out: dict[str, Any] = {"mbps": {k: (size / 1e6 / v if v else None) for k, v in best.items()}}
    base = {"create": best["tar|zstd create"], "extract": best["zstd|tar extract"]}
    met: dict[str, bool] = {}
    for phase in ("create", "extract"):
        for mode in MODES:
            r = _div(base[phase], best[f"nzarc {phase} {mode}"])
            out[f"{phase}_{mode}_vs_base"] = r
            met[f"{phase} {mode} >= 0.8x"] = _ge(r, TARGET_SPEED)
        for mode in MODES:
            if mode == "plain":
                continue
            r = _div(best[f"nzarc {phase} {mode}"], best[f"nzarc {phase} plain"])
            out[f"{phase}_{mode}_overhead"] = r - 1 if r else None
            met[f"{phase} {mode} encryption <= +10%"] = (
                r is not None and r - 1 <= TARGET_ENC)
    out["targets_met"] = met
    return out


def _paired_ratios(runs: dict[str, list[dict[str, Any]]]) -> dict[str, float | None]:
    """The same ratios as :func:`_ratios`, computed within each round (every step runs once
    per round, back to back) and then taken as the median over rounds: less sensitive than
    best-of-N to load from other work that comes and goes between rounds."""
    def median(xs: list[float]) -> float | None:
        return statistics.median(xs) if xs else None

    def secs(name: str, r: int) -> float | None:
        rows = runs.get(name, [])
        return rows[r]["s"] if r < len(rows) and rows[r]["rc"] == 0 else None

    rounds = min((len(v) for v in runs.values()), default=0)
    base = {"create": "tar|zstd create", "extract": "zstd|tar extract"}
    out: dict[str, float | None] = {}
    for phase in ("create", "extract"):
        for mode in MODES:
            vals = [_div(secs(base[phase], r), secs(f"nzarc {phase} {mode}", r))
                    for r in range(rounds)]
            out[f"{phase}_{mode}_vs_base"] = median([v for v in vals if v is not None])
            if mode != "plain":
                over = [_div(secs(f"nzarc {phase} {mode}", r), secs(f"nzarc {phase} plain", r))
                        for r in range(rounds)]
                m = median([v for v in over if v is not None])
                out[f"{phase}_{mode}_overhead"] = None if m is None else m - 1
    return out


def _div(a: float | None, b: float | None) -> float | None:
    return a / b if a and b else None


def _ge(value: float | None, bound: float) -> bool:
    return value is not None and value >= bound


def profile_nzarc(nz: str, workdir: Path, *, log=print) -> dict[str, Any]:  # noqa: ANN001
    """Sample ``nzarc create`` and ``extract`` (unencrypted) with py-spy; top frames by self time."""
    pyspy = shutil.which("py-spy")
    result: dict[str, Any] = {"tool": "py-spy" if pyspy else None}
    if not pyspy:
        result["error"] = "py-spy not installed (pip install py-spy): no profile"
        return result
    base = shlex.split(nz)
    for phase, args in (
        ("create", ["create", "-q", "-o", "prof.nz", "-c", "zstd", "-l", "3", "--no-encrypt",
                    "tree"]),
        ("extract", ["extract", "-q", "prof.nz", "-C", "x-prof"]),
    ):
        if phase == "extract":
            shutil.rmtree(workdir / "x-prof", ignore_errors=True)
            (workdir / "x-prof").mkdir()
        else:
            (workdir / "prof.nz").unlink(missing_ok=True)
        raw = workdir / f"profile-{phase}.txt"
        t0 = time.perf_counter()
        proc = subprocess.run(
            [pyspy, "record", "--format", "raw", "--rate", str(PROFILE_RATE), "--threads",
             "--subprocesses", "-o", str(raw), "--", *base, *args],
            cwd=workdir, capture_output=True, text=True, check=False)
        wall = time.perf_counter() - t0
        if proc.returncode != 0 or not raw.exists():
            result[phase] = {"error": proc.stderr.strip()[-300:]}
            continue
        result[phase] = summarize_collapsed(raw.read_text(), wall_s=wall)
        result[phase]["wall_s"] = wall
        log(f"profile {phase}: top self frames: "
            + "; ".join(f"{f} {p:.0%}" for f, p in result[phase]["self"][:5]))
    return result


def no_fsync_diagnostic(workdir: Path, repeat: int, *, log=print) -> dict[str, Any]:  # noqa: ANN001
    """Best-of-``repeat`` seconds of unencrypted create/extract with ``os.fsync`` stubbed out.

    A diagnostic, not what users run: the same CLI code in a fresh process, except that
    nothing is forced to disk (``tar`` and ``zstd`` do not fsync either). The gap to the
    measured figures is the durability cost.
    """
    stub = ("import os, sys; os.fsync = lambda fd: None; "
            "from nzarc.cli import main; sys.exit(main(sys.argv[1:]))")
    py = f"{shlex.quote(sys.executable)} -c {shlex.quote(stub)}"
    steps = {
        "create": render(f"cd {{w}} && {py} create -q -o {{o}} -c zstd -l 3 --no-encrypt tree",
                         w=workdir, o=workdir / "nofsync.nz"),
        "extract": render(f"{py} extract -q {{o}} -C {{d}}", o=workdir / "nofsync.nz",
                          d=workdir / "x-nofsync"),
    }
    best: dict[str, float | None] = {"create": None, "extract": None}
    cpu: dict[str, float | None] = {"create": None, "extract": None}
    for _ in range(repeat):
        for phase, cmd in steps.items():
            if phase == "create":
                (workdir / "nofsync.nz").unlink(missing_ok=True)
            else:
                shutil.rmtree(workdir / "x-nofsync", ignore_errors=True)
                (workdir / "x-nofsync").mkdir()
            subprocess.run(["sync"], check=False)
            res = run_timed(cmd)
            if res.returncode != 0:
                return {"error": res.stderr.strip()[-300:]}
            best[phase] = min(res.seconds, best[phase] or res.seconds)
            if res.cpu_s is not None:
                cpu[phase] = min(res.cpu_s, cpu[phase] or res.cpu_s)
    log(f"without fsync: create {best['create']:.2f} s, extract {best['extract']:.2f} s")
    return {"best_s": best, "min_cpu_s": cpu}


def _thread_label(frame: str) -> str:
    """``thread (1234): nzarc_0`` → ``nzarc_0``; unnamed → ``unnamed`` (py-spy names the
    main thread only once ``threading`` knows it, so start-up imports land here)."""
    _, _, name = frame.partition("): ")
    return name or "unnamed"


def summarize_collapsed(text: str, top: int = 15, *, wall_s: float | None = None,
                        rate: int = PROFILE_RATE) -> dict[str, Any]:
    """Self and inclusive sample shares per frame from py-spy's raw (collapsed) stacks.

    Lines are ``[process …;]thread (tid)[: name];outer;…;inner COUNT``. With
    ``wall_s``, each thread's samples ÷ (``wall_s`` × ``rate``) estimates the
    fraction of the run that thread spent on a CPU (sampling without ``--idle``).
    """
    self_c: Counter[str] = Counter()
    incl_c: Counter[str] = Counter()
    threads: Counter[str] = Counter()
    per_thread: dict[str, Counter[str]] = {}
    total = 0
    for line in text.splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        n = int(count)
        frames = stack.split(";")
        if frames[0].startswith("process "):
            frames = frames[1:]
        if not frames:
            continue
        thread = _thread_label(frames[0])
        frames = frames[1:] or ["(no Python frame)"]
        total += n
        threads[thread] += n
        self_c[frames[-1]] += n
        per_thread.setdefault(thread, Counter())[frames[-1]] += n
        for f in set(frames):
            incl_c[f] += n
    if not total:
        return {"samples": 0, "self": [], "inclusive": [], "threads": []}
    return {
        "samples": total,
        "self": [(f, c / total) for f, c in self_c.most_common(top)],
        "inclusive": [(f, c / total) for f, c in incl_c.most_common(top)],
        "threads": [(t, c / total) for t, c in threads.most_common(8)],
        "busy": {t: c / (wall_s * rate) for t, c in threads.items()} if wall_s else {},
        "per_thread_self": {t: [(f, k / threads[t]) for f, k in c.most_common(5)]
                            for t, c in per_thread.items() if threads[t] >= total // 20},
    }


def render_markdown(rec: dict[str, Any]) -> list[str]:
    """The throughput section of ``RESULTS.md``."""
    r = rec["ratios"]

    def f(v: float | None, spec: str = ".2f") -> str:
        return "–" if v is None else format(v, spec)

    lines = [
        f"## Throughput: {rec['size_bytes'] / 2**20:.0f} MiB generated tree "
        f"({rec['files']} files), best of {rec['repeat']}",
        "",
        f"Measured {rec['date_utc']} UTC on {rec['cpus']} CPUs; load average after the run "
        f"{', '.join(f'{x:.1f}' for x in rec['loadavg_after'])} (other work shares these cores). "
        f"Content by bytes: {rec['bytes_by_kind']}.",
        "",
    ]
    rows = []
    for name, secs in rec["best_s"].items():
        ok = rec["verified"].get(name)
        shown = rec["commands"][name].replace(rec.get("workdir", "\0"), "$W")
        shown = shown.replace(rec.get("nzarc_command") or "\0", "nzarc")
        setting = name.rsplit(" ", 1)[1] if name.startswith("nzarc ") else "none"
        rows.append(f"| {setting} | `{shown.replace('|', chr(92) + '|')}` | {f(secs)} | "
                    f"{f(rec.get('min_cpu_s', {}).get(name))} | {f(r['mbps'][name], '.1f')} | "
                    f"{'' if ok is None else ('yes' if ok else 'NO')} |")
    lines += ["| encryption | command | best wall s | least CPU s (user+sys) | MB/s | "
              "tree verified |", "|---|---|---|---|---|---|", *rows, "",
              "CPU seconds depend less on other load than wall seconds; a pipeline's CPU "
              "seconds are summed over its processes.", ""]
    met = r["targets_met"]

    def yes(*keys: str) -> str:
        return "yes" if all(met.get(k) for k in keys) else "no"

    modes = rec.get("encryption_modes", {})
    lines += ["Encryption settings: " + "; ".join(f"**{m}**: {d}" for m, d in modes.items())
              + ".", ""]
    lines += ["| ratio | plain | X25519 recipient | passphrase | target | met |",
              "|---|---|---|---|---|---|"]
    for phase, base in (("create", "tar\\|zstd"), ("extract", "zstd\\|tar")):
        lines.append(
            f"| {phase}, nzarc ÷ {base} throughput | {f(r.get(f'{phase}_plain_vs_base'))} | "
            f"{f(r.get(f'{phase}_x25519_vs_base'))} | {f(r.get(f'{phase}_passphrase_vs_base'))} | "
            f"≥ 0.80 | {yes(*(f'{phase} {m} >= 0.8x' for m in MODES))} |")
    for phase in ("create", "extract"):
        lines.append(
            f"| {phase}, encryption overhead | – | {f(r.get(f'{phase}_x25519_overhead'), '+.1%')} | "
            f"{f(r.get(f'{phase}_passphrase_overhead'), '+.1%')} | ≤ +10% | X25519 "
            f"{yes(f'{phase} x25519 encryption <= +10%')}, passphrase "
            f"{yes(f'{phase} passphrase encryption <= +10%')} |")
    pr = rec.get("paired_ratios")
    if pr:
        lines.append(
            "| median of per-round ratios (create / extract) | "
            + " | ".join(f"{f(pr.get(f'create_{m}_vs_base'))} / {f(pr.get(f'extract_{m}_vs_base'))}"
                         for m in MODES)
            + " | ≥ 0.80 | |")
        lines.append(
            "| median of per-round encryption overhead (create / extract) | – | "
            + " | ".join(f"{f(pr.get(f'create_{m}_overhead'), '+.1%')} / "
                         f"{f(pr.get(f'extract_{m}_overhead'), '+.1%')}"
                         for m in MODES if m != "plain")
            + " | ≤ +10% | |")
        lines += ["", "Per-round ratios compare steps run back to back in the same round, so "
                  "load from other work that comes and goes between rounds affects them less "
                  "than the best-of-all-rounds ratios above."]
    lines += [
        "",
        "Passphrase overhead without its fixed cost (Argon2id, measured on an empty "
        f"archive: create {rec.get('kdf_s', {}).get('create', 0):.2f} s, extract "
        f"{rec.get('kdf_s', {}).get('extract', 0):.2f} s): create "
        f"{f(r.get('create_passphrase_overhead_without_kdf'), '+.1%')}, extract "
        f"{f(r.get('extract_passphrase_overhead_without_kdf'), '+.1%')}.",
        "",
        "Archive sizes: " + ", ".join(f"{k} {v:,} B" for k, v in rec["archive_bytes"].items()
                                      if v is not None) + ".",
    ]
    nf = rec.get("no_fsync") or {}
    if nf.get("best_s"):
        b, base = nf["best_s"], rec["best_s"]
        lines += ["", "Diagnostic (not what users run): the same unencrypted commands with "
                  "`os.fsync` stubbed out took "
                  f"create {f(b['create'])} s ({f(_div(base['tar|zstd create'], b['create']))}× "
                  f"the baseline), extract {f(b['extract'])} s "
                  f"({f(_div(base['zstd|tar extract'], b['extract']))}× the baseline); "
                  "neither `tar` nor `zstd` forces data to disk."]
    prof = rec.get("profile")
    if prof and prof.get("tool"):
        for phase in ("create", "extract"):
            p = prof.get(phase) or {}
            if not p.get("self"):
                continue
            busy = ", ".join(f"{t} {b:.0%}" for t, b in
                             sorted(p.get("busy", {}).items(), key=lambda x: -x[1])[:6])
            lines += ["", f"py-spy on `nzarc {phase}` (unencrypted, on-CPU samples only, "
                      f"{p['samples']} samples over {p.get('wall_s', 0):.1f} s). Share of the "
                      f"run each thread was on a CPU: {busy}.", ""]
            for thread, frames in p.get("per_thread_self", {}).items():
                lines.append(f"- {thread}: " + "; ".join(
                    f"{share:.0%} `{frame}`" for frame, share in frames))
    return lines


def main(argv: Sequence[str]) -> int:
    """``python -m bench throughput``; exit 1 when a step fails or a tree differs."""
    p = argparse.ArgumentParser(prog="python -m bench throughput",
                                description="nzarc create/extract vs tar|zstd -3 -T2 on a tree.")
    p.add_argument("--size", type=parse_size, default=256 << 20,
                   help="bytes in the generated tree (default 256M)")
    p.add_argument("--repeat", type=int, default=5, help="runs per step; the best is kept")
    p.add_argument("--profile", action="store_true", help="also sample nzarc with py-spy")
    p.add_argument("--workdir", type=Path, default=None,
                   help="keep the tree here and reuse it on later runs (default: a temp dir)")
    p.add_argument("--out", type=Path, default=DEFAULT_OUT,
                   help="folder for throughput.json (default: bench/)")
    args = p.parse_args(argv)
    if args.repeat < 1:
        p.error("--repeat must be at least 1")

    def log(s: str) -> None:
        print(s, file=sys.stderr, flush=True)

    def go(work: Path) -> dict[str, Any]:
        work.mkdir(parents=True, exist_ok=True)
        return run_throughput(args.size, args.repeat, work, profile=args.profile, log=log)

    try:
        if args.workdir:
            rec = go(args.workdir)
        else:
            with tempfile.TemporaryDirectory(prefix="nzarc-tp-") as tmp:
                rec = go(Path(tmp))
    except RuntimeError as exc:
        print(f"bench: error: {exc}", file=sys.stderr)
        return 1
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "throughput.json").write_text(json.dumps(rec, indent=1) + "\n")
    print("\n".join(render_markdown(rec)))
    failed = any(x["rc"] for v in rec["runs"].values() for x in v)
    return 1 if failed or not all(rec["verified"].values()) else 0
