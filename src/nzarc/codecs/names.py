"""The built-in codecs' ids and the short names the CLI and the API accept for them."""

from __future__ import annotations

__all__ = ["STORE_ID", "ZSTD_ID", "XZ_ID", "NEURAL_ID", "AUTO", "ALIASES", "resolve"]

STORE_ID = "nzarc.store"
ZSTD_ID = "nzarc.zstd"
XZ_ID = "nzarc.xz"
NEURAL_ID = "nzarc.neural"
#: The codec choice that lets the writer pick per chunk among the built-in codecs.
AUTO = "auto"
#: Short name -> codec id; any other name is taken as a codec id.
ALIASES = {"store": STORE_ID, "zstd": ZSTD_ID, "xz": XZ_ID, "neural": NEURAL_ID}


def resolve(name: str) -> str:
    """The codec id that ``name`` (a short name or an id) stands for."""
    return ALIASES.get(name, name)
