"""The archive header: prelude, canonical msgpack map, validation (spec/FORMAT.md §2-3).

``decode_header`` checks structure, types, exact stanza shapes and every cap, but grants no
trust: the MAC is verified by the reader once the file key is known.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from nzarc.codecs.contract import CODEC_ID_RE, ModelPin
from nzarc.errors import FormatError, UnsupportedVersion
from nzarc.format import limits
from nzarc.format.canonical import pack, unpack
from nzarc.format.layout import (
    ARGON2_SALT_LEN,
    FORMAT_VERSION,
    MAC_LEN,
    MAGIC,
    PRELUDE,
    PRELUDE_LEN,
    SALT_LEN,
    STANZA_ARGON2ID,
    STANZA_X25519,
    SUITE_NONE,
    SUITES,
    WRAPPED_KEY_LEN,
    X25519_LEN,
)
from nzarc.format.stream import read_exact

__all__ = [
    "Stanza",
    "CodecEntry",
    "Header",
    "encode_header",
    "decode_header",
    "pack_prelude",
    "read_prelude",
    "KNOWN_FIELDS",
]

KNOWN_FIELDS = frozenset({"v", "suite", "r", "codecs", "chunk", "seg", "salt", "pad", "crit"})


@dataclass(frozen=True)
class Stanza:
    """A recipient stanza: ``type``, ``args`` (list of bin/int), ``body`` (wrapped file key)."""

    type: str
    args: tuple[Any, ...]
    body: bytes

    def to_wire(self) -> dict[str, Any]:
        return {"t": self.type, "a": list(self.args), "b": self.body}


@dataclass(frozen=True)
class CodecEntry:
    """One codec-table slot."""

    codec_id: str
    version: int
    params: dict[str, Any]
    dist: str | None
    models: tuple[ModelPin, ...] = ()

    def to_wire(self) -> dict[str, Any]:
        return {
            "id": self.codec_id,
            "ver": self.version,
            "params": dict(self.params),
            "dist": self.dist,
            "models": [m.to_wire() for m in self.models],
        }


@dataclass(frozen=True)
class Header:
    """A decoded header. ``raw`` is the exact header bytes (what the MAC covers with the prelude)."""

    suite: str
    stanzas: tuple[Stanza, ...]
    codecs: tuple[CodecEntry, ...]
    chunk_size: int
    segment_size: int
    salt: bytes
    pad: bool
    version: int = FORMAT_VERSION
    extra: dict[str, Any] = field(default_factory=dict)
    raw: bytes = b""

    def to_wire(self) -> dict[str, Any]:
        wire = dict(self.extra)
        wire.update(
            {
                "v": self.version,
                "suite": self.suite,
                "r": [s.to_wire() for s in self.stanzas],
                "codecs": [c.to_wire() for c in self.codecs],
                "chunk": self.chunk_size,
                "seg": self.segment_size,
                "salt": self.salt,
                "pad": self.pad,
            }
        )
        return wire


def encode_header(header: Header) -> bytes:
    """Return the canonical header bytes; validates them by decoding again."""
    data = pack(header.to_wire())
    limits.check("header length", len(data), limits.MAX_HEADER_BYTES, low=1)
    decode_header(data)
    return data


def pack_prelude(header_bytes: bytes) -> bytes:
    return PRELUDE.pack(MAGIC, FORMAT_VERSION, len(header_bytes))


def read_prelude(read: Callable[[int], bytes]) -> tuple[bytes, bytes, bytes]:
    """Read prelude, header bytes and MAC through ``read(n)`` (returns up to n bytes).

    Returns ``(prelude, header_bytes, mac)``. Raises FormatError, UnsupportedVersion or
    LimitExceeded before reading more than the capped header length.
    """
    prelude = read_exact(read, PRELUDE_LEN)
    head = prelude[: len(MAGIC)]
    if not head or head != MAGIC[: len(head)]:
        raise FormatError(
            "not an nzarc archive (bad magic bytes)",
            hint="the file may be damaged by a text-mode transfer, or not an archive",
        )
    if len(prelude) < PRELUDE_LEN:
        raise FormatError("archive truncated inside the prelude")
    magic, version, header_len = PRELUDE.unpack(prelude)
    if version != FORMAT_VERSION:
        raise UnsupportedVersion(
            f"archive format version {version} is not supported (this reader: {FORMAT_VERSION})",
            hint="upgrade nzarc",
        )
    limits.check("header length", header_len, limits.MAX_HEADER_BYTES, low=1)
    header_bytes = read_exact(read, header_len)
    if len(header_bytes) < header_len:
        raise FormatError("archive truncated inside the header")
    mac = read_exact(read, MAC_LEN)
    if len(mac) < MAC_LEN:
        raise FormatError("archive truncated inside the header MAC")
    return prelude, header_bytes, mac


def _need(cond: bool, message: str) -> None:
    if not cond:
        raise FormatError(f"header: {message}")


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _stanza(value: Any) -> Stanza:
    _need(
        isinstance(value, dict) and set(value) == {"t", "a", "b"}, "stanza must be a map of t, a, b"
    )
    kind, args, body = value["t"], value["a"], value["b"]
    _need(
        isinstance(kind, str) and 0 < len(kind.encode("utf-8")) <= 64,
        "stanza type must be a string of 1 to 64 bytes",
    )
    _need(isinstance(args, list) and len(args) <= 16, "stanza args must be a short list")
    _need(isinstance(body, bytes) and len(body) <= 1024, "stanza body must be a short bin")
    if kind == STANZA_X25519:
        _need(
            len(args) == 1 and isinstance(args[0], bytes) and len(args[0]) == X25519_LEN,
            "x25519 stanza needs one 32-byte share",
        )
        _need(len(body) == WRAPPED_KEY_LEN, "x25519 stanza body must be 48 bytes")
    elif kind == STANZA_ARGON2ID:
        _need(
            len(args) == 4
            and isinstance(args[0], bytes)
            and len(args[0]) == ARGON2_SALT_LEN
            and all(_is_int(a) for a in args[1:]),
            "argon2id stanza needs [salt16, t, m, p]",
        )
        _need(len(body) == WRAPPED_KEY_LEN, "argon2id stanza body must be 48 bytes")
        t, m, p = args[1], args[2], args[3]
        limits.check("argon2id time cost", t, limits.ARGON2_MAX_T, low=1)
        limits.check("argon2id parallelism", p, limits.ARGON2_MAX_P, low=1)
        limits.check("argon2id memory (KiB)", m, limits.ARGON2_MAX_M_KIB, low=8 * p)
    return Stanza(kind, tuple(args), body)


def _pin(value: Any) -> ModelPin:
    keys = {"name", "weights_sha256", "tokenizer_sha256", "runtime", "extra"}
    _need(
        isinstance(value, dict) and set(value) == keys,
        "model pin must have name, weights_sha256, tokenizer_sha256, runtime, extra",
    )
    _need(
        all(isinstance(value[k], str) for k in keys - {"extra"}), "model pin fields must be strings"
    )
    _need(isinstance(value["extra"], dict), "model pin extra must be a map")
    return ModelPin.from_wire(value)


def _codec(value: Any) -> CodecEntry:
    _need(
        isinstance(value, dict) and set(value) == {"id", "ver", "params", "dist", "models"},
        "codec entry must be a map of id, ver, params, dist, models",
    )
    cid, ver, params, dist, models = (value[k] for k in ("id", "ver", "params", "dist", "models"))
    _need(isinstance(cid, str) and bool(CODEC_ID_RE.fullmatch(cid)), f"bad codec id {cid!r}")
    _need(_is_int(ver) and 1 <= ver < 2**31, f"bad codec version {ver!r}")
    _need(isinstance(params, dict), "codec params must be a map")
    _need(
        dist is None or (isinstance(dist, str) and 0 < len(dist) <= 214),
        "codec dist must be a string or nil",
    )
    _need(isinstance(models, list) and len(models) <= 16, "codec models must be a short list")
    return CodecEntry(cid, ver, params, dist, tuple(_pin(m) for m in models))


def decode_header(data: bytes) -> Header:
    """Decode and validate canonical header bytes (not the MAC)."""
    limits.check("header length", len(data), limits.MAX_HEADER_BYTES, low=1)
    wire = unpack(data, "header")
    _need(isinstance(wire, dict), "must be a msgpack map")
    crit = wire.get("crit", [])
    _need(
        isinstance(crit, list) and all(isinstance(c, str) for c in crit),
        "crit must be a list of strings",
    )
    for name in crit:
        _need(name in wire, f"critical field {name!r} is missing")
        if name not in KNOWN_FIELDS:
            raise UnsupportedVersion(
                f"archive needs header field {name!r}, unknown to this reader", hint="upgrade nzarc"
            )
    missing = sorted(KNOWN_FIELDS - {"crit"} - set(wire))
    _need(not missing, f"missing field(s) {', '.join(missing)}")
    version = wire["v"]
    if version != FORMAT_VERSION or not _is_int(version):
        raise UnsupportedVersion(
            f"header format version {version!r} is not supported", hint="upgrade nzarc"
        )
    suite = wire["suite"]
    _need(suite in SUITES, f"unknown suite {suite!r}")
    stanzas_wire = wire["r"]
    _need(isinstance(stanzas_wire, list), "r must be a list")
    limits.check("recipient stanza count", len(stanzas_wire), limits.MAX_STANZAS)
    stanzas = tuple(_stanza(s) for s in stanzas_wire)
    if suite == SUITE_NONE:
        _need(not stanzas, "an unencrypted archive has no recipient stanzas")
    else:
        _need(bool(stanzas), "an encrypted archive needs at least one recipient stanza")
    if any(s.type == STANZA_ARGON2ID for s in stanzas):
        _need(len(stanzas) == 1, "an argon2id stanza must be the only stanza")
    codecs_wire = wire["codecs"]
    _need(isinstance(codecs_wire, list), "codecs must be a list")
    limits.check("codec slot count", len(codecs_wire), limits.MAX_CODEC_SLOTS, low=1)
    codecs = tuple(_codec(c) for c in codecs_wire)
    chunk, seg = wire["chunk"], wire["seg"]
    _need(_is_int(chunk), "chunk must be an int")
    limits.check("chunk size", chunk, limits.MAX_CHUNK, low=limits.MIN_CHUNK)
    _need(_is_int(seg), "seg must be an int")
    limits.check("segment size", seg, limits.MAX_SEGMENT, low=limits.MIN_SEGMENT)
    _need(seg & (seg - 1) == 0, "segment size must be a power of two")
    salt = wire["salt"]
    _need(isinstance(salt, bytes) and len(salt) == SALT_LEN, "salt must be 32 bytes")
    pad = wire["pad"]
    _need(isinstance(pad, bool), "pad must be a boolean")
    extra = {k: v for k, v in wire.items() if k not in KNOWN_FIELDS}
    return Header(
        suite=suite,
        stanzas=stanzas,
        codecs=codecs,
        chunk_size=chunk,
        segment_size=seg,
        salt=salt,
        pad=pad,
        version=version,
        extra=extra,
        raw=bytes(data),
    )


def model_pins(header: Header) -> list[tuple[int, ModelPin]]:
    """All (slot, pin) pairs of the header's codec table."""
    return [(i, pin) for i, entry in enumerate(header.codecs) for pin in entry.models]


def codec_table_summary(header: Header) -> list[Mapping[str, Any]]:
    return [c.to_wire() for c in header.codecs]
