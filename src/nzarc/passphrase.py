"""Where the command line finds passphrases and key files.

Sources, in the order they are consulted:

1. ``--passphrase-file FILE``: the first line of FILE (without its line ending);
2. the environment variable ``NZARC_PASSPHRASE`` (for automation);
3. a prompt on the controlling terminal (``/dev/tty``), asked twice when an
   archive is being created.

A passphrase is never read from standard input, which may carry archive data.
When no source is available :func:`resolve_passphrase` returns ``None`` and the
caller decides whether that is an error.

This module also reads the two key-file formats the CLI accepts: recipients
files (``age1...`` public keys) and identity files (``AGE-SECRET-KEY-1...``
secret keys), one key per line, blank lines and ``#`` comments ignored.

A file that cannot be read or does not hold what it should (a passphrase file,
a recipients file, an identity file) raises :class:`nzarc.errors.KeyFileError`,
a key problem (exit status 1 at the command line); an ssh key in a key file is
named as such, with its line number. :class:`PassphraseInputError` is for the
rest: no passphrase could be obtained as asked (exit status 2).
"""

from __future__ import annotations

import getpass
import os
from collections.abc import Callable, Mapping

from nzarc.errors import FormatError, KeyFileError, PassphraseInputError

__all__ = [
    "ENV_VAR",
    "MAX_KEY_FILE_BYTES",
    "PassphraseInputError",
    "KeyFileError",
    "read_passphrase_file",
    "passphrase_from_env",
    "tty_available",
    "prompt_passphrase",
    "resolve_passphrase",
    "read_recipients_file",
    "read_identity_file",
]

ENV_VAR = "NZARC_PASSPHRASE"

#: Key files and passphrase files larger than this are refused (they are tiny in practice).
MAX_KEY_FILE_BYTES = 1 << 20

#: A prompt function: ``prompt(text) -> str``; raises EOFError/OSError when no input.
PromptFn = Callable[[str], str]


def _read_small_text(path: str | os.PathLike[str], what: str) -> str:
    """Read a small UTF-8 text file, refusing anything larger than the cap (KeyFileError)."""
    try:
        with open(path, "rb") as f:
            data = f.read(MAX_KEY_FILE_BYTES + 1)
    except OSError as e:
        raise KeyFileError(f"cannot read {what} {str(path)!r}: {e.strerror or e}") from None
    if len(data) > MAX_KEY_FILE_BYTES:
        raise KeyFileError(f"{what} {str(path)!r} is larger than {MAX_KEY_FILE_BYTES} bytes")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise KeyFileError(f"{what} {str(path)!r} is not UTF-8 text") from None


def read_passphrase_file(path: str | os.PathLike[str]) -> str:
    """Return the first line of ``path`` without its line ending.

    Raises :class:`~nzarc.errors.KeyFileError` if the file cannot be read or the
    passphrase is empty.
    """
    text = _read_small_text(path, "passphrase file")
    line = text.split("\n", 1)[0]
    if line.endswith("\r"):
        line = line[:-1]
    if not line:
        raise KeyFileError(
            f"passphrase file {str(path)!r} is empty",
            hint="the passphrase is the first line of the file",
        )
    return line


def passphrase_from_env(environ: Mapping[str, str] | None = None) -> str | None:
    """Return ``NZARC_PASSPHRASE`` if it is set; refuse an empty value."""
    env = os.environ if environ is None else environ
    value = env.get(ENV_VAR)
    if value is None:
        return None
    if value == "":
        raise PassphraseInputError(
            f"{ENV_VAR} is set but empty", hint=f"unset {ENV_VAR} or give it a passphrase"
        )
    return value


def tty_available() -> bool:
    """True when this process has a controlling terminal it can prompt on."""
    try:
        fd = os.open("/dev/tty", os.O_RDWR | os.O_NOCTTY)
    except OSError:
        return False
    os.close(fd)
    return True


def _tty_prompt(text: str) -> str:
    # getpass reads from and writes to /dev/tty itself; we only call it once
    # we know the terminal is there, so it never falls back to stdin.
    return getpass.getpass(text)


def prompt_passphrase(*, confirm: bool, prompt: PromptFn | None = None) -> str:
    """Ask for a passphrase on the terminal; ask twice when ``confirm``.

    Raises :class:`PassphraseInputError` on an empty passphrase, on two
    entries that differ, or when input ends.
    """
    ask = _tty_prompt if prompt is None else prompt
    try:
        first = ask("Passphrase: ")
        if not first:
            raise PassphraseInputError("empty passphrase")
        if confirm:
            second = ask("Passphrase (again): ")
            if first != second:
                raise PassphraseInputError("the two passphrases differ")
    except EOFError:
        raise PassphraseInputError("no passphrase entered") from None
    return first


def resolve_passphrase(
    *,
    file: str | os.PathLike[str] | None,
    confirm: bool,
    interactive: bool = True,
    environ: Mapping[str, str] | None = None,
    prompt: PromptFn | None = None,
    has_tty: Callable[[], bool] = tty_available,
) -> str | None:
    """Find a passphrase in the documented order; ``None`` when there is none.

    ``interactive=False`` skips the terminal prompt. ``prompt``/``has_tty``
    replace the terminal for tests.
    """
    if file is not None:
        return read_passphrase_file(file)
    from_env = passphrase_from_env(environ)
    if from_env is not None:
        return from_env
    if interactive and (prompt is not None or has_tty()):
        return prompt_passphrase(confirm=confirm, prompt=prompt)
    return None


def _key_lines(text: str, where: str, ssh_refusal: str) -> list[tuple[int, str]]:
    from nzarc.crypto.recipients import SSH_HINT, foreign_key_form

    out: list[tuple[int, str]] = []
    for lineno, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if line and not line.startswith("#"):
            foreign = foreign_key_form(line)
            if foreign is not None:
                raise KeyFileError(f"{where} line {lineno}: {foreign}: {ssh_refusal}", hint=SSH_HINT)
            if any(c.isspace() for c in line):
                raise KeyFileError(
                    f"{where} line {lineno}: expected exactly one key on the line",
                    hint="one key per line; '#' comments go on lines of their own",
                )
            out.append((lineno, line))
    return out


def read_recipients_file(path: str | os.PathLike[str]) -> list[str]:
    """Return the ``age1...`` public keys listed in ``path``.

    Lines are stripped; blank lines and ``#`` comments are skipped. A line
    that is not a valid public key (checked by the crypto layer), an ssh key
    among them, is refused with its line number
    (:class:`~nzarc.errors.KeyFileError`).
    """
    from nzarc.crypto.recipients import SSH_NOT_SUPPORTED_RECIPIENT, parse_recipient

    return _read_key_file(
        path, "recipients file", lambda line: line.lower().startswith("age1"),
        "not an age1... public key", "one public key per line; '#' starts a comment",
        "lists no public keys", SSH_NOT_SUPPORTED_RECIPIENT, parse_recipient,
    )


def read_identity_file(path: str | os.PathLike[str]) -> list[str]:
    """Return the ``AGE-SECRET-KEY-1...`` identities listed in ``path``.

    Same line rules as :func:`read_recipients_file`. Identity files written by
    ``nzarc keygen`` and by age are both accepted; an OpenSSH private key is not.
    """
    from nzarc.crypto.recipients import SSH_NOT_SUPPORTED_IDENTITY, parse_identity

    return _read_key_file(
        path, "identity file", lambda line: line.upper().startswith("AGE-SECRET-KEY-1"),
        "not an AGE-SECRET-KEY-1... identity",
        "pass the secret key file made by 'nzarc keygen' or 'age-keygen'",
        "holds no identities", SSH_NOT_SUPPORTED_IDENTITY, parse_identity,
    )


def _read_key_file(
    path: str | os.PathLike[str],
    kind: str,
    looks_right: Callable[[str], bool],
    wrong_line: str,
    hint: str,
    empty: str,
    ssh_refusal: str,
    parse: Callable[[str], object],
) -> list[str]:
    """The keys of a one-key-per-line file, each passing ``looks_right`` and ``parse``
    (which raises :class:`~nzarc.errors.FormatError`); at least one."""
    where = f"{kind} {str(path)!r}"
    keys: list[str] = []
    for lineno, line in _key_lines(_read_small_text(path, kind), where, ssh_refusal):
        if not looks_right(line):
            raise KeyFileError(f"{where} line {lineno}: {wrong_line}", hint=hint)
        try:
            parse(line)
        except FormatError as e:
            raise KeyFileError(f"{where} line {lineno}: {e.message}", hint=hint) from None
        keys.append(line)
    if not keys:
        raise KeyFileError(f"{where} {empty}")
    return keys

