"""The benchmark harness in quick mode, on a small folder generated here.

It runs real tools (gzip, zstd, the ``nzarc`` command) so the harness cannot
rot; it needs no corpus. Pure helpers (aggregation, size parsing, profile
summaries, published figures) are checked directly.
"""

from __future__ import annotations

import json
import math
import os
import shutil
from pathlib import Path

import pytest

from bench import main
from bench.cli import parse_size
from bench.corpus import discover, is_text
from bench.published import PUBLISHED
from bench.report import ALL, aggregate
from bench.run import measure
from bench.throughput import summarize_collapsed
from bench.tools import Tool

needs_cli = pytest.mark.skipif(
    shutil.which("gzip") is None or shutil.which("zstd") is None,
    reason="gzip and zstd command-line tools are required",
)

TEXT = (b"It was the best of times, it was the worst of times, it was the age of "
        b"wisdom, it was the age of foolishness.\n") * 100  # under the quick prefix size


@pytest.fixture()
def tiny_corpus(tmp_path: Path) -> Path:
    root = tmp_path / "corpus"
    (root / "text").mkdir(parents=True)
    (root / "bin").mkdir()
    (root / "text" / "tale.txt").write_bytes(TEXT)
    (root / "bin" / "noise.bin").write_bytes(os.urandom(6000))
    (root / "MANIFEST.tsv").write_text("ignored\n")
    return root


@needs_cli
def test_quick_run_writes_verified_results(tiny_corpus: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    rc = main([str(tiny_corpus), "--quick", "--out", str(out),
               "--only", "gzip -9,zstd -3 -T0,nzarc zstd -l 3"])
    doc = json.loads((out / "results.json").read_text())
    rows = doc["measurements"]
    failures = [(m["tool"], m["file"], m["error"]) for m in rows if not m["ok"]]
    assert rc == 0, failures
    assert {m["tool"] for m in rows} == {"gzip -9", "zstd -3 -T0", "nzarc zstd -l 3"}
    assert {m["file"] for m in rows} == {"text/tale.txt", "bin/noise.bin"}
    for m in rows:
        assert m["ok"] and m["comp_bytes"] > 0 and m["comp_s"] > 0 and m["decomp_s"] > 0
        assert m["comp_rss_kib"] and m["comp_rss_kib"] > 0
    by = {(m["tool"], m["file"]): m for m in rows}
    assert by[("gzip -9", "text/tale.txt")]["comp_bytes"] < len(TEXT) // 10
    assert by[("zstd -3 -T0", "bin/noise.bin")]["comp_bytes"] >= 6000
    totals = {a["tool"]: a for a in doc["aggregates"] if a["group"] == ALL}
    assert totals["zstd -3 -T0"]["vs zstd -3 -T0"] == pytest.approx(1.0)
    assert doc["published"] and all(p["published"] for p in doc["published"])
    md = (out / "RESULTS.md").read_text()
    assert "published, not measured here" in md
    assert "`gzip -9`" in md and "`nzarc zstd -l 3`" in md
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        return
    assert (out / "plot.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@needs_cli
def test_measure_detects_wrong_restore(tiny_corpus: Path, tmp_path: Path) -> None:
    liar = Tool(name="liar", family="external", kind="stream",
                compress="gzip -c < {src} > {arc}", decompress="printf x > {out}")
    inp = discover(tiny_corpus)[0]
    m = measure(liar, inp, "quick", tmp_path / "w", timeout=60)
    assert not m.ok and "differ" in m.error
    broken = Tool(name="broken", family="external", kind="stream",
                  compress="exit 3", decompress="true")
    m = measure(broken, inp, "quick", tmp_path / "w", timeout=60)
    assert not m.ok and m.error.startswith("compress exit 3")


def test_bad_corpus_is_a_usage_error(tiny_corpus: Path, tmp_path: Path) -> None:
    assert main([str(tmp_path / "missing"), "--out", str(tmp_path / "o")]) == 2
    assert main([str(tiny_corpus), "--files", "no/such*", "--out", str(tmp_path / "o")]) == 2
    assert not (tmp_path / "o").exists()


def test_discover_groups_and_text_heuristic(tiny_corpus: Path) -> None:
    files = discover(tiny_corpus)
    assert [(f.rel, f.group) for f in files] == [("bin/noise.bin", "bin"),
                                                 ("text/tale.txt", "text")]
    assert is_text(tiny_corpus / "text" / "tale.txt")
    assert not is_text(tiny_corpus / "bin" / "noise.bin")


def _row(tool: str, file: str, comp: int, raw: int = 1000, group: str = "g") -> dict:
    return {"suite": "corpus", "tool": tool, "family": "external", "file": file,
            "group": group, "raw_bytes": raw, "comp_bytes": comp, "comp_s": 0.5,
            "decomp_s": 0.25, "comp_rss_kib": 2048, "decomp_rss_kib": 1024, "ok": True,
            "error": ""}


def test_aggregate_pairs_ratios_file_by_file() -> None:
    rows = [_row("zstd -19", "a", 100), _row("zstd -19", "b", 400),
            _row("x", "a", 50), _row("x", "b", 800), _row("x", "c", 10)]
    rows.append({**_row("x", "d", 1), "ok": False, "comp_bytes": None})
    aggs = {(a["tool"], a["group"]): a for a in aggregate(rows)}
    x = aggs[("x", ALL)]
    # pair by pair over a and b only: sqrt(0.5 * 2.0) = 1.0, not (50+800)/(100+400)
    assert x["vs zstd -19"] == pytest.approx(1.0)
    assert x["files"] == 3 and x["failed"] == 1
    assert x["bpb"] == pytest.approx(8 * 860 / 3000)
    assert x["comp_mbps"] == pytest.approx(3000 / 1.5 / 1e6)
    assert x["comp_rss_mib"] == pytest.approx(2.0)
    assert aggs[("zstd -19", ALL)]["vs zstd -3 -T0"] is None


def test_parse_size() -> None:
    assert parse_size("256M") == 256 << 20
    assert parse_size("2G") == 2 << 30
    assert parse_size("64k") == 64 << 10
    assert parse_size("1000") == 1000
    with pytest.raises(Exception, match="not a size"):
        parse_size("lots")


def test_summarize_collapsed_profile() -> None:
    proc = 'process 7:"python nzarc create"'
    text = (f"{proc};thread (7): MainThread;main (cli.py:1);read (w.py:2) 30\n"
            f"{proc};thread (7): MainThread;main (cli.py:1) 10\n"
            f"{proc};thread (9): nzarc_0;run (t.py:3);encode (zstd.py:68) 60\n")
    s = summarize_collapsed(text, wall_s=1.0, rate=100)
    assert s["samples"] == 100
    assert s["self"][0] == ("encode (zstd.py:68)", 0.6)
    assert dict(s["inclusive"])["main (cli.py:1)"] == pytest.approx(0.4)
    assert dict(s["threads"]) == {"nzarc_0": pytest.approx(0.6), "MainThread": pytest.approx(0.4)}
    assert s["busy"] == {"MainThread": pytest.approx(0.4), "nzarc_0": pytest.approx(0.6)}
    assert s["per_thread_self"]["MainThread"][0] == ("read (w.py:2)", 0.75)


def test_published_figures_are_consistent() -> None:
    for p in PUBLISHED:
        assert p.source.startswith("https://")
        if p.comp_bytes is not None:
            assert math.isclose(p.bpb, 8 * p.comp_bytes / p.raw_bytes, abs_tol=5e-4)
    ts = {p.file: p.bpb for p in PUBLISHED if p.tool == "ts_zip"}
    assert ts["alice29.txt"] == pytest.approx(1.142) and ts["book1"] == pytest.approx(1.431)


def test_slow_settings_run_on_the_text_sample(tiny_corpus: Path, tmp_path: Path) -> None:
    from bench.nzarc_runner import NzarcSetup
    from bench.run import RunOptions, _suites

    with_model = NzarcSetup("nzarc", ("nzarc.zstd",), "ppmd.ppmd", True, ())
    tools = {t.name: t for t in with_model.tools()}
    assert tools["nzarc neural"].slow and tools["nzarc auto"].slow
    assert not tools["nzarc zstd -l 19"].slow and "-c ppmd.ppmd" in tools["nzarc ppmd"].compress
    without = {t.name: t for t in NzarcSetup("nzarc", (), None, False, ()).tools()}
    assert "nzarc neural" not in without and not without["nzarc auto"].slow

    files = discover(tiny_corpus)
    opts = RunOptions(tiny_corpus, sample_bytes=1024)
    suites = {name: (a, b) for name, a, b in _suites(opts, files, list(tools.values()), tmp_path)}
    assert suites["corpus"] == (files, [])
    sample, slow = suites["sample"]
    assert sample == slow and [f.rel for f in sample] == ["text/tale.txt[:1k]"]
    assert sample[0].size == 1024 and sample[0].path.read_bytes() == TEXT[:1024]
    full = {name: b for name, _a, b in
            _suites(RunOptions(tiny_corpus, full=True), files, list(tools.values()), tmp_path)}
    assert set(full) == {"corpus"} and full["corpus"] == files
