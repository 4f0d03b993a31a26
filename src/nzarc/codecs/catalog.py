"""The :class:`Registry`: codecs and models from loaded plugins, and lookup by codec id.

:meth:`Registry.load` loads every discovered plugin under the rules stated in
:mod:`nzarc.codecs.registry` (each plugin in isolation, conflicts always an
error, strict mode and the disable list); :meth:`Registry.load_builtin` loads the
built-in plugin alone. The query methods never load anything; a codec that is
missing raises :class:`UnsupportedCodec` with a one-line message and a hint that
says why (not installed, too old, failed to load, disabled). Which registry a
process uses is decided in :mod:`nzarc.codecs.registry`.
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import pluggy

from nzarc.codecs import hookspecs
from nzarc.codecs.contract import Codec, ModelDescriptor
from nzarc.codecs.discovery import (
    ENV_DISABLE,
    ENV_STRICT,
    HOOKS,
    MAX_CODECS_PER_PLUGIN,
    PluginFailure,
    Source,
    builtin_source,
    describe_exception,
    discover,
    env_disabled,
    env_strict,
    is_builtin,
    matches,
    normalize_distribution,
    source_from_entry_point,
    validate_codecs,
    validate_models,
)
from nzarc.codecs.hookspecs import PluginWarning
from nzarc.errors import PluginError, UnsupportedCodec

if TYPE_CHECKING:
    from importlib import metadata

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
        tokens = env_disabled() if disabled is None else [t.strip() for t in disabled if t.strip()]
        if entry_points is None:
            sources = discover()
        else:
            sources = [source_from_entry_point(ep) for ep in entry_points]
        return cls._from_sources(sources, strict, tokens)

    @classmethod
    def load_builtin(cls, *, strict: bool | None = None) -> Registry:
        """The codecs of the built-in plugin alone (nzarc's own), found without scanning
        installed distributions; model descriptors are not collected (:meth:`models` is
        empty). See :func:`registry_for`."""
        return cls._from_sources([builtin_source()], strict, [], models=False)

    @classmethod
    def _from_sources(
        cls, sources: list[Source], strict: bool | None, tokens: list[str], *, models: bool = True
    ) -> Registry:
        reg = cls()
        reg.strict = env_strict() if strict is None else strict
        sources = sorted(
            sources,
            key=lambda s: (not is_builtin(s), normalize_distribution(s.distribution or ""), s.name),
        )
        manager = pluggy.PluginManager(hookspecs.PROJECT_NAME)
        manager.add_hookspecs(hookspecs)
        for source in sources:
            if not is_builtin(source) and any(matches(source, t) for t in tokens):
                reg.disabled.append(f"{source.distribution or '(unknown)'}:{source.name}")
                continue
            try:
                codecs, descriptors = reg._load_one(manager, source, models=models)
            except PluginFailure as exc:
                reg._fail(source, str(exc))
                continue
            reg._merge(source, codecs, descriptors)
        return reg

    def _fail(self, source: Source, detail: str) -> None:
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
        self, manager: pluggy.PluginManager, source: Source, *, models: bool = True
    ) -> tuple[list[type[Codec]], list[ModelDescriptor]]:
        try:
            plugin = source.load()
        except Exception as exc:
            raise PluginFailure(
                f"importing {source.value} failed: {describe_exception(exc)}"
            ) from None
        plugin_id = f"{source.distribution or ''}:{source.name}"
        try:
            manager.register(plugin, name=plugin_id)
        except Exception as exc:
            raise PluginFailure(
                f"invalid hooks in {source.value}: {describe_exception(exc)}"
            ) from None
        try:
            callers = manager.get_hookcallers(plugin) or []
            for caller in callers:
                if not caller.has_spec():
                    raise PluginFailure(
                        f"{source.value} implements unknown hook {caller.name!r} "
                        f"(known: {', '.join(HOOKS)})"
                    )
            if not callers:
                raise PluginFailure(
                    f"{source.value} implements no @hookimpl-marked hook ({', '.join(HOOKS)})"
                )
            codecs = self._call(manager, plugin, source, "nzarc_codecs")
            described = self._call(manager, plugin, source, "nzarc_models") if models else []
            return (
                validate_codecs(source, codecs),
                validate_models(source, described),
            )
        finally:
            # The manager only serves to validate and call; the tables keep what is needed.
            manager.unregister(name=plugin_id)

    def _call(
        self, manager: pluggy.PluginManager, plugin: object, source: Source, hook: str
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
                    raise PluginFailure(f"{hook}() raised {describe_exception(exc)}") from None
            for item in caught:
                if issubclass(item.category, PluginWarning):
                    self._partial(source, str(item.message))
                else:
                    warnings.warn_explicit(item.message, item.category, item.filename, item.lineno)
            if value is None:
                continue
            if isinstance(value, (str, bytes, Mapping)) or not isinstance(value, Iterable):
                raise PluginFailure(f"{hook}() must return a list, not {type(value).__name__}")
            results.extend(value)
            if len(results) > MAX_CODECS_PER_PLUGIN:
                raise PluginFailure(f"{hook}() returned more than {MAX_CODECS_PER_PLUGIN} items")
        return results

    def _partial(self, source: Source, detail: str) -> None:
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
        self, source: Source, codecs: list[type[Codec]], models: list[ModelDescriptor]
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
