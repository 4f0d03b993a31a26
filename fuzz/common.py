"""Shared pieces of the fuzz harnesses: known keys, the reseal transform, seed corpora.

Every harness checks one invariant: for any input, the code under test either raises an
:class:`nzarc.NzarcError` subclass or succeeds with output that re-encodes consistently.
Any other exception propagates to libFuzzer, which records a reproducer and fails.

"Unsealed" inputs: for the reader targets, an input whose first byte is odd is read as
``prelude || header || plaintext stream`` (no MAC, no AEAD tags). The harness re-derives the
header MAC and reseals the plaintext with the archive's own file key (the key is recovered
with the known identities; unencrypted archives use the all-zero key), so the fuzzer's edits
reach the frame parser, the index and the codecs instead of stopping at authentication.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import struct
from collections.abc import Callable, Iterator
from concurrent.futures import Executor, Future
from pathlib import Path
from typing import Any

from fuzz import surgery, symlink_shapes

REPO = Path(__file__).resolve().parents[1]
VECTORS = REPO / "spec" / "vectors"

#: A passphrase is offered to the reader only when the stanza's Argon2id cost stays inside
#: this fuzzing budget (costs up to the format's caps are exercised by spec/vectors/bad/).
FUZZ_ARGON2_MAX_M_KIB = 1024
FUZZ_ARGON2_MAX_T = 3


def manifest() -> list[dict[str, Any]]:
    path = VECTORS / "manifest.json"
    if not path.exists():
        return []
    return list(json.loads(path.read_text())["vectors"])


def known_keys() -> tuple[list[str], list[str]]:
    """(identities, passphrases) of every golden vector."""
    identities: list[str] = []
    passphrases: list[str] = []
    for v in manifest():
        identities += v["read"].get("identities", [])
        if "passphrase" in v["read"]:
            passphrases.append(v["read"]["passphrase"])
    return identities, passphrases


IDENTITIES, PASSPHRASES = known_keys()


_PARSED: list[bytes] = []


def identity_keys() -> list[bytes]:
    """The known identities as raw X25519 scalars (parsed once, not per input)."""
    from nzarc.crypto.recipients import parse_identity

    if not _PARSED:
        _PARSED.extend(parse_identity(i) for i in IDENTITIES)
    return _PARSED


class InlineExecutor(Executor):
    """Runs each task at once in the calling thread: same results as the reader's thread
    pool (the pipeline's output never depends on scheduling), at a fraction of the cost
    per input. Thread safety is not what these targets test."""

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future[Any]:
        fut: Future[Any] = Future()
        try:
            fut.set_result(fn(*args, **kwargs))
        except BaseException as exc:  # delivered through the future, as a pool would
            fut.set_exception(exc)
        return fut


def use_inline_executor() -> None:
    import nzarc.reader
    import nzarc.writer

    nzarc.reader.make_executor = lambda jobs: InlineExecutor()  # type: ignore[assignment]
    nzarc.writer.make_executor = lambda jobs: InlineExecutor()  # type: ignore[assignment]


def passphrase_for(archive: bytes) -> str | None:
    """The known passphrase if the archive's Argon2id stanza is within the fuzzing budget."""
    from nzarc.errors import NzarcError
    from nzarc.format.header import decode_header, read_prelude

    if not PASSPHRASES:
        return None
    try:
        _, header_bytes, _ = read_prelude(io.BytesIO(archive).read)
        header = decode_header(header_bytes)
    except NzarcError:
        return None
    for stanza in header.stanzas:
        if stanza.type == "argon2id":
            _, t, m, p = stanza.args
            if m <= FUZZ_ARGON2_MAX_M_KIB and t <= FUZZ_ARGON2_MAX_T:
                return PASSPHRASES[0]
    return None


def _file_key(header_bytes: bytes) -> bytes | None:
    from nzarc.crypto.recipients import unwrap_file_key
    from nzarc.errors import NzarcError
    from nzarc.format.header import decode_header

    try:
        header = decode_header(header_bytes)
    except NzarcError:
        return None
    if header.suite == "none":
        return bytes(32)
    if any(s.type == "argon2id" for s in header.stanzas):
        _, t, m, _p = header.stanzas[0].args
        if m > FUZZ_ARGON2_MAX_M_KIB or t > FUZZ_ARGON2_MAX_T or not PASSPHRASES:
            return None
    try:
        return unwrap_file_key(
            header.stanzas,
            passphrase=PASSPHRASES[0] if PASSPHRASES else None,
            identities=identity_keys(),
        )
    except NzarcError:
        return None


def reseal(unsealed: bytes) -> bytes:
    """Turn ``prelude || header || plaintext`` into an archive with a valid MAC and payload.

    When the header does not decode or no known key opens it, the MAC is left zero and the
    plaintext is appended as is; the reader must then reject the result.
    """
    pre_len = surgery.PRELUDE.size
    if len(unsealed) < pre_len:
        return unsealed
    _, _, hlen = surgery.PRELUDE.unpack(unsealed[:pre_len])
    prelude = unsealed[:pre_len]
    header_bytes = unsealed[pre_len : pre_len + hlen]
    plaintext = unsealed[pre_len + hlen :]
    if len(header_bytes) < hlen:
        return unsealed
    file_key = _file_key(header_bytes)
    if file_key is None:
        return prelude + header_bytes + bytes(surgery.MAC_LEN) + plaintext
    import msgpack

    wire = msgpack.unpackb(header_bytes, raw=False)
    mac = surgery.header_mac(file_key, prelude, header_bytes)
    key = surgery._hkdf(file_key, bytes(wire["salt"]), b"nzarc/v1 payload" + mac)
    payload = surgery.seal_payload(plaintext, suite=wire["suite"], payload_key=key, seg=wire["seg"])
    return prelude + header_bytes + mac + payload


def unsealed_form(archive: bytes, read: dict[str, Any]) -> bytes:
    opened = surgery.unseal(archive, **read)
    return opened.prelude + opened.header_bytes + opened.plaintext


def check_consistent(members: list[Any], released: bytes) -> None:
    """A successful read must re-encode to an archive that reads back identically."""
    import nzarc

    sizes = sum(m.size for m in members if m.type == "file")
    if sizes != len(released):
        raise AssertionError(f"released {len(released)} bytes, members declare {sizes}")
    out = io.BytesIO()
    pos = 0
    with nzarc.ArchiveWriter(out, encrypt=False, codec="store", chunk_size=256, jobs=1) as w:
        for m in members:
            if m.type == "file":
                data = released[pos : pos + m.size]
                pos += m.size
                if hashlib.sha256(data).digest() != m.sha256:
                    raise AssertionError(f"member {m.name!r} released bytes fail its SHA-256")
                w.add_bytes(m.name, data, mode=m.mode, mtime_ns=m.mtime_ns)
            elif m.type == "dir":
                w.add_dir(m.name, mode=m.mode, mtime_ns=m.mtime_ns)
            else:
                w.add_symlink(m.name, m.link_target, mtime_ns=m.mtime_ns)
    again = surgery.read_everything(out.getvalue())
    if again.error is not None or again.released != released or again.members != members:
        raise AssertionError("a successfully read archive does not re-encode consistently")


# -- seed corpora -------------------------------------------------------------------------


def _vector_bytes() -> Iterator[tuple[dict[str, Any], bytes]]:
    for v in manifest():
        path = VECTORS / v["file"]
        if path.exists():
            yield v, path.read_bytes()


def _bad_vector_bytes() -> Iterator[bytes]:
    """The bad-archive corpus, minus the vectors named in ``NZARC_FUZZ_SKIP`` (comma-separated;
    lets a run measure coverage while a finding that a seed triggers at once is still open)."""
    skip = {s.strip() for s in os.environ.get("NZARC_FUZZ_SKIP", "").split(",") if s.strip()}
    bad = VECTORS / "bad"
    for path in sorted(bad.glob("*.nzarc")):
        if path.stem not in skip:
            yield path.read_bytes()


def seeds_header() -> Iterator[bytes]:
    for _, data in _vector_bytes():
        _, _, hlen = surgery.PRELUDE.unpack(data[:16])
        yield data[: 16 + hlen + 32]
    for data in _bad_vector_bytes():
        yield data[:4096]


def seeds_index() -> Iterator[bytes]:
    for v, data in _vector_bytes():
        opened = surgery.unseal(data, **v["read"])
        slots = len(opened.header["codecs"])
        for frame in surgery.parse_frames(opened.plaintext):
            if frame.tag == b"I":
                yield struct.pack(">IB", opened.header["chunk"], slots) + frame.fields["body"]


def seeds_reader() -> Iterator[bytes]:
    for v, data in _vector_bytes():
        yield b"\x00" + data
        yield b"\x02" + data
        unsealed = unsealed_form(data, v["read"])
        yield b"\x01" + unsealed
        yield b"\x03" + unsealed
    for data in _bad_vector_bytes():
        yield b"\x00" + data


def seeds_codec(codec_id: str) -> Iterator[bytes]:
    """``raw_len (u32) || codec output`` for every chunk of the vectors using ``codec_id``."""
    for v, data in _vector_bytes():
        opened = surgery.unseal(data, **v["read"])
        ids = [c["id"] for c in opened.header["codecs"]]
        for frame in surgery.parse_frames(opened.plaintext):
            if frame.tag == b"C" and ids[frame.fields["slot"]] == codec_id:
                yield struct.pack(">I", frame.fields["raw_len"]) + frame.fields["out"]
    yield struct.pack(">I", 0)
    yield struct.pack(">I", 1) + b"x"


def seeds_neural() -> Iterator[bytes]:
    from fuzz import neural_support

    yield from neural_support.seeds()


def seeds_neural_codec() -> Iterator[bytes]:
    from fuzz import neural_support

    yield from neural_support.codec_seeds()


SEEDS = {
    "header": seeds_header,
    "index": seeds_index,
    "reader_key": seeds_reader,
    "reader_nokey": seeds_reader,
    "codec_store": lambda: seeds_codec("nzarc.store"),
    "codec_zstd": lambda: seeds_codec("nzarc.zstd"),
    "codec_xz": lambda: seeds_codec("nzarc.xz"),
    "neural_coder": seeds_neural,
    "neural_codec": seeds_neural_codec,
    "symlinks": lambda: symlink_shapes.seeds(),
}
