"""The pluggy hook specifications of nzarc's codec plugins (project name ``nzarc``).

A plugin is a module (or object) named by an entry point in the ``nzarc``
group. It implements one or both hooks, marked with :data:`hookimpl`::

    # pyproject.toml
    [project.entry-points.nzarc]
    acme = "acme_codecs.plugin"

    # acme_codecs/plugin.py
    from nzarc.codecs.hookspecs import hookimpl

    @hookimpl
    def nzarc_codecs():
        return [AcmeFooCodec]

Both hooks take no arguments and must be cheap: they run whenever the
registry loads, including for ``nzarc --help``-like commands, so they must
not import heavy dependencies (load those inside the codec's methods).
"""

from __future__ import annotations

from collections.abc import Sequence

import pluggy

from nzarc.codecs.contract import Codec, ModelDescriptor

__all__ = [
    "PROJECT_NAME",
    "PluginWarning",
    "hookspec",
    "hookimpl",
    "nzarc_codecs",
    "nzarc_models",
]

PROJECT_NAME = "nzarc"

hookspec = pluggy.HookspecMarker(PROJECT_NAME)
hookimpl = pluggy.HookimplMarker(PROJECT_NAME)


class PluginWarning(UserWarning):
    """A plugin failed to load, or part of it did; the rest of nzarc keeps working.

    A hook may itself emit this warning to report a partial failure (one
    optional codec unavailable). The registry records it in
    ``Registry.warnings``, and strict mode turns it into :class:`PluginError`.
    """


@hookspec
def nzarc_codecs() -> Sequence[type[Codec]]:  # type: ignore[empty-body]
    """Return the codec classes this plugin provides.

    Each must be a subclass of :class:`nzarc.codecs.contract.Codec` that
    passes :func:`nzarc.codecs.contract.validate_codec_class`. A plugin owns
    its ids: no other distribution may provide the same ``codec_id``, and the
    ``nzarc.`` namespace belongs to nzarc itself.
    """


@hookspec
def nzarc_models() -> Sequence[ModelDescriptor]:  # type: ignore[empty-body]
    """Return descriptors of the models this plugin's codecs can use.

    Listing a model does not install it; ``how_to_obtain`` tells the user how.
    """
