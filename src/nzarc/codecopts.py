"""Codec params given by the caller: which params a codec class takes, and building a codec
from them through the class's own validation.

A codec class takes the keyword parameters of its ``__init__`` (``context`` aside), and is
built from caller params as ``cls(**params)``, as a numcodecs codec's ``from_config`` is
``cls(**config)``: params left out keep the class's defaults, and the class's own
validation checks the rest; so a built-in codec and a plugin codec are configured alike,
and a codec's bounds are its own. The params a built codec would record (``get_params``)
must read back through its ``from_params``, as a reader builds it: :func:`configured`
checks that before anything is written (and the conformance kit, :mod:`nzarc.testing`,
checks it for every codec). A refusal is a :class:`~nzarc.errors.CodecOptionError` (a usage error) naming the codec
and the param.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping
from typing import Any

from nzarc.codecs.context import CodecContext
from nzarc.codecs.contract import Codec
from nzarc.errors import CodecError, CodecOptionError, NzarcError
from nzarc.levels import has_levels, level_refused

__all__ = ["CodecParams", "configured", "param_names"]

#: Params given by the caller: names to ints or strings (or any value a codec's params take).
CodecParams = Mapping[str, Any]


def param_names(cls: type[Codec]) -> frozenset[str] | None:
    """The params codec class ``cls`` takes; None when its ``__init__`` takes ``**kwargs``
    (any name)."""
    if cls.__init__ is object.__init__:  # no __init__ of its own: no params
        return frozenset()
    names = set()
    for param in list(inspect.signature(cls.__init__).parameters.values())[1:]:
        if param.kind is inspect.Parameter.VAR_KEYWORD:
            return None
        if param.kind is not inspect.Parameter.VAR_POSITIONAL and param.name != "context":
            names.add(param.name)
    return frozenset(names)


def _context_kwargs(cls: type[Codec], context: CodecContext | None) -> dict[str, Any]:
    return {"context": context} if context is not None and cls.takes_context else {}


def _refusal(cls: type[Codec], params: CodecParams, build: Callable[[], Codec]) -> Codec:
    """``build()``; a refusal of ``params`` (a CodecError: CodecParamsError, or the plain
    class a plugin may raise; any exception but another NzarcError) becomes
    CodecOptionError. Other NzarcErrors (a model not installed) pass through."""
    try:
        return build()
    except CodecError as exc:
        raise CodecOptionError(exc.message, hint=exc.hint) from None
    except NzarcError:
        raise
    except Exception as exc:  # a plugin's own validation: one line, never its traceback
        detail = " ".join(str(exc).split())
        raise CodecOptionError(
            f"{cls.codec_id}: bad params {', '.join(sorted(params))} "
            f"({type(exc).__name__}: {detail})"
        ) from None


def configured(
    cls: type[Codec], params: CodecParams | None = None, context: CodecContext | None = None
) -> Codec:
    """Build codec class ``cls`` once, as ``cls(**params)`` (None or empty: its defaults),
    with ``context`` for the codecs that take one.

    Raises CodecOptionError for a param ``cls`` does not take (naming it and the params it
    does) or a value it refuses (its own message, which names the param); a ``level`` that
    does not suit it has the message and hint of :func:`nzarc.levels.level_refused`. Other
    NzarcErrors (a model not installed) pass through, after the params were checked.
    """
    kwargs = _context_kwargs(cls, context)
    if not params:
        return cls(**kwargs)
    names = param_names(cls)
    unknown = [] if names is None else sorted(set(params) - names)
    if "level" in unknown:
        raise level_refused(cls)
    if unknown:
        taken = ", ".join(sorted(names or ())) or "none"
        raise CodecOptionError(
            f"{cls.codec_id} takes no param {unknown[0]!r}", hint=f"its params: {taken}"
        )
    try:
        codec = _refusal(cls, params, lambda: cls(**params, **kwargs))
    except CodecOptionError:
        if "level" in params and has_levels(cls) and _level_refused(cls, params, kwargs):
            raise level_refused(cls) from None
        raise
    _check_readable(cls, codec, params, kwargs)
    return codec


def _check_readable(cls: type[Codec], codec: Codec, params: CodecParams, kwargs: dict[str, Any]) -> None:
    """A reader builds the codec from the params the archive records (``get_params``)
    through ``from_params``: refuse, before anything is written, params a codec accepts
    but could not read back."""
    written = codec.get_params()
    try:
        cls.from_params(written, **kwargs)
    except CodecError as exc:
        why = exc.message
    except NzarcError:
        raise
    except Exception as exc:  # a plugin's own validation
        why = f"{type(exc).__name__}: {' '.join(str(exc).split())}"
    else:
        return
    raise CodecOptionError(
        f"{cls.codec_id}: params {', '.join(sorted(params))} give an archive entry "
        f"{written!r} that the codec refuses to read ({why})"
    )


def _level_refused(cls: type[Codec], params: CodecParams, kwargs: dict[str, Any]) -> bool:
    """Whether the ``level`` of refused ``params`` is refused on its own (the error path
    only: with other params given, one more codec is built to find out)."""
    if len(params) == 1:
        return True
    level = {"level": params["level"]}
    try:
        _refusal(cls, level, lambda: cls(**level, **kwargs))
    except CodecOptionError:
        return True
    except NzarcError:
        return False
    return False
