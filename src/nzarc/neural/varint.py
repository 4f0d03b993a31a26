"""Unsigned LEB128 varints in their shortest form, as the nzarc.neural bitstream uses them.

Contract: :func:`put_varint` writes the shortest form of a value; :func:`get_varint` accepts
exactly the shortest forms of values up to a limit and raises CodecError (one line naming
the field) for anything else, reading no further than the value itself.
"""

from __future__ import annotations

from nzarc.errors import CodecError

__all__ = ["get_varint", "put_varint"]

_ID = "nzarc.neural"


def put_varint(out: bytearray, value: int) -> None:
    """Append ``value`` (>= 0) to ``out``."""
    while value >= 0x80:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)


def get_varint(data: bytes, pos: int, limit: int, what: str) -> tuple[int, int]:
    """Read a shortest-form LEB128 value ``<= limit`` at ``pos``; return (value, next pos).
    ``what`` names the field in error messages."""
    value = 0
    shift = 0
    while True:
        if pos >= len(data):
            raise CodecError(f"{_ID}: chunk ends inside the {what}")
        byte = data[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        if value > limit:
            raise CodecError(f"{_ID}: {what} {value}… exceeds its limit {limit}")
        if not byte & 0x80:
            if byte == 0 and shift:
                raise CodecError(f"{_ID}: {what} is not in shortest form")
            return value, pos
        shift += 7
