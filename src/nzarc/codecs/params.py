"""Helpers that validate codec parameters read from an archive header.

Header params are hostile input: every check raises ``error`` (default
:class:`~nzarc.errors.CodecParamsError`; a codec with its own error class passes a
subclass of it or of :class:`~nzarc.errors.CodecError`) with a one-line message naming
the codec, the parameter and what is allowed.
Booleans are never accepted where an integer is expected.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from nzarc.errors import CodecError, CodecParamsError

__all__ = ["check_keys", "int_param", "choice_param"]


def check_keys(
    codec_id: str,
    params: Mapping[str, Any],
    allowed: Iterable[str],
    error: type[CodecError] = CodecParamsError,
) -> None:
    """Raise ``error`` if ``params`` is not a map with string keys out of ``allowed``."""
    if not isinstance(params, Mapping):
        raise error(f"{codec_id}: params must be a map, not {type(params).__name__}")
    allowed_set = set(allowed)
    for key in params:
        if not isinstance(key, str):
            raise error(f"{codec_id}: param names must be strings, got {key!r}")
        if key not in allowed_set:
            names = ", ".join(sorted(allowed_set)) or "none"
            raise error(f"{codec_id}: unknown param {key!r} (allowed: {names})")


def int_param(
    codec_id: str,
    name: str,
    value: object,
    lo: int,
    hi: int,
    error: type[CodecError] = CodecParamsError,
) -> int:
    """Return ``value`` if it is an int (not a bool) in ``lo..hi``; raise ``error`` otherwise."""
    if not isinstance(value, int) or isinstance(value, bool):
        raise error(f"{codec_id}: param {name!r} must be an integer, not {type(value).__name__}")
    if not lo <= value <= hi:
        raise error(f"{codec_id}: param {name!r} = {value} is outside {lo}..{hi}")
    return value


def choice_param(
    codec_id: str,
    name: str,
    value: object,
    choices: Iterable[str],
    error: type[CodecError] = CodecParamsError,
) -> str:
    """Return ``value`` if it is one of the strings ``choices``; raise ``error`` otherwise."""
    options = tuple(choices)
    if not isinstance(value, str) or value not in options:
        raise error(f"{codec_id}: param {name!r} = {value!r} is not one of {', '.join(options)}")
    return value
