"""Passphrase and key-file sources used by the command line."""

from __future__ import annotations

from pathlib import Path

import pytest

from nzarc.errors import KeyFileError
from nzarc.passphrase import (
    PassphraseInputError,
    prompt_passphrase,
    read_identity_file,
    read_passphrase_file,
    read_recipients_file,
    resolve_passphrase,
)


def scripted(*answers: str):
    it = iter(answers)
    asked: list[str] = []

    def prompt(text: str) -> str:
        asked.append(text)
        try:
            return next(it)
        except StopIteration:
            raise EOFError from None

    prompt.asked = asked  # type: ignore[attr-defined]
    return prompt


def test_file_first_line_without_newline(tmp_path: Path) -> None:
    p = tmp_path / "pw"
    p.write_bytes(b"correct horse\r\nsecond line\n")
    assert read_passphrase_file(p) == "correct horse"
    p.write_bytes(b"  spaces kept  ")
    assert read_passphrase_file(p) == "  spaces kept  "


@pytest.mark.parametrize("content", [b"", b"\n", b"\r\nx"])
def test_empty_file_refused(tmp_path: Path, content: bytes) -> None:
    p = tmp_path / "pw"
    p.write_bytes(content)
    with pytest.raises(KeyFileError, match="is empty"):
        read_passphrase_file(p)


def test_non_utf8_and_huge_files_refused(tmp_path: Path) -> None:
    p = tmp_path / "pw"
    p.write_bytes(b"\xff\xfe")
    with pytest.raises(KeyFileError, match="not UTF-8"):
        read_passphrase_file(p)
    p.write_bytes(b"x" * ((1 << 20) + 1))
    with pytest.raises(KeyFileError, match="larger than"):
        read_passphrase_file(p)


def test_order_file_then_env_then_prompt(tmp_path: Path) -> None:
    p = tmp_path / "pw"
    p.write_text("from-file\n")
    env = {"NZARC_PASSPHRASE": "from-env"}
    prompt = scripted("typed", "typed")
    assert resolve_passphrase(file=p, confirm=True, environ=env, prompt=prompt) == "from-file"
    assert resolve_passphrase(file=None, confirm=True, environ=env, prompt=prompt) == "from-env"
    assert resolve_passphrase(file=None, confirm=True, environ={}, prompt=prompt) == "typed"
    assert prompt.asked == ["Passphrase: ", "Passphrase (again): "]


def test_no_source_gives_none() -> None:
    assert resolve_passphrase(file=None, confirm=True, environ={}, has_tty=lambda: False) is None
    assert (
        resolve_passphrase(file=None, confirm=False, interactive=False, environ={},
                           prompt=scripted("x"))
        is None
    )


def test_prompt_asks_once_on_read_twice_on_create() -> None:
    once = scripted("pw")
    assert prompt_passphrase(confirm=False, prompt=once) == "pw"
    assert len(once.asked) == 1
    with pytest.raises(PassphraseInputError, match="differ"):
        prompt_passphrase(confirm=True, prompt=scripted("one", "two"))
    with pytest.raises(PassphraseInputError, match="empty"):
        prompt_passphrase(confirm=True, prompt=scripted(""))
    with pytest.raises(PassphraseInputError):
        prompt_passphrase(confirm=True, prompt=scripted())


# age's published test recipient and its identity.
AGE_1 = "age1zvkyg2lqzraa2lnjvqej32nkuu0ues2s82hzrye869xeexvn73equnujwj"
AGE_ID = "AGE-SECRET-KEY-1GFPYYSJZGFPYYSJZGFPYYSJZGFPYYSJZGFPYYSJZGFPYYSJZGFPQ4EGAEX"


def test_recipients_file(tmp_path: Path) -> None:
    from nzarc.crypto.recipients import generate_identity

    age_2 = generate_identity()[1]
    p = tmp_path / "r"
    p.write_text(f"# team keys\n\n{AGE_1}\n{age_2} # trailing comment\n")
    with pytest.raises(KeyFileError, match="line 4"):
        read_recipients_file(p)
    p.write_text(f"# team keys\n\n{AGE_1}\n  {age_2}  \n")
    assert read_recipients_file(p) == [AGE_1, age_2]
    p.write_text("# only comments\n")
    with pytest.raises(KeyFileError, match="lists no public keys"):
        read_recipients_file(p)


def test_identity_file(tmp_path: Path) -> None:
    p = tmp_path / "id"
    p.write_text(f"# created: now\n# public key: {AGE_1}\n{AGE_ID}\n")
    assert read_identity_file(p) == [AGE_ID]
    p.write_text("age1xyz\n")
    with pytest.raises(KeyFileError, match="line 1"):
        read_identity_file(p)


SSH_PUBLIC = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl me@host"


@pytest.mark.parametrize(
    "line",
    [SSH_PUBLIC, "ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAABAQ", "ecdsa-sha2-nistp256 AAAAE2VjZHNh"],
)
def test_ssh_key_in_recipients_file_named_with_its_line(tmp_path: Path, line: str) -> None:
    p = tmp_path / "r"
    p.write_text(f"# team\n\n{line}\n")
    with pytest.raises(
        KeyFileError, match=r"line 3: an \S+ public key: ssh keys are not supported, only age "
        r"X25519 recipients \(age1\.\.\.\)"
    ) as info:
        read_recipients_file(p)
    assert info.value.hint is not None and "nzarc keygen" in info.value.hint


def test_openssh_private_key_as_identity_file(tmp_path: Path) -> None:
    p = tmp_path / "id_ed25519"
    p.write_text("-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAA\n"
                 "-----END OPENSSH PRIVATE KEY-----\n")
    with pytest.raises(KeyFileError, match="line 1: an OpenSSH private key: ssh keys are not "
                       r"supported, only age X25519 identities \(AGE-SECRET-KEY-1\.\.\.\)"):
        read_identity_file(p)
    p.write_text(SSH_PUBLIC + "\n")
    with pytest.raises(KeyFileError, match="line 1: an ssh-ed25519 public key"):
        read_identity_file(p)


def test_unreadable_key_files_are_key_file_errors(tmp_path: Path) -> None:
    for read in (read_recipients_file, read_identity_file, read_passphrase_file):
        with pytest.raises(KeyFileError, match="cannot read .* No such file"):
            read(tmp_path / "missing")


def test_malformed_keys_are_refused_with_their_line(tmp_path: Path) -> None:
    p = tmp_path / "k"
    p.write_text(f"{AGE_1}\n{AGE_1[:-1]}x\n")
    with pytest.raises(KeyFileError, match="line 2: not a valid age public key: bech32"):
        read_recipients_file(p)
    p.write_text(f"# id\n{AGE_ID[:-2]}\n")
    with pytest.raises(KeyFileError, match="line 2: not a valid age identity"):
        read_identity_file(p)
