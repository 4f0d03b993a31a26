"""The tree walk (nzarc.walk): inputs that vanish or cannot be read are skipped with a warning
and exit status 3, or fail the archive with --strict; the library's default is to fail."""

from __future__ import annotations

import io
import os
from pathlib import Path
from typing import Any

import pytest

import nzarc
import nzarc.cli as cli
import nzarc.walk as walk_mod
from nzarc.walk import Skipped, WalkOptions


def _tree(root: Path) -> Path:
    top = root / "top"
    (top / "sub").mkdir(parents=True)
    (top / "a.txt").write_text("alpha\n")
    (top / "gone.txt").write_text("soon deleted\n")
    (top / "secret.txt").write_text("unreadable\n")
    (top / "sub" / "b.txt").write_text("beta\n")
    return top


def _vanish_after_listing(monkeypatch: pytest.MonkeyPatch, victim: Path) -> None:
    """Delete ``victim`` right after its directory is listed: the race a live tree has."""
    real = os.listdir

    def listdir(path: Any) -> list[str]:
        names = real(path)
        if Path(path) == victim.parent and victim.exists():
            victim.unlink()
        return names

    monkeypatch.setattr(walk_mod.os, "listdir", listdir)


def _unreadable(monkeypatch: pytest.MonkeyPatch, name: str) -> None:
    real = walk_mod._open_source

    def open_source(path: Path) -> Any:
        if path.name == name:
            raise PermissionError(13, "Permission denied", str(path))
        return real(path)

    monkeypatch.setattr(walk_mod, "_open_source", open_source)


def _names(archive: Path) -> list[str]:
    with nzarc.open(archive) as r:
        return [m.name for m in r.members()]


def test_vanished_and_unreadable_inputs_are_skipped_with_exit_3(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    top = _tree(tmp_path)
    _vanish_after_listing(monkeypatch, top / "gone.txt")
    _unreadable(monkeypatch, "secret.txt")
    archive = tmp_path / "a.nzarc"
    rc = cli.main(["create", "-q", "--no-encrypt", "-o", str(archive), str(top)])
    err = capsys.readouterr().err
    assert rc == 3, err
    assert _names(archive) == ["top", "top/a.txt", "top/sub", "top/sub/b.txt"]
    lines = err.splitlines()
    assert f"nzarc: warning: skipped {str(top / 'gone.txt')!r}: No such file or directory" in lines
    assert f"nzarc: warning: skipped {str(top / 'secret.txt')!r}: Permission denied" in lines
    assert lines[-1] == "nzarc: warning: 2 input(s) skipped; the archive holds everything else"
    with nzarc.open(archive) as r:  # what was archived is complete and verifies
        assert r.test().ok


def test_strict_makes_a_skipped_input_a_failure_and_leaves_no_archive(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    top = _tree(tmp_path)
    _unreadable(monkeypatch, "secret.txt")
    out = tmp_path / "out"
    out.mkdir()
    rc = cli.main(["create", "-q", "--strict", "--no-encrypt", "-o", str(out / "a.nzarc"), str(top)])
    err = capsys.readouterr().err
    assert rc == 1
    assert err.startswith("nzarc: error: Permission denied") and "secret.txt" in err
    assert len(err.splitlines()) <= 2 and "Traceback" not in err
    assert list(out.iterdir()) == []


def test_an_unlistable_directory_keeps_its_member_and_skips_its_contents(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    top = _tree(tmp_path)
    real = os.listdir

    def listdir(path: Any) -> list[str]:
        if Path(path).name == "sub":
            raise PermissionError(13, "Permission denied", str(path))
        return real(path)

    monkeypatch.setattr(walk_mod.os, "listdir", listdir)
    options = WalkOptions(strict=False)
    buf = io.BytesIO()
    with nzarc.ArchiveWriter(buf, encrypt=False) as w:
        w.add_path(top, walk=options)
    assert options.skipped == [Skipped(str(top / "sub"), "Permission denied")]
    buf.seek(0)
    with nzarc.open(buf) as r:
        names = [m.name for m in r.members()]
    assert "top/sub" in names and "top/sub/b.txt" not in names


def test_the_library_fails_on_an_unreadable_input_by_default(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    top = _tree(tmp_path)
    _vanish_after_listing(monkeypatch, top / "gone.txt")
    with (
        pytest.raises(FileNotFoundError, match="gone.txt"),
        nzarc.ArchiveWriter(io.BytesIO(), encrypt=False) as w,
    ):
        w.add_path(top)


def test_a_writer_error_is_never_taken_for_an_unreadable_input(tmp_path: Path) -> None:
    """Only reads of the source may be skipped: a failing archive output still fails."""
    top = _tree(tmp_path)
    (top / "big.bin").write_bytes(os.urandom(3 << 20))  # more than a segment reaches the output

    class FullDisk(io.RawIOBase):
        def writable(self) -> bool:
            return True

        def write(self, b: Any) -> int:
            raise OSError(28, "No space left on device")

    w = nzarc.ArchiveWriter(FullDisk(), encrypt=False, chunk_size=4096)
    options = WalkOptions(strict=False)
    with pytest.raises(OSError, match="No space left"):
        w.add_path(top, walk=options)
        w.close()
    assert options.skipped == []


def test_members_come_in_sorted_order(tmp_path: Path) -> None:
    top = tmp_path / "t"
    top.mkdir()
    for name in ("b", "a", "C", "ä", "a0"):
        (top / name).write_text(name)
    buf = io.BytesIO()
    with nzarc.ArchiveWriter(buf, encrypt=False) as w:
        w.add_path(top)
    buf.seek(0)
    with nzarc.open(buf) as r:
        names = [m.name for m in r.members()]
    assert names == ["t", *(f"t/{n}" for n in sorted(["b", "a", "C", "ä", "a0"]))]


class _GrowsWhileRead(io.RawIOBase):
    """A source file that another writer appends to after the first read, as a live log."""

    def __init__(self, path: Path) -> None:
        self._fh = open(path, "rb")  # noqa: SIM115 - closed with this object
        self._path = path
        self._grown = False

    def readable(self) -> bool:
        return True

    def fileno(self) -> int:
        return self._fh.fileno()

    def readinto(self, b: Any) -> int:
        n = self._fh.readinto(b)
        if not self._grown:
            self._grown = True
            with open(self._path, "ab") as other:
                other.write(b"appended while read\n")
        return n or 0

    def close(self) -> None:
        self._fh.close()
        super().close()


def _grows(monkeypatch: pytest.MonkeyPatch, name: str) -> None:
    real = walk_mod._open_source

    def open_source(path: Path) -> Any:
        return _GrowsWhileRead(path) if path.name == name else real(path)

    monkeypatch.setattr(walk_mod, "_open_source", open_source)


def test_a_file_that_changes_while_read_is_archived_as_read_with_a_warning_and_exit_3(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    top = _tree(tmp_path)
    _grows(monkeypatch, "a.txt")
    archive = tmp_path / "a.nzarc"
    rc = cli.main(["create", "-q", "--no-encrypt", "-o", str(archive), str(top)])
    err = capsys.readouterr().err
    assert rc == 3, err
    assert err.splitlines() == [
        f"nzarc: warning: {str(top / 'a.txt')!r} changed while it was read; its member holds "
        "what was read"
    ]
    with nzarc.open(archive) as r:
        assert r.test().ok
        assert [m.name for m in r.members()] == [
            "top", "top/a.txt", "top/gone.txt", "top/secret.txt", "top/sub", "top/sub/b.txt"
        ]


def test_strict_makes_a_changed_file_a_failure(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    top = _tree(tmp_path)
    _grows(monkeypatch, "a.txt")
    out = tmp_path / "out"
    out.mkdir()
    rc = cli.main(["create", "-q", "--strict", "--no-encrypt", "-o", str(out / "a.nzarc"), str(top)])
    err = capsys.readouterr().err
    assert rc == 1
    assert err.startswith("nzarc: error: ") and "changed while it was being archived" in err
    assert list(out.iterdir()) == []


def test_an_unchanged_tree_reports_nothing(tmp_path: Path) -> None:
    top = _tree(tmp_path)
    options = WalkOptions(strict=False)
    with nzarc.ArchiveWriter(io.BytesIO(), encrypt=False) as w:
        w.add_path(top, walk=options)
    assert options.changed == [] and options.skipped == []
