"""Canonical msgpack (spec/FORMAT.md §3): encode with sorted keys; decode strictly.

A byte string is canonical iff it equals ``pack(unpack(data))``. ``unpack`` also rejects
duplicate map keys, non-string keys, floats, ext types, trailing bytes and nesting deeper than
``MAX_DEPTH`` (checked iteratively before any recursive walk).
"""

from __future__ import annotations

import io
from typing import Any

import msgpack

from nzarc.errors import FormatError

__all__ = ["pack", "unpack", "MAX_DEPTH"]

#: Deepest nesting of arrays/maps accepted (the top-level value is depth 1).
MAX_DEPTH = 32


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


def _check_depth(value: Any, what: str) -> None:
    """Raise FormatError if ``value`` nests arrays/maps deeper than MAX_DEPTH (no recursion)."""
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            children: Any = item.values()
        elif isinstance(item, list):
            children = item
        else:
            continue
        if depth > MAX_DEPTH:
            raise FormatError(f"{what}: msgpack nesting deeper than {MAX_DEPTH} levels")
        stack.extend((child, depth + 1) for child in children)


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
    except UnicodeDecodeError:
        raise FormatError(f"{what}: a msgpack str whose bytes are not UTF-8") from None
    except Exception as exc:  # msgpack raises several unrelated types on malformed input
        raise FormatError(f"{what}: malformed msgpack ({type(exc).__name__})") from None
    _check_depth(value, what)
    _check_no_floats(value)
    try:
        again = pack(value)
    except (TypeError, OverflowError, ValueError):
        raise FormatError(f"{what}: value cannot be encoded canonically") from None
    if again != bytes(data):
        raise FormatError(f"{what}: msgpack encoding is not canonical")
    return value


def _container_head(n: int, fix: int, b16: int) -> bytes:
    if n < 16:
        return bytes([fix | n])
    if n < 1 << 16:
        return bytes([b16]) + n.to_bytes(2, "big")
    return bytes([b16 + 1]) + n.to_bytes(4, "big")


_ARRAY_BYTES = frozenset(range(0x90, 0xA0)) | {0xDC, 0xDD}
_MAP_BYTES = frozenset(range(0x80, 0x90)) | {0xDE, 0xDF}
_CONTAINER_BYTES = _ARRAY_BYTES | _MAP_BYTES


class StrictReader:
    """Reads one canonical msgpack value piece by piece, without building nested containers.

    For large bodies (the index): every array/map header is read and bounded by the caller
    before any element is decoded, and ``scalar`` refuses containers, so memory stays
    proportional to what the caller accepts. Each piece is checked to be canonical (the same
    rules as :func:`unpack`); ``end`` rejects trailing bytes.
    """

    def __init__(self, data: bytes, what: str) -> None:
        self._data = bytes(data)
        self._what = what
        # Read through a file object (which shares ``data``) rather than ``feed``, which would
        # copy the whole body into the unpacker's buffer.
        self._up = msgpack.Unpacker(
            io.BytesIO(self._data),
            raw=False,
            strict_map_key=False,
            ext_hook=_ext,
            read_size=min(1 << 16, max(1, len(self._data))),
            max_buffer_size=max(1, len(self._data)),
        )

    def _fail(self, message: str) -> FormatError:
        return FormatError(f"{self._what}: {message}")

    def _peek(self) -> int:
        pos = self._up.tell()
        if pos >= len(self._data):
            raise self._fail("msgpack value is truncated")
        return self._data[pos]

    def _read(self, fn: Any) -> Any:
        try:
            return fn()
        except msgpack.OutOfData:
            raise self._fail("msgpack value is truncated") from None
        except _Duplicate as exc:
            raise self._fail(str(exc)) from None
        except UnicodeDecodeError:
            raise self._fail("a msgpack str whose bytes are not UTF-8") from None
        except Exception as exc:  # msgpack raises several unrelated types on malformed input
            raise self._fail(f"malformed msgpack ({type(exc).__name__})") from None

    def _canonical(self, start: int, expected: bytes) -> None:
        if self._data[start : self._up.tell()] != expected:
            raise self._fail("msgpack encoding is not canonical")

    def array(self) -> int:
        """Read an array header; return its length (the caller bounds it before reading items)."""
        if self._peek() not in _ARRAY_BYTES:
            raise self._fail("expected a msgpack array")
        start = self._up.tell()
        n: int = self._read(self._up.read_array_header)
        self._canonical(start, _container_head(n, 0x90, 0xDC))
        return n

    def map(self) -> int:
        """Read a map header; return its number of pairs."""
        if self._peek() not in _MAP_BYTES:
            raise self._fail("expected a msgpack map")
        start = self._up.tell()
        n: int = self._read(self._up.read_map_header)
        self._canonical(start, _container_head(n, 0x80, 0xDE))
        return n

    def scalar(self) -> Any:
        """Read one value that is not an array or map (nil, bool, int, str, bin)."""
        if self._peek() in _CONTAINER_BYTES:
            raise self._fail("expected a scalar, found an array or map")
        start = self._up.tell()
        value = self._read(self._up.unpack)
        if isinstance(value, float):
            raise self._fail(f"non-canonical msgpack: float value {value!r}")
        try:
            again = pack(value)
        except (TypeError, OverflowError, ValueError):
            raise self._fail("value cannot be encoded canonically") from None
        self._canonical(start, again)
        return value

    def tell(self) -> int:
        """The offset of the next piece in the data."""
        return int(self._up.tell())

    def end(self) -> None:
        """Raise FormatError unless every byte has been consumed."""
        if self._up.tell() != len(self._data):
            raise self._fail("trailing bytes after the msgpack value")
