"""The worker side: :class:`ModelPlugin` loads the pinned model once per worker, and the
task functions code windows and lanes with it.

Contracts: a :class:`ModelPlugin` registered under :func:`plugin_name` loads the model whose
SHA-256 it carries from the worker's model store (the ``home`` it was given, else the
worker's default store), checks the file's SHA-256 against the pin, and keeps the model for
every later task; its ``setup`` never raises, it records why the model is unusable instead,
and :func:`probe` reports that to the client before any chunk is coded. The tasks call
:func:`nzarc.neural.windowcode.encode_windows` / :func:`~nzarc.neural.windowcode.decode_jobs`,
the functions the codec runs in-process, so a window's result is the same bytes wherever it
is computed; the lane tasks call :func:`nzarc.neural.mix.lanes.encode_lanes` /
:func:`~nzarc.neural.mix.lanes.decode_lanes` the same way. Runs in the worker process; imports ``distributed``.
"""

from __future__ import annotations

import socket
from pathlib import Path
from typing import Any

from distributed import WorkerPlugin, get_worker

from nzarc.errors import ClusterError
from nzarc.neural.windowcode import decode_jobs, encode_windows

__all__ = [
    "ModelPlugin",
    "decode_lanes_task",
    "decode_task",
    "encode_lane_task",
    "encode_task",
    "plugin_name",
    "probe",
]


def plugin_name(model: tuple[str, int, str]) -> str:
    """The name the plugin for ``(sha256, act_levels, runtime_id)`` is registered under."""
    sha, act_levels, runtime_id = model
    return f"nzarc-model-{sha}-{act_levels}-{runtime_id}"


class ModelPlugin(WorkerPlugin):
    """Loads the pinned model ``(sha256, act_levels, runtime_id)`` once on each worker (module docstring)."""

    def __init__(self, model: tuple[str, int, str], home: str | None, install: str) -> None:
        self.sha, self.act_levels, self.runtime_id = model
        self.home = home
        self.install = install
        self.model: Any = None
        self.error: str | None = None

    def setup(self, worker: Any) -> None:
        try:
            self.model = _load(self.sha, self.act_levels, self.runtime_id, self.home)
            self.error = None
        except Exception as exc:  # reported by probe(), with the worker's address
            self.model = None
            self.error = str(getattr(exc, "message", None) or exc)


def _load(sha: str, act_levels: int, runtime_id: str, home: str | None) -> Any:
    from nzarc.neural.runtime import load_model
    from nzarc.neural.store import ModelStore, file_sha256

    store = ModelStore(Path(home)) if home is not None else ModelStore.default()
    path = store.path_for(sha)  # ModelMismatch when not installed
    actual = file_sha256(path)
    if actual != sha:
        raise ClusterError(f"the model file {path} has SHA-256 {actual}, not the pinned {sha}")
    return load_model(path, weights_sha256=sha).with_runtime(runtime_id).with_act_levels(act_levels)


def probe(name: str, dask_worker: Any = None) -> str | None:
    """None when this worker holds the plugin's model, else why not (for ``Client.run``)."""
    worker = dask_worker if dask_worker is not None else get_worker()
    plugin = worker.plugins.get(name)
    if not isinstance(plugin, ModelPlugin):
        return "the nzarc model plugin is not set up on this worker"
    if plugin.model is None:
        return f"{plugin.error or 'the model did not load'} (host {socket.gethostname()})"
    return None


def _model(name: str) -> Any:
    plugin = get_worker().plugins.get(name)
    if not isinstance(plugin, ModelPlugin) or plugin.model is None:
        why = plugin.error if isinstance(plugin, ModelPlugin) else "no nzarc model plugin"
        raise ClusterError(f"worker {get_worker().address} cannot code windows: {why}")
    return plugin.model


def encode_task(name: str, tokens: list[int]) -> bytes:
    """The coded stream of one window of token ids (the model of plugin ``name``)."""
    return encode_windows(_model(name), [tokens])[0]


def decode_task(name: str, jobs: list[tuple[bytes, int]], budget: int) -> list[list[int]]:
    """The token ids of each ``(stream, symbols)`` window, decoded together in lockstep
    batches within ``budget`` bytes (the same tokens as one by one); a corrupt stream raises
    CodecError."""
    return decode_jobs(_model(name), jobs, budget)


def encode_lane_task(name: str, windows: list[list[int]]) -> list[bytes]:
    """The coded streams of the windows of one version-2 lane (token ids each), in order."""
    from nzarc.neural.mix.lanes import encode_lanes

    return encode_lanes(_model(name), [windows])[0]


def decode_lanes_task(
    name: str, lanes: list[list[tuple[bytes, int]]], budget: int
) -> list[list[list[int]]]:
    """The token ids of every window of each version-2 lane of ``(stream, symbols)``
    windows, the lanes decoded together in lockstep rounds within ``budget`` bytes of KV
    cache a batch; a corrupt stream raises CodecError."""
    from nzarc.neural.mix.lanes import decode_lanes

    return decode_lanes(_model(name), lanes, budget)
