"""The client side: :func:`connect` to a scheduler and a :class:`ClusterRunner` that codes
windows on its workers.

Contracts: :func:`connect` imports ``distributed`` (missing: a
:class:`~nzarc.errors.UsageError` with the ``pip install 'nzarc[dask]'`` hint), reaches the
scheduler and a first worker within ``options.timeout`` seconds or raises
:class:`~nzarc.errors.ClusterError`; a scheduler lost mid-job (not back within
``options.timeout`` seconds, the client's reconnection bound) fails the job with a
ClusterError that says so. The runner, before the first window of a model, registers
a :class:`~nzarc.cluster.worker.ModelPlugin` for it and asks every worker whether the model
loaded; a worker without it fails the job there, naming the worker and the install command.
Windows go out as tasks (``pure=False``, ``options.retries``): one window per encode task, and
the windows of a decode call split into one task per worker thread (a lockstep batch each);
the lanes of a version-2 codec likewise: one lane per encode task (its prefill and its
mixer), and the lanes of a decode call in one task per worker thread (lockstep rounds each);
at most ``inflight`` tasks outstanding
over every thread of the process, and come back in the order given. As each result arrives
the runner sends the caller's progress sink an ``encode`` / ``decode`` event of its tokens,
on the calling thread, with ``workers`` the cluster's worker count.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable, Iterator, Sequence
from typing import Any, TypeVar

from nzarc.cluster.options import INSTALL_EXTRA_HINT, ClusterOptions
from nzarc.errors import ClusterError, NzarcError, UsageError
from nzarc.events import ProgressSink, report_model

__all__ = ["ClusterRunner", "connect", "import_distributed"]

#: Seconds between two looks at the client's state while waiting on tasks.
_POLL = 0.5
#: Bytes a worker may hold for one decoding batch of its single window.
_DECODE_BUDGET = 2 << 30

_T = TypeVar("_T")


def import_distributed() -> Any:
    """The ``distributed`` module; UsageError with the install hint when it is missing."""
    try:
        import distributed
    except ImportError:
        raise UsageError(
            "running on a cluster needs Dask's distributed package, which is not installed",
            hint=INSTALL_EXTRA_HINT,
        ) from None
    return distributed


def connect(options: ClusterOptions) -> ClusterRunner:
    """A runner on the cluster of ``options`` (see the module docstring); close it when done."""
    distributed = import_distributed()
    try:
        client = distributed.Client(
            options.address,
            timeout=options.timeout,
            security=options.security,
            set_as_default=False,
        )
    except (OSError, TimeoutError) as exc:
        raise ClusterError(
            f"cannot reach the Dask scheduler at {options.address} within {options.timeout:g} s: {exc}",
            hint="start it with `dask scheduler` (and workers with `dask worker ADDRESS`), "
            "or check the address and --scheduler-timeout",
        ) from None
    except ValueError as exc:  # a malformed address
        raise UsageError(f"bad scheduler address {options.address!r}: {exc}") from None
    try:
        client.wait_for_workers(1, timeout=options.timeout)
    except (OSError, TimeoutError):
        client.close()
        raise ClusterError(
            f"the Dask scheduler at {options.address} has no worker after {options.timeout:g} s",
            hint="start workers with `dask worker ADDRESS` (the model installed on each)",
        ) from None
    return ClusterRunner(client, options)


class ClusterRunner:
    """A :class:`~nzarc.codecs.context.WindowRunner` on a Dask client (module docstring).

    ``workers`` and ``threads`` are the cluster's at connection time; ``inflight`` the
    bound on outstanding tasks; ``max_outstanding`` the most that were outstanding at once.
    """

    def __init__(self, client: Any, options: ClusterOptions) -> None:
        self._client = client
        self._options = options
        info = client.scheduler_info(n_workers=-1)["workers"]
        self.workers = len(info)
        self.threads = sum(int(w.get("nthreads", 1)) for w in info.values()) or 1
        self.inflight = options.inflight or 2 * self.threads
        self._slots = threading.BoundedSemaphore(self.inflight)
        self._lock = threading.Lock()
        self._outstanding = 0
        self.max_outstanding = 0
        self._ready: set[str] = set()

    # ----------------------------------------------------------------- lifecycle

    def close(self) -> None:
        """Disconnect from the scheduler (the cluster keeps running)."""
        self._client.close()

    def __enter__(self) -> ClusterRunner:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ----------------------------------------------------------------- the runner

    def encode_windows(
        self,
        model: tuple[str, int, str],
        windows: Sequence[Sequence[int]],
        progress: ProgressSink | None = None,
        check: Callable[[], None] | None = None,
    ) -> list[bytes]:
        from nzarc.cluster.worker import encode_task

        name = self._prepare(model)
        calls = ((encode_task, (name, list(w)), len(w)) for w in windows)
        return self._run(calls, len(windows), self._done("encode", progress), check)

    def decode_windows(
        self,
        model: tuple[str, int, str],
        jobs: Sequence[tuple[bytes, int]],
        progress: ProgressSink | None = None,
        check: Callable[[], None] | None = None,
    ) -> list[list[int]]:
        from nzarc.cluster.worker import decode_task

        name = self._prepare(model)
        tasks = _shares([(bytes(s), n) for s, n in jobs], self.threads)
        calls = ((decode_task, (name, t, _DECODE_BUDGET), sum(n for _, n in t)) for t in tasks)
        parts = self._run(calls, len(tasks), self._done("decode", progress), check)
        return [tokens for part in parts for tokens in part]

    def encode_lanes(
        self,
        model: tuple[str, int, str],
        lanes: Sequence[Sequence[Sequence[int]]],
        progress: ProgressSink | None = None,
        check: Callable[[], None] | None = None,
    ) -> list[list[bytes]]:
        from nzarc.cluster.worker import encode_lane_task

        name = self._prepare(model)
        calls = (
            (encode_lane_task, (name, [list(w) for w in lane]), sum(len(w) for w in lane))
            for lane in lanes
        )
        return self._run(calls, len(lanes), self._done("encode", progress), check)

    def decode_lanes(
        self,
        model: tuple[str, int, str],
        lanes: Sequence[Sequence[tuple[bytes, int]]],
        progress: ProgressSink | None = None,
        check: Callable[[], None] | None = None,
    ) -> list[list[list[int]]]:
        from nzarc.cluster.worker import decode_lanes_task

        name = self._prepare(model)
        shares = _shares([[(bytes(s), n) for s, n in lane] for lane in lanes], self.threads)
        calls = (
            (decode_lanes_task, (name, share, _DECODE_BUDGET), sum(n for lane in share for _, n in lane))
            for share in shares
        )
        parts = self._run(calls, len(shares), self._done("decode", progress), check)
        return [windows for part in parts for windows in part]

    # ----------------------------------------------------------------- internals

    def _done(self, kind: str, progress: ProgressSink | None) -> Callable[[int], None]:
        """Report ``tokens`` finished of ``kind`` to ``progress``, with the worker count."""

        def done(tokens: int) -> None:
            report_model(progress, kind, tokens, workers=self.workers)

        return done

    def _prepare(self, model: tuple[str, int, str]) -> str:
        """Register the model's plugin once and fail unless every worker holds the model."""
        from nzarc.cluster.worker import ModelPlugin, plugin_name, probe

        name = plugin_name(model)
        with self._lock:
            if name in self._ready:
                return name
            install = f"nzarc model install {_install_name(model[0])}"
            plugin = ModelPlugin(model, self._options.worker_home, install)
            try:
                self._client.register_plugin(plugin, name=name)
                answers = self._client.run(probe, name)
            except NzarcError:
                raise
            except Exception as exc:
                raise self._lost(exc) from None
            bad = sorted((addr, why) for addr, why in answers.items() if why is not None)
            if bad:
                addr, why = bad[0]
                more = f" (and {len(bad) - 1} other worker(s))" if len(bad) > 1 else ""
                raise ClusterError(
                    f"worker {addr}{more} cannot run the model: {why}",
                    hint=f"on that worker run `{install}`, then start the worker again",
                )
            self._ready.add(name)
        return name

    def _run(
        self,
        calls: Iterator[tuple[Callable[..., Any], tuple[Any, ...], int]],
        count: int,
        done: Callable[[int], None],
        check: Callable[[], None] | None,
    ) -> list[Any]:
        """Submit ``calls`` with at most ``inflight`` outstanding; results in order."""
        results: list[Any] = [None] * count
        pending: list[tuple[int, Any, int]] = []  # (index, future, tokens), in order
        batch = uuid.uuid4().hex
        try:
            for i, (fn, args, tokens) in enumerate(calls):
                self._acquire(check)
                try:
                    fut = self._client.submit(
                        fn, *args, key=f"nzarc-{batch}-{i}", pure=False, retries=self._options.retries
                    )
                except Exception as exc:
                    self._release()
                    raise self._lost(exc) from None
                fut.add_done_callback(self._released)
                pending.append((i, fut, tokens))
                while pending and pending[0][1].done():
                    self._collect(pending.pop(0), results, done)
            while pending:
                self._wait(pending[0][1], check)
                self._collect(pending.pop(0), results, done)
        finally:
            for _, fut, _ in pending:
                fut.cancel()
        return results

    def _collect(self, item: tuple[int, Any, int], results: list[Any], done: Callable[[int], None]) -> None:
        i, fut, tokens = item
        try:
            results[i] = fut.result()
        except NzarcError:
            raise
        except Exception as exc:
            raise self._lost(exc) from None
        done(tokens)

    def _wait(self, fut: Any, check: Callable[[], None] | None) -> None:
        while not fut.done():
            if check is not None:
                check()
            self._alive()
            try:
                fut.result(timeout=_POLL)
            except Exception:  # done (raised by _collect) or still running
                pass

    def _acquire(self, check: Callable[[], None] | None) -> None:
        while not self._slots.acquire(timeout=_POLL):
            if check is not None:
                check()
            self._alive()
        with self._lock:
            self._outstanding += 1
            self.max_outstanding = max(self.max_outstanding, self._outstanding)

    def _released(self, fut: Any) -> None:
        self._release()

    def _release(self) -> None:
        with self._lock:
            self._outstanding -= 1
        self._slots.release()

    def _alive(self) -> None:
        status = getattr(self._client, "status", "running")
        if status not in ("running", "connecting"):
            raise ClusterError(f"lost the Dask scheduler at {self._options.address} ({status})")

    def _lost(self, exc: BaseException) -> ClusterError:
        if _connection_lost(exc) or getattr(self._client, "status", "running") != "running":
            return ClusterError(
                f"lost the Dask scheduler at {self._options.address} during the job "
                f"({type(exc).__name__}: {exc})",
                hint="the scheduler stopped or became unreachable and did not come back within "
                f"{self._options.timeout:g} s (--scheduler-timeout); start it again and rerun",
            )
        return ClusterError(
            f"the cluster at {self._options.address} failed the work: {type(exc).__name__}: {exc}",
            hint="check the scheduler and the workers' logs",
        )


def _shares(items: list[_T], threads: int) -> list[list[_T]]:
    """``items`` cut into at most ``threads`` contiguous shares of about equal length.

    Windows and lanes decode in lockstep batches, which read the weights once per step for
    all rows: one task per worker thread, each a contiguous share of the work.
    """
    size = -(-len(items) // threads) if items else 1
    return [items[i : i + size] for i in range(0, len(items), size)]


def _connection_lost(exc: BaseException) -> bool:
    """Whether ``exc`` says the client's connection to the scheduler closed."""
    from distributed.comm.core import CommClosedError

    return isinstance(exc, CommClosedError)


def _install_name(sha: str) -> str:
    """The model name ``nzarc model install`` takes for ``sha`` (the default model's name)."""
    from nzarc.neural.store import SMOLLM2_NAME, ModelStore

    try:
        return ModelStore.default().install_name_of(sha) or SMOLLM2_NAME
    except Exception:
        return SMOLLM2_NAME
