"""The README's two opening commands and the CI script that reuses the second one."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

from cli_support import nzarc_executable

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
CI = ROOT / ".ci" / "run"


def code_blocks(text: str) -> list[list[str]]:
    return [b.strip("\n").splitlines() for b in re.findall(r"^```sh\n(.*?)^```", text, re.M | re.S)]


def test_readme_opens_with_exactly_two_one_line_commands() -> None:
    text = README.read_text()
    lines = text.splitlines()
    assert lines[0] == "# nzarc"
    first_fence = next(i for i, ln in enumerate(lines) if ln.startswith("```"))
    prose = [ln for ln in lines[1:first_fence] if ln.strip()]
    assert len(prose) == 1  # one sentence between the title and the commands
    blocks = code_blocks(text)
    assert len(blocks[0]) == 1 and len(blocks[1]) == 1
    assert blocks[0][0].startswith("pip install . && ")
    assert "nzarc create" in blocks[0][0] and "diff -r" in blocks[0][0]
    assert "python -m pytest" in blocks[1][0]


def test_readme_main_command_round_trips_the_sample(tmp_path: Path) -> None:
    """The first command, minus its `pip install .` (the package is installed already)."""
    cmd = code_blocks(README.read_text())[0][0].removeprefix("pip install . && ")
    env = {k: v for k, v in os.environ.items() if not k.startswith("NZARC_")}
    env.update(
        NZARC_HOME=str(tmp_path / "home"),
        TMPDIR=str(tmp_path),
        PATH=f"{Path(nzarc_executable()).parent}{os.pathsep}{env.get('PATH', '')}",
    )
    proc = subprocess.run(["bash", "-c", cmd], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=300, start_new_session=True)
    assert proc.returncode == 0, proc.stderr
    assert "round trip OK" in proc.stdout


def test_ci_script_runs_the_readme_test_command() -> None:
    script = CI.read_text()
    assert os.access(CI, os.X_OK)
    subprocess.run(["bash", "-n", str(CI)], check=True)
    assert script.startswith("#!/usr/bin/env bash") and "set -euo pipefail" in script
    awk = re.search(r"^test_cmd=\$\((awk .*) README\.md\)$", script, re.M)
    assert awk is not None
    found = subprocess.run(["bash", "-c", f"{awk.group(1)} README.md"], cwd=ROOT,
                           capture_output=True, text=True, check=True).stdout.strip()
    assert found == code_blocks(README.read_text())[1][0]
    assert "ruff check" in script and '"$rc" -eq 5' in script
