#!/usr/bin/env python3
"""Fuzz target: the reader with no key: header info, then info and list.

Input: one flag byte, then an archive (bit 0 clear) or an unsealed archive resealed by the
harness (bit 0 set; only unencrypted archives can be resealed without a key, which is the
point: anyone can forge those, and the reader must still only fail with NzarcError).
Bit 1 selects a seekable file (index via the trailer) or a pipe (full scan).
Invariant: NzarcError (DecryptionError for encrypted archives), or a listing consistent with
``info()``.
"""

from __future__ import annotations

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
    from fuzz import common, surgery
    from nzarc.codecs.registry import get_registry
    from nzarc.errors import NzarcError

    get_registry()

common.use_inline_executor()


def one_input(data: bytes) -> None:
    if not data:
        return
    flag, body = data[0], data[1:]
    archive = common.reseal(body) if flag & 1 else body
    source = io.BytesIO(archive) if flag & 2 else surgery.NonSeekable(archive)
    try:
        with nzarc.open(source, jobs=1) as reader:
            head = reader.header_info()
            if flag & 2:
                info = reader.info()
                members = reader.members()
                if info.members != len(members):
                    raise AssertionError("info() and members() disagree on the member count")
                if info.raw_size != sum(m.size or 0 for m in members):
                    raise AssertionError("info() raw size differs from the members' sizes")
            else:
                members = reader.members()
            if head.encrypted:
                raise AssertionError("an encrypted archive was listed without a key")
    except NzarcError:
        pass


if __name__ == "__main__":
    atheris.Setup(sys.argv, one_input, custom_mutator=MUTATORS["reader"])
    atheris.Fuzz()
