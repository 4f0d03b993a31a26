#!/usr/bin/env python3
"""Fuzz target: ``nzarc.xz`` decode with a fuzzed raw_len.

Input: ``raw_len (u32, reduced to 0 .. MAX_CHUNK) || codec output``. Invariant: CodecError,
or exactly raw_len bytes that encode and decode back to themselves.
"""

from __future__ import annotations

import sys
from pathlib import Path

import atheris

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

with atheris.instrument_imports(include=["nzarc"]):
    from fuzz.codec_target import make_target

    one_input = make_target("nzarc.xz")

if __name__ == "__main__":
    atheris.Setup(sys.argv, one_input)
    atheris.Fuzz()
