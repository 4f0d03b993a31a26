"""nzarc's canonical integer model file (``.nzm``): writer and mmap reader.

Layout (all integers little-endian)::

    magic      8 bytes   b"NZARCLM1"
    hlen       u32       length of the header in bytes (<= MAX_HEADER)
    header     hlen      canonical JSON (UTF-8, sorted keys, no spaces)
    padding    zeros up to the next multiple of 64
    tensors    each starts at its recorded offset (multiple of 64), zero padding between

The header is ``{"format": "nzarc-int-model", "version": 1, "config": {...},
"tensors": [{"name", "dtype", "shape", "offset"}, ...]}``, tensors listed in
file order. ``dtype`` is one of ``int8 int16 int32 int64 uint8``. The file is
canonical: a given header and tensor list serialise to exactly one byte
string, so its SHA-256 identifies the model.
"""

from __future__ import annotations

import json
import mmap
import struct
from collections.abc import Mapping
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np

from nzarc.errors import FormatError, LimitExceeded

__all__ = ["MAGIC", "write_model_file", "ModelFile"]

MAGIC = b"NZARCLM1"
ALIGN = 64
MAX_HEADER = 16 << 20
MAX_TENSORS = 4096
_DTYPES = {
    "int8": np.int8,
    "int16": np.int16,
    "int32": np.int32,
    "int64": np.int64,
    "uint8": np.uint8,
}


def _canonical_json(obj: Any) -> bytes:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode("ascii")


def _pad(n: int) -> int:
    return (-n) % ALIGN


def write_model_file(
    out: BinaryIO, config: Mapping[str, Any], tensors: Mapping[str, np.ndarray]
) -> None:
    """Write a canonical model file. ``tensors`` is written in the given order."""
    entries = []
    arrays = []
    for name, arr in tensors.items():
        a = np.ascontiguousarray(arr)
        dt = a.dtype.name
        if dt not in _DTYPES:
            raise TypeError(f"unsupported dtype {dt} for {name}")
        arrays.append(a.astype(a.dtype.newbyteorder("<"), copy=False))
        entries.append({"name": name, "dtype": dt, "shape": [int(x) for x in a.shape], "offset": 0})
    # Offsets depend on the header length, which depends on the offsets' digits: iterate.
    header = b""
    for _ in range(8):
        start = 8 + 4 + len(header)
        pos = start + _pad(start)
        for e, a in zip(entries, arrays, strict=True):
            e["offset"] = pos
            pos += a.nbytes
            pos += _pad(pos)
        new = _canonical_json(
            {"format": "nzarc-int-model", "version": 1, "config": dict(config), "tensors": entries}
        )
        if new == header:
            break
        header = new
    else:  # pragma: no cover - converges in two or three rounds
        raise RuntimeError("model header layout did not converge")
    out.write(MAGIC)
    out.write(struct.pack("<I", len(header)))
    out.write(header)
    written = 12 + len(header)
    out.write(b"\0" * _pad(written))
    written += _pad(written)
    for e, a in zip(entries, arrays, strict=True):
        assert written == e["offset"]
        out.write(a.tobytes())
        written += a.nbytes
        out.write(b"\0" * _pad(written))
        written += _pad(written)


class ModelFile:
    """A model file mapped read-only (copy-on-write pages: the file is never written).

    ``config`` is the header's config mapping; ``tensor(name)`` returns a
    numpy view into the mapping. Raises :class:`FormatError` on any malformed
    structure (bad magic, header, dtype, offsets or sizes).
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        with open(self.path, "rb") as f:
            size = f.seek(0, 2)
            if size < 12:
                raise FormatError(f"{self.path}: not an nzarc model file (too short)")
            self._mm = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_COPY)
        mm = self._mm
        if mm[:8] != MAGIC:
            raise FormatError(f"{self.path}: not an nzarc model file (bad magic)")
        (hlen,) = struct.unpack("<I", mm[8:12])
        if hlen > MAX_HEADER or 12 + hlen > size:
            raise LimitExceeded(f"{self.path}: model header length {hlen} out of range")
        try:
            header = json.loads(bytes(mm[12 : 12 + hlen]).decode("ascii"))
        except (UnicodeDecodeError, json.JSONDecodeError) as err:
            raise FormatError(f"{self.path}: model header is not valid JSON") from err
        if (
            not isinstance(header, dict)
            or header.get("format") != "nzarc-int-model"
            or header.get("version") != 1
        ):
            raise FormatError(f"{self.path}: unsupported model file format or version")
        cfg = header.get("config")
        tens = header.get("tensors")
        if not isinstance(cfg, dict) or not isinstance(tens, list) or len(tens) > MAX_TENSORS:
            raise FormatError(f"{self.path}: malformed model header")
        self.config: dict[str, Any] = cfg
        self._arrays: dict[str, np.ndarray] = {}
        buf = np.frombuffer(mm, dtype=np.uint8)
        end_prev = 12 + hlen
        for e in tens:
            try:
                name, dt, shape, off = e["name"], e["dtype"], e["shape"], e["offset"]
            except (KeyError, TypeError) as err:
                raise FormatError(f"{self.path}: malformed tensor entry") from err
            if (
                not isinstance(name, str)
                or dt not in _DTYPES
                or not isinstance(shape, list)
                or len(shape) > 4
                or not all(isinstance(s, int) and 0 <= s < (1 << 40) for s in shape)
                or not isinstance(off, int)
                or off % ALIGN
                or off < end_prev
                or name in self._arrays
            ):
                raise FormatError(f"{self.path}: bad tensor entry {name!r}")
            count = int(np.prod(shape, dtype=np.int64)) if shape else 1
            nbytes = count * np.dtype(_DTYPES[dt]).itemsize
            if off + nbytes > size:
                raise FormatError(f"{self.path}: tensor {name!r} runs past the end of the file")
            arr = (
                buf[off : off + nbytes].view(np.dtype(_DTYPES[dt]).newbyteorder("<")).reshape(shape)
            )
            self._arrays[name] = arr
            end_prev = off + nbytes

    def names(self) -> list[str]:
        return list(self._arrays)

    def tensor(self, name: str) -> np.ndarray:
        try:
            return self._arrays[name]
        except KeyError:
            raise FormatError(f"{self.path}: model file lacks tensor {name!r}") from None
