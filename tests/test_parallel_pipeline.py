"""The parallel create/extract pipeline: identical bytes for every ``jobs``, ordered errors,
per-thread zstd contexts, and extraction durability (``sync``)."""

from __future__ import annotations

import io
import os
import random
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from helpers_format import SeededRng
from hypothesis import given, settings
from hypothesis import strategies as st

from nzarc.codecs.zstd import ZstdCodec
from nzarc.crypto.recipients import Argon2Params
from nzarc.crypto.suites import make_aead
from nzarc.errors import CodecError, IntegrityError
from nzarc.extract import extract_members
from nzarc.format.stream import BATCH_SEGMENTS, SegmentWriter, iter_segments
from nzarc.reader import ArchiveReader
from nzarc.writer import ArchiveWriter

SMALL_KDF = Argon2Params(1, 64, 1)
SUITE_KEYS = {
    "none": {"encrypt": False},
    "chacha20-poly1305": {"passphrase": "pw", "argon2": SMALL_KDF},
    "aes-256-gcm": {"passphrase": "pw", "argon2": SMALL_KDF, "suite": "aes-256-gcm"},
}


def _members() -> list[tuple[str, bytes]]:
    """Compressible, incompressible and tiny members, so that frames interleave with
    chunks still being encoded and some chunks are stored."""
    rnd = random.Random(7)
    out = [("big-text", b"".join(b"line %d of some text\n" % i for i in range(4000)))]
    out.append(("random", rnd.randbytes(20_000)))
    out += [(f"small/{i:02d}", rnd.randbytes(rnd.randrange(0, 700))) for i in range(30)]
    out.append(("empty", b""))
    out.append(("tail", b"z" * 3001))
    return out


def _write(jobs: int, suite: str, **extra: object) -> bytes:
    out = io.BytesIO()
    opts: dict[str, object] = {"codec": "zstd", "level": 3, **SUITE_KEYS[suite]}
    opts.update(extra)
    with ArchiveWriter(
        out, chunk_size=1024, segment_size=64, jobs=jobs,
        rng=SeededRng(b"par"), **opts,  # type: ignore[arg-type]
    ) as w:
        w.add_dir("small", mtime_ns=5)
        for name, data in _members():
            w.add_bytes(name, data, mtime_ns=5)
        w.add_symlink("link", "big-text", mtime_ns=5)
    return out.getvalue()


@pytest.mark.parametrize("suite", sorted(SUITE_KEYS))
def test_archive_bytes_identical_for_every_jobs(suite: str) -> None:
    outputs = {jobs: _write(jobs, suite) for jobs in (1, 2, 4)}
    assert outputs[1] == outputs[2] == outputs[4]
    # the payload spans many segment batches, so the parallel sealing path ran
    assert len(outputs[1]) > 4 * BATCH_SEGMENTS * 64


def test_archive_bytes_identical_with_padding_and_auto(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """``codec="auto"`` with both of its candidates (zstd at its auto level and the neural
    codec, here with the tiny model as the default model): every chunk is encoded by both
    and the smaller acceptable output kept, the same for every ``jobs``."""
    import nzarc.neural.codec as neural_codec
    from nzarc.neural.tiny import tiny_model

    monkeypatch.setenv("NZARC_HOME", str(tmp_path))  # no installed model is used
    sha = neural_codec.register_model(tiny_model(0))
    monkeypatch.setattr(neural_codec, "default_model_sha", lambda: sha)
    a = [_write(jobs, "none", pad=True, codec="auto", level=None, window=32) for jobs in (1, 3)]
    assert a[0] == a[1]
    with ArchiveReader(io.BytesIO(a[0])) as r:
        info = r.info()
        got = {md.member.name: md.read() for md in r.iter_members()}
    assert info.padded
    own = [c for c in info.codecs if c["id"].startswith("nzarc.")]  # and any eligible plugin's
    assert [(c["id"], c["params"].get("level")) for c in own] == [
        ("nzarc.store", None), ("nzarc.zstd", 19), ("nzarc.xz", 9), ("nzarc.neural", None)
    ]
    assert own[3]["params"]["model"] == sha
    assert {k: v for k, v in got.items() if k in dict(_members())} == dict(_members())


@pytest.mark.parametrize("suite", sorted(SUITE_KEYS))
@pytest.mark.parametrize("jobs", [1, 2, 4])
def test_reads_back_with_every_jobs(suite: str, jobs: int) -> None:
    data = _write(2, suite)
    key = {} if suite == "none" else {"passphrase": "pw"}
    expected = dict(_members())
    for source in (io.BytesIO(data), _Pipe(data)):
        got: dict[str, bytes] = {}
        with ArchiveReader(source, jobs=jobs, **key) as r:  # type: ignore[arg-type]
            for md in r.iter_members():
                got[md.member.name] = md.read()
        assert {k: v for k, v in got.items() if k in expected} == expected


class _Pipe(io.RawIOBase):
    """A non-seekable source that returns short reads."""

    def __init__(self, data: bytes) -> None:
        self._data = memoryview(data)
        self._pos = 0

    def readable(self) -> bool:
        return True

    def readinto(self, b: bytearray) -> int:  # type: ignore[override]
        n = min(len(b), 1000, len(self._data) - self._pos)
        b[:n] = self._data[self._pos : self._pos + n]
        self._pos += n
        return n


@pytest.mark.parametrize("jobs", [1, 2, 4])
def test_corrupt_segment_fails_after_earlier_data_only(jobs: int) -> None:
    """With read-ahead, a damaged segment still raises; only members before it are
    delivered, each complete and verified."""
    data = bytearray(_write(1, "none"))
    data[len(data) // 2] ^= 1
    order = ["small", *(name for name, _ in _members()), "link"]
    expected = dict(_members())
    delivered: list[str] = []
    with pytest.raises(IntegrityError, match="payload segment failed authentication"):
        with ArchiveReader(_Pipe(bytes(data)), jobs=jobs) as r:
            for md in r.iter_members():
                content = md.read()
                assert expected.get(md.member.name, content) == content
                delivered.append(md.member.name)
    assert delivered == order[: len(delivered)]
    assert "big-text" in delivered and "tail" not in delivered


# -- segments ----------------------------------------------------------------------------


@settings(max_examples=40, deadline=None)
@given(
    st.lists(st.binary(max_size=3000), min_size=1, max_size=12).filter(lambda p: any(p)),
    st.sampled_from([64, 128, 4096]),
    st.sampled_from(["none", "chacha20-poly1305", "aes-256-gcm"]),
)
def test_segment_writer_parallel_matches_serial(pieces: list[bytes], seg: int, suite: str) -> None:
    aead = make_aead(suite, b"k" * 32)
    serial, parallel = bytearray(), bytearray()
    sw = SegmentWriter(serial.extend, aead, seg)
    with ThreadPoolExecutor(3) as ex:
        pw = SegmentWriter(parallel.extend, aead, seg, executor=ex, window=2)
        for piece in pieces:
            sw.write(piece)
            pw.write(memoryview(piece))
            assert pw.plaintext_len == sw.plaintext_len
        sw.close()
        pw.close()
        assert parallel == serial
        assert pw.ciphertext_len == sw.ciphertext_len == len(serial)
        for total in (None, -(-len(serial) // (seg + 16))):
            opened = iter_segments(io.BytesIO(bytes(serial)).read, aead, seg, total=total,
                                   executor=ex, window=2)
            assert b"".join(opened) == b"".join(pieces)


def test_read_ahead_orders_failures() -> None:
    aead = make_aead("chacha20-poly1305", b"k" * 32)
    sealed = bytearray()
    sw = SegmentWriter(sealed.extend, aead, 64)
    plain = bytes(range(256)) * 40
    sw.write(plain)
    sw.close()
    bad = bytearray(sealed)
    bad[80 * 30] ^= 1  # inside segment 30
    with ThreadPoolExecutor(2) as ex:
        got = bytearray()
        with pytest.raises(IntegrityError, match="payload segment failed authentication"):
            for seg in iter_segments(io.BytesIO(bytes(bad)).read, aead, 64, executor=ex):
                got += seg
        assert bytes(got) == plain[: 30 * 64]
        got = bytearray()
        with pytest.raises(IntegrityError, match="truncated"):
            for seg in iter_segments(io.BytesIO(bytes(sealed[:-200])).read, aead, 64,
                                     executor=ex, window=1):
                got += seg
        assert bytes(got) == plain[: len(got)] and len(got) >= 64 * (len(sealed) // 80 - 4)


def test_hmac_suite_takes_memoryviews() -> None:
    aead = make_aead("none", b"k" * 32)
    body = bytearray(b"abc" * 100)
    sealed = aead.seal(b"n" * 12, memoryview(body)[3:])
    assert sealed == aead.seal(b"n" * 12, bytes(body[3:]))
    assert aead.open(b"n" * 12, memoryview(bytearray(sealed))) == bytes(body[3:])
    with pytest.raises(IntegrityError, match="payload segment failed authentication"):
        aead.open(b"m" * 12, sealed)


# -- zstd contexts -----------------------------------------------------------------------


def test_zstd_thread_contexts_match_fresh_output() -> None:
    import zstandard

    codec = ZstdCodec(3)
    rnd = random.Random(3)
    chunks = [rnd.randbytes(n) + b"abc" * n for n in (0, 10, 5000, 70_000, 300)]
    fresh = [
        zstandard.ZstdCompressor(level=3, write_content_size=True, write_checksum=False,
                                 write_dict_id=False).compress(c)
        for c in chunks
    ]
    results: list[list[bytes]] = []

    def run() -> None:
        results.append([codec.encode(c) for c in chunks * 2])

    threads = [threading.Thread(target=run) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert all(r == fresh * 2 for r in results)
    assert [codec.decode(f, len(c)) for f, c in zip(fresh, chunks, strict=True)] == chunks


def test_zstd_context_recovers_after_a_corrupt_frame() -> None:
    codec = ZstdCodec(3)
    data = b"hello world " * 2000
    frame = codec.encode(data)
    with pytest.raises(CodecError, match="corrupt frame"):
        codec.decode(frame[:-3], len(data))  # truncated: the decoder fails mid-frame
    assert codec.decode(frame, len(data)) == data


# -- durability --------------------------------------------------------------------------


def _archive_file(tmp_path: Path) -> Path:
    path = tmp_path / "a.nz"
    path.write_bytes(_write(2, "none"))
    return path


@pytest.mark.parametrize("sync", [False, True])
def test_extract_sync_fsyncs_files_and_directories(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, sync: bool
) -> None:
    synced: list[str] = []
    real_fsync = os.fsync

    def spy(fd: int) -> None:
        import stat

        synced.append("dir" if stat.S_ISDIR(os.fstat(fd).st_mode) else "file")
        real_fsync(fd)

    monkeypatch.setattr("nzarc.extracttree.os.fsync", spy)
    dest = tmp_path / "out"
    with ArchiveReader(_archive_file(tmp_path)) as r:
        done = extract_members(r, dest, sync=sync)
    files = sum(1 for m in done if m.type == "file")
    if sync:
        assert synced.count("file") == files
        assert synced.count("dir") == 2  # "small" and the destination root
    else:
        assert synced == []
    assert (dest / "big-text").read_bytes() == dict(_members())["big-text"]


def test_cli_extract_sync_option(tmp_path: Path) -> None:
    from cli_support import run_nzarc

    archive = _archive_file(tmp_path)
    home = tmp_path / "home"
    home.mkdir()
    run_nzarc("extract", "-q", "--sync", archive, "-C", tmp_path / "x", home=home).assert_ok()
    assert (tmp_path / "x" / "small" / "00").read_bytes() == dict(_members())["small/00"]
    help_text = run_nzarc("extract", "--help", home=home).assert_ok().stdout.decode()
    assert "--sync" in help_text and "fsync" in help_text


def test_hash_queue_is_bounded() -> None:
    """The extraction hashing thread never holds more than its limit of queued pieces."""
    from nzarc.workqueue import HashPool

    pool = HashPool(2)
    gate = threading.Event()
    pool.submit(gate.wait)
    pool.submit(lambda: None)
    third_queued = threading.Event()

    def third() -> None:
        pool.submit(lambda: None)
        third_queued.set()

    t = threading.Thread(target=third)
    t.start()
    assert not third_queued.wait(0.3)  # blocked: two pieces are still queued
    gate.set()
    assert third_queued.wait(10)
    t.join()
    pool.shutdown()


def test_allocator_tuning_respects_the_user(monkeypatch: pytest.MonkeyPatch) -> None:
    from nzarc.workers import tune_process_allocator

    monkeypatch.setenv("MALLOC_ARENA_MAX", "2")
    assert tune_process_allocator() is False  # the user's malloc settings win
    monkeypatch.delenv("MALLOC_ARENA_MAX")
    for key in [k for k in os.environ if k.startswith("MALLOC_") or k == "GLIBC_TUNABLES"]:
        monkeypatch.delenv(key)
    try:
        glibc = bool(os.confstr("CS_GNU_LIBC_VERSION"))
    except (AttributeError, OSError, ValueError):
        glibc = False
    assert tune_process_allocator() is glibc
