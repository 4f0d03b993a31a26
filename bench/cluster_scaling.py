"""Scaling of neural create (and extract) over a Dask cluster of 1, 2, 4 worker processes.

Usage (from the repository root, the real model installed in ``$NZARC_HOME``)::

    NZARC_HOME=/work/nzhome PYTHONPATH=$PWD/src flock /tmp/nzarc-cpu.lock \\
        python -m bench.cluster_scaling [--workers 1 2 4] [--out bench/RESULTS-cluster]

In one process and one run: the local path (``nzarc.create`` with ``jobs=1`` and with the
default jobs, no scheduler), then for each worker count N a real ``distributed.LocalCluster``
on 127.0.0.1 (``n_workers=N, threads_per_worker=1, processes=True``) reached through
``nzarc.cluster.client.connect`` and a ``CodecContext`` carrying its runner, the library path that
``--scheduler`` takes. Each create is ``-c neural --no-encrypt`` with default settings
otherwise, of the first ``--bytes`` (100,000) bytes of ``enwik/enwik6`` (else of the corpus's
text files, in name order). Start-up is timed apart: starting the cluster, connecting, and a
warm-up create of a tiny sample, which loads the model once on every worker through the
worker plugin. Every archive must equal the local ``jobs=1`` archive byte for byte. Extract
(decoding every member through the cluster, contents checked) is timed for
``--extract-workers`` on an archive of the first ``--extract-bytes`` bytes. The same run
measures the client-side costs of :mod:`bench.cluster_costs` for the cost model.

Results go to ``OUT.json`` and ``OUT.md`` (``--out``, default ``bench/RESULTS-cluster``).
``--quick``: a 4000-byte sample, 1 and 2 workers, small cost measurements (a smoke run).
"""

from __future__ import annotations

import argparse
import io
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.cluster_costs import seal_rate, store_create_rate, task_overhead, write_rate
from bench.common import DEFAULT_CORPUS, REPO_ROOT
from bench.corpus import discover, is_text

_KB = 1000
_MTIME = 1_600_000_000


class BenchError(Exception):
    """A benchmark precondition that does not hold (no corpus, no model)."""


def sample_bytes(corpus: Path, size: int) -> tuple[bytes, str]:
    """The first ``size`` bytes of enwik/enwik6, else of the corpus's text files; and whence."""
    enwik = corpus / "enwik" / "enwik6"
    if enwik.is_file():
        with enwik.open("rb") as fh:
            return fh.read(size), f"first {size} bytes of enwik/enwik6"
    if not corpus.is_dir():
        raise BenchError(f"the corpus is absent: {corpus} is not a folder (give --corpus)")
    data = b""
    names = []
    for inp in discover(corpus):
        if len(data) >= size:
            break
        if is_text(inp.path):
            data += inp.path.read_bytes()[: size - len(data)]
            names.append(inp.rel)
    if len(data) < size:
        raise BenchError(f"the corpus at {corpus} holds only {len(data)} bytes of text, not {size}")
    return data, "first bytes of " + ", ".join(names)


def _write_sample(directory: Path, name: str, data: bytes) -> Path:
    path = directory / name
    path.write_bytes(data)
    os.utime(path, (_MTIME, _MTIME))
    return path


#: The neural window of every create (None: the codec's default); set by ``--window``.
WINDOW: list[int | None] = [None]


def _create(path: Path, context: Any = None, jobs: int | None = None,
            window: int | None = None) -> tuple[bytes, float]:
    import nzarc

    out = io.BytesIO()
    t0 = time.perf_counter()
    nzarc.create(out, [path], encrypt=False, codec="neural", jobs=jobs,
                 window=window or WINDOW[0], codec_context=context)
    return out.getvalue(), time.perf_counter() - t0


def _extract(archive: bytes, context: Any) -> tuple[dict[str, bytes], float]:
    from nzarc.reader import ArchiveReader

    t0 = time.perf_counter()
    with ArchiveReader(io.BytesIO(archive), codec_context=context) as reader:
        contents = {d.member.name: d.read() for d in reader.iter_members()}
    return contents, time.perf_counter() - t0


def _rate(nbytes: int, seconds: float) -> float:
    return round(nbytes / _KB / seconds, 3)


def _worker_env(home: str) -> dict[str, str]:
    return {"NZARC_HOME": home, "PYTHONPATH": str(REPO_ROOT / "src"), "OMP_NUM_THREADS": "1"}


def run_cluster(n: int, home: str, sample: Path, warm: Path, reference: bytes,
                extract: tuple[bytes, dict[str, bytes]] | None, overhead: bool) -> dict[str, Any]:
    """One LocalCluster of ``n`` workers: start-up, timed create, optional extract."""
    import distributed

    from nzarc.cluster.client import connect
    from nzarc.cluster.options import ClusterOptions
    from nzarc.codecs.context import CodecContext

    row: dict[str, Any] = {"workers": n}
    t0 = time.perf_counter()
    with distributed.LocalCluster(
        n_workers=n, threads_per_worker=1, processes=True, host="127.0.0.1",
        dashboard_address=None, env=_worker_env(home),
    ) as cluster:
        row["cluster_start_s"] = round(time.perf_counter() - t0, 3)
        t1 = time.perf_counter()
        with connect(ClusterOptions(cluster.scheduler_address, timeout=120)) as runner:
            row["connect_s"] = round(time.perf_counter() - t1, 3)
            context = CodecContext(windows=runner)
            _, seconds = _create(warm, context)
            row["warmup_create_s"] = round(seconds, 3)  # the model loads on every worker
            row["startup_s"] = round(time.perf_counter() - t0, 3)
            archive, seconds = _create(sample, context)
            row["create_s"] = round(seconds, 3)
            row["identical_to_local"] = archive == reference
            row["max_outstanding"] = runner.max_outstanding
            row["inflight"] = runner.inflight
            if extract is not None:
                contents, seconds = _extract(extract[0], context)
                row["extract_s"] = round(seconds, 3)
                row["extract_ok"] = contents == extract[1]
        if overhead:
            row["task_overhead"] = task_overhead(cluster.scheduler_address, 200, 2000)
    row["create_with_startup_s"] = round(row["startup_s"] + row["create_s"], 3)
    print(json.dumps(row), flush=True)
    return row


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.cluster_scaling", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="a 4000-byte smoke run, 1 and 2 workers")
    ap.add_argument("--out", type=Path, default=REPO_ROOT / "bench" / "RESULTS-cluster",
                    help="write OUT.json and OUT.md (default bench/RESULTS-cluster)")
    ap.add_argument("--corpus", type=Path, default=DEFAULT_CORPUS, help="the corpus folder")
    ap.add_argument("--home", default=os.environ.get("NZARC_HOME", "/work/nzhome"),
                    help="the NZARC_HOME holding smollm2-135m (default $NZARC_HOME)")
    ap.add_argument("--bytes", type=int, default=None, help="create sample size (100000)")
    ap.add_argument("--workers", type=int, nargs="+", default=None, help="worker counts (1 2 4)")
    ap.add_argument("--extract-workers", type=int, nargs="*", default=None,
                    help="worker counts that also time extract (1 2)")
    ap.add_argument("--extract-bytes", type=int, default=None,
                    help="extract sample size (default: the create sample)")
    ap.add_argument("--extract-window", type=int, default=None,
                    help="neural window of the extract sample's archive (default: --window)")
    ap.add_argument("--window", type=int, default=None,
                    help="neural window in tokens (default: the codec's; for smoke runs)")
    args = ap.parse_args(argv)
    WINDOW[0] = args.window
    size = args.bytes or (4000 if args.quick else 100_000)
    workers = args.workers or ([1, 2] if args.quick else [1, 2, 4])
    extract_workers = [1, 2] if args.extract_workers is None else args.extract_workers
    extract_size = args.extract_bytes or size
    cost_size = (8 if args.quick else 64) << 20
    os.environ["NZARC_HOME"] = args.home  # this process tokenizes and runs the local path
    try:
        return _run(args, size, workers, extract_workers, extract_size, cost_size)
    except BenchError as exc:
        print(f"cluster_scaling: error: {exc}", file=sys.stderr)
        return 2


def _run(args: argparse.Namespace, size: int, workers: list[int], extract_workers: list[int],
         extract_size: int, cost_size: int) -> int:
    from nzarc.neural.store import SMOLLM2_NAME, ModelStore

    if ModelStore.default().find(SMOLLM2_NAME) is None:
        raise BenchError(f"{SMOLLM2_NAME} is not installed under {args.home} "
                         f"(run `nzarc model install {SMOLLM2_NAME}`)")
    data, whence = sample_bytes(args.corpus, size)
    record: dict[str, Any] = {
        "command": "python -m bench.cluster_scaling " + " ".join(sys.argv[1:]),
        "date_utc": time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime()),
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform(),
                    "python": platform.python_version()},
        "load_start": os.getloadavg()[0], "sample": whence, "bytes": len(data),
    }
    with tempfile.TemporaryDirectory(prefix="nzarc-cluster-bench-") as tmp:
        root = Path(tmp)
        sample = _write_sample(root, "sample.txt", data)
        warm = _write_sample(root, "warm.txt", data[:200])
        local: dict[str, Any] = {}
        _, seconds = _create(warm, jobs=1)
        local["warmup_create_s"] = round(seconds, 3)
        reference, seconds = _create(sample, jobs=1)
        local["jobs1_create_s"] = round(seconds, 3)
        archive, seconds = _create(sample)
        local["default_jobs_create_s"] = round(seconds, 3)
        local["default_jobs_identical"] = archive == reference
        local["archive_bytes"] = len(reference)
        local["chunks_per_codec"] = _codecs(reference)
        extract = None
        if extract_workers:
            if extract_size == len(data) and args.extract_window is None:
                extract = (reference, {"sample.txt": data})
            else:
                small = _write_sample(root, "extract.txt", data[:extract_size])
                made = _create(small, jobs=1, window=args.extract_window)[0]
                extract = (made, {"extract.txt": data[:extract_size]})
            local["extract_chunks_per_codec"] = _codecs(extract[0])
            _, seconds = _extract(extract[0], None)
            local["default_jobs_extract_s"] = round(seconds, 3)
        record["extract_bytes"] = extract_size if extract_workers else None
        record["extract_window"] = args.extract_window or WINDOW[0]
        record["window"] = WINDOW[0]
        record["local"] = local
        print(json.dumps(local), flush=True)
        rows = [run_cluster(n, args.home, sample, warm, reference,
                            extract if n in extract_workers else None, overhead=(i == 0))
                for i, n in enumerate(workers)]
        record["client_costs"] = {"seal_chacha20_poly1305": seal_rate(cost_size),
                                  "file_write_fsync": write_rate(cost_size, root),
                                  "store_create_x25519": store_create_rate(cost_size, root)}
    _ratios(rows, local, len(data), extract_size)
    record["clusters"] = rows
    record["load_end"] = os.getloadavg()[0]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    Path(f"{args.out}.json").write_text(json.dumps(record, indent=2) + "\n")
    Path(f"{args.out}.md").write_text(render(record))
    print(render(record))
    bad = [r["workers"] for r in rows if not r["identical_to_local"] or r.get("extract_ok") is False]
    return 1 if bad or not local["default_jobs_identical"] else 0


def _codecs(archive: bytes) -> dict[str, int]:
    from nzarc.reader import ArchiveReader

    with ArchiveReader(io.BytesIO(archive)) as reader:
        return dict(reader.info().chunks_per_codec)


def _ratios(rows: list[dict[str, Any]], local: dict[str, Any], size: int, extract_size: int) -> None:
    base = next((r for r in rows if r["workers"] == 1), rows[0])
    for r in rows:
        r["create_kb_s"] = _rate(size, r["create_s"])
        r["create_ratio_to_1"] = round(r["create_s"] / base["create_s"], 3)
        r["with_startup_ratio_to_1"] = round(r["create_with_startup_s"] / base["create_with_startup_s"], 3)
        r["create_ratio_to_local_jobs1"] = round(r["create_s"] / local["jobs1_create_s"], 3)
        if "extract_s" in r:
            r["extract_kb_s"] = _rate(extract_size, r["extract_s"])
            if "extract_s" in base:
                r["extract_ratio_to_1"] = round(r["extract_s"] / base["extract_s"], 3)
    local["jobs1_kb_s"] = _rate(size, local["jobs1_create_s"])
    local["default_jobs_kb_s"] = _rate(size, local["default_jobs_create_s"])


def render(rec: dict[str, Any]) -> str:
    """The markdown report of one run's record."""
    loc = rec["local"]
    lines = [
        "# Neural create on a Dask cluster: scaling with worker processes",
        "",
        f"`{rec['command']}`, {rec['date_utc']} UTC, {rec['machine']['cpus']} CPUs "
        f"({rec['machine']['platform']}), load average {rec['load_start']:.2f} at the start, "
        f"{rec['load_end']:.2f} at the end. Sample: {rec['sample']} ({rec['bytes']} bytes); "
        "`-c neural --no-encrypt`, default settings otherwise"
        f"{'' if rec['window'] is None else ' but window ' + str(rec['window'])}; archive "
        f"{loc['archive_bytes']} bytes, chunks {loc['chunks_per_codec']}; kB = 1000 bytes.",
        "",
        "| path | create s | kB/s | ÷ 1 worker | start-up s | create + start-up s | ÷ 1 worker | identical |",
        "|---|---|---|---|---|---|---|---|",
        f"| local, jobs 1 | {loc['jobs1_create_s']} | {loc['jobs1_kb_s']} | – | – | – | – | reference |",
        f"| local, default jobs | {loc['default_jobs_create_s']} | {loc['default_jobs_kb_s']} | – | – | – "
        f"| – | {loc['default_jobs_identical']} |",
    ]
    for r in rec["clusters"]:
        lines.append(
            f"| cluster, {r['workers']} worker(s) | {r['create_s']} | {r['create_kb_s']} | "
            f"{r['create_ratio_to_1']} | {r['startup_s']} | {r['create_with_startup_s']} | "
            f"{r['with_startup_ratio_to_1']} | {r['identical_to_local']} |")
    lines += ["", f"Local warm-up (first create in the process, 200 bytes): {loc['warmup_create_s']} s. "
              "Cluster start-up = cluster start + connect + a warm-up create of 200 bytes (the "
              "model loads once per worker):", ""]
    for r in rec["clusters"]:
        lines.append(f"- {r['workers']} worker(s): start {r['cluster_start_s']} s, connect "
                     f"{r['connect_s']} s, warm-up {r['warmup_create_s']} s; in flight "
                     f"{r['max_outstanding']} of {r['inflight']}")
    ext = [r for r in rec["clusters"] if "extract_s" in r]
    if ext:
        lines += ["", f"Extract (decode of every member, contents checked) of {rec['extract_bytes']} "
                  f"bytes (window {rec['extract_window'] or 'default'}, chunks {loc.get('extract_chunks_per_codec')}): "
                  f"local default jobs {loc.get('default_jobs_extract_s')} s", ""]
        for r in ext:
            lines.append(f"- {r['workers']} worker(s): {r['extract_s']} s, {r['extract_kb_s']} kB/s, "
                         f"÷ 1 worker {r.get('extract_ratio_to_1')}, contents equal {r['extract_ok']}")
    over = rec["clusters"][0].get("task_overhead")
    costs = rec["client_costs"]
    lines += ["", "Costs (same run):", ""]
    if over:
        lines.append(f"- trivial task, submit then result, {over['sequential_tasks']} in a row: "
                     f"{over['round_trip_ms']} ms each; {over['burst_tasks']} at once: "
                     f"{over['burst_tasks_per_s']} tasks/s")
    for name, c in costs.items():
        lines.append(f"- {name}: {c['bytes']} bytes in {c['seconds']} s = {c['mb_s']} MB/s")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    sys.exit(main())
