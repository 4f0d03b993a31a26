#!/usr/bin/env python3
"""Fuzz target: prelude, canonical msgpack header and recipient stanzas.

Input: the first bytes of an archive. Invariant: NzarcError, or a header that re-encodes to
exactly its input bytes (the header is canonical) and whose stanzas either unwrap with a
known identity or raise DecryptionError.
"""

from __future__ import annotations

import io
import sys
from pathlib import Path

import atheris

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from fuzz.structure import MUTATORS  # noqa: E402  (not instrumented: no coverage feedback)

with atheris.instrument_imports(include=["nzarc"]):
    from fuzz import common
    from nzarc.crypto.recipients import parse_identity, unwrap_file_key
    from nzarc.errors import NzarcError
    from nzarc.format.canonical import pack
    from nzarc.format.header import decode_header, read_prelude

_IDENTITIES = [parse_identity(i) for i in common.IDENTITIES]


def one_input(data: bytes) -> None:
    try:
        _, header_bytes, _ = read_prelude(io.BytesIO(data).read)
        header = decode_header(header_bytes)
    except NzarcError:
        return
    if pack(header.to_wire()) != header_bytes:
        raise AssertionError("a decoded header does not re-encode to its own bytes")
    if header.suite == "none" or any(s.type == "argon2id" for s in header.stanzas):
        return  # Argon2id work is bounded by the caps; the bad vectors exercise it
    try:
        unwrap_file_key(header.stanzas, identities=_IDENTITIES)
    except NzarcError:
        pass


if __name__ == "__main__":
    atheris.Setup(sys.argv, one_input, custom_mutator=MUTATORS["header"])
    atheris.Fuzz()
