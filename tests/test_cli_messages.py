"""What the command line prints: untrusted names escaped, errors that name their file,
key problems that say what is wrong, and the exit status of each."""

from __future__ import annotations

import errno
import io
import json
import os
import types
from pathlib import Path
from typing import Any

import pytest
from cli_support import run_nzarc

import nzarc.atomic as atomic_mod
import nzarc.cli as cli
import nzarc.extracttree as extracttree_mod
from nzarc.display import printable
from nzarc.writer import ArchiveWriter

#: Member names that are valid (the format allows any character but NUL and backslash)
#: and that, printed raw, retitle the terminal, clear it, overwrite or fake lines, or
#: reverse the text after them.
HOSTILE = [
    "title\x1b]0;pwned\x07.txt",
    "clear\x1b[2J\x1b[H.txt",
    "cr\rdrwxr-xr-x 0 2020-01-01 00:00 fake",
    "lf\n-rw-r--r-- 1 2020-01-01 00:00 fake",
    "nel\x85sep\u2028par\u2029.txt",
    "csi\x9b31m.txt",
    "bidi\u202etxt.exe",
    "iso\u2066x\u2069\x7f",
]
#: A symlink whose target (outside the destination: extraction refuses it) holds a real
#: backslash, an OSC 8 hyperlink and a fake line.
LINK = ("link\x1b[31m", "../tgt\\x1b\x1b]8;;http://x\x07\n-> fake")


@pytest.fixture
def home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("home")


@pytest.fixture
def hostile(tmp_path: Path) -> Path:
    arc = tmp_path / "hostile.nzarc"
    with arc.open("wb") as f, ArchiveWriter(f, encrypt=False) as w:
        for name in HOSTILE:
            w.add_file(name, io.BytesIO(b"data"))
        w.add_symlink(*LINK)
    return arc


def assert_no_raw_controls(text: str, lines: int) -> list[str]:
    """Only printable characters and one newline per line; return the lines."""
    assert text.endswith("\n")
    out = text[:-1].split("\n")
    assert len(out) == lines, out
    for line in out:
        assert line.isprintable(), ascii(line)
    return out


def test_list_escapes_names(home: Path, hostile: Path) -> None:
    r = run_nzarc("list", hostile, home=home).assert_ok()
    lines = assert_no_raw_controls(r.stdout.decode(), len(HOSTILE) + 1)
    assert lines == [printable(n) for n in [*HOSTILE, LINK[0]]]
    assert lines[0] == "title\\x1b]0;pwned\\x07.txt"


def test_list_long_escapes_names_and_link_targets(home: Path, hostile: Path) -> None:
    r = run_nzarc("list", "-l", hostile, home=home).assert_ok()
    lines = assert_no_raw_controls(r.stdout.decode(), len(HOSTILE) + 1)
    for line, name in zip(lines, HOSTILE, strict=False):
        assert line.startswith("-rw") and line.endswith(" " + printable(name))
    assert lines[-1].startswith("l")
    assert lines[-1].endswith(f" {printable(LINK[0])} -> {printable(LINK[1])}")
    assert "tgt\\\\x1b\\x1b]8;;" in lines[-1]  # a real backslash is not confused with ESC


def test_json_keeps_exact_names(home: Path, hostile: Path) -> None:
    r = run_nzarc("list", "--json", hostile, home=home).assert_ok()
    members = json.loads(r.stdout)
    assert [m["name"] for m in members] == [*HOSTILE, LINK[0]]
    assert members[-1]["link_target"] == LINK[1]


def test_extract_verbose_escapes_names(home: Path, hostile: Path, tmp_path: Path) -> None:
    dest = tmp_path / "out"
    r = run_nzarc("extract", "-v", hostile, "-C", dest, home=home)
    assert r.rc == 1  # the link's target is outside: refused, and the error is escaped too
    lines = assert_no_raw_controls(r.stderr, len(HOSTILE) + 3)
    assert lines[:-2] == [printable(n) for n in [*HOSTILE, LINK[0]]]
    assert lines[-2].startswith("nzarc: error: refusing symlink 'link\\x1b[31m'")
    assert lines[-1].startswith("hint: ")
    assert sorted(os.listdir(dest)) == sorted(HOSTILE)  # the names on disk stay exact


def test_create_verbose_escapes_file_names(home: Path, tmp_path: Path) -> None:
    src = tmp_path / "src"
    src.mkdir()
    names = ["e\x1b[2Jvil", "two\nlines", "bidi\u202ecod.exe"]
    for n in names:
        (src / n).write_text("x")
    r = run_nzarc("create", "--no-encrypt", "-v", "-o", tmp_path / "a.nzarc", src, home=home)
    r.assert_ok()
    lines = assert_no_raw_controls(r.stderr, len(names) + 2)  # + the directory + the summary
    assert set(lines[1:-1]) == {printable(f"src/{n}") for n in names}


def test_error_names_are_escaped(home: Path, tmp_path: Path) -> None:
    r = run_nzarc("list", tmp_path / "no\x1b]0;pwned\x07such", home=home)
    r.assert_clean_error(1)
    assert_no_raw_controls(r.stderr, 1)
    assert "no\\x1b]0;pwned\\x07such" in r.stderr


def test_warnings_are_escaped(capsys: pytest.CaptureFixture[str]) -> None:
    cli._warn("a\x1b[2Jb\nc")
    assert capsys.readouterr().err == "nzarc: warning: a\\x1b[2Jb c\n"


def test_info_escapes_what_the_archive_says(capsys: pytest.CaptureFixture[str]) -> None:
    info = types.SimpleNamespace(
        version=1, encrypted=True, suite="chacha20-poly1305", recipients=["x25519\x1b[2J"],
        codecs=[{"id": "evil\x1b]0;t\x07", "ver": 1, "params": {}, "dist": "d\rist",
                 "models": [{"name": "m\n-fake", "weights_sha256": "00", "tokenizer_sha256": "11",
                             "runtime": "r\u202e"}]}],
        chunk_size=1 << 20, padded=False, members=1, files=1, chunks=1,
        chunks_per_codec={"evil\x1b]0;t\x07": 1}, raw_size=4, archive_size=100, ratio=25.0,
    )
    cli._print_info_human(info, True)
    out = capsys.readouterr().out
    lines = assert_no_raw_controls(out, out.count("\n"))
    assert any("evil\\x1b]0;t\\x07" in ln for ln in lines)
    assert len(lines) == 10


# --------------------------------------------------------------------------- -C and ENOSPC


def test_extract_into_a_regular_file(home: Path, hostile: Path, tmp_path: Path) -> None:
    afile = tmp_path / "afile"
    afile.write_text("keep")
    r = run_nzarc("extract", hostile, "-C", afile, home=home)
    r.assert_clean_error(1)
    assert f"-C {afile} is not a directory" in r.stderr
    assert afile.read_text() == "keep"


def _plain_archive(path: Path, size: int = 200_000) -> None:
    with path.open("wb") as f, ArchiveWriter(f, encrypt=False) as w:
        w.add_file("dir/a.bin", io.BytesIO(os.urandom(size)))


def _os_with(**overrides: Any) -> types.ModuleType:
    """A copy of the os module with some functions replaced (for one module's use only)."""
    fake = types.ModuleType("os")
    fake.__dict__.update(os.__dict__)
    fake.__dict__.update(overrides)
    return fake


def _no_space(*_: Any, **__: Any) -> Any:
    raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))


def test_extract_disk_full_names_the_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    arc = tmp_path / "a.nzarc"
    _plain_archive(arc)
    dest = tmp_path / "out"
    monkeypatch.setattr(extracttree_mod, "os", _os_with(write=_no_space))
    assert cli.main(["extract", "-q", str(arc), "-C", str(dest)]) == 1
    err = capsys.readouterr().err
    assert err == f"nzarc: error: No space left on device: {dest / 'dir' / 'a.bin'}\n"
    assert os.listdir(dest / "dir") == []  # the temporary file is gone


def test_create_disk_full_names_the_archive(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "in").write_bytes(os.urandom(100_000))

    class FullDisk(io.RawIOBase):
        def __init__(self, fd: int) -> None:
            self.fd = fd

        def writable(self) -> bool:
            return True

        def fileno(self) -> int:
            return self.fd

        def write(self, b: Any) -> int:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

        def close(self) -> None:
            if not self.closed:
                os.close(self.fd)
            super().close()

    monkeypatch.setattr(atomic_mod, "os", _os_with(fdopen=lambda fd, mode: io.BufferedWriter(FullDisk(fd))))
    target = tmp_path / "a.nzarc"
    assert cli.main(["create", "-q", "--no-encrypt", "-o", str(target), str(tmp_path / "in")]) == 1
    err = capsys.readouterr().err
    assert err == f"nzarc: error: No space left on device: {target}\n"
    assert os.listdir(tmp_path) == ["in"]  # no archive, no temporary file


# --------------------------------------------------------------------------- keys

SSH_PUB = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl me@host"
OPENSSH_PRIVATE = (
    "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQ\n"
    "-----END OPENSSH PRIVATE KEY-----\n"
)


@pytest.fixture
def locked(home: Path, tmp_path: Path) -> Path:
    """An archive encrypted to a fresh age key (identity in tmp_path/'id')."""
    run_nzarc("keygen", "-o", tmp_path / "id", home=home).assert_ok()
    public = next(ln.split()[-1] for ln in (tmp_path / "id").read_text().splitlines()
                  if ln.startswith("# public key:"))
    (tmp_path / "f").write_text("x")
    arc = tmp_path / "a.nzarc"
    run_nzarc("create", "-r", public, "-o", arc, tmp_path / "f", home=home).assert_ok()
    return arc


def test_ssh_key_in_recipients_file(home: Path, tmp_path: Path) -> None:
    (tmp_path / "f").write_text("x")
    (tmp_path / "keys").write_text(f"# team\n{SSH_PUB}\n")
    r = run_nzarc("create", "-R", tmp_path / "keys", "-o", tmp_path / "a", tmp_path / "f", home=home)
    r.assert_clean_error(1)
    assert "line 2: an ssh-ed25519 public key: ssh keys are not supported, only age X25519 " \
        "recipients (age1...)" in r.stderr
    assert not (tmp_path / "a").exists()


@pytest.mark.parametrize("key", [SSH_PUB, "ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAABAQ"])
def test_ssh_key_as_recipient_argument(home: Path, tmp_path: Path, key: str) -> None:
    (tmp_path / "f").write_text("x")
    r = run_nzarc("create", "-r", key, "-o", tmp_path / "a", tmp_path / "f", home=home)
    r.assert_clean_error(1)
    assert "public key: ssh keys are not supported, only age X25519 recipients" in r.stderr
    assert sorted(os.listdir(tmp_path)) == ["f"]


def test_openssh_private_key_as_identity(home: Path, locked: Path, tmp_path: Path) -> None:
    (tmp_path / "id_ed25519").write_text(OPENSSH_PRIVATE)
    r = run_nzarc("list", "-i", tmp_path / "id_ed25519", locked, home=home)
    r.assert_clean_error(1)
    assert "line 1: an OpenSSH private key: ssh keys are not supported, only age X25519 " \
        "identities (AGE-SECRET-KEY-1...)" in r.stderr


@pytest.mark.parametrize(
    "content, says",
    [
        (None, "cannot read identity file"),
        ("", "holds no identities"),
        ("# nothing\n", "holds no identities"),
        ("age1notanidentity\n", "line 1: not an AGE-SECRET-KEY-1... identity"),
        ("AGE-SECRET-KEY-1NOTBECH32\n", "line 1: not a valid age identity"),
        ("\xff", "is not UTF-8 text"),
    ],
    ids=["missing", "empty", "comments", "wrong-kind", "malformed", "not-utf8"],
)
def test_key_problems_exit_1(
    home: Path, locked: Path, tmp_path: Path, content: str | None, says: str
) -> None:
    """The exit table: a key problem (unreadable, malformed or wrong key file) is status 1,
    with one line that names the file."""
    ident = tmp_path / "ident"
    if content == "\xff":
        ident.write_bytes(b"\xff\xfe")
    elif content is not None:
        ident.write_text(content)
    r = run_nzarc("list", "-i", ident, locked, home=home).assert_clean_error(1)
    assert says in r.stderr and repr(str(ident)) in r.stderr
    recipients = tmp_path / "recipients"
    if content is not None:
        recipients.write_bytes(ident.read_bytes().replace(b"AGE-SECRET-KEY-1", b"age1"))
    r = run_nzarc("create", "-R", recipients, "-o", tmp_path / "b", tmp_path / "f", home=home)
    r.assert_clean_error(1)
    assert f"recipients file {str(recipients)!r}" in r.stderr
    assert not (tmp_path / "b").exists()


def test_wrong_identity_exit_1(home: Path, locked: Path, tmp_path: Path) -> None:
    run_nzarc("keygen", "-o", tmp_path / "other", home=home).assert_ok()
    r = run_nzarc("list", "-i", tmp_path / "other", locked, home=home)
    r.assert_clean_error(1)
    assert "no identity matched" in r.stderr


def test_empty_passphrase_file_exit_1(home: Path, tmp_path: Path) -> None:
    (tmp_path / "f").write_text("x")
    (tmp_path / "pw").write_text("\n")
    r = run_nzarc("create", "--passphrase-file", tmp_path / "pw", "-o", tmp_path / "a",
                  tmp_path / "f", home=home)
    r.assert_clean_error(1)
    assert "is empty" in r.stderr


def test_exit_table_says_key_files_are_status_1() -> None:
    row1 = cli.EPILOG.split("\n  2  ")[0]
    assert "key file" in row1 and "not a directory" in row1 and "disk full" in row1
    assert "key file" in (cli.__doc__ or "").split("* 2:")[0]


def test_model_list_escapes_model_names(home: Path, tmp_path: Path) -> None:
    from nzarc.neural.tiny import write_tiny_gguf

    gguf = write_tiny_gguf(1, tmp_path / "tiny.gguf")
    r = run_nzarc("model", "install", gguf, "--name", "evil\x1b]0;pwned\x07\nfake", home=home)
    r.assert_ok()
    assert_no_raw_controls(r.stdout.decode(), 2)
    out = run_nzarc("model", "list", home=home).assert_ok().stdout.decode()
    (line,) = assert_no_raw_controls(out, 1)
    assert line.startswith("evil\\x1b]0;pwned\\x07\\x0afake ")
