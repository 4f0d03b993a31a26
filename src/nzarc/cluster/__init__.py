"""Codec work on a Dask ``distributed`` cluster (spec/DISTRIBUTED.md).

:func:`~nzarc.cluster.client.connect` gives a :class:`~nzarc.cluster.client.ClusterRunner`,
a :class:`~nzarc.codecs.context.WindowRunner` to put in a codec context: the neural codec
then has its windows coded by the cluster's workers, with the very functions it runs
in-process, so archives are the same bytes. Importing this package imports no dask;
``distributed`` is imported on connecting (the optional extra ``nzarc[dask]``).
"""

from __future__ import annotations

from nzarc.cluster.options import DEFAULT_TIMEOUT, INSTALL_EXTRA_HINT, ClusterOptions

__all__ = ["ClusterOptions", "DEFAULT_TIMEOUT", "INSTALL_EXTRA_HINT"]
