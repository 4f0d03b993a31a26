"""Named codec choices for ``create``: ``--fast`` and ``--best`` (:data:`PRESETS`).

A preset is nothing but a codec choice and params, as ``-c`` and ``-m`` give them; the
default (no preset) is ``-c auto``.

``fast``
    ``-c zstd -l 3``: hundreds of MB/s on one core, never the model; for bulk data where
    time matters more than size.
``best``
    ``-c auto`` with the neural codec's mixing bitstream in one lane (``-m version=2
    -m lanes=1``, spec/NEURAL-CODEC.md section 5): the smallest archives of text, logs
    and JSON, at the neural codec's speed to create and its slowest to extract (one lane
    decodes one window of a chunk at a time). Without the model installed it is plain
    ``auto``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

__all__ = ["Preset", "PRESETS"]


@dataclass(frozen=True)
class Preset:
    """``codec`` (a ``-c`` choice) with ``params`` (``-m`` pairs, which a caller's own override)."""

    name: str
    codec: str
    params: Mapping[str, int | str] = field(default_factory=dict)
    summary: str = ""


PRESETS: Mapping[str, Preset] = MappingProxyType(
    {
        "fast": Preset("fast", "zstd", MappingProxyType({"level": 3}), "zstd -3 alone: fastest, never the model"),
        "best": Preset(
            "best",
            "auto",
            MappingProxyType({"version": 2, "lanes": 1}),
            "auto with the neural mixing bitstream in one lane: smallest, slowest to extract",
        ),
    }
)
