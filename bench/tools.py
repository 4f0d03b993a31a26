"""Measured runs of command-line compressors.

A :class:`Tool` is a pair of shell command templates, one that compresses an
input and one that restores it. :func:`run_timed` runs one command under
``/usr/bin/time -v`` when that exists (falling back to ``os.wait4``) and
returns its wall-clock time and peak resident set size. For a pipeline the
peak RSS is that of the largest single process in it (what ``time -v``
reports for a shell and the children it waited for), not their sum.

Templates are ``str.format`` strings over these already shell-quoted names:

``{src}``      the input file               ``{srcdir}``  its directory
``{srcname}``  its base name                ``{arc}``     the compressed output
``{out}``      the restored file (stream tools only)
``{outdir}``   an empty directory to extract into (archive tools only)
``{pub}``/``{key}``  an age recipient and identity file (age pipelines)
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import tempfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

__all__ = [
    "RunResult",
    "Tool",
    "external_tools",
    "run_timed",
    "time_binary",
    "tool_version",
]

TIME_BIN = "/usr/bin/time"
_RSS_RE = re.compile(r"Maximum resident set size \(kbytes\):\s*(\d+)")
_CPU_RE = re.compile(r"(?:User|System) time \(seconds\):\s*([\d.]+)")


@dataclass(frozen=True)
class RunResult:
    """Outcome of one measured command: wall seconds, peak RSS in KiB, exit status,
    and CPU seconds (user + system, all processes of the command; ``None`` if unknown)."""

    seconds: float
    max_rss_kib: int | None
    returncode: int
    stderr: str
    cpu_s: float | None = None


@dataclass(frozen=True)
class Tool:
    """A compressor as users run it.

    ``kind`` is ``"stream"`` (stdin to stdout of one file: ``{out}`` receives the
    restored bytes) or ``"archive"`` (an archiver: it names the member by
    ``{srcname}`` and restores it under ``{outdir}``). ``family`` groups tools in
    reports (``external``, ``pipeline``, ``nzarc``). ``slow`` marks settings that
    run on the bounded text sample unless the full run is requested. ``env`` is
    added to the environment of both commands; ``values`` fills extra template
    names (``{pub}``, ``{key}``).
    """

    name: str
    family: str
    kind: str
    compress: str
    decompress: str
    slow: bool = False
    env: Mapping[str, str] = field(default_factory=dict)
    values: Mapping[str, str] = field(default_factory=dict)
    note: str = ""


def time_binary() -> str | None:
    """Return ``/usr/bin/time`` when it is GNU time with ``-v``, else ``None``."""
    if not os.access(TIME_BIN, os.X_OK):
        return None
    try:
        probe = subprocess.run(
            [TIME_BIN, "-v", "true"], capture_output=True, text=True, timeout=10, check=False
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return TIME_BIN if _RSS_RE.search(probe.stderr) else None


def run_timed(
    command: str,
    *,
    env: Mapping[str, str] | None = None,
    cwd: str | os.PathLike[str] | None = None,
    timeout: float | None = None,
) -> RunResult:
    """Run ``command`` with ``bash -o pipefail -c`` and measure it.

    Wall time covers the whole command including process start-up. Peak RSS
    comes from ``/usr/bin/time -v`` (written to a side file so the command's
    own stderr stays clean) or, without GNU time, from ``os.wait4``.
    """
    full_env = dict(os.environ)
    if env:
        full_env.update(env)
    shell = ["bash", "-o", "pipefail", "-c", command]
    tbin = time_binary()
    with tempfile.TemporaryDirectory(prefix="nzbench-time-") as tdir:
        rss_file = Path(tdir) / "rusage"
        argv = [tbin, "-v", "-o", str(rss_file), *shell] if tbin else shell
        t0 = time.perf_counter()
        proc = subprocess.Popen(
            argv,
            env=full_env,
            cwd=cwd,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        try:
            # communicate() drains stderr (a full pipe would block the child);
            # wait4 is then used for the rusage of the reaped process.
            _, err = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            _, err = proc.communicate()
            return RunResult(time.perf_counter() - t0, None, 124, err.decode(errors="replace"))
        seconds = time.perf_counter() - t0
        rss: int | None = None
        cpu: float | None = None
        if tbin and rss_file.exists():
            report = rss_file.read_text(errors="replace")
            match = _RSS_RE.search(report)
            rss = int(match.group(1)) if match else None
            times = [float(x) for x in _CPU_RE.findall(report)]
            cpu = sum(times) if len(times) == 2 else None
        stderr = err.decode(errors="replace")
    if not tbin:
        rss = _children_maxrss_kib()
    return RunResult(seconds, rss, proc.returncode, stderr, cpu)


def _children_maxrss_kib() -> int | None:
    """Peak RSS over all children reaped so far (ru_maxrss is KiB on Linux).

    Used only without GNU time; it is a running maximum, so a later, smaller
    child reports the earlier peak. Callers treat it as an upper bound.
    """
    import resource

    return int(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss) or None


def tool_version(argv: Sequence[str]) -> str:
    """First non-empty line of ``argv``'s version output, or ``""``."""
    try:
        proc = subprocess.run(list(argv), capture_output=True, text=True, timeout=10, check=False)
    except (OSError, subprocess.SubprocessError):
        return ""
    for line in (proc.stdout + proc.stderr).splitlines():
        if line.strip():
            return line.strip()
    return ""


def _stream(name: str, comp: str, decomp: str, note: str = "") -> Tool:
    return Tool(
        name=name,
        family="external",
        kind="stream",
        compress=f"{comp} < {{src}} > {{arc}}",
        decompress=f"{decomp} < {{arc}} > {{out}}",
        note=note,
    )


def external_tools(workdir: Path) -> tuple[list[Tool], list[str]]:
    """The reference CLIs present on this machine, and notes on those absent.

    ``workdir`` receives the age key pair generated for the age pipeline
    (recipient mode, so nothing prompts).
    """
    tools: list[Tool] = []
    notes: list[str] = []
    have = {name: shutil.which(name) is not None for name in
            ("gzip", "bzip2", "xz", "zstd", "brotli", "age", "age-keygen", "tar")}
    if have["gzip"]:
        tools.append(_stream("gzip -9", "gzip -9 -c", "gzip -d -c"))
    if have["bzip2"]:
        tools.append(_stream("bzip2 -9", "bzip2 -9 -c", "bzip2 -d -c"))
    if have["xz"]:
        tools.append(_stream("xz -9e", "xz -9e -c -T1", "xz -d -c"))
    if have["zstd"]:
        tools.append(_stream("zstd -3 -T0", "zstd -q -3 -T0 -c", "zstd -q -d -c"))
        tools.append(_stream("zstd -19", "zstd -q -19 -c", "zstd -q -d -c"))
        tools.append(
            _stream(
                "zstd --ultra -22 --long=27",
                "zstd -q --ultra -22 --long=27 -c",
                "zstd -q -d --long=27 -c",
            )
        )
    else:
        notes.append("zstd CLI not found: zstd rows and the tar|zstd pipeline are skipped")
    if have["brotli"]:
        tools.append(_stream("brotli -q 11", "brotli -q 11 -c", "brotli -d -c"))
    else:
        notes.append("brotli not installed (apt-get install brotli): brotli row skipped")
    if have["age"] and have["age-keygen"] and have["zstd"] and have["tar"]:
        key = workdir / "age-identity.txt"
        if not key.exists():
            subprocess.run(
                ["age-keygen", "-o", str(key)], capture_output=True, check=True, timeout=30
            )
        pub = _age_public_key(key)
        tools.append(
            Tool(
                name="tar|zstd -3|age",
                family="pipeline",
                kind="archive",
                compress=(
                    "tar -C {srcdir} -cf - {srcname} | zstd -q -3 -T0 -c"
                    " | age -r {pub} > {arc}"
                ),
                decompress="age -d -i {key} < {arc} | zstd -q -d -c | tar -C {outdir} -xf -",
                values={"pub": pub, "key": str(key)},
                note="X25519 recipient (age -r); no passphrase KDF",
            )
        )
    else:
        notes.append("age not installed (apt-get install age): tar|zstd|age pipeline skipped")
    return tools, notes


def _age_public_key(identity: Path) -> str:
    for line in identity.read_text().splitlines():
        if line.startswith("# public key:"):
            return line.split(":", 1)[1].strip()
    proc = subprocess.run(
        ["age-keygen", "-y", str(identity)], capture_output=True, text=True, check=True, timeout=30
    )
    return proc.stdout.strip()


def render(template: str, **paths: str | os.PathLike[str]) -> str:
    """Fill a command template with shell-quoted values."""
    return template.format(**{k: shlex.quote(os.fspath(v)) for k, v in paths.items()})
