"""Choosing what goes in and what comes out: create --exclude/--exclude-from and -C, member
patterns on extract and list, extract -O, and one-line errors for a mistyped option."""

from __future__ import annotations

from pathlib import Path

import pytest
from cli_support import run_nzarc

import nzarc
from nzarc.cli import main
from nzarc.walk import name_excluded


@pytest.fixture
def home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("home")


def _tree(root: Path) -> Path:
    """top/{a.py, b.o, build/e, sub/{c.o, c.py, build/d}}"""
    top = root / "top"
    for rel, text in {
        "a.py": "alpha\n",
        "b.o": "object\n",
        "build/e": "built\n",
        "sub/c.o": "object c\n",
        "sub/c.py": "gamma\n",
        "sub/build/d": "built d\n",
    }.items():
        (top / rel).parent.mkdir(parents=True, exist_ok=True)
        (top / rel).write_text(text)
    return top


def _names(archive: Path) -> list[str]:
    with nzarc.open(archive) as r:
        return [m.name for m in r.members()]


def _create(tmp_path: Path, *argv: str) -> int:
    return main(["create", "-q", "--no-encrypt", *argv])


# --------------------------------------------------------------------------- --exclude


@pytest.mark.parametrize(
    ("name", "pattern", "excluded"),
    [
        ("top/b.o", "*.o", True),
        ("top/sub/c.o", "*.o", True),  # a tail after a '/'
        ("top/sub/c.o", "sub/*.o", True),
        ("top/sub/c.o", "top/*.o", True),  # '*' matches '/', as in tar
        ("top/sub", "sub/", True),  # a trailing '/' is ignored
        ("top/sub", "./top/sub", True),
        ("top/subway", "sub", False),  # whole components only
        ("top/a.py", "*.o", False),
        ("top/A.O", "*.o", False),  # case-sensitive
        ("top/b.o", "top/b.?", True),
        ("top/b.o", "[ab].o", True),
    ],
)
def test_exclude_pattern_semantics(name: str, pattern: str, excluded: bool) -> None:
    assert name_excluded(name, [pattern]) is excluded


def test_create_exclude_and_exclude_from(tmp_path: Path) -> None:
    top = _tree(tmp_path)
    patterns = tmp_path / "patterns"
    patterns.write_text("# objects\n\n*.o\n   \n")
    archive = tmp_path / "a.nzarc"
    rc = _create(tmp_path, "-o", str(archive), "--exclude", "build", "--exclude-from",
                 str(patterns), str(top))
    assert rc == 0  # excluded inputs are not "skipped" (that would be 3)
    assert _names(archive) == ["top", "top/a.py", "top/sub", "top/sub/c.py"]


def test_an_excluded_directory_is_not_descended_into(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    top = _tree(tmp_path)
    import nzarc.walk as walk_mod

    listed: list[str] = []
    real = walk_mod.os.listdir

    def listdir(path: object) -> list[str]:
        listed.append(Path(str(path)).name)
        return real(path)  # type: ignore[arg-type]

    monkeypatch.setattr(walk_mod.os, "listdir", listdir)
    archive = tmp_path / "a.nzarc"
    assert _create(tmp_path, "-o", str(archive), "--exclude", "sub", str(top)) == 0
    assert listed == ["top", "build"]
    assert _names(archive) == ["top", "top/a.py", "top/b.o", "top/build", "top/build/e"]


def test_exclude_from_a_missing_file_fails_before_anything_is_written(
    tmp_path: Path, home: Path
) -> None:
    top = _tree(tmp_path)
    r = run_nzarc("create", "--no-encrypt", "-o", tmp_path / "a.nzarc", "--exclude-from",
                  tmp_path / "nope", top, home=home).assert_clean_error(1)
    assert "nope" in r.stderr
    assert not (tmp_path / "a.nzarc").exists()


# --------------------------------------------------------------------------- create -C


def test_create_C_reads_inside_dir_and_keeps_the_paths_as_given(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    top = _tree(tmp_path)
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    # -o stays relative to the current directory, PATHs are taken inside -C DIR
    assert _create(tmp_path, "-o", "a.nzarc", "-C", str(top), "sub/build", "./a.py") == 0
    assert (work / "a.nzarc").is_file() and not (top / "a.nzarc").exists()
    assert _names(work / "a.nzarc") == ["sub/build", "sub/build/d", "a.py"]
    assert _create(tmp_path, "-o", "b.nzarc", "-C", str(top / "sub"), ".") == 0
    assert _names(work / "b.nzarc") == ["build", "build/d", "c.o", "c.py"]
    # an absolute PATH is not affected by -C
    assert _create(tmp_path, "-o", "c.nzarc", "-C", str(top), str(top / "build")) == 0
    assert _names(work / "c.nzarc") == ["build", "build/e"]


def test_create_C_refuses_a_non_directory_and_paths_outside_it(
    tmp_path: Path, home: Path
) -> None:
    top = _tree(tmp_path)
    out = tmp_path / "x.nzarc"
    r = run_nzarc("create", "--no-encrypt", "-o", out, "-C", top / "a.py", "b.o",
                  home=home).assert_clean_error(1)
    assert "is not a directory" in r.stderr
    r = run_nzarc("create", "--no-encrypt", "-o", out, "-C", top / "sub", "../a.py",
                  home=home).assert_clean_error(2)
    assert "'../a.py' is outside -C" in r.stderr
    r = run_nzarc("create", "--no-encrypt", "-o", out, "-C", top, "nope",
                  home=home).assert_clean_error(2)
    assert "no such file or directory" in r.stderr
    assert not out.exists()


# --------------------------------------------------------------------------- member patterns


def test_selection_semantics() -> None:
    from nzarc.selection import Selection

    sel = Selection(["job/py/*.py", "doc", "lit[1]", "x?"])
    assert sel.select("job/py/a.py") == "job/py/*.py"
    assert sel.select("job/py/deep/b.py") == "job/py/*.py"  # '*' matches '/'
    assert sel.select("job/py/a.pyc") is None
    assert sel.select("doc/readme") == "doc" and sel.select("docs") is None
    assert sel.select("lit[1]") == "lit[1]"  # a literal name with wildcard characters
    assert sel.select("lit1") == "lit[1]"  # ... also taken as a pattern
    assert sel.select("xy/z") == "x?"  # a pattern matching a directory selects its contents
    assert sel.unmatched(["job/py/a.py", "xy"]) == ["doc", "lit[1]"]
    assert Selection(None).select("any") == "any"


def _archive(tmp_path: Path) -> Path:
    top = _tree(tmp_path)
    archive = tmp_path / "a.nzarc"
    assert _create(tmp_path, "-o", str(archive), str(top)) == 0
    return archive


def test_extract_selects_by_pattern_and_names_a_pattern_that_matches_nothing(
    tmp_path: Path, home: Path
) -> None:
    archive = _archive(tmp_path)
    dest = tmp_path / "out"
    run_nzarc("extract", "-q", archive, "-C", dest, "top/*.py", home=home).assert_ok()
    assert sorted(str(p.relative_to(dest)) for p in dest.rglob("*") if p.is_file()) == [
        "top/a.py", "top/sub/c.py"]
    dest2 = tmp_path / "out2"
    r = run_nzarc("extract", "-q", archive, "-C", dest2, "top/b*", "top/*.rs",
                  home=home).assert_clean_error(1)
    assert "not found in archive: 'top/*.rs'" in r.stderr
    assert sorted(str(p.relative_to(dest2)) for p in dest2.rglob("*") if p.is_file()) == [
        "top/b.o", "top/build/e"]  # 'top/b*' matches the directory top/build: its contents too


# --------------------------------------------------------------------------- extract -O


def test_extract_to_stdout_writes_the_files_in_archive_order_and_nothing_to_disk(
    tmp_path: Path, home: Path
) -> None:
    archive = _archive(tmp_path)
    work = tmp_path / "work"
    work.mkdir()
    r = run_nzarc("extract", "-v", archive, "-O", "top/*.py", "top/build", home=home,
                  cwd=work).assert_ok()
    assert r.stdout == b"alpha\nbuilt\ngamma\n"  # top/a.py, top/build/e, top/sub/c.py
    assert "top/a.py" in r.stderr and "top/build/e" in r.stderr  # -v names go to stderr
    assert list(work.iterdir()) == []
    r = run_nzarc("extract", "-", "-O", "top/sub/c.py", stdin=archive.read_bytes(),
                  home=home, cwd=work).assert_ok()  # from a pipe
    assert r.stdout == b"gamma\n" and r.stderr == ""
    r = run_nzarc("extract", "--progress", archive, "-O", home=home, cwd=work).assert_ok()
    assert r.stdout == b"alpha\nobject\nbuilt\nbuilt d\nobject c\ngamma\n"  # progress: stderr
    r = run_nzarc("extract", archive, "-O", "top/a.py", "top/*.rs", home=home,
                  cwd=work).assert_clean_error(1)
    assert r.stdout == b"alpha\n" and "not found in archive: 'top/*.rs'" in r.stderr
    r = run_nzarc("extract", archive, "-O", "-C", "d", "--force", home=home,
                  cwd=work).assert_clean_error(2)
    assert "-O writes to stdout: -C, --force do not apply" in r.stderr
    assert list(work.iterdir()) == []


def test_copy_members_raises_after_the_bytes_of_a_member_failing_its_digest() -> None:
    import io

    from nzarc.errors import IntegrityError
    from nzarc.tostream import copy_members

    class Data:
        def __init__(self, name: str, kind: str, pieces: list[bytes], bad: bool) -> None:
            self.member = type("M", (), {"name": name, "type": kind})()
            self._pieces, self._bad = pieces, bad

        def chunks(self):  # type: ignore[no-untyped-def]
            yield from self._pieces
            if self._bad:
                raise IntegrityError(f"member {self.member.name!r} fails its SHA-256 check")

    class Reader:
        seekable = False

        def __init__(self, bad: bool = True) -> None:
            self.bad = bad

        def iter_members(self, names):  # type: ignore[no-untyped-def]
            assert names is None
            yield Data("d", "dir", [], False)
            yield Data("d/x", "file", [b"x1", b"x2"], False)
            yield Data("y", "file", [b"skipped"], False)
            yield Data("d/z", "file", [b"z1", b"z2"], self.bad)
            yield Data("d/after", "file", [b"never"], False)

    out = io.BytesIO()
    with pytest.raises(IntegrityError, match="SHA-256"):
        copy_members(Reader(), out, ["d"])
    assert out.getvalue() == b"x1x2z1z2"
    out = io.BytesIO()
    done = copy_members(Reader(bad=False), out, ["d/x", "y", "d/after"])
    assert [m.name for m in done] == ["d/x", "y", "d/after"]  # d/z is read, not written
    assert out.getvalue() == b"x1x2skippednever"


# --------------------------------------------------------------------------- list MEMBER


def test_list_shows_only_the_selected_members(tmp_path: Path, home: Path) -> None:
    import json

    archive = _archive(tmp_path)
    r = run_nzarc("list", archive, "top/a.py", home=home).assert_ok()
    assert r.stdout == b"top/a.py\n"
    r = run_nzarc("list", archive, "-l", "top/sub/*.py", "top/build", home=home).assert_ok()
    lines = r.stdout.decode().splitlines()
    assert [ln.split()[-1] for ln in lines] == ["top/build", "top/build/e", "top/sub/c.py"]
    assert lines[-1].startswith("-rw") and " 6 " in lines[-1]  # mode and size of c.py
    r = run_nzarc("list", "--json", archive, "top/b.o", home=home).assert_ok()
    (row,) = json.loads(r.stdout)
    assert row["name"] == "top/b.o" and row["size"] == 7 and row["type"] == "file"
    r = run_nzarc("list", archive, "top/a.py", "top/*.rs", home=home).assert_clean_error(1)
    assert r.stdout == b"top/a.py\n" and "not found in archive: 'top/*.rs'" in r.stderr


# --------------------------------------------------------------------------- mistyped options


@pytest.mark.parametrize(
    ("argv", "error", "hint"),
    [
        (["create", "--exlude", "x", "-o", "a.nzarc", "b"], "unrecognized arguments: --exlude",
         "hint: did you mean --exclude? see 'nzarc create --help'"),
        (["list", "a.nzarc", "--jsn"], "unrecognized arguments: --jsn",
         "hint: did you mean --json? see 'nzarc list --help'"),
        (["extract", "a.nzarc", "--to-stdot"], "unrecognized arguments: --to-stdot",
         "hint: did you mean --to-stdout? see 'nzarc extract --help'"),
        (["create", "-o", "a", "--exc", "x", "b"], "ambiguous option: --exc could match",
         "hint: see 'nzarc create --help'"),
        (["info", "a.nzarc", "b"], "unrecognized arguments: b", "hint: see 'nzarc info --help'"),
    ],
)
def test_a_mistyped_option_is_one_error_line_and_a_hint(
    argv: list[str], error: str, hint: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(argv) == 2
    captured = capsys.readouterr()
    lines = captured.err.splitlines()
    assert len(lines) == 2 and captured.out == ""
    assert lines[0].startswith(f"nzarc: error: {error}") and lines[1] == hint


def test_the_progress_total_leaves_out_excluded_files(tmp_path: Path) -> None:
    from nzarc.inputscan import tree_size as _tree_size

    top = _tree(tmp_path)
    sizes = {p.relative_to(top).as_posix(): p.stat().st_size for p in top.rglob("*") if p.is_file()}
    assert _tree_size([(str(top), "top")], []) == sum(sizes.values())
    assert _tree_size([(str(top), "top")], ["*.o", "build"]) == sizes["a.py"] + sizes["sub/c.py"]
    assert _tree_size([(str(top), "")], ["sub"]) == sizes["a.py"] + sizes["b.o"] + sizes["build/e"]
