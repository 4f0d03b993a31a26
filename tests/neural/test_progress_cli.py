"""``--progress`` on a stderr that is not a terminal: periodic newline-terminated lines while
the (tiny, seeded) model works, and nothing without it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from nzarc.neural.store import file_sha256

REPO = Path(__file__).resolve().parents[2]
TEXT = b"the quick brown fox jumps over the lazy dog. " * 200


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory, tiny) -> Path:
    """An NZARC_HOME whose store holds the tiny model under the default model's name."""
    from nzarc.neural.tiny import build_tiny_model

    root = tmp_path_factory.mktemp("home")
    models = root / "models"
    models.mkdir()
    tmp = build_tiny_model(0, models / "tiny.nzm")
    sha = file_sha256(tmp)
    assert sha == tiny.weights_sha256
    tmp.rename(models / f"{sha}.nzm")
    meta = {"name": "smollm2-135m", "tokenizer_sha256": tiny.tokenizer_sha256,
            "runtime_id": "nzarc-int-v1", "source_sha256": "0" * 64}
    (models / f"{sha}.json").write_text(json.dumps(meta))
    return root


def run(home: Path, *args: str | Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("NZARC_")}
    env["NZARC_HOME"] = str(home)
    env["PYTHONPATH"] = str(REPO / "src") + os.pathsep + env.get("PYTHONPATH", "")
    return subprocess.run(  # stderr is a pipe, not a terminal
        [sys.executable, "-m", "nzarc", *map(str, args)], env=env, capture_output=True,
        text=True, timeout=300, stdin=subprocess.DEVNULL, start_new_session=True,
    )


def progress_lines(stderr: str) -> list[str]:
    return [ln for ln in stderr.splitlines() if "B/s" in ln]


def test_progress_prints_periodic_lines_off_a_terminal(home: Path, tmp_path: Path) -> None:
    src = tmp_path / "in.txt"
    src.write_bytes(TEXT)
    archive = tmp_path / "a.nzarc"
    done = run(home, "create", "--no-encrypt", "-c", "neural", "--window", "64",
               "--progress-interval", "0.001", "-o", archive, src)
    assert done.returncode == 0, done.stderr
    assert "\r" not in done.stderr and done.stderr.endswith("\n")
    lines = progress_lines(done.stderr)
    assert len(lines) >= 3, done.stderr  # several while the model works, and the last one
    model = [ln for ln in lines if "model " in ln and " tok" in ln]
    assert model, done.stderr
    assert any("%" in ln and " 0%" not in ln and "100%" not in ln for ln in model), done.stderr
    assert "100%" in lines[-1], done.stderr

    out = tmp_path / "out"
    done = run(home, "extract", "-q", "--progress", "-C", out, archive)  # wins over -q
    assert done.returncode == 0, done.stderr
    assert (out / "in.txt").read_bytes() == TEXT
    assert "\r" not in done.stderr
    assert progress_lines(done.stderr) and "100%" in progress_lines(done.stderr)[-1], done.stderr

    out = tmp_path / "out2"
    done = run(home, "extract", "-C", out, archive)  # no --progress: no progress off a terminal
    assert done.returncode == 0, done.stderr
    assert progress_lines(done.stderr) == [], done.stderr
