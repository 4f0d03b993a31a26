"""The writer signals its input limits with LimitExceeded (an NzarcError), never ValueError."""

from __future__ import annotations

import io

import pytest

from nzarc.errors import LimitExceeded, NzarcError
from nzarc.format import limits
from nzarc.writer import ArchiveWriter


def test_too_many_members_is_a_limit(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(limits, "MAX_ENTRIES", 3)
    w = ArchiveWriter(io.BytesIO(), encrypt=False)
    for i in range(3):
        w.add_bytes(f"f{i}", b"x")
    with pytest.raises(LimitExceeded, match="at most 3 members"):
        w.add_bytes("f3", b"x")
    w.abort()


def test_too_many_chunks_is_a_limit_with_a_hint(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(limits, "MAX_CHUNKS", 2)
    w = ArchiveWriter(io.BytesIO(), encrypt=False, chunk_size=256, codec="store")
    with pytest.raises(LimitExceeded, match="more than 2 chunks") as info:
        w.add_bytes("big", bytes(1000))
        w.close()
    assert isinstance(info.value, NzarcError)
    assert info.value.hint == "use a larger --chunk-size"
    w.abort()
