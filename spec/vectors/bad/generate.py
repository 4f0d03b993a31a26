"""Generate nzarc's bad-archive corpus (spec/vectors/bad/) and its manifest.

    python spec/vectors/bad/generate.py          # rewrite *.nzarc and manifest.json here
    python spec/vectors/bad/generate.py --check  # rebuild in memory, compare, exit 1 on a difference

Every vector starts from an archive written by nzarc's own writer with seeded randomness and
applies one targeted edit: a byte edit of the sealed archive, a segment-level edit, or an edit
of the header or of the plaintext frames that is then resealed with the archive's own file key
(so that it gets past authentication and reaches the check it is about).

A vector records (manifest.json): ``name``, ``file``, ``description``, ``key`` (the reader's
passphrase/identities), ``expect`` (the error class a full sequential read must raise, or null
when the archive is valid), and ``released_sha256``/``released_len``: the plaintext a full
read releases before the error (jobs=1, on a pipe). The generator checks while building that
the released bytes are a prefix of the authenticated content (for byte-level corruption: of
the original archive's content; for resealed edits: of what the edited chunk frames decode to).
``expect_seekable``, when present, is the error class of a seekable read: ``info()``,
``members()``, then every member read by name (which checks each one's entry frame against
its index row).
``expect_extract``, when present, is the error class a full extraction into an empty directory
must raise (for archives that read fine but must not be extracted).
"""

from __future__ import annotations

import hashlib
import io
import json
import struct
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[2]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "src"))

import msgpack  # noqa: E402
import zstandard  # noqa: E402

from fuzz import surgery  # noqa: E402
from fuzz.surgery import Frame, Opened, SeededRng, canonical, parse_frames  # noqa: E402

MANIFEST = HERE / "manifest.json"
MTIME = 1_700_000_000_000_000_000
PASSPHRASE = "bad-vectors passphrase"
WRONG_PASSPHRASE = "not the passphrase"


def _identity(seed: str) -> tuple[str, str]:
    from nzarc.crypto.recipients import generate_identity

    return generate_identity(SeededRng(f"nzarc-bad/{seed}"))


SECRET, PUBLIC = _identity("identity")
OTHER_SECRET, _ = _identity("other-identity")

KEY_X = {"identities": [SECRET]}
KEY_PASS = {"passphrase": PASSPHRASE}
KEY_NONE: dict[str, Any] = {}


def _text(rng: Callable[[int], bytes], n: int) -> bytes:
    words = [b"alpha", b"beta", b"gamma", b"delta", b"segment", b"chunk", b"frame", b"index"]
    out = bytearray()
    while len(out) < n:
        out += words[rng(1)[0] % len(words)] + b" "
    return bytes(out[:n])


@dataclass
class Base:
    """An archive from the real writer, its content and its key."""

    data: bytes
    key: dict[str, Any]
    content: bytes  # the logical stream: every file's bytes in member order
    opened: Opened = field(init=False)

    def __post_init__(self) -> None:
        self.opened = surgery.unseal(self.data, **self.key)


def _write(
    name: str,
    members: list[tuple[str, str, Any]],
    *,
    key: str = "x25519",
    chunk: int = 256,
    seg: int = 128,
    pad: bool = False,
    codec: str = "zstd",
) -> Base:
    from nzarc.crypto.recipients import Argon2Params
    from nzarc.writer import ArchiveWriter

    opts: dict[str, Any] = {
        "codec": codec,
        "chunk_size": chunk,
        "segment_size": seg,
        "pad": pad,
        "jobs": 1,
        "rng": SeededRng(f"nzarc-bad/{name}/rng"),
    }
    if codec == "zstd":
        opts["level"] = 3
    read: dict[str, Any]
    if key == "x25519":
        opts["recipients"] = [PUBLIC]
        read = KEY_X
    elif key == "passphrase":
        opts["passphrase"] = PASSPHRASE
        opts["argon2"] = Argon2Params(t=1, m_kib=256, p=1)
        read = KEY_PASS
    else:
        opts["encrypt"] = False
        read = KEY_NONE
    content_rng = SeededRng(f"nzarc-bad/{name}/content")
    out = io.BytesIO()
    logical = bytearray()
    with ArchiveWriter(out, **opts) as w:
        for kind, arcname, arg in members:
            if kind == "f":
                data = _text(content_rng, arg)
                w.add_bytes(arcname, data, mtime_ns=MTIME)
                logical += data
            elif kind == "z":  # highly compressible: keeps the many-chunk vectors small
                data = (b"nzarc " * (arg // 6 + 1))[:arg]
                w.add_bytes(arcname, data, mtime_ns=MTIME)
                logical += data
            elif kind == "r":
                data = content_rng(arg)
                w.add_bytes(arcname, data, mtime_ns=MTIME)
                logical += data
            elif kind == "d":
                w.add_dir(arcname, mtime_ns=MTIME)
            else:
                w.add_symlink(arcname, arg, mtime_ns=MTIME)
    return Base(out.getvalue(), read, bytes(logical))


TREE = [
    ("d", "docs", None),
    ("f", "docs/a.txt", 700),
    ("r", "docs/b.bin", 300),
    ("l", "docs/link", "a.txt"),
    ("f", "z.txt", 100),
]

# -- edit helpers ----------------------------------------------------------------------------


def _head_len(b: Base) -> int:
    return len(b.opened.head)


def _header(b: Base) -> dict[str, Any]:
    return msgpack.unpackb(b.opened.header_bytes, raw=False)


def _reheader(b: Base, edit: Callable[[dict[str, Any]], None], *, fix_mac: bool = True) -> bytes:
    wire = _header(b)
    edit(wire)
    return surgery.seal(b.opened, header_bytes=canonical(wire), fix_mac=fix_mac)


def _raw_header(b: Base, header_bytes: bytes) -> bytes:
    return surgery.seal(b.opened, header_bytes=header_bytes)


def _raw_map(items: list[tuple[str, bytes]]) -> bytes:
    """A msgpack map from (key, already-encoded value) pairs, in the order given."""
    n = len(items)
    head = bytes([0x80 | n]) if n < 16 else b"\xde" + struct.pack(">H", n)
    return head + b"".join(msgpack.packb(k) + v for k, v in items)


def _header_items(b: Base) -> list[tuple[str, bytes]]:
    wire = _header(b)
    return [(k, canonical(wire[k])) for k in sorted(wire, key=lambda s: s.encode())]


def _frames(b: Base) -> list[Frame]:
    return parse_frames(b.opened.plaintext)


def _reframe(b: Base, frames: list[Frame], *, fix: bool = True) -> bytes:
    if fix:
        surgery.fix_offsets(frames)
    return surgery.seal(b.opened, plaintext=surgery.join_frames(frames))


def _nth(frames: list[Frame], tag: bytes, n: int = 0) -> int:
    return [i for i, f in enumerate(frames) if f.tag == tag][n]


def _index_wire(frames: list[Frame]) -> tuple[int, dict[str, Any]]:
    i = _nth(frames, b"I")
    return i, msgpack.unpackb(frames[i].fields["body"], raw=False)


def _edit_index(b: Base, edit: Callable[[dict[str, Any]], None], *, fix: bool = False) -> bytes:
    frames = _frames(b)
    i, wire = _index_wire(frames)
    edit(wire)
    frames[i].fields = {"body": canonical(wire)}
    return _reframe(b, frames, fix=fix) if fix else _reframe_trailer(b, frames)


def _reframe_trailer(b: Base, frames: list[Frame]) -> bytes:
    """Keep the index as edited; recompute only positions and the trailer."""
    surgery.fix_offsets(frames, index=False)
    return surgery.seal(b.opened, plaintext=surgery.join_frames(frames))


def _entry_wire(frame: Frame) -> dict[str, Any]:
    return msgpack.unpackb(frame.fields["body"], raw=False)


def _edit_entry(b: Base, n: int, edit: Callable[[dict[str, Any]], None]) -> bytes:
    frames = _frames(b)
    i = _nth(frames, b"E", n)
    wire = _entry_wire(frames[i])
    edit(wire)
    frames[i].fields = {"body": canonical(wire)}
    return _reframe(b, frames)


def _edit_entry_body(b: Base, n: int, edit: Callable[[bytes], bytes]) -> bytes:
    """Replace entry frame ``n``'s body by ``edit(body)`` (it may make the body undecodable)."""
    frames = _frames(b)
    i = _nth(frames, b"E", n)
    frames[i].fields = {"body": edit(frames[i].fields["body"])}
    return _reframe(b, frames)


def _edit_chunk(b: Base, n: int, **changes: Any) -> bytes:
    frames = _frames(b)
    i = _nth(frames, b"C", n)
    frames[i].fields = {**frames[i].fields, **changes}
    return _reframe(b, frames)


def _segments(b: Base) -> list[bytes]:
    return surgery.split_segments(b.opened.payload, b.opened.seg)


def _with_segments(b: Base, segs: list[bytes]) -> bytes:
    return b.opened.head + b"".join(segs)


def _flip(data: bytes, at: int, mask: int = 0x01) -> bytes:
    out = bytearray(data)
    out[at] ^= mask
    return bytes(out)


def _zstd_frame(data: bytes, *, content_size: bool = True) -> bytes:
    return zstandard.ZstdCompressor(level=3, write_content_size=content_size).compress(data)


def _zstd_slot(b: Base) -> int:
    return [c["id"] for c in _header(b)["codecs"]].index("nzarc.zstd")


def _huge_zstd_frame() -> bytes:
    """A single-segment zstd frame header declaring 2**40 bytes, then one empty raw block."""
    fhd = 0xE0  # frame content size field: 8 bytes; single segment
    block = (1 | (0 << 1) | (0 << 3)).to_bytes(3, "little")  # last, raw, size 0
    return b"\x28\xb5\x2f\xfd" + bytes([fhd]) + struct.pack("<Q", 1 << 40) + block


def _wide_window_frame(raw_len: int) -> bytes:
    """A zstd frame for ``raw_len`` bytes (one RLE block) whose window descriptor asks 128 MiB."""
    fhd = 0x40  # frame content size field: 2 bytes (value - 256); window descriptor present
    window = (27 - 10) << 3
    block = (1 | (1 << 1) | (raw_len << 3)).to_bytes(3, "little")
    return b"\x28\xb5\x2f\xfd" + bytes([fhd, window]) + struct.pack("<H", raw_len - 256) + block + b"a"


# -- the vectors -----------------------------------------------------------------------------


@dataclass
class Vector:
    name: str
    description: str
    build: Callable[[], bytes]
    key: dict[str, Any]
    expect: str | None
    resealed: bool = False
    expect_seekable: str | None = None
    base: str = "x"
    expect_extract: str | None = None


def _vectors(bases: dict[str, Base]) -> list[Vector]:
    x, xp, n = bases["x"], bases["pass"], bases["none"]
    other, padded = bases["other"], bases["padded"]
    hl = _head_len(x)
    segs = _segments(x)
    V: list[Vector] = []

    def add(name: str, description: str, build: Callable[[], bytes], expect: str | None, *,
            key: dict[str, Any] = KEY_X, resealed: bool = False, base: str = "x",
            expect_seekable: str | None = None) -> None:
        V.append(Vector(name, description, build, key, expect, resealed, expect_seekable, base))

    # prelude
    add("prelude-bad-magic", "first magic byte changed", lambda: b"\x0f" + x.data[1:], "FormatError")
    add("prelude-crlf-mangled", "CR LF in the magic turned into LF (text-mode transfer)",
        lambda: x.data.replace(b"NZARC\r\n", b"NZARC\n", 1), "FormatError")
    add("prelude-version-2", "format version 2", lambda: x.data[:10] + b"\x00\x02" + x.data[12:],
        "UnsupportedVersion")
    add("prelude-header-len-zero", "header_len 0",
        lambda: x.data[:12] + struct.pack(">I", 0) + x.data[16:], "LimitExceeded")
    add("prelude-header-len-over-cap", "header_len one above 1 MiB",
        lambda: x.data[:12] + struct.pack(">I", (1 << 20) + 1) + x.data[16:], "LimitExceeded")
    add("truncated-in-prelude", "file ends after 12 bytes", lambda: x.data[:12], "FormatError")
    add("truncated-in-header", "file ends inside the header", lambda: x.data[:30], "FormatError")
    add("truncated-in-mac", "file ends inside the header MAC", lambda: x.data[: hl - 5], "FormatError")
    add("truncated-no-payload", "file ends right after the header MAC", lambda: x.data[:hl],
        "IntegrityError")

    # header encoding
    def dup_key() -> bytes:
        items = _header_items(x)
        items.append(("pad", msgpack.packb(False)))
        return _raw_header(x, _raw_map(items))

    add("header-duplicate-key", "header map repeats the key 'pad'", dup_key, "FormatError",
        resealed=True)

    def noncanonical_int() -> bytes:
        items = [(k, b"\xce" + struct.pack(">I", 256) if k == "chunk" else v) for k, v in _header_items(x)]
        return _raw_header(x, _raw_map(items))

    add("header-noncanonical-int", "chunk size 256 written as uint32", noncanonical_int,
        "FormatError", resealed=True)
    add("header-keys-unsorted", "header map keys in reverse order",
        lambda: _raw_header(x, _raw_map(list(reversed(_header_items(x))))), "FormatError",
        resealed=True)
    add("header-trailing-bytes", "one msgpack nil after the header map",
        lambda: _raw_header(x, x.opened.header_bytes + b"\xc0"), "FormatError", resealed=True)

    def with_field(key: str, raw_value: bytes, crit: list[str] | None = None) -> bytes:
        items = _header_items(x) + [(key, raw_value)]
        if crit is not None:
            items.append(("crit", canonical(crit)))
        items.sort(key=lambda kv: kv[0].encode())
        return _raw_header(x, _raw_map(items))

    add("header-float", "a non-critical field holding a float",
        lambda: with_field("zf", msgpack.packb(1.5)), "FormatError", resealed=True)
    add("header-unknown-critical-field", "field 'zext' listed in crit",
        lambda: with_field("zext", msgpack.packb(1), ["zext"]), "UnsupportedVersion", resealed=True)
    add("header-unknown-noncritical-field", "unknown field 'zext' not in crit: ignored (valid)",
        lambda: with_field("zext", msgpack.packb(1)), None, resealed=True)
    add("header-crit-names-missing-field", "crit names a field that is absent",
        lambda: with_field("crit", canonical(["zmissing"])), "FormatError", resealed=True)
    add("header-deep-nesting", "a non-critical field of 600 nested arrays",
        lambda: with_field("zz", b"\x91" * 600 + b"\xc0"), "FormatError", resealed=True)
    add("header-ext-type", "a non-critical field holding a msgpack ext value",
        lambda: with_field("zx", b"\xd4\x01\x00"), "FormatError", resealed=True)

    def codec_edit(edit: Callable[[dict[str, Any]], None]) -> Callable[[], bytes]:
        def run() -> bytes:
            def apply(w: dict[str, Any]) -> None:
                edit(w["codecs"][_zstd_slot(x)])

            return _reheader(x, apply)

        return run

    add("header-codec-entry-unknown-key", "codec entry with an extra key",
        codec_edit(lambda c: c.update(extra=1)), "FormatError", resealed=True)

    # KDF and stanzas
    def argon(idx: int, value: int) -> Callable[[], bytes]:
        def run() -> bytes:
            def apply(w: dict[str, Any]) -> None:
                w["r"][0]["a"][idx] = value

            return _reheader(xp, apply)

        return run

    add("kdf-time-over-cap", "Argon2id t = 17", argon(1, 17), "LimitExceeded", key=KEY_PASS,
        resealed=True, base="pass")
    add("kdf-memory-over-cap", "Argon2id m = 2 GiB + 1 KiB", argon(2, (2 << 20) + 1),
        "LimitExceeded", key=KEY_PASS, resealed=True, base="pass")
    add("kdf-parallelism-over-cap", "Argon2id p = 17", argon(3, 17), "LimitExceeded",
        key=KEY_PASS, resealed=True, base="pass")
    add("kdf-memory-below-8p", "Argon2id m = 7 KiB with p = 1", argon(2, 7), "LimitExceeded",
        key=KEY_PASS, resealed=True, base="pass")

    def stanzas(edit: Callable[[list[dict[str, Any]]], None], base: Base = x) -> Callable[[], bytes]:
        def run() -> bytes:
            def apply(w: dict[str, Any]) -> None:
                edit(w["r"])

            return _reheader(base, apply)

        return run

    add("recipients-over-cap", "65 x25519 stanzas (cap 64)",
        stanzas(lambda r: r.extend([dict(r[0]) for _ in range(64)])), "LimitExceeded",
        resealed=True)
    add("recipients-at-cap", "64 x25519 stanzas, one of them ours (valid)",
        stanzas(lambda r: r.extend(
            [{"t": "x25519", "a": [bytes([9]) * 32], "b": bytes(48)} for _ in range(63)])),
        None, resealed=True)
    add("stanza-x25519-body-47", "x25519 stanza body of 47 bytes",
        stanzas(lambda r: r[0].update(b=r[0]["b"][:47])), "FormatError", resealed=True)
    add("stanza-x25519-share-31", "x25519 stanza share of 31 bytes",
        stanzas(lambda r: r[0].update(a=[r[0]["a"][0][:31]])), "FormatError", resealed=True)
    add("stanza-argon2-plus-x25519", "an Argon2id stanza next to an x25519 stanza",
        stanzas(lambda r: r.append({"t": "x25519", "a": [bytes(32)], "b": bytes(48)}), xp),
        "FormatError", key=KEY_PASS, resealed=True, base="pass")
    add("stanza-unknown-type-only", "the only stanza has an unknown type (skipped)",
        stanzas(lambda r: r[0].update(t="zzz")), "DecryptionError", resealed=True)
    add("stanza-extra-key", "stanza map with an extra key",
        stanzas(lambda r: r[0].update(z=1)), "FormatError", resealed=True)
    add("stanzas-none-encrypted", "encrypted suite with no stanzas",
        stanzas(lambda r: r.clear()), "FormatError", resealed=True)

    def hdr(edit: Callable[[dict[str, Any]], None], base: Base = x, **kw: Any) -> Callable[[], bytes]:
        return lambda: _reheader(base, edit, **kw)

    add("header-unknown-suite", "suite 'rot13'", hdr(lambda w: w.update(suite="rot13")),
        "FormatError", resealed=True)
    add("header-segment-not-power-of-two", "segment size 192",
        hdr(lambda w: w.update(seg=192)), "FormatError", resealed=True)
    add("header-segment-over-cap", "segment size 2 MiB",
        hdr(lambda w: w.update(seg=2 << 20)), "LimitExceeded", resealed=True)
    add("header-chunk-below-min", "chunk size 255", hdr(lambda w: w.update(chunk=255)),
        "LimitExceeded", resealed=True)
    add("header-chunk-over-cap", "chunk size 16 MiB + 1", hdr(lambda w: w.update(chunk=(16 << 20) + 1)),
        "LimitExceeded", resealed=True)
    add("header-codec-slots-over-cap", "65 codec slots",
        hdr(lambda w: w["codecs"].extend([w["codecs"][0]] * 64)), "LimitExceeded", resealed=True)
    add("header-no-codecs", "an empty codec table", hdr(lambda w: w.update(codecs=[])),
        "LimitExceeded", resealed=True)
    add("header-stanza-in-unencrypted", "suite none with a recipient stanza",
        hdr(lambda w: w["r"].append({"t": "x25519", "a": [bytes(32)], "b": bytes(48)}), n),
        "FormatError", key=KEY_NONE, resealed=True, base="none")
    add("header-edited-mac-kept", "chunk size changed 256 -> 512, original MAC kept",
        hdr(lambda w: w.update(chunk=512), fix_mac=False), "IntegrityError")
    add("header-mac-flipped", "one bit of the header MAC flipped",
        lambda: _flip(x.data, hl - 1), "IntegrityError")
    add("unencrypted-header-edited", "unencrypted archive: pad flag flipped, MAC kept",
        hdr(lambda w: w.update(pad=True), n, fix_mac=False), "IntegrityError", key=KEY_NONE,
        base="none")
    add("wrong-identity", "read with an identity that is not a recipient", lambda: x.data,
        "DecryptionError", key={"identities": [OTHER_SECRET]})
    add("no-identity", "read without any key", lambda: x.data, "DecryptionError", key=KEY_NONE)
    add("wrong-passphrase", "read with the wrong passphrase", lambda: xp.data, "DecryptionError",
        key={"passphrase": WRONG_PASSPHRASE}, base="pass")
    add("no-passphrase", "passphrase archive read without one", lambda: xp.data,
        "DecryptionError", key=KEY_NONE, base="pass")
    add("header-from-other-archive", "header of another archive (same recipient) on this payload",
        lambda: other.opened.head + x.opened.payload, "IntegrityError")

    # codec table
    add("codec-unknown-id", "zstd slot renamed to an uninstalled codec",
        codec_edit(lambda c: c.update(id="acme.nothing", dist="acme-nothing")), "UnsupportedCodec",
        resealed=True)
    add("codec-unknown-version", "zstd slot at bitstream version 99",
        codec_edit(lambda c: c.update(ver=99)), "UnsupportedCodec", resealed=True)
    add("codec-model-pin-mismatch", "zstd slot pins a model zstd does not use",
        codec_edit(lambda c: c.update(models=[{"name": "smollm2-135m", "weights_sha256": "0" * 64,
                                               "tokenizer_sha256": "1" * 64,
                                               "runtime": "nzarc-int-v1", "extra": {}}])),
        "ModelMismatch", resealed=True)
    add("codec-bad-params", "zstd slot with level 99", codec_edit(lambda c: c.update(params={"level": 99})),
        "CodecParamsError", resealed=True)

    # STREAM segments
    add("truncated-at-segment-boundary", "last segment dropped", lambda: _with_segments(x, segs[:-1]),
        "IntegrityError", expect_seekable="IntegrityError")
    add("truncated-mid-segment", "file ends 10 bytes into segment 3",
        lambda: _with_segments(x, segs[:3]) + segs[3][:10], "IntegrityError",
        expect_seekable="IntegrityError")
    add("truncated-inside-last-tag", "last 5 bytes removed", lambda: x.data[:-5], "IntegrityError",
        expect_seekable="IntegrityError")
    add("trailing-one-byte", "one byte appended", lambda: x.data + b"\x00", "IntegrityError",
        expect_seekable="IntegrityError")
    add("trailing-whole-segment", "a copy of segment 1 appended",
        lambda: x.data + segs[1], "IntegrityError", expect_seekable="IntegrityError")
    add("segment-dropped", "segment 1 removed", lambda: _with_segments(x, segs[:1] + segs[2:]),
        "IntegrityError")
    add("segment-duplicated", "segment 1 repeated",
        lambda: _with_segments(x, segs[:2] + segs[1:]), "IntegrityError")
    add("segments-swapped", "segments 1 and 2 swapped",
        lambda: _with_segments(x, [segs[0], segs[2], segs[1]] + segs[3:]), "IntegrityError")
    add("last-segment-moved-earlier", "the last segment moved to position 1",
        lambda: _with_segments(x, [segs[0], segs[-1]] + segs[1:-1]), "IntegrityError")
    add("segment-from-other-archive", "segment 2 taken from another archive to the same recipient",
        lambda: _with_segments(x, segs[:2] + [_segments(other)[2]] + segs[3:]), "IntegrityError")
    add("payload-bit-flip", "one bit flipped in segment 3", lambda: _flip(x.data, hl + 3 * (128 + 16) + 20),
        "IntegrityError")
    add("payload-tag-flip", "one bit flipped in the last segment's tag",
        lambda: _flip(x.data, len(x.data) - 1), "IntegrityError", expect_seekable="IntegrityError")
    add("unencrypted-bit-flip", "unencrypted archive: one payload bit flipped",
        lambda: _flip(n.data, _head_len(n) + 150), "IntegrityError", key=KEY_NONE, base="none")
    add("empty-payload-last-segment", "a lone last segment holding no plaintext",
        lambda: x.opened.head + surgery.seal_payload(b"", suite=x.opened.suite,
                                                     payload_key=x.opened.payload_key(),
                                                     seg=x.opened.seg), "IntegrityError",
        expect_seekable="IntegrityError")

    # frames
    def frames_edit(edit: Callable[[list[Frame]], None], base: Base = x, fix: str = "all") -> Callable[[], bytes]:
        """Edit the frames; then recompute index offsets and trailer ("all"), only positions
        and the trailer ("trailer"), or nothing ("none")."""

        def run() -> bytes:
            frames = _frames(base)
            edit(frames)
            if fix == "trailer":
                return _reframe_trailer(base, frames)
            return _reframe(base, frames, fix=fix == "all")

        return run

    add("frame-unknown-tag", "a frame with tag 'Q' after the first entry",
        frames_edit(lambda f: f.insert(1, Frame(b"Q", {"raw": b""}))), "FormatError", resealed=True)
    add("chunk-before-entry", "the first chunk frame moved before the first entry",
        frames_edit(lambda f: f.insert(0, f.pop(_nth(f, b"C")))), "FormatError", resealed=True)
    add("chunk-raw-len-zero", "chunk raw_len 0",
        lambda: _edit_chunk(x, 0, raw_len=0, out=b""), "FormatError", resealed=True)
    add("chunk-raw-len-over-chunk", "chunk raw_len 257 with chunk size 256",
        lambda: _edit_chunk(x, 0, raw_len=257), "FormatError", resealed=True)
    add("chunk-slot-out-of-range", "chunk refers to slot 7 of 2",
        lambda: _edit_chunk(x, 0, slot=7), "FormatError", resealed=True)
    add("chunk-output-longer-than-raw", "out_len 300 for raw_len 256",
        lambda: _edit_chunk(x, 0, slot=0, out=b"\x00" * 300), "FormatError", resealed=True)
    add("zstd-output-beyond-raw-len", "a zstd frame of raw_len + 64 bytes in a chunk of raw_len",
        lambda: _edit_chunk(x, 0, slot=_zstd_slot(x), out=_zstd_frame(b"a" * (256 + 64))),
        "CodecError", resealed=True)
    add("zstd-declares-2-40", "a zstd frame header declaring 2^40 bytes",
        lambda: _edit_chunk(x, 0, slot=_zstd_slot(x), out=_huge_zstd_frame()), "CodecError",
        resealed=True)
    add("zstd-no-content-size", "a zstd frame without its content size",
        lambda: _edit_chunk(x, 0, slot=_zstd_slot(x), out=_zstd_frame(b"a" * 256, content_size=False)),
        "CodecError", resealed=True)
    add("zstd-trailing-data", "a valid zstd frame followed by one byte",
        lambda: _edit_chunk(x, 0, slot=_zstd_slot(x), out=_zstd_frame(b"a" * 256) + b"\x00"),
        "CodecError", resealed=True)
    add("zstd-window-too-large", "a zstd frame for 256 bytes asking for a 128 MiB window",
        lambda: _edit_chunk(x, 0, slot=_zstd_slot(x), out=_wide_window_frame(256)), "CodecError",
        resealed=True)
    add("store-output-short", "a stored chunk one byte short of raw_len (above store's max_ratio 1)",
        lambda: _edit_chunk(x, 0, slot=0, out=b"a" * 255), "LimitExceeded", resealed=True)
    add("entry-path-dotdot", "member name '../escape'",
        lambda: _edit_entry(x, 0, lambda w: w.update(p="../escape")), "UnsafePath", resealed=True)
    add("entry-path-absolute", "member name '/etc/passwd'",
        lambda: _edit_entry(x, 0, lambda w: w.update(p="/etc/passwd")), "UnsafePath", resealed=True)
    add("entry-name-bin-utf8", "member name 'docs/a.txt' encoded as bin, though it is UTF-8",
        lambda: _edit_entry(x, 1, lambda w: w.update(p=w["p"].encode())), "FormatError",
        resealed=True)
    add("entry-name-str-not-utf8", "member name a msgpack str whose bytes are not UTF-8",
        lambda: _edit_entry_body(x, 1, lambda body: body.replace(b"a.txt", b"a.tx\xff")),
        "FormatError", resealed=True)
    add("index-name-bin-utf8", "index row name 'docs/a.txt' encoded as bin, though it is UTF-8",
        lambda: _edit_index(x, lambda w: w["entries"][1].__setitem__(0, w["entries"][1][0].encode())),
        "FormatError", resealed=True)
    add("entry-path-drive", "member name 'C:x'",
        lambda: _edit_entry(x, 0, lambda w: w.update(p="C:x")), "UnsafePath", resealed=True)
    add("entry-path-too-long", "member name of 4097 bytes",
        lambda: _edit_entry(x, 0, lambda w: w.update(p="a/" * 2048 + "b")), "UnsafePath",
        resealed=True)
    add("entry-duplicate-name", "the second file renamed to the first's name",
        lambda: _edit_entry(x, 2, lambda w: w.update(p="docs/a.txt")), "UnsafePath", resealed=True)
    add("entry-below-file", "a member below a file",
        lambda: _edit_entry(x, 2, lambda w: w.update(p="docs/a.txt/b.bin")), "UnsafePath",
        resealed=True)
    add("entry-mode-setuid", "mode 0o4755", lambda: _edit_entry(x, 1, lambda w: w.update(m=0o4755)),
        "FormatError", resealed=True)
    add("entry-offset-wrong", "second file's offset moved by one",
        lambda: _edit_entry(x, 2, lambda w: w.update(o=w["o"] + 1)), "FormatError", resealed=True)
    add("entry-symlink-target-nul", "symlink target with a NUL",
        lambda: _edit_entry(x, 3, lambda w: w.update(l="a\x00b")), "UnsafePath", resealed=True)
    add("entry-type-unhashable", "unencrypted archive (anyone can forge one): entry type is a list",
        lambda: _edit_entry(n, 0, lambda w: w.update(t=[])), "FormatError", key=KEY_NONE,
        resealed=True, base="none")
    add("entry-path-not-string", "member name is an integer",
        lambda: _edit_entry(x, 0, lambda w: w.update(p=7)), "UnsafePath", resealed=True)
    add("entry-extra-field", "entry map with an extra key",
        lambda: _edit_entry(x, 1, lambda w: w.update(zz=1)), "FormatError", resealed=True)

    def entry_len_over_cap(f: list[Frame]) -> None:
        i = _nth(f, b"E", 1)
        f[i].fields = {"body": f[i].fields["body"], "len": (64 << 10) + 1}

    add("entry-frame-over-cap", "entry frame length 64 KiB + 1", frames_edit(entry_len_over_cap),
        "LimitExceeded", resealed=True)

    def entry_dup_key(f: list[Frame]) -> None:
        i = _nth(f, b"E", 1)
        wire = msgpack.unpackb(f[i].fields["body"], raw=False)
        items = [(k, canonical(wire[k])) for k in sorted(wire)] + [("t", msgpack.packb("f"))]
        f[i].fields = {"body": _raw_map(items)}

    add("entry-duplicate-key", "entry map repeats the key 't'", frames_edit(entry_dup_key),
        "FormatError", resealed=True)

    def finish_edit(**changes: Any) -> Callable[[list[Frame]], None]:
        def run(f: list[Frame]) -> None:
            i = _nth(f, b"F", 1)  # the finish frame of docs/a.txt
            f[i].fields = {**f[i].fields, **changes}

        return run

    add("finish-sha256-mismatch", "docs/a.txt's finish frame carries a wrong SHA-256",
        frames_edit(finish_edit(sha256=bytes(32))), "IntegrityError", resealed=True)
    add("finish-size-mismatch", "docs/a.txt's finish frame says 699 bytes",
        frames_edit(finish_edit(size=699)), "FormatError", resealed=True)

    def swap_chunks(f: list[Frame]) -> None:
        a, b = _nth(f, b"C", 0), _nth(f, b"C", 1)
        f[a], f[b] = f[b], f[a]

    add("chunks-swapped", "the first two chunk frames swapped (authentic bytes, wrong order)",
        frames_edit(swap_chunks), "IntegrityError", resealed=True)

    # index
    add("index-missing", "the index frame removed",
        frames_edit(lambda f: f.pop(_nth(f, b"I"))), "FormatError", resealed=True,
        expect_seekable="FormatError")

    def index_len_over_cap(f: list[Frame]) -> None:
        i = _nth(f, b"I")
        f[i].fields = {"body": f[i].fields["body"], "len": (256 << 20) + 1}

    add("index-len-over-cap", "index frame length 256 MiB + 1", frames_edit(index_len_over_cap, fix="none"),
        "LimitExceeded", resealed=True, expect_seekable="LimitExceeded")

    def chunks_field(edit: Callable[[list[int]], None]) -> Callable[[dict[str, Any]], None]:
        def run(w: dict[str, Any]) -> None:
            offs = list(struct.unpack(f">{len(w['chunks']) // 8}Q", w["chunks"]))
            edit(offs)
            w["chunks"] = b"".join(struct.pack(">Q", o) for o in offs)

        return run

    add("index-chunks-overlap", "index lists chunk 1 at chunk 0's offset",
        lambda: _edit_index(x, chunks_field(lambda o: o.__setitem__(1, o[0]))), "FormatError",
        resealed=True, expect_seekable="FormatError")
    add("index-chunk-out-of-range", "index puts the last chunk beyond the payload",
        lambda: _edit_index(x, chunks_field(lambda o: o.__setitem__(-1, 1 << 40))), "FormatError",
        resealed=True)
    add("index-wrong-total", "index total one byte larger",
        lambda: _edit_index(x, lambda w: w.update(total=w["total"] + 1)), "FormatError",
        resealed=True, expect_seekable="FormatError")
    add("index-wrong-counts", "index counts one chunk too many",
        lambda: _edit_index(x, lambda w: w["counts"].__setitem__(0, w["counts"][0] + 1)),
        "FormatError", resealed=True, expect_seekable="FormatError")

    def entry_sizes(w: dict[str, Any]) -> None:
        rows = w["entries"]
        rows[1][5] -= 10  # docs/a.txt 10 bytes shorter ...
        rows[2][4] -= 10  # ... and docs/b.bin starting 10 bytes earlier
        rows[2][5] += 10

    add("index-entry-disagrees", "index shifts 10 bytes from docs/a.txt to docs/b.bin",
        lambda: _edit_index(x, entry_sizes), "FormatError", resealed=True)

    add("index-entry-type-unhashable", "index row type is a list",
        lambda: _edit_index(x, lambda w: w["entries"][0].__setitem__(1, [0, 0])), "FormatError",
        resealed=True, expect_seekable="FormatError")

    def index_noncanonical(f: list[Frame]) -> None:
        i = _nth(f, b"I")
        wire = msgpack.unpackb(f[i].fields["body"], raw=False)
        items = [(k, canonical(wire[k])) for k in sorted(wire)]
        items = [(k, b"\xcf" + struct.pack(">Q", wire[k]) if k == "total" else v) for k, v in items]
        f[i].fields = {"body": _raw_map(items)}

    add("index-noncanonical-int", "index total written as uint64",
        frames_edit(index_noncanonical, fix="trailer"), "FormatError", resealed=True,
        expect_seekable="FormatError")

    # padding and trailer
    def pad_edit(edit: Callable[[list[Frame]], None]) -> Callable[[], bytes]:
        return frames_edit(edit, padded)

    def pad_nonzero(f: list[Frame]) -> None:
        i = _nth(f, b"P")
        z = bytearray(f[i].fields["zeros"])
        z[0] = 1
        f[i].fields = {"zeros": bytes(z)}

    add("padding-nonzero", "a padding byte set to 1", pad_edit(pad_nonzero), "FormatError",
        resealed=True, base="padded", expect_seekable="FormatError")
    add("padding-wrong-length", "padding one byte longer than the Padme length",
        pad_edit(lambda f: f[_nth(f, b"P")].fields.update(zeros=f[_nth(f, b"P")].fields["zeros"] + b"\x00")),
        "FormatError", resealed=True, base="padded", expect_seekable="FormatError")
    add("padding-missing", "pad flag set, padding frame removed",
        pad_edit(lambda f: f.pop(_nth(f, b"P"))), "FormatError", resealed=True, base="padded",
        expect_seekable="FormatError")
    add("padding-unexpected", "padding frame in an archive without the pad flag",
        frames_edit(lambda f: f.insert(_nth(f, b"Z"), Frame(b"P", {"zeros": b"\x00" * 4}))),
        "FormatError", resealed=True, expect_seekable="FormatError")
    add("trailer-wrong-index-offset", "trailer points one byte past the index",
        frames_edit(lambda f: f[-1].fields.update(index_offset=f[-1].fields["index_offset"] + 1), fix="none"),
        "FormatError", resealed=True, expect_seekable="FormatError")
    add("trailer-wrong-own-offset", "trailer's own offset off by one",
        frames_edit(lambda f: f[-1].fields.update(own_offset=f[-1].fields["own_offset"] - 1), fix="none"),
        "FormatError", resealed=True, expect_seekable="FormatError")
    add("data-after-trailer", "one byte of plaintext after the trailer",
        lambda: surgery.seal(x.opened, plaintext=x.opened.plaintext + b"\x00"), "FormatError",
        resealed=True, expect_seekable="FormatError")
    add("trailer-missing", "plaintext ends after the index",
        frames_edit(lambda f: f.pop(), fix="none"), "FormatError", resealed=True,
        expect_seekable="FormatError")

    # chunk counts (valid archives)
    for count in (0, 1, 255, 256, 257):
        b = bases[f"chunks-{count}"]
        add(f"chunks-{count}", f"valid: {count} chunks of at most 256 bytes", lambda b=b: b.data, None,
            key=KEY_NONE, base=f"chunks-{count}")
    b256 = bases["chunks-256"]
    add("chunks-256-truncated", "256-chunk archive missing its last segment",
        lambda: _with_segments(b256, _segments(b256)[:-1]), "IntegrityError", key=KEY_NONE,
        base="chunks-256", expect_seekable="IntegrityError")

    # archives that read fine but must not be extracted
    for name, description in (
        ("symlink-chain-escape", "valid to read; y -> x/../outside, then x -> . (y escapes once x exists)"),
        ("symlink-chain-escape-deep", "valid to read; y -> x/x/x/../../../etc, then x -> ."),
    ):
        b = bases[name]
        V.append(Vector(name, description, lambda b=b: b.data, KEY_X, None, base=name,
                        expect_extract="UnsafePath"))

    # the index and the entry frames tell different stories (ZIP's local header vs central
    # directory): whichever way a reader goes, it must not write the entry under either name
    pair = bases["pair"]
    add("entry-disagrees-with-index",
        "unencrypted: the first entry frame says evil.sh (mode 0755), its index row benign.txt",
        lambda: _edit_entry(pair, 0, lambda w: w.update(p="evil.sh", m=0o755)), "FormatError",
        key=KEY_NONE, resealed=True, base="pair", expect_seekable="FormatError")
    return V


def bases() -> dict[str, Base]:
    out = {
        "x": _write("x", TREE),
        "other": _write("other", TREE),
        "pass": _write("pass", TREE, key="passphrase"),
        "none": _write("none", TREE, key="none"),
        "padded": _write("padded", TREE, pad=True),
        "pair": _write("pair", [("f", "benign.txt", 300), ("f", "other.txt", 200)], key="none"),
    }
    for count in (0, 1, 255, 256, 257):
        size = 256 * count - (7 if count else 0)
        members = [("z", "data.txt", size)] if count else [("d", "empty", None)]
        out[f"chunks-{count}"] = _write(f"chunks-{count}", members, key="none", seg=4096)
    out["symlink-chain-escape"] = _write(
        "symlink-chain-escape", [("l", "y", "x/../outside"), ("l", "x", "."), ("f", "z.txt", 100)]
    )
    out["symlink-chain-escape-deep"] = _write(
        "symlink-chain-escape-deep", [("l", "y", "x/x/x/../../../etc"), ("l", "x", ".")]
    )
    return out


def _extract_error(data: bytes, key: dict[str, Any]) -> str | None:
    """The error class of a full extraction into an empty directory (None: it succeeds)."""
    import tempfile

    import nzarc

    with tempfile.TemporaryDirectory() as tmp:
        try:
            with nzarc.open(io.BytesIO(data), jobs=1, **key) as reader:
                reader.extract(Path(tmp) / "a" / "b" / "c" / "dest")
        except nzarc.NzarcError as exc:
            return type(exc).__name__
    return None


# -- what a vector is expected to release ------------------------------------------------


def _authentic_content(data: bytes, key: dict[str, Any]) -> bytes | None:
    """The logical bytes the chunk frames of a resealed archive decode to (None if it does not open)."""
    try:
        opened = surgery.unseal(data, **key)
        frames = parse_frames(opened.plaintext)
    except Exception:
        return None
    ids = [c["id"] for c in opened.header["codecs"]]
    out = bytearray()
    for f in frames:
        if f.tag != b"C":
            continue
        slot = f.fields["slot"]
        codec = ids[slot] if slot < len(ids) else None
        try:
            if codec == "nzarc.store":
                out += f.fields["out"]
            elif codec == "nzarc.zstd":
                raw_len = f.fields["raw_len"]
                if zstandard.get_frame_parameters(f.fields["out"]).content_size != raw_len:
                    break
                out += zstandard.ZstdDecompressor().decompress(f.fields["out"])[:raw_len]
            else:
                break
        except zstandard.ZstdError:
            break
    return bytes(out)


def build_all() -> tuple[dict[str, bytes], dict[str, Any], list[str]]:
    """Return (file name -> bytes, manifest, problems found while checking the reader)."""
    from fuzz.surgery import read_everything

    bs = bases()
    files: dict[str, bytes] = {}
    entries: list[dict[str, Any]] = []
    problems: list[str] = []
    for v in _vectors(bs):
        data = v.build()
        # Not an NzarcError is a reader bug: reported below, with what was released before it.
        outcome = read_everything(data, catch=(Exception,), **v.key)
        if outcome.error_name != v.expect:
            problems.append(f"{v.name}: expected {v.expect}, the reader gives {outcome.error_name}"
                            f" ({outcome.error})")
        allowed = _authentic_content(data, v.key) if v.resealed else bs[v.base].content
        if allowed is not None and not allowed.startswith(outcome.released):
            problems.append(f"{v.name}: released bytes are not a prefix of the authentic content")
        entry: dict[str, Any] = {
            "name": v.name,
            "file": f"{v.name}.nzarc",
            "description": v.description,
            "key": v.key,
            "expect": v.expect,
            "released_sha256": hashlib.sha256(outcome.released).hexdigest(),
            "released_len": len(outcome.released),
            "sha256": hashlib.sha256(data).hexdigest(),
        }
        if v.expect_seekable is not None:
            entry["expect_seekable"] = v.expect_seekable
        if v.expect_extract is not None:
            entry["expect_extract"] = v.expect_extract
            got = _extract_error(data, v.key)
            if got != v.expect_extract:
                problems.append(f"{v.name}: extraction gives {got}, expected {v.expect_extract}")
        files[entry["file"]] = data
        entries.append(entry)
    manifest = {
        "format": "nzarc v1 bad-archive corpus",
        "generator": "spec/vectors/bad/generate.py",
        "read": "nzarc.open(pipe, jobs=1, **key); every member's chunks() read in order",
        "vectors": entries,
    }
    return files, manifest, problems


def main(argv: list[str]) -> int:
    files, manifest, problems = build_all()
    for p in problems:
        print(f"READER DISAGREES: {p}", file=sys.stderr)
    if "--check" in argv:
        differ = [n for n, d in files.items() if not (HERE / n).exists() or (HERE / n).read_bytes() != d]
        for name in differ:
            print(f"DIFFERS: {name}")
        return 1 if differ else 0
    for old in HERE.glob("*.nzarc"):
        if old.name not in files:
            old.unlink()
    for name, data in files.items():
        (HERE / name).write_bytes(data)
    MANIFEST.write_text(json.dumps(manifest, indent=1, sort_keys=True) + "\n")
    print(f"wrote {len(files)} vectors, {sum(map(len, files.values()))} bytes")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
