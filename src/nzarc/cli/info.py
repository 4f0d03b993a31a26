"""``nzarc info``: what an archive declares (format, encryption, codecs, models, sizes)."""

from __future__ import annotations

import argparse
import json
from typing import TYPE_CHECKING, Any

from nzarc.cli.common import EXIT_OK, jsonable, print_json, write_line
from nzarc.cli.source import open_reader
from nzarc.progress import format_bytes

if TYPE_CHECKING:
    from nzarc.neural.store import ModelStore
    from nzarc.reader import ArchiveInfo

__all__ = ["cmd_info", "print_info_human", "model_store"]

_UNAUTH = "NOT authenticated against a forger (unencrypted: corruption is detected, forgery is not)"


def model_store() -> ModelStore:
    from nzarc.neural.store import ModelStore

    return ModelStore.default()


def _pinned_models(info: ArchiveInfo) -> list[dict[str, Any]]:
    """Every model pin of the codec table, once each, with the codec that pins it and
    ``install_name``, the name it is installed under (None when unknown)."""
    seen: dict[tuple[Any, ...], dict[str, Any]] = {}
    store = model_store()
    for codec in info.codecs:
        for pin in codec.get("models") or []:
            key = (pin.get("name"), pin.get("weights_sha256"), pin.get("tokenizer_sha256"))
            if key not in seen:
                install = store.install_name_of(pin.get("weights_sha256"))
                seen[key] = {**pin, "codec": codec.get("id"), "install_name": install}
    return list(seen.values())


def cmd_info(args: argparse.Namespace) -> int:
    with open_reader(args) as reader:
        header = reader.header_info()
        full = reader.info() if args.have_key or not header.encrypted else None
    info = full if full is not None else header
    data = jsonable(info)
    assert isinstance(data, dict)  # a dataclass is a map
    data["index_read"] = full is not None
    data["pinned_models"] = _pinned_models(info)
    if not info.encrypted:
        data["note"] = _UNAUTH
    if args.json:
        print_json(data)
    else:
        print_info_human(info, full is not None)
    return EXIT_OK


def print_info_human(info: ArchiveInfo, full: bool) -> None:
    w = write_line  # codec ids, recipient types, model names come from the archive
    w(f"{'format:':<12} nzarc v{info.version}\n")
    if info.encrypted:
        kinds = ", ".join(info.recipients) or "-"
        w(f"{'encryption:':<12} {info.suite}; {len(info.recipients)} recipient(s): {kinds}\n")
    else:
        w(f"{'encryption:':<12} none; {_UNAUTH}\n")
    for i, c in enumerate(info.codecs):
        params = c.get("params") or {}
        ptxt = f" {json.dumps(params, sort_keys=True)}" if params else ""
        dist = f" (from {c['dist']})" if c.get("dist") else ""
        w(f"{'codecs:' if i == 0 else '':<12} {c.get('id')} v{c.get('ver')}{ptxt}{dist}\n")
    for i, m in enumerate(_pinned_models(info)):
        w(
            f"{'models:' if i == 0 else '':<12} {m.get('install_name') or m.get('name')} (weights {str(m.get('weights_sha256'))[:16]}, "
            f"tokenizer {str(m.get('tokenizer_sha256'))[:16]}, runtime {m.get('runtime')})\n"
        )
    w(f"{'chunk size:':<12} {info.chunk_size} ({format_bytes(info.chunk_size)})"
      f"{', padded' if info.padded else ''}\n")
    if not full:
        w(f"{'index:':<12} encrypted; give a key (-i, --passphrase-file, NZARC_PASSPHRASE) "
          "for member and chunk counts\n")
        return
    w(f"{'members:':<12} {info.members} ({info.files} files)\n")
    per = ", ".join(f"{k}: {v}" for k, v in sorted(info.chunks_per_codec.items()))
    w(f"{'chunks:':<12} {info.chunks}{f' ({per})' if per else ''}\n")
    w(f"{'raw size:':<12} {info.raw_size} ({format_bytes(info.raw_size or 0)})\n")
    if info.archive_size is not None:
        w(f"{'archive:':<12} {info.archive_size} ({format_bytes(info.archive_size)})\n")
    if info.ratio is not None:
        w(f"{'ratio:':<12} {info.ratio:.4f} (archive size / raw size)\n")
