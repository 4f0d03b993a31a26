"""Running the installed ``nzarc`` executable from tests.

Every run gets a clean environment (no ``NZARC_PASSPHRASE`` unless given, an
empty ``NZARC_HOME`` so no neural model is picked up) and a new session, so
there is no controlling terminal: a passphrase prompt can never block a test.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path


def nzarc_executable() -> str:
    """The console script installed next to this interpreter (or on PATH)."""
    here = Path(sys.executable).parent / "nzarc"
    if here.is_file():
        return str(here)
    found = shutil.which("nzarc")
    if found is None:
        raise RuntimeError("the nzarc executable is not installed; run pip install -e .")
    return found


@dataclass
class Result:
    rc: int
    stdout: bytes
    stderr: str

    def assert_ok(self) -> Result:
        assert self.rc == 0, f"exit {self.rc}: {self.stderr}"
        return self

    def assert_clean_error(self, rc: int) -> Result:
        """Exit status ``rc``, a one-line ``nzarc: error:`` message, no traceback."""
        assert self.rc == rc, f"expected exit {rc}, got {self.rc}: {self.stderr}"
        assert "Traceback" not in self.stderr, self.stderr
        lines = [ln for ln in self.stderr.splitlines() if ln.strip()]
        errors = [ln for ln in lines if ln.startswith("nzarc: error: ")]
        assert len(errors) == 1, self.stderr
        assert all(ln.startswith(("nzarc: error: ", "hint: ")) for ln in lines), self.stderr
        return self


def run_nzarc(
    *args: str | os.PathLike[str],
    home: Path,
    stdin: bytes | None = None,
    env: dict[str, str] | None = None,
    cwd: Path | None = None,
    timeout: float = 120,
) -> Result:
    """Run ``nzarc ARGS`` and capture its exit status, stdout and stderr."""
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("NZARC_")}
    full_env["NZARC_HOME"] = str(home)
    full_env.update(env or {})
    proc = subprocess.run(
        [nzarc_executable(), *map(str, args)],
        input=stdin if stdin is not None else b"",
        capture_output=True,
        env=full_env,
        cwd=cwd,
        timeout=timeout,
        start_new_session=True,
    )
    return Result(proc.returncode, proc.stdout, proc.stderr.decode("utf-8", "replace"))
