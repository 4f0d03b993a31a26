"""extract_members: the umask (``same_permissions``) and the removal of stale temporary names."""

from __future__ import annotations

import io
import os
import stat
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

import nzarc
from nzarc import tmpnames
from nzarc.extract import extract_members
from nzarc.permissions import permission_mask, process_umask
from nzarc.writer import ArchiveWriter

MTIME = 1_600_000_000_000_000_000


def archive() -> bytes:
    out = io.BytesIO()
    with ArchiveWriter(out, encrypt=False, codec="store", jobs=1) as w:
        w.add_dir("tmp", mode=0o1777, mtime_ns=MTIME)
        w.add_dir("locked", mode=0o500, mtime_ns=MTIME)
        w.add_bytes("locked/run", b"#!/bin/sh\n", mode=0o777, mtime_ns=MTIME)
        w.add_bytes("plain", b"p", mode=0o644, mtime_ns=MTIME)
    return out.getvalue()


def extract(dest: Path, **kw: object) -> None:
    with nzarc.open(io.BytesIO(archive()), jobs=1) as reader:
        extract_members(reader, dest, **kw)  # type: ignore[arg-type]


@contextmanager
def umask(value: int) -> Iterator[None]:
    old = os.umask(value)
    try:
        yield
    finally:
        os.umask(old)


def modes(dest: Path) -> dict[str, int]:
    return {n: stat.S_IMODE(os.lstat(dest / n).st_mode) for n in ("tmp", "locked", "locked/run", "plain")}


def test_umask_applies_without_same_permissions(tmp_path: Path) -> None:
    with umask(0o022):
        extract(tmp_path / "out", same_permissions=False)
    assert modes(tmp_path / "out") == {"tmp": 0o755, "locked": 0o500, "locked/run": 0o755, "plain": 0o644}
    with umask(0o077):
        extract(tmp_path / "out2", same_permissions=False)
    assert modes(tmp_path / "out2") == {"tmp": 0o700, "locked": 0o500, "locked/run": 0o700, "plain": 0o600}


def test_same_permissions_keeps_archived_modes(tmp_path: Path) -> None:
    with umask(0o077):
        extract(tmp_path / "out", same_permissions=True)
    assert modes(tmp_path / "out") == {"tmp": 0o1777, "locked": 0o500, "locked/run": 0o777, "plain": 0o644}


@pytest.mark.parametrize(("euid", "expected"), [(0, 0o1777), (1000, 0o755)])
def test_default_follows_tar_root_or_user(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, euid: int, expected: int
) -> None:
    monkeypatch.setattr(os, "geteuid", lambda: euid)
    with umask(0o022):
        extract(tmp_path / "out")
    assert modes(tmp_path / "out")["tmp"] == expected


def test_umask_read_without_changing_it() -> None:
    with umask(0o027):
        assert process_umask() == 0o027
        assert permission_mask(False) == 0o750
        assert permission_mask(True) == 0o1777
        assert os.umask(0o027) == 0o027  # still what it was


def test_cli_same_permissions_flag(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from nzarc.cli import main

    (tmp_path / "a.nzarc").write_bytes(archive())
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    with umask(0o022):
        assert main(["extract", str(tmp_path / "a.nzarc"), "-C", str(tmp_path / "u"), "-q"]) == 0
        assert main(["extract", str(tmp_path / "a.nzarc"), "-C", str(tmp_path / "p"), "-q", "-p"]) == 0
    assert modes(tmp_path / "u")["locked/run"] == 0o755
    assert modes(tmp_path / "p")["locked/run"] == 0o777


# -- stale temporary names --------------------------------------------------------------


def test_stale_temporaries_removed_fresh_and_lookalikes_kept(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    dest = tmp_path / "out"
    (dest / "locked").mkdir(parents=True)
    outside = tmp_path / "victim"
    outside.write_bytes(b"keep")
    stale = [dest / ".nzarc-tmp-0123456789abcdef", dest / "locked" / ".nzarc-tmp-fedcba9876543210"]
    for p in stale:
        p.write_bytes(b"left by a killed run")
    stale_link = dest / ".nzarc-tmp-00000000000000ff"
    stale_link.symlink_to(outside)
    near = [".nzarc-tmp-0123456789abcde", ".nzarc-tmp-0123456789ABCDEF", ".nzarc-tmp-0123456789abcdef0",
            "x.nzarc-tmp-0123456789abcdef", ".nzarc-tmp-0123456789abcdeg"]
    for n in near:
        (dest / n).write_bytes(b"not ours")
    (dest / ".nzarc-tmp-aaaaaaaaaaaaaaaa").mkdir()
    unrelated = dest / "other"  # no member lands here: not swept
    unrelated.mkdir()
    (unrelated / ".nzarc-tmp-bbbbbbbbbbbbbbbb").write_bytes(b"not a directory we extract into")
    time.sleep(0.05)  # file system clocks are coarse
    monkeypatch.setattr(tmpnames, "STARTED_NS", time.time_ns())
    time.sleep(0.05)
    fresh = dest / ".nzarc-tmp-1111111111111111"
    fresh.write_bytes(b"another extraction, running now")

    extract(dest, force=True)

    assert not any(os.path.lexists(p) for p in [*stale, stale_link])
    assert outside.read_bytes() == b"keep"  # the link was removed, not followed
    assert fresh.read_bytes() == b"another extraction, running now"
    for n in near:
        assert (dest / n).read_bytes() == b"not ours"
    assert (dest / ".nzarc-tmp-aaaaaaaaaaaaaaaa").is_dir()
    assert (unrelated / ".nzarc-tmp-bbbbbbbbbbbbbbbb").exists()
    assert (dest / "plain").read_bytes() == b"p"


def test_temporary_names_match_the_cleanup_pattern() -> None:
    names = {tmpnames.new_name() for _ in range(100)}
    assert len(names) == 100 and all(tmpnames.PATTERN.fullmatch(n) for n in names)


def test_archive_reader_extract_passes_same_permissions(tmp_path: Path) -> None:
    with umask(0o077), nzarc.open(io.BytesIO(archive()), jobs=1) as reader:
        reader.extract(tmp_path / "out", same_permissions=False)
    assert modes(tmp_path / "out")["plain"] == 0o600
