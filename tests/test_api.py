"""The public API: ``nzarc.create``, ``nzarc.open`` and extraction, and the writer's options
(:class:`nzarc.options.WriterOptions`) given as an object or as keywords."""

from __future__ import annotations

import dataclasses
import io
import os
from pathlib import Path

import pytest

import nzarc
from nzarc.crypto.recipients import Argon2Params
from nzarc.errors import LimitExceeded
from nzarc.format.layout import DEFAULT_SEGMENT, SUITE_AESGCM, SUITE_NONE
from nzarc.levels import CodecOptionError
from nzarc.options import DEFAULT_CHUNK_SIZE, DEFAULT_SUITE, WriterOptions
from nzarc.writer import ArchiveWriter

MTIME = 1_600_000_000_000_000_000
CHEAP = Argon2Params(t=1, m_kib=8, p=1)


def _tree(root: Path) -> Path:
    top = root / "t"
    (top / "sub").mkdir(parents=True)
    (top / "a.txt").write_bytes(b"a line of text\n" * 700)
    (top / "sub" / "b.bin").write_bytes(bytes(range(256)) * 40 + os.urandom(900))
    (top / "link").symlink_to("a.txt")
    for p in [top / "sub" / "b.bin", top / "a.txt", top / "sub", top]:
        os.utime(p, ns=(MTIME, MTIME))
    os.utime(top / "link", ns=(MTIME, MTIME), follow_symlinks=False)
    return top


def _archive(src: Path, **kwargs: object) -> bytes:
    out = io.BytesIO()
    nzarc.create(out, [src], **kwargs)  # type: ignore[arg-type]
    return out.getvalue()


def test_create_open_extract_round_trip(tmp_path: Path) -> None:
    src = _tree(tmp_path)
    archive = tmp_path / "a.nzarc"
    options = WriterOptions(codec="zstd", level=3, chunk_size=1024, jobs=2, suite=SUITE_AESGCM)
    stats = nzarc.create(archive, [src], options=options, passphrase="pw", argon2=CHEAP)
    assert stats.files == 2 and stats.archive_bytes == archive.stat().st_size
    with nzarc.open(archive, passphrase="pw") as reader:
        assert reader.header.suite == SUITE_AESGCM and reader.header.chunk_size == 1024
        assert {m.name for m in reader.members()} == {"t", "t/sub", "t/a.txt", "t/sub/b.bin",
                                                     "t/link"}
        reader.extract(tmp_path / "out")
    out = tmp_path / "out" / "t"
    assert (out / "a.txt").read_bytes() == (src / "a.txt").read_bytes()
    assert (out / "sub" / "b.bin").read_bytes() == (src / "sub" / "b.bin").read_bytes()
    assert os.readlink(out / "link") == "a.txt"


def test_options_object_and_keywords_write_identical_bytes(tmp_path: Path) -> None:
    src = _tree(tmp_path)
    fields = dict(codec="zstd", level=5, chunk_size=2048, segment_size=1024, pad=True, jobs=2,
                  verify=True)
    by_keywords = _archive(src, encrypt=False, **fields)
    by_object = _archive(src, encrypt=False, options=WriterOptions(**fields))  # type: ignore[arg-type]
    assert by_keywords == by_object
    # a keyword replaces that field of the object, and only that one
    mixed = _archive(src, encrypt=False, options=WriterOptions(**{**fields, "level": 1}),  # type: ignore[arg-type]
                     level=5)
    assert mixed == by_object
    # the options do reach the archive: other values give other bytes
    assert _archive(src, encrypt=False, options=dataclasses.replace(
        WriterOptions(**fields), level=1)) != by_object  # type: ignore[arg-type]


def test_defaults_are_the_writers(tmp_path: Path) -> None:
    src = _tree(tmp_path)
    assert _archive(src, encrypt=False) == _archive(src, encrypt=False, options=WriterOptions())
    with ArchiveWriter(io.BytesIO(), encrypt=False) as writer:
        assert writer.options == WriterOptions()
        assert writer.chunk_size == DEFAULT_CHUNK_SIZE
    opts = WriterOptions()
    assert (opts.codec, opts.level, opts.window, opts.jobs) == ("auto", None, None, None)
    assert (opts.chunk_size, opts.segment_size, opts.suite) == (
        DEFAULT_CHUNK_SIZE, DEFAULT_SEGMENT, DEFAULT_SUITE)
    assert (opts.pad, opts.verify, opts.codec_context) == (False, False, None)
    with nzarc.open(io.BytesIO(_archive(src, passphrase="pw", argon2=CHEAP)),
                    passphrase="pw") as reader:
        header = reader.header
    assert (header.suite, header.chunk_size, header.segment_size, header.pad) == (
        DEFAULT_SUITE, DEFAULT_CHUNK_SIZE, DEFAULT_SEGMENT, False)
    with nzarc.open(io.BytesIO(_archive(src, encrypt=False))) as reader:
        assert reader.header.suite == SUITE_NONE


BAD = [
    ({"suite": SUITE_NONE}, ValueError, "suite must be chacha20-poly1305 or aes-256-gcm"),
    ({"suite": "rot13"}, ValueError, "suite must be chacha20-poly1305 or aes-256-gcm"),
    ({"chunk_size": 10}, LimitExceeded, "chunk size"),
    ({"chunk_size": (16 << 20) + 1}, LimitExceeded, "chunk size"),
    ({"segment_size": 32}, LimitExceeded, "segment size"),
    ({"segment_size": 3000}, ValueError, "segment_size must be a power of two"),
    ({"jobs": 0}, ValueError, "jobs must be at least 1"),
]


@pytest.mark.parametrize(("fields", "cls", "message"), BAD)
def test_bad_option_values_raise_the_documented_class(
    fields: dict[str, object], cls: type[Exception], message: str, tmp_path: Path
) -> None:
    with pytest.raises(cls, match=message):
        WriterOptions(**fields)  # type: ignore[arg-type]
    with pytest.raises(cls, match=message):
        ArchiveWriter(io.BytesIO(), encrypt=False, **fields)
    with pytest.raises(cls, match=message):
        nzarc.create(io.BytesIO(), [], encrypt=False, **fields)
    with pytest.raises(cls, match=message):
        dataclasses.replace(WriterOptions(), **fields)  # type: ignore[arg-type]


@pytest.mark.parametrize(("codec", "level", "message"), [
    ("store", 3, "nzarc.store takes no level"),
    ("zstd", 99, "not a level of nzarc.zstd"),
])
def test_a_level_the_codec_refuses_raises_codec_option_error(
    codec: str, level: int, message: str
) -> None:
    with pytest.raises(CodecOptionError, match=message):
        nzarc.create(io.BytesIO(), [], options=WriterOptions(codec=codec, level=level),
                     encrypt=False)


def test_options_are_frozen_and_unknown_keywords_refused() -> None:
    opts = WriterOptions(codec="store")
    with pytest.raises(dataclasses.FrozenInstanceError):
        opts.codec = "zstd"  # type: ignore[misc]
    with pytest.raises(TypeError):
        ArchiveWriter(io.BytesIO(), encrypt=False, compression="zstd")
    with pytest.raises(TypeError):
        nzarc.create(io.BytesIO(), [], encrypt=False, options=opts, colour="red")


def test_build_replaces_only_the_fields_given() -> None:
    base = WriterOptions(codec="xz", pad=True)
    assert WriterOptions.build(base) is base
    assert WriterOptions.build(None) == WriterOptions()
    assert WriterOptions.build(base, jobs=3) == WriterOptions(codec="xz", pad=True, jobs=3)
    assert nzarc.WriterOptions is WriterOptions


def test_secrets_are_checked_apart_from_the_options() -> None:
    with pytest.raises(ValueError, match="encryption needs a passphrase"):
        ArchiveWriter(io.BytesIO(), options=WriterOptions(codec="store"))
    with pytest.raises(ValueError, match="encrypt=False cannot take a passphrase"):
        nzarc.create(io.BytesIO(), [], encrypt=False, passphrase="pw")
