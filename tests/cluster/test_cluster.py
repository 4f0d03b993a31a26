"""Codec work on a real Dask cluster (two worker processes, the tiny seeded model): round
trips, archives identical to the local path, bounded in-flight tasks and the fault cases."""

from __future__ import annotations

import io
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cluster_helpers import run_cli

import nzarc
from nzarc.cluster.client import connect
from nzarc.cluster.options import ClusterOptions
from nzarc.codecs.context import CodecContext
from nzarc.crypto.recipients import Argon2Params
from nzarc.errors import ClusterError
from nzarc.events import ProgressEvent
from nzarc.reader import ArchiveReader

PROSE = b"the " * 800  # the tiny model shrinks it: neural chunks of 64-token windows
FAST_KDF = Argon2Params(t=1, m_kib=8, p=1)


def _tree(root: Path) -> Path:
    src = root / "t"
    (src / "sub").mkdir(parents=True)
    (src / "a.txt").write_bytes(PROSE)
    (src / "sub" / "b.txt").write_bytes(b"".join(b"the line %d\n" % i for i in range(200)))
    (src / "sub" / "c.bin").write_bytes(bytes(range(256)) * 8)
    for p in [src / "sub" / "c.bin", src / "sub" / "b.txt", src / "a.txt", src / "sub", src]:
        os.utime(p, ns=(1_600_000_000_000_000_000,) * 2)
    return src


@pytest.fixture(scope="module")
def store_env(tiny_home: Path) -> Iterator[None]:
    """This process's model store (the client tokenizes) is the tiny model's."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("NZARC_HOME", str(tiny_home))
        yield


@pytest.fixture
def runner(cluster: Any, store_env: None) -> Iterator[Any]:
    with connect(ClusterOptions(cluster.scheduler_address, timeout=20)) as r:
        yield r


def _create(src: Path, context: CodecContext | None = None, **kw: Any) -> bytes:
    out = io.BytesIO()
    nzarc.create(out, [src], codec_context=context, **kw)
    return out.getvalue()


def _contents(data: bytes, context: CodecContext | None = None, **kw: Any) -> dict[str, bytes]:
    with ArchiveReader(io.BytesIO(data), codec_context=context, **kw) as r:
        return {d.member.name: d.read() for d in r.iter_members()}


# ----------------------------------------------------------------------------- the CLI


def test_cli_round_trip_and_identical_unencrypted_archives(
    cluster: Any, tiny_home: Path, tmp_path: Path
) -> None:
    src = _tree(tmp_path)
    address = cluster.scheduler_address
    for codec in ("zstd", "neural", "auto"):
        local, remote = tmp_path / f"{codec}-local.nzarc", tmp_path / f"{codec}-remote.nzarc"
        common = ["create", "--no-encrypt", "-c", codec, "--chunk-size", "4096"]
        if codec != "zstd":
            common += ["--window", "64"]
        done = run_cli(tiny_home, *common, "-o", local, src)
        assert done.returncode == 0, done.stderr
        done = run_cli(tiny_home, *common, "--scheduler", address, "-o", remote, src)
        assert done.returncode == 0, done.stderr
        assert remote.read_bytes() == local.read_bytes(), codec
    neural = tmp_path / "neural-remote.nzarc"
    info = json.loads(run_cli(tiny_home, "info", "--json", neural).stdout)
    assert info["chunks_per_codec"]["nzarc.neural"] >= 1, info
    out = tmp_path / "out"
    done = run_cli(tiny_home, "extract", "-C", out, neural, env={"NZARC_SCHEDULER": address})
    assert done.returncode == 0, done.stderr
    for f in ["a.txt", "sub/b.txt", "sub/c.bin"]:
        assert (out / "t" / f).read_bytes() == (src / f).read_bytes()
    done = run_cli(tiny_home, "test", "--scheduler", address, "--cluster-inflight", "1", neural)
    assert done.returncode == 0 and "OK:" in done.stdout, done.stderr


def test_cli_progress_line_shows_the_worker_count(
    cluster: Any, tiny_home: Path, tmp_path: Path
) -> None:
    src = tmp_path / "a.txt"
    src.write_bytes(PROSE)
    archive = tmp_path / "a.nzarc"
    done = run_cli(tiny_home, "create", "--no-encrypt", "-c", "neural", "--window", "64",
                   "--progress", "--progress-interval", "0", "--scheduler",
                   cluster.scheduler_address, "-o", archive, src)
    assert done.returncode == 0, done.stderr
    model = [ln for ln in done.stderr.splitlines() if "model " in ln and " tok" in ln]
    assert model, done.stderr
    assert model[-1].endswith(" 2 workers"), model[-1]
    done = run_cli(tiny_home, "create", "--no-encrypt", "-c", "neural", "--window", "64",
                   "--progress", "--progress-interval", "0", "-o", tmp_path / "b.nzarc", src)
    assert done.returncode == 0, done.stderr
    assert "worker" not in done.stderr, done.stderr  # in-process: no worker count


def test_cli_unreachable_scheduler_fails_in_bounded_time_and_leaves_nothing(
    tiny_home: Path, tmp_path: Path
) -> None:
    import socket

    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    src = _tree(tmp_path)
    arc = tmp_path / "a.nzarc"
    t0 = time.monotonic()
    done = run_cli(tiny_home, "create", "--no-encrypt", "-c", "neural", "--scheduler",
                   f"tcp://127.0.0.1:{port}", "--scheduler-timeout", "2", "-o", arc, src)
    elapsed = time.monotonic() - t0
    assert done.returncode == 1, done.stderr
    assert "nzarc: error: cannot reach the Dask scheduler" in done.stderr, done.stderr
    assert "Traceback" not in done.stderr
    assert elapsed < 30, elapsed
    assert not arc.exists() and sorted(p.name for p in tmp_path.iterdir()) == ["t"]


def test_cli_without_distributed_is_a_usage_error_with_the_install_hint(
    tiny_home: Path, tmp_path: Path
) -> None:
    src = _tree(tmp_path)
    code = ("import sys; sys.modules['distributed'] = None; from nzarc.cli import main; "
            "sys.exit(main(sys.argv[1:]))")
    env = {k: v for k, v in os.environ.items() if not k.startswith("NZARC_")}
    env.update(NZARC_HOME=str(tiny_home), PYTHONPATH=str(Path(nzarc.__file__).parents[1]))
    done = subprocess.run(
        [sys.executable, "-c", code, "create", "--no-encrypt", "--scheduler",
         "tcp://127.0.0.1:1", "-o", str(tmp_path / "a.nzarc"), str(src)],
        env=env, capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL,
    )
    assert done.returncode == 2, done.stderr
    assert "hint: pip install 'nzarc[dask]'" in done.stderr, done.stderr
    assert not (tmp_path / "a.nzarc").exists()


def test_the_local_path_never_imports_dask(tiny_home: Path, tmp_path: Path) -> None:
    src = _tree(tmp_path)
    code = ("import io, sys, nzarc; from nzarc.cli import main; "
            f"rc = main(['create', '--no-encrypt', '-c', 'auto', '--window', '64', '-o', "
            f"{str(tmp_path / 'a.nzarc')!r}, {str(src)!r}]); "
            "assert rc == 0, rc; "
            "bad = [m for m in ('dask', 'distributed') if m in sys.modules]; "
            "assert not bad, bad; print('clean')")
    env = {k: v for k, v in os.environ.items() if not k.startswith("NZARC_")}
    env.update(NZARC_HOME=str(tiny_home), PYTHONPATH=str(Path(nzarc.__file__).parents[1]))
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                          text=True, timeout=300, stdin=subprocess.DEVNULL)
    assert done.returncode == 0 and "clean" in done.stdout, done.stderr


# ----------------------------------------------------------------------------- the library


def test_encrypted_archives_hold_the_same_content_and_codec_choices(
    runner: Any, tmp_path: Path
) -> None:
    src = _tree(tmp_path)
    ctx = CodecContext(windows=runner)
    local = _create(src, passphrase="pw", argon2=FAST_KDF, codec="neural", window=64,
                    chunk_size=4096)
    remote = _create(src, ctx, passphrase="pw", argon2=FAST_KDF, codec="neural", window=64,
                     chunk_size=4096)
    assert local != remote  # key material and nonces differ
    infos = []
    for data in (local, remote):
        with ArchiveReader(io.BytesIO(data), passphrase="pw") as r:
            infos.append((r.info().chunks_per_codec, r.header.codecs))
    assert infos[0] == infos[1] and "nzarc.neural" in infos[0][0]
    assert _contents(remote, ctx, passphrase="pw") == _contents(local, passphrase="pw")


def test_runner_reports_each_result_with_the_worker_count(runner: Any, tmp_path: Path) -> None:
    src = tmp_path / "a.txt"
    src.write_bytes(PROSE * 2)
    events: list[ProgressEvent] = []
    lock = threading.Lock()

    def sink(event: ProgressEvent) -> None:
        with lock:
            events.append(event)

    ctx = CodecContext(windows=runner, progress=sink)
    data = _create(src, ctx, encrypt=False, codec="neural", window=64)
    assert _contents(data, ctx) == {"a.txt": src.read_bytes()}
    assert runner.workers == 2
    for direction in ("encode", "decode"):
        done = [e for e in events if e.kind == direction]
        planned = sum(e.tokens for e in events if e.kind == f"{direction}-planned")
        assert len(done) > 1 and {e.workers for e in done} == {2}, direction
        assert sum(e.tokens for e in done) == planned > 0, direction


def test_in_flight_tasks_stay_within_the_bound_on_a_stream_larger_than_it(
    cluster: Any, store_env: None, tmp_path: Path
) -> None:
    src = tmp_path / "big.txt"
    src.write_bytes(PROSE * 6)  # about a hundred 64-token windows, in several chunks
    local = _create(src, encrypt=False, codec="neural", window=64, chunk_size=4096)
    with connect(ClusterOptions(cluster.scheduler_address, inflight=3)) as runner:
        remote = _create(src, CodecContext(windows=runner), encrypt=False, codec="neural",
                         window=64, chunk_size=4096, jobs=2)
        assert runner.inflight == 3
        assert runner.max_outstanding == 3  # the bound was reached, never passed
        assert remote == local
        assert _contents(remote, CodecContext(windows=runner)) == {"big.txt": src.read_bytes()}


def test_bitstream_version_2_codes_its_lanes_on_the_workers_with_identical_bytes(
    runner: Any, tiny_home: Path, tmp_path: Path
) -> None:
    """Version 2's unit of work is a lane: lanes go to the workers (progress comes from the
    runner, with its worker count), and the archive is the local one byte for byte."""
    src = tmp_path / "a.txt"
    src.write_bytes(PROSE * 3 + b"".join(b"the line %d\n" % i for i in range(300)))
    events: list[ProgressEvent] = []
    lock = threading.Lock()

    def sink(event: ProgressEvent) -> None:
        with lock:
            events.append(event)

    v2 = {"codec": "neural", "codec_params": {"version": 2, "lanes": 3}, "window": 64,
          "chunk_size": 4096, "encrypt": False}
    local = _create(src, None, **v2)
    ctx = CodecContext(windows=runner, progress=sink)
    remote = _create(src, ctx, jobs=2, **v2)
    assert remote == local
    with ArchiveReader(io.BytesIO(remote)) as r:
        assert r.info().chunks_per_codec.get("nzarc.neural", 0) >= 2
    assert _contents(local, ctx) == {"a.txt": src.read_bytes()}
    for direction in ("encode", "decode"):
        done = [e for e in events if e.kind == direction]
        planned = sum(e.tokens for e in events if e.kind == f"{direction}-planned")
        assert len(done) > 1 and {e.workers for e in done} == {2}, direction
        assert sum(e.tokens for e in done) == planned > 0, direction


def test_cli_version_2_on_a_cluster_round_trips_and_matches_the_local_archive(
    cluster: Any, tiny_home: Path, tmp_path: Path
) -> None:
    src = _tree(tmp_path)
    address = cluster.scheduler_address
    local, remote = tmp_path / "local.nzarc", tmp_path / "remote.nzarc"
    common = ["create", "--no-encrypt", "-c", "neural", "-m", "version=2", "-m", "lanes=2",
              "--window", "64", "--chunk-size", "4096"]
    done = run_cli(tiny_home, *common, "-o", local, src)
    assert done.returncode == 0, done.stderr
    done = run_cli(tiny_home, *common, "--scheduler", address, "-o", remote, src)
    assert done.returncode == 0, done.stderr
    assert remote.read_bytes() == local.read_bytes()
    info = json.loads(run_cli(tiny_home, "info", "--json", remote).stdout)
    assert info["chunks_per_codec"]["nzarc.neural"] >= 1, info
    out = tmp_path / "out"
    done = run_cli(tiny_home, "extract", "--scheduler", address, "-C", out, remote)
    assert done.returncode == 0, done.stderr
    for f in ["a.txt", "sub/b.txt", "sub/c.bin"]:
        assert (out / "t" / f).read_bytes() == (src / f).read_bytes()


def test_a_worker_without_the_model_fails_before_any_chunk_naming_it(
    cluster: Any, store_env: None, tmp_path: Path
) -> None:
    src = tmp_path / "a.txt"
    src.write_bytes(PROSE)
    empty = tmp_path / "empty-home"
    empty.mkdir()
    options = ClusterOptions(cluster.scheduler_address, worker_home=str(empty))
    with connect(options) as runner:
        with pytest.raises(ClusterError) as info:
            _create(src, CodecContext(windows=runner), encrypt=False, codec="neural", window=64)
        addresses = set(runner._client.scheduler_info()["workers"])
    err = info.value
    assert any(f"worker {a}" in err.message for a in addresses), err.message
    assert "is not installed" in err.message
    assert err.hint is not None and "nzarc model install smollm2-135m" in err.hint


def test_a_worker_killed_during_create_leaves_the_archive_identical(
    cluster: Any, store_env: None, tmp_path: Path
) -> None:
    src = tmp_path / "big.txt"
    src.write_bytes(PROSE * 6)
    local = _create(src, encrypt=False, codec="neural", window=64)
    with connect(ClusterOptions(cluster.scheduler_address, inflight=2)) as runner:
        client = runner._client
        pids = client.run(os.getpid)
        victim = sorted(pids.values())[0]
        finished: list[int] = []

        def sink(event: ProgressEvent) -> None:
            if event.kind == "encode":
                finished.append(event.tokens)

        context = CodecContext(windows=runner, progress=sink)
        result: dict[str, bytes] = {}
        worker = threading.Thread(target=lambda: result.setdefault("a", _create(
            src, context, encrypt=False, codec="neural", window=64)))
        worker.start()
        deadline = time.monotonic() + 120
        while len(finished) < 3 and worker.is_alive() and time.monotonic() < deadline:
            time.sleep(0.01)
        assert worker.is_alive(), "the create finished before a worker could be killed"
        os.kill(victim, signal.SIGKILL)
        worker.join(300)
        assert result["a"] == local
    client_pids = distributed_pids(cluster)
    assert victim not in client_pids


def distributed_pids(cluster: Any) -> set[int]:
    """The worker pids of ``cluster`` once it has two workers again (the nanny restarts them)."""
    with connect(ClusterOptions(cluster.scheduler_address)) as runner:
        runner._client.wait_for_workers(2, timeout=60)
        return set(runner._client.run(os.getpid).values())
