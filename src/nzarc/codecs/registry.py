"""The codec registry: codecs and models provided by plugins of the ``nzarc`` entry-point group.

Loading rules
    * Every entry point in the group ``nzarc`` names a plugin (a module or
      object with ``@hookimpl`` functions, see :mod:`nzarc.codecs.hookspecs`).
      nzarc's own codecs come from the entry point ``builtin`` of the
      distribution ``nzarc`` and load through the same path.
    * Plugins load one at a time, in order of (distribution, entry-point
      name), each in isolation: a plugin that fails to import, to register,
      to run its hooks or to return valid codec classes is skipped as a
      whole; a :class:`PluginWarning` names its distribution and the error
      (also kept in :attr:`Registry.warnings`), and every other codec keeps
      working.
    * ``NZARC_STRICT_PLUGINS=1`` (or ``true``/``yes``/``on``) turns every
      such failure into :class:`PluginError`.
    * ``NZARC_DISABLE_PLUGINS=a,b`` skips plugins without importing them.
      Each comma-separated token matches an entry-point name (``acme``), a
      distribution name (``nzarc-ppmd``; ``-``, ``_`` and ``.`` are
      equivalent, case is ignored) or both (``nzarc-ppmd:ppmd``). The
      built-in plugin cannot be disabled: it provides the codecs every
      archive may rely on.
    * A codec id belongs to one distribution. Two distributions providing
      the same id, or one providing the same ``(id, version)`` twice, is a
      :class:`PluginError` naming both, in strict mode or not, because which
      one decodes an archive would otherwise be arbitrary. The ``nzarc.``
      namespace is reserved for the distribution ``nzarc``.
    * Two plugins describing the same model name with different hashes is a
      :class:`PluginError` as well.
    * Reading or writing an archive whose codecs are all nzarc's own
      (``nzarc.*``) needs only the built-in plugin, since no other plugin
      may provide those ids: :func:`registry_for` then loads that plugin
      alone, without scanning installed distributions or importing other
      plugins (so their failures and conflicts are not reported there),
      unless strict mode is on or the full registry is already loaded.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from typing import Any

from nzarc.codecs.catalog import CodecInfo, Registry
from nzarc.codecs.contract import ModelDescriptor
from nzarc.codecs.discovery import BUILTIN_DISTRIBUTION as BUILTIN_DISTRIBUTION
from nzarc.codecs.discovery import BUILTIN_PLUGIN as BUILTIN_PLUGIN
from nzarc.codecs.discovery import (
    ENTRY_POINT_GROUP,
    ENV_DISABLE,
    ENV_STRICT,
    RESERVED_NAMESPACE,
    env_strict,
)
from nzarc.codecs.discovery import normalize_distribution as normalize_distribution
from nzarc.codecs.hookspecs import PluginWarning

__all__ = [
    "CodecInfo",
    "ModelDescriptor",
    "PluginWarning",
    "Registry",
    "describe_codecs",
    "get_registry",
    "registry_for",
    "ENTRY_POINT_GROUP",
    "ENV_STRICT",
    "ENV_DISABLE",
]

_lock = threading.Lock()
_registry: Registry | None = None
_builtin: Registry | None = None


def get_registry(*, reload: bool = False) -> Registry:
    """The process-wide registry, loaded on first use (or again when ``reload``)."""
    global _registry, _builtin
    with _lock:
        if _registry is None or reload:
            _builtin = None
            _registry = Registry.load()
        return _registry


def registry_for(codec_ids: Iterable[str]) -> Registry:
    """A registry that resolves ``codec_ids`` as :func:`get_registry` would.

    When every id is in the reserved ``nzarc.`` namespace, strict mode is off and the
    full registry is not loaded yet, that is the built-in plugin alone (loaded once):
    no other plugin may provide those ids. Otherwise it is :func:`get_registry`.
    """
    global _builtin
    own = all(cid.startswith(RESERVED_NAMESPACE) for cid in codec_ids)
    with _lock:
        if _registry is None and own and not env_strict():
            if _builtin is None:
                _builtin = Registry.load_builtin()
            return _builtin
    return get_registry()


def describe_codecs(registry: Registry | None = None) -> list[dict[str, Any]]:
    """One plain dict per codec, for ``nzarc codecs [--json]``.

    Keys: ``id``, ``version``, ``distribution``, ``distribution_version``,
    ``plugin``, ``module``, ``releases_gil``, ``verify_after_encode``, ``auto_eligible``,
    ``models`` (names of models the codec can use).
    """
    reg = registry if registry is not None else get_registry()
    return [
        {
            "id": info.codec_id,
            "version": info.version,
            "distribution": info.distribution,
            "distribution_version": info.distribution_version,
            "plugin": info.plugin,
            "module": info.module,
            "releases_gil": bool(info.cls.releases_gil),
            "verify_after_encode": bool(info.cls.verify_after_encode),
            "auto_eligible": bool(info.cls.auto_eligible),
            "models": list(info.cls.uses_models),
        }
        for info in reg.codecs()
    ]
