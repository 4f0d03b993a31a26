"""The nzarc plugin module named by this distribution's ``nzarc`` entry point."""

from __future__ import annotations

from collections.abc import Sequence

from nzarc.codecs.contract import Codec
from nzarc.codecs.hookspecs import hookimpl

from nzarc_ppmd.codec import PpmdCodec

__all__ = ["nzarc_codecs"]


@hookimpl
def nzarc_codecs() -> Sequence[type[Codec]]:
    return [PpmdCodec]
