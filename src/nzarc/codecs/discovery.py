"""Which plugins there are, and checking what their hooks return.

A :class:`Source` is one plugin to load: an entry point of the group
:data:`ENTRY_POINT_GROUP`, or the built-in plugin loaded directly when nzarc's
own distribution metadata is absent (a source tree). :func:`discover` lists
them; :func:`matches` decides whether a ``NZARC_DISABLE_PLUGINS`` token names a
source; :func:`validate_codecs`/:func:`validate_models` check hook results and
raise :class:`PluginFailure` (a one-line reason, never seen outside the
registry) for anything that must make the registry skip the plugin. Nothing
here imports a plugin or keeps state; :mod:`nzarc.codecs.catalog` does the
loading and :mod:`nzarc.codecs.registry` states the rules.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from dataclasses import dataclass
from importlib import import_module
from typing import TYPE_CHECKING, Any

from nzarc.codecs.contract import Codec, ModelDescriptor, validate_codec_class

if TYPE_CHECKING:  # importlib.metadata costs milliseconds; only a full load needs it
    from importlib import metadata

ENTRY_POINT_GROUP = "nzarc"
ENV_STRICT = "NZARC_STRICT_PLUGINS"
ENV_DISABLE = "NZARC_DISABLE_PLUGINS"
BUILTIN_DISTRIBUTION = "nzarc"
BUILTIN_PLUGIN = "builtin"
BUILTIN_MODULE = "nzarc.codecs.builtin"
#: Codec ids in this namespace belong to the distribution ``nzarc`` alone.
RESERVED_NAMESPACE = "nzarc."
HOOKS = ("nzarc_codecs", "nzarc_models")
MAX_CODECS_PER_PLUGIN = 256


@dataclass(frozen=True)
class Source:
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


def env_strict() -> bool:
    return os.environ.get(ENV_STRICT, "").strip().lower() in ("1", "true", "yes", "on")


def env_disabled() -> list[str]:
    return [t.strip() for t in os.environ.get(ENV_DISABLE, "").split(",") if t.strip()]


def is_builtin(source: Source) -> bool:
    return (
        source.name == BUILTIN_PLUGIN
        and source.distribution is not None
        and normalize_distribution(source.distribution) == BUILTIN_DISTRIBUTION
    )


def matches(source: Source, token: str) -> bool:
    dist = normalize_distribution(source.distribution or "")
    if ":" in token:
        want_dist, _, want_name = token.partition(":")
        return normalize_distribution(want_dist) == dist and want_name == source.name
    return token == source.name or normalize_distribution(token) == dist


def source_from_entry_point(ep: metadata.EntryPoint) -> Source:
    dist = getattr(ep, "dist", None)
    return Source(
        name=ep.name,
        value=ep.value,
        distribution=dist.name if dist is not None else None,
        distribution_version=dist.version if dist is not None else None,
        load=ep.load,
    )


def builtin_source() -> Source:
    """The built-in plugin, loaded directly (no distribution metadata needed)."""
    from nzarc import __version__

    return Source(
        name=BUILTIN_PLUGIN,
        value=BUILTIN_MODULE,
        distribution=BUILTIN_DISTRIBUTION,
        distribution_version=__version__,
        load=lambda: import_module(BUILTIN_MODULE),
    )


def discover() -> list[Source]:
    from importlib import metadata

    sources = [source_from_entry_point(ep) for ep in metadata.entry_points(group=ENTRY_POINT_GROUP)]
    if not any(is_builtin(s) for s in sources):
        # Running from a source tree without installed metadata: load the same module directly.
        sources.append(builtin_source())
    return sources


class PluginFailure(Exception):
    """Internal: why one plugin was skipped (one line)."""


def describe_exception(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0]}" if text else type(exc).__name__


def validate_codecs(source: Source, items: list[Any]) -> list[type[Codec]]:
    seen: set[tuple[str, int]] = set()
    builtin = normalize_distribution(source.distribution or "") == BUILTIN_DISTRIBUTION
    for item in items:
        try:
            validate_codec_class(item)
        except TypeError as exc:
            raise PluginFailure(f"nzarc_codecs() returned an invalid codec: {exc}") from None
        if item.codec_id.startswith(RESERVED_NAMESPACE) and not builtin:
            raise PluginFailure(
                f"codec id {item.codec_id!r} of {item.__qualname__} uses the reserved "
                f"namespace 'nzarc.'; choose a namespace of your own"
            )
        key = (item.codec_id, item.version)
        if key in seen:
            raise PluginFailure(
                f"nzarc_codecs() returned {item.codec_id} version {item.version} twice"
            )
        seen.add(key)
    return items


def validate_models(source: Source, items: list[Any]) -> list[ModelDescriptor]:
    for item in items:
        if not isinstance(item, ModelDescriptor):
            raise PluginFailure(
                f"nzarc_models() returned {type(item).__name__}, "
                "not nzarc.codecs.contract.ModelDescriptor"
            )
    return items
