"""How the neural codec finds its model: models registered in this process (tests,
tools), then the model store; loading under the memory checks.

Contract: :func:`register_model` makes a loaded model usable by its SHA-256 and takes
precedence over the store; :func:`model_installed` never raises; :func:`load_codec_model`
returns the model or raises ModelMismatch (not installed, unloadable) or the memory error of
:mod:`nzarc.neural.resources`, before torch is imported when memory is too low.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING

from nzarc.codecs.context import CodecContext
from nzarc.errors import ModelMismatch, NzarcError
from nzarc.neural.modelwork import CodecModel
from nzarc.neural.runtime.options import RuntimeOptions

if TYPE_CHECKING:
    from nzarc.neural.store import ModelStore

__all__ = ["DEFAULT_MODEL_NAME", "INSTALL_HINT", "default_model_sha", "load_codec_model", "model_installed", "model_store", "register_model", "runtime_options"]

_ID = "nzarc.neural"
#: The model the codec uses unless its params name another.
DEFAULT_MODEL_NAME = "smollm2-135m"
#: What to tell a user who lacks the model.
INSTALL_HINT = f"run `nzarc model install {DEFAULT_MODEL_NAME}`"

_REGISTERED: dict[str, CodecModel] = {}
_REGISTERED_LOCK = threading.Lock()


def register_model(model: CodecModel) -> str:
    """Make an already loaded model usable by SHA-256 in this process (tests, tools).

    Returns the model's ``weights_sha256``. Registered models are looked up
    before the model store.
    """
    sha = str(model.weights_sha256)
    with _REGISTERED_LOCK:
        _REGISTERED[sha] = model
    return sha


def runtime_options(context: CodecContext) -> RuntimeOptions:
    """The runtime options a codec context selects (device and routes; never the bytes)."""
    return RuntimeOptions(device=context.device, kernels=context.kernels, matmul=context.matmul)


def model_store() -> ModelStore:
    """The default model store (``$NZARC_HOME``)."""
    from nzarc.neural.store import ModelStore

    return ModelStore.default()


def model_installed(sha: str) -> bool:
    with _REGISTERED_LOCK:
        if sha in _REGISTERED:
            return True
    try:
        return model_store().path_for(sha).is_file()
    except Exception:
        return False


def load_codec_model(sha: str, options: RuntimeOptions) -> CodecModel:
    with _REGISTERED_LOCK:
        model = _REGISTERED.get(sha)
    if model is not None:
        return model
    from nzarc.neural.resources import check_runtime_memory, memory_failure

    try:
        path = model_store().path_for(sha)
    except Exception:  # a missing model is reported below, after the memory check
        path = None
    check_runtime_memory(path)  # before torch/numba: under a low limit they abort the process
    try:
        from nzarc.neural.runtime import load_model
    except (ImportError, OSError, MemoryError) as exc:
        raise (memory_failure("torch and the neural runtime", exc) or exc) from None
    try:
        if path is None:
            path = model_store().path_for(sha)  # ModelMismatch: not installed
        return load_model(path, options, weights_sha256=sha)
    except NzarcError:
        raise
    except Exception as exc:
        memory = memory_failure(f"model {sha[:16]}…", exc)
        if memory is not None:
            raise memory from None
        raise ModelMismatch(f"{_ID}: cannot load model {sha[:16]}…: {exc}", hint=INSTALL_HINT) from None


def default_model_sha() -> str:
    """The SHA-256 of the installed default model (the pinned SmolLM2-135M conversion when it
    is installed); ModelMismatch when none is installed or the store cannot be read."""
    from nzarc.neural.store import SMOLLM2_MODEL_SHA256

    try:
        store = model_store()
        if store.find_sha(SMOLLM2_MODEL_SHA256) is not None:
            return SMOLLM2_MODEL_SHA256
        entry = store.find(DEFAULT_MODEL_NAME)
    except NzarcError:
        raise
    except Exception as exc:  # an unreadable store is the same as no model for the user
        raise ModelMismatch(f"{_ID}: cannot read the model store: {exc}", hint=INSTALL_HINT) from None
    if entry is None:
        raise ModelMismatch(f"{_ID}: the model {DEFAULT_MODEL_NAME} is not installed", hint=INSTALL_HINT)
    return str(entry.sha256)
