"""Archive surgery: open an nzarc v1 archive down to its plaintext frames, edit, and reseal.

Used by the bad-vector generator (spec/vectors/bad/generate.py), the fuzz harnesses (to
reseal fuzzer-edited plaintext so that mutations reach past authentication) and the
corruption tests. Sealing is written from spec/FORMAT.md §2-§5 with pyca primitives, not
with nzarc's own writer, so a test that reseals and reads back also cross-checks the spec.

Nothing here is a reader: it trusts its input and raises ordinary exceptions on nonsense.
"""

from __future__ import annotations

import hashlib
import hmac
import io
import struct
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import msgpack
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM, ChaCha20Poly1305
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

__all__ = [
    "MAGIC",
    "SeededRng",
    "Opened",
    "Frame",
    "unseal",
    "seal_payload",
    "seal",
    "header_mac",
    "split_segments",
    "parse_frames",
    "join_frames",
    "fix_offsets",
    "canonical",
    "NonSeekable",
    "read_everything",
    "ReadOutcome",
]

MAGIC = b"\x8fNZARC\r\n\x1a\n"
PRELUDE = struct.Struct(">10sHI")
MAC_LEN = 32
TAG_LEN = 16


class SeededRng:
    """Deterministic bytes: SHA-256(seed || 8-byte counter), concatenated."""

    def __init__(self, seed: bytes | str) -> None:
        self._seed = seed.encode() if isinstance(seed, str) else seed
        self._counter = 0
        self._buf = b""

    def __call__(self, n: int) -> bytes:
        while len(self._buf) < n:
            block = self._seed + self._counter.to_bytes(8, "big")
            self._buf += hashlib.sha256(block).digest()
            self._counter += 1
        out, self._buf = self._buf[:n], self._buf[n:]
        return out


def _hkdf(ikm: bytes, salt: bytes, info: bytes) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=salt, info=info).derive(ikm)


def header_mac(file_key: bytes, prelude: bytes, header: bytes) -> bytes:
    """§4: HMAC-SHA-256 under HKDF(file_key, "", "nzarc/v1 header") over prelude || header."""
    key = _hkdf(file_key, b"", b"nzarc/v1 header")
    return hmac.new(key, prelude + header, hashlib.sha256).digest()


def _nonce(counter: int, last: bool) -> bytes:
    return counter.to_bytes(11, "big") + (b"\x01" if last else b"\x00")


def _sealer(suite: str, key: bytes) -> tuple[Callable[[bytes, bytes], bytes], Callable[[bytes, bytes], bytes]]:
    if suite == "none":

        def tag(nonce: bytes, pt: bytes) -> bytes:
            return hmac.new(key, nonce + pt, hashlib.sha256).digest()[:TAG_LEN]

        def seal_one(nonce: bytes, pt: bytes) -> bytes:
            return pt + tag(nonce, pt)

        def open_one(nonce: bytes, ct: bytes) -> bytes:
            pt = ct[:-TAG_LEN]
            if not hmac.compare_digest(tag(nonce, pt), ct[-TAG_LEN:]):
                raise ValueError("segment does not verify")
            return pt

        return seal_one, open_one
    impl = ChaCha20Poly1305(key) if suite == "chacha20-poly1305" else AESGCM(key)
    return (lambda n, pt: impl.encrypt(n, pt, None)), (lambda n, ct: impl.decrypt(n, ct, None))


def split_segments(payload: bytes, seg: int) -> list[bytes]:
    """Cut sealed payload bytes into segments of ``seg + 16`` bytes (the last may be shorter)."""
    full = seg + TAG_LEN
    return [payload[i : i + full] for i in range(0, len(payload), full)]


def seal_payload(plaintext: bytes, *, suite: str, payload_key: bytes, seg: int) -> bytes:
    """§5 STREAM: seal ``plaintext`` (non-empty) in segments of ``seg`` bytes."""
    seal_one, _ = _sealer(suite, payload_key)
    pieces = [plaintext[i : i + seg] for i in range(0, len(plaintext), seg)] or [b""]
    return b"".join(
        seal_one(_nonce(i, i == len(pieces) - 1), p) for i, p in enumerate(pieces)
    )


@dataclass
class Opened:
    """An archive taken apart: the pieces, the file key, and the verified plaintext stream."""

    prelude: bytes
    header_bytes: bytes
    header: dict[str, Any]
    mac: bytes
    payload: bytes
    file_key: bytes
    plaintext: bytes
    segments: list[bytes] = field(default_factory=list)

    @property
    def suite(self) -> str:
        return str(self.header["suite"])

    @property
    def seg(self) -> int:
        return int(self.header["seg"])

    @property
    def head(self) -> bytes:
        """prelude || header || mac: the bytes before the payload."""
        return self.prelude + self.header_bytes + self.mac

    def payload_key(self, mac: bytes | None = None) -> bytes:
        return _hkdf(
            self.file_key, bytes(self.header["salt"]), b"nzarc/v1 payload" + (mac or self.mac)
        )


def unseal(
    data: bytes, *, passphrase: str | bytes | None = None, identities: Sequence[str] = ()
) -> Opened:
    """Take a well-formed archive apart (uses nzarc only to unwrap the file key)."""
    from nzarc.crypto.recipients import parse_identity, unwrap_file_key
    from nzarc.format.header import decode_header

    magic, version, hlen = PRELUDE.unpack(data[: PRELUDE.size])
    if magic != MAGIC:
        raise ValueError("not an nzarc archive")
    prelude = data[: PRELUDE.size]
    header_bytes = data[PRELUDE.size : PRELUDE.size + hlen]
    mac = data[PRELUDE.size + hlen : PRELUDE.size + hlen + MAC_LEN]
    payload = data[PRELUDE.size + hlen + MAC_LEN :]
    wire = msgpack.unpackb(header_bytes, raw=False)
    if wire["suite"] == "none":
        file_key = bytes(32)
    else:
        parsed = decode_header(header_bytes)
        file_key = unwrap_file_key(
            parsed.stanzas,
            passphrase=passphrase,
            identities=[parse_identity(i) for i in identities],
        )
    if not hmac.compare_digest(header_mac(file_key, prelude, header_bytes), mac):
        raise ValueError("header MAC does not verify")
    opened = Opened(prelude, header_bytes, wire, mac, payload, file_key, b"")
    _, open_one = _sealer(opened.suite, opened.payload_key())
    segs = split_segments(payload, opened.seg)
    plain = [open_one(_nonce(i, i == len(segs) - 1), s) for i, s in enumerate(segs)]
    opened.segments = segs
    opened.plaintext = b"".join(plain)
    return opened


def canonical(value: Any) -> bytes:
    """Canonical msgpack (§3): sorted str keys, shortest forms, bin for bytes."""

    def norm(v: Any) -> Any:
        if isinstance(v, dict):
            return {k: norm(v[k]) for k in sorted(v, key=lambda s: s.encode())}
        if isinstance(v, (list, tuple)):
            return [norm(x) for x in v]
        return v

    return msgpack.packb(norm(value), use_bin_type=True)


def seal(
    opened: Opened,
    *,
    header_bytes: bytes | None = None,
    plaintext: bytes | None = None,
    prelude: bytes | None = None,
    fix_mac: bool = True,
) -> bytes:
    """Reassemble an archive from (possibly edited) pieces, re-deriving the MAC and payload key.

    ``prelude`` defaults to the magic, version 1 and the new header length. With ``fix_mac``
    False the original MAC is kept (a header edit "with the MAC kept").
    """
    hb = opened.header_bytes if header_bytes is None else header_bytes
    pt = opened.plaintext if plaintext is None else plaintext
    pre = PRELUDE.pack(MAGIC, 1, len(hb)) if prelude is None else prelude
    mac = header_mac(opened.file_key, pre, hb) if fix_mac else opened.mac
    try:
        wire = msgpack.unpackb(hb, raw=False, strict_map_key=False)
        seg = int(wire["seg"])
        salt = bytes(wire["salt"])
        suite = str(wire["suite"])
    except Exception:  # an edited header that no longer parses: keep the original layout
        seg, salt, suite = opened.seg, bytes(opened.header["salt"]), opened.suite
    key = _hkdf(opened.file_key, salt, b"nzarc/v1 payload" + mac)
    return pre + hb + mac + seal_payload(pt, suite=suite, payload_key=key, seg=seg)


# -- frames ------------------------------------------------------------------------------


@dataclass
class Frame:
    """One frame of the plaintext stream. ``fields`` depend on ``tag`` (one of b"ECFIPZ")."""

    tag: bytes
    fields: dict[str, Any]
    pos: int = 0

    def encode(self) -> bytes:
        t, f = self.tag, self.fields
        if t in (b"E", b"I"):
            body = f["body"]
            return t + struct.pack(">I", f.get("len", len(body))) + body
        if t == b"C":
            out = f["out"]
            return t + struct.pack(">HII", f["slot"], f["raw_len"], f.get("out_len", len(out))) + out
        if t == b"F":
            return t + struct.pack(">Q32s", f["size"], f["sha256"])
        if t == b"P":
            return t + struct.pack(">I", f.get("len", len(f["zeros"]))) + f["zeros"]
        if t == b"Z":
            return t + struct.pack(">QQ", f["index_offset"], f["own_offset"])
        return t + f.get("raw", b"")


def parse_frames(plaintext: bytes) -> list[Frame]:
    """Split a well-formed plaintext stream into frames."""
    out: list[Frame] = []
    i = 0
    while i < len(plaintext):
        tag = plaintext[i : i + 1]
        pos = i
        i += 1
        if tag in (b"E", b"I", b"P"):
            (n,) = struct.unpack(">I", plaintext[i : i + 4])
            body = plaintext[i + 4 : i + 4 + n]
            i += 4 + n
            key = "zeros" if tag == b"P" else "body"
            out.append(Frame(tag, {key: body}, pos))
        elif tag == b"C":
            slot, raw_len, out_len = struct.unpack(">HII", plaintext[i : i + 10])
            data = plaintext[i + 10 : i + 10 + out_len]
            i += 10 + out_len
            out.append(Frame(tag, {"slot": slot, "raw_len": raw_len, "out": data}, pos))
        elif tag == b"F":
            size, digest = struct.unpack(">Q32s", plaintext[i : i + 40])
            i += 40
            out.append(Frame(tag, {"size": size, "sha256": digest}, pos))
        elif tag == b"Z":
            a, b = struct.unpack(">QQ", plaintext[i : i + 16])
            i += 16
            out.append(Frame(tag, {"index_offset": a, "own_offset": b}, pos))
        else:
            raise ValueError(f"unknown frame tag {tag!r} at {pos}")
    return out


def join_frames(frames: Sequence[Frame]) -> bytes:
    return b"".join(f.encode() for f in frames)


def fix_offsets(frames: list[Frame], *, index: bool = True, trailer: bool = True) -> list[Frame]:
    """Recompute positions, the index's chunk offsets and the trailer after an edit."""
    pos = 0
    chunk_pos: list[int] = []
    index_pos = 0
    for f in frames:
        f.pos = pos
        if f.tag == b"C":
            chunk_pos.append(pos)
        if f.tag == b"I":
            index_pos = pos
        pos += len(f.encode())
    for f in frames:
        if f.tag == b"I" and index:
            wire = msgpack.unpackb(f.fields["body"], raw=False)
            wire["chunks"] = b"".join(struct.pack(">Q", p) for p in chunk_pos)
            f.fields = {"body": canonical(wire)}
        if f.tag == b"Z" and trailer:
            f.fields = {"index_offset": index_pos, "own_offset": f.pos}
    # the index may have changed length: one more pass settles the positions
    if index:
        return fix_offsets(frames, index=False, trailer=trailer) if _moved(frames) else frames
    return frames


def _moved(frames: list[Frame]) -> bool:
    pos = 0
    for f in frames:
        if f.pos != pos:
            return True
        pos += len(f.encode())
    return False


def with_fields(frame: Frame, **changes: Any) -> Frame:
    return replace(frame, fields={**frame.fields, **changes})


# -- reading with a record of what was released ------------------------------------------


class NonSeekable(io.RawIOBase):
    """A pipe-like reader over bytes: no seek, no tell, reads return at most ``step`` bytes."""

    def __init__(self, data: bytes, step: int = 1 << 16) -> None:
        self._data = memoryview(data)
        self._pos = 0
        self._step = step

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return False

    def readinto(self, b: Any) -> int:
        n = min(len(b), self._step, len(self._data) - self._pos)
        b[:n] = self._data[self._pos : self._pos + n]
        self._pos += n
        return n

    def read(self, n: int = -1) -> bytes:
        if n is None or n < 0:
            n = len(self._data) - self._pos
        n = min(n, self._step, len(self._data) - self._pos)
        out = bytes(self._data[self._pos : self._pos + n])
        self._pos += n
        return out


@dataclass
class ReadOutcome:
    """What a full sequential read released, and how it ended (``error`` None on success)."""

    released: bytes
    members: list[Any]
    error: BaseException | None

    @property
    def error_name(self) -> str | None:
        return None if self.error is None else type(self.error).__name__


def read_everything(
    data: bytes,
    *,
    passphrase: str | bytes | None = None,
    identities: Sequence[str | bytes] = (),
    pipe: bool = True,
    catch: tuple[type[BaseException], ...] = (),
) -> ReadOutcome:
    """Open ``data`` (as a pipe by default), read every member, record the released bytes.

    Only :class:`nzarc.NzarcError` (and the classes in ``catch``) end up in the outcome;
    anything else propagates (that is a bug).
    """
    import nzarc

    catch = (nzarc.NzarcError, *catch)

    released = bytearray()
    members: list[Any] = []
    source: Any = NonSeekable(data) if pipe else io.BytesIO(data)
    try:
        with nzarc.open(source, passphrase=passphrase, identities=identities, jobs=1) as reader:
            for item in reader.iter_members():
                for piece in item.chunks():
                    released += piece
                members.append(item.member)
    except catch as exc:
        return ReadOutcome(bytes(released), members, exc)
    return ReadOutcome(bytes(released), members, None)
