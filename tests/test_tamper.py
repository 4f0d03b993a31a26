"""Tampering: every modification is rejected with a specific error class, and nothing that was
not verified reaches the caller (what was yielded is always a prefix of the true content)."""

from __future__ import annotations

import io
import time

import pytest
from helpers_format import Pipe, SeededRng, forge_header, read_all, split, write_archive

from nzarc.crypto.recipients import Argon2Params, generate_identity
from nzarc.errors import (
    DecryptionError,
    FormatError,
    IntegrityError,
    LimitExceeded,
    NzarcError,
    UnsupportedVersion,
)
from nzarc.format.canonical import pack, unpack
from nzarc.format.layout import MAC_LEN, PRELUDE, PRELUDE_LEN
from nzarc.reader import ArchiveReader

SK, PK = generate_identity(SeededRng(b"tamper-key"))
SK2, PK2 = generate_identity(SeededRng(b"tamper-key-2"))
MEMBERS = [("d", "dir"), ("f", "dir/a.txt", b"alpha " * 60), ("f", "dir/empty", b""),
           ("l", "dir/ln", "a.txt"), ("f", "b.bin", bytes(range(256)) * 2)]
TRUTH = {m[1]: (m[2] if m[0] == "f" else b"") for m in MEMBERS}
OPTS = dict(recipients=[PK], chunk_size=256, segment_size=64)


def archive(seed: bytes = b"a", **extra) -> bytes:
    return write_archive(MEMBERS, seed=seed, **{**OPTS, **extra})


GOOD = archive()
HEADER_END = len(split(GOOD)[0])


def attempt(data: bytes, *, pipe: bool, keys: dict | None = None) -> NzarcError | None:
    """Read everything; check the no-unverified-plaintext property; return the error."""
    sink: dict[str, bytearray] = {}
    source = Pipe(data, step=13) if pipe else io.BytesIO(data)
    keys = {"identities": [SK]} if keys is None else keys
    try:
        read_all(source, sink, **keys)
        error = None
    except NzarcError as exc:
        error = exc
    names = list(sink)
    assert names == [m[1] for m in MEMBERS][: len(names)]
    for name, got in sink.items():
        assert TRUTH[name].startswith(bytes(got)), f"unverified bytes reached the caller for {name}"
    if not pipe and error is None:
        with ArchiveReader(io.BytesIO(data), **keys) as r:
            r.info()
    return error


def region_classes(offset: int) -> tuple[type, ...]:
    if offset < 10:
        return (FormatError,)
    if offset < 12:
        return (UnsupportedVersion,)
    if offset < PRELUDE_LEN:
        return (FormatError, LimitExceeded)
    if offset < HEADER_END - MAC_LEN:
        return (FormatError, IntegrityError, DecryptionError, LimitExceeded, UnsupportedVersion)
    return (IntegrityError,)


def test_good_archive_reads_on_both_paths():
    assert attempt(GOOD, pipe=True) is None
    assert attempt(GOOD, pipe=False) is None


@pytest.mark.parametrize("pipe", [True, False])
def test_truncation_at_every_offset(pipe):
    for cut in range(len(GOOD)):
        err = attempt(GOOD[:cut], pipe=pipe)
        expected = FormatError if cut < HEADER_END else IntegrityError
        assert type(err) is expected, (cut, err)


@pytest.mark.parametrize("pipe", [True, False])
def test_bit_flip_at_every_byte(pipe):
    for offset in range(len(GOOD)):
        bad = bytearray(GOOD)
        bad[offset] ^= 1 << (offset % 8)
        err = attempt(bytes(bad), pipe=pipe)
        assert err is not None and type(err) in region_classes(offset), (offset, err)
        if offset >= HEADER_END - MAC_LEN:
            assert type(err) is IntegrityError


def _join(head: bytes, segs: list[bytes]) -> bytes:
    return head + b"".join(segs)


@pytest.mark.parametrize("pipe", [True, False])
def test_segment_surgery(pipe):
    head, segs, _ = split(GOOD)
    assert len(segs) > 5
    other_head, other, _ = split(archive(seed=b"other"))
    variants = []
    for i in range(len(segs)):
        variants.append(_join(head, segs[:i] + segs[i + 1 :]))  # dropped
        variants.append(_join(head, segs[: i + 1] + segs[i:]))  # duplicated
        if i + 1 < len(segs):
            variants.append(_join(head, segs[:i] + [segs[i + 1], segs[i]] + segs[i + 2 :]))  # swapped
            variants.append(_join(head, segs[:i] + [segs[-1]] + segs[i:-1]))  # final moved earlier
        if i < len(other):
            variants.append(_join(head, segs[:i] + [other[i]] + segs[i + 1 :]))  # spliced
    variants.append(_join(head, other))  # header of one, payload of another
    variants.append(_join(other_head, segs))
    variants.append(GOOD + b"\x00")  # one trailing byte
    variants.append(GOOD + segs[-1])  # a whole valid segment appended
    variants.append(GOOD + segs[0])
    for data in variants:
        assert type(attempt(data, pipe=pipe)) is IntegrityError


def test_header_swap_between_unencrypted_archives():
    a = write_archive(MEMBERS, seed=b"u1", encrypt=False, chunk_size=256, segment_size=64)
    b = write_archive(MEMBERS, seed=b"u2", encrypt=False, chunk_size=256, segment_size=64)
    (ha, sa, _), (hb, sb, _) = split(a), split(b)
    assert type(attempt(_join(ha, sb), pipe=True, keys={})) is IntegrityError
    assert type(attempt(_join(hb, sa), pipe=False, keys={})) is IntegrityError


def test_wrong_identity_and_passphrase():
    err = attempt(GOOD, pipe=True, keys={"identities": [SK2]})
    assert type(err) is DecryptionError and "no identity matched" in str(err)
    assert type(attempt(GOOD, pipe=False, keys={})) is DecryptionError
    pw = write_archive(MEMBERS, passphrase="right", argon2=Argon2Params(1, 64, 1), chunk_size=256)
    err = attempt(pw, pipe=True, keys={"passphrase": "wrong"})
    assert type(err) is DecryptionError and "no identity matched" in str(err)
    assert type(attempt(pw, pipe=False, keys={"identities": [SK]})) is DecryptionError
    assert attempt(pw, pipe=False, keys={"passphrase": "right"}) is None


def test_three_recipients_any_one_opens():
    sks = [generate_identity(SeededRng(bytes([i]))) for i in range(3)]
    data = write_archive(MEMBERS, recipients=[p for _, p in sks], chunk_size=256)
    for sk, _ in sks:
        assert attempt(data, pipe=True, keys={"identities": [sk]}) is None
    assert type(attempt(data, pipe=True, keys={"identities": [SK2]})) is DecryptionError


def _header_parts(data: bytes):
    _, _, hlen = PRELUDE.unpack(data[:PRELUDE_LEN])
    hb = data[PRELUDE_LEN : PRELUDE_LEN + hlen]
    mac = data[PRELUDE_LEN + hlen : PRELUDE_LEN + hlen + MAC_LEN]
    return unpack(hb, "h"), mac, data[PRELUDE_LEN + hlen + MAC_LEN :]


@pytest.mark.parametrize("edit", [
    lambda w: w.__setitem__("chunk", 512),
    lambda w: w.__setitem__("pad", True),
    lambda w: w["codecs"][1]["params"].__setitem__("level", 4),
    lambda w: w.__setitem__("salt", bytes(32)),
    lambda w: w.__setitem__("note", "added"),
])
def test_header_field_edited_with_mac_kept(edit):
    wire, mac, payload = _header_parts(GOOD)
    edit(wire)
    hb = pack(wire)
    prelude = PRELUDE.pack(b"\x8fNZARC\r\n\x1a\n", 1, len(hb))
    bad = prelude + hb + mac + payload
    for pipe in (True, False):
        assert type(attempt(bad, pipe=pipe)) is IntegrityError


def _expect_fast(data: bytes, cls: type, keys: dict | None = None) -> None:
    start = time.monotonic()
    for pipe in (True, False):
        err = attempt(data, pipe=pipe, keys=keys)
        assert type(err) is cls, err
    assert time.monotonic() - start < 2


def test_huge_header_length():
    bad = PRELUDE.pack(b"\x8fNZARC\r\n\x1a\n", 1, 0xFFFFFFFF) + b"\x00" * 100
    _expect_fast(bad, LimitExceeded)


@pytest.mark.parametrize("index,value", [(1, 1000), (2, 1 << 40), (3, 200), (2, 4)])
def test_huge_kdf_costs_are_refused_before_work(index, value):
    pw = write_archive(MEMBERS, passphrase="pw", argon2=Argon2Params(1, 64, 1), chunk_size=256)
    wire, _, payload = _header_parts(pw)
    wire["r"][0]["a"][index] = value
    _expect_fast(forge_header(pack(wire), payload=payload), LimitExceeded, {"passphrase": "pw"})


def test_huge_counts_in_header():
    wire, _, payload = _header_parts(GOOD)
    wire["r"] = wire["r"] * 100
    _expect_fast(forge_header(pack(wire), payload=payload), LimitExceeded)
    wire, _, payload = _header_parts(GOOD)
    wire["chunk"] = 1 << 30
    _expect_fast(forge_header(pack(wire), payload=payload), LimitExceeded)
    wire, _, payload = _header_parts(GOOD)
    wire["codecs"] = wire["codecs"] * 40
    _expect_fast(forge_header(pack(wire), payload=payload), LimitExceeded)


@pytest.mark.parametrize("pipe", [True, False])
def test_random_mutations_only_raise_nzarc_errors(pipe):
    from hypothesis import given, settings
    from hypothesis import strategies as st

    @settings(max_examples=150, deadline=None, derandomize=True)
    @given(st.lists(st.tuples(st.integers(0, len(GOOD) - 1), st.integers(0, 255), st.sampled_from("sdi")),
                    min_size=1, max_size=4))
    def check(edits):
        data = bytearray(GOOD)
        for pos, value, op in edits:
            pos = min(pos, len(data) - 1)
            if op == "s":
                data[pos] = value
            elif op == "d":
                del data[pos]
            else:
                data.insert(pos, value)
        if bytes(data) != GOOD:
            assert attempt(bytes(data), pipe=pipe) is not None  # raises only NzarcError subclasses

    check()
