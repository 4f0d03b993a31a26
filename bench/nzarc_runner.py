"""The nzarc settings under test, driven through the installed ``nzarc`` command.

Every nzarc measurement runs the real executable (``nzarc create`` /
``nzarc extract``) in a fresh process, so the figures include interpreter
start-up, imports and the passphrase KDF, as a user would see them.
Encryption is on: the passphrase comes from ``NZARC_PASSPHRASE``, and the
Argon2id cost is paid once per archive on create and once on extract.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from bench.tools import Tool, render, run_timed

__all__ = ["NzarcSetup", "BENCH_PASSPHRASE", "detect", "fixed_costs"]

#: Passphrase used for every encrypted benchmark archive (not a secret).
BENCH_PASSPHRASE = "nzarc-bench-passphrase"

_ID_RE = re.compile(r"[a-z0-9][a-z0-9_-]*\.[a-z0-9][a-z0-9_.-]*")


@dataclass(frozen=True)
class NzarcSetup:
    """What the installed nzarc offers: its command, codec ids, and model state."""

    command: str | None
    codec_ids: tuple[str, ...]
    ppmd_id: str | None
    model_installed: bool
    problems: tuple[str, ...]

    @property
    def available(self) -> bool:
        return self.command is not None

    def tools(self, *, neural: bool | None = None) -> list[Tool]:
        """The nzarc settings to measure, each with encryption on.

        ``neural`` forces the neural setting on or off; ``None`` means "when the
        model is installed". ``auto`` is slow (sampled) only when the model is
        installed, since it then tries the neural codec on text chunks.
        """
        if self.command is None:
            return []
        use_neural = self.model_installed if neural is None else neural
        env = {"NZARC_PASSPHRASE": BENCH_PASSPHRASE}
        settings: list[tuple[str, str, bool]] = [
            ("nzarc store", "-c store", False),
            ("nzarc zstd -l 3", "-c zstd -l 3", False),
            ("nzarc zstd -l 19", "-c zstd -l 19", False),
        ]
        if self.ppmd_id:
            settings.append(("nzarc ppmd", f"-c {shlex.quote(self.ppmd_id)}", False))
        if use_neural:
            settings.append(("nzarc neural", "-c neural", True))
        settings.append(("nzarc auto", "-c auto", use_neural))
        tools = []
        for name, opts, slow in settings:
            tools.append(
                Tool(
                    name=name,
                    family="nzarc",
                    kind="archive",
                    compress=f"cd {{srcdir}} && {self.command} create -q -o {{arc}} {opts} {{srcname}}",
                    decompress=f"{self.command} extract -q {{arc}} -C {{outdir}}",
                    slow=slow,
                    env=env,
                    note="passphrase (Argon2id once per archive)",
                )
            )
        return tools


def _nzarc_command() -> str | None:
    """The console script next to this interpreter, else the one on PATH."""
    local = Path(sys.executable).with_name("nzarc")
    if local.is_file() and os.access(local, os.X_OK):
        return shlex.quote(str(local))
    found = shutil.which("nzarc")
    return shlex.quote(found) if found else None


def detect(*, timeout: float = 60.0) -> NzarcSetup:
    """Probe the installed nzarc: ``nzarc codecs --json`` and the model store."""
    problems: list[str] = []
    cmd = _nzarc_command()
    if cmd is None:
        return NzarcSetup(None, (), None, False, ("the nzarc command is not installed",))
    try:
        proc = subprocess.run(
            f"{cmd} codecs --json", shell=True, capture_output=True, text=True,
            timeout=timeout, check=False,
        )
    except subprocess.SubprocessError as exc:
        return NzarcSetup(None, (), None, False, (f"nzarc codecs failed: {exc}",))
    if proc.returncode != 0:
        last = (proc.stderr.strip().splitlines() or ["(no message)"])[-1]
        return NzarcSetup(None, (), None, False, (f"`nzarc codecs --json` failed: {last}",))
    try:
        listing = json.loads(proc.stdout)
    except json.JSONDecodeError:
        return NzarcSetup(None, (), None, False, ("`nzarc codecs --json` printed no JSON",))
    ids = tuple(sorted(set(_codec_ids(listing))))
    ppmd = next((i for i in ids if "ppmd" in i), None)
    if ppmd is None:
        problems.append("no ppmd codec installed (plugin distribution nzarc-ppmd): row skipped")
    model = _model_installed(timeout)
    if not model:
        problems.append("neural model not installed in $NZARC_HOME: neural row skipped")
    return NzarcSetup(cmd, ids, ppmd, model, tuple(problems))


def _codec_ids(listing: object) -> list[str]:
    """Codec ids found anywhere in the ``codecs --json`` document."""
    found: list[str] = []
    if isinstance(listing, dict):
        for key in ("codec_id", "id"):
            value = listing.get(key)
            if isinstance(value, str) and _ID_RE.fullmatch(value):
                found.append(value)
        for key, value in listing.items():
            if isinstance(key, str) and _ID_RE.fullmatch(key) and key.count(".") == 1:
                found.append(key)
            found.extend(_codec_ids(value))
    elif isinstance(listing, list):
        for item in listing:
            if isinstance(item, str) and _ID_RE.fullmatch(item):
                found.append(item)
            else:
                found.extend(_codec_ids(item))
    return found


def _model_installed(timeout: float) -> bool:
    """True when the runtime's model store lists at least one model."""
    probe = (
        "from nzarc.neural.store import ModelStore\n"
        "print(len(list(ModelStore.default().list())))\n"
    )
    try:
        proc = subprocess.run(
            [sys.executable, "-c", probe], capture_output=True, text=True,
            timeout=timeout, check=False,
        )
    except subprocess.SubprocessError:
        return False
    return proc.returncode == 0 and proc.stdout.strip().isdigit() and int(proc.stdout) > 0


def fixed_costs(setup: NzarcSetup, workdir: Path) -> dict[str, float]:
    """Seconds for create+extract of an empty file, with and without a passphrase.

    The difference is the per-archive Argon2id cost (paid on create and again
    on extract); the unencrypted figure is process start-up plus imports.
    """
    if setup.command is None:
        return {}
    empty = workdir / "fixed" / "empty"
    empty.parent.mkdir(parents=True, exist_ok=True)
    empty.write_bytes(b"")
    out: dict[str, float] = {}
    for label, opts, env in (
        ("plain", "--no-encrypt", {}),
        ("passphrase", "", {"NZARC_PASSPHRASE": BENCH_PASSPHRASE}),
    ):
        arc = workdir / "fixed" / f"{label}.nz"
        dest = workdir / "fixed" / f"{label}-out"
        shutil.rmtree(dest, ignore_errors=True)
        dest.mkdir()
        arc.unlink(missing_ok=True)
        create = render(
            f"cd {{srcdir}} && {setup.command} create -q -o {{arc}} -c store {opts} {{srcname}}",
            srcdir=empty.parent, arc=arc, srcname=empty.name,
        )
        extract = render(f"{setup.command} extract -q {{arc}} -C {{outdir}}", arc=arc, outdir=dest)
        c = run_timed(create, env=env)
        d = run_timed(extract, env=env) if c.returncode == 0 else None
        if c.returncode == 0 and d is not None and d.returncode == 0:
            out[f"create_{label}_s"] = c.seconds
            out[f"extract_{label}_s"] = d.seconds
            out[f"create_{label}_rss_kib"] = float(c.max_rss_kib or 0)
            out[f"extract_{label}_rss_kib"] = float(d.max_rss_kib or 0)
    return out
