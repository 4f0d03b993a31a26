"""Keys from the command line: passphrases, identity and recipients files, ``keygen``."""

from __future__ import annotations

import argparse
import os
import sys
from typing import TypedDict

from nzarc.cli.common import EXIT_OK, UsageError
from nzarc.passphrase import read_identity_file, read_recipients_file, resolve_passphrase

__all__ = ["read_keys", "create_keys", "cmd_keygen", "WriterKeys"]


class WriterKeys(TypedDict, total=False):
    """The writer's encryption keywords (:class:`~nzarc.writer.ArchiveWriter`)."""

    encrypt: bool
    passphrase: str | None
    recipients: list[str]

def read_keys(args: argparse.Namespace) -> tuple[str | None, list[str]]:
    """Passphrase (file/env only, no prompt yet) and identities for reading."""
    identities: list[str] = []
    for path in args.identity:
        identities.extend(read_identity_file(path))
    passphrase = resolve_passphrase(file=args.passphrase_file, confirm=False, interactive=False)
    return passphrase, identities


def create_keys(args: argparse.Namespace) -> WriterKeys:
    """Encryption keyword arguments for the writer, from -p/-r/-R/--no-encrypt."""
    if args.no_encrypt:
        if args.recipient or args.recipients_file or args.passphrase or args.passphrase_file:
            raise UsageError("--no-encrypt cannot be combined with -p, --passphrase-file, -r or -R")
        return {"encrypt": False}
    recipients = list(args.recipient)
    for path in args.recipients_file:
        recipients.extend(read_recipients_file(path))
    if recipients and (args.passphrase or args.passphrase_file):
        raise UsageError(
            "a passphrase cannot be combined with -r/-R recipients",
            hint="encrypt either to public keys or with a passphrase",
        )
    passphrase = None
    if not recipients:
        passphrase = resolve_passphrase(file=args.passphrase_file, confirm=True)
        if passphrase is None:
            raise UsageError(
                "no passphrase: there is no terminal to ask on and NZARC_PASSPHRASE is not set",
                hint="use --passphrase-file FILE, set NZARC_PASSPHRASE, encrypt to a key with -r, "
                "or pass --no-encrypt",
            )
    return {"encrypt": True, "passphrase": passphrase, "recipients": recipients}


def cmd_keygen(args: argparse.Namespace) -> int:
    from nzarc.api import generate_identity

    secret, public = generate_identity()
    import datetime as _dt

    created = _dt.datetime.now(_dt.UTC).replace(microsecond=0).isoformat()
    text = f"# created: {created}\n# public key: {public}\n{secret}\n"
    if args.output and args.output != "-":
        try:
            fd = os.open(args.output, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
        except FileExistsError:
            raise UsageError(
                f"refusing to overwrite {args.output!r}",
                hint="an identity file may be the only key to existing archives; choose a new name",
            ) from None
        with os.fdopen(fd, "w", encoding="ascii") as f:
            os.fchmod(f.fileno(), 0o600)
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
    else:
        sys.stdout.write(text)
        sys.stdout.flush()
    sys.stderr.write(f"Public key: {public}\n")
    return EXIT_OK
