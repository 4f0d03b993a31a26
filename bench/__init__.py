"""nzarc's benchmark suite: nzarc against the compressors people use today.

Run from the repository root::

    python -m bench [CORPUS] [--quick] [--full] [--out DIR] [--only NAME,...]
    python -m bench throughput [--size 256M] [--repeat N] [--profile]
    python -m bench scale [--size 2G]
    python -m bench report [--out DIR]
    python -m bench all [CORPUS] [run options]   # throughput, scale, then the corpus run

``CORPUS`` defaults to ``../shared/corpus`` relative to the repository root.
Results go to ``bench/`` (``RESULTS.md``, ``results.json``, ``plot.png``)
unless ``--out`` names another folder. ``nzarc bench`` calls :func:`main`.
"""

from __future__ import annotations

from bench.cli import main

__all__ = ["main"]
