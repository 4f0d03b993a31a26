"""``--scheduler``: the command line's way onto a Dask cluster (nzarc.cluster).

:func:`cluster_scope` reads ``--scheduler`` (else ``NZARC_SCHEDULER``, read here, at the
edge), ``--cluster-inflight`` and ``--scheduler-timeout``, connects before any work or
prompt, and gives the codec context with the cluster's window runner in it; without a
scheduler it gives the context unchanged and imports nothing of dask.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
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
    from nzarc.cluster.client import connect
    from nzarc.cluster.options import DEFAULT_TIMEOUT, ClusterOptions

    options = ClusterOptions(
        address=address,
        timeout=getattr(args, "scheduler_timeout", None) or DEFAULT_TIMEOUT,
        inflight=getattr(args, "cluster_inflight", None),
    )
    with connect(options) as runner:
        yield dataclasses.replace(context, windows=runner)
