"""``nzarc create``'s output file and level checks: an existing archive is replaced only with
``--force`` (also one that appears while writing), and ``-l`` is checked against the codec
it applies to, both before any input is read or passphrase asked."""

from __future__ import annotations

import errno
import os
from pathlib import Path

import pytest
from cli_support import run_nzarc

from nzarc.cli import _AtomicOutput, build_parser
from nzarc.codecs.zstd import ZstdCodec
from nzarc.levels import CodecOptionError
from nzarc.planning import AUTO_ZSTD_LEVEL, check_level, plan_codecs

PW = {"NZARC_PASSPHRASE": "correct horse battery staple"}


@pytest.fixture
def home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("home")


def _leftovers(directory: Path) -> list[str]:
    return [p.name for p in directory.iterdir() if p.name.endswith(".nzarc-tmp")]


# --------------------------------------------------------------------------- existing output


def test_create_refuses_an_existing_archive_before_asking_for_a_passphrase(
    home: Path, tmp_path: Path
) -> None:
    (tmp_path / "f").write_text("data\n")
    archive = tmp_path / "a.nzarc"
    archive.write_bytes(b"precious")
    # no passphrase source at all: the refusal must come first (exit 1, like extract's)
    r = run_nzarc("create", "-o", archive, tmp_path / "f", home=home)
    r.assert_clean_error(1)
    assert "refusing to overwrite existing" in r.stderr and "hint: use --force" in r.stderr
    assert archive.read_bytes() == b"precious" and not _leftovers(tmp_path)


def test_create_refuses_a_dangling_symlink_as_output(home: Path, tmp_path: Path) -> None:
    (tmp_path / "f").write_text("data\n")
    link = tmp_path / "a.nzarc"
    link.symlink_to(tmp_path / "nowhere")
    r = run_nzarc("create", "--no-encrypt", "-o", link, tmp_path / "f", home=home)
    r.assert_clean_error(1)
    assert link.is_symlink() and not (tmp_path / "nowhere").exists()


@pytest.mark.parametrize("flag", ["--force", "-f"])
def test_create_force_replaces(home: Path, tmp_path: Path, flag: str) -> None:
    (tmp_path / "f").write_text("data\n")
    archive = tmp_path / "a.nzarc"
    archive.write_bytes(b"old")
    run_nzarc("create", flag, "-o", archive, tmp_path / "f", home=home, env=PW).assert_ok()
    assert archive.read_bytes()[:5] != b"old" and not _leftovers(tmp_path)
    run_nzarc("test", archive, home=home, env=PW).assert_ok()


def test_create_to_stdout_needs_no_force(home: Path, tmp_path: Path) -> None:
    (tmp_path / "f").write_text("data\n")
    r = run_nzarc("create", "--no-encrypt", "-o", "-", tmp_path / "f", home=home).assert_ok()
    assert r.stdout


def test_force_is_a_create_option() -> None:
    ns = build_parser().parse_args(["create", "-f", "-o", "x", "p"])
    assert ns.force is True
    assert build_parser().parse_args(["create", "-o", "x", "p"]).force is False


def test_output_that_appears_while_writing_is_not_replaced(tmp_path: Path) -> None:
    target = tmp_path / "a.nzarc"
    out = _AtomicOutput(str(target))
    out.file.write(b"new archive")
    target.write_bytes(b"someone else's")  # appears after the first check
    with pytest.raises(FileExistsError, match="refusing to overwrite existing"):
        out.commit()
    out.discard()  # the CLI calls it again on the way out: harmless
    assert target.read_bytes() == b"someone else's" and not _leftovers(tmp_path)


def test_output_published_without_force(tmp_path: Path) -> None:
    target = tmp_path / "a.nzarc"
    out = _AtomicOutput(str(target))
    out.file.write(b"new archive")
    out.commit()
    out.discard()  # after a commit it must not touch the published file
    assert target.read_bytes() == b"new archive" and not _leftovers(tmp_path)
    assert target.stat().st_nlink == 1


def test_output_with_force_replaces_one_that_appeared(tmp_path: Path) -> None:
    target = tmp_path / "a.nzarc"
    out = _AtomicOutput(str(target), force=True)
    out.file.write(b"new archive")
    target.write_bytes(b"old")
    out.commit()
    assert target.read_bytes() == b"new archive" and not _leftovers(tmp_path)


def test_output_without_hard_links_still_refuses(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def no_links(*args: object, **kwargs: object) -> None:
        raise OSError(errno.EPERM, "hard links not supported")

    monkeypatch.setattr(os, "link", no_links)
    target = tmp_path / "a.nzarc"
    out = _AtomicOutput(str(target))
    out.file.write(b"new archive")
    out.commit()
    assert target.read_bytes() == b"new archive" and not _leftovers(tmp_path)
    late = tmp_path / "b.nzarc"
    out = _AtomicOutput(str(late))
    out.file.write(b"new archive")
    late.write_bytes(b"someone else's")
    with pytest.raises(FileExistsError, match="refusing to overwrite existing"):
        out.commit()
    assert late.read_bytes() == b"someone else's" and not _leftovers(tmp_path)


def test_discard_removes_the_temporary_file_on_any_failure(tmp_path: Path) -> None:
    out = _AtomicOutput(str(tmp_path / "a.nzarc"))
    out.file.write(b"partial")
    assert _leftovers(tmp_path)
    out.discard()
    out.discard()
    assert not _leftovers(tmp_path) and not (tmp_path / "a.nzarc").exists()


# --------------------------------------------------------------------------- levels


@pytest.mark.parametrize(
    ("codec", "level", "message", "hint"),
    [
        ("auto", "30", "-l 30: not a level of nzarc.zstd", f"zstd takes levels {ZstdCodec.MIN_LEVEL}..{ZstdCodec.MAX_LEVEL}"),
        ("zstd", "-8", "-l -8: not a level of nzarc.zstd", f"zstd takes levels {ZstdCodec.MIN_LEVEL}..{ZstdCodec.MAX_LEVEL}"),
        ("neural", "3", "-l 3: nzarc.neural takes no level", "a level applies to zstd and xz"),
        ("store", "1", "-l 1: nzarc.store takes no level", "a level applies to zstd and xz"),
    ],
)
def test_bad_level_is_a_usage_error_before_any_prompt(
    home: Path, tmp_path: Path, codec: str, level: str, message: str, hint: str
) -> None:
    (tmp_path / "f").write_text("some text\n")
    archive = tmp_path / "a.nzarc"
    # no passphrase source: a level checked only after the keys would report that instead
    r = run_nzarc("create", "-c", codec, "-l", level, "-o", archive, tmp_path / "f", home=home)
    r.assert_clean_error(2)
    assert f"nzarc: error: {message}" in r.stderr and f"hint: {hint}" in r.stderr
    assert not archive.exists() and not _leftovers(tmp_path)


@pytest.mark.parametrize("level", [ZstdCodec.MIN_LEVEL, 1, ZstdCodec.MAX_LEVEL])
def test_levels_in_range_are_accepted(level: int) -> None:
    check_level("zstd", level)
    check_level("auto", level)
    assert plan_codecs("zstd", level).entries[1].params == {"level": level}


def test_library_refuses_a_level_the_codec_has_not() -> None:
    with pytest.raises(CodecOptionError, match="nzarc.store takes no level"):
        plan_codecs("store", 3)
    with pytest.raises(CodecOptionError, match="not a level of nzarc.zstd") as ei:
        plan_codecs("auto", 23)
    assert ei.value.hint == f"zstd takes levels {ZstdCodec.MIN_LEVEL}..{ZstdCodec.MAX_LEVEL}"
    check_level("auto", None)
    check_level("neural", None)


def test_auto_level_is_the_zstd_candidates() -> None:
    plan = plan_codecs("auto", 5)
    assert [(e.codec_id, e.params.get("level")) for e in plan.entries[:2]] == [
        ("nzarc.store", None),
        ("nzarc.zstd", 5),
    ]
    assert plan_codecs("auto").entries[1].params == {"level": AUTO_ZSTD_LEVEL}


def test_level_help_names_the_codec_and_its_range() -> None:
    create = build_parser()._subparsers._group_actions[0].choices["create"]  # type: ignore[union-attr]
    text = " ".join(create.format_help().split())
    assert f"zstd level ({ZstdCodec.MIN_LEVEL}..{ZstdCodec.MAX_LEVEL};" in text
    assert "-c neural and -c store take no level" in text
