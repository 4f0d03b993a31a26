"""The plugin that registers nzarc's own codecs (entry point ``builtin``, group ``nzarc``).

It goes through the same loading path as third-party plugins. Listing codecs
must stay cheap: nothing here imports torch. The neural codec's module
(:mod:`nzarc.neural.codec`) is imported only to fetch its class, and that
module itself imports torch lazily, when a codec is built or used.
"""

from __future__ import annotations

import importlib
import warnings
from collections.abc import Sequence

from nzarc.codecs.contract import Codec, ModelDescriptor
from nzarc.codecs.hookspecs import PluginWarning, hookimpl
from nzarc.codecs.store import StoreCodec
from nzarc.codecs.xz import XzCodec
from nzarc.codecs.zstd import ZstdCodec

__all__ = ["nzarc_codecs", "nzarc_models"]

# ---------------------------------------------------------------------------
# Neural codec registration.
# ``nzarc.neural.codec`` must be importable without importing torch, numpy-heavy
# runtime code or model files; it exposes:
#   NeuralCodec : type[Codec]                  (codec_id "nzarc.neural")
#   MODELS      : Sequence[ModelDescriptor]    (optional; the models it can use)
# Until that module exists, the built-in plugin simply lists no neural codec.
# If it fails to import, store and zstd stay available and a PluginWarning says why.
# ---------------------------------------------------------------------------
_NEURAL_MODULE = "nzarc.neural.codec"


def _neural_module(*, report: bool) -> object | None:
    try:
        return importlib.import_module(_NEURAL_MODULE)
    except ModuleNotFoundError as exc:
        if exc.name == _NEURAL_MODULE:
            return None
        problem: Exception = exc
    except Exception as exc:  # a broken optional codec must not take store/zstd down
        problem = exc
    if not report:
        return None
    warnings.warn(
        f"the built-in neural codec is unavailable: {type(problem).__name__}: {problem}",
        PluginWarning,
        stacklevel=2,
    )
    return None


def _neural_codecs() -> list[type[Codec]]:
    module = _neural_module(report=True)
    if module is None:
        return []
    return [module.NeuralCodec]  # type: ignore[attr-defined]


def _neural_models() -> list[ModelDescriptor]:
    module = _neural_module(report=False)  # a failure was already reported by nzarc_codecs
    if module is None:
        return []
    return list(getattr(module, "MODELS", ()))


@hookimpl
def nzarc_codecs() -> Sequence[type[Codec]]:
    return [StoreCodec, ZstdCodec, XzCodec, *_neural_codecs()]


@hookimpl
def nzarc_models() -> Sequence[ModelDescriptor]:
    return _neural_models()
