"""The throughput benchmark: every encryption setting is timed, labelled and compared."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from bench.throughput import MODES, _paired_ratios, _ratios, main, render_markdown

BEST = {
    "tar|zstd create": 1.0,
    "nzarc create plain": 1.2,
    "nzarc create x25519": 1.25,
    "nzarc create passphrase": 1.5,
    "zstd|tar extract": 0.5,
    "nzarc extract plain": 0.6,
    "nzarc extract x25519": 0.8,
    "nzarc extract passphrase": None,  # a failed step
}


def test_ratios_per_encryption_setting() -> None:
    r = _ratios(BEST, 100_000_000)
    assert r["create_plain_vs_base"] == pytest.approx(1 / 1.2)
    assert r["create_x25519_vs_base"] == pytest.approx(0.8)
    assert r["create_passphrase_vs_base"] == pytest.approx(1 / 1.5)
    assert r["create_x25519_overhead"] == pytest.approx(1.25 / 1.2 - 1)
    assert r["create_passphrase_overhead"] == pytest.approx(0.25)
    assert r["extract_x25519_overhead"] == pytest.approx(1 / 3)
    assert r["extract_passphrase_vs_base"] is None
    assert r["extract_passphrase_overhead"] is None
    met = r["targets_met"]
    assert met["create x25519 >= 0.8x"] and met["create plain >= 0.8x"]
    assert not met["create passphrase >= 0.8x"]
    assert met["create x25519 encryption <= +10%"]
    assert not met["create passphrase encryption <= +10%"]
    assert not met["extract passphrase >= 0.8x"]  # a failed step never meets a target
    assert r["mbps"]["tar|zstd create"] == pytest.approx(100.0)


def test_paired_ratios_use_each_round_then_the_median() -> None:
    def rows(*secs: float) -> list[dict[str, object]]:
        return [{"s": x, "rc": 0} for x in secs]

    runs = {k: rows(2.0, 2.0, 2.0) for k in BEST}
    runs["tar|zstd create"] = rows(1.0, 0.5, 1.0)  # round 2: the baseline ran while idle
    runs["nzarc create plain"] = rows(1.25, 1.25, 1.0)
    runs["nzarc extract passphrase"] = [{"s": 9.0, "rc": 1}] * 3  # failed every time
    r = _paired_ratios(runs)
    assert r["create_plain_vs_base"] == pytest.approx(0.8)  # median of 0.8, 0.4, 1.0
    assert r["create_x25519_overhead"] == pytest.approx(2.0 / 1.25 - 1)
    assert r["extract_plain_vs_base"] == pytest.approx(1.0)
    assert r["extract_passphrase_vs_base"] is None and r["extract_passphrase_overhead"] is None


def test_markdown_names_each_setting() -> None:
    rec = {
        "size_bytes": 1 << 20, "files": 3, "repeat": 1, "date_utc": "2026-01-01 00:00:00",
        "cpus": 2, "loadavg_after": [0.0, 0.0, 0.0], "bytes_by_kind": {}, "workdir": "/w",
        "nzarc_command": "nz", "encryption_modes": MODES,
        "commands": {k: f"nz {k}" for k in BEST}, "best_s": BEST,
        "min_cpu_s": {}, "verified": {}, "archive_bytes": {}, "ratios": _ratios(BEST, 1 << 20),
        "paired_ratios": {"create_plain_vs_base": 0.91},
    }
    text = "\n".join(render_markdown(rec))
    assert "| ratio | plain | X25519 recipient | passphrase | target | met |" in text
    assert "X25519 yes, passphrase no" in text
    for mode, meaning in MODES.items():
        assert f"**{mode}**: {meaning}" in text
    assert "Argon2id t=3, 64 MiB, p=4" in text
    assert "| median of per-round ratios (create / extract) | 0.91 / –" in text


@pytest.mark.skipif(shutil.which("zstd") is None or shutil.which("tar") is None,
                    reason="the zstd and tar command-line tools are required")
def test_small_run_times_and_verifies_every_setting(tmp_path: Path) -> None:
    out = tmp_path / "out"
    assert main(["--size", "1M", "--repeat", "1", "--workdir", str(tmp_path / "w"),
                 "--out", str(out)]) == 0
    rec = json.loads((out / "throughput.json").read_text())
    assert set(rec["encryption_modes"]) == {"plain", "x25519", "passphrase"}
    for phase in ("create", "extract"):
        for mode in MODES:
            assert rec["best_s"][f"nzarc {phase} {mode}"] > 0
    assert all(rec["verified"].values()) and len(rec["verified"]) == 4
    assert " -r age1" in rec["commands"]["nzarc create x25519"]
    assert " -i " in rec["commands"]["nzarc extract x25519"]
