"""Under a low memory limit (``ulimit -v``) the neural codec fails with one nzarc error line
naming memory, before torch/numba are loaded, and leaves nothing behind; the decode policy's
``--codecs`` refuses a neural archive on the command line before any model work."""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
from pathlib import Path

import pytest

from nzarc.errors import ResourceError
from nzarc.neural import resources
from nzarc.neural.store import file_sha256

REPO = Path(__file__).resolve().parents[2]
LIMIT = 1 << 30
TEXT = b"the quick brown fox jumps over the lazy dog. " * 40


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


def _limit() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (LIMIT, resource.getrlimit(resource.RLIMIT_AS)[1]))


def run(home: Path, *args: str | Path, limited: bool = False) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("NZARC_")}
    env["NZARC_HOME"] = str(home)
    env["PYTHONPATH"] = str(REPO / "src") + os.pathsep + env.get("PYTHONPATH", "")
    return subprocess.run(
        [sys.executable, "-m", "nzarc", *map(str, args)], env=env, capture_output=True,
        text=True, timeout=300, stdin=subprocess.DEVNULL, start_new_session=True,
        preexec_fn=_limit if limited else None,
    )


def assert_memory_error(done: subprocess.CompletedProcess[str]) -> None:
    lines = done.stderr.splitlines()
    assert done.returncode == 1, done.stderr
    assert "Traceback" not in done.stderr and 1 <= len(lines) <= 2, done.stderr
    assert lines[0].startswith("nzarc: error: ") and "memory" in lines[0], done.stderr
    assert "1024 MiB" in lines[0], done.stderr
    assert all(ln.startswith("hint: ") for ln in lines[1:]), done.stderr


@pytest.mark.parametrize("codec", ["auto", "neural"])
def test_create_under_a_low_limit(home: Path, tmp_path: Path, codec: str) -> None:
    src = tmp_path / "in.txt"
    src.write_bytes(TEXT)
    out = tmp_path / "out"
    out.mkdir()
    done = run(home, "create", "--no-encrypt", "-c", codec, "--window", "64", "-o",
               out / "a.nzarc", src, limited=True)
    assert_memory_error(done)
    assert list(out.iterdir()) == []  # no archive, no temporary file


@pytest.fixture(scope="module")
def neural_archive(home: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("arc")
    (d / "in.txt").write_bytes(b"the " * 64)  # the tiny model shrinks this (~150 bytes)
    arc = d / "n.nzarc"
    done = run(home, "create", "--no-encrypt", "-c", "neural", "--window", "64", "-o", arc,
               d / "in.txt")
    assert done.returncode == 0, done.stderr
    info = run(home, "info", "--json", arc)
    assert json.loads(info.stdout)["chunks_per_codec"] == {"nzarc.neural": 1}, info.stdout
    return arc


def test_extract_under_a_low_limit(home: Path, neural_archive: Path, tmp_path: Path) -> None:
    out = tmp_path / "x"
    out.mkdir()
    assert_memory_error(run(home, "extract", "-C", out, neural_archive, limited=True))
    assert list(out.iterdir()) == []


@pytest.mark.parametrize("command", ["extract", "test", "list"])
def test_codecs_refuse_a_neural_archive(
    home: Path, neural_archive: Path, tmp_path: Path, command: str
) -> None:
    out = tmp_path / "x"
    out.mkdir()
    extra = ["-C", str(out)] if command == "extract" else []
    # under the low limit too: refused before the runtime is loaded, so not a memory error
    done = run(home, command, neural_archive, *extra, "--codecs", "zstd", limited=True)
    assert done.returncode == 1 and "Traceback" not in done.stderr, done.stderr
    assert done.stderr.splitlines() == [
        "nzarc: error: the archive needs codec nzarc.neural, which is not allowed here "
        "(allowed: nzarc.store, nzarc.zstd)",
        "hint: if the archive is trusted, allow it too (--codecs neural,store,zstd)",
    ]
    assert list(out.iterdir()) == []
    ok = run(home, command, neural_archive, *extra, "--codecs", "neural")
    assert ok.returncode == 0, ok.stderr


def test_check_runtime_memory(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    model = tmp_path / "m.nzm"
    model.write_bytes(b"\0" * 1000)
    need = resources.runtime_need(1000)
    monkeypatch.setattr(resources, "address_limit", lambda: need)
    resources.check_runtime_memory(model)  # exactly enough
    monkeypatch.setattr(resources, "address_limit", lambda: need - 1)
    with pytest.raises(ResourceError, match=r"needs about \d+ MiB of address space, the process "
                       r"limit is \d+ MiB") as info:
        resources.check_runtime_memory(model)
    assert info.value.hint and "ulimit -v" in info.value.hint
    monkeypatch.setattr(resources, "address_limit", lambda: None)
    resources.check_runtime_memory(model)
    assert resources.memory_failure("torch", OSError("x")) is None
    assert isinstance(resources.memory_failure("torch", MemoryError()), ResourceError)


def test_address_limit_reads_rlimit_as() -> None:
    code = ("import resource; from nzarc.neural.resources import address_limit; "
            "resource.setrlimit(resource.RLIMIT_AS, (1 << 40, resource.RLIM_INFINITY)); "
            "print(address_limit())")
    env = dict(os.environ, PYTHONPATH=str(REPO / "src"))
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env,
                          timeout=60)
    assert done.stdout.strip() == str(1 << 40), done.stderr


def test_fused_kernels_that_cannot_load_under_a_limit(monkeypatch: pytest.MonkeyPatch) -> None:
    from nzarc.neural.runtime import RuntimeOptions
    from nzarc.neural.runtime.backend import fused_kernels

    class Fail:
        def find_spec(self, name: str, path: object, target: object = None) -> None:
            if name == "nzarc.neural.cpu_kernels":
                raise OSError("Could not find/load shared object file 'libllvmlite.so'")

    import nzarc.neural

    monkeypatch.delitem(sys.modules, "nzarc.neural.cpu_kernels", raising=False)
    # once imported, the module is also an attribute of its package, which an import finds first
    monkeypatch.delattr(nzarc.neural, "cpu_kernels", raising=False)
    monkeypatch.setattr(sys, "meta_path", [Fail(), *sys.meta_path])
    monkeypatch.setattr(resources, "address_limit", lambda: LIMIT)
    with pytest.raises(ResourceError, match=r"not enough memory to load the fused CPU kernels "
                       r"\(numba\) \(the process limit is 1024 MiB\): OSError"):
        fused_kernels(RuntimeOptions())
