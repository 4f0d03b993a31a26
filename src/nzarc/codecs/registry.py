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

import os
import re
import threading
import warnings
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from importlib import import_module
from typing import TYPE_CHECKING, Any

import pluggy

from nzarc.codecs import hookspecs
from nzarc.codecs.contract import Codec, ModelDescriptor, validate_codec_class
from nzarc.codecs.hookspecs import PluginWarning
from nzarc.errors import PluginError, UnsupportedCodec

if TYPE_CHECKING:  # importlib.metadata costs milliseconds; only a full load needs it
    from importlib import metadata

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

ENTRY_POINT_GROUP = "nzarc"
ENV_STRICT = "NZARC_STRICT_PLUGINS"
ENV_DISABLE = "NZARC_DISABLE_PLUGINS"
BUILTIN_DISTRIBUTION = "nzarc"
BUILTIN_PLUGIN = "builtin"
_BUILTIN_MODULE = "nzarc.codecs.builtin"
_RESERVED_NAMESPACE = "nzarc."
_HOOKS = ("nzarc_codecs", "nzarc_models")
_MAX_CODECS_PER_PLUGIN = 256
_DIST_NAME_RE = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9._-]{0,98}[A-Za-z0-9])?$")


@dataclass(frozen=True)
class CodecInfo:
    """One registered codec: its id, bitstream version, class and where it came from."""

    codec_id: str
    version: int
    cls: type[Codec]
    distribution: str | None
    plugin: str
    distribution_version: str | None = None

    @property
    def module(self) -> str:
        return self.cls.__module__


@dataclass(frozen=True)
class _Source:
    """One plugin to load: an entry point, or the built-in fallback."""

    name: str
    value: str
    distribution: str | None
    distribution_version: str | None
    load: Callable[[], object]

    @property
    def label(self) -> str:
        return f"plugin {self.name!r} of distribution {self.distribution or '(unknown)'}"


def normalize_distribution(name: str) -> str:
    """PEP 503 normalisation: lowercase, runs of ``-_.`` become ``-``."""
    return re.sub(r"[-_.]+", "-", name).lower()


def _env_strict() -> bool:
    return os.environ.get(ENV_STRICT, "").strip().lower() in ("1", "true", "yes", "on")


def _env_disabled() -> list[str]:
    return [t.strip() for t in os.environ.get(ENV_DISABLE, "").split(",") if t.strip()]


def _is_builtin(source: _Source) -> bool:
    return (
        source.name == BUILTIN_PLUGIN
        and source.distribution is not None
        and normalize_distribution(source.distribution) == BUILTIN_DISTRIBUTION
    )


def _matches(source: _Source, token: str) -> bool:
    dist = normalize_distribution(source.distribution or "")
    if ":" in token:
        want_dist, _, want_name = token.partition(":")
        return normalize_distribution(want_dist) == dist and want_name == source.name
    return token == source.name or normalize_distribution(token) == dist


def _source_from_entry_point(ep: metadata.EntryPoint) -> _Source:
    dist = getattr(ep, "dist", None)
    return _Source(
        name=ep.name,
        value=ep.value,
        distribution=dist.name if dist is not None else None,
        distribution_version=dist.version if dist is not None else None,
        load=ep.load,
    )


def _builtin_source() -> _Source:
    """The built-in plugin, loaded directly (no distribution metadata needed)."""
    from nzarc import __version__

    return _Source(
        name=BUILTIN_PLUGIN,
        value=_BUILTIN_MODULE,
        distribution=BUILTIN_DISTRIBUTION,
        distribution_version=__version__,
        load=lambda: import_module(_BUILTIN_MODULE),
    )


def _discover() -> list[_Source]:
    from importlib import metadata

    sources = [
        _source_from_entry_point(ep) for ep in metadata.entry_points(group=ENTRY_POINT_GROUP)
    ]
    if not any(_is_builtin(s) for s in sources):
        # Running from a source tree without installed metadata: load the same module directly.
        sources.append(_builtin_source())
    return sources


class _PluginFailure(Exception):
    """Internal: why one plugin was skipped (one line)."""


class Registry:
    """Codecs and models from the loaded plugins. Build with :meth:`load`."""

    def __init__(self) -> None:
        self._codecs: dict[tuple[str, int], CodecInfo] = {}
        self._models: dict[str, tuple[ModelDescriptor, str]] = {}
        self._failed: dict[str, str] = {}
        self.warnings: list[str] = []
        self.disabled: list[str] = []
        self.strict = False

    # -- loading -----------------------------------------------------------------------------

    @classmethod
    def load(
        cls,
        entry_points: Iterable[metadata.EntryPoint] | None = None,
        *,
        strict: bool | None = None,
        disabled: Iterable[str] | None = None,
    ) -> Registry:
        """Load plugins and return a new registry.

        ``entry_points`` defaults to the installed ``nzarc`` group (plus the
        built-in plugin when nzarc's own metadata is absent); ``strict`` and
        ``disabled`` default to ``NZARC_STRICT_PLUGINS``/``NZARC_DISABLE_PLUGINS``.
        Raises :class:`PluginError` on conflicts, and on any failure when strict.
        """
        tokens = _env_disabled() if disabled is None else [t.strip() for t in disabled if t.strip()]
        if entry_points is None:
            sources = _discover()
        else:
            sources = [_source_from_entry_point(ep) for ep in entry_points]
        return cls._from_sources(sources, strict, tokens)

    @classmethod
    def load_builtin(cls, *, strict: bool | None = None) -> Registry:
        """The codecs of the built-in plugin alone (nzarc's own), found without scanning
        installed distributions; model descriptors are not collected (:meth:`models` is
        empty). See :func:`registry_for`."""
        return cls._from_sources([_builtin_source()], strict, [], models=False)

    @classmethod
    def _from_sources(
        cls, sources: list[_Source], strict: bool | None, tokens: list[str], *, models: bool = True
    ) -> Registry:
        reg = cls()
        reg.strict = _env_strict() if strict is None else strict
        sources = sorted(
            sources,
            key=lambda s: (not _is_builtin(s), normalize_distribution(s.distribution or ""), s.name),
        )
        manager = pluggy.PluginManager(hookspecs.PROJECT_NAME)
        manager.add_hookspecs(hookspecs)
        for source in sources:
            if not _is_builtin(source) and any(_matches(source, t) for t in tokens):
                reg.disabled.append(f"{source.distribution or '(unknown)'}:{source.name}")
                continue
            try:
                codecs, descriptors = reg._load_one(manager, source, models=models)
            except _PluginFailure as exc:
                reg._fail(source, str(exc))
                continue
            reg._merge(source, codecs, descriptors)
        return reg

    def _fail(self, source: _Source, detail: str) -> None:
        message = f"{source.label} was not loaded: {detail}"
        if source.distribution:
            self._failed[normalize_distribution(source.distribution)] = message
        hint = (
            f"fix or uninstall {source.distribution or 'the plugin'}, "
            f"or set {ENV_DISABLE}={source.name} to skip it"
        )
        if self.strict:
            raise PluginError(message, hint=hint)
        self.warnings.append(message)
        warnings.warn(message, PluginWarning, stacklevel=3)

    def _load_one(
        self, manager: pluggy.PluginManager, source: _Source, *, models: bool = True
    ) -> tuple[list[type[Codec]], list[ModelDescriptor]]:
        try:
            plugin = source.load()
        except Exception as exc:
            raise _PluginFailure(f"importing {source.value} failed: {_describe(exc)}") from None
        plugin_id = f"{source.distribution or ''}:{source.name}"
        try:
            manager.register(plugin, name=plugin_id)
        except Exception as exc:
            raise _PluginFailure(f"invalid hooks in {source.value}: {_describe(exc)}") from None
        try:
            callers = manager.get_hookcallers(plugin) or []
            for caller in callers:
                if not caller.has_spec():
                    raise _PluginFailure(
                        f"{source.value} implements unknown hook {caller.name!r} "
                        f"(known: {', '.join(_HOOKS)})"
                    )
            if not callers:
                raise _PluginFailure(
                    f"{source.value} implements no @hookimpl-marked hook ({', '.join(_HOOKS)})"
                )
            codecs = self._call(manager, plugin, source, "nzarc_codecs")
            described = self._call(manager, plugin, source, "nzarc_models") if models else []
            return (
                _validate_codecs(source, codecs),
                _validate_models(source, described),
            )
        finally:
            # The manager only serves to validate and call; the tables keep what is needed.
            manager.unregister(name=plugin_id)

    def _call(
        self, manager: pluggy.PluginManager, plugin: object, source: _Source, hook: str
    ) -> list[Any]:
        results: list[Any] = []
        for impl in getattr(manager.hook, hook).get_hookimpls():
            if impl.plugin is not plugin:
                continue
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                try:
                    value = impl.function()
                except Exception as exc:
                    raise _PluginFailure(f"{hook}() raised {_describe(exc)}") from None
            for item in caught:
                if issubclass(item.category, PluginWarning):
                    self._partial(source, str(item.message))
                else:
                    warnings.warn_explicit(item.message, item.category, item.filename, item.lineno)
            if value is None:
                continue
            if isinstance(value, (str, bytes, Mapping)) or not isinstance(value, Iterable):
                raise _PluginFailure(f"{hook}() must return a list, not {type(value).__name__}")
            results.extend(value)
            if len(results) > _MAX_CODECS_PER_PLUGIN:
                raise _PluginFailure(f"{hook}() returned more than {_MAX_CODECS_PER_PLUGIN} items")
        return results

    def _partial(self, source: _Source, detail: str) -> None:
        """A plugin reported (by PluginWarning) that part of it is unavailable."""
        message = f"{source.label}: {detail}"
        if self.strict:
            raise PluginError(
                message,
                hint=f"reinstall {source.distribution or 'the plugin'}, or unset {ENV_STRICT}",
            )
        self.warnings.append(message)
        warnings.warn(message, PluginWarning, stacklevel=4)

    def _merge(
        self, source: _Source, codecs: list[type[Codec]], models: list[ModelDescriptor]
    ) -> None:
        owner = {info.codec_id: info for info in self._codecs.values()}
        for codec in codecs:
            key = (codec.codec_id, codec.version)
            other = self._codecs.get(key) or owner.get(codec.codec_id)
            if other is not None:
                same = normalize_distribution(other.distribution or "") == normalize_distribution(
                    source.distribution or ""
                )
                if not same or key in self._codecs:
                    raise PluginError(
                        f"codec {codec.codec_id} is provided by two plugins: {other.plugin!r} of "
                        f"distribution {other.distribution or '(unknown)'} ({other.module}) and "
                        f"{source.name!r} of distribution {source.distribution or '(unknown)'} "
                        f"({codec.__module__})",
                        hint=f"uninstall one of them, or set {ENV_DISABLE} to the one to skip",
                    )
        for model in models:
            known = self._models.get(model.name)
            if known is not None and _model_identity(known[0]) != _model_identity(model):
                raise PluginError(
                    f"model {model.name!r} is described differently by distribution "
                    f"{known[1]} and distribution {source.distribution or '(unknown)'}",
                    hint=f"uninstall one of them, or set {ENV_DISABLE} to the one to skip",
                )
        for codec in codecs:
            self._codecs[(codec.codec_id, codec.version)] = CodecInfo(
                codec_id=codec.codec_id,
                version=codec.version,
                cls=codec,
                distribution=source.distribution,
                plugin=source.name,
                distribution_version=source.distribution_version,
            )
        for model in models:
            self._models.setdefault(model.name, (model, source.distribution or "(unknown)"))

    # -- queries -----------------------------------------------------------------------------

    def codecs(self) -> list[CodecInfo]:
        """Every registered codec, sorted by id then version."""
        return [self._codecs[k] for k in sorted(self._codecs)]

    def codec_info(self, codec_id: str, version: int) -> CodecInfo | None:
        return self._codecs.get((codec_id, version))

    def codec_class(
        self, codec_id: str, version: int, *, distribution: str | None = None
    ) -> type[Codec]:
        """The class decoding ``(codec_id, version)``; raise :class:`UnsupportedCodec`.

        ``distribution`` is what the archive header recorded as the provider;
        it only improves the message.
        """
        info = self._codecs.get((codec_id, version))
        if info is not None:
            return info.cls
        raise self._unsupported(codec_id, version, distribution)

    def latest(self, codec_id: str) -> type[Codec]:
        """The highest bitstream version of ``codec_id``; raise :class:`UnsupportedCodec`."""
        versions = [v for (cid, v) in self._codecs if cid == codec_id]
        if not versions:
            raise self._unsupported(codec_id, None, None)
        return self._codecs[(codec_id, max(versions))].cls

    def distribution_of(self, codec_id: str) -> str | None:
        """The distribution providing ``codec_id`` (for the header); raise if not installed."""
        for (cid, _), info in self._codecs.items():
            if cid == codec_id:
                return info.distribution
        raise self._unsupported(codec_id, None, None)

    def models(self) -> list[ModelDescriptor]:
        """Every model descriptor from the ``nzarc_models()`` hooks, sorted by name."""
        return [self._models[name][0] for name in sorted(self._models)]

    def model(self, name: str) -> ModelDescriptor | None:
        entry = self._models.get(name)
        return entry[0] if entry else None

    def _unsupported(
        self, codec_id: str, version: int | None, distribution: str | None
    ) -> UnsupportedCodec:
        wanted = (
            f"{_printable(codec_id)} version {version}"
            if version is not None
            else _printable(codec_id)
        )
        have = sorted(v for (cid, v) in self._codecs if cid == codec_id)
        dist = distribution if distribution and _DIST_NAME_RE.match(distribution) else None
        if have:
            provider = self._codecs[(codec_id, have[-1])].distribution or dist
            versions = ", ".join(str(v) for v in have)
            message = f"codec {wanted} is not supported; installed: version {versions}"
            if provider:
                message += f" from {provider}"
                return UnsupportedCodec(message, hint=f"upgrade it: pip install -U {provider}")
            return UnsupportedCodec(message, hint="upgrade the plugin that provides it")
        message = f"codec {wanted} is not installed"
        if dist is None:
            hint = "install the plugin that provides it; `nzarc codecs` lists what is installed"
            return UnsupportedCodec(message, hint=hint)
        message += f"; it is provided by the distribution {dist}"
        failed = self._failed.get(normalize_distribution(dist))
        if failed is not None:
            return UnsupportedCodec(
                message, hint=f"{dist} is installed but failed to load: {failed}"
            )
        if any(
            d.startswith(normalize_distribution(dist) + ":")
            for d in map(_norm_disabled, self.disabled)
        ):
            return UnsupportedCodec(message, hint=f"{dist} is disabled by {ENV_DISABLE}")
        return UnsupportedCodec(message, hint=f"install it: pip install {dist}")


def _model_identity(model: ModelDescriptor) -> tuple[str, str, str]:
    return (model.weights_sha256, model.tokenizer_sha256, model.runtime_id)


def _norm_disabled(entry: str) -> str:
    dist, _, name = entry.rpartition(":")
    return f"{normalize_distribution(dist)}:{name}"


def _printable(text: str) -> str:
    """``text`` if it is a plain printable id, else its repr (ids come from archives)."""
    return text if text.isprintable() and text.isascii() and len(text) <= 64 else repr(text[:64])


def _describe(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0]}" if text else type(exc).__name__


def _validate_codecs(source: _Source, items: list[Any]) -> list[type[Codec]]:
    seen: set[tuple[str, int]] = set()
    builtin = normalize_distribution(source.distribution or "") == BUILTIN_DISTRIBUTION
    for item in items:
        try:
            validate_codec_class(item)
        except TypeError as exc:
            raise _PluginFailure(f"nzarc_codecs() returned an invalid codec: {exc}") from None
        if item.codec_id.startswith(_RESERVED_NAMESPACE) and not builtin:
            raise _PluginFailure(
                f"codec id {item.codec_id!r} of {item.__qualname__} uses the reserved "
                f"namespace 'nzarc.'; choose a namespace of your own"
            )
        key = (item.codec_id, item.version)
        if key in seen:
            raise _PluginFailure(
                f"nzarc_codecs() returned {item.codec_id} version {item.version} twice"
            )
        seen.add(key)
    return items


def _validate_models(source: _Source, items: list[Any]) -> list[ModelDescriptor]:
    for item in items:
        if not isinstance(item, ModelDescriptor):
            raise _PluginFailure(
                f"nzarc_models() returned {type(item).__name__}, "
                "not nzarc.codecs.contract.ModelDescriptor"
            )
    return items


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
    own = all(cid.startswith(_RESERVED_NAMESPACE) for cid in codec_ids)
    with _lock:
        if _registry is None and own and not _env_strict():
            if _builtin is None:
                _builtin = Registry.load_builtin()
            return _builtin
    return get_registry()


def describe_codecs(registry: Registry | None = None) -> list[dict[str, Any]]:
    """One plain dict per codec, for ``nzarc codecs [--json]``.

    Keys: ``id``, ``version``, ``distribution``, ``distribution_version``,
    ``plugin``, ``module``, ``releases_gil``, ``verify_after_encode``,
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
            "models": list(info.cls.uses_models),
        }
        for info in reg.codecs()
    ]
