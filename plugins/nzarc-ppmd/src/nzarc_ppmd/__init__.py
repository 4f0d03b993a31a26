"""nzarc-ppmd: a PPMd codec plugin for nzarc (codec id ``ppmd.ppmd``)."""

from __future__ import annotations

from nzarc_ppmd.codec import PpmdCodec

__all__ = ["PpmdCodec"]
__version__ = "0.1.0"
