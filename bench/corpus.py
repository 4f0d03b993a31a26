"""Benchmark inputs: the files of a corpus folder, grouped, and bounded samples of them.

A corpus is any folder. Each regular file below it is one input; its group is
its first path component (``canterbury/alice29.txt`` is in ``canterbury``;
files at the top level are in the folder's own name). ``MANIFEST.tsv`` and
hidden files are not inputs. Samples are prefixes of files, written as new
files under a work directory, so every tool reads exactly the same bytes.
"""

from __future__ import annotations

import codecs
import os
from dataclasses import dataclass
from pathlib import Path

__all__ = ["InputFile", "discover", "is_text", "write_prefix_sample"]

_SKIP_NAMES = frozenset({"MANIFEST.tsv"})
_PRINTABLE = frozenset(range(32, 127)) | {9, 10, 12, 13}


@dataclass(frozen=True)
class InputFile:
    """One benchmark input: where it is, its name in reports, its group, its size."""

    path: Path
    rel: str
    group: str
    size: int


def discover(root: Path) -> list[InputFile]:
    """All regular, non-hidden files below ``root`` (symlinks not followed), sorted."""
    root = root.resolve()
    found: list[InputFile] = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        for name in sorted(filenames):
            if name.startswith(".") or name in _SKIP_NAMES:
                continue
            path = Path(dirpath) / name
            if path.is_symlink() or not path.is_file():
                continue
            rel = path.relative_to(root).as_posix()
            group = rel.split("/", 1)[0] if "/" in rel else root.name
            found.append(InputFile(path, rel, group, path.stat().st_size))
    return found


def is_text(path: Path, probe: int = 65536) -> bool:
    """Heuristic: the first ``probe`` bytes are UTF-8 with at most 2% control bytes."""
    with path.open("rb") as fh:
        data = fh.read(probe)
    if not data or b"\0" in data:
        return False
    try:
        codecs.getincrementaldecoder("utf-8")().decode(data, final=False)
    except UnicodeDecodeError:
        return False
    controls = sum(1 for b in data if b < 128 and b not in _PRINTABLE)
    return controls <= len(data) // 50


def write_prefix_sample(inp: InputFile, dest_root: Path, nbytes: int, suffix: str) -> InputFile:
    """Copy the first ``nbytes`` of ``inp`` to ``dest_root/<rel>``; name it ``rel + suffix``.

    Files no longer than ``nbytes`` are copied whole (and keep their name).
    """
    dest = dest_root / inp.rel
    dest.parent.mkdir(parents=True, exist_ok=True)
    with inp.path.open("rb") as src:
        data = src.read(nbytes)
    dest.write_bytes(data)
    whole = len(data) == inp.size
    return InputFile(dest, inp.rel if whole else inp.rel + suffix, inp.group, len(data))
