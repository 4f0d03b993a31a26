"""Corruption properties: a mutator damages real archives (truncate, flip, drop, duplicate, swap,
splice, append) and the reader must

* fail with the error class that the damaged region calls for (payload damage is always an
  IntegrityError; header damage one of the header-stage classes; prelude damage a FormatError,
  UnsupportedVersion or LimitExceeded), never with anything but an NzarcError, and never
  succeed;
* release, before failing, only authenticated plaintext: a prefix of the original content.

The mutated archives are never resealed, so whoever mutates them does not hold the key.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import nzarc
from fuzz.surgery import SeededRng, read_everything, split_segments, unseal
from nzarc.crypto.recipients import Argon2Params, generate_identity

SECRET, PUBLIC = generate_identity(SeededRng("corruption-props/identity"))
PASS = "corruption props"

HEADER_STAGE = {"FormatError", "UnsupportedVersion", "LimitExceeded", "DecryptionError", "IntegrityError", "UnsafePath"}
PRELUDE_STAGE = {"FormatError", "UnsupportedVersion", "LimitExceeded"}


@dataclass(frozen=True)
class Sample:
    name: str
    data: bytes
    key: dict[str, Any]
    content: bytes  # every file's bytes, in member order
    head: int  # prelude + header + MAC length
    seg: int
    members: list[Any]  # what ``members()`` returns for the intact archive
    counts: tuple[int, ...]  # info(): members, files, chunks, raw size


def _build(name: str, **options: Any) -> Sample:
    rng = SeededRng(f"corruption-props/{name}")
    files = [
        ("a/one.txt", b"the quick brown fox " * 40),
        ("a/two.bin", rng(700)),
        ("b.txt", b"jumps over the lazy dog\n" * 30),
    ]
    out = io.BytesIO()
    key: dict[str, Any] = {}
    if options.pop("x25519", False):
        options["recipients"] = [PUBLIC]
        key = {"identities": [SECRET]}
    elif options.get("passphrase"):
        options["argon2"] = Argon2Params(t=1, m_kib=64, p=1)
        key = {"passphrase": options["passphrase"]}
    else:
        options["encrypt"] = False
    with nzarc.ArchiveWriter(
        out, chunk_size=256, segment_size=128, jobs=1, rng=rng, codec="zstd", level=3, **options
    ) as w:
        w.add_dir("a", mtime_ns=1)
        for arcname, data in files[:2]:
            w.add_bytes(arcname, data, mtime_ns=2)
        w.add_symlink("a/link", "one.txt", mtime_ns=3)
        w.add_bytes(files[2][0], files[2][1], mtime_ns=4)
    data = out.getvalue()
    opened = unseal(data, **key)
    content = b"".join(d for _, d in files)
    with nzarc.open(io.BytesIO(data), jobs=1, **key) as reader:
        info = reader.info()
        members = reader.members()
    counts = (info.members, info.files, info.chunks, info.raw_size)
    return Sample(name, data, key, content, len(opened.head), opened.seg, members, counts)


SAMPLES = [
    _build("x25519", x25519=True),
    _build("aes-padded", x25519=True, suite="aes-256-gcm", pad=True),
    _build("unencrypted"),
    _build("passphrase", passphrase=PASS),
]
DONOR = _build("x25519-donor", x25519=True)


@dataclass(frozen=True)
class Mutation:
    op: str
    lo: int  # first byte position of the original archive that the mutation touches
    data: bytes


def _mutations(sample: Sample) -> st.SearchStrategy[Mutation]:
    n = len(sample.data)
    pos = st.integers(0, n - 1)

    @st.composite
    def build(draw: st.DrawFn) -> Mutation:
        op = draw(st.sampled_from(["truncate", "flip", "drop", "duplicate", "swap", "splice", "append"]))
        d = sample.data
        if op == "truncate":
            at = draw(pos)
            return Mutation(op, at, d[:at])
        if op == "flip":
            at, bit = draw(pos), draw(st.integers(0, 7))
            out = bytearray(d)
            out[at] ^= 1 << bit
            return Mutation(op, at, bytes(out))
        if op == "append":
            extra = draw(st.one_of(st.binary(min_size=1, max_size=40),
                                   st.just(split_segments(d[sample.head:], sample.seg)[0])))
            return Mutation(op, n, d + extra)
        if op == "splice":
            donor = DONOR.data
            at = draw(pos)
            length = draw(st.integers(1, 200))
            src = draw(st.integers(0, len(donor) - 1))
            piece = donor[src : src + length]
            return Mutation(op, at, d[:at] + piece + d[at + len(piece) :])
        at = draw(pos)
        length = draw(st.integers(1, min(300, n - at)))
        if op == "drop":
            return Mutation(op, at, d[:at] + d[at + length :])
        if op == "duplicate":
            return Mutation(op, at, d[: at + length] + d[at : at + length] + d[at + length :])
        # swap two adjacent ranges [at, at+length) and [at+length, at+length+k)
        k = draw(st.integers(1, max(1, min(300, n - at - length))))
        a, b = d[at : at + length], d[at + length : at + length + k]
        return Mutation(op, at, d[:at] + b + a + d[at + length + k :])

    return build()


def _allowed(sample: Sample, m: Mutation) -> set[str]:
    """The error classes the spec allows for a mutation whose first change is at ``m.lo``."""
    first = next((i for i, (a, b) in enumerate(zip(sample.data, m.data, strict=False)) if a != b),
                 min(len(sample.data), len(m.data)))
    if first >= sample.head:
        return {"IntegrityError"}
    if first < 16:
        if len(m.data) < 16:
            return {"FormatError"}
        return PRELUDE_STAGE | ({"IntegrityError"} if first >= 12 else set())
    if len(m.data) < sample.head:
        return {"FormatError"} if m.op == "truncate" else HEADER_STAGE
    return HEADER_STAGE


def _check(sample: Sample, m: Mutation) -> None:
    if m.data == sample.data:
        return
    outcome = read_everything(m.data, **sample.key)  # anything but NzarcError propagates
    assert outcome.error is not None, f"{m.op} at {m.lo}: a damaged archive was accepted"
    assert outcome.error_name in _allowed(sample, m), f"{m.op} at {m.lo}: {outcome.error!r}"
    assert sample.content.startswith(outcome.released), (
        f"{m.op} at {m.lo}: released bytes that are not the archive's authentic content"
    )
    # The seekable paths: info and list through the trailer and index. They read only part of
    # the archive, so they may succeed; what they return must then be what was written (the
    # index is authenticated). Any exception but an NzarcError propagates.
    try:
        with nzarc.open(io.BytesIO(m.data), jobs=1, **sample.key) as reader:
            info = reader.info()
            members = reader.members()
    except nzarc.NzarcError as exc:
        assert str(exc) and "\n" not in str(exc), f"{m.op} at {m.lo}: {exc!r}"
    else:
        assert members == sample.members, f"{m.op} at {m.lo}: the index changed undetected"
        assert (info.members, info.files, info.chunks, info.raw_size) == sample.counts
    # Reading every member from the seekable source must fail too, after releasing only
    # authentic content.
    seek = read_everything(m.data, pipe=False, **sample.key)
    assert seek.error is not None, f"{m.op} at {m.lo}: a damaged archive was read whole (seekable)"
    assert isinstance(seek.error, nzarc.NzarcError)
    assert sample.content.startswith(seek.released), (
        f"{m.op} at {m.lo}: the seekable read released bytes that are not the archive's content"
    )


@pytest.mark.parametrize("sample", SAMPLES, ids=[s.name for s in SAMPLES])
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_mutations_fail_cleanly(sample: Sample, data: st.DataObject) -> None:
    _check(sample, data.draw(_mutations(sample)))


@pytest.mark.parametrize("sample", SAMPLES[:1], ids=[SAMPLES[0].name])
def test_every_segment_spliced_from_donor(sample: Sample) -> None:
    """Replacing any one segment by the donor's segment at the same position is an IntegrityError
    (same recipient, same lengths: only the payload key tells them apart)."""
    mine = split_segments(sample.data[sample.head :], sample.seg)
    theirs = split_segments(DONOR.data[DONOR.head :], DONOR.seg)
    for i in range(min(len(mine), len(theirs))):
        if len(mine[i]) != len(theirs[i]):
            continue
        spliced = sample.data[: sample.head] + b"".join(mine[:i] + [theirs[i]] + mine[i + 1 :])
        _check(sample, Mutation("splice-segment", sample.head, spliced))


@pytest.mark.parametrize("sample", SAMPLES, ids=[s.name for s in SAMPLES])
def test_truncation_at_every_segment_boundary(sample: Sample) -> None:
    full = sample.seg + 16
    for at in range(sample.head, len(sample.data), full):
        _check(sample, Mutation("truncate", at, sample.data[:at]))


def test_samples_read_back() -> None:
    for sample in SAMPLES:
        outcome = read_everything(sample.data, **sample.key)
        assert outcome.error is None and outcome.released == sample.content
