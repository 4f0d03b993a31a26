"""nzarc.neural with the real SmolLM2 model: an archive made here extracts identically elsewhere.

Skipped unless the model is installed in ``$NZARC_HOME`` (``nzarc model install smollm2-135m``).
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from nzarc.testing import text_sample

REPO = Path(__file__).resolve().parents[2]

pytestmark = [pytest.mark.realmodel, pytest.mark.slow]


def _nzarc(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    env = dict(env)
    env["PYTHONPATH"] = str(REPO / "src") + os.pathsep + env.get("PYTHONPATH", "")
    return subprocess.run(
        [sys.executable, "-m", "nzarc", *args], env=env, capture_output=True, text=True, timeout=3600
    )


def test_64k_text_extracts_identically_in_a_fresh_avx2_single_thread_process(
    real_model, tmp_path: Path
) -> None:
    # The acceptance size is 64 KiB: .ci/run sets NZARC_REALMODEL_SAMPLE_KB=64, with
    # NZARC_REALMODEL_WINDOW=2048 to halve the single-thread decoding time. A bare `pytest`
    # run uses 2 KiB at the default window, which takes seconds on a 2-core CPU.
    data = text_sample(int(os.environ.get("NZARC_REALMODEL_SAMPLE_KB", "2")) * 1024, seed=64)
    src = tmp_path / "sample.txt"
    src.write_bytes(data)
    archive = tmp_path / "sample.nzarc"
    window = os.environ.get("NZARC_REALMODEL_WINDOW")
    create = ["create", "-q", "--no-encrypt", "-c", "neural", "-o", str(archive), str(src)]
    if window:
        create[1:1] = ["--window", window]
    made = _nzarc(create, dict(os.environ))
    assert made.returncode == 0, made.stderr[-2000:]
    info = _nzarc(["info", "--json", str(archive)], dict(os.environ))
    assert info.returncode == 0, info.stderr[-2000:]
    assert json.loads(info.stdout)["chunks_per_codec"] == {"nzarc.neural": 1}
    assert archive.stat().st_size < len(data)

    env = dict(os.environ, ONEDNN_MAX_CPU_ISA="AVX2", ATEN_CPU_CAPABILITY="avx2", OMP_NUM_THREADS="1")
    out = tmp_path / "out"
    out.mkdir()
    done = _nzarc(["extract", "-q", "-C", str(out), str(archive)], env)
    assert done.returncode == 0, done.stderr[-2000:]
    (extracted,) = [p for p in out.rglob("*") if p.is_file()]
    assert hashlib.sha256(extracted.read_bytes()).digest() == hashlib.sha256(data).digest()


def test_default_window_round_trip_in_process(real_model, tmp_path: Path) -> None:
    """The default window (4096) with the real model, through the API, a few KiB."""
    import io

    import nzarc
    from nzarc.neural.codec import (
        DEFAULT_ACT_LEVELS,
        DEFAULT_LANES,
        DEFAULT_RUNTIME,
        DEFAULT_VERSION,
        DEFAULT_WINDOW,
    )

    data = text_sample(4096, seed=7)
    src = tmp_path / "t.txt"
    src.write_bytes(data)
    out = io.BytesIO()
    stats = nzarc.create(out, [src], encrypt=False, codec="neural")
    assert stats.chunks_per_codec == {"nzarc.neural": 1}
    with nzarc.open(io.BytesIO(out.getvalue())) as r:
        info = r.header_info()
        (neural,) = [c for c in info.codecs if c["id"] == "nzarc.neural"]
        assert neural["params"] == {
            "window": DEFAULT_WINDOW,
            "act_levels": DEFAULT_ACT_LEVELS,
            "version": DEFAULT_VERSION,
            "lanes": DEFAULT_LANES,
        } | ({} if DEFAULT_RUNTIME == 1 else {"runtime": DEFAULT_RUNTIME})
        got = [md.read() for md in r.iter_members()]  # read each member as it comes
    assert got == [data]
