"""``--scheduler``: the command line's way onto a Dask cluster (nzarc.cluster).

:func:`cluster_scope` reads ``--scheduler`` (else ``NZARC_SCHEDULER``, read here, at the
edge), ``--cluster-inflight`` and ``--scheduler-timeout``, connects before any work or
prompt, and gives the codec context with the cluster's window runner in it; without a
scheduler it gives the context unchanged and imports nothing of dask. While connected, the
client-side ``distributed`` loggers are quiet below CRITICAL: what fails reaches the user as
one nzarc error (e.g. a scheduler lost mid-job), not as Dask's log lines.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import logging
import os
from collections.abc import Iterator
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from nzarc.codecs.context import CodecContext

__all__ = ["SCHEDULER_VAR", "cluster_scope"]

#: The environment variable that names a scheduler when ``--scheduler`` is not given.
SCHEDULER_VAR = "NZARC_SCHEDULER"


@contextlib.contextmanager
def cluster_scope(args: argparse.Namespace, context: CodecContext) -> Iterator[CodecContext]:
    """``context``, with a cluster's window runner when a scheduler is named (see above)."""
    address = getattr(args, "scheduler", None) or os.environ.get(SCHEDULER_VAR, "").strip()
    if not address:
        yield context
        return
    from nzarc.cluster.client import connect, import_distributed
    from nzarc.cluster.options import DEFAULT_TIMEOUT, ClusterOptions

    options = ClusterOptions(
        address=address,
        timeout=getattr(args, "scheduler_timeout", None) or DEFAULT_TIMEOUT,
        inflight=getattr(args, "cluster_inflight", None),
    )
    import_distributed()  # its loggers exist once it is imported
    with _quiet_dask_logs(), connect(options) as runner:
        yield dataclasses.replace(context, windows=runner)


@contextlib.contextmanager
def _quiet_dask_logs() -> Iterator[None]:
    """Raise every ``distributed`` logger to CRITICAL for the scope, then restore it."""
    names = ["distributed", *(n for n in logging.root.manager.loggerDict if n.startswith("distributed."))]
    loggers = [logging.getLogger(n) for n in names]
    levels = [lg.level for lg in loggers]
    for lg in loggers:
        lg.setLevel(logging.CRITICAL)
    try:
        yield
    finally:
        for lg, level in zip(loggers, levels, strict=True):
            lg.setLevel(level)
