#!/usr/bin/env python3
"""Fuzz target: index decoding.

Input: ``chunk_size (u32) || slots (u8) || index body``. Invariant: NzarcError, or an index
that re-encodes to exactly its input body.
"""

from __future__ import annotations

import struct
import sys
from pathlib import Path

import atheris

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from fuzz.structure import MUTATORS  # noqa: E402  (not instrumented: no coverage feedback)

with atheris.instrument_imports(include=["nzarc"]):
    from nzarc.errors import NzarcError
    from nzarc.format import limits
    from nzarc.format.index import decode_index, encode_index


def one_input(data: bytes) -> None:
    if len(data) < 5:
        return
    chunk_size, slots = struct.unpack(">IB", data[:5])
    chunk_size = min(max(chunk_size, limits.MIN_CHUNK), limits.MAX_CHUNK)
    slots = 1 + slots % limits.MAX_CODEC_SLOTS
    body = data[5:]
    try:
        index = decode_index(body, chunk_size=chunk_size, slots=slots)
    except NzarcError:
        return
    if encode_index(index) != body:
        raise AssertionError("a decoded index does not re-encode to its own bytes")


if __name__ == "__main__":
    atheris.Setup(sys.argv, one_input, custom_mutator=MUTATORS["index"])
    atheris.Fuzz()
