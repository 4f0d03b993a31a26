"""How to reach and use a cluster: :class:`ClusterOptions` (no dask imported)."""

from __future__ import annotations

from dataclasses import dataclass

from nzarc.errors import UsageError

__all__ = ["ClusterOptions", "DEFAULT_RETRIES", "DEFAULT_TIMEOUT", "INSTALL_EXTRA_HINT"]

#: Seconds to reach the scheduler (and to wait for a first worker) before giving up.
DEFAULT_TIMEOUT = 30.0
#: Times a task is run again after its worker died or it failed.
DEFAULT_RETRIES = 2
#: What to run when ``distributed`` is not installed.
INSTALL_EXTRA_HINT = "pip install 'nzarc[dask]'"


@dataclass(frozen=True)
class ClusterOptions:
    """A cluster to run codec work on.

    ``address``: the scheduler (``tcp://host:8786``, ``tls://host:8786``). ``timeout``:
    seconds (> 0) to connect and to wait for a first worker; past it a
    :class:`~nzarc.errors.ClusterError`. ``inflight``: most window tasks outstanding at
    once (None: twice the cluster's worker threads at connection time). ``worker_home``:
    the ``NZARC_HOME`` whose model store each worker loads the model from (None: each
    worker's own default store). ``security``: a ``distributed.security.Security`` for
    ``tls://`` (None: Dask's configuration). ``retries``: task retries (>= 0).
    Bad values raise :class:`~nzarc.errors.UsageError`.
    """

    address: str
    timeout: float = DEFAULT_TIMEOUT
    inflight: int | None = None
    worker_home: str | None = None
    security: object | None = None
    retries: int = DEFAULT_RETRIES

    def __post_init__(self) -> None:
        if not isinstance(self.address, str) or not self.address.strip():
            raise UsageError("the scheduler address is empty", hint="give one such as tcp://10.0.0.5:8786")
        if not isinstance(self.timeout, (int, float)) or isinstance(self.timeout, bool) or not self.timeout > 0:
            raise UsageError(f"the scheduler timeout must be a number of seconds > 0, got {self.timeout!r}")
        inflight = self.inflight
        if inflight is not None and (not isinstance(inflight, int) or isinstance(inflight, bool) or inflight < 1):
            raise UsageError(f"the cluster in-flight bound must be an integer >= 1, got {inflight!r}")
        if not isinstance(self.retries, int) or isinstance(self.retries, bool) or self.retries < 0:
            raise UsageError(f"task retries must be an integer >= 0, got {self.retries!r}")
