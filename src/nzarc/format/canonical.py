"""Canonical msgpack (spec/FORMAT.md §3): encode with sorted keys; decode strictly.

A byte string is canonical iff it equals ``pack(unpack(data))``. ``unpack`` also rejects
duplicate map keys, non-string keys, floats, ext types and trailing bytes.
"""

from __future__ import annotations

from typing import Any

import msgpack

from nzarc.errors import FormatError

__all__ = ["pack", "unpack"]


def _sorted(value: Any) -> Any:
    if isinstance(value, dict):
        items = []
        for key, item in value.items():
            if not isinstance(key, str):
                raise TypeError(f"canonical msgpack map keys must be str, not {type(key).__name__}")
            items.append((key.encode("utf-8"), key, _sorted(item)))
        items.sort(key=lambda t: t[0])
        return {key: item for _, key, item in items}
    if isinstance(value, (list, tuple)):
        return [_sorted(v) for v in value]
    if isinstance(value, float):
        raise TypeError("floats are not allowed in canonical msgpack")
    return value


def pack(value: Any) -> bytes:
    """Return the canonical msgpack encoding of ``value`` (dicts with str keys, no floats)."""
    return msgpack.packb(_sorted(value), use_bin_type=True)


class _Duplicate(Exception):
    pass


def _pairs(pairs: list[tuple[Any, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if not isinstance(key, str):
            raise _Duplicate(f"map key {key!r} is not a string")
        if key in out:
            raise _Duplicate(f"duplicate map key {key!r}")
        out[key] = value
    return out


def _ext(code: int, data: bytes) -> Any:
    raise _Duplicate(f"ext type {code} is not allowed")


def _check_no_floats(value: Any, depth: int = 0) -> None:
    if isinstance(value, float):
        raise FormatError(f"non-canonical msgpack: float value {value!r}")
    if isinstance(value, dict):
        for item in value.values():
            _check_no_floats(item, depth + 1)
    elif isinstance(value, list):
        for item in value:
            _check_no_floats(item, depth + 1)


def unpack(data: bytes, what: str) -> Any:
    """Decode canonical msgpack ``data``; raise FormatError naming ``what`` if it is not."""
    try:
        value = msgpack.unpackb(
            data,
            raw=False,
            use_list=True,
            strict_map_key=False,
            object_pairs_hook=_pairs,
            ext_hook=_ext,
        )
    except _Duplicate as exc:
        raise FormatError(f"{what}: {exc}") from None
    except msgpack.ExtraData:
        raise FormatError(f"{what}: trailing bytes after the msgpack value") from None
    except Exception as exc:  # msgpack raises several unrelated types on malformed input
        raise FormatError(f"{what}: malformed msgpack ({type(exc).__name__})") from None
    _check_no_floats(value)
    try:
        again = pack(value)
    except (TypeError, OverflowError, ValueError):
        raise FormatError(f"{what}: value cannot be encoded canonically") from None
    if again != bytes(data):
        raise FormatError(f"{what}: msgpack encoding is not canonical")
    return value
