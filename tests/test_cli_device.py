"""``--device`` and ``-j`` of the commands that run codecs: the device travels as a
:class:`~nzarc.codecs.context.CodecContext` into the library, a missing CUDA device is a
usage error before any work or prompt, and ``extract``/``test`` take decoding threads."""

from __future__ import annotations

import filecmp
import os
from pathlib import Path
from typing import Any

import pytest

import nzarc.reader
import nzarc.writer
from nzarc.cli import common, main
from nzarc.codecs.context import CodecContext

DATA = {"a.txt": b"the same bytes on every device\n" * 400, "b/c.bin": bytes(range(256)) * 64}


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    root = tmp_path / "in"
    for name, data in DATA.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_bytes(data)
    return root


@pytest.fixture
def archive(tmp_path: Path, tree: Path) -> Path:
    out = tmp_path / "a.nzarc"
    assert main(["create", "-q", "--no-encrypt", "-c", "zstd", "--chunk-size", "4k", "-o", str(out), str(tree)]) == 0
    return out


def _no_cuda(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(common, "cuda_available", lambda: False)
    monkeypatch.delenv("NZARC_PASSPHRASE", raising=False)


def _one_error_line(err: str) -> None:
    lines = err.splitlines()
    assert lines[0].startswith("nzarc: error: --device cuda: no CUDA device is available")
    assert len(lines) == 2 and lines[1].startswith("hint: ") and "--device" in lines[1]


def test_create_on_a_missing_cuda_device_is_a_usage_error(
    tmp_path: Path, tree: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    _no_cuda(monkeypatch)
    out = tmp_path / "gpu.nzarc"
    # an encrypted archive without a key source: the device error comes before any prompt
    assert main(["create", "--device", "cuda", "-o", str(out), str(tree)]) == 2
    _one_error_line(capsys.readouterr().err)
    assert not out.exists() and not list(tmp_path.glob("*.tmp*"))


@pytest.mark.parametrize("command", ["extract", "test"])
def test_reading_on_a_missing_cuda_device_is_a_usage_error(
    command: str, archive: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    _no_cuda(monkeypatch)
    opened: list[Any] = []
    monkeypatch.setattr(nzarc.reader.ArchiveReader, "__init__", lambda *a, **k: opened.append(a))
    extra = ["-C", str(tmp_path / "out")] if command == "extract" else []
    assert main([command, "--device", "cuda", str(archive), *extra]) == 2
    _one_error_line(capsys.readouterr().err)
    assert opened == [] and not (tmp_path / "out").exists()


def test_the_context_comes_from_the_options_and_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    import argparse

    monkeypatch.setattr(common, "cuda_available", lambda: True)
    monkeypatch.setenv("NZARC_KERNELS", "torch")
    monkeypatch.setenv("NZARC_NEURAL_MEMORY", "12345")
    monkeypatch.delenv("NZARC_MATMUL", raising=False)
    got = common.codec_context(argparse.Namespace(device="cuda"))
    assert got == CodecContext(device="cuda", kernels="torch", decode_memory=12345)
    assert common.codec_context(argparse.Namespace()).device == "cpu"
    monkeypatch.setenv("NZARC_KERNELS", "fused")  # CPU code: not with cuda
    with pytest.raises(common.UsageError, match="CPU only"):
        common.codec_context(argparse.Namespace(device="cuda"))


def test_create_and_extract_hand_the_context_to_the_library(
    tmp_path: Path, tree: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The device reaches the writer's codec plan and the reader's decoders; codecs that
    take no context (zstd) are built as without one, so the archive is the CPU's."""
    monkeypatch.setattr(common, "cuda_available", lambda: True)
    for var in ("NZARC_KERNELS", "NZARC_MATMUL", "NZARC_NEURAL_MEMORY"):
        monkeypatch.delenv(var, raising=False)
    seen: list[Any] = []
    plan = nzarc.writer.plan_codecs
    build = nzarc.reader.build_decoders
    monkeypatch.setattr(nzarc.writer, "plan_codecs", lambda *a: seen.append(("plan", a[-1])) or plan(*a))
    monkeypatch.setattr(nzarc.reader, "build_decoders", lambda *a: seen.append(("build", a[-1])) or build(*a))
    cpu, gpu = tmp_path / "cpu.nzarc", tmp_path / "gpu.nzarc"
    base = ["create", "-q", "--no-encrypt", "-c", "zstd"]
    assert main([*base, "-o", str(cpu), str(tree)]) == 0
    assert main([*base, "--device", "cuda", "-o", str(gpu), str(tree)]) == 0
    assert cpu.read_bytes() == gpu.read_bytes()
    assert main(["extract", "-q", "--device", "cuda", str(gpu), "-C", str(tmp_path / "x")]) == 0
    assert seen == [("plan", CodecContext()), ("plan", CodecContext(device="cuda")),
                    ("build", CodecContext(device="cuda"))]  # fmt: skip
    assert (tmp_path / "x" / "in" / "a.txt").read_bytes() == DATA["a.txt"]


def _same_tree(a: Path, b: Path) -> bool:
    cmp = filecmp.dircmp(a, b)
    if cmp.left_only or cmp.right_only or cmp.diff_files or cmp.funny_files:
        return False
    return all(_same_tree(a / d, b / d) for d in cmp.common_dirs)


def test_extract_and_test_take_decoding_jobs(
    archive: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    jobs: list[int] = []
    make = nzarc.reader.make_executor
    monkeypatch.setattr(nzarc.reader, "make_executor", lambda n: jobs.append(n) or make(n))
    one, two = tmp_path / "j1", tmp_path / "j2"
    assert main(["extract", "-q", "-j", "1", str(archive), "-C", str(one)]) == 0
    assert main(["extract", "-q", "--jobs", "2", str(archive), "-C", str(two)]) == 0
    assert main(["test", "-q", "-j", "3", str(archive)]) == 0
    assert jobs == [1, 2, 3]
    assert _same_tree(one, two) and (two / "in" / "b" / "c.bin").read_bytes() == DATA["b/c.bin"]
    assert sorted(os.listdir(one / "in")) == ["a.txt", "b"]


@pytest.mark.parametrize("command", ["extract", "test"])
def test_decoding_jobs_must_be_positive(command: str, archive: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main([command, "-j", "0", str(archive)]) == 2
    assert capsys.readouterr().err.startswith("nzarc: error: argument -j/--jobs: must be at least 1")
