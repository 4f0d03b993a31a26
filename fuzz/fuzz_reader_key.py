#!/usr/bin/env python3
"""Fuzz target: the full reader with the known keys of spec/vectors/.

Input: one flag byte, then an archive (flag bit 0 clear) or an unsealed archive that the
harness reseals (bit 0 set, see fuzz/common.py). Flag bit 1 selects a pipe (sequential read
of every member) or a seekable file (info, list, then a selective read of every other member).
Invariant: NzarcError, or members whose bytes match their SHA-256 and re-encode consistently.
"""

from __future__ import annotations

import hashlib
import io
import sys
from pathlib import Path

import atheris

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from fuzz.structure import MUTATORS  # noqa: E402  (not instrumented: no coverage feedback)

with atheris.instrument_imports(include=["nzarc"]):
    import nzarc
    import nzarc.api
    import nzarc.reader
    import nzarc.writer
    from fuzz import common, surgery
    from nzarc.codecs.registry import get_registry
    from nzarc.errors import NzarcError

    get_registry()

common.use_inline_executor()
_KEYS = common.identity_keys()


def _seekable(archive: bytes, passphrase: str | None) -> None:
    try:
        with nzarc.open(
            io.BytesIO(archive), passphrase=passphrase, identities=_KEYS, jobs=1
        ) as reader:
            reader.info()
            members = reader.members()
            wanted = {m.name for m in members[::2]}
            for item in reader.iter_members(wanted):
                data = item.read()
                m = item.member
                if m.type == "file" and hashlib.sha256(data).digest() != m.sha256:
                    raise AssertionError(f"selective read of {m.name!r} released unverified bytes")
    except NzarcError:
        pass


def one_input(data: bytes) -> None:
    if not data:
        return
    flag, body = data[0], data[1:]
    archive = common.reseal(body) if flag & 1 else body
    passphrase = common.passphrase_for(archive)
    if flag & 2:
        _seekable(archive, passphrase)
        return
    outcome = surgery.read_everything(
        archive, passphrase=passphrase, identities=_KEYS
    )
    if outcome.error is None:
        common.check_consistent(outcome.members, outcome.released)


if __name__ == "__main__":
    atheris.Setup(sys.argv, one_input, custom_mutator=MUTATORS["reader"])
    atheris.Fuzz()
