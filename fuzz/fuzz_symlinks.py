#!/usr/bin/env python3
"""Fuzz target: symlink, directory and file members extracted into a temporary directory.

Input: a set of members as fuzz/symlink_shapes.py decodes it (random names in a small alphabet,
targets made of ``.``, ``..``, names and ``/``), fed to ``extract_members`` by a fake reader
(so shapes the archive reader refuses get through too). Invariant: the extraction succeeds or
refuses (NzarcError, OverwriteRefused, or the refusal to replace a directory), and afterwards
no entry under the destination resolves outside it and nothing exists beside it.
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

import atheris

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from fuzz.symlink_shapes import ShapeReader, decode  # noqa: E402  (harness: not instrumented)

with atheris.instrument_imports(include=["nzarc"]):
    from nzarc.errors import NzarcError
    from nzarc.extract import OverwriteRefused, extract_members

REFUSALS = (NzarcError, OverwriteRefused, IsADirectoryError, FileExistsError)


def one_input(data: bytes) -> None:
    members = decode(data)
    if not members:
        return
    with tempfile.TemporaryDirectory(prefix="nzarc-fuzz-") as tmp:
        dest = Path(tmp, "d1", "d2", "d3", "dest")
        dest.mkdir(parents=True)
        try:
            extract_members(ShapeReader(members), dest)
        except REFUSALS:
            pass
        root = os.path.realpath(dest)
        for dirpath, dirnames, filenames in os.walk(dest):
            for n in dirnames + filenames:
                real = os.path.realpath(os.path.join(dirpath, n))
                if os.path.commonpath([real, root]) != root:
                    raise AssertionError(f"{members!r}: {n!r} resolves outside: {real}")
        level = Path(tmp)
        for child in ("d1", "d2", "d3", "dest"):
            if os.listdir(level) != [child]:
                raise AssertionError(f"{members!r}: something was created beside the destination")
            level = level / child


if __name__ == "__main__":
    atheris.Setup(sys.argv, one_input)
    atheris.Fuzz()
