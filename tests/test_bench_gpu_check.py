"""bench/gpu_check.sh: it stops at once, with exit 2 and one clear line, where it cannot run
(no CUDA device, no model), and its checks pass on the CPU with the tiny model (the fused
kernels against the torch path: the comparison it makes between the CPU and a GPU)."""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SCRIPT = REPO / "bench" / "gpu_check.sh"


def _run(tmp_path: Path, **env: str) -> subprocess.CompletedProcess[str]:
    full = {k: v for k, v in os.environ.items() if not k.startswith(("NZARC_", "GPU_CHECK_"))}
    full.update({"NZARC_HOME": str(tmp_path / "empty-home"), "TMPDIR": str(tmp_path)}, **env)
    return subprocess.run(["bash", str(SCRIPT)], cwd=REPO, env=full, capture_output=True, text=True,
                          timeout=600)  # fmt: skip


def test_without_cuda_it_fails_fast_and_clearly(tmp_path: Path) -> None:
    start = time.monotonic()
    r = _run(tmp_path, CUDA_VISIBLE_DEVICES="")
    assert r.returncode == 2, r.stderr
    assert r.stderr.strip().splitlines()[-1].startswith("gpu_check: error: no CUDA device")
    assert "summary" not in r.stdout and time.monotonic() - start < 60


def test_without_the_model_it_fails_fast_and_clearly(tmp_path: Path) -> None:
    r = _run(tmp_path, GPU_CHECK_DEVICE="cpu")
    assert r.returncode == 2, r.stderr
    last = r.stderr.strip().splitlines()[-1]
    assert last.startswith("gpu_check: error: model smollm2-135m is not installed under")
    assert str(tmp_path / "empty-home") in last and "summary" not in r.stdout


def test_a_bad_device_is_refused(tmp_path: Path) -> None:
    r = _run(tmp_path, GPU_CHECK_DEVICE="tpu")
    assert r.returncode == 2 and "GPU_CHECK_DEVICE must be cpu or cuda" in r.stderr


def test_its_cpu_checks_pass_with_the_tiny_model(tmp_path: Path) -> None:
    r = _run(tmp_path, GPU_CHECK_DEVICE="cpu", GPU_CHECK_TINY="1", GPU_CHECK_BYTES="6000",
             GPU_CHECK_WINDOW="64", GPU_CHECK_JOBS="3")  # fmt: skip
    assert r.returncode == 0, r.stdout + r.stderr
    out = r.stdout
    for what in ("archive created on cpu == archive created on cpu (torch path)",
                 "neural codec output on cpu == on cpu (torch path)",
                 "create -j 1 == create -j 3", "decode one window per batch == default batches"):  # fmt: skip
        assert f"gpu_check: ok: {what}" in out, out
    summary = out[out.index("gpu_check summary") :].splitlines()
    rates = [line for line in summary if line.endswith("kB/s")]
    assert len(rates) == 4 and summary[-1].startswith("PASS: identical bytes")
    assert not list(tmp_path.glob("nzarc-gpu-check.*"))  # its work directory is removed
