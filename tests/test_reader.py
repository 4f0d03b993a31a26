"""The typed-event frame validator (nzarc.read.validator) on the frames of real archives:
the events of a valid sequence, and each ordering rule's FormatError when a frame is moved,
dropped or altered."""

from __future__ import annotations

import dataclasses
import hashlib
import io
from collections.abc import Callable

import pytest

from nzarc.crypto import keys as keymod
from nzarc.crypto.suites import make_aead
from nzarc.errors import FormatError, IntegrityError
from nzarc.format.frames import (
    ChunkFrame,
    EntryFrame,
    FinishFrame,
    Frame,
    FrameReader,
    IndexFrame,
    PadFrame,
    TrailerFrame,
)
from nzarc.format.header import Header, decode_header, read_prelude
from nzarc.format.stream import PlainStream, iter_segments
from nzarc.read.validator import (
    Event,
    IndexSeen,
    MemberBytes,
    MemberEnd,
    MemberStart,
    validate_frames,
)
from tests.helpers_format import write_archive

MEMBERS = [
    ("f", "a.txt", b"hello"),
    ("d", "d"),
    ("f", "d/b.bin", bytes(range(256)) * 3),  # spans several 256-byte chunks
    ("l", "d/link", "b.bin"),
    ("f", "empty", b""),
]
CONTENT = {m[1]: m[2] for m in MEMBERS if m[0] == "f"}


def _frames(archive: bytes) -> tuple[Header, list[Frame]]:
    """The header and every payload frame of an unencrypted archive, in order (data as
    stored: the store codec keeps it raw)."""
    src = io.BytesIO(archive)
    prelude, header_bytes, mac = read_prelude(src.read)
    h = decode_header(header_bytes)
    aead = make_aead(h.suite, keymod.payload_key(keymod.ZERO_KEY, h.salt, mac))
    reader = FrameReader(
        PlainStream(iter_segments(src.read, aead, h.segment_size)),
        chunk_size=h.chunk_size,
        slots=len(h.codecs),
    )
    out: list[Frame] = []
    while not out or not isinstance(out[-1], TrailerFrame):
        out.append(reader.next())
    return h, out


class _Ended:
    """A plaintext stream that is (or is not) at its end after the trailer."""

    def __init__(self, ended: bool = True) -> None:
        self._ended = ended

    def at_end(self) -> bool:
        return self._ended


def _events(
    h: Header, frames: list[Frame], *, with_data: bool = True, ended: bool = True, **kw: object
) -> list[Event]:
    return list(validate_frames(iter(frames), _Ended(ended), h, with_data, **kw))  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def archive() -> tuple[Header, list[Frame]]:
    return _frames(write_archive(MEMBERS, codec="nzarc.store", chunk_size=256, encrypt=False))


@pytest.fixture(scope="module")
def two() -> tuple[Header, list[Frame]]:
    """Two files across four chunks: a (300 bytes) then b (600 bytes)."""
    members = [("f", "a", b"x" * 300), ("f", "b", b"y" * 600)]
    return _frames(write_archive(members, codec="nzarc.store", chunk_size=256, encrypt=False))


@pytest.fixture(scope="module")
def padded() -> tuple[Header, list[Frame]]:
    return _frames(write_archive(MEMBERS, codec="nzarc.store", chunk_size=256, pad=True, encrypt=False))


def _first(frames: list[Frame], kind: type) -> int:
    return next(i for i, f in enumerate(frames) if isinstance(f, kind))


def _last(frames: list[Frame], kind: type) -> int:
    return max(i for i, f in enumerate(frames) if isinstance(f, kind))


def test_a_valid_sequence_gives_start_data_end_per_member_then_the_index(archive):
    h, frames = archive
    events = _events(h, frames)
    assert isinstance(events[-1], IndexSeen)
    assert len(events[-1].index.entries) == len(MEMBERS)
    assert not any(isinstance(e, IndexSeen) for e in events[:-1])
    names: list[str] = []
    data: dict[str, bytes] = {}
    current = None
    for e in events[:-1]:
        if isinstance(e, MemberStart):
            assert current is None
            current = e.member.name
            assert e.member.sha256 is None  # known at its end
            if e.member.type == "file":
                assert e.member.size is None
            names.append(current)
            data[current] = b""
        elif isinstance(e, MemberBytes):
            assert current is not None
            data[current] += e.data
        else:
            assert isinstance(e, MemberEnd) and e.member.name == current
            if e.member.type == "file":
                assert e.member.size == len(CONTENT[current])
                assert e.member.sha256 == hashlib.sha256(CONTENT[current]).digest()
            current = None
    assert current is None
    assert names == [m[1] for m in MEMBERS]
    assert {k: v for k, v in data.items() if k in CONTENT} == CONTENT
    assert data["d"] == data["d/link"] == b""


def test_without_data_the_same_members_start_and_end_with_no_bytes(archive):
    h, frames = archive
    events = _events(h, frames, with_data=False)
    assert not any(isinstance(e, MemberBytes) for e in events)
    kinds = [type(e) for e in events]
    assert kinds == [MemberStart, MemberEnd] * len(MEMBERS) + [IndexSeen]
    ends = [e.member for e in events if isinstance(e, MemberEnd)]
    assert [m.size for m in ends if m.type == "file"] == [len(v) for v in CONTENT.values()]


def test_a_padded_archive_validates_and_events_are_frozen(padded):
    h, frames = padded
    assert h.pad and any(isinstance(f, PadFrame) for f in frames)
    events = _events(h, frames)
    assert isinstance(events[-1], IndexSeen)
    with pytest.raises(dataclasses.FrozenInstanceError):
        events[0].member = None  # type: ignore[misc,union-attr]


def test_the_index_known_beforehand_must_be_the_one_in_the_stream(archive):
    h, frames = archive
    events = _events(h, frames)
    index = events[-1].index  # type: ignore[union-attr]
    body = frames[_first(frames, IndexFrame)].body  # type: ignore[attr-defined]
    again = _events(h, frames, known_index=(body, index))
    assert [type(e) for e in again] == [type(e) for e in events]
    with pytest.raises(FormatError, match="^the index frame is not the one the trailer points at$"):
        _events(h, frames, known_index=(body + b"\x00", index))


def _move(kind: type, to: int) -> Callable[[list[Frame]], list[Frame]]:
    def edit(frames: list[Frame]) -> list[Frame]:
        i = _first(frames, kind)
        out = frames[:i] + frames[i + 1 :]
        out.insert(to, frames[i])
        return out

    return edit


def _drop_first(kind: type) -> Callable[[list[Frame]], list[Frame]]:
    return lambda frames: [f for i, f in enumerate(frames) if i != _first(frames, kind)]


def _drop_last(kind: type) -> Callable[[list[Frame]], list[Frame]]:
    return lambda frames: [f for i, f in enumerate(frames) if i != _last(frames, kind)]


def _cut_at(kind: type) -> Callable[[list[Frame]], list[Frame]]:
    return lambda frames: frames[: _first(frames, kind)]


def _insert_before_index(frame: Frame) -> Callable[[list[Frame]], list[Frame]]:
    def edit(frames: list[Frame]) -> list[Frame]:
        i = _first(frames, IndexFrame)
        return frames[:i] + [frame] + frames[i:]

    return edit


def _double_first_entry(frames: list[Frame]) -> list[Frame]:
    i = _first(frames, EntryFrame)
    return frames[: i + 1] + frames[i:]


def _after_index(frame: Frame) -> Callable[[list[Frame]], list[Frame]]:
    def edit(frames: list[Frame]) -> list[Frame]:
        i = _first(frames, IndexFrame)
        return frames[: i + 1] + [frame] + frames[i + 1 :]

    return edit


def _drop_nth(kind: type, n: int) -> Callable[[list[Frame]], list[Frame]]:
    def edit(frames: list[Frame]) -> list[Frame]:
        at = [i for i, f in enumerate(frames) if isinstance(f, kind)][n]
        return frames[:at] + frames[at + 1 :]

    return edit


def _swap_last_chunks(frames: list[Frame]) -> list[Frame]:
    at = [i for i, f in enumerate(frames) if isinstance(f, ChunkFrame)][-2:]
    out = list(frames)
    out[at[0]], out[at[1]] = frames[at[1]], frames[at[0]]
    return out


# (case, archive fixture, edit of its frame list, the FormatError's message)
VIOLATIONS = [
    ("chunk first", "archive", _move(ChunkFrame, 0), "chunk before the first entry"),
    ("finish first", "archive", _move(FinishFrame, 0), "finish frame without an open member"),
    (
        "a finish matched to the wrong member",
        "archive",
        _drop_first(FinishFrame),
        "member 'a.txt' size does not match the next member's start",
    ),
    (
        "a finish missing before the next member's data",
        "two",
        _drop_first(FinishFrame),
        "member 'a' is complete but its finish frame is missing",
    ),
    (
        "last finish missing",
        "archive",
        _drop_last(FinishFrame),
        "index before every member was finished",
    ),
    ("no index", "archive", _cut_at(IndexFrame), "the archive ends without an index"),
    ("no trailer", "archive", _cut_at(TrailerFrame), "the archive ends without a trailer"),
    (
        "trailer before the index",
        "archive",
        _insert_before_index(TrailerFrame(0, 0, 0)),
        "padding or trailer frame before the index",
    ),
    (
        "padding without the pad flag",
        "archive",
        _after_index(PadFrame(0, 0)),
        "padding frame in an archive without the pad flag",
    ),
    ("an entry declared twice", "archive", _double_first_entry, "duplicate member name 'a.txt'"),
    (
        "the first chunk missing",
        "archive",
        _drop_first(ChunkFrame),
        "member 'a.txt' finishes before its data arrived",
    ),
    (
        "a middle chunk missing",
        "archive",
        _drop_nth(ChunkFrame, 1),
        "entry 'd/link' must come right after chunk frame 2",
    ),
    (
        "a short chunk before a full one",
        "two",
        _swap_last_chunks,
        "only the last chunk may be shorter than the chunk size",
    ),
]


@pytest.mark.parametrize(
    ("fixture", "edit", "message"), [v[1:] for v in VIOLATIONS], ids=[v[0] for v in VIOLATIONS]
)
def test_each_ordering_violation_is_a_format_error(request, fixture, edit, message):
    h, frames = request.getfixturevalue(fixture)
    with pytest.raises(FormatError) as info:
        _events(h, edit(frames))
    assert str(info.value) == message


def test_padded_archive_without_its_padding_frame(padded):
    h, frames = padded
    with pytest.raises(FormatError) as info:
        _events(h, _drop_first(PadFrame)(frames))
    assert str(info.value) == "padded archive lacks its padding frame"


def test_data_after_the_trailer(archive):
    h, frames = archive
    with pytest.raises(FormatError) as info:
        _events(h, frames, ended=False)
    assert str(info.value) == "data after the trailer"


def _wrong_digest(frames: list[Frame]) -> list[Frame]:
    i = _first(frames, FinishFrame)
    f = frames[i]
    assert isinstance(f, FinishFrame)
    return frames[:i] + [dataclasses.replace(f, sha256=bytes(32))] + frames[i + 1 :]


def test_a_wrong_digest_fails_before_the_member_ends(archive):
    h, frames = archive
    events: list[Event] = []
    with pytest.raises(IntegrityError) as info:
        events.extend(validate_frames(iter(_wrong_digest(frames)), _Ended(), h, True))  # type: ignore[arg-type]
    assert str(info.value) == "member 'a.txt' fails its SHA-256 check"
    assert not any(isinstance(e, MemberEnd) for e in events)


def test_without_digests_a_wrong_one_still_fails_against_the_index(archive):
    h, frames = archive
    with pytest.raises(FormatError) as info:
        _events(h, _wrong_digest(frames), digests=False)
    assert str(info.value) == "the index does not match the archive's content"


def test_member_digest_names_the_member_on_a_mismatch():
    from nzarc.memberdigest import MemberDigest
    from nzarc.workqueue import ASYNC_HASH_MIN, HashPool

    pool = HashPool(2)
    try:
        for p in (None, pool):
            digest = MemberDigest(p)
            pieces = [b"x" * ASYNC_HASH_MIN, b"y"]
            for piece in pieces:
                digest.update(piece)
            digest.check("m", hashlib.sha256(b"".join(pieces)).digest())
            with pytest.raises(IntegrityError) as info:
                digest.check("m", bytes(32))
            assert str(info.value) == "member 'm' fails its SHA-256 check"
    finally:
        pool.shutdown()


def test_extraction_takes_the_digest_check_over_from_the_archive_reader(tmp_path, monkeypatch):
    from nzarc.memberdigest import DigestDeferring
    from nzarc.reader import ArchiveReader

    asked: list[bool] = []
    original = ArchiveReader.iter_members

    def spy(self, names=None, *, verify_digests=True):  # type: ignore[no-untyped-def]
        asked.append(verify_digests)
        return original(self, names, verify_digests=verify_digests)

    monkeypatch.setattr(ArchiveReader, "iter_members", spy)
    arc = tmp_path / "a.nz"
    arc.write_bytes(write_archive(MEMBERS, codec="nzarc.store", chunk_size=256, encrypt=False))
    with ArchiveReader(arc) as r:
        assert isinstance(r, DigestDeferring)
        done = r.extract(tmp_path / "out")
    assert asked == [False]
    assert [m.name for m in done] == [m[1] for m in MEMBERS]
    assert (tmp_path / "out" / "d" / "b.bin").read_bytes() == CONTENT["d/b.bin"]
